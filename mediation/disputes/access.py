"""Who sees a case and where they stand on it: visibility, get_dispute, standing (Indico's habit)."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from geo.scope import record_clause
from mediation.disputes import workflow
from mediation.disputes.enums import (
    GRID,
    LEVEL_BY_CODE_LENGTH,
    RED,
)
from mediation.disputes.models import (
    Dispute,
)
from mediation.users.actor import Actor
from mediation.users.enums import GRID_WORKER


def visible_clause(actor: Actor):
    """Cases the actor may see: inside their area, plus those they registered themselves."""
    scope = actor.case_scope
    inside = record_clause(
        scope,
        cell=Dispute.cell_code,
        village=Dispute.village_code,
        township=Dispute.township_code,
        county=Dispute.county_code,
    )
    return or_(inside, Dispute.registered_by == actor.user_id)


def get_dispute(
    db_session: Session, *, actor: Actor, dispute_id, for_update: bool = False
) -> Dispute:
    """A visible case, or NotFound (never says whether it exists elsewhere)."""
    try:
        key = uuid.UUID(str(dispute_id))
    except ValueError:
        raise NotFound("未找到该案件", code="dispute_not_found") from None
    stmt = select(Dispute).where(Dispute.id == key, visible_clause(actor))
    if for_update:
        stmt = stmt.with_for_update()
    dispute = db_session.scalar(stmt)
    if dispute is None:
        raise NotFound("未找到该案件", code="dispute_not_found")
    return dispute


def standing(actor: Actor, dispute: Dispute) -> workflow.ActorStanding:
    """The actor's roles on this case with the level each stands at."""
    codes = {
        15: dispute.cell_code,
        12: dispute.village_code,
        9: dispute.township_code,
        6: dispute.county_code,
    }
    pairs = set()
    for role, areas in actor.roles.items():
        if role == GRID_WORKER:
            if dispute.cell_code in actor.cells:
                pairs.add((role, GRID))
            continue
        for code in areas:
            if codes.get(len(code)) == code:
                pairs.add((role, LEVEL_BY_CODE_LENGTH[len(code)]))
    return workflow.ActorStanding(frozenset(pairs))


def case_state(dispute: Dispute) -> workflow.CaseState:
    """What the transition table needs to know about a case (used by `act` and by the console
    to show only the actions the table allows)."""
    return workflow.CaseState(
        status=dispute.status,
        handling_level=dispute.handling_level,
        escalation_target=dispute.escalation_target,
        red_without_leader=dispute.risk_level == RED and dispute.leader_id is None,
    )
