"""What reminders a case wants (planning, pure) and keeping its reminder rows in step with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import fastsql
from core.clock import BUSINESS_TZ
from mediation.disputes.deadlines import business_day, end_of
from mediation.disputes.enums import OPEN_STATUSES, ORANGE, RED, UNASSESSED
from mediation.disputes.models import Agreement, CourtOutcome, Dispute
from mediation.reminders import service as reminders
from mediation.reminders.kinds import TITLES, Recipient
from mediation.reminders.models import CANCELLED, OPEN_STATES, PENDING, Reminder

LEVEL_ROLE = {"village": "mediator", "township": "center_staff", "county": "county_admin"}
LEVELS_WORKED = ("grid", *LEVEL_ROLE)
# Who is told of a RED case at once (domain §3: "RED → township centre at once"), by level: the
# township centre always; the county centre when a deployment adds it (config RED_ALERT_LEVELS).
# The case's 包案领导 is told too once assigned (red_case_leader); a case that becomes ORANGE
# (registered so or reassessed) reaches the township centre within 24 h (orange_case, and the
# next daily digest); overdue items go one level up as 督办 (NEXT_LEVEL, supervisor_for).
ORANGE_NOTICE = timedelta(hours=24)
RED_ALERT_ROLES = {"township": "center_staff", "county": "county_admin"}
DEFAULT_RED_ALERT_LEVELS = ("township",)
NEXT_LEVEL = {"grid": "township", "village": "township", "township": "county", "county": None}
# The kinds a case plans for itself (`wanted`); other domains' reminders on a case (dispatch,
# 挂牌督办 …) are theirs to keep and cancel.
CASE_KINDS = frozenset(
    {
        "acceptance",
        "mediation",
        "escalation_acceptance",
        "follow_up_visit",
        "second_visit",
        "red_case",
        "red_case_leader",
        "judicial_confirmation",
        "referral_result",
        "risk_assessment",
        "orange_case",
    }
)


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
    orange_since: datetime | None
    risk_assess_due_at: datetime | None
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
            # A referred case is followed by the township centre until its result comes back.
            level = facts.handling_level if facts.handling_level != "referred" else "township"
            who = level_recipient(level, facts)
        out.append(
            Want(
                kind, facts.next_due_at, facts.next_due_at - lead.get(kind, timedelta(days=1)), who
            )
        )
    open_case = facts.status in OPEN_STATUSES
    if facts.risk_level == UNASSESSED and facts.risk_assess_due_at and open_case:
        level = facts.handling_level if facts.handling_level in LEVELS_WORKED else "village"
        due = facts.risk_assess_due_at
        out.append(
            Want(
                "risk_assessment",
                due,
                due - lead.get("risk_assessment", timedelta(days=1)),
                level_recipient(level, facts),
            )
        )
    if facts.risk_level == ORANGE and facts.orange_since and open_case:
        out.append(
            Want(
                "orange_case",
                facts.orange_since + ORANGE_NOTICE,
                facts.orange_since,
                Recipient(role=RED_ALERT_ROLES["township"], area=facts.township_code),
            )
        )
    if facts.risk_level == RED and facts.red_since and open_case:
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


# ------------------------------------------------------------------ the case's rows


DEFAULT_LEAD = {
    "acceptance": timedelta(days=1),
    "mediation": timedelta(days=3),
    "escalation_acceptance": timedelta(hours=12),
    "follow_up_visit": timedelta(days=1),
    "second_visit": timedelta(days=1),
    "judicial_confirmation": timedelta(days=5),
    "referral_result": timedelta(days=3),
    "risk_assessment": timedelta(days=1),
}


SQL_GRID_WORKER = """
    SELECT user_id FROM cell_assignment
    WHERE cell_code = %(cell)s AND valid_from <= %(day)s AND (valid_to IS NULL OR valid_to > %(day)s)
    LIMIT 1"""


def _grid_worker(db_session: Session, cell_code: str, day: date) -> int | None:
    """The cell's grid worker on `day` (read on every registration and transition: prepared)."""
    row = fastsql.fetch_one(db_session, SQL_GRID_WORKER, {"cell": cell_code, "day": day})
    return row.user_id if row else None


