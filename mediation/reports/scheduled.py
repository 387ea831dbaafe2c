"""The reports package's scheduled jobs: each village's monthly-report reminder, the drafts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from mediation.disputes import deadlines
from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.reports import months
from mediation.reports.months import ReportSettings


def monthly_report_reminders(
    db_session: Session, *, now: datetime, settings: ReportSettings | None = None
) -> int:
    """Each village's report for this month is due by the end of the due day (Asia/Shanghai;
    `months.due_at`, the date every other message prints too)."""
    day = now.astimezone(BUSINESS_TZ).date()
    due_at = months.due_at(day.strftime("%Y-%m"), settings or ReportSettings())
    remind_at = due_at - timedelta(days=3)
    month = day.strftime("%Y-%m")
    title = f"本月矛盾纠纷排查化解情况请于{deadlines.report_due_label(due_at)}"
    villages = db_session.scalars(
        text("SELECT code FROM area WHERE level = 'village' AND valid_to IS NULL")
    )
    n = 0
    for code in villages:
        reminders.upsert(
            db_session,
            key=f"village:{code}:monthly_report:{month}",
            kind="monthly_report",
            title=title,
            recipient=Recipient(role="village_admin", area=code),
            due_at=due_at,
            remind_at=remind_at,
            now=now,
            area=code,
            body={"month": month},
        )
        n += 1
    return n
