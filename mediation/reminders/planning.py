"""Which reminders a case should have right now (pure): derived from what is due on the case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mediation.disputes.deadlines import business_day, end_of

LEVEL_ROLE = {"village": "mediator", "township": "center_staff", "county": "county_admin"}
# Who is told of a RED case at once (domain §3: "RED → township centre at once"), by level: the
# township centre always; the county centre when a deployment adds it (config RED_ALERT_LEVELS).
# The case's 包案领导 is told too once assigned (red_case_leader); ORANGE reaches the township in
# its daily digest; overdue items go one level up as 督办 (NEXT_LEVEL, supervisor_for).
RED_ALERT_ROLES = {"township": "center_staff", "county": "county_admin"}
DEFAULT_RED_ALERT_LEVELS = ("township",)
NEXT_LEVEL = {"grid": "township", "village": "township", "township": "county", "county": None}
TITLES = {
    "acceptance": "请在期限内作出是否受理的决定",
    "mediation": "调解期限将到，请及时办结或经双方同意延期",
    "escalation_acceptance": "有上报案件等待接收",
    "follow_up_visit": "请按期回访，核实协议履行情况",
    "second_visit": "红橙风险案件第二次回访",
    "red_case": "红色风险案件，请当日处置并指定包案领导",
    "red_case_leader": "您包案的红色风险案件",
    "judicial_confirmation": "调解协议司法确认申请期限将到",
    "supervision": "督办：下级事项已逾期",
    "daily_digest": "综治中心每日摘要",
    "monthly_report": "本月矛盾纠纷排查化解情况请于 18 日前报送",
    "screening_due": "本网格矛盾纠纷排查尚未完成，请按时排查（无发现也须零报告）",
    "calendar_missing": "下一年度节假日安排尚未导入，跨年期限为暂定",
}


@dataclass(frozen=True)
class Recipient:
    """A person, or whoever holds a role over an area."""

    user_id: int | None = None
    role: str | None = None
    area: str | None = None

    @property
    def key(self) -> str:
        """Stable text for the reminder key."""
        return f"user:{self.user_id}" if self.user_id else f"{self.role}@{self.area}"


@dataclass(frozen=True)
class Want:
    """A reminder the case should have."""

    kind: str
    due_at: datetime
    remind_at: datetime
    recipient: Recipient

    def key(self, dispute_id) -> str:
        """Unique per case + kind + deadline + recipient."""
        due = self.due_at.astimezone(UTC).isoformat()  # the same instant, one spelling
        return f"case:{dispute_id}:{self.kind}:{due}:{self.recipient.key}"


@dataclass(frozen=True)
class CaseFacts:
    """What planning needs to know about a case."""

    id: object
    status: str
    handling_level: str
    escalation_target: str | None
    cell_code: str
    village_code: str
    township_code: str
    county_code: str
    next_due_at: datetime | None
    next_due_kind: str | None
    risk_level: str
    red_since: datetime | None
    leader_id: int | None
    judicial_due_on: object | None  # date, while an agreement awaits confirmation
    grid_worker_id: int | None  # the cell's grid worker today


def level_recipient(level: str, facts: CaseFacts) -> Recipient:
    """Who works a case at a level."""
    if level == "grid":
        if facts.grid_worker_id:
            return Recipient(user_id=facts.grid_worker_id)
        return Recipient(role="mediator", area=facts.village_code)
    area = {
        "village": facts.village_code,
        "township": facts.township_code,
        "county": facts.county_code,
    }[level]
    return Recipient(role=LEVEL_ROLE[level], area=area)


def supervisor_for(level: str, facts_codes: dict) -> Recipient | None:
    """The next level up, which supervises (督办) an overdue item."""
    nxt = NEXT_LEVEL.get(level)
    if nxt is None:
        return None
    return Recipient(role=LEVEL_ROLE[nxt], area=facts_codes[nxt])


def wanted(
    facts: CaseFacts,
    *,
    lead: dict[str, timedelta],
    red_alert_levels: tuple[str, ...] = DEFAULT_RED_ALERT_LEVELS,
) -> list[Want]:
    """The reminders this case should have now."""
    out: list[Want] = []
    if facts.next_due_at and facts.next_due_kind:
        kind = facts.next_due_kind
        if kind in ("follow_up_visit", "second_visit"):
            who = level_recipient("grid", facts)
        elif kind == "escalation_acceptance":
            who = level_recipient(facts.escalation_target, facts)
        else:
            level = facts.handling_level if facts.handling_level != "referred" else "village"
            who = level_recipient(level, facts)
        out.append(
            Want(
                kind, facts.next_due_at, facts.next_due_at - lead.get(kind, timedelta(days=1)), who
            )
        )
    open_case = facts.status in (
        "registered",
        "accepted",
        "mediating",
        "agreed",
        "follow_up",
        "reopened",
    )
    if facts.risk_level == "red" and facts.red_since and open_case:
        due = end_of(business_day(facts.red_since))
        areas = {"township": facts.township_code, "county": facts.county_code}
        for level in red_alert_levels:
            out.append(
                Want(
                    "red_case",
                    due,
                    facts.red_since,
                    Recipient(role=RED_ALERT_ROLES[level], area=areas[level]),
                )
            )
        if facts.leader_id:
            out.append(
                Want("red_case_leader", due, facts.red_since, Recipient(user_id=facts.leader_id))
            )
    if facts.judicial_due_on and facts.status in ("agreed", "follow_up"):
        due = end_of(facts.judicial_due_on)
        level = facts.handling_level if facts.handling_level in LEVEL_ROLE else "village"
        out.append(
            Want(
                "judicial_confirmation",
                due,
                due - lead.get("judicial_confirmation", timedelta(days=5)),
                level_recipient(level, facts),
            )
        )
    return out
