"""派单: the centre gives a case to a named mediator or a mediation body with a deadline; the
assignee accepts it or returns it with a reason; acceptance overdue is supervised (督办) like an
escalation waiting for acceptance (its reminder is a case reminder, swept by the supervise job)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mediation.channels.enums import ACCEPTED, PENDING, RETURNED
from mediation.channels.models import Dispatch, MediationBody
from mediation.disputes import deadlines
from mediation.disputes.access import get_dispute, visible_clause
from mediation.disputes.audit import record_event
from mediation.disputes.deadlines import Limits
from mediation.disputes.enums import LEVEL_BY_CODE_LENGTH, OPEN_STATUSES, REFERRED
from mediation.disputes.models import Dispute
from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN, MEDIATOR
from mediation.users.models import User

ACCEPT_DAYS = 1  # product rule: a dispatched case is accepted or returned within 1 working day
DISPATCHERS = (CENTER_STAFF, COUNTY_ADMIN)


def _recipient(d: Dispatch, body: MediationBody | None) -> Recipient:
    if d.assignee_user_id:
        return Recipient(user_id=d.assignee_user_id)
    return Recipient(role=MEDIATOR, area=body.area_code)


def _key(d: Dispatch, what: str) -> str:
    return f"dispatch:{d.id}:{what}"


def _check_dispatcher(actor: Actor, dispute: Dispute) -> None:
    codes = {dispute.township_code, dispute.county_code}
    for role in DISPATCHERS:
        if codes & set(actor.roles.get(role, ())):
            return
    raise Forbidden("只有综治中心可以派单", code="role_not_allowed")


def _assignee_level(db_session: Session, d: Dispatch, dispute: Dispute) -> str | None:
    """The level the assignee works at for this case (the body's level, or the mediator's)."""
    if d.body_id:
        return db_session.get(MediationBody, d.body_id).level
    user = db_session.get(User, d.assignee_user_id)
    codes = sorted(
        (r.area_code for r in user.roles if r.role == MEDIATOR and r.area_code),
        key=len,
        reverse=True,
    )
    for code in codes:
        if code in (dispute.village_code, dispute.township_code, dispute.county_code):
            return LEVEL_BY_CODE_LENGTH[len(code)]
    return None


def dispatch_case(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    assignee_user_id: int | None,
    body_id: int | None,
    due_on: date,
    note: str | None,
    now: datetime,
    limits: Limits,
) -> Dispatch:
    """Assign an open case to a mediator or a body, with a deadline (one pending at a time)."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    _check_dispatcher(actor, dispute)
    if dispute.status not in OPEN_STATUSES or dispute.status == REFERRED:
        raise Conflict("该案件当前状态不能派单", code="wrong_status")
    if (assignee_user_id is None) == (body_id is None):
        raise ValidationFailed(
            "请选择一名调解员或一个调解组织（二选一）", code="assignee_required", field="assignee"
        )
    today = deadlines.business_day(now)
    if due_on < today:
        raise ValidationFailed("办理期限不能早于今天", code="deadline_in_past", field="due_on")
    body = db_session.get(MediationBody, body_id) if body_id else None
    if body_id and (body is None or not body.active or body.area_code[:6] != dispute.county_code):
        raise ValidationFailed("该调解组织不存在或不在本县", code="body_not_found", field="body_id")
    d = Dispatch(
        dispute_id=dispute.id,
        assignee_user_id=assignee_user_id,
        body_id=body_id,
        due_on=due_on,
        accept_due_at=deadlines.end_of(deadlines.add_days(limits, "accept", today, ACCEPT_DAYS)),
        status=PENDING,
        note=note,
        requested_by=actor.user_id,
        requested_at=now,
    )
    if assignee_user_id and _assignee_level_check(db_session, d, dispute) is None:
        raise ValidationFailed(
            "该调解员不在本案所在村、乡镇或县", code="assignee_not_found", field="assignee_user_id"
        )
    try:
        with db_session.begin_nested():
            db_session.add(d)
            db_session.flush()
    except IntegrityError:
        raise Conflict("该案件已有待接收的派单", code="dispatch_pending") from None
    reminders.upsert(
        db_session,
        key=_key(d, "accept"),
        kind="dispatch_acceptance",
        dispute_id=dispute.id,
        area=dispute.cell_code,
        recipient=_recipient(d, body),
        due_at=d.accept_due_at,
        remind_at=now,
        now=now,
        body={"case_number": dispute.case_number, "dispatch_id": d.id},
    )
    _event(db_session, dispute, actor, "dispatch", now, {"dispatch": [None, _who(d, body)]}, note)
    return d


