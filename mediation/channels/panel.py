"""A case's channel panel (case file, console): how it came in, its results sent back, its
referrals, dispatches, supervision orders and 包案 progress."""

from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from mediation.channels import oversight, results
from mediation.channels.enums import CHANNELS
from mediation.channels.models import Dispatch, Partner, SupervisionOrder
from mediation.disputes.access import get_dispute, visible_clause
from mediation.disputes.models import Dispute
from mediation.disputes.referrals import OPEN, Referral
from mediation.users.actor import Actor


def case_panel(db_session: Session, *, actor: Actor, dispute_id) -> dict:
    """Everything of issue 20 on one case, for the actor who sees it."""
    d = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    partner = db_session.get(Partner, d.partner_id) if d.partner_id else None
    return {
        "dispute_id": d.id,
        "case_number": d.case_number,
        "channel": d.channel,
        "channel_label": CHANNELS.get(d.channel, d.channel),
        "partner": {"code": partner.code, "name": partner.name} if partner else None,
        "partner_reference": d.partner_reference,
        "external_due_on": d.external_due_on,
        "located": d.located,
        "address": d.address,
        "results_sent": [
            {
                "id": m.id,
                "outcome": m.payload.get("outcome"),
                "date": m.payload.get("date"),
                "state": m.state,
                "attempts": m.attempts,
                "sent_at": m.sent_at,
                "last_error": m.last_error,
            }
            for m in results.results_of(db_session, d.id)
        ],
        "referrals": list(
            db_session.scalars(
                select(Referral).where(Referral.dispute_id == d.id).order_by(Referral.id)
            )
        ),
        "dispatches": list(
            db_session.scalars(
                select(Dispatch).where(Dispatch.dispute_id == d.id).order_by(Dispatch.id)
            )
        ),
        "supervision_orders": oversight.orders_of(db_session, d.id),
        "progress": oversight.progress_of(db_session, d.id),
    }


def list_referrals(db_session: Session, *, actor: Actor, open_only: bool) -> list[Referral]:
    """Referrals of the cases I see, newest first; open ones stay here until their result."""
    stmt = select(Referral).join(Dispute, Dispute.id == Referral.dispute_id)
    stmt = stmt.where(visible_clause(actor))
    if open_only:
        stmt = stmt.where(Referral.status == OPEN)
    return list(db_session.scalars(stmt.order_by(Referral.id.desc()).limit(200)))


def case_numbers(db_session: Session, *, actor: Actor) -> dict:
    """Case numbers of the visible cases that have a dispatch, referral or 督办 (for the lists)."""
    ids = union(
        select(Dispatch.dispute_id),
        select(Referral.dispute_id),
        select(SupervisionOrder.dispute_id),
    )
    rows = db_session.execute(
        select(Dispute.id, Dispute.case_number).where(Dispute.id.in_(ids), visible_clause(actor))
    ).all()
    return dict(rows)
