"""One small handler per action of the workflow table; `HANDLERS` maps the action to it.

Each handler takes a `Step` and returns an `Outcome`; `mediation.disputes.flow.act` checks the
table, the version and the actor before calling it, and audits and plans afterwards."""

from __future__ import annotations

from collections.abc import Callable

from mediation.disputes.actions import assessment, court, intake, levels, outcome, referral
from mediation.disputes.actions.step import Outcome, Step

HANDLERS: dict[str, Callable[[Step], Outcome]] = {
    "accept": intake.accept,
    "reject": intake.reject,
    "refuse_mediation": intake.refuse_mediation,
    "record_court_outcome": court.record_court_outcome,
    "start_mediation": intake.start,
    "record_session": intake.record_session,
    "escalate": levels.escalate,
    "accept_escalation": levels.accept_escalation,
    "return_escalation": levels.return_escalation,
    "return_down": levels.return_down,
    "agree": outcome.agree,
    "terminate": outcome.terminate,
    "refer": referral.refer,
    "record_referral_result": referral.record_referral_result,
    "withdraw": intake.withdraw,
    "extend": intake.extend,
    "record_visit": outcome.record_visit,
    "assess_risk": assessment.assess_risk,
    "set_group_flag": assessment.set_group_flag,
    "assign_leader": levels.assign_leader,
    "archive": intake.archive,
}
