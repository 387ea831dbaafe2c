"""The risk rules of issue 19, each test named after its rule: what a group dispute is, who
confirms or lifts it, RED without a 包案领导, 未研判, who may lower a level, forcing conditions
that persist, ORANGE reaching the township, recurrence by place and category, categories as data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy.exc
from sqlalchemy import select, text

from mediation.disputes import risk
from mediation.disputes.enums import KEY_AREA_LABELS
from mediation.disputes.models import DisputeLink
from mediation.disputes.scheduled import daily_digest
from mediation.reminders.models import OPEN_STATES, Reminder
from tests.factories import Api, case_world, dispute_payload

SH = ZoneInfo("Asia/Shanghai")


def at(m, d, h=9, mi=0):
    return datetime(2026, m, d, h, mi, tzinfo=SH)


def person(role, name):
    return {"role": role, "kind": "person", "name": name}


# A mother against her four children, with a lawyer: an ordinary 赡养 dispute.
SUPPORT_DISPUTE = [
    person("applicant", "王母"),
    *(person("respondent", f"王子{i}") for i in range(1, 5)),
    person("agent", "李律师"),
]


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


@pytest.fixture
def api(client, world):
    return {role: Api(client, u.username) for role, u in world["users"].items()}


def live(db_session, d, kind=None):
    stmt = select(Reminder).where(Reminder.dispute_id == d.id, Reminder.state.in_(OPEN_STATES))
    if kind:
        stmt = stmt.where(Reminder.kind == kind)
    return db_session.scalars(stmt.order_by(Reminder.id)).all()


# ------------------------------------------------------------------ item 1: group disputes


def test_group_dispute_counts_people_on_one_side_not_agents():
    def group(parties, people=0):
        return risk.is_group(parties=parties, people_involved=people, min_one_side=5, min_people=30)

    assert not group(SUPPORT_DISPUTE, people=6)  # 1 against 4, the lawyer never counts
    two_with_agents = [person("applicant", "甲"), person("respondent", "乙")]
    two_with_agents += [person("agent", "丙"), person("agent", "丁")]
    assert not group(two_with_agents)
    assert not group([*two_with_agents, *(person("third_party", f"第三人{i}") for i in range(9))])
    five_on_one_side = [person("applicant", f"村民{i}") for i in range(5)]
    assert group([*five_on_one_side, person("respondent", "某公司")])
    assert group(two_with_agents, people=30)  # the people affected reach the threshold
    assert not group(two_with_agents, people=29)


def test_support_dispute_with_a_lawyer_is_not_red_and_the_village_accepts_it(
    db_session, world, api
):
    payload = dispute_payload(db_session, world["cells"][0], parties=SUPPORT_DISPUTE)
    payload["people_involved"] = 6
    d = api["grid_worker"].register(payload).get_json()
    assert d["risk_level"] == "blue" and d["group_dispute"] is False
    assert api["mediator"].act(d["id"], "accept").status_code == 200


def test_group_threshold_is_a_setting(db_session, world):
    from dataclasses import replace

    strict = replace(world["settings"], group_min_one_side=4)
    d = world["register"](at(12, 1), settings_=strict, parties=SUPPORT_DISPUTE)
    assert d.risk_level == "red" and d.group_dispute  # four children on one side
    d = world["register"](at(12, 1), parties=SUPPORT_DISPUTE)
    assert d.risk_level == "blue" and not d.group_dispute  # default: five


def test_township_officer_lifts_a_group_flag_with_a_reason_and_reassessment_keeps_it_lifted(
    db_session, world, api
):
    payload = dispute_payload(db_session, world["cells"][0], people_involved=40)
    payload["risk"] = {"likelihood": 2, "severity": 3}
    d = api["grid_worker"].register(payload).get_json()
    assert d["risk_level"] == "red" and d["group_dispute"] is True
    r = api["mediator"].act(d["id"], "set_group_flag", group_dispute=False, reason="只涉两户")
    assert r.status_code == 403 and r.get_json()["code"] == "role_not_allowed"
    r = api["center_staff"].act(d["id"], "set_group_flag", group_dispute=False)
    assert r.status_code == 422 and "reason" in r.get_json()["fields"]
    r = api["center_staff"].act(
        d["id"], "set_group_flag", group_dispute=False, reason="涉及人数系误填，实为两户"
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["risk_level"] == "yellow" and body["group_dispute"] is False  # 2 × 3 = 6
    event = body["timeline"][-1]
    assert event["action"] == "set_group_flag" and event["reason"] == "涉及人数系误填，实为两户"
    assert event["changes"]["group_decision"] == [None, "lifted"]
    assert event["changes"]["risk_level"] == ["red", "yellow"]
    # A later reassessment by the village does not re-force the flag the township lifted.
    again = api["mediator"].act(d["id"], "assess_risk", likelihood=2, severity=3).get_json()
    assert again["risk_level"] == "yellow" and again["group_dispute"] is False


def test_township_officer_confirms_a_group_flag_and_it_forces_red(db_session, world, api):
    d = api["grid_worker"].register(dispute_payload(db_session, world["cells"][0])).get_json()
    r = api["county_admin"].act(
        d["id"], "set_group_flag", group_dispute=True, reason="同村多户共同诉求"
    )
    body = r.get_json()
    assert r.status_code == 200 and body["risk_level"] == "red" and body["group_dispute"]
    again = api["mediator"].act(d["id"], "assess_risk", likelihood=1, severity=1).get_json()
    assert again["risk_level"] == "red"  # the confirmation stays until the township lifts it


def test_red_case_without_leader_is_accepted_and_started_and_the_township_is_told_today(
    db_session, world
):
    act = world["act"]
    d = world["register"](at(12, 1), risk={"likelihood": 2, "severity": 2, "flags": ["death"]})
    assert d.risk_level == "red" and d.leader_id is None
    [alert] = live(db_session, d, "red_case")
    assert (alert.recipient_role, alert.recipient_area) == ("center_staff", "330681109")
    assert alert.due_at == datetime(2026, 12, 1, 23, 59, 59, tzinfo=SH)
    d = act("mediator", d, "accept", at(12, 1, 10))
    d = act("mediator", d, "start_mediation", at(12, 1, 11), rights_notice="口头告知")
    assert d.status == "mediating"
    assert live(db_session, d, "red_case")  # the same-day alert stays until the leader is named


# ------------------------------------------------------------------ item 2: 未研判


def test_unassessed_case_is_shown_counted_and_reminded_as_unassessed(db_session, world, api):
    d = world["register"](at(12, 1), risk=None)  # Tuesday
    assert (d.risk_level, d.risk_score) == ("unassessed", 0)
    [due] = live(db_session, d, "risk_assessment")
    assert due.recipient_id == world["users"]["grid_worker"].id  # the grid holds the case
    assert due.due_at == datetime(2026, 12, 2, 23, 59, 59, tzinfo=SH)  # one working day
    body = api["center_staff"].get(d.id).get_json()
    assert body["risk_label"] == "未研判" and body["risk_history"] == []
    listed = (
        api["center_staff"]
        .client.get("/api/v1/disputes?risk_level=unassessed", headers=api["center_staff"].h())
        .get_json()
    )
    assert [i["id"] for i in listed["items"]] == [str(d.id)]
    dash = (
        api["center_staff"]
        .client.get(
            "/api/v1/console/dashboard?area=330681109&from=2026-12-01&to=2026-12-31",
            headers=api["center_staff"].h(),
        )
        .get_json()
    )
    by_risk = {i["key"]: i["count"] for i in dash["counts"]["by_risk"]}
    assert by_risk["unassessed"] == 1 and by_risk["blue"] == 0
    d = world["act"]("grid_worker", d, "assess_risk", at(12, 1, 15), likelihood=2, severity=2)
    assert d.risk_level == "blue" and not live(db_session, d, "risk_assessment")


def test_unassessed_case_escalated_to_the_township_is_the_centres_to_assess(db_session, world):
    d = world["register"](at(12, 1), risk=None)
    d = world["act"](
        "grid_worker", d, "escalate", at(12, 1, 10), to_level="township", reason="涉多村"
    )
    d = world["act"]("center_staff", d, "accept_escalation", at(12, 1, 11))
    [due] = live(db_session, d, "risk_assessment")
    assert (due.recipient_role, due.recipient_area) == ("center_staff", "330681109")


# ------------------------------------------------------------------ item 3: lowering


def test_only_the_township_lowers_red_or_orange_and_always_with_a_reason(db_session, world, api):
    payload = dispute_payload(db_session, world["cells"][0], risk={"likelihood": 3, "severity": 4})
    d = api["grid_worker"].register(payload).get_json()
    assert d["risk_level"] == "orange"
    for role in ("grid_worker", "mediator", "village_admin"):
        r = api[role].act(d["id"], "assess_risk", likelihood=2, severity=3, reason="已缓和")
        assert r.status_code == 403 and r.get_json()["code"] == "risk_lowering_not_allowed", role
    r = api["center_staff"].act(d["id"], "assess_risk", likelihood=2, severity=3)
    assert r.status_code == 422 and r.get_json()["code"] == "reason_required"
    r = api["leader"].act(d["id"], "assess_risk", likelihood=2, severity=3, reason="已赔付到位")
    assert r.status_code == 200 and r.get_json()["risk_level"] == "yellow"
    # Below ORANGE the village may lower, but still not without a reason; raising needs none.
    r = api["grid_worker"].act(d["id"], "assess_risk", likelihood=1, severity=2)
    assert r.status_code == 422 and r.get_json()["code"] == "reason_required"
    r = api["grid_worker"].act(d["id"], "assess_risk", likelihood=1, severity=2, reason="已和好")
    assert r.status_code == 200 and r.get_json()["risk_level"] == "blue"
    r = api["grid_worker"].act(d["id"], "assess_risk", likelihood=4, severity=5)
    assert r.status_code == 200 and r.get_json()["risk_level"] == "red"


def test_forcing_conditions_persist_unless_cleared_with_a_reason(db_session, world, api):
    payload = dispute_payload(
        db_session,
        world["cells"][0],
        risk={"likelihood": 2, "severity": 2, "flags": ["violence_threat"]},
    )
    d = api["grid_worker"].register(payload).get_json()
    center = api["center_staff"]
    kept = center.act(d["id"], "assess_risk", likelihood=1, severity=1, reason="复核").get_json()
    assert kept["risk_level"] == "red"
    assert kept["risk_history"][-1]["forced_reasons"] == ["violence_threat"]
    r = center.act(
        d["id"], "assess_risk", likelihood=1, severity=1, clear_flags=["death"], reason="x"
    )
    assert r.status_code == 422 and r.get_json()["code"] == "flag_not_recorded"
    r = center.act(
        d["id"], "assess_risk", likelihood=1, severity=1, clear_flags=["violence_threat"]
    )
    assert r.status_code == 422 and r.get_json()["code"] == "reason_required"
    r = center.act(
        d["id"],
        "assess_risk",
        likelihood=1,
        severity=1,
        clear_flags=["violence_threat"],
        reason="派出所已调处，双方具结",
    )
    body = r.get_json()
    assert r.status_code == 200 and body["risk_level"] == "blue"
    event = body["timeline"][-1]
    assert event["changes"]["risk_level"] == ["red", "blue"]
    assert event["changes"]["forced_reasons"] == [["violence_threat"], []]
    assert event["changes"]["cleared_flags"] == [["violence_threat"], None]
    assert event["reason"] == "派出所已调处，双方具结"


# ------------------------------------------------------------------ item 8: ORANGE


def test_orange_reached_by_reassessment_reaches_the_township_within_24_hours(db_session, world):
    d = world["register"](at(12, 1), risk={"likelihood": 1, "severity": 2})
    assert not live(db_session, d, "orange_case")
    d = world["act"]("grid_worker", d, "assess_risk", at(12, 3, 15), likelihood=3, severity=4)
    [notice] = live(db_session, d, "orange_case")
    assert (notice.recipient_role, notice.recipient_area) == ("center_staff", "330681109")
    assert notice.remind_at == at(12, 3, 15) and notice.due_at == at(12, 4, 15)
    daily_digest(db_session, now=at(12, 4, 8))
    digest = db_session.scalar(
        select(Reminder).where(Reminder.key == "digest:330681109:2026-12-04")
    )
    assert digest.body["new_red_orange"] == 1
    daily_digest(db_session, now=at(12, 5, 8))  # reported once, not every day
    digest = db_session.scalar(
        select(Reminder).where(Reminder.key == "digest:330681109:2026-12-05")
    )
    assert digest.body["new_red_orange"] == 0


def test_orange_registration_reaches_the_township_within_24_hours(db_session, world):
    d = world["register"](at(12, 1, 20), risk={"likelihood": 4, "severity": 4})
    [notice] = live(db_session, d, "orange_case")
    assert notice.due_at == at(12, 2, 20)


# ------------------------------------------------------------------ item 9


def _resolve(world, d, day):
    act = world["act"]
    d = act("mediator", d, "accept", at(12, day, 9))
    d = act("mediator", d, "start_mediation", at(12, day, 10), rights_notice="告知")
    d = act(
        "mediator",
        d,
        "agree",
        at(12, day, 11),
        form="oral",
        terms="疏通水沟",
        performed_immediately=True,
    )
    return act(
        "grid_worker",
        d,
        "record_visit",
        at(12, day, 12),
        method="in_person",
        result="performed",
        visited_at=at(12, day, 12),
    )


def test_same_place_recurrence_requires_the_same_category(db_session, world):
    first = _resolve(world, world["register"](at(12, 1)), 1)
    assert first.status == "resolved"
    neighbours = [person("applicant", "赵五"), person("respondent", "钱六")]
    other = world["register"](at(12, 20), category="06", parties=neighbours)
    again = world["register"](at(12, 21), parties=neighbours)
    links = {
        (link.dispute_id, link.kind)
        for link in db_session.scalars(select(DisputeLink).where(DisputeLink.other_id == first.id))
    }
    assert (again.id, "recurrence") in links
    assert not any(d == other.id for d, _ in links)


def test_ethnic_religious_key_area_includes_cults_under_a_stable_key(db_session, world, api):
    assert list(KEY_AREA_LABELS)[9] == "民族宗教"  # the key itself never changes
    payload = dispute_payload(db_session, world["cells"][0], key_areas=["民族宗教"])
    assert api["grid_worker"].register(payload).status_code == 201
    center = api["center_staff"]
    dash = center.client.get(
        "/api/v1/console/dashboard?area=330681109", headers=center.h()
    ).get_json()
    [row] = [r for r in dash["counts"]["by_key_area"] if r["key"] == "民族宗教"]
    assert row["label"] == "民族宗教及邪教" and row["count"] >= 1


def test_categories_are_data_and_codes_are_never_reused(db_session, world, api):
    admin, gw = api["admin"], api["grid_worker"]
    r = admin.client.post(
        "/api/v1/categories", json={"code": "21", "label": "土地流转"}, headers=admin.h()
    )
    assert r.status_code == 201 and r.get_json()["retired"] is False
    r = gw.client.post("/api/v1/categories", json={"code": "22", "label": "x"}, headers=gw.h())
    assert r.status_code == 403
    created = gw.register(dispute_payload(db_session, world["cells"][0], category="21"))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["category_label"] == "土地流转"
    case_id = created.get_json()["id"]
    r = admin.client.patch(
        "/api/v1/categories/21",
        json={"label": "土地经营权流转", "retired": True},
        headers=admin.h(),
    )
    assert r.status_code == 200 and r.get_json()["retired"] is True
    assert gw.get(case_id).get_json()["category_label"] == "土地经营权流转"  # old cases keep it
    refused = gw.register(dispute_payload(db_session, world["cells"][0], category="21"))
    assert refused.status_code == 422 and refused.get_json()["code"] == "unknown_category"
    assert "category" in refused.get_json()["fields"]
    r = admin.client.post(
        "/api/v1/categories", json={"code": "21", "label": "别的"}, headers=admin.h()
    )
    assert r.status_code == 409 and r.get_json()["code"] == "category_code_taken"
    listed = gw.client.get("/api/v1/categories", headers=gw.h()).get_json()
    assert [c["code"] for c in listed][:2] == ["01", "02"] and listed[-1]["code"] == "21"
    offered = gw.client.get("/api/v1/categories?include_retired=false", headers=gw.h()).get_json()
    assert "21" not in {c["code"] for c in offered}
    assert admin.client.delete("/api/v1/categories/21", headers=admin.h()).status_code == 405
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="never deleted"):
        with db_session.begin_nested():
            db_session.execute(text("DELETE FROM dispute_category WHERE code = '21'"))
    unknown = gw.register(dispute_payload(db_session, world["cells"][0], category="77"))
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_category"


def test_orange_clock_restarts_on_every_arrival_at_orange(world):
    act = world["act"]
    d = world["register"](at(12, 1), risk={"likelihood": 3, "severity": 4})
    first = d.orange_since
    d = act("center_staff", d, "assess_risk", at(12, 2), likelihood=2, severity=3, reason="缓和")
    assert d.orange_since is None
    d = act("grid_worker", d, "assess_risk", at(12, 5), likelihood=3, severity=4)
    assert d.orange_since == at(12, 5) != first
    assert timedelta(0) < d.orange_since - first
