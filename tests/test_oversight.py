"""派单 with its acceptance supervised, 挂牌督办 until answered, 包案 progress ending with 销号 only
after the verifying visit (service level, explicit `now`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import DomainError
from tests.factories import COUNTY, TOWNSHIP, case_world


def at(day: int, month: int = 10, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 10, 1))


def _live(db_session, case, kind):
    from mediation.reminders.models import Reminder

    return db_session.scalars(
        select(Reminder).where(
            Reminder.dispute_id == case.id,
            Reminder.kind == kind,
            Reminder.state.in_(("pending", "due", "sent", "acknowledged")),
        )
    ).all()


def test_an_overdue_dispatch_acceptance_is_supervised_and_a_return_needs_a_reason(
    db_session, world
):
    from mediation import scheduler
    from mediation.channels import dispatch
    from mediation.reminders import service

    c = world["register"](at(5))
    c = world["act"]("mediator", c, "escalate", at(5, hour=3), to_level="township", reason="镇级")
    c = world["act"]("center_staff", c, "accept_escalation", at(5, hour=4))
    d = dispatch.dispatch_case(
        db_session,
        actor=world["actors"]["center_staff"],
        dispute_id=c.id,
        assignee_user_id=world["users"]["mediator"].id,
        body_id=None,
        due_on=date(2026, 10, 20),
        note="请牵头调解",
        now=at(5, hour=5),
        limits=world["settings"].limits,
    )
    [r] = _live(db_session, c, "dispatch_acceptance")
    # one working day (5 October falls in the National Day holiday: the calendar counts it)
    assert r.recipient_id == world["users"]["mediator"].id and at(5) < r.due_at < at(12)
    # an action on the case does not drop the dispatch's reminder (it is not the case's own)
    world["act"]("center_staff", c, "assess_risk", at(6), likelihood=2, severity=2)
    assert len(_live(db_session, c, "dispatch_acceptance")) == 1
    with pytest.raises(DomainError) as e:
        dispatch.dispatch_case(
            db_session,
            actor=world["actors"]["center_staff"],
            dispute_id=c.id,
            assignee_user_id=world["users"]["mediator"].id,
            body_id=None,
            due_on=date(2026, 10, 20),
            note=None,
            now=at(6),
            limits=world["settings"].limits,
        )
    assert e.value.code == "dispatch_pending"
    service.sweep(db_session, now=at(12), webhook=False)
    scheduler.supervise(db_session, now=at(12), delay=timedelta(hours=24))
    [sup] = [s for s in _live(db_session, c, "supervision") if s.parent_id == r.id]
    assert (sup.recipient_role, sup.recipient_area) == ("county_admin", COUNTY)
    with pytest.raises(DomainError) as e:
        dispatch.decide_dispatch(
            db_session,
            actor=world["actors"]["mediator"],
            dispatch_id=d.id,
            accept=False,
            reason="  ",
            now=at(12),
        )
    assert e.value.code == "missing_field"
    with pytest.raises(DomainError) as e:  # only the assignee decides
        dispatch.decide_dispatch(
            db_session,
            actor=world["actors"]["village_admin"],
            dispatch_id=d.id,
            accept=True,
            reason=None,
            now=at(9),
        )
    assert e.value.code == "dispatch_not_found"
    done = dispatch.decide_dispatch(
        db_session,
        actor=world["actors"]["mediator"],
        dispatch_id=d.id,
        accept=False,
        reason="涉及本人亲属，申请回避",
        now=at(12, hour=3),
    )
    assert done.status == "returned"
    assert _live(db_session, c, "dispatch_acceptance") == []
    # its 督办 goes with it (the case's own overdue acceptance keeps its own)
    assert [s for s in _live(db_session, c, "supervision") if s.parent_id == r.id] == []


def test_a_listed_case_is_in_the_units_inbox_until_answered(db_session, world):
    from mediation.channels import oversight
    from mediation.reminders import service

    c = world["register"](at(5))
    o = oversight.order_supervision(
        db_session,
        actor=world["actors"]["leader"],
        dispute_id=c.id,
        kind="listed",
        instruction="请十日内化解并书面报告",
        due_on=date(2026, 10, 15),
        now=at(6),
    )
    # the case sits at the grid: the village answers for it
    assert (o.unit_role, o.unit_area) == ("village_admin", world["village"])
    service.sweep(db_session, now=at(6, hour=3), webhook=False)
    inbox = service.inbox(
        db_session,
        actor=world["actors"]["village_admin"],
        limit=10,
        before_id=None,
        unread_only=True,
    )
    assert [r.kind for r in inbox] == ["listed_supervision"]
    center = world["actors"]["center_staff"]
    assert [x.id for x in oversight.list_orders(db_session, actor=center, open_only=True)] == [o.id]
    with pytest.raises(DomainError) as e:  # the centre is not the supervised unit here
        oversight.answer_supervision(db_session, actor=center, order_id=o.id, answer="x", now=at(7))
    assert e.value.code == "supervision_not_found"
    oversight.answer_supervision(
        db_session,
        actor=world["actors"]["village_admin"],
        order_id=o.id,
        answer="已组织双方调解，达成口头协议",
        now=at(8),
    )
    assert oversight.list_orders(db_session, actor=center, open_only=True) == []
    assert _live(db_session, c, "listed_supervision") == []
    with pytest.raises(DomainError) as e:
        oversight.order_supervision(
            db_session,
            actor=world["actors"]["mediator"],
            dispute_id=c.id,
            kind="listed",
            instruction="x",
            due_on=date(2026, 10, 15),
            now=at(8),
        )
    assert e.value.code == "role_not_allowed"


def test_a_leader_signs_off_a_red_case_only_after_the_verifying_visit(db_session, world):
    from mediation.channels import oversight

    act, leader = world["act"], world["actors"]["leader"]
    c = world["register"](at(5), risk={"likelihood": 5, "severity": 4, "flags": []})
    assert c.risk_level == "red"
    c = act(
        "center_staff", c, "assign_leader", at(5, hour=3), leader_id=world["users"]["leader"].id
    )
    oversight.add_progress(
        db_session, actor=leader, dispute_id=c.id, note="已约谈双方", sign_off=False, now=at(6)
    )
    c = act("mediator", c, "accept", at(6, hour=3))
    c = act("mediator", c, "start_mediation", at(6, hour=4), rights_notice="当面告知")
    c = act("mediator", c, "agree", at(7), form="oral", terms="赔偿", performed_immediately=True)
    with pytest.raises(DomainError) as e:  # agreed is not resolved: no 销号 before the visit
        oversight.add_progress(
            db_session, actor=leader, dispute_id=c.id, note="销号", sign_off=True, now=at(7, hour=3)
        )
    assert e.value.code == "sign_off_before_verification"
    act("mediator", c, "record_visit", at(8), method="in_person", result="performed")
    entry = oversight.add_progress(
        db_session,
        actor=leader,
        dispute_id=c.id,
        note="回访核实已履行，销号",
        sign_off=True,
        now=at(9),
    )
    assert entry.kind == "sign_off"
    with pytest.raises(DomainError) as e:
        oversight.add_progress(
            db_session, actor=leader, dispute_id=c.id, note="再次销号", sign_off=True, now=at(9)
        )
    assert e.value.code == "already_signed_off"
    assert [p.kind for p in oversight.progress_of(db_session, c.id)] == ["progress", "sign_off"]
    with pytest.raises(DomainError) as e:
        oversight.add_progress(
            db_session,
            actor=world["actors"]["county_admin"],
            dispute_id=c.id,
            note="x",
            sign_off=False,
            now=at(9),
        )
    assert e.value.code == "not_case_leader"
    assert TOWNSHIP  # the leader is the township's
