"""A partner's case reports its result back: when it is resolved, terminated, referred (or
closed otherwise), one message goes to the partner through the signed outbox, retried until the
partner acknowledges it (mediation/channels/results.py delivers it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mediation.disputes.deadlines import business_day
from mediation.disputes.enums import (
    REFERRED,
    REJECTED,
    RESOLVED,
    STATUS_LABELS,
    TERMINATED,
    WITHDRAWN,
)
from mediation.disputes.models import Dispute, MediationSession
from mediation.reminders import service as outbox
from mediation.users.actor import Actor

REPORTED = frozenset({RESOLVED, TERMINATED, REFERRED, REJECTED, WITHDRAWN})


def destination_of(partner_id: int) -> str:
    """The outbox destination of a partner's messages."""
    return f"partner:{partner_id}"


def report_back(
    db_session: Session,
    *,
    dispute: Dispute,
    before: str,
    actor: Actor,
    summary: str | None,
    now: datetime,
    mediator: str | None = None,
) -> None:
    """Queue the case's result for its partner when the case has just reached one (flush-free)."""
    if dispute.partner_id is None or dispute.status == before or dispute.status not in REPORTED:
        return
    mediators = db_session.scalar(
        select(MediationSession.mediators)
        .where(MediationSession.dispute_id == dispute.id)
        .order_by(MediationSession.held_at.desc())
        .limit(1)
    )
    outbox.enqueue(
        db_session,
        destination=destination_of(dispute.partner_id),
        dedupe_key=f"result:{dispute.id}:{dispute.version}",
        dispute_id=dispute.id,
        now=now,
        payload={
            "type": "case_result",
            "reference": dispute.partner_reference,
            "case_number": dispute.case_number,
            "outcome": dispute.status,
            "outcome_label": STATUS_LABELS[dispute.status],
            "date": business_day(now).isoformat(),
            "summary": summary or STATUS_LABELS[dispute.status],
            "mediator": mediator or mediators or actor.display_name,
            "referred_to": (dispute.exit_detail or {}).get("target")
            if dispute.status == REFERRED
            else None,
        },
    )
