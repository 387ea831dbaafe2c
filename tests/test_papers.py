"""The papers a mediator prints (issue 19): each paper rendered as PDF for a case walked through
the flow by the API, its text read back with pdfplumber; page 1 of each (and every dossier page)
kept as PNG under var/papers/ (pdftoppm) to be looked at."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mediation.pii import mask_id
from tests.factories import Api, dispute_payload, resident_id, role_users, upload_signed_agreement

pdfplumber = pytest.importorskip("pdfplumber")
# WeasyPrint loads pango (Debian libpango-1.0-0, libpangoft2-1.0-0) when imported
pytest.importorskip(
    "weasyprint", reason="pango missing: scripts/dev.sh test installs it (ensure_render_tools)"
)

OUT = Path(__file__).resolve().parent.parent / "var" / "papers"
FULL_ID = resident_id()
MASKED_ID = mask_id(FULL_ID)
PURPOSE = "当事人签署调解协议书"


def soon(days=0):
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def day(days=0):
    return (datetime.now(UTC) + timedelta(days=days)).date()


@pytest.fixture
def ctx(app, db_session):
    return role_users(app, db_session)


@pytest.fixture
def gw(client, ctx):
    return Api(client, "t_gw")


@pytest.fixture
def med(client, ctx):
    return Api(client, "t_med")


def paper(api: Api, case_id, kind: str, **query):
    return api.client.get(
        f"/api/v1/disputes/{case_id}/papers/{kind}", query_string=query, headers=api.h()
    )


def read(r, keep: str | None = None) -> tuple[str, int]:
    """The PDF's text (all pages) and its page count; kept under var/papers/ as PDF and PNG."""
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    data = r.get_data()
    if keep:
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"{keep}-*.png"):
            if re.fullmatch(rf"{re.escape(keep)}-\d+\.png", old.name):
                old.unlink()
        (OUT / f"{keep}.pdf").write_bytes(data)
        if shutil.which("pdftoppm"):
            last = ["-l", "1"] if keep != "dossier" else []
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "70",
                    "-f",
                    "1",
                    *last,
                    str(OUT / f"{keep}.pdf"),
                    str(OUT / keep),
                ],
                check=True,
            )
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        pages = [p.extract_text() or "" for p in pdf.pages]
    return "\n".join(pages), len(pages)


def flat(s: str) -> str:
    return "".join(s.split())


def register(gw: Api, ctx, db_session, **over) -> dict:
    r = gw.register(dispute_payload(db_session, ctx["cells"][0], **over))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def mediate(med: Api, case_id) -> None:
    assert med.act(case_id, "accept").status_code == 200
    r = med.act(case_id, "start_mediation", rights_notice="书面告知双方权利义务，已签字")
    assert r.status_code == 200, r.get_json()
    r = med.act(
        case_id,
        "record_session",
        held_at=soon(),
        place="先进村村委会调解室",
        mediators="t_med、村调委会委员王五",
        summary="双方陈述排水沟堵塞经过，同意共同出资清理",
    )
    assert r.status_code == 200, r.get_json()


def written(gw: Api, med: Api, ctx, db_session, visits: int = 1) -> dict:
    d = register(gw, ctx, db_session)
    mediate(med, d["id"])
    r = med.act(
        d["id"],
        "agree",
        form="written",
        facts="两户因排水沟堵塞发生争执",
        terms="一、双方各承担一半费用，共同清理排水沟；\n二、李四于清理后不再堆放杂物。",
        performance_method="共同出工，费用现金结清",
        performance_place="先进村排水沟现场",
        performance_deadline=day(7).isoformat(),
        amount="600.00",
    )
    assert r.status_code == 200, r.get_json()
    results = [
        ("in_person", "partly", "basically", "已清理一半"),
        ("phone", "performed", "satisfied", "已全部清理，双方和好"),
    ]
    for method, result, satisfaction, notes in results[:visits]:
        r = gw.act(
            d["id"],
            "record_visit",
            method=method,
            result=result,
            satisfaction=satisfaction,
            notes=notes,
        )
        assert r.status_code == 200, r.get_json()
    return r.get_json()


def access_rows(db_session, action: str, field: str) -> list:
    return db_session.execute(
        text(
            "SELECT record_type, record_id, field, purpose FROM access_log "
            "WHERE action = :a AND field = :f ORDER BY id"
        ),
        {"a": action, "f": field},
    ).all()


