"""Loading an official holiday calendar: provisional deadlines counted again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mediation import calendar
from mediation.disputes import deadlines
from mediation.disputes import reminders as case_reminders
from mediation.disputes.actions.step import current_agreement, pending_escalation
from mediation.disputes.deadlines import plan_next_due
from mediation.disputes.models import (
    Dispute,
)
from mediation.reminders import service as reminders


def recount_provisional_deadlines(
    db_session: Session, *, limits: deadlines.Limits, now: datetime
) -> int:
    """Count the open provisional deadlines again (an official calendar was loaded) and move
    their reminders; returns how many deadlines changed (flush only)."""
    changed = 0
    for d in db_session.scalars(
        select(Dispute).where(Dispute.next_due_provisional.is_(True)).with_for_update()
    ):
        before = d.next_due_at
        plan_next_due(
            d, limits, current_agreement(db_session, d), pending_escalation(db_session, d)
        )
        if d.next_due_at != before:
            changed += 1
            db_session.flush()
            case_reminders.sync_case(db_session, dispute=d, now=now, reason="calendar_loaded")
    db_session.flush()
    return changed


def load_official_calendar(db_session: Session, *, doc: dict, limits_config, now: datetime) -> dict:
    """Load one year's official holiday notice, count provisional deadlines again and withdraw
    the administrators' warning for that year (flush only)."""
    days = calendar.import_year(db_session, doc=doc)
    limits = deadlines.limits_from_config(limits_config, calendar.load_calendar(db_session))
    changed = recount_provisional_deadlines(db_session, limits=limits, now=now)
    reminders.cancel_keys(
        db_session, keys=[f"calendar:missing:{int(doc['year'])}"], now=now, reason="calendar_loaded"
    )
    return {"days": days, "deadlines_recounted": changed}
