"""A month of cases with known outcomes: every report column and dashboard measure checked
against numbers worked out by hand; snapshots, versions, reminders, township compile, exports."""

from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from openpyxl import load_workbook
from sqlalchemy import select, text

from mediation.reminders.models import Reminder
from mediation.reports import aggregates, console, drafting, exports, metrics, months, township_view
from mediation.reports.models import MonthlyReport
from mediation.reports.scheduled import monthly_report_reminders
from tests.factories import bearer, case_world, login

SH = ZoneInfo("Asia/Shanghai")
SETTINGS = months.ReportSettings()
OCTOBER = metrics.month_period("2026-10")


def at(m, d, h=9):
    return datetime(2026, m, d, h, tzinfo=SH)


@pytest.fixture
def month(app, db_session):
    """October 2026 in one village (report month 2026-11), case by case:

    A  09-20 RED (violence threat), leader, accepted 09-21, mediating; written agreement 10-05
       (50,000 yuan, due 10-15); visit 10-20 performed, satisfied → resolved at grid level
    B  09-25 withdrawn 09-28 → closed before the period: nowhere
    C  09-28 ORANGE, party application, cat 03, accepted 09-29 → mediation due 10-29: overdue
    D  10-03 accepted 10-04, oral agreement 10-06 performed on the spot (visit due 10-21);
       visit 10-22 not performed → reopened (反复)
    E  10-08 RED (collective petition), party application, cat 04, 欠薪; leader; accepted;
       escalated to the township 10-09, accepted there; written agreement 10-12 (12,345.67,
       due 10-25); visit 10-26 performed, basically satisfied → resolved at township level
    F  10-15 RED (violence threat), cat 01; leader; accepted; mediating; terminated 10-25
    G  10-20 rejected 10-21
    H  10-30 hotline, 40 people involved → group dispute (RED), still registered
    J  10-10 police transfer, cat 13, accepted, referred to the police 10-11
    K  11-02 → after the period
    """
    w = case_world(app, db_session, today=date(2026, 11, 1))
    reg, act = w["register"], w["act"]
    leader = w["users"]["leader"].id

    def occurred(m, d):
        return at(m, d, 7).isoformat()

    a = reg(at(9, 20), occurred_at=occurred(9, 20), risk={"flags": ["violence_threat"]})
    act("center_staff", a, "assign_leader", at(9, 20, 10), leader_id=leader)
    act("mediator", a, "accept", at(9, 21))
    act("mediator", a, "start_mediation", at(9, 22), rights_notice="口头告知")
    act(
        "mediator",
        a,
        "agree",
        at(10, 5),
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="赔偿五万元",
        performance_method="转账",
        performance_deadline=date(2026, 10, 15),
        amount=Decimal("50000.00"),
    )
    act(
        "grid_worker",
        a,
        "record_visit",
        at(10, 20),
        method="in_person",
        result="performed",
        satisfaction="satisfied",
    )

    b = reg(at(9, 25), occurred_at=occurred(9, 25))
    act("mediator", b, "withdraw", at(9, 28), reason="当事人自行和解")

    c = reg(
        at(9, 28),
        occurred_at=occurred(9, 28),
        source="party_application",
        category="03",
        risk={"likelihood": 3, "severity": 4},
    )
    act("mediator", c, "accept", at(9, 29))
    act("mediator", c, "start_mediation", at(9, 29, 10), rights_notice="书面告知")

    d = reg(at(10, 3), occurred_at=occurred(10, 3))
    act("mediator", d, "accept", at(10, 4))
    act("mediator", d, "start_mediation", at(10, 4, 10), rights_notice="口头告知")
    act(
        "mediator", d, "agree", at(10, 6), form="oral", terms="当场道歉", performed_immediately=True
    )
    act("grid_worker", d, "record_visit", at(10, 22), method="phone", result="not_performed")

    e = reg(
        at(10, 8),
        occurred_at=occurred(10, 8),
        source="party_application",
        category="04",
        key_areas=["社会保障与欠薪"],
        risk={"flags": ["collective_petition"]},
    )
    act("center_staff", e, "assign_leader", at(10, 8, 10), leader_id=leader)
    act("mediator", e, "accept", at(10, 8, 11))
    act("mediator", e, "escalate", at(10, 9), to_level="township", reason="涉及多户欠薪")
    act("center_staff", e, "accept_escalation", at(10, 9, 15))
    act("center_staff", e, "start_mediation", at(10, 10), rights_notice="书面告知")
    act(
        "center_staff",
        e,
        "agree",
        at(10, 12),
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="分两期支付",
        performance_method="分期支付",
        performance_deadline=date(2026, 10, 25),
        amount=Decimal("12345.67"),
    )
    act(
        "center_staff",
        e,
        "record_visit",
        at(10, 26),
        method="in_person",
        result="performed",
        satisfaction="basically",
    )

    f = reg(
        at(10, 15),
        occurred_at=occurred(10, 15),
        category="01",
        risk={"likelihood": 5, "severity": 5, "flags": ["violence_threat"]},
    )
    act("center_staff", f, "assign_leader", at(10, 15, 10), leader_id=leader)
    act("mediator", f, "accept", at(10, 15, 11))
    act("mediator", f, "start_mediation", at(10, 16), rights_notice="口头告知")
    act("mediator", f, "terminate", at(10, 25), reason="一方拒绝调解", routes=["litigation"])

    g = reg(at(10, 20), occurred_at=occurred(10, 20))
    act("mediator", g, "reject", at(10, 21), ground="not_civil_dispute")

    h = reg(at(10, 30), occurred_at=occurred(10, 30), source="hotline", people_involved=40)

    j = reg(at(10, 10), occurred_at=occurred(10, 10), source="police_transfer", category="13")
    act("mediator", j, "accept", at(10, 10, 10))
    act("mediator", j, "refer", at(10, 11), target="police", reason="涉嫌违法")

    k = reg(at(11, 2), occurred_at=occurred(11, 2))
    cases = dict(a=a, b=b, c=c, d=d, e=e, f=f, g=g, h=h, j=j, k=k)
    # Preconditions the figures below rely on
    assert [cases[x].risk_level for x in "acefh"] == ["red", "orange", "red", "red", "red"]
    assert h.group_dispute and a.status == e.status == "resolved" and d.status == "reopened"
    assert a.resolved_level == "grid" and e.resolved_level == "township"
    return {**w, "cases": cases}


