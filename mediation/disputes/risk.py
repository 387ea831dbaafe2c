"""Risk scoring (product rule): likelihood × severity, with conditions that force RED."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ValidationFailed
from mediation.disputes.enums import BLUE, FORCED_RED_FLAGS, ORANGE, RED, YELLOW


@dataclass(frozen=True)
class RiskResult:
    """Score, colour and why it was forced RED (if it was)."""

    likelihood: int
    severity: int
    score: int
    level: str
    forced_reasons: tuple[str, ...]


def assess(
    *,
    likelihood: int,
    severity: int,
    flags: list[str] | tuple[str, ...] = (),
    parties: int = 0,
    people_involved: int = 0,
    group_min_parties: int = 5,
    group_min_people: int = 30,
) -> RiskResult:
    """RED ≥ 20, ORANGE 12–19, YELLOW 6–11, BLUE < 6; forced RED on the listed conditions or a
    group dispute (≥ 5 parties or ≥ 30 people, configurable)."""
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
    if is_group(
        parties=parties,
        people=people_involved,
        min_parties=group_min_parties,
        min_people=group_min_people,
    ):
        reasons.append("group_dispute")
    if reasons or score >= 20:
        level = RED
    elif score >= 12:
        level = ORANGE
    elif score >= 6:
        level = YELLOW
    else:
        level = BLUE
    return RiskResult(likelihood, severity, score, level, tuple(reasons))


def is_group(*, parties: int, people: int, min_parties: int, min_people: int) -> bool:
    """A group dispute: many parties or many people affected."""
    return parties >= min_parties or people >= min_people
