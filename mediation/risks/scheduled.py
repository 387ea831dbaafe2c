"""The risk package's scheduled work: 督办 of meeting decisions not carried out in time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.reminders.models import Reminder
from mediation.risks.meetings import DECISION_KIND


def supervise_decisions(db_session: Session, rows: list[Reminder], now: datetime) -> int:
    """An overdue decision: 督办 to the township centre and its leaders."""
    made = 0
    for r in rows:
        if r.kind != DECISION_KIND:
            continue
        township = r.area_code[:9]
        body = {
            "meeting_id": (r.body or {}).get("meeting_id"),
            "decision_id": (r.body or {}).get("decision_id"),
            "content": (r.body or {}).get("content"),
        }
        for suffix, who in (
            ("", Recipient(role="center_staff", area=township)),
            (":leader", Recipient(role="leader", area=township)),
        ):
            reminders.raise_supervision(db_session, r, who=who, now=now, body=body, suffix=suffix)
            made += 1
    return made
