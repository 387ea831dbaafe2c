"""The screening package's scheduled jobs: 督办 of cells still not screened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.reminders.models import Reminder


def supervise_screening(db_session: Session, rows: list[Reminder], now: datetime) -> int:
    """A cell still not screened after the delay: 督办 to its village head and township centre."""
    made = 0
    for r in rows:
        if r.kind != "screening_due":
            continue
        cell = r.area_code
        body = {
            "cell_code": cell,
            "campaign_id": (r.body or {}).get("campaign_id"),
            "campaign_title": (r.body or {}).get("campaign_title"),
        }
        for suffix, who in (
            ("", Recipient(role="village_admin", area=cell[:12])),
            (":township", Recipient(role="center_staff", area=cell[:9])),
        ):
            reminders.raise_supervision(db_session, r, who=who, now=now, body=body, suffix=suffix)
            made += 1
    return made
