"""Which steps of the flow an actor may take on a case now — asked of the transition table itself.

The console draws its action buttons from this: each action of `workflow.TRANSITIONS` is put to
`workflow.decide` with its required fields present, so a button appears exactly when the table
(and not a copy of its rules) would accept the move once the form is filled in.
"""

from __future__ import annotations

from mediation.disputes import workflow
from mediation.disputes.access import case_state, standing
from mediation.disputes.models import Dispute
from mediation.users.actor import Actor


def available_actions(actor: Actor, dispute: Dispute) -> list[workflow.Transition]:
    """The transitions the table allows this actor on this case, in the table's order."""
    state = case_state(dispute)
    who = standing(actor, dispute)
    out = []
    for t in workflow.TRANSITIONS.values():
        filled = {f: "x" for f in t.requires}
        try:
            workflow.decide(t.action, state, who, filled)
        except workflow.Refused:
            continue
        out.append(t)
    return out


def blocked_by_leader(actor: Actor, dispute: Dispute) -> bool:
    """True when a RED case without a 包案领导 holds back actions the actor could otherwise take."""
    state = case_state(dispute)
    if not state.red_without_leader:
        return False
    free = workflow.CaseState(
        status=state.status,
        handling_level=state.handling_level,
        escalation_target=state.escalation_target,
    )
    who = standing(actor, dispute)
    for t in workflow.TRANSITIONS.values():
        try:
            workflow.decide(t.action, free, who, {f: "x" for f in t.requires})
        except workflow.Refused:
            continue
        try:
            workflow.decide(t.action, state, who, {f: "x" for f in t.requires})
        except workflow.Refused:
            return True
    return False
