"""The risk actions (研判): assess_risk (the matrix, the forcing conditions kept from the last
assessment, who may lower a level) and set_group_flag (a township officer confirms or lifts the
group flag); both keep every assessment and stamp when the case became RED or ORANGE."""

from __future__ import annotations

from sqlalchemy import select

from core.errors import ValidationFailed
from mediation.disputes import risk
from mediation.disputes.access import standing
from mediation.disputes.actions.step import Outcome, Step
from mediation.disputes.enums import FORCED_RED_FLAGS, GROUP_FLAG, ORANGE, RED, UNASSESSED
from mediation.disputes.models import Dispute, RiskAssessment


def assess_risk(step: Step) -> Outcome:
    """A (re-)assessment: forcing conditions recorded before persist unless `clear_flags` names
    them (with a reason); lowering needs a reason, and the township when the case was RED/ORANGE."""
    d, p = step.dispute, step.payload
    last = latest_assessment(step.db, d)
    kept = [f for f in (last.forced_reasons if last else []) if f in FORCED_RED_FLAGS]
    clear = list(dict.fromkeys(p.get("clear_flags") or []))
    stray = [f for f in clear if f not in kept]
    if stray:
        names = "、".join(FORCED_RED_FLAGS.get(f, f) for f in stray)
        raise ValidationFailed(
            f"该案件未记录以下风险情形，无需解除：{names}",
            code="flag_not_recorded",
            field="clear_flags",
        )
    flags = [
        f for f in FORCED_RED_FLAGS if (f in kept and f not in clear) or f in p.get("flags", [])
    ]
    result = risk.assess(
        likelihood=p["likelihood"], severity=p["severity"], flags=flags, group=_group(step)
    )
    _check(step, result.level, clear)
    changes = _apply(step, result, note=p.get("note") or p.get("reason"))
    if clear:
        changes["cleared_flags"] = [clear, None]
    return Outcome(changes, p.get("reason") or p.get("note"))


def set_group_flag(step: Step) -> Outcome:
    """A township officer confirms (true) or lifts (false) the group flag, with a reason; the
    decision stays on the case, so a later reassessment does not re-force a lifted flag."""
    d, p = step.dispute, step.payload
    flag = bool(p["group_dispute"])
    changes = {
        "group_dispute": [d.group_dispute, flag],
        "group_decision": [d.group_decision, risk.CONFIRMED if flag else risk.LIFTED],
    }
    d.group_decision = risk.CONFIRMED if flag else risk.LIFTED
    d.group_dispute = flag
    last = latest_assessment(step.db, d)
    if last is not None:
        flags = [f for f in last.forced_reasons if f in FORCED_RED_FLAGS]
        result = risk.assess(
            likelihood=last.likelihood, severity=last.severity, flags=flags, group=flag
        )
        _check(step, result.level, ())
        changes |= _apply(step, result, note=p["reason"])
    else:  # never assessed: the flag alone makes it RED; lifted, it is unassessed again
        level = RED if flag else UNASSESSED
        _check(step, level, ())
        changes["risk_level"] = [d.risk_level, level]
        _stamp(step, level)
    return Outcome(changes, p["reason"])


def latest_assessment(db_session, dispute: Dispute) -> RiskAssessment | None:
    """The case's last assessment (the forcing conditions it recorded persist)."""
    return db_session.scalar(
        select(RiskAssessment)
        .where(RiskAssessment.dispute_id == dispute.id)
        .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )


def _group(step: Step) -> bool:
    d, s = step.dispute, step.settings
    computed = risk.is_group(
        parties=d.parties,
        people_involved=d.people_involved,
        min_one_side=s.group_min_one_side,
        min_people=s.group_min_people,
    )
    return risk.group_flag(computed, d.group_decision)


def _check(step: Step, level: str, cleared) -> None:
    roles = {r for r, _ in standing(step.actor, step.dispute).roles_at}
    risk.check_change(
        before=step.dispute.risk_level,
        after=level,
        roles=roles,
        reason=step.payload.get("reason"),
        cleared=cleared,
    )


def _apply(step: Step, result: risk.RiskResult, *, note: str | None) -> dict:
    d = step.dispute
    before = _forced_before(step)
    step.db.add(
        RiskAssessment(
            dispute_id=d.id,
            likelihood=result.likelihood,
            severity=result.severity,
            score=result.score,
            level=result.level,
            forced_reasons=list(result.forced_reasons),
            note=note,
            assessed_by=step.actor.user_id,
            assessed_at=step.now,
        )
    )
    changes = {
        "risk_level": [d.risk_level, result.level],
        "risk_score": [d.risk_score, result.score],
        "forced_reasons": [before, list(result.forced_reasons)],
    }
    d.risk_score = result.score
    d.risk_assess_due_at = None  # assessed: no longer waits for its first assessment
    d.group_dispute = GROUP_FLAG in result.forced_reasons
    _stamp(step, result.level)
    return changes


def _forced_before(step: Step) -> list[str]:
    last = latest_assessment(step.db, step.dispute)
    return list(last.forced_reasons) if last else []


def _stamp(step: Step, level: str) -> None:
    """The new level, and since when the case is RED / ORANGE (a new arrival restarts the
    township's clock)."""
    d, now = step.dispute, step.now
    if level == RED and d.risk_level != RED:
        d.red_since = now
    elif level != RED:
        d.red_since = None
    if level == ORANGE and d.risk_level != ORANGE:
        d.orange_since = now
    elif level != ORANGE:
        d.orange_since = None
    d.risk_level = level
