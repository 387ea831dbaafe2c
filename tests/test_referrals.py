"""Referral as a loop (issue 19 item 5, issue 20 item 4): a referred case stays open and
supervised until the receiving body's result is recorded, and the Fengqiao rates of a
hand-built month count it where it was finally resolved."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import COUNTY, TOWNSHIP, case_world


def at(day: int, month: int = 10, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 10, 1))


def _traffic_committee(db_session, world):
    from mediation.channels import bodies

    return bodies.create_body(
        db_session,
        actor=world["actors"]["county_admin"],
        name="枫桥镇道路交通事故纠纷人民调解委员会",
        kind="traffic",
        area_code=TOWNSHIP,
        member_ids=[],
        partner_id=None,
        now=at(1),
    )


def _month(db_session, world):
    """Five cases of October 2026 in one village, each walked through the flow:
    A resolved at the village; B referred to a court, resolved there; C referred to a court, no
    result yet; D escalated to the township and referred to its traffic committee, resolved
    there; E referred to the police, not resolved."""
    reg, act = world["register"], world["act"]
    committee = _traffic_committee(db_session, world)
    cases = {k: reg(at(5), description=f"案件{k}") for k in "ABCDE"}
    a = cases["A"]
    a = act("mediator", a, "accept", at(5, hour=3))
    a = act("mediator", a, "start_mediation", at(6), rights_notice="当面告知")
    a = act(
        "mediator", a, "agree", at(7), form="oral", terms="当场赔偿", performed_immediately=True
    )
    act("mediator", a, "record_visit", at(8), method="phone", result="performed")
    for k, target in (("B", "court"), ("C", "court"), ("E", "police")):
        act("mediator", cases[k], "refer", at(6), target=target, reason="不属调解范围")
    d = act("mediator", cases["D"], "escalate", at(6), to_level="township", reason="需镇级调处")
    d = act("center_staff", d, "accept_escalation", at(6, hour=4))
    act(
        "center_staff",
        d,
        "refer",
        at(7),
        target="committee",
        body_id=committee.id,
        reason="交通事故纠纷，转专业调委会",
    )
    act(
        "center_staff",
        cases["B"],
        "record_referral_result",
        at(20),
        outcome="resolved",
        summary="诉前调解成功",
    )
    act(
        "center_staff",
        cases["D"],
        "record_referral_result",
        at(15),
        outcome="resolved",
        summary="专业调委会调解成功",
    )
    act(
        "center_staff",
        cases["E"],
        "record_referral_result",
        at(12),
        outcome="not_resolved",
        summary="已立案侦查",
    )
    return cases


def test_fengqiao_rates_count_a_referred_case_where_it_was_finally_resolved(db_session, world):
    from mediation.reports import aggregates, metrics

    cases = _month(db_session, world)
    levels = {k: db_session.get(type(d), d.id).resolved_level for k, d in cases.items()}
    assert levels == {"A": "grid", "B": "referred", "C": None, "D": "township", "E": None}
    row = aggregates.area_rows(
        db_session, parent=TOWNSHIP, level="village", period=metrics.month_period("2026-10")
    )[world["village"]]
    # Hand counts for October: resolved A, B, D; at the village or below A;
    # at the township D; B resolved by the court counts outside the township.
    assert row["resolved"] == 3
    assert row["resolved_grid_village"] == 1
    assert row["resolved_township"] == 1
    assert row["referred"] == 4  # B, C, D, E were referred in the month
    assert row["terminated"] == 1  # E: the police's result, not resolved
    assert row["in_progress"] == 1  # C waits for the court
    rates = metrics.rates(row)
    assert rates["local_rate"] == round(1 / 3, 4)  # 就地化解率 0.3333, not 1.0
    assert rates["township_rate"] == round(2 / 3, 4)  # 不出镇率 0.6667, not 1.0


def test_a_referral_stays_open_and_supervised_until_the_receiving_bodys_result_is_recorded(
    db_session, world
):
    from mediation import scheduler
    from mediation.channels import panel
    from mediation.disputes.models import Dispute
    from mediation.reminders import service
    from mediation.reminders.models import Reminder

    c = world["register"](at(5))
    c = world["act"]("mediator", c, "refer", at(6), target="court", reason="转诉前调解")
    assert c.status == "referred" and c.closed_at is None
    center = world["actors"]["center_staff"]

    def live(kind):
        return db_session.scalars(
            select(Reminder).where(
                Reminder.dispute_id == c.id,
                Reminder.kind == kind,
                Reminder.state.in_(("pending", "due", "sent", "acknowledged")),
            )
        ).all()

    # nothing is cancelled for good: the result is due (30 days), for the township centre
    [due] = live("referral_result")
    assert (due.recipient_role, due.recipient_area) == ("center_staff", TOWNSHIP)
    assert due.due_at.astimezone(UTC).date() == date(2026, 11, 5)
    assert [
        r.dispute_id for r in panel.list_referrals(db_session, actor=center, open_only=True)
    ] == [c.id]
    # overdue: it is supervised (督办) one level up, by the county
    service.sweep(db_session, now=at(7, 11), webhook=False)
    scheduler.supervise(db_session, now=at(7, 11), delay=timedelta(hours=24))
    [sup] = live("supervision")
    assert (sup.recipient_role, sup.recipient_area, sup.parent_id) == (
        "county_admin",
        COUNTY,
        due.id,
    )
    # the court's result, recorded by the centre: closed, and the reminders with it
    c = db_session.get(Dispute, c.id)
    world["act"](
        "center_staff",
        c,
        "record_referral_result",
        at(10, 11),
        outcome="resolved",
        summary="调解成功",
        mediator="法庭调解员",
    )
    assert live("referral_result") == [] and live("supervision") == []
    assert panel.list_referrals(db_session, actor=center, open_only=True) == []
    c = db_session.get(Dispute, c.id)
    assert (c.status, c.resolved_level, c.closed_at) == ("resolved", "referred", at(10, 11))


def test_a_returned_referral_comes_back_to_the_level_that_referred_it(db_session, world):
    c = world["register"](at(5))
    c = world["act"]("mediator", c, "refer", at(6), target="police", reason="疑似治安案件")
    c = world["act"](
        "center_staff",
        c,
        "record_referral_result",
        at(8),
        outcome="returned",
        summary="不属治安案件，退回",
    )
    assert (c.status, c.handling_level) == ("accepted", "grid")
    assert c.next_due_kind == "mediation"
