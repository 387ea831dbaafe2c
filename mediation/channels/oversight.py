"""挂牌督办 and 领导批示 (a leader or the county marks a case, with an instruction and a deadline,
for the unit handling it; open in its inbox and lists until answered), and 包案 progress (a
包案领导's entries on their RED case, ended by 销号 after the verifying visit, never before)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mediation.channels.models import LeaderProgress, SupervisionOrder
from mediation.disputes import deadlines
from mediation.disputes.access import get_dispute, visible_clause
from mediation.disputes.audit import record_event
from mediation.disputes.enums import OPEN_STATUSES, RED, RESOLVED
from mediation.disputes.models import Dispute
from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN, LEADER, VILLAGE_ADMIN

ORDER_KINDS = {"listed": "挂牌督办", "instruction": "领导批示"}
# The unit that answers for a case, by its handling level (a referred case: the township centre).
UNIT = {
    "grid": (VILLAGE_ADMIN, "village_code"),
    "village": (VILLAGE_ADMIN, "village_code"),
    "township": (CENTER_STAFF, "township_code"),
    "county": (COUNTY_ADMIN, "county_code"),
    "referred": (CENTER_STAFF, "township_code"),
}


def _event(db_session, dispute: Dispute, actor: Actor, action: str, now, changes, reason):
    dispute.version += 1
    record_event(
        db_session, dispute, actor, action, now, dispute.status, dispute.status, changes, reason
    )
    db_session.flush()


def order_supervision(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    kind: str,
    instruction: str,
    due_on: date,
    now: datetime,
) -> SupervisionOrder:
    """Mark an open case for supervision with an instruction and a deadline."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    if not actor.has(LEADER, COUNTY_ADMIN):
        raise Forbidden("只有领导或县级综治中心可以挂牌督办", code="role_not_allowed")
    if kind not in ORDER_KINDS:
        raise ValidationFailed("督办类型不正确", code="invalid_kind", field="kind")
    if dispute.status not in OPEN_STATUSES:
        raise Conflict("已办结的案件不能挂牌督办", code="wrong_status")
    if due_on < deadlines.business_day(now):
        raise ValidationFailed("办理期限不能早于今天", code="deadline_in_past", field="due_on")
    role, column = UNIT[dispute.handling_level]
    o = SupervisionOrder(
        dispute_id=dispute.id,
        kind=kind,
        instruction=instruction.strip(),
        due_on=due_on,
        unit_role=role,
        unit_area=getattr(dispute, column),
        ordered_by=actor.user_id,
        ordered_at=now,
    )
    db_session.add(o)
    db_session.flush()
    reminders.upsert(
        db_session,
        key=f"listed:{o.id}",
        kind="listed_supervision",
        dispute_id=dispute.id,
        area=dispute.cell_code,
        recipient=Recipient(role=role, area=o.unit_area),
        due_at=deadlines.end_of(due_on),
        remind_at=now,
        now=now,
        body={"case_number": dispute.case_number, "instruction": o.instruction, "kind": kind},
    )
    _event(db_session, dispute, actor, "order_supervision", now, {kind: [None, o.id]}, instruction)
    return o


def answer_supervision(
    db_session: Session, *, actor: Actor, order_id: int, answer: str, now: datetime
) -> SupervisionOrder:
    """The supervised unit answers (once); the order leaves the inbox and the lists."""
    o = db_session.scalar(
        select(SupervisionOrder).where(SupervisionOrder.id == order_id).with_for_update()
    )
    if o is None or o.unit_area not in actor.roles.get(o.unit_role, ()):
        raise NotFound("未找到该督办事项", code="supervision_not_found")
    if o.answered_at is not None:
        raise Conflict("该督办事项已答复", code="already_answered")
    if not answer.strip():
        raise ValidationFailed("请填写办理情况", code="missing_field", field="answer")
    o.answer, o.answered_by, o.answered_at = answer.strip(), actor.user_id, now
    reminders.cancel_keys(db_session, keys=[f"listed:{o.id}"], now=now, reason="answered")
    dispute = db_session.scalar(select(Dispute).where(Dispute.id == o.dispute_id).with_for_update())
    _event(
        db_session, dispute, actor, "answer_supervision", now, {"answered": [None, o.id]}, answer
    )
    return o


def list_orders(db_session: Session, *, actor: Actor, open_only: bool) -> list[SupervisionOrder]:
    """Supervision orders on the cases I see (open ones until answered), newest first."""
    stmt = select(SupervisionOrder).join(Dispute, Dispute.id == SupervisionOrder.dispute_id)
    stmt = stmt.where(visible_clause(actor))
    if open_only:
        stmt = stmt.where(SupervisionOrder.answered_at.is_(None))
    return list(db_session.scalars(stmt.order_by(SupervisionOrder.id.desc()).limit(200)))


def add_progress(
    db_session: Session, *, actor: Actor, dispute_id, note: str, sign_off: bool, now: datetime
) -> LeaderProgress:
    """A 包案领导's progress entry on their RED case, or its 销号 — only once the case has been
    verified resolved by a follow-up visit."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    if dispute.leader_id != actor.user_id:
        raise Forbidden("只有本案的包案领导可以记录包案进展", code="not_case_leader")
    if dispute.risk_level != RED and dispute.red_since is None:
        raise Conflict("包案进展只记录在红色风险案件上", code="not_red_case")
    if sign_off and dispute.status != RESOLVED:
        raise Conflict(
            "须经回访核实化解后方可销号",
            code="sign_off_before_verification",
            details={"status": dispute.status},
        )
    if not note.strip():
        raise ValidationFailed("请填写进展情况", code="missing_field", field="note")
    entry = LeaderProgress(
        dispute_id=dispute.id,
        kind="sign_off" if sign_off else "progress",
        note=note.strip(),
        leader_id=actor.user_id,
        at=now,
    )
    try:
        with db_session.begin_nested():
            db_session.add(entry)
            db_session.flush()
    except IntegrityError:
        raise Conflict("该案件已销号", code="already_signed_off") from None
    action = "leader_sign_off" if sign_off else "leader_progress"
    _event(db_session, dispute, actor, action, now, {entry.kind: [None, entry.id]}, note)
    return entry


def progress_of(db_session: Session, dispute_id) -> list[LeaderProgress]:
    """A case's 包案 entries, oldest first."""
    return list(
        db_session.scalars(
            select(LeaderProgress)
            .where(LeaderProgress.dispute_id == dispute_id)
            .order_by(LeaderProgress.id)
        )
    )


def orders_of(db_session: Session, dispute_id) -> list[SupervisionOrder]:
    """A case's supervision orders, oldest first."""
    return list(
        db_session.scalars(
            select(SupervisionOrder)
            .where(SupervisionOrder.dispute_id == dispute_id)
            .order_by(SupervisionOrder.id)
        )
    )