def test_application_form_prints_the_registration_masked_and_is_access_logged(
    gw, med, ctx, db_session
):
    d = register(gw, ctx, db_session)
    assert med.act(d["id"], "accept").status_code == 200
    body, pages = read(paper(med, d["id"], "application"), keep="application")
    f = flat(body)
    for want in (
        "人民调解申请书（受理登记表）",
        d["case_number"],
        "人民调解委员会",
        "申请人",
        "被申请人",
        "张三",
        "李四",
        "邻里",
        "网格员排查",
        "两户因排水沟堵塞发生争执",
        "受理意见",
        "申请人（签名或捺印）",
        "第1页共1页",
    ):
        assert flat(want) in f, want
    assert MASKED_ID in body and "138****8000" in body and "139****9000" in body
    assert FULL_ID not in body and "13800138000" not in f
    assert pages == 1
    assert access_rows(db_session, "export", "paper:application") == [
        ("dispute", d["id"], "paper:application", "打印人民调解申请书（受理登记表）")
    ]


def test_agreement_states_article_29_items_signatures_and_the_committee_seal(
    gw, med, ctx, db_session
):
    d = written(gw, med, ctx, db_session, visits=0)
    body, _ = read(paper(med, d["id"], "agreement"), keep="agreement")
    f = flat(body)
    for want in (
        "人民调解协议书",
        d["case_number"],
        "一、当事人基本情况",
        "申请人：张三",
        "被申请人：李四",
        "二、纠纷的主要事实、争议事项",
        "两户因排水沟堵塞发生争执",
        "三、经调解，当事人自愿达成如下协议",
        "双方各承担一半费用，共同清理排水沟",
        "李四于清理后不再堆放杂物",
        "履行方式",
        "共同出工，费用现金结清",
        "履行地点",
        "先进村排水沟现场",
        "履行期限",
        day(7).strftime("%Y年%m月%d日") + "前",
        "600.00元",
        "签名（盖章或按指印）",
        "人民调解员",
        "t_med",
        "人民调解委员会（印章）",
        datetime.now(UTC).astimezone().strftime("%Y年"),
        "第三十三条",
    ):
        assert flat(want) in f, want
    assert MASKED_ID in body and FULL_ID not in body


def test_full_id_numbers_only_on_the_agreement_with_reveal_purpose_and_access_log(
    gw, med, ctx, db_session, client
):
    d = written(gw, med, ctx, db_session, visits=0)
    r = paper(med, d["id"], "agreement", reveal=1)
    assert r.status_code == 422 and r.get_json()["code"] == "purpose_required"
    r = paper(gw, d["id"], "agreement", reveal=1, purpose=PURPOSE)
    assert r.status_code == 403 and r.get_json()["code"] == "reveal_forbidden"
    for kind in ("application", "dossier"):
        r = paper(med, d["id"], kind, reveal=1, purpose=PURPOSE)
        assert r.status_code == 422 and r.get_json()["code"] == "reveal_not_applicable"
        assert "协议书" in r.get_json()["message"]
    assert access_rows(db_session, "reveal", "id_number") == []  # refusals reveal nothing

    body, _ = read(
        paper(med, d["id"], "agreement", reveal=1, purpose=PURPOSE), keep="agreement-signing"
    )
    assert FULL_ID in body and MASKED_ID not in body
    assert "138****8000" in body  # phones stay masked: only the ID number is for signing
    party = d["parties"][0]["id"]
    assert access_rows(db_session, "reveal", "id_number") == [
        ("party", str(party), "id_number", PURPOSE)
    ]
    assert access_rows(db_session, "export", "paper:agreement:id_number") == [
        ("dispute", d["id"], "paper:agreement:id_number", PURPOSE)
    ]
    body, _ = read(paper(med, d["id"], "dossier"))
    assert FULL_ID not in body and MASKED_ID in body


