"""移送 and its result: the case stays open and supervised until the receiving body answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from core.errors import ValidationFailed
from mediation.disputes import deadlines
from mediation.disputes.actions.step import Outcome, Step
from mediation.disputes.enums import ACCEPTED, REFERRED_OUT, RESOLVED, TERMINATED, TOWNSHIP
from mediation.disputes.referrals import (
    CLOSED,
    DEFAULT_DAYS,
    OUTCOMES,
    RETURNED,
    TARGETS,
    Referral,
    open_referral,
    resolved_level_of,
)


def refer(step: Step) -> Outcome:
    d, p, now = step.dispute, step.payload, step.now
    if p["target"] not in TARGETS:
        raise ValidationFailed("移送对象不正确", code="invalid_referral_target", field="target")
    today = deadlines.business_day(now)
    due_on = p.get("due_on") or d.external_due_on or today + timedelta(days=DEFAULT_DAYS)
    if due_on < today:
        raise ValidationFailed("反馈期限不能早于今天", code="deadline_in_past", field="due_on")
    step.db.add(
        Referral(
            dispute_id=d.id,
            target=p["target"],
            body_id=p.get("body_id"),
            organisation=p.get("organisation"),
            reason=p["reason"],
            from_level=d.handling_level,
            referred_by=step.actor.user_id,
            referred_at=now,
            due_on=due_on,
            status="open",
        )
    )
    d.exit_detail = {
        "target": p["target"],
        "organisation": p.get("organisation"),
        "reason": p["reason"],
        "from_level": d.handling_level,
        "due_on": due_on.isoformat(),  # the referral's feedback deadline (plan_next_due)
    }
    changes = {
        "handling_level": [d.handling_level, REFERRED_OUT],
        "referred_to": [None, p["target"]],
        "referral_due_on": [None, due_on.isoformat()],
    }
    d.resolved_level = None
    d.handling_level = REFERRED_OUT
    return Outcome(changes, p["reason"])


def record_referral_result(step: Step) -> Outcome:
    """The receiving body's result: resolved (counted where it was resolved), not resolved
    (closed as terminated) or returned (back to the level that referred it)."""
    d, p, now = step.dispute, step.payload, step.now
    if p["outcome"] not in OUTCOMES:
        raise ValidationFailed("移送结果不正确", code="invalid_outcome", field="outcome")
    referral = open_referral(step.db, d.id)
    if referral is None:  # a case referred before referrals were rows
        raise ValidationFailed("该案件没有待反馈的移送", code="no_open_referral")
    result_on = p.get("result_on") or deadlines.business_day(now)
    referral.outcome, referral.result_on = p["outcome"], result_on
    referral.summary, referral.mediator = p.get("summary"), p.get("mediator")
    referral.recorded_by, referral.recorded_at = step.actor.user_id, now
    referral.recorded_via = p.get("via", "centre")
    referral.status = RETURNED if p["outcome"] == "returned" else CLOSED
    changes = {"referral_outcome": [None, p["outcome"]]}
    if p["outcome"] == "resolved":
        d.status, d.resolved_at, d.closed_at = RESOLVED, now, now
        d.resolved_level = resolved_level_of(referral.target, _body_level(step, referral))
        changes["resolved_level"] = [None, d.resolved_level]
    elif p["outcome"] == "not_resolved":
        d.status, d.closed_at = TERMINATED, now
    else:
        back = referral.from_level if referral.from_level != REFERRED_OUT else TOWNSHIP
        d.status, d.handling_level = ACCEPTED, back
        d.accepted_at = d.accepted_at or now
        d.mediation_due_on = deadlines.mediation_due(now, step.settings.limits)
        changes["handling_level"] = [REFERRED_OUT, back]
    return Outcome(changes, p.get("summary"))


def _body_level(step: Step, referral: Referral) -> str | None:
    """The level of the registry body the case went to (the registry is mediation/channels')."""
    if referral.body_id is None:
        return None
    return step.db.execute(
        text("SELECT level FROM mediation_body WHERE id = :id"), {"id": referral.body_id}
    ).scalar()
