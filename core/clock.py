"""The only place that reads the clock; business dates are computed in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (edges only: use cases take `now`)."""
    return datetime.now(UTC)


def business_date(now: datetime, tz: ZoneInfo = BUSINESS_TZ) -> date:
    """The calendar date in the business timezone at the instant `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()