def test_oral_agreement_is_registered_on_its_own_form_and_not_as_a_written_agreement(
    gw, med, ctx, db_session
):
    d = register(gw, ctx, db_session)
    mediate(med, d["id"])
    r = med.act(
        d["id"],
        "agree",
        form="oral",
        terms="李四当场赔偿张三 200 元",
        amount="200.00",
        performed_immediately=True,
    )
    assert r.status_code == 200, r.get_json()
    body, pages = read(paper(med, d["id"], "oral_agreement"), keep="oral_agreement")
    f = flat(body)
    for want in (
        "口头调解协议登记表",
        "人民调解法第二十八条",
        d["case_number"],
        "张三",
        "李四当场赔偿张三200元",
        "口头",
        "达成协议时当场履行完毕",
        "记录人",
        "t_med",
        "当事人确认（签名或捺印）",
        "人民调解委员会（印章）",
    ):
        assert flat(want) in f, want
    assert MASKED_ID in body and FULL_ID not in body and pages == 1
    r = paper(med, d["id"], "agreement")
    assert r.status_code == 409 and r.get_json()["code"] == "paper_agreement_oral"
    assert "口头" in r.get_json()["message"]

    w = written(gw, med, ctx, db_session, visits=0)
    r = paper(med, w["id"], "oral_agreement")
    assert r.status_code == 409 and r.get_json()["code"] == "paper_agreement_written"


def test_papers_that_do_not_apply_yet_are_refused_with_a_stable_code(gw, med, ctx, db_session):
    d = register(gw, ctx, db_session)
    for kind, code in (
        ("agreement", "paper_no_agreement"),
        ("oral_agreement", "paper_no_agreement"),
        ("visits", "paper_no_visits"),
    ):
        r = paper(med, d["id"], kind)
        assert r.status_code == 409, kind
        body = r.get_json()
        assert body["code"] == code and any("\u4e00" <= c <= "\u9fff" for c in body["message"])
    r = paper(med, d["id"], "receipt")
    assert r.status_code == 404 and r.get_json()["code"] == "paper_not_found"
    assert access_rows(db_session, "export", "paper:agreement") == []


def test_visit_record_lists_every_visit_with_method_result_satisfaction_who_and_when(
    gw, med, ctx, db_session
):
    d = written(gw, med, ctx, db_session, visits=2)
    assert d["status"] == "resolved"
    body, _ = read(paper(med, d["id"], "visits"), keep="visits")
    f = flat(body)
    for want in (
        "人民调解回访记录",
        d["case_number"],
        "第1次回访",
        "上门",
        "部分履行",
        "基本满意",
        "已清理一半",
        "第2次回访",
        "电话",
        "已履行完毕",
        "已全部清理，双方和好",
        "回访人签名",
        "被回访人签名",
    ):
        assert flat(want) in f, want
    assert f.count("t_gw") >= 2  # who visited, on each visit
    for v in d["visits"]:
        local = datetime.fromisoformat(v["visited_at"]).astimezone(
            __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
        )
        assert local.strftime("%Y年%m月%d日%H:%M") in f


def test_dossier_has_cover_contents_every_paper_records_and_timeline_in_one_file(
    gw, med, ctx, db_session
):
    d = written(gw, med, ctx, db_session, visits=2)
    upload_signed_agreement(med, d["id"])
    r = Api(gw.client, "t_vil").act(d["id"], "archive")
    assert r.status_code == 200, r.get_json()
    body, pages = read(paper(med, d["id"], "dossier"), keep="dossier")
    f = flat(body)
    # cover, contents, application, agreement, visits, sessions, timeline: a page each at least
    assert pages >= 7
    for want in (
        "人民调解卷宗",
        "卷宗号（案件编号）",
        d["case_number"],
        "卷内目录",
        "人民调解申请书（受理登记表）",
        "人民调解协议书",
        "人民调解回访记录",
        "调解记录",
        "双方陈述排水沟堵塞经过，同意共同出资清理",
        "案件流程记录",
        "登记",
        "受理",
        "开始调解",
        "达成调解协议",
        "回访",
        "归档",
        "已归档",
        f"共{pages}页",
    ):
        assert flat(want) in f, want
    # the contents give each paper's page: cover 1, contents 2, the application from page 3
    lines = [flat(line) for line in body.splitlines()]
    for entry in (
        r"1\.人民调解申请书（受理登记表）\.+3",
        r"2\.人民调解协议书\.+4",
        r"\d\.案件流程记录\.+\d",
    ):
        assert any(re.fullmatch(entry, line) for line in lines), entry
    assert MASKED_ID in body and FULL_ID not in body
    assert access_rows(db_session, "export", "paper:dossier")[0][3] == "打印人民调解卷宗"


