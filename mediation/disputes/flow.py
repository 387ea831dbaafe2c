"""Taking one action on a case: the table decides, one handler per action applies it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import Conflict, DomainError
from mediation.disputes import reminders as case_reminders
from mediation.disputes import results_back, workflow
from mediation.disputes.access import case_state, get_dispute, standing
from mediation.disputes.actions import HANDLERS
from mediation.disputes.actions.step import Step, current_agreement, pending_escalation
from mediation.disputes.audit import record_event
from mediation.disputes.deadlines import plan_next_due
from mediation.disputes.enums import CLOSED_STATUSES, RESOLVED
from mediation.disputes.models import Dispute
from mediation.disputes.settings import Settings
from mediation.users.actor import Actor


def act(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    action: str,
    payload: dict,
    expected_version: int | None,
    now: datetime,
    settings: Settings,
    device_time: datetime | None = None,
) -> Dispute:
    """Take one action on a case: check the table, the version, apply, audit, plan what is due.
    `device_time` is when the phone recorded an offline action (kept on the event beside `now`)."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    if expected_version is None:
        raise DomainError(
            "请带上案件版本号（If-Match 或 expected_version）后重试",
            code="precondition_required",
        )
    if dispute.version != expected_version:
        raise Conflict(
            "案件已被他人修改，请刷新后重试",
            code="version_conflict",
            details={"current_version": dispute.version, "status": dispute.status},
        )
    to_status = workflow.decide(action, case_state(dispute), standing(actor, dispute), payload)
    before = dispute.status
    dispute.version += 1
    step = Step(db_session, dispute, actor, payload, now, settings)
    changes, reason = HANDLERS[action](step)
    if to_status != "by_result":
        dispute.status = to_status
    if (
        dispute.status in CLOSED_STATUSES
        and dispute.closed_at is None
        and dispute.status != RESOLVED
    ):
        dispute.closed_at = now
    if dispute.status != before:
        changes["status"] = [before, dispute.status]
    agreement = current_agreement(db_session, dispute)
    escalation = pending_escalation(db_session, dispute)
    plan_next_due(dispute, settings.limits, agreement, escalation)
    record_event(
        db_session,
        dispute,
        actor,
        action,
        now,
        before,
        dispute.status,
        changes,
        reason,
        device_at=device_time,
    )
    db_session.flush()
    case_reminders.sync_case(
        db_session,
        dispute=dispute,
        now=now,
        reason=action,
        red_alert_levels=settings.red_alert_levels,
    )
    results_back.report_back(
        db_session,
        dispute=dispute,
        before=before,
        actor=actor,
        summary=reason,
        mediator=payload.get("mediator"),
        now=now,
    )
    return dispute
