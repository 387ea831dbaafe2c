"""Time limits of the flow (domain §3), computed on business dates in Asia/Shanghai (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from clock import BUSINESS_TZ


@dataclass(frozen=True)
class Limits:
    """Configurable per deployment (config keys in brackets)."""

    accept_days: int = 3  # acceptance decision after registration
    mediation_days: int = 30  # concluded within a month of acceptance
    first_visit_days_if_immediate: int = 15  # agreement performed on the spot
    second_visit_days: int = 30  # RED/ORANGE: a second visit after the first
    judicial_window_days: int = 30  # joint application for judicial confirmation
    escalation_accept_days: int = 2  # the receiving level decides on an escalation


def end_of(day: date) -> datetime:
    """23:59:59 of a business date, as an aware datetime (UTC-comparable)."""
    return datetime.combine(day, time(23, 59, 59), BUSINESS_TZ)


def business_day(at: datetime) -> date:
    """The business date of an instant."""
    return at.astimezone(BUSINESS_TZ).date()


def accept_due(registered_at: datetime, limits: Limits) -> datetime:
    """Acceptance decision due."""
    return end_of(business_day(registered_at) + timedelta(days=limits.accept_days))


def mediation_due(accepted_at: datetime, limits: Limits) -> date:
    """Mediation concluded by (moved by a recorded extension)."""
    return business_day(accepted_at) + timedelta(days=limits.mediation_days)


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
    return end_of(business_day(agreed_at) + timedelta(days=limits.first_visit_days_if_immediate))


def second_visit_due(first_visit_at: datetime, limits: Limits) -> datetime:
    """RED/ORANGE cases get a second visit 30 days after the first."""
    return end_of(business_day(first_visit_at) + timedelta(days=limits.second_visit_days))
