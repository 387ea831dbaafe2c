"""The court's answer to a 司法确认 of a written agreement (人民调解法 Art 33): applied, filed,
confirmed or refused — its own record, one row per step."""

from __future__ import annotations

from datetime import date

from core.errors import ValidationFailed
from mediation.disputes.actions.step import Outcome, Step, current_agreement
from mediation.disputes.deadlines import business_day
from mediation.disputes.enums import COURT_OUTCOMES
from mediation.disputes.models import Agreement, CourtOutcome


def add_outcome(
    step: Step, agreement: Agreement, outcome: str, on: date, note: str | None, court=None
) -> CourtOutcome:
    """Write one step of the confirmation (flush only)."""
    row = CourtOutcome(
        dispute_id=step.dispute.id,
        agreement_id=agreement.id,
        outcome=outcome,
        court=court,
        decided_on=on,
        note=note,
        recorded_by=step.actor.user_id,
        created_at=step.now,
        cell_code=step.dispute.cell_code,
    )
    step.db.add(row)
    return row


def record_court_outcome(step: Step) -> Outcome:
    """Record where the 司法确认 stands; only a written agreement can be confirmed."""
    p = step.payload
    agreement = current_agreement(step.db, step.dispute)
    if agreement is None or agreement.form != "written":
        raise ValidationFailed(
            "只有书面调解协议可以申请司法确认", code="not_written", field="court_outcome"
        )
    on = p.get("decided_on") or business_day(step.now)
    if on > business_day(step.now):
        raise ValidationFailed("日期不能晚于今天", code="time_in_future", field="decided_on")
    if on < business_day(agreement.created_at):
        raise ValidationFailed(
            "日期不能早于调解协议达成的日期", code="before_agreement", field="decided_on"
        )
    add_outcome(step, agreement, p["court_outcome"], on, p.get("note"), p.get("court"))
    return Outcome(
        {"court_outcome": [None, p["court_outcome"]]},
        p.get("note") or COURT_OUTCOMES[p["court_outcome"]],
    )
