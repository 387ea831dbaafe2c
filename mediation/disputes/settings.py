"""Deployment settings the dispute use cases need (from config)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mediation.disputes import deadlines
from mediation.disputes.reminders import DEFAULT_RED_ALERT_LEVELS
from mediation.times import DEFAULT_CLOCK_SKEW


@dataclass(frozen=True)
class Settings:
    """Deployment settings the use cases need (from config)."""

    limits: deadlines.Limits
    locate_tolerance_m: float
    group_min_one_side: int = 5  # people on one side sharing a claim (agents, third parties: no)
    group_min_people: int = 30
    duplicate_radius_m: float = 50.0
    duplicate_days: int = 7
    recurrence_days: int = 180
    max_photo_bytes: int = 5 * 1024 * 1024
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW  # how far ahead of ours a phone's clock may be
    red_alert_levels: tuple[str, ...] = DEFAULT_RED_ALERT_LEVELS  # told of a RED case at once
    archive_requires_signed_agreement: bool = True  # the 卷宗 holds the signed written agreement