# Worked out by hand from the docstring of `month` (domain §7 definitions in metrics.COUNTS).
EXPECTED = {
    "carried_over": 2,  # A, C (B closed before the period)
    "new_registered": 6,  # D E F G H J
    "new_grid_patrol": 3,  # D F G
    "accepted": 4,  # D E F J
    "agreements_written": 2,  # A E
    "agreements_oral": 1,  # D
    "terminated": 1,  # F
    "in_progress": 4,  # C D H J (J waits for the police's result: a referral is a loop)
    "overdue_open": 1,  # C (mediation due 10-29)
    "agreement_amount_wan": Decimal("6.23"),  # (50,000 + 12,345.67) / 10,000
    "mediation_ended": 4,  # A D E agreed, F terminated (J referred, G rejected: not mediated)
    "mediation_succeeded": 3,  # A D E
    "judicial_applications": 0,
    "judicial_confirmations": 0,
    "judicial_refused": 0,
    "visits": 3,  # A D E
    "visits_due": 3,  # A (10-15) D (10-21) E (10-25)
    "visits_due_done": 3,
    "cases_visited": 3,
    "performed": 2,  # A E
    "satisfaction_answered": 2,
    "satisfied": 2,
    "resolved": 2,  # A E
    "resolved_grid_village": 1,  # A
    "escalated_township": 1,  # E
    "resolved_township": 1,  # E
    "escalated_county": 0,
    "referred": 1,  # J
    "resolved_county": 0,
    "reopened": 1,  # D
    "red": 4,  # A E F H
    "orange": 1,  # C
    "group_disputes": 1,  # H
    "group_people": 40,
    "prevented_criminal": 1,  # A (violence threat, resolved)
    "prevented_criminal_people": 4,
    "prevented_petition": 1,  # E (collective petition, resolved)
    "prevented_petition_people": 4,
    "prevented_fight": 0,
    "prevented_fight_people": 0,
    "resolution_days_sum": 48.0,  # A 30 days + E 18 days
}
EXPECTED_RATES = {
    "success_rate": 0.75,  # 3 agreed / 4 whose mediation ended (one cohort)
    "follow_up_rate": 1.0,  # 3 / 3
    "performance_rate": 0.6667,  # 2 / 3
    "satisfaction_rate": 1.0,  # 2 / 2
    "local_rate": 0.5,  # 1 / 2
    "township_rate": 1.0,  # 2 / 2
    "recurrence_rate": 0.3333,  # 1 / (2 + 1)
    "mean_days_to_resolution": 24.0,  # 48 / 2
    "agreements": 3,
}


