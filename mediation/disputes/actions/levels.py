"""Actions that move a case between levels or out of the flow, and name its 包案领导."""

from __future__ import annotations

from sqlalchemy import select

from core.errors import ValidationFailed
from mediation.disputes import workflow
from mediation.disputes.actions.step import Outcome, Step, pending_escalation
from mediation.disputes.models import Escalation
from mediation.users.enums import LEADER
from mediation.users.models import User


def escalate(step: Step) -> Outcome:
    d, p = step.dispute, step.payload
    workflow.check_level_move("escalate", d.handling_level, p["to_level"])
    step.db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="up",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="pending",
            requested_by=step.actor.user_id,
            requested_at=step.now,
        )
    )
    d.escalation_target = p["to_level"]
    step.db.flush()
    return Outcome({"escalation_target": [None, p["to_level"]]}, p["reason"])


def _decide_escalation(step: Step, *, accepted: bool) -> Outcome:
    d, reason = step.dispute, step.payload.get("reason")
    esc = pending_escalation(step.db, d)
    esc.status = "accepted" if accepted else "returned"
    esc.decided_by, esc.decided_at, esc.decision_reason = step.actor.user_id, step.now, reason
    changes = {"escalation_target": [d.escalation_target, None]}
    if accepted:
        changes["handling_level"] = [d.handling_level, esc.to_level]
        d.handling_level = esc.to_level
    d.escalation_target = None
    return Outcome(changes, reason)


def accept_escalation(step: Step) -> Outcome:
    return _decide_escalation(step, accepted=True)


def return_escalation(step: Step) -> Outcome:
    return _decide_escalation(step, accepted=False)


def return_down(step: Step) -> Outcome:
    d, p = step.dispute, step.payload
    workflow.check_level_move("return_down", d.handling_level, p["to_level"])
    step.db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="down",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="done",
            requested_by=step.actor.user_id,
            requested_at=step.now,
            decided_by=step.actor.user_id,
            decided_at=step.now,
        )
    )
    changes = {"handling_level": [d.handling_level, p["to_level"]]}
    d.handling_level = p["to_level"]
    return Outcome(changes, p["reason"])


def assign_leader(step: Step) -> Outcome:
    d = step.dispute
    leader = step.db.scalar(
        select(User).where(User.id == step.payload["leader_id"], User.is_active.is_(True))
    )
    ok = leader is not None and any(
        r.role == LEADER
        and r.area_code
        and (d.township_code.startswith(r.area_code) or r.area_code == d.township_code)
        for r in leader.roles
    )
    if not ok:
        raise ValidationFailed(
            "请选择本乡镇或本县的包案领导", code="invalid_leader", field="leader_id"
        )
    changes = {"leader_id": [d.leader_id, leader.id]}
    d.leader_id = leader.id
    return Outcome(changes)
