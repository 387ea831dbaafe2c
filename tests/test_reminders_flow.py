"""M1: a case that comes back to a level (or deadline) it had before gets its reminder back; a
property test walks random action sequences and checks the reminders against the plan."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.errors import DomainError
from mediation.disputes import reminders as planning
from mediation.disputes.models import Dispute
from mediation.reminders import service
from mediation.reminders.models import OPEN_STATES, Reminder
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")


def at(m, d, h=9):
    return datetime(2026, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def live(db_session, d) -> list[Reminder]:
    return db_session.scalars(
        select(Reminder)
        .where(
            Reminder.dispute_id == d.id,
            Reminder.state.in_(OPEN_STATES),
            Reminder.kind != "supervision",
        )
        .order_by(Reminder.id)
    ).all()


def test_m1_return_down_to_a_former_level_revives_the_mediation_reminder(db_session, world):
    act = world["act"]
    d = world["register"](at(12, 1))
    d = act("mediator", d, "accept", at(12, 1, 10))
    d = act("grid_worker", d, "escalate", at(12, 2), to_level="village", reason="村调委会处理")
    d = act("mediator", d, "accept_escalation", at(12, 2, 10))
    [r] = live(db_session, d)
    assert (r.kind, r.recipient_role) == ("mediation", "mediator")
    d = act("mediator", d, "escalate", at(12, 3), to_level="township", reason="涉及多村")
    d = act("center_staff", d, "accept_escalation", at(12, 3, 10))
    [r] = live(db_session, d)
    assert (r.kind, r.recipient_role) == ("mediation", "center_staff")
    d = act("center_staff", d, "return_down", at(12, 4), to_level="village", reason="交村办理")
    assert d.next_due_kind == "mediation"
    [r] = live(db_session, d)  # the village's mediation reminder again, as a live row
    assert (r.kind, r.recipient_role, r.recipient_area, r.state) == (
        "mediation",
        "mediator",
        d.village_code,
        "pending",
    )
    assert r.due_at == d.next_due_at


def test_m1_return_escalation_revives_the_reminder_of_the_level_below(db_session, world):
    act = world["act"]
    gw = world["users"]["grid_worker"]
    d = world["register"](at(12, 1))
    d = act("mediator", d, "accept", at(12, 1, 10))
    [first] = live(db_session, d)
    assert (first.kind, first.recipient_id) == ("mediation", gw.id)
    d = act("grid_worker", d, "escalate", at(12, 2), to_level="village", reason="请村里处理")
    d = act("mediator", d, "return_escalation", at(12, 2, 10), reason="网格内可以化解")
    [r] = live(db_session, d)
    assert (r.kind, r.recipient_id, r.state) == ("mediation", gw.id, "pending")
    assert r.id != first.id  # a new row: the cancelled one keeps its history
    db_session.refresh(first)
    assert first.state == "cancelled"
    # Fired again later, it is pushed again (its own outbox message).
    assert service.sweep(db_session, now=r.remind_at, webhook=True) >= 1
    db_session.refresh(r)
    assert r.state == "due"


# ------------------------------------------------------------------ property test

LEVEL_ROLES = {
    "grid": ("grid_worker", "mediator"),
    "village": ("mediator",),
    "township": ("center_staff",),
    "county": ("county_admin",),
}
REASON = "按规定处理"


def _moves(world):
    leader = world["users"]["leader"].id
    later = date(2027, 3, 1)
    return [
        ("accept", {}),
        ("start_mediation", {"rights_notice": "书面告知"}),
        ("record_session", {"summary": "调解一次", "held_at": None}),
        ("escalate", {"to_level": "village", "reason": REASON}),
        ("escalate", {"to_level": "township", "reason": REASON}),
        ("escalate", {"to_level": "county", "reason": REASON}),
        ("accept_escalation", {}),
        ("return_escalation", {"reason": REASON}),
        ("return_down", {"to_level": "grid", "reason": REASON}),
        ("return_down", {"to_level": "village", "reason": REASON}),
        ("return_down", {"to_level": "township", "reason": REASON}),
        ("agree", {"form": "oral", "terms": "当场赔偿", "performed_immediately": True}),
        (
            "agree",
            {
                "form": "written",
                "facts": "两户因排水沟堵塞发生争执",
                "performance_place": "先进村",
                "terms": "分期赔偿",
                "performance_method": "转账",
                "performance_deadline": later,
            },
        ),
        ("record_visit", {"method": "phone", "result": "performed", "satisfaction": "satisfied"}),
        ("record_visit", {"method": "phone", "result": "partly"}),
        ("record_visit", {"method": "in_person", "result": "not_performed"}),
        ("assess_risk", {"likelihood": 5, "severity": 5}),
        ("assess_risk", {"likelihood": 1, "severity": 2}),
        ("assign_leader", {"leader_id": leader}),
        ("extend", {"new_due_date": later, "consent": {"applicant": True, "respondent": True}}),
        ("withdraw", {"reason": REASON}),
    ]


def _actor_for(d: Dispute, action: str) -> str:
    if action in ("accept_escalation", "return_escalation") and d.escalation_target:
        return LEVEL_ROLES[d.escalation_target][0]
    if action in ("assess_risk", "assign_leader"):
        return "center_staff"
    if action == "record_visit":
        return "grid_worker"
    return LEVEL_ROLES.get(d.handling_level, ("mediator",))[0]


def _check(db_session, d: Dispute, now: datetime) -> None:
    """Every wanted reminder is live exactly once; nothing else is live."""
    wants = planning.wanted(planning.facts_of(db_session, d, now), lead=planning.DEFAULT_LEAD)
    wanted_keys = sorted({w.key(d.id) for w in wants})
    rows = live(db_session, d)
    assert sorted(r.key for r in rows) == wanted_keys, (d.status, d.handling_level)
    if d.next_due_at is not None:
        assert d.next_due_kind in {r.kind for r in rows}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=20), st.integers(min_value=1, max_value=60)),
        min_size=3,
        max_size=14,
    )
)
def test_m1_random_flows_keep_one_live_reminder_per_wanted_kind(db_session, world, steps):
    moves = _moves(world)
    outer = db_session.begin_nested()  # each example starts from the same database
    try:
        now = at(12, 1)
        d = world["register"](now)
        _check(db_session, d, now)
        for index, hours in steps:
            now = now + timedelta(hours=hours)
            action, payload = moves[index]
            payload = dict(payload)
            if "held_at" in payload:
                payload["held_at"] = now - timedelta(hours=1)
            try:
                with db_session.begin_nested():
                    d = world["act"](_actor_for(d, action), d, action, now, **payload)
            except DomainError:
                d = db_session.get(Dispute, d.id)
                db_session.refresh(d)
            _check(db_session, d, now)
    finally:
        outer.rollback()