def test_every_report_column_matches_the_hand_count(db_session, month):
    row = aggregates.area_row(db_session, code=month["village"], period=OCTOBER)
    got = {k: row[k] for k in EXPECTED}
    got["resolution_days_sum"] = round(got["resolution_days_sum"], 6)
    assert got == EXPECTED
    assert metrics.rates(row) == EXPECTED_RATES
    assert {k: v for k, v in row["accepted_by_source"].items() if v} == {
        "grid_patrol": 2,  # D F
        "party_application": 1,  # E
        "police_transfer": 1,  # J
    }
    assert {k: v for k, v in row["accepted_by_category"].items() if v} == {
        "02": 1,
        "04": 1,
        "01": 1,
        "13": 1,
    }
    # J (referred, open) is among the 涉农问题 cases still in progress
    assert row["by_key_area"]["涉农问题"] == {"registered": 5, "resolved": 1, "in_progress": 4}
    assert row["by_key_area"]["社会保障与欠薪"] == {
        "registered": 1,
        "resolved": 1,
        "in_progress": 0,
    }
    # The same village seen from its township: identical row, other villages empty.
    rows = aggregates.area_rows(
        db_session, parent=month["village"][:9], level="village", period=OCTOBER
    )
    assert rows[month["village"]] == row
    assert all(r["new_registered"] == 0 for c, r in rows.items() if c != month["village"])


def test_dashboard_measures_match_the_hand_count(db_session, month):
    scope = month["actors"]["center_staff"].case_scope
    out = console.dashboard(
        db_session, scope=scope, area=month["village"], period=OCTOBER, now=at(11, 1)
    )
    assert {
        k: out["figures"][k]
        for k in EXPECTED
        if k not in ("agreement_amount_wan", "resolution_days_sum")
    } == {
        k: v
        for k, v in EXPECTED.items()
        if k not in ("agreement_amount_wan", "resolution_days_sum")
    }
    assert out["measures"] == EXPECTED_RATES
    counts = {
        name: {i["key"]: i["count"] for i in items if i["count"]}
        for name, items in out["counts"].items()
    }
    # The period's cases: A C D E F G H J, by their state today
    assert counts["by_status"] == {
        "resolved": 2,
        "mediating": 1,
        "reopened": 1,
        "terminated": 1,
        "rejected": 1,
        "registered": 1,
        "referred": 1,
    }
    assert counts["by_handling_level"] == {"grid": 6, "township": 1, "referred": 1}
    assert counts["by_risk"] == {"red": 4, "orange": 1, "blue": 3}
    assert counts["by_category"] == {"02": 4, "03": 1, "04": 1, "01": 1, "13": 1}
    assert counts["by_source"] == {
        "grid_patrol": 4,
        "party_application": 2,
        "hotline": 1,
        "police_transfer": 1,
    }
    assert counts["by_key_area"] == {"涉农问题": 7, "社会保障与欠薪": 1}
    # Overdue on 11-01: only C's mediation (D's new mediation runs to 11-21, H's acceptance 11-04)
    assert out["overdue_total"] == 1
    assert {i["kind"]: i["count"] for i in out["overdue_by_kind"] if i["count"]} == {"mediation": 1}
    trend = {t["month"]: t for t in out["trend"]}
    assert list(trend) == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert trend["2026-10"]["new_registered"] == 6 and trend["2026-10"]["local_rate"] == 0.5
    assert trend["2026-09"]["new_registered"] == 3  # A B C
    assert trend["2026-08"]["new_registered"] == 0 and trend["2026-08"]["local_rate"] is None
    # Children are the village's cells: the cases' cell carries everything
    cell = month["cells"][0]
    by_cell = {c["code"]: c for c in out["children"]}
    assert by_cell[cell]["counts"]["new_registered"] == 6
    assert by_cell[cell]["measures"] == EXPECTED_RATES
    assert sum(c["counts"]["resolved"] for c in out["children"]) == 2


