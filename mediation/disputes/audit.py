"""The case's audit trail: one event per change, and how the timeline shows it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mediation.disputes.models import (
    Dispute,
    DisputeEvent,
)
from mediation.users.actor import Actor


def timeline_row(e: DisputeEvent, actor_name: str | None) -> dict:
    """One audit event as the timeline shows it."""
    return {
        "seq": e.seq,
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_name": actor_name,
        "at": e.at,
        "device_at": e.device_at,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "changes": e.changes,
        "reason": e.reason,
    }


def record_event(db_session: Session, dispute: Dispute, *args, **kwargs) -> DisputeEvent:
    """The audit event of an action (`_new_event`'s arguments), added to the session."""
    event = new_event(dispute, *args, **kwargs)
    db_session.add(event)
    return event


def new_event(
    dispute: Dispute,
    actor: Actor,
    action: str,
    now: datetime,
    from_status: str | None,
    to_status: str | None,
    changes: dict,
    reason: str | None = None,
    device_at: datetime | None = None,
) -> DisputeEvent:
    """The audit event of an action (not added to the session)."""
    return DisputeEvent(
        dispute_id=dispute.id,
        cell_code=dispute.cell_code,
        seq=dispute.version,
        action=action,
        actor_id=actor.user_id,
        at=now,
        device_at=device_at,
        from_status=from_status,
        to_status=to_status,
        changes={k: v for k, v in changes.items() if v is not None},
        reason=reason,
    )
