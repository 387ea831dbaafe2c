"""研判 (risk review) meetings of the township centre: what was reviewed (cases, signals, 稳评
items), the decisions, who is responsible and by when; each decision is a supervised task (a
reminder to the person responsible, 督办 to the centre and leaders once overdue)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import Forbidden, NotFound, ValidationFailed
from geo.scope import record_clause
from mediation.disputes.access import visible_clause as dispute_visible
from mediation.disputes.models import Dispute
from mediation.reminders import service as reminders
from mediation.reminders.kinds import Recipient
from mediation.risks.common import check_no_personal_data, check_person, check_township
from mediation.risks.enums import DONE, MEETING_KINDS, PENDING
from mediation.risks.models import MeetingDecision, ReviewMeeting, RiskSignal, StabilityItem
from mediation.risks.register import item_visible
from mediation.risks.signals import signal_visible
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN, LEADER

DECISION_KIND = "risk_decision"
DECISION_TITLE = "研判会议决定事项，请按期落实"
REMIND_BEFORE = timedelta(days=1)


def decision_key(decision_id: int) -> str:
    """The reminder key of a decision."""
    return f"risk_decision:{decision_id}"


def decision_due_at(d: MeetingDecision) -> datetime:
    """End of the decision's deadline day (Asia/Shanghai)."""
    return datetime.combine(d.due_on, time(23, 59, 59), BUSINESS_TZ)


def meeting_visible(actor: Actor):
    """Meetings of the actor's townships (or county)."""
    return record_clause(
        actor.case_scope, township=ReviewMeeting.township_code, county=ReviewMeeting.county_code
    )


def _same_township(rows, township: str, field: str, label) -> None:
    elsewhere = [label(r) for r in rows if r.township_code != township]
    if elsewhere:
        raise ValidationFailed(
            f"研判对象不在本乡镇，不能跨乡镇研判：{'、'.join(map(str, elsewhere))}",
            code="link_other_township",
            field=field,
        )


def _subjects(db_session: Session, actor: Actor, data: dict, township: str) -> dict:
    out = {}
    for field, model, visible, label in (
        ("dispute_ids", Dispute, dispute_visible(actor), lambda r: r.case_number),
        ("signal_ids", RiskSignal, signal_visible(actor), lambda r: r.id),
        ("item_ids", StabilityItem, item_visible(actor), lambda r: r.title),
    ):
        ids = list(dict.fromkeys(data.get(field) or []))
        rows = (
            db_session.scalars(select(model).where(model.id.in_(ids), visible)).all() if ids else []
        )
        if len(rows) != len(ids):
            raise ValidationFailed(
                "研判对象不存在或不在您的范围内", code="subject_not_found", field=field
            )
        _same_township(rows, township, field, label)
        out[field] = ids
    return out


def record_meeting(db_session: Session, *, actor: Actor, data: dict, now: datetime):
    """Record a meeting with its decisions; each decision becomes a supervised reminder."""
    township = check_township(actor, data.get("township_code"))
    if data.get("kind") not in MEETING_KINDS:
        raise ValidationFailed("研判类型不对", code="invalid_kind", field="kind")
    held_at = data["held_at"]
    if held_at > now:
        raise ValidationFailed("会议时间不能晚于现在", code="invalid_date", field="held_at")
    subjects = _subjects(db_session, actor, data, township)
    decisions = data.get("decisions") or []
    for i, dec in enumerate(decisions):
        check_person(
            db_session, dec.get("responsible_id"), township, field=f"decisions.{i}.responsible_id"
        )
        if dec["due_on"] < held_at.astimezone(BUSINESS_TZ).date():
            raise ValidationFailed(
                "落实期限不能早于会议日期", code="invalid_date", field=f"decisions.{i}.due_on"
            )
        check_no_personal_data(dec.get("content"), field=f"decisions.{i}.content")
    meeting = ReviewMeeting(
        township_code=township,
        county_code=township[:6],
        kind=data["kind"],
        title=data["title"].strip(),
        held_at=held_at,
        attendees=(data.get("attendees") or "").strip() or None,
        summary=check_no_personal_data(data["summary"], field="summary"),
        recorded_by=actor.user_id,
        created_at=now,
        **subjects,
    )
    db_session.add(meeting)
    db_session.flush()
    for i, dec in enumerate(decisions):
        row = MeetingDecision(
            meeting_id=meeting.id,
            position=i,
            content=dec["content"].strip(),
            responsible_id=dec["responsible_id"],
            due_on=dec["due_on"],
            state=PENDING,
        )
        db_session.add(row)
        db_session.flush()
        due = decision_due_at(row)
        reminders.upsert(
            db_session,
            key=decision_key(row.id),
            kind=DECISION_KIND,
            title=DECISION_TITLE,
            recipient=Recipient(user_id=row.responsible_id),
            due_at=due,
            remind_at=max(due - REMIND_BEFORE, now),
            now=now,
            area=township,
            body={
                "meeting_id": meeting.id,
                "decision_id": row.id,
                "content": row.content,
                "due_on": row.due_on.isoformat(),
                "township_code": township,
            },
        )
    db_session.flush()
    return meeting