def _draft(db_session, month, now=None):
    monthly_report_reminders(db_session, now=at(11, 1, 6))
    drafting.generate_drafts(
        db_session,
        month="2026-11",
        now=now or at(11, 1, 2),
        settings=SETTINGS,
        within=month["village"],
    )
    return db_session.scalar(
        select(MonthlyReport).where(
            MonthlyReport.area_code == month["village"], MonthlyReport.month == "2026-11"
        )
    )


def test_submitted_report_is_frozen_and_a_correction_is_version_two(db_session, month):
    lead = month["actors"]["village_admin"]
    draft = _draft(db_session, month)
    assert draft.status == "draft" and draft.version == 1
    assert draft.figures["row"]["new_registered"] == 6
    assert draft.figures["rates"]["success_rate"] == 0.75
    # masked RED/ORANGE list: no full names
    listed = draft.figures["high_risk"]
    assert {c["case_number"] for c in listed} == {month["cases"][x].case_number for x in "acefh"}
    assert all("张三" not in c["parties"] and "张*" in c["parties"] for c in listed)

    with pytest.raises(Exception) as refused:
        drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 10))
    assert refused.value.code == "narrative_required"
    drafting.edit_draft(
        db_session,
        actor=lead,
        report_id=draft.id,
        narrative="本月入户排查 3 次，化解纠纷 2 件。",
        remarks=None,
    )
    drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 10))
    assert draft.status == "submitted" and draft.on_time is True
    key = f"village:{month['village']}:monthly_report:2026-11"
    assert db_session.scalar(select(Reminder.state).where(Reminder.key == key)) == "cancelled"

    # A late-entered October case and a change to C after submission …
    month["register"](at(10, 31), occurred_at=at(10, 31, 7).isoformat())
    month["act"]("mediator", month["cases"]["c"], "withdraw", at(11, 12), reason="已和解")
    db_session.expire_all()
    v1 = db_session.get(MonthlyReport, draft.id)
    assert v1.figures["row"]["new_registered"] == 6  # … do not touch the submitted snapshot
    assert v1.figures["row"]["in_progress"] == 4
    # The database refuses to change a submitted version.
    with pytest.raises(sqlalchemy.exc.DBAPIError), db_session.begin_nested():
        db_session.execute(
            text("UPDATE monthly_report SET narrative = 'x' WHERE id = :i"), {"i": draft.id}
        )
    with pytest.raises(Exception) as again:
        drafting.edit_draft(
            db_session, actor=lead, report_id=draft.id, narrative="改", remarks=None
        )
    assert again.value.code == "report_submitted"

    v2 = drafting.correct(
        db_session,
        actor=lead,
        report_id=draft.id,
        reason="补录 10-31 纠纷",
        now=at(11, 20),
        settings=SETTINGS,
    )
    assert (v2.version, v2.status, v2.supersedes_id) == (2, "draft", draft.id)
    assert v2.figures["row"]["new_registered"] == 7
    assert v2.narrative == v1.narrative
    drafting.submit(db_session, actor=lead, report_id=v2.id, now=at(11, 20, 10))
    assert v2.on_time is True  # timeliness is that of the first submission
    versions = drafting.versions(
        db_session, actor=lead, area_code=month["village"], month="2026-11"
    )
    assert [(r.version, r.status) for r in versions] == [(2, "submitted"), (1, "submitted")]


