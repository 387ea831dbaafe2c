"""The report month: `YYYY-MM` covers the calendar month before it and is due by the end of
the 18th of `YYYY-MM` (Asia/Shanghai; the due day, and whether a due day that is not a working
day moves to the next one, are configurable; `deadlines.report_due`)."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from core.clock import BUSINESS_TZ
from core.errors import ValidationFailed
from mediation.calendar import WorkCalendar
from mediation.disputes import deadlines
from mediation.reports import metrics

MONTH_FORMAT = "%Y-%m"


@dataclass(frozen=True)
class ReportSettings:
    """Deployment settings of the monthly report."""

    due_day: int = 18  # due by the end of this day of the report month (Asia/Shanghai)
    first_visit_days: int = 15
    # a due day that is not a working day moves to the next working day (REPORT_DUE_NEXT_WORKING_DAY)
    due_next_working_day: bool = True
    calendar: WorkCalendar = field(default_factory=WorkCalendar)


def settings_from_config(cfg, calendar: WorkCalendar) -> ReportSettings:
    """The deployment's report settings (REPORT_DUE_DAY, REPORT_DUE_NEXT_WORKING_DAY) over a
    calendar: the one place the app, the console and the scheduler read them."""
    return ReportSettings(
        due_day=cfg["REPORT_DUE_DAY"],
        first_visit_days=cfg["DEADLINES"]["first_visit_days_if_immediate"],
        due_next_working_day=cfg["REPORT_DUE_NEXT_WORKING_DAY"],
        calendar=calendar,
    )


# ------------------------------------------------------------------ months


MONTH_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"  # what check_month takes (documented)


def check_month(month: str, field: str = "month") -> str:
    """`YYYY-MM` (2000-01 … 2100-12) or a clear error."""
    if not isinstance(month, str) or not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ValidationFailed(
            "月份格式应为 YYYY-MM，如 2026-11", code="invalid_month", field=field
        )
    try:
        parsed = datetime.strptime(month, MONTH_FORMAT)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "月份格式应为 YYYY-MM，如 2026-11", code="invalid_month", field=field
        ) from None
    if not 2000 <= parsed.year <= 2100:
        raise ValidationFailed("月份超出范围", code="invalid_month", field=field)
    return parsed.strftime(MONTH_FORMAT)


def report_month_of(now: datetime) -> str:
    """The report month due this calendar month (it covers the month before)."""
    return now.astimezone(BUSINESS_TZ).strftime(MONTH_FORMAT)


def covered_period(month: str) -> metrics.Period:
    """The calendar month a report covers: the one before its report month."""
    y, m = (int(x) for x in month.split("-"))
    start = date(y - (m == 1), (m - 2) % 12 + 1, 1)
    return metrics.Period(start, date(y, m, 1))


def check_period_over(month: str, now: datetime) -> None:
    """A report may be drafted or submitted only once the month it covers is over (Asia/Shanghai):
    otherwise it would be frozen with part of the month's data."""
    period = covered_period(month)
    if now < period.end_at:
        raise ValidationFailed(
            f"{month} 月报统计的是 {period.start.strftime(MONTH_FORMAT)} 月的情况，"
            f"须在该月结束后（{period.end.isoformat()} 起）才能生成和报送",
            code="report_period_not_over",
            field="month",
            details={"period_ends_at": period.end_at.isoformat()},
        )


def due_at(month: str, settings: ReportSettings) -> datetime:
    """The end of the due day in the report month, Asia/Shanghai (moved to the next working day
    when the deployment says so): the one due date every message and export prints."""
    return deadlines.report_due(
        month,
        settings.due_day,
        calendar=settings.calendar,
        next_working_day=settings.due_next_working_day,
    )