def complete_decision(
    db_session: Session, *, actor: Actor, decision_id: int, data: dict, now: datetime
) -> MeetingDecision:
    """The person responsible (or the centre) reports a decision carried out; its reminder and
    any 督办 on it are cancelled. Idempotent."""
    row = db_session.scalar(
        select(MeetingDecision)
        .join(ReviewMeeting, ReviewMeeting.id == MeetingDecision.meeting_id)
        .where(
            MeetingDecision.id == decision_id,
            meeting_visible(actor) | (MeetingDecision.responsible_id == actor.user_id),
        )
        .with_for_update(of=MeetingDecision)
    )
    if row is None:
        raise NotFound("未找到该决定事项", code="decision_not_found")
    if row.state == DONE:
        return row
    meeting = db_session.get(ReviewMeeting, row.meeting_id)
    staff = actor.has(CENTER_STAFF, LEADER, COUNTY_ADMIN) and actor.case_scope.contains_code(
        meeting.township_code
    )
    if row.responsible_id != actor.user_id and not staff:
        raise Forbidden("只有责任人或综治中心可以报告落实", code="not_responsible")
    note = check_no_personal_data(data.get("note"), field="note")
    if not note:
        raise ValidationFailed("请填写落实情况", code="note_required", field="note")
    row.state, row.done_at, row.done_by, row.done_note = DONE, now, actor.user_id, note
    reminders.cancel_keys(db_session, keys=[decision_key(row.id)], now=now, reason="done")
    db_session.flush()
    return row


def decision_row(d: MeetingDecision, now: datetime) -> dict:
    """A decision as the API shows it."""
    return {
        "id": d.id,
        "content": d.content,
        "responsible_id": d.responsible_id,
        "due_on": d.due_on,
        "state": d.state,
        "overdue": d.state == PENDING and now > decision_due_at(d),
        "done_at": d.done_at,
        "done_note": d.done_note,
    }


def meeting_row(db_session: Session, m: ReviewMeeting, now: datetime) -> dict:
    """A meeting with its decisions."""
    decisions = db_session.scalars(
        select(MeetingDecision)
        .where(MeetingDecision.meeting_id == m.id)
        .order_by(MeetingDecision.position)
    ).all()
    return {
        "id": m.id,
        "township_code": m.township_code,
        "kind": m.kind,
        "title": m.title,
        "held_at": m.held_at,
        "attendees": m.attendees,
        "summary": m.summary,
        "dispute_ids": m.dispute_ids,
        "signal_ids": m.signal_ids,
        "item_ids": m.item_ids,
        "decisions": [decision_row(d, now) for d in decisions],
    }


def get_meeting(db_session: Session, *, actor: Actor, meeting_id: int, now: datetime) -> dict:
    """A visible meeting, or NotFound."""
    m = db_session.scalar(
        select(ReviewMeeting).where(ReviewMeeting.id == meeting_id, meeting_visible(actor))
    )
    if m is None:
        raise NotFound("未找到该研判会议", code="meeting_not_found")
    return meeting_row(db_session, m, now)


def list_meetings(
    db_session: Session, *, actor: Actor, filters: dict, now: datetime, limit: int = 100
) -> list[dict]:
    """Visible meetings, newest first."""
    stmt = select(ReviewMeeting).where(meeting_visible(actor))
    if filters.get("area"):
        stmt = stmt.where(
            ReviewMeeting.township_code.startswith(filters["area"][:9], autoescape=True)
        )
    rows = db_session.scalars(
        stmt.order_by(ReviewMeeting.held_at.desc(), ReviewMeeting.id.desc()).limit(limit)
    )
    return [meeting_row(db_session, m, now) for m in rows]