def test_township_compiles_its_villages_with_status(db_session, month):
    staff = month["actors"]["center_staff"]
    lead = month["actors"]["village_admin"]
    draft = _draft(db_session, month)
    township = month["village"][:9]
    before = township_view.compile_township(
        db_session,
        actor=staff,
        township=township,
        month="2026-11",
        now=at(11, 15),
        settings=SETTINGS,
    )
    states = {v["code"]: v["report_status"] for v in before["villages"]}
    assert set(states.values()) == {"pending"}
    drafting.edit_draft(
        db_session, actor=lead, report_id=draft.id, narrative="已排查", remarks=None
    )
    drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 19))  # after the 18th
    after = township_view.compile_township(
        db_session,
        actor=staff,
        township=township,
        month="2026-11",
        now=at(11, 20),
        settings=SETTINGS,
    )
    states = {v["code"]: v["report_status"] for v in after["villages"]}
    assert states.pop(month["village"]) == "late"
    assert set(states.values()) == {"missing"}
    assert after["late"] == 1 and after["missing"] == len(states)
    total = after["total"]
    for k, v in EXPECTED.items():
        if k not in ("agreement_amount_wan", "resolution_days_sum"):
            assert total["row"][k] == v, k
    assert total["row"]["agreement_amount_wan"] == "6.23"
    assert total["rates"] == EXPECTED_RATES
    late = township_view.late_villages(
        db_session,
        scope_clause_params={"everything": False, "prefixes": [f"{township}%"]},
        month="2026-11",
        now=at(11, 20),
        settings=SETTINGS,
    )
    assert {r["code"]: r["status"] for r in late}[month["village"]] == "late"
    assert len(late) == len(after["villages"])


def test_village_admin_cannot_see_the_township_compile(db_session, month):
    with pytest.raises(Exception) as refused:
        township_view.compile_township(
            db_session,
            actor=month["actors"]["village_admin"],
            township=month["village"][:9],
            month="2026-11",
            now=at(11, 20),
            settings=SETTINGS,
        )
    assert refused.value.code == "area_not_found"


