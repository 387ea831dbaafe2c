"""How a 稳评 item raises the risk of the cases linked to it (product rule, issue 21).

The item gives its open linked cases a *floor* on the dispute risk colour:

- its rating maps onto the matrix: high → ORANGE, medium → YELLOW, low → none;
- when the item has produced at least two open linked cases (a cluster), the floor goes one
  level up (no rating: YELLOW), capped at ORANGE — RED stays a person's judgement, it needs a
  包案领导 and the forced conditions of the matrix.

An open linked case below the floor is reassessed through the flow's own `assess_risk` (its
score raised to the lowest L × S of the floor colour, keeping its severity where it can), by the
person who confirmed the link or the rating, with the reason in the timeline. Cases at or above
the floor are left alone; nothing is ever lowered by an item.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mediation.disputes import flow
from mediation.disputes.enums import OPEN_STATUSES, RISK_LABELS, RISK_ORDER
from mediation.disputes.models import Dispute, RiskAssessment
from mediation.disputes.risk import assess
from mediation.risks.enums import CLUSTER_MIN_OPEN, FLOOR_BY_RATING, FLOOR_CAP, RATINGS, YELLOW
from mediation.risks.models import StabilityItem, StabilityLink
from mediation.users.actor import Actor

LEVELS_UP = sorted(RISK_ORDER, key=RISK_ORDER.get)


def floor_for(rating: str | None, open_linked: int) -> str | None:
    """The lowest colour an open linked case may have (None: no floor)."""
    floor = FLOOR_BY_RATING.get(rating) if rating else None
    if open_linked >= CLUSTER_MIN_OPEN:
        floor = YELLOW if floor is None else LEVELS_UP[min(RISK_ORDER[floor] + 1, 3)]
    if floor is not None and RISK_ORDER[floor] > RISK_ORDER[FLOOR_CAP]:
        floor = FLOOR_CAP
    return floor


def raised_scores(likelihood: int, severity: int, floor: str) -> tuple[int, int]:
    """The lowest L × S at or above the current one that reaches the floor colour."""
    best = None
    for s in range(severity, 6):
        for lk in range(likelihood, 6):
            if assess(likelihood=lk, severity=s).level == floor:
                if best is None or lk * s < best[0] * best[1]:
                    best = (lk, s)
                break
    return best or (likelihood, severity)


def open_linked(db_session: Session, item_id: int) -> list[Dispute]:
    """The open cases linked to an item, locked, in case-number order."""
    return list(
        db_session.scalars(
            select(Dispute)
            .join(StabilityLink, StabilityLink.dispute_id == Dispute.id)
            .where(StabilityLink.item_id == item_id, Dispute.status.in_(OPEN_STATUSES))
            .order_by(Dispute.case_number)
            .with_for_update(of=Dispute)
        )
    )


def raise_linked(
    db_session: Session, *, actor: Actor, item: StabilityItem, now: datetime, settings
) -> list[dict]:
    """Raise every open linked case below the item's floor; returns what was raised."""
    cases = open_linked(db_session, item.id)
    floor = floor_for(item.rating, len(cases))
    if floor is None:
        return []
    raised = []
    for d in cases:
        if RISK_ORDER[d.risk_level] >= RISK_ORDER[floor]:
            continue
        last = db_session.execute(
            select(RiskAssessment.likelihood, RiskAssessment.severity)
            .where(RiskAssessment.dispute_id == d.id)
            .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc())
            .limit(1)
        ).first()
        lk, sv = raised_scores(last[0] if last else 1, last[1] if last else 1, floor)
        why = (
            f"稳评事项“{item.title}”（{RATINGS.get(item.rating, '未评估')}，"
            f"关联在办矛盾纠纷 {len(cases)} 件）风险传导：不低于{RISK_LABELS[floor]}"
        )
        before = d.risk_level
        flow.act(
            db_session,
            actor=actor,
            dispute_id=d.id,
            action="assess_risk",
            payload={"likelihood": lk, "severity": sv, "note": why},
            expected_version=d.version,
            now=now,
            settings=settings,
        )
        raised.append(
            {"dispute_id": d.id, "case_number": d.case_number, "from": before, "to": d.risk_level}
        )
    return raised


def linked_counts(db_session: Session, item_ids: list[int]) -> dict[int, dict]:
    """Per item: disputes linked, still open, and resolved."""
    if not item_ids:
        return {}
    rows = db_session.execute(
        select(
            StabilityLink.item_id,
            func.count(),
            func.count().filter(Dispute.status.in_(OPEN_STATUSES)),
            func.count().filter(Dispute.resolved_at.is_not(None)),
        )
        .join(Dispute, Dispute.id == StabilityLink.dispute_id)
        .where(StabilityLink.item_id.in_(item_ids))
        .group_by(StabilityLink.item_id)
    ).all()
    out = {i: {"disputes": 0, "open": 0, "resolved": 0} for i in item_ids}
    for item_id, total, open_, resolved in rows:
        out[item_id] = {"disputes": total, "open": open_, "resolved": resolved}
    return out
