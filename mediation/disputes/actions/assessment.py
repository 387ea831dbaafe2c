"""The risk assessment action (研判): the matrix, the forcing conditions, the RED clock."""

from __future__ import annotations

from mediation.disputes import risk
from mediation.disputes.actions.step import Outcome, Step
from mediation.disputes.enums import RED
from mediation.disputes.models import RiskAssessment


def assess_risk(step: Step) -> Outcome:
    d, p, s, now = step.dispute, step.payload, step.settings, step.now
    result = risk.assess(
        likelihood=p["likelihood"],
        severity=p["severity"],
        flags=p.get("flags") or [],
        parties=len(d.parties),
        people_involved=d.people_involved,
        group_min_parties=s.group_min_parties,
        group_min_people=s.group_min_people,
    )
    step.db.add(
        RiskAssessment(
            dispute_id=d.id,
            likelihood=result.likelihood,
            severity=result.severity,
            score=result.score,
            level=result.level,
            forced_reasons=list(result.forced_reasons),
            note=p.get("note"),
            assessed_by=step.actor.user_id,
            assessed_at=now,
        )
    )
    changes = {
        "risk_level": [d.risk_level, result.level],
        "risk_score": [d.risk_score, result.score],
    }
    if result.level == RED and d.risk_level != RED:
        d.red_since = now
    elif result.level != RED:
        d.red_since = None
    d.risk_level, d.risk_score = result.level, result.score
    d.group_dispute = d.group_dispute or "group_dispute" in result.forced_reasons
    return Outcome(changes, p.get("note"))
