"""Time limits of the flow (domain §3), computed on business dates in Asia/Shanghai (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from core.clock import BUSINESS_TZ
from mediation.calendar import WorkCalendar
from mediation.disputes.enums import (
    AGREED,
    FOLLOW_UP,
    MEDIATING,
    ORANGE,
    RED,
    REFERRED,
    REGISTERED,
    REOPENED,
    RESOLVED,
)
from mediation.disputes.models import Agreement, Dispute, Escalation


@dataclass(frozen=True)
class Limits:
    """Configurable per deployment (config keys in brackets)."""

    accept_days: int = 3  # acceptance decision after registration
    mediation_days: int = 30  # concluded within a month of acceptance
    first_visit_days_if_immediate: int = 15  # agreement performed on the spot
    second_visit_days: int = 30  # RED/ORANGE: a second visit after the first
    judicial_window_days: int = 30  # joint application for judicial confirmation
    escalation_accept_days: int = 2  # the receiving level decides on an escalation
    risk_assess_days: int = 1  # a case registered unassessed (未研判) is assessed
    # Which rules count working days (public holidays and 调休 from the calendar table); the others
    # count calendar days. A township centre counts "3 个工作日内受理" in working days.
    working_day_rules: frozenset[str] = frozenset({"accept", "escalation_accept", "risk_assess"})
    calendar: WorkCalendar = field(default_factory=WorkCalendar)


def limits_from_config(cfg, calendar: WorkCalendar) -> Limits:
    """The deployment's limits (config `DEADLINES`, `WORKING_DAY_RULES`) over a calendar."""
    return Limits(
        **cfg["DEADLINES"],
        calendar=calendar,
        working_day_rules=frozenset(cfg["WORKING_DAY_RULES"]),
    )


def add_days(limits: Limits, rule: str, start: date, days: int) -> date:
    """start + days, in working days when the rule says so."""
    if rule in limits.working_day_rules:
        return limits.calendar.add_working_days(start, days)
    return start + timedelta(days=days)


def provisional(limits: Limits, rule: str, start: date, due: date) -> bool:
    """Was a deadline counted in working days through a year with no official calendar?"""
    return rule in limits.working_day_rules and limits.calendar.provisional(start, due)


def risk_assess_due(registered_at: datetime, limits: Limits) -> datetime:
    """An unassessed case (未研判) is to be assessed by the end of this day."""
    start = business_day(registered_at)
    return end_of(add_days(limits, "risk_assess", start, limits.risk_assess_days))


def end_of(day: date) -> datetime:
    """23:59:59 of a business date, as an instant in UTC (what the database gives back, so a
    deadline planned now and one read later look the same)."""
    return datetime.combine(day, time(23, 59, 59), BUSINESS_TZ).astimezone(UTC)


def business_day(at: datetime) -> date:
    """The business date of an instant."""
    return at.astimezone(BUSINESS_TZ).date()


def report_due(
    month: str,
    due_day: int,
    *,
    calendar: WorkCalendar | None = None,
    next_working_day: bool = False,
) -> datetime:
    """The monthly report `YYYY-MM` is due by the end of `due_day` of that month, Asia/Shanghai
    (an office reads "18日前报送" as "by the end of the 18th"); when the deployment says so
    (`REPORT_DUE_NEXT_WORKING_DAY`) a due day that is not a working day moves to the next working
    day of the calendar. The one due date every message prints, through `report_due_label`."""
    y, m = (int(x) for x in month.split("-"))
    day = date(y, m, due_day)
    if next_working_day and calendar is not None:
        day = calendar.add_working_days(day, 0)
    return end_of(day)


def report_cutoff(due: datetime) -> datetime:
    """The first instant after the due day (00:00 of the next day, Asia/Shanghai): a report
    submitted before it is on time — the whole due day counts, to its last fraction of a second."""
    return datetime.combine(business_day(due) + timedelta(days=1), time(0), BUSINESS_TZ)


def on_time(submitted_at: datetime, due: datetime) -> bool:
    """Submitted on or before the due day."""
    return submitted_at < report_cutoff(due)