def test_exports_xlsx_csv_json_escaped_and_logged(app, client, db_session, month):
    lead = month["actors"]["village_admin"]
    draft = _draft(db_session, month)
    drafting.edit_draft(
        db_session,
        actor=lead,
        report_id=draft.id,
        narrative='=HYPERLINK("http://evil","点我")',
        remarks="@SUM(1)",
    )
    drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 10))
    token = login(client, month["users"]["center_staff"].username)["access_token"]
    township = month["village"][:9]
    url = f"/api/v1/reports/monthly/2026-11/townships/{township}"

    r = client.get(f"{url}?format=xlsx&purpose=报送县综治中心", headers=bearer(token))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype.endswith("spreadsheetml.sheet")
    if os.environ.get("REPORT_SAMPLE_DIR"):  # scripts/render_report_sample.sh looks at it
        with open(os.path.join(os.environ["REPORT_SAMPLE_DIR"], "township-report.xlsx"), "wb") as f:
            f.write(r.data)
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == [
        "汇总表",
        "分类统计",
        "重点领域",
        "红橙案件",
        "工作开展情况",
        "风险防范",
        "指标说明",
    ]
    ws = wb["汇总表"]
    assert ws.freeze_panes == "C5"
    assert "C3:F3" in {str(m) for m in ws.merged_cells.ranges}  # 案件数量 over four columns
    headers = [c.value for c in ws[4]]
    assert ws["A3"].value == "单位" and "A3:A4" in {str(m) for m in ws.merged_cells.ranges}
    assert headers[2:6] == ["上期结转", "本期新登记", "其中网格员排查发现", "本期受理"]
    village_row = next(
        row
        for row in ws.iter_rows(min_row=5, values_only=True)
        if row[0] and row[0] != "合计" and row[2] == 2
    )
    assert village_row[3] == 6  # new_registered
    total = next(row for row in ws.iter_rows(min_row=5, values_only=True) if row[0] == "合计")
    assert total[2:6] == (2, 6, 3, 4)
    rate_col = headers.index("调解成功率")
    assert total[rate_col] == 0.75 and ws.cell(row=5, column=rate_col + 1).number_format == "0.0%"
    narrative = wb["工作开展情况"]
    texts = [c.value for c in narrative["D"] if c.value]
    assert any(t.startswith("'=HYPERLINK") for t in texts)
    assert "'@SUM(1)" in [c.value for c in narrative["E"]]
    red = wb["红橙案件"]
    assert red.max_row == 1 + 5
    assert all("张三" not in (c.value or "") for c in red["E"])

    r = client.get(f"{url}?format=csv", headers=bearer(token))
    body = r.get_data(as_text=True)
    assert body.startswith("\ufeff") and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["单位", "报送情况", "案件数量-上期结转"]
    assert rows[-1][0] == "合计" and rows[-1][3] == "6"

    r = client.get(url, headers=bearer(token))
    assert r.get_json()["total"]["row"]["new_registered"] == 6

    logged = db_session.execute(
        text(
            "SELECT field, purpose FROM access_log WHERE action = 'export' AND record_id = :r "
            "ORDER BY id"
        ),
        {"r": f"{township}:2026-11"},
    ).all()
    assert [f for f, _p in logged] == ["xlsx", "csv", "json"]
    assert logged[0][1] == "报送县综治中心"


def test_escape_covers_every_formula_prefix():
    for bad in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert exports.escape(bad) == "'" + bad
    assert exports.escape("正常文本") == "正常文本"
    assert exports.escape(-5) == -5  # numbers are numbers
    chunks = "".join(exports.csv_stream([("a", "甲")], [{"a": "=cmd|' /C calc'!A0"}]))
    assert chunks.splitlines()[1] == "'=cmd|' /C calc'!A0"


def test_supervision_lists_sorted_and_exported(client, db_session, month):
    token = login(client, month["users"]["center_staff"].username)["access_token"]
    area = month["village"]
    r = client.get(f"/api/v1/console/lists/high_risk?area={area}&sort=risk", headers=bearer(token))
    assert r.status_code == 200
    items = r.get_json()["items"]
    # open RED/ORANGE today: C (orange) and H (red); A/E resolved, F terminated
    assert [i["case_number"] for i in items] == [
        month["cases"]["h"].case_number,
        month["cases"]["c"].case_number,
    ]
    assert items[0]["risk"] == "红色" and items[0]["leader_assigned"] == "否"
    r = client.get(f"/api/v1/console/lists/overdue?area={area}&format=xlsx", headers=bearer(token))
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws.freeze_panes == "A2" and ws["A1"].value == "案件编号"
    assert ws.max_row >= 2  # C at least (real clock: later deadlines may have passed too)
    r = client.get(
        f"/api/v1/console/lists/overdue?area={area}&sort=nonsense", headers=bearer(token)
    )
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_sort"


