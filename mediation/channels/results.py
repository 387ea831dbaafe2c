"""Results going back to partners (delivered from the outbox, signed, retried until a 2xx), and
a receiving body's referral result coming in through its partner system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from mediation.channels.models import MediationBody, Partner
from mediation.channels.partners import Caller, signing_secret
from mediation.disputes import flow
from mediation.disputes.models import Dispute
from mediation.disputes.referrals import OPEN, Referral
from mediation.disputes.results_back import destination_of
from mediation.disputes.settings import Settings
from mediation.pii import Vault
from mediation.reminders import service as outbox
from mediation.reminders.models import PENDING, OutboxMessage


def deliver_results(
    db_session: Session, *, now: datetime, vault: Vault, sender=outbox.webhook_sender
) -> tuple[int, int]:
    """Send every partner its pending results (commit per message, as the outbox does); a
    partner that is down gets them later, each once it answers 2xx. Returns (sent, failed)."""
    waiting = db_session.scalars(
        select(OutboxMessage.destination)
        .where(OutboxMessage.state == PENDING, OutboxMessage.destination.like("partner:%"))
        .distinct()
    ).all()
    sent = failed = 0
    for destination in waiting:
        partner = db_session.get(Partner, int(destination.split(":", 1)[1]))
        secret = signing_secret(db_session, partner, vault, now) if partner else None
        if partner is None or not partner.result_url or secret is None:
            continue  # nowhere to send yet: kept until the county sets it up
        s, f = outbox.deliver(
            db_session,
            now=now,
            send=sender(partner.result_url, secret),
            destination=destination,
        )
        sent, failed = sent + s, failed + f
    return sent, failed


def results_of(db_session: Session, dispute_id) -> list[OutboxMessage]:
    """The results sent (or waiting) for a case's partner, oldest first (shown on the case)."""
    return list(
        db_session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dispute_id == dispute_id)
            .order_by(OutboxMessage.id)
        )
    )


def _receiving(db_session: Session, referral: Referral, partner: Partner) -> bool:
    """Is this partner the body the case was referred to?"""
    if referral.body_id is not None:
        body = db_session.get(MediationBody, referral.body_id)
        return body is not None and body.partner_id == partner.id
    return referral.target == partner.kind


def record_from_partner(
    db_session: Session,
    *,
    caller: Caller,
    case_number: str,
    result: dict,
    now: datetime,
    settings: Settings,
) -> Dispute:
    """The receiving body's result of a referral, pushed by its partner system: recorded once;
    a repeat with the same outcome is the same answer, another outcome is a conflict."""
    dispute = db_session.scalar(
        select(Dispute).where(Dispute.case_number == case_number).with_for_update()
    )
    referrals = (
        db_session.scalars(
            select(Referral).where(Referral.dispute_id == dispute.id).order_by(Referral.id.desc())
        ).all()
        if dispute
        else []
    )
    mine = [r for r in referrals if _receiving(db_session, r, caller.partner)]
    if not mine:
        raise NotFound("未找到移送给贵单位的该案件", code="referral_not_found")
    latest = mine[0]
    if latest.status != OPEN:
        if latest.outcome == result["outcome"] and latest.recorded_via == "partner":
            return dispute  # a repeat of the result already recorded
        raise Conflict(
            "该移送的结果已登记，内容不同",
            code="result_conflict",
            field="outcome",
            details={"recorded_outcome": latest.outcome},
        )
    return flow.act(
        db_session,
        actor=caller.actor,
        dispute_id=dispute.id,
        action="record_referral_result",
        payload={**result, "via": "partner"},
        expected_version=dispute.version,
        now=now,
        settings=settings,
    )


__all__ = ["deliver_results", "destination_of", "record_from_partner", "results_of"]
