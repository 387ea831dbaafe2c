"""The disputes package's scheduled jobs: 督办 of overdue case reminders, the centres' daily digest."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from mediation import calendar
from mediation.disputes.enums import OPEN_STATUSES
from mediation.disputes.models import Dispute
from mediation.disputes.reminders import NEXT_LEVEL, supervisor_for
from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.reminders.models import Reminder
from mediation.users.enums import ADMIN


def supervise_cases(db_session: Session, rows: list[Reminder], now: datetime) -> int:
    """An overdue case reminder goes to the level above the case's handling level (督办); an
    escalation left waiting goes above the level that should accept it (the one that is late)."""
    ids = {r.dispute_id for r in rows if r.dispute_id}
    if not ids:
        return 0
    cases = {d.id: d for d in db_session.scalars(select(Dispute).where(Dispute.id.in_(ids)))}
    made = 0
    for r in rows:
        dispute = cases.get(r.dispute_id)
        if dispute is None:
            continue
        # a referred case is the township centre's to follow: its overdue result goes to the county
        level = dispute.handling_level if dispute.handling_level in NEXT_LEVEL else "township"
        if r.kind == "escalation_acceptance" and dispute.escalation_target in NEXT_LEVEL:
            level = dispute.escalation_target
        who = supervisor_for(
            level, {"township": dispute.township_code, "county": dispute.county_code}
        )
        if who is None:
            continue
        reminders.raise_supervision(
            db_session, r, who=who, now=now, body={"case_number": dispute.case_number}
        )
        made += 1
    return made


def _warn_admins_of_calendar(db_session: Session, warning: dict, now: datetime) -> None:
    """One inbox item for the system administrators per missing year."""
    reminders.upsert(
        db_session,
        key=f"calendar:missing:{warning['year']}",
        kind="calendar_missing",
        recipient=Recipient(role=ADMIN),
        due_at=datetime.combine(date(warning["year"], 1, 1), time(0), BUSINESS_TZ),
        remind_at=now,
        now=now,
        area="",
        body=warning,
    )


def daily_digest(db_session: Session, *, now: datetime) -> int:
    """One digest a day for each township centre: cases that became RED or ORANGE since yesterday
    (registered so or reassessed, still open and still at that level), overdue by village, escalations
    waiting, villages whose monthly report reminder is still open; and, while next year's holiday
    calendar is missing, a warning to the centres and to the administrators' inbox."""
    day = now.astimezone(BUSINESS_TZ).date()
    warning = calendar.calendar_warning(db_session, now=now)
    if warning:
        _warn_admins_of_calendar(db_session, warning, now)
    since = datetime.combine(day - timedelta(days=1), time(0), BUSINESS_TZ)
    townships = db_session.scalars(
        text("SELECT code FROM area WHERE level = 'township' AND valid_to IS NULL")
    )
    made = 0
    for code in townships:
        stats = db_session.execute(
            text(
                """SELECT
                     count(*) FILTER (WHERE status = ANY(:open) AND ((risk_level = 'red' AND red_since >= :since)
                       OR (risk_level = 'orange' AND orange_since >= :since))) AS new_high,
                     count(*) FILTER (WHERE next_due_at < :now) AS overdue,
                     count(*) FILTER (WHERE escalation_target IS NOT NULL) AS escalations
                   FROM dispute WHERE township_code = :t"""
            ),
            {"since": since, "now": now, "t": code, "open": sorted(OPEN_STATUSES)},
        ).one()
        by_village = dict(
            db_session.execute(
                text("""SELECT village_code, count(*) FROM dispute WHERE township_code = :t AND next_due_at < :now
                    GROUP BY village_code ORDER BY village_code"""),
                {"t": code, "now": now},
            ).all()
        )
        missing = list(
            db_session.scalars(
                text("""SELECT area_code FROM reminder WHERE kind = 'monthly_report' AND state <> 'cancelled'
                    AND area_code LIKE :p AND due_at < :now ORDER BY area_code"""),
                {"p": f"{code}%", "now": now},
            )
        )
        at = datetime.combine(day, time(8), BUSINESS_TZ)
        reminders.upsert(
            db_session,
            key=f"digest:{code}:{day.isoformat()}",
            kind="daily_digest",
            recipient=Recipient(role="center_staff", area=code),
            due_at=at,
            remind_at=at,
            now=now,
            area=code,
            body={
                "date": day.isoformat(),
                "new_red_orange": stats.new_high,
                "overdue": stats.overdue,
                "overdue_by_village": by_village,
                "escalations_waiting": stats.escalations,
                "villages_missing_report": missing,
                **({"calendar_warning": warning} if warning else {}),
            },
        )
        made += 1
    db_session.commit()
    return made