def test_papers_outside_the_area_are_not_found_and_admin_sees_none(
    gw, med, ctx, db_session, client
):
    d = written(gw, med, ctx, db_session, visits=1)
    out = Api(client, "t_gw_out")
    admin = Api(client, "t_admin")
    for kind in ("application", "agreement", "visits", "dossier"):
        r = paper(out, d["id"], kind)
        assert r.status_code == 404 and r.get_json()["code"] == "dispute_not_found", kind
        assert paper(admin, d["id"], kind).status_code == 403
    r = paper(out, d["id"], "agreement", reveal=1, purpose=PURPOSE)
    assert r.status_code == 404  # outside the area the case is not found before anything else
    assert access_rows(db_session, "reveal", "id_number") == []


def test_dossier_of_a_case_without_agreement_and_the_township_committee_after_escalation(
    gw, med, ctx, db_session, client
):
    d = register(gw, ctx, db_session)
    body, pages = read(paper(med, d["id"], "dossier"))
    f = flat(body)
    assert pages == 4  # cover, contents, application, timeline
    assert "人民调解协议书" not in f and "回访记录" not in f
    assert "先进村人民调解委员会" in f

    center = Api(client, "t_center")
    assert med.act(d["id"], "accept").status_code == 200
    r = med.act(d["id"], "escalate", to_level="township", reason="涉及多户，村内难以化解")
    assert r.status_code == 200, r.get_json()
    r = center.act(d["id"], "accept_escalation")
    assert r.status_code == 200, r.get_json()
    body, _ = read(paper(center, d["id"], "application"))
    assert "枫桥镇人民调解委员会" in flat(body)


def test_long_agreement_keeps_every_signature_line_with_the_committee_seal(
    gw, med, ctx, db_session
):
    people = [
        {"role": "applicant", "kind": "person", "name": n, "phone": f"1380013800{i}"}
        for i, n in enumerate(("王大", "王二"))
    ]
    people += [
        {
            "role": "respondent",
            "kind": "person",
            "name": "赵母",
            "id_type": "resident_id",
            "id_number": FULL_ID,
        },
        {"role": "agent", "kind": "person", "name": "钱律师"},
    ]
    # four party rows: fewer than the group-dispute threshold, so the case stays acceptable
    facts = "。".join(["赵母年事已高，两子女对赡养费用和轮流照料的安排意见不一"] * 12)
    d = register(gw, ctx, db_session, parties=people, description=facts, category="01")
    mediate(med, d["id"])
    terms = "\n".join(
        f"{n}、每月{n}日前支付赡养费 500 元，并轮流照料一个月。" for n in "一二三四五"
    )
    r = med.act(
        d["id"],
        "agree",
        form="written",
        facts="两户因排水沟堵塞发生争执",
        terms=terms,
        performance_method="银行转账",
        performance_place="赵母住所",
        performance_deadline=day(30).isoformat(),
    )
    assert r.status_code == 200, r.get_json()
    r = paper(med, d["id"], "agreement", reveal=1, purpose=PURPOSE)
    body, pages = read(r, keep="agreement-long")
    assert pages >= 2 and FULL_ID in body
    with pdfplumber.open(io.BytesIO(r.get_data())) as pdf:
        texts = [flat(p.extract_text() or "") for p in pdf.pages]
    signing = [t for t in texts if "签名（盖章或按指印）" in t]
    assert len(signing) == 1  # the signature table is not split over pages
    assert "人民调解委员会（印章）" in signing[0]
    for name in ("王大", "王二", "赵母", "钱律师", "t_med"):
        assert name in signing[0]


ADDRESS = "浙江省诸暨市枫桥镇先进村3组12号"


def test_application_form_prints_sex_ethnicity_and_the_masked_address(gw, med, ctx, db_session):
    parties = dispute_payload(db_session, ctx["cells"][0])["parties"]
    parties[0].update(sex="male", ethnicity="汉族", address=ADDRESS)
    d = register(gw, ctx, db_session, parties=parties)
    body, _ = read(paper(med, d["id"], "application"), keep="application-details")
    f = flat(body)
    assert flat("男/汉族") in f and flat("浙江省诸暨市枫桥镇****") in f
    assert "先进村3组12号" not in f  # the address is personal data: masked on paper (§6)