def _assignee_level_check(db_session, d, dispute):
    user = db_session.get(User, d.assignee_user_id)
    if user is None or not user.is_active:
        return None
    return _assignee_level(db_session, d, dispute)


def _who(d: Dispatch, body: MediationBody | None) -> str:
    return body.name if body else f"user:{d.assignee_user_id}"


def _event(db_session, dispute, actor, action, now, changes, reason) -> None:
    dispute.version += 1
    record_event(
        db_session, dispute, actor, action, now, dispute.status, dispute.status, changes, reason
    )
    db_session.flush()


def _assigned_to(db_session: Session, d: Dispatch, actor: Actor) -> bool:
    if d.assignee_user_id:
        return d.assignee_user_id == actor.user_id
    body = db_session.get(MediationBody, d.body_id)
    return actor.user_id in (body.member_ids or [])


def get_dispatch(db_session: Session, *, actor: Actor, dispatch_id: int) -> Dispatch:
    """A dispatch the actor may see (its assignee, or anyone who sees the case)."""
    d = db_session.get(Dispatch, dispatch_id)
    if d is None:
        raise NotFound("未找到该派单", code="dispatch_not_found")
    if not _assigned_to(db_session, d, actor):
        get_dispute(db_session, actor=actor, dispute_id=d.dispute_id)  # NotFound outside
    return d


def decide_dispatch(
    db_session: Session,
    *,
    actor: Actor,
    dispatch_id: int,
    accept: bool,
    reason: str | None,
    now: datetime,
) -> Dispatch:
    """The assignee accepts (the case moves to the assignee's level and its deadline binds) or
    returns it with a reason (back to the centre)."""
    d = db_session.scalar(select(Dispatch).where(Dispatch.id == dispatch_id).with_for_update())
    if d is None or not _assigned_to(db_session, d, actor):
        raise NotFound("未找到该派单", code="dispatch_not_found")
    if d.status != PENDING:
        raise Conflict("该派单已处理", code="dispatch_decided", details={"status": d.status})
    if not accept and not (reason or "").strip():
        raise ValidationFailed("退回派单须说明理由", code="missing_field", field="reason")
    dispute = db_session.scalar(select(Dispute).where(Dispute.id == d.dispute_id).with_for_update())
    d.status = ACCEPTED if accept else RETURNED
    d.decided_by, d.decided_at, d.decision_reason = actor.user_id, now, reason
    reminders.cancel_keys(db_session, keys=[_key(d, "accept")], now=now, reason=d.status)
    changes = {"dispatch_status": [PENDING, d.status]}
    if accept:
        level = _assignee_level(db_session, d, dispute)
        if level and level != dispute.handling_level and dispute.status != REFERRED:
            changes["handling_level"] = [dispute.handling_level, level]
            dispute.handling_level = level
        if dispute.mediation_due_on is None or d.due_on < dispute.mediation_due_on:
            changes["mediation_due_on"] = [
                dispute.mediation_due_on and dispute.mediation_due_on.isoformat(),
                d.due_on.isoformat(),
            ]
            dispute.mediation_due_on = d.due_on
    action = "accept_dispatch" if accept else "return_dispatch"
    _event(db_session, dispute, actor, action, now, changes, reason)
    return d


def list_dispatches(db_session: Session, *, actor: Actor, pending_only: bool) -> list[Dispatch]:
    """Dispatches addressed to me, and those of the cases my centre sees, newest first."""
    stmt = select(Dispatch).join(Dispute, Dispute.id == Dispatch.dispute_id)
    mine = Dispatch.assignee_user_id == actor.user_id
    bodies = select(MediationBody.id).where(MediationBody.member_ids.contains([actor.user_id]))
    stmt = stmt.where(mine | Dispatch.body_id.in_(bodies) | visible_clause(actor))
    if pending_only:
        stmt = stmt.where(Dispatch.status == PENDING)
    return list(db_session.scalars(stmt.order_by(Dispatch.id.desc()).limit(200)))