def facts_of(db_session: Session, dispute: Dispute, now: datetime) -> CaseFacts:
    """What planning needs, read from the case."""
    judicial = None
    if dispute.status in ("agreed", "follow_up"):
        # the window of the written agreement in force, until an application is recorded
        judicial = db_session.scalar(
            select(Agreement.judicial_confirmation_due_on)
            .where(
                Agreement.dispute_id == dispute.id,
                Agreement.form == "written",
                ~select(CourtOutcome.id).where(CourtOutcome.agreement_id == Agreement.id).exists(),
            )
            .order_by(Agreement.id.desc())
            .limit(1)
        )
    return CaseFacts(
        id=dispute.id,
        status=dispute.status,
        handling_level=dispute.handling_level,
        escalation_target=dispute.escalation_target,
        cell_code=dispute.cell_code,
        village_code=dispute.village_code,
        township_code=dispute.township_code,
        county_code=dispute.county_code,
        next_due_at=dispute.next_due_at,
        next_due_kind=dispute.next_due_kind,
        risk_level=dispute.risk_level,
        red_since=dispute.red_since,
        orange_since=dispute.orange_since,
        risk_assess_due_at=dispute.risk_assess_due_at,
        leader_id=dispute.leader_id,
        judicial_due_on=judicial,
        grid_worker_id=_grid_worker(
            db_session, dispute.cell_code, now.astimezone(BUSINESS_TZ).date()
        ),
    )


def for_new_case(
    db_session: Session,
    *,
    dispute: Dispute,
    now: datetime,
    red_alert_levels: tuple[str, ...] = DEFAULT_RED_ALERT_LEVELS,
) -> list[Reminder]:
    """The reminders a case being registered needs, as rows to add with it (not yet added): the
    case has no reminders to reconcile, so registration writes them with the case."""
    wants = wanted(
        facts_of(db_session, dispute, now), lead=DEFAULT_LEAD, red_alert_levels=red_alert_levels
    )
    return [
        Reminder(
            key=w.key(dispute.id),
            kind=w.kind,
            dispute_id=dispute.id,
            area_code=dispute.cell_code,
            recipient_id=w.recipient.user_id,
            recipient_role=w.recipient.role,
            recipient_area=w.recipient.area,
            due_at=w.due_at,
            remind_at=w.remind_at,
            state=PENDING,
            title=TITLES[w.kind],
            body={"case_number": dispute.case_number},
            created_at=now,
        )
        for w in {w.key(dispute.id): w for w in wants}.values()
    ]


def sync_case(
    db_session: Session,
    *,
    dispute: Dispute,
    now: datetime,
    reason: str,
    red_alert_levels: tuple[str, ...] = DEFAULT_RED_ALERT_LEVELS,
) -> None:
    """Create the reminders the case now needs, cancel those it no longer needs (flush only)."""
    wants = wanted(
        facts_of(db_session, dispute, now), lead=DEFAULT_LEAD, red_alert_levels=red_alert_levels
    )
    keys = {w.key(dispute.id): w for w in wants}
    current = db_session.scalars(
        select(Reminder).where(Reminder.dispute_id == dispute.id, Reminder.state.in_(OPEN_STATES))
    ).all()
    for r in current:
        if r.kind in CASE_KINDS and r.key not in keys:
            reminders.cancel(r, now, reason)
    open_ids = {r.id for r in current if r.state != CANCELLED}
    for r in current:  # supervision lives as long as the overdue item it supervises
        if r.kind == "supervision" and r.parent_id not in open_ids:
            reminders.cancel(r, now, reason)
    live = {r.key for r in current if r.state != CANCELLED}
    for key, w in keys.items():
        if key in live:
            continue
        reminders.upsert(
            db_session,
            key=key,
            kind=w.kind,
            dispute_id=dispute.id,
            area=dispute.cell_code,
            recipient=w.recipient,
            due_at=w.due_at,
            remind_at=w.remind_at,
            now=now,
            body={"case_number": dispute.case_number},
        )
    db_session.flush()
