"""End-to-end journeys of the Fengqiao flow through the API, idempotent registration, errors."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from mediation.disputes.models import Dispute, DisputeEvent, Party
from tests.factories import Api, dispute_payload, role_users, upload_signed_agreement


@pytest.fixture
def ctx(app, db_session):
    return role_users(app, db_session)


@pytest.fixture
def gw(client, ctx):
    return Api(client, "t_gw")


@pytest.fixture
def med(client, ctx):
    return Api(client, "t_med")


@pytest.fixture
def center(client, ctx):
    return Api(client, "t_center")


def soon(days=0):
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def today(days=0):
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def test_registration_routes_masks_and_audits(gw, ctx, db_session):
    r = gw.register(dispute_payload(db_session, ctx["cells"][0]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["cell_code"] == ctx["cells"][0]
    assert body["village_code"] == ctx["village"] and body["township_code"] == "330681109"
    assert body["status"] == "registered" and body["handling_level"] == "grid"
    assert body["case_number"].startswith(f"{datetime.now(UTC).year}-{ctx['village']}-")
    assert r.headers["ETag"] == '"1"'
    p = body["parties"]
    assert p[0]["id_number"].startswith("330681") and "*" in p[0]["id_number"]
    assert p[0]["phone"] == "138****8000" and p[1]["phone"] == "139****9000"
    assert body["next_due_kind"] == "acceptance"
    assert body["timeline"][0]["action"] == "register"
    stored = db_session.scalar(select(Party).where(Party.name == "张三"))
    assert b"330681" not in stored.id_number_enc  # encrypted at rest
    raw = db_session.execute(text("SELECT * FROM party WHERE name = '张三'")).mappings().one()
    assert all("330681199001011" not in str(v) for v in raw.values())


def test_case_numbers_are_gap_free_per_village(gw, ctx, db_session):
    numbers = [
        gw.register(
            dispute_payload(db_session, ctx["cells"][i % 2], description=f"第{i}件")
        ).get_json()["case_number"]
        for i in range(3)
    ]
    seqs = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]


def test_same_client_id_is_idempotent_and_different_content_conflicts(gw, ctx, db_session):
    payload = dispute_payload(db_session, ctx["cells"][0], client_id=str(uuid.uuid4()))
    first = gw.register(payload)
    again = gw.register(payload)
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"] == payload["client_id"]
    changed = {**payload, "description": "内容不同"}
    r = gw.register(changed)
    assert r.status_code == 409 and r.get_json()["code"] == "client_id_conflict"
    assert (
        db_session.scalar(
            select(func.count()).select_from(Dispute).where(Dispute.id == payload["client_id"])
        )
        == 1
    )


def resolve_in_village(gw, med, dispute_id):
    assert med.act(dispute_id, "accept").status_code == 200
    r = med.act(dispute_id, "start_mediation", rights_notice="书面告知双方权利义务，已签字")
    assert r.status_code == 200, r.get_json()
    assert (
        med.act(
            dispute_id,
            "record_session",
            held_at=soon(),
            place="村委会",
            summary="双方同意共同清理排水沟",
        ).status_code
        == 200
    )
    r = med.act(
        dispute_id,
        "agree",
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="双方各出一半费用清理排水沟",
        performance_method="共同出工",
        performance_deadline=today(7),
        amount="600.00",
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "agreed" and body["next_due_kind"] == "follow_up_visit"
    assert body["resolved_at"] is None  # mediated once is not resolved
    r = gw.act(
        dispute_id, "record_visit", method="in_person", result="performed", satisfaction="satisfied"
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_journey_resolved_in_the_village(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    body = resolve_in_village(gw, med, d["id"])
    assert body["status"] == "resolved" and body["resolved_level"] == "grid"
    assert body["resolved_at"] == body["visits"][0]["visited_at"]
    actions = [e["action"] for e in body["timeline"]]
    assert actions == [
        "register",
        "accept",
        "start_mediation",
        "record_session",
        "agree",
        "record_visit",
    ]
    assert [e["seq"] for e in body["timeline"]] == list(range(1, 7))
    assert med.act(d["id"], "archive").status_code == 403  # a mediator does not archive
    vil = Api(gw.client, "t_vil")
    r = vil.act(d["id"], "archive")  # the signed written agreement is not on file yet
    assert r.status_code == 422 and r.get_json()["code"] == "file_incomplete"
    assert set(r.get_json()["fields"]) == {"signed_agreement"}
    upload_signed_agreement(vil, d["id"])
    r = vil.act(d["id"], "archive")
    assert r.status_code == 200 and r.get_json()["status"] == "archived"


def test_journey_escalated_to_the_township_and_resolved_there(gw, med, center, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    med.act(d["id"], "accept")
    r = med.act(d["id"], "escalate", to_level="township", reason="涉及多户，村里调解不了")
    assert r.status_code == 200 and r.get_json()["escalation_target"] == "township"
    assert r.get_json()["next_due_kind"] == "escalation_acceptance"
    r = med.act(d["id"], "start_mediation", rights_notice="口头告知")
    assert r.status_code == 409 and r.get_json()["code"] == "escalation_pending"
    r = gw.act(d["id"], "accept_escalation")
    assert r.status_code == 403  # a grid worker cannot approve an escalation
    r = center.act(d["id"], "accept_escalation")
    assert r.status_code == 200 and r.get_json()["handling_level"] == "township"
    assert (
        med.act(d["id"], "start_mediation", rights_notice="x").get_json()["code"] == "wrong_level"
    )
    center.act(d["id"], "start_mediation", rights_notice="镇调委会书面告知")
    r = center.act(
        d["id"],
        "agree",
        form="oral",
        terms="口头协议：李四当场赔偿 500 元，调解员已记录",
        performed_immediately=True,
        amount="500.00",
    )
    assert r.status_code == 200, r.get_json()
    r = gw.act(
        d["id"], "record_visit", method="phone", result="performed", satisfaction="basically"
    )
    assert r.get_json()["status"] == "resolved" and r.get_json()["resolved_level"] == "township"


def test_journey_not_performed_reopens_then_resolves(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    med.act(d["id"], "accept")
    med.act(d["id"], "start_mediation", rights_notice="书面告知")
    med.act(
        d["id"],
        "agree",
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="赔偿",
        performance_method="转账",
        performance_deadline=today(3),
    )
    r = gw.act(
        d["id"],
        "record_visit",
        method="in_person",
        result="not_performed",
        satisfaction="unsatisfied",
    )
    body = r.get_json()
    assert (
        body["status"] == "reopened"
        and body["recurrence_count"] == 1
        and body["resolved_at"] is None
    )
    med.act(d["id"], "start_mediation", rights_notice="再次告知")
    med.act(
        d["id"],
        "agree",
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="分期赔偿",
        performance_method="转账",
        performance_deadline=today(5),
    )
    r = gw.act(
        d["id"], "record_visit", method="in_person", result="performed", satisfaction="satisfied"
    )
    assert r.get_json()["status"] == "resolved" and r.get_json()["recurrence_count"] == 1


def test_journey_rejected(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    r = med.act(d["id"], "reject")
    assert (
        r.status_code == 422
        and r.get_json()["code"] == "missing_field"
        and "ground" in r.get_json()["fields"]
    )
    r = med.act(d["id"], "reject", ground="handled_by_authority", reason="已由法院受理")
    assert r.get_json()["status"] == "rejected" and r.get_json()["closed_at"]
    assert r.get_json()["next_due_at"] is None
    assert med.act(d["id"], "accept").get_json()["code"] == "wrong_status"


def test_journey_referred_out(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    med.act(d["id"], "accept")
    r = med.act(
        d["id"], "refer", target="police", organisation="枫桥派出所", reason="有人身伤害，移送公安"
    )
    body = r.get_json()
    assert body["status"] == "referred" and body["handling_level"] == "referred"
    assert body["exit_detail"]["target"] == "police"
    r = gw.act(d["id"], "record_visit", method="phone", result="performed")
    assert r.status_code == 409  # a referred case cannot be resolved by a visit


def test_visits_cannot_resolve_without_an_agreement(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    med.act(d["id"], "accept")
    med.act(d["id"], "start_mediation", rights_notice="告知")
    r = gw.act(d["id"], "record_visit", method="phone", result="performed")
    assert r.status_code == 409 and r.get_json()["code"] == "wrong_status"


def test_stale_version_conflicts_and_missing_version_is_required(gw, med, ctx, db_session):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    assert med.act(d["id"], "accept", version=1).status_code == 200
    r = med.act(d["id"], "start_mediation", version=1, rights_notice="告知")
    assert r.status_code == 409 and r.get_json()["code"] == "version_conflict"
    assert r.get_json()["details"]["current_version"] == 2
    r = med.client.post(
        f"/api/v1/disputes/{d['id']}/actions/start_mediation",
        json={"rights_notice": "x"},
        headers=med.h(),
    )
    assert r.status_code == 428


def test_red_case_is_accepted_and_started_while_its_leader_is_named(
    gw, med, center, ctx, db_session
):
    payload = dispute_payload(
        db_session,
        ctx["cells"][0],
        risk={"likelihood": 2, "severity": 2, "flags": ["violence_threat"]},
    )
    d = gw.register(payload).get_json()
    assert d["risk_level"] == "red"
    assert med.act(d["id"], "accept").status_code == 200
    assert med.act(d["id"], "start_mediation", rights_notice="告知").status_code == 200
    r = med.act(d["id"], "agree", form="oral", terms="赔偿 500 元")
    assert r.status_code == 409 and r.get_json()["code"] == "leader_required"
    leader = ctx["users"]["leader"]
    r = center.act(d["id"], "assign_leader", leader_id=leader.id)
    assert r.status_code == 200, r.get_json()
    # The violence threat recorded at registration stays until it is cleared with a reason.
    kept = center.act(d["id"], "assess_risk", likelihood=2, severity=3, reason="复核").get_json()
    assert kept["risk_level"] == "red"
    cleared = center.act(
        d["id"],
        "assess_risk",
        likelihood=2,
        severity=3,
        clear_flags=["violence_threat"],
        reason="双方已和解，威胁解除",
    ).get_json()
    assert [h["level"] for h in cleared["risk_history"]] == ["red", "red", "yellow"]


def test_out_of_area_cases_are_404(client, ctx, db_session, gw):
    d = gw.register(dispute_payload(db_session, ctx["cells"][0])).get_json()
    other = Api(client, "t_gw_out")
    assert other.get(d["id"]).status_code == 404
    assert other.act(d["id"], "accept", version=1).status_code == 404
    assert other.get(str(uuid.uuid4())).status_code == 404
    assert other.get("not-a-uuid").status_code == 404


def test_event_rows_are_append_only(gw, ctx, db_session):
    import sqlalchemy.exc

    gw.register(dispute_payload(db_session, ctx["cells"][0]))
    event = db_session.scalar(select(DisputeEvent).limit(1))
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(
                text("UPDATE dispute_event SET reason = 'x' WHERE id = :i"), {"i": event.id}
            )


def test_registration_answer_is_the_case_file_read_back(gw, ctx, db_session):
    """Registration answers from the rows it wrote; that answer must be the case file a GET reads
    back — amounts as stored, the photo, the duplicate link, the risk and the timeline."""
    import base64

    payload = dispute_payload(db_session, ctx["cells"][0], amount="1200")
    first = gw.register(payload)
    assert first.status_code == 201, first.get_json()
    again = dispute_payload(
        db_session,
        ctx["cells"][0],
        amount=1200.5,
        risk={"likelihood": 5, "severity": 4, "flags": []},
        photos=[
            {
                "filename": "现场.png",
                "content_base64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"answer" * 8).decode(),
            }
        ],
    )
    again["location"] = payload["location"]
    r = gw.register(again)
    assert r.status_code == 201, r.get_json()
    posted = r.get_json()
    assert posted["links"] and posted["attachments"] and posted["risk_level"] == "red"
    read = gw.client.get(f"/api/v1/disputes/{posted['id']}", headers=gw.h())
    assert read.status_code == 200
    assert posted == read.get_json()
    assert r.headers["ETag"] == read.headers["ETag"]
    assert (
        first.get_json()
        == gw.client.get(f"/api/v1/disputes/{first.get_json()['id']}", headers=gw.h()).get_json()
    )
