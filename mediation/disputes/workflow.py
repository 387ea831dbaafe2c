"""The Fengqiao flow as one explicit, pure transition table (no database, no HTTP).

Each action says from which statuses it may be taken, where the case goes, which roles may take it
and at which handling level they must stand, and what the action must carry. `decide` answers a
proposed move with the new status or a refusal with a stable code. Follow-up visits decide their
own destination (resolved / reopened / follow-up) from the visit's result: see `visit_outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DomainError
from mediation.disputes.enums import (
    ACCEPTED,
    AGREED,
    ARCHIVED,
    COUNTY,
    FOLLOW_UP,
    GRID,
    LEVELS,
    MEDIATING,
    OPEN_STATUSES,
    REFERRED,
    REGISTERED,
    REJECTED,
    REOPENED,
    RESOLVED,
    TERMINATED,
    TOWNSHIP,
    VILLAGE,
    WITHDRAWN,
)
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    PARTNER_SYSTEM,
    VILLAGE_ADMIN,
)

OPEN_WORK = frozenset({REGISTERED, ACCEPTED, MEDIATING, REOPENED})
ANY_OPEN = OPEN_STATUSES
# Who works a case at each handling level (the grid worker of the cell, the village's mediators …)
WORKERS = {
    GRID: frozenset({GRID_WORKER, MEDIATOR, VILLAGE_ADMIN}),
    VILLAGE: frozenset({MEDIATOR, VILLAGE_ADMIN}),
    TOWNSHIP: frozenset({MEDIATOR, CENTER_STAFF}),
    COUNTY: frozenset({COUNTY_ADMIN}),
}
# Levels from which a role may act on a case sitting at a given level: its own level, and the
# village for grid cases (the village committee can take over a grid worker's small matter).
ACTING_LEVELS = {
    GRID: (GRID, VILLAGE),
    VILLAGE: (VILLAGE,),
    TOWNSHIP: (TOWNSHIP,),
    COUNTY: (COUNTY,),
}

SAME = None  # the status does not change

# What a RED case may go through while its 包案领导 is being named (the township centre has the
# same-day red_case alert meanwhile): the village accepts and starts mediating it at once (issue
# 19: an ordinary 赡养 dispute forced RED must not wait); an agreement, a termination, a
# rejection, a return down or an extension wait for the leader, who owns the outcome (风险包案).
RED_WITHOUT_LEADER_ALLOWED = frozenset(
    {
        "accept",
        "start_mediation",
        "record_session",
        "assess_risk",
        "set_group_flag",
        "assign_leader",
        "escalate",
        "accept_escalation",
        "refer",
        "record_referral_result",
        "withdraw",
    }
)


@dataclass(frozen=True)
class Transition:
    """One allowed move."""

    action: str
    label: str
    sources: frozenset[str]
    target: str | None
    roles: frozenset[str]
    requires: tuple[str, ...] = ()
    at_level: str = "handling"  # "handling", "escalation_target", "any" (anyone in scope)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("accept", "受理", frozenset({REGISTERED}), ACCEPTED, frozenset(), ()),
        Transition(
            "reject", "不予受理", frozenset({REGISTERED}), REJECTED, frozenset(), ("ground",)
        ),
        Transition(
            "refuse_mediation",
            "当事人明确拒绝调解（人民调解法第十七条）",
            frozenset({ACCEPTED, MEDIATING, REOPENED}),
            TERMINATED,
            frozenset(),
            ("party_id",),
        ),
        Transition(
            "start_mediation",
            "开始调解（已告知权利义务）",
            frozenset({ACCEPTED, REOPENED}),
            MEDIATING,
            frozenset(),
            ("rights_notice",),
        ),
        Transition(
            "record_session",
            "记录调解过程",
            frozenset({MEDIATING}),
            SAME,
            frozenset(),
            ("held_at", "summary"),
        ),
        Transition("escalate", "上报", OPEN_WORK, SAME, frozenset(), ("to_level", "reason")),
        Transition(
            "accept_escalation",
            "接收上报",
            OPEN_WORK,
            SAME,
            frozenset(),
            (),
            at_level="escalation_target",
        ),
        Transition(
            "return_escalation",
            "退回上报",
            OPEN_WORK,
            SAME,
            frozenset(),
            ("reason",),
            at_level="escalation_target",
        ),
        Transition(
            "return_down", "交办/回退下级", OPEN_WORK, SAME, frozenset(), ("to_level", "reason")
        ),
        Transition(
            "agree", "达成调解协议", frozenset({MEDIATING}), AGREED, frozenset(), ("form", "terms")
        ),
        Transition(
            "terminate",
            "终止调解",
            frozenset({MEDIATING}),
            TERMINATED,
            frozenset(),
            ("reason", "routes"),
        ),
        Transition(
            "refer", "移送", ANY_OPEN - {REFERRED}, REFERRED, frozenset(), ("target", "reason")
        ),
        Transition(
            "record_referral_result",
            "登记移送结果",
            frozenset({REFERRED}),
            "by_result",
            frozenset({CENTER_STAFF, COUNTY_ADMIN, PARTNER_SYSTEM}),
            ("outcome",),
            at_level="any",
        ),
        Transition("withdraw", "撤回", ANY_OPEN, WITHDRAWN, frozenset(), ("reason",)),
        Transition(
            "extend",
            "延长调解期限（双方同意）",
            frozenset({MEDIATING}),
            SAME,
            frozenset(),
            ("new_due_date", "consent"),
        ),
        Transition(
            "record_visit",
            "回访",
            frozenset({AGREED, FOLLOW_UP, RESOLVED}),
            "by_result",
            frozenset({GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF}),
            ("result",),
            at_level="any",
        ),
        Transition(
            "record_court_outcome",
            "记录司法确认进展",
            frozenset({AGREED, FOLLOW_UP, RESOLVED, TERMINATED, ARCHIVED}),
            SAME,
            frozenset({MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN}),
            ("court_outcome",),
            at_level="any",
        ),
        Transition(
            "assess_risk",
            "风险研判",
            ANY_OPEN,
            SAME,
            frozenset({GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN}),
            ("likelihood", "severity"),
            at_level="any",
        ),
        Transition(
            "set_group_flag",
            "认定/撤销群体性纠纷",
            ANY_OPEN,
            SAME,
            frozenset({CENTER_STAFF, COUNTY_ADMIN}),
            ("group_dispute", "reason"),
            at_level="any",
        ),
        Transition(
            "assign_leader",
            "指定包案领导",
            ANY_OPEN,
            SAME,
            frozenset({CENTER_STAFF, COUNTY_ADMIN}),
            ("leader_id",),
            at_level="any",
        ),
        Transition(
            "archive",
            "归档",
            frozenset({RESOLVED, REJECTED, TERMINATED, WITHDRAWN}),
            ARCHIVED,
            frozenset({VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN}),
            (),
            at_level="any",
        ),
    )
}
ACTIONS = tuple(TRANSITIONS)


@dataclass(frozen=True)
class CaseState:
    """What the table needs to know about a case."""

    status: str
    handling_level: str
    escalation_target: str | None = None  # level of a pending escalation
    red_without_leader: bool = False


@dataclass(frozen=True)
class ActorStanding:
    """The actor's roles on this case, each with the level it stands at (e.g. mediator@village)."""

    roles_at: frozenset[tuple[str, str]]  # {(role, level)}