def test_map_layers(client, db_session, month):
    token = login(client, month["users"]["center_staff"].username)["access_token"]
    area = month["village"]
    r = client.get(f"/api/v1/console/map/areas?area={area}", headers=bearer(token))
    assert r.status_code == 200
    by_code = {f["id"]: f["properties"] for f in r.get_json()["features"]}
    # C D H J (referred: open until the police answer) and K (registered 11-02)
    assert by_code[month["cells"][0]]["open_cases"] == 5
    r = client.get(f"/api/v1/console/map/cases?area={area}&risk_level=red", headers=bearer(token))
    props = [f["properties"] for f in r.get_json()["features"]]
    assert {p["case_number"] for p in props} == {month["cases"][x].case_number for x in "aefh"}
    assert all(set(p) >= {"status", "risk_level"} and "parties" not in p for p in props)
    r = client.get(f"/api/v1/console/map/cases?area={area}&bbox=1,2,3", headers=bearer(token))
    assert (
        r.status_code == 422 and r.get_json()["field"]
        if False
        else r.get_json()["code"] == "invalid_bbox"
    )


def test_hot_spots_find_cases_close_in_space_and_time(db_session, month):
    from mediation.disputes import maps as layers

    scope = month["actors"]["center_staff"].case_scope
    # Every case of `month` was registered at the same spot of one cell: six October cases form
    # one cluster; asking for seven finds none; November's case is outside the window.
    found = layers.hot_spots(
        db_session,
        scope=scope,
        area=month["village"],
        start=at(10, 1),
        end=at(11, 1),
        radius_m=5000,
        min_cases=3,
        system="gcj02",
    )
    assert len(found["features"]) == 1
    spot = found["features"][0]["properties"]
    assert spot["cases"] == 6 and spot["high_risk"] == 3  # D E F G H J; E F H red
    assert spot["radius_m"] == 0 and spot["categories"] == ["01", "02", "04", "13"]
    none = layers.hot_spots(
        db_session,
        scope=scope,
        area=month["village"],
        start=at(10, 1),
        end=at(11, 1),
        radius_m=1,
        min_cases=7,
        system="gcj02",
    )
    assert none["features"] == []


def test_screening_rounds_feed_the_report_and_the_dashboard(app, db_session, month):
    """Three October rounds in the village: two found D and G, one zero report (零报告)."""
    import uuid

    from api.disputes import store
    from api.schemas.screening import RoundIn
    from mediation.screening import rounds

    worker = month["actors"]["grid_worker"]
    cells, cases = month["cells"], month["cases"]
    for cell, day, found in (
        (cells[0], 3, [cases["d"]]),
        (cells[1], 12, []),
        (cells[0], 20, [cases["g"]]),
    ):
        data = RoundIn().load(
            {
                "client_id": str(uuid.uuid4()),
                "cell_code": cell,
                "screened_at": at(10, day, 11).isoformat(),
                "households_visited": 20,
                "key_areas": ["涉农问题"],
                "zero_report": not found,
                "dispute_ids": [str(c.id) for c in found],
            }
        )
        with app.test_request_context():
            rounds.record_round(
                db_session, actor=worker, data=data, photos=[], now=at(10, day, 12), store=store()
            )
    expected = {
        "rounds": 3,
        "zero_reports": 1,
        "found": 2,
        "cells_total": len(cells),
        "cells_screened": 2,
        "coverage": round(2 / len(cells), 4),
        "found_by_key_area": {"涉农问题": 2},
    }
    draft = _draft(db_session, month)
    assert draft.figures["screening"] == expected
    out = console.dashboard(
        db_session,
        scope=month["actors"]["center_staff"].case_scope,
        area=month["village"],
        period=OCTOBER,
        now=at(11, 1),
    )
    assert out["screening"] == expected
    by_cell = {c["code"]: c["screening"] for c in out["children"]}
    assert by_cell[cells[0]]["rounds"] == 2 and by_cell[cells[1]]["zero_reports"] == 1
    assert by_cell[cells[0]]["coverage"] == 1.0
    compiled = township_view.compile_township(
        db_session,
        actor=month["actors"]["center_staff"],
        township=month["village"][:9],
        month="2026-11",
        now=at(11, 5),
        settings=SETTINGS,
    )
    assert compiled["total"]["screening"]["rounds"] == 3
    assert compiled["total"]["screening"]["found"] == 2


