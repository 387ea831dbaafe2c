"""Risk scoring (product rule): likelihood × severity, with conditions that force RED; who may
lower a level; what makes a group dispute (群体性纠纷)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import DomainError, ValidationFailed
from mediation.disputes.enums import (
    BLUE,
    FORCED_RED_FLAGS,
    GROUP_FLAG,
    ORANGE,
    RED,
    RISK_ORDER,
    YELLOW,
)
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN, LEADER

# The sides of a dispute whose people share a claim; agents (代理人) and third parties (第三人)
# speak for or stand beside a side and are never counted (issue 19, domain §3).
SIDES = ("applicant", "respondent")
# Who may lower a RED or ORANGE case (the township and above: 风险研判 is the centre's call).
LOWERING_ROLES = frozenset({CENTER_STAFF, LEADER, COUNTY_ADMIN})
# A township officer's decision on the group flag, kept on the case (dispute.group_decision).
CONFIRMED, LIFTED = "confirmed", "lifted"


@dataclass(frozen=True)
class RiskResult:
    """Score, colour and why it was forced RED (if it was)."""

    likelihood: int
    severity: int
    score: int
    level: str
    forced_reasons: tuple[str, ...]


def level_of(score: int, forced: bool) -> str:
    """RED ≥ 20 (or forced), ORANGE 12–19, YELLOW 6–11, BLUE < 6."""
    if forced or score >= 20:
        return RED
    if score >= 12:
        return ORANGE
    if score >= 6:
        return YELLOW
    return BLUE


def assess(
    *, likelihood: int, severity: int, flags: Iterable[str] = (), group: bool = False
) -> RiskResult:
    """The matrix and the forcing conditions (`group`: the case is a group dispute, see
    `is_group` and `group_flag`)."""
    flags = list(flags)
    fields = {}
    for name, value in (("likelihood", likelihood), ("severity", severity)):
        if not isinstance(value, int) or not 1 <= value <= 5:
            fields[f"risk.{name}"] = ["应为 1 到 5 的整数"]
    unknown = [f for f in flags if f not in FORCED_RED_FLAGS]
    if unknown:
        fields["risk.flags"] = [f"未知的风险情形：{'、'.join(unknown)}"]
    if fields:
        raise ValidationFailed(fields=fields)
    score = likelihood * severity
    reasons = [f for f in FORCED_RED_FLAGS if f in flags]
    if group:
        reasons.append(GROUP_FLAG)
    return RiskResult(likelihood, severity, score, level_of(score, bool(reasons)), tuple(reasons))


def people_per_side(parties: Iterable) -> dict[str, int]:
    """People on each side: one per applicant or respondent row (a row stands for one person or
    one organisation; the party model has no head count); agents and third parties never count."""
    out = dict.fromkeys(SIDES, 0)
    for p in parties:
        role = p["role"] if isinstance(p, dict) else p.role
        if role in out:
            out[role] += 1
    return out


def is_group(
    *, parties: Iterable, people_involved: int, min_one_side: int, min_people: int
) -> bool:
    """A group dispute: at least `min_one_side` people on one side share a claim, or the people
    affected reach `min_people` (defaults 5 and 30, GROUP_MIN_ONE_SIDE / GROUP_MIN_PEOPLE)."""
    sides = people_per_side(parties)
    return max(sides.values()) >= min_one_side or (people_involved or 0) >= min_people


def group_flag(computed: bool, decision: str | None) -> bool:
    """The group flag the case carries: a township officer's decision wins over the count, so a
    reassessment never re-forces a flag the township lifted (nor drops one it confirmed)."""
    if decision == CONFIRMED:
        return True
    if decision == LIFTED:
        return False
    return computed


class LoweringRefused(DomainError):
    """A lowering of the risk level the actor may not make, or without its reason."""

    code = "risk_lowering_refused"
    message = "不能降低该案件的风险等级"


def check_change(
    *,
    before: str,
    after: str,
    roles: Iterable[str],
    reason: str | None,
    cleared: Iterable[str],
) -> None:
    """Lowering a level needs a reason, and the township (center staff, leader, county) when the
    case was RED or ORANGE; clearing a forcing condition needs a reason too."""
    lower = RISK_ORDER.get(after, 0) < RISK_ORDER.get(before, 0) and before in RISK_ORDER
    if lower and before in (RED, ORANGE) and not LOWERING_ROLES & set(roles):
        raise LoweringRefused(
            "红色、橙色风险案件只能由乡镇综治中心、包案领导或县级综治中心降级",
            code="risk_lowering_not_allowed",
            details={"from": before, "to": after},
        )
    if (lower or list(cleared)) and not (reason or "").strip():
        raise LoweringRefused(
            "降低风险等级或解除风险情形须写明理由",
            code="reason_required",
            fields={"reason": ["降低风险等级或解除风险情形须写明理由"]},
        )
