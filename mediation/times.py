"""Times users supply (visits, sessions, rights notices, occurrence, screening rounds, device
times of offline operations): never in the future beyond the allowed clock skew of a phone, never
before what they follow. Refusals are 422 with a stable code and the field at fault."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.clock import BUSINESS_TZ
from core.errors import ValidationFailed

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)  # config CLOCK_SKEW_SECONDS


def _local(at: datetime) -> str:
    return at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


def check_not_future(
    value: datetime | None, *, now: datetime, skew: timedelta, field: str, label: str
) -> None:
    """Refuse a time later than now (plus the skew allowed for a phone's clock)."""
    if value is not None and value > now + skew:
        raise ValidationFailed(
            f"{label}不能晚于现在（{_local(now)}），请检查手机时间",
            code="time_in_future",
            field=field,
            details={"now": now.isoformat()},
        )


def check_not_before(
    value: datetime | None,
    earliest: datetime | None,
    *,
    field: str,
    code: str,
    message: str,
) -> None:
    """Refuse a time earlier than what it follows (`message` names that, e.g. 案件登记时间)."""
    if value is not None and earliest is not None and value < earliest:
        raise ValidationFailed(
            f"{message}（{_local(earliest)}）",
            code=code,
            field=field,
            details={"earliest": earliest.isoformat()},
        )