def test_m3_village_and_township_workbooks_print_the_same_due_day(app, client, db_session, month):
    """Both print the deadline from one source, the end of the due day, Asia/Shanghai; a report
    submitted on the evening of that day is on time, as the paper says."""
    lead = month["actors"]["village_admin"]
    draft = _draft(db_session, month)
    drafting.edit_draft(
        db_session, actor=lead, report_id=draft.id, narrative="本月排查 3 次。", remarks=None
    )
    drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 18, 22))
    assert draft.on_time is True
    token = login(client, month["users"]["center_staff"].username)["access_token"]
    township = month["village"][:9]
    urls = (
        f"/api/v1/reports/monthly/2026-11/townships/{township}?format=xlsx",
        f"/api/v1/reports/monthly/reports/{draft.id}/export?format=xlsx",
    )
    printed = []
    for url in urls:
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 200, r.get_data(as_text=True)
        ws = load_workbook(io.BytesIO(r.data))["汇总表"]
        line = next(c.value for c in ws["A"][:3] if c.value and "报送" in str(c.value))
        printed.append(line[line.index("报送") :])
    assert printed[0] == printed[1] == "报送截止：2026年11月18日（含）前报送"


def _disposition(header: str) -> tuple[str, str]:
    from urllib.parse import unquote

    parts = dict(p.strip().split("=", 1) for p in header.split(";")[1:])
    assert parts["filename*"].startswith("UTF-8''")
    return parts["filename"].strip('"'), unquote(parts["filename*"][len("UTF-8''") :])


def test_m12_every_download_has_a_meaningful_chinese_name(app, client, db_session, month):
    lead = month["actors"]["village_admin"]
    draft = _draft(db_session, month)
    drafting.edit_draft(
        db_session, actor=lead, report_id=draft.id, narrative="本月排查 3 次。", remarks=None
    )
    drafting.submit(db_session, actor=lead, report_id=draft.id, now=at(11, 10))
    token = login(client, month["users"]["center_staff"].username)["access_token"]
    township = month["village"][:9]
    names = db_session.execute(
        text("SELECT code, name FROM area WHERE code IN (:t, :v) AND valid_to IS NULL"),
        {"t": township, "v": month["village"]},
    )
    names = dict(names.all())
    today = datetime.now(SH).date().isoformat()
    expected = {
        f"/api/v1/reports/monthly/2026-11/townships/{township}?format=xlsx": (
            f"{names[township]}-2026-11-月报.xlsx",
            f"{township}-2026-11-monthly-report.xlsx",
        ),
        f"/api/v1/reports/monthly/2026-11/townships/{township}?format=csv": (
            f"{names[township]}-2026-11-月报.csv",
            f"{township}-2026-11-monthly-report.csv",
        ),
        f"/api/v1/reports/monthly/reports/{draft.id}/export?format=xlsx": (
            f"{names[month['village']]}-2026-11-月报.xlsx",
            f"{month['village']}-2026-11-monthly-report.xlsx",
        ),
        f"/api/v1/console/lists/overdue?area={township}&format=csv": (
            f"{names[township]}-逾期案件督办清单-{today}.csv",
            f"{township}-overdue-list-{today}.csv",
        ),
        f"/api/v1/console/lists/overdue?area={township}&format=xlsx": (
            f"{names[township]}-逾期案件督办清单-{today}.xlsx",
            f"{township}-overdue-list-{today}.xlsx",
        ),
        f"/api/v1/console/lists/late_reports?area={township}&month=2026-11&format=csv": (
            f"{names[township]}-月报逾期村社督办清单-{today}.csv",
            f"{township}-late-reports-list-{today}.csv",
        ),
    }
    for url, (chinese, ascii_name) in expected.items():
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 200, (url, r.get_data(as_text=True))
        r.get_data()  # the whole stream
        header = r.headers["Content-Disposition"]
        assert header.startswith("attachment;"), header
        fallback, name = _disposition(header)
        assert (name, fallback) == (chinese, ascii_name), url
        assert header.isascii()
