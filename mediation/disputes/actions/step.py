"""What every action handler receives and returns (typed, instead of six positional letters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from mediation.disputes.models import Agreement, Dispute, Escalation
from mediation.disputes.settings import Settings
from mediation.users.actor import Actor


@dataclass(frozen=True)
class Step:
    """One action being applied: the case (locked, version already raised), who acts, the
    validated payload, the server time and the deployment's settings."""

    db: Session
    dispute: Dispute
    actor: Actor
    payload: dict[str, Any]
    now: datetime
    settings: Settings


class Outcome(NamedTuple):
    """What a handler changed (field → [before, after], shown in the timeline) and why."""

    changes: dict[str, list]
    reason: str | None = None


def current_agreement(db_session: Session, dispute: Dispute) -> Agreement | None:
    return db_session.scalar(
        select(Agreement)
        .where(Agreement.dispute_id == dispute.id)
        .order_by(Agreement.id.desc())
        .limit(1)
    )


def pending_escalation(db_session: Session, dispute: Dispute) -> Escalation | None:
    if not dispute.escalation_target:
        return None
    return db_session.scalar(
        select(Escalation)
        .where(Escalation.dispute_id == dispute.id, Escalation.status == "pending")
        .order_by(Escalation.id.desc())
        .limit(1)
    )