class Refused(DomainError):
    """A move the table does not allow."""

    code = "transition_refused"
    message = "当前状态下不能执行该操作"


REFUSALS = {
    "unknown_action": "未知的操作",
    "wrong_status": "案件当前状态不允许该操作",
    "role_not_allowed": "您的角色不能执行该操作",
    "wrong_level": "该案件不在您所在层级办理",
    "escalation_pending": "案件正在等待上级接收，请等待接收或退回",
    "no_escalation_pending": "该案件没有待接收的上报",
    "leader_required": "红色风险案件须先指定包案领导",
    "missing_field": "缺少必填内容",
}


def _refuse(code: str, **details) -> Refused:
    return Refused(REFUSALS[code], code=code, details=details or None)


def workers_at(level: str) -> frozenset[str]:
    """Roles that work cases at a level."""
    return WORKERS.get(level, frozenset())


def decide(action: str, case: CaseState, actor: ActorStanding, payload: dict | None = None) -> str:
    """The status after `action`, or raise Refused with a stable code (pure)."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise _refuse("unknown_action")
    if case.status not in t.sources:
        raise _refuse("wrong_status", status_now=case.status, action=action)
    if t.at_level == "escalation_target":
        if case.escalation_target is None:
            raise _refuse("no_escalation_pending")
        levels = (case.escalation_target,)
        roles = workers_at(case.escalation_target)
    elif t.at_level == "any":
        levels = None
        roles = t.roles
    else:
        if case.escalation_target is not None and action not in ("refer", "withdraw"):
            raise _refuse("escalation_pending")
        levels = ACTING_LEVELS.get(case.handling_level, ())
        roles = t.roles or workers_at(case.handling_level) | (
            workers_at(VILLAGE) if case.handling_level == GRID else frozenset()
        )
    held = {r for r, _ in actor.roles_at}
    if not held & roles:
        raise _refuse("role_not_allowed")
    if levels is not None and not any(r in roles and lv in levels for r, lv in actor.roles_at):
        raise _refuse("wrong_level")
    if case.red_without_leader and action not in RED_WITHOUT_LEADER_ALLOWED:
        raise _refuse("leader_required")
    missing = [f for f in t.requires if (payload or {}).get(f) in (None, "", [], {})]
    if missing:
        raise Refused(
            REFUSALS["missing_field"],
            code="missing_field",
            fields={f: ["必填项不能为空"] for f in missing},
        )
    return case.status if t.target is SAME else t.target


def visit_outcome(result: str, current_status: str) -> str:
    """Where a follow-up visit takes the case: only a performed agreement resolves it (the
    confirming visit); not performed, retracted or recurred reopens it (counts as 反复)."""
    if result == "performed":
        return RESOLVED
    if result in ("not_performed", "retracted", "recurred"):
        return REOPENED
    if result == "sued":
        return TERMINATED
    if result == "partly":
        return REOPENED if current_status == RESOLVED else FOLLOW_UP
    # judicial confirmation applied for: keep visiting until performance is confirmed.
    return RESOLVED if current_status == RESOLVED else FOLLOW_UP


def check_level_move(action: str, current: str, target: str) -> None:
    """Escalation goes up one or more levels; a return goes down."""
    if target not in LEVELS or current not in LEVELS:
        raise Refused("层级不正确", code="invalid_level", fields={"to_level": ["层级不正确"]})
    up = LEVELS.index(target) > LEVELS.index(current)
    if action == "escalate" and not up:
        raise Refused(
            "只能上报到更高层级",
            code="invalid_level",
            fields={"to_level": ["只能上报到更高层级"]},
        )
    if (action == "return_down" and up) or (action == "return_down" and target == current):
        raise Refused(
            "只能交办到更低层级",
            code="invalid_level",
            fields={"to_level": ["只能交办到更低层级"]},
        )