def report_due_label(due: datetime) -> str:
    """How the report's deadline is printed, in every export alike."""
    d = business_day(due)
    return f"{d.year}年{d.month}月{d.day}日（含）前报送"


def accept_due(registered_at: datetime, limits: Limits) -> datetime:
    """Acceptance decision due."""
    return end_of(add_days(limits, "accept", business_day(registered_at), limits.accept_days))


def mediation_due(accepted_at: datetime, limits: Limits) -> date:
    """Mediation concluded by (moved by a recorded extension)."""
    return add_days(limits, "mediation", business_day(accepted_at), limits.mediation_days)


def first_visit_due(
    *,
    agreed_at: datetime,
    performance_deadline: date | None,
    performed_immediately: bool,
    limits: Limits,
) -> datetime:
    """At the performance deadline, or 15 days after an agreement performed on the spot."""
    if performance_deadline and not performed_immediately:
        return end_of(performance_deadline)
    return end_of(
        add_days(
            limits, "first_visit", business_day(agreed_at), limits.first_visit_days_if_immediate
        )
    )


def second_visit_due(first_visit_at: datetime, limits: Limits) -> datetime:
    """RED/ORANGE cases get a second visit 30 days after the first."""
    return end_of(
        add_days(limits, "second_visit", business_day(first_visit_at), limits.second_visit_days)
    )


def escalation_due(requested_at: datetime, limits: Limits) -> datetime:
    """The receiving level decides on an escalation by then."""
    return end_of(
        add_days(
            limits, "escalation_accept", business_day(requested_at), limits.escalation_accept_days
        )
    )


def plan_next_due(
    dispute: Dispute,
    limits: Limits,
    agreement: Agreement | None = None,
    escalation: Escalation | None = None,
) -> None:
    """What must happen next on the case and by when (None when nothing is due), and whether
    the deadline is provisional (counted through a year with no official calendar)."""
    due, kind, rule, start = None, None, None, None
    if dispute.escalation_target and escalation is not None:
        due = escalation_due(escalation.requested_at, limits)
        kind, rule, start = "escalation_acceptance", "escalation_accept", escalation.requested_at
    elif dispute.status == REGISTERED:
        due, kind = accept_due(dispute.registered_at, limits), "acceptance"
        rule, start = "accept", dispute.registered_at
    elif dispute.status in ("accepted", MEDIATING, REOPENED) and dispute.mediation_due_on:
        due, kind = end_of(dispute.mediation_due_on), "mediation"
        rule, start = "mediation", dispute.accepted_at
    elif dispute.status in (AGREED, FOLLOW_UP):
        rule, start = "first_visit", dispute.last_visit_at or dispute.agreed_at
        if dispute.visits_done == 0 and agreement is not None:
            due = first_visit_due(
                agreed_at=dispute.agreed_at,
                performance_deadline=agreement.performance_deadline,
                performed_immediately=agreement.performed_immediately,
                limits=limits,
            )
        elif dispute.last_visit_at is not None:
            due = end_of(
                add_days(
                    limits,
                    "first_visit",
                    business_day(dispute.last_visit_at),
                    limits.first_visit_days_if_immediate,
                )
            )
        kind = "follow_up_visit"
    elif dispute.status == REFERRED and (dispute.exit_detail or {}).get("due_on"):
        # Referred: the receiving body's result is due (the case stays open and supervised).
        due = end_of(date.fromisoformat(dispute.exit_detail["due_on"]))
        kind, rule, start = "referral_result", None, None
    elif (
        dispute.status == RESOLVED
        and dispute.risk_level in (RED, ORANGE)
        and dispute.visits_done < 2
    ):
        due, kind = second_visit_due(dispute.last_visit_at, limits), "second_visit"
        rule, start = "second_visit", dispute.last_visit_at
    dispute.next_due_at, dispute.next_due_kind = due, kind
    dispute.next_due_provisional = bool(
        due and start and provisional(limits, rule, business_day(start), business_day(due))
    )
