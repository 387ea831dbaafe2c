"""Named queries for disputes: console list, task list, detail, timeline (all scoped)."""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime, timedelta

from geoalchemy2.shape import to_shape
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import ValidationFailed
from geo import crs as coordinates
from mediation.disputes.access import get_dispute, visible_clause
from mediation.disputes.audit import timeline_row
from mediation.disputes.categories import category_labels
from mediation.disputes.enums import (
    CATEGORIES,
    LEVEL_LABELS,
    RISK_LABELS,
    STATUS_LABELS,
)
from mediation.disputes.models import (
    Agreement,
    Attachment,
    CourtOutcome,
    Dispute,
    DisputeEvent,
    DisputeLink,
    Escalation,
    FollowUpVisit,
    MediationSession,
    Party,
    RiskAssessment,
)
from mediation.reminders.models import OPEN_STATES, Reminder
from mediation.reminders.service import addressed_to
from mediation.users.actor import Actor
from mediation.users.models import User


def encode_cursor(at: datetime, key: uuid.UUID) -> str:
    """Opaque keyset cursor."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of encode_cursor; a bad cursor is a field error."""
    try:
        at, key = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(key)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("分页游标无效", code="invalid_cursor", field="cursor") from None


def _filters(actor: Actor, f: dict, now: datetime) -> list:
    conds = [visible_clause(actor)]
    if f.get("status"):
        conds.append(Dispute.status.in_(f["status"]))
    if f.get("handling_level"):
        conds.append(Dispute.handling_level.in_(f["handling_level"]))
    if f.get("risk_level"):
        conds.append(Dispute.risk_level.in_(f["risk_level"]))
    if f.get("category"):
        conds.append(Dispute.category.in_(f["category"]))
    if f.get("key_area"):
        conds.append(Dispute.key_areas.overlap(f["key_area"]))
    if f.get("source"):
        conds.append(Dispute.source.in_(f["source"]))
    if f.get("overdue") is True:
        conds.append(and_(Dispute.next_due_at.is_not(None), Dispute.next_due_at < now))
    if f.get("overdue") is False:
        conds.append(or_(Dispute.next_due_at.is_(None), Dispute.next_due_at >= now))
    if f.get("registered_from"):
        conds.append(Dispute.registered_at >= _start_of(f["registered_from"]))
    if f.get("registered_to"):
        conds.append(Dispute.registered_at < _start_of(f["registered_to"] + timedelta(days=1)))
    if f.get("area"):
        code = f["area"]
        column = {
            15: Dispute.cell_code,
            12: Dispute.village_code,
            9: Dispute.township_code,
            6: Dispute.county_code,
        }.get(len(code))
        if column is None:
            raise ValidationFailed(
                "区划代码应为 6、9、12 或 15 位", code="invalid_code", field="area"
            )
        conds.append(column == code)
    return conds


def _start_of(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), BUSINESS_TZ)


def list_disputes(
    db_session: Session,
    *,
    actor: Actor,
    filters: dict,
    now: datetime,
    limit: int,
    cursor: str | None,
    system: str = coordinates.WGS84,
) -> dict:
    """Newest first, keyset-paginated, with the total count of matching cases; points in
    `system`."""
    conds = _filters(actor, filters, now)
    total = db_session.scalar(select(func.count()).select_from(Dispute).where(*conds))
    stmt = select(Dispute).where(*conds)
    if cursor:
        at, key = decode_cursor(cursor)
        stmt = stmt.where(
            or_(Dispute.registered_at < at, and_(Dispute.registered_at == at, Dispute.id < key))
        )
    rows = db_session.scalars(
        stmt.order_by(Dispute.registered_at.desc(), Dispute.id.desc()).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    labels = category_labels(db_session)
    return {
        "items": [summary(d, now, system, labels) for d in rows],
        "total": total,
        "next_cursor": encode_cursor(rows[-1].registered_at, rows[-1].id) if more else None,
    }


def task_list(
    db_session: Session,
    *,
    actor: Actor,
    now: datetime,
    limit: int,
    system: str = coordinates.WGS84,
) -> list[dict]:
    """What I must do next: the cases whose open reminders are addressed to me (not every case of
    my area — a case waiting at the township is not a grid worker's job), earliest deadline first."""
    first_due = func.min(Reminder.due_at)
    stmt = (
        select(Dispute)
        .join(Reminder, Reminder.dispute_id == Dispute.id)
        .where(visible_clause(actor), addressed_to(actor), Reminder.state.in_(OPEN_STATES))
        .group_by(Dispute.id)
        .order_by(first_due, Dispute.risk_score.desc())
        .limit(limit)
    )
    labels = category_labels(db_session)
    return [summary(d, now, system, labels) for d in db_session.scalars(stmt)]


def point_of(d: Dispute, system: str = coordinates.WGS84) -> dict | None:
    """Where the case happened, in `system` (stored in WGS-84), labelled with it; None for a
    case not located (an address and a village only)."""
    if d.location is None:
        return None
    point = to_shape(d.location)
    lon, lat = coordinates.from_wgs84(point.x, point.y, system)
    return {"lon": float(lon), "lat": float(lat), "crs": system}


def summary(
    d: Dispute, now: datetime, system: str = coordinates.WGS84, labels: dict | None = None
) -> dict:
    """A case in lists and sync (no personal data), its point in `system`; `labels`: the
    category labels of the table (categories.category_labels), else the seeded ones."""
    return {
        "id": d.id,
        "case_number": d.case_number,
        "status": d.status,
        "status_label": STATUS_LABELS[d.status],
        "handling_level": d.handling_level,
        "handling_level_label": LEVEL_LABELS[d.handling_level],
        "escalation_target": d.escalation_target,
        "category": d.category,
        "category_label": (labels or CATEGORIES).get(d.category, d.category),
        "key_areas": d.key_areas,
        "risk_level": d.risk_level,
        "risk_label": RISK_LABELS[d.risk_level],
        "cell_code": d.cell_code,
        "village_code": d.village_code,
        "township_code": d.township_code,
        "occurred_at": d.occurred_at,
        "registered_at": d.registered_at,
        "next_due_at": d.next_due_at,
        "next_due_kind": d.next_due_kind,
        "next_due_provisional": d.next_due_provisional,
        "overdue": bool(d.next_due_at and d.next_due_at < now),
        "version": d.version,
        "description": d.description[:120],
        "location": point_of(d, system),
        "located": d.located,
        "address": d.address,
    }


def detail(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    now: datetime,
    system: str = coordinates.WGS84,
) -> dict:
    """The full case file: parties (masked), sessions, agreement, visits, risk, escalations,
    attachments, links and the timeline."""
    d = get_dispute(db_session, actor=actor, dispute_id=dispute_id)

    def rows(model, order):
        return db_session.scalars(
            select(model).where(model.dispute_id == d.id).order_by(order)
        ).all()

    children = {
        "parties": rows(Party, Party.position),
        "sessions": rows(MediationSession, MediationSession.held_at),
        "agreements": rows(Agreement, Agreement.id),
        "visits": rows(FollowUpVisit, FollowUpVisit.visited_at),
        "risk_history": rows(RiskAssessment, RiskAssessment.id),
        "escalations": rows(Escalation, Escalation.id),
        "attachments": rows(Attachment, Attachment.created_at),
        "links": rows(DisputeLink, DisputeLink.id),
        "court_outcomes": rows(CourtOutcome, CourtOutcome.id),
        "timeline": timeline_rows(db_session, d),
        "category_label": category_labels(db_session).get(d.category, d.category),
    }
    return case_file(d, now, children, system)


OUTSIDE_OWN_CELLS = "outside_own_cells"


def outside_own_cells_of(db_session: Session, dispute_id) -> dict | None:
    """The registration's outside-own-cells flag (nearest own cell, distance), if it had one."""
    changes = db_session.scalar(
        select(DisputeEvent.changes).where(
            DisputeEvent.dispute_id == dispute_id, DisputeEvent.action == "register"
        )
    )
    return _outside_own_cells({"timeline": [{"action": "register", "changes": changes or {}}]})


def _outside_own_cells(children: dict) -> dict | None:
    registered = next((e for e in children["timeline"] if e["action"] == "register"), None)
    pair = (registered or {}).get("changes", {}).get(OUTSIDE_OWN_CELLS)
    return pair[1] if isinstance(pair, list) and len(pair) == 2 else None


def case_file(d: Dispute, now: datetime, children: dict, system: str = coordinates.WGS84) -> dict:
    """The case file built from a case and its child rows (loaded by `detail`, or just written
    by a use case: registration answers from what it wrote instead of reading it back); its
    point in `system`."""
    out = summary(d, now, system)
    out["category_label"] = children.get("category_label") or out["category_label"]
    outside = _outside_own_cells(children)
    warnings = []
    if outside:
        warnings.append(
            {
                "code": OUTSIDE_OWN_CELLS,
                "message": (
                    f"登记位置不在登记网格员负责的网格内，距其最近的网格"
                    f"（{outside['nearest_own_cell']}）约 {round(outside['distance_m'])} 米："
                    "请确认定位和坐标系（wgs84 / gcj02 / bd09）是否正确"
                ),
                "field": "location",
                **outside,
            }
        )
    out.update(
        {
            "description": d.description,
            "source": d.source,
            "people_involved": d.people_involved,
            "amount": d.amount,
            "location": {
                **(out["location"] or {}),  # not located: the match says so, no lon/lat
                "match": d.locate_match,
                "distance_m": d.locate_distance_m,
                "outside_own_cells": outside,
            },
            "device_recorded_at": d.device_recorded_at,
            "warnings": warnings,
            "county_code": d.county_code,
            "risk_score": d.risk_score,
            "leader_id": d.leader_id,
            "group_dispute": d.group_dispute,
            "resolved_level": d.resolved_level,
            "recurrence_count": d.recurrence_count,
            "rights_notified_at": d.rights_notified_at,
            "accepted_at": d.accepted_at,
            "mediation_due_on": d.mediation_due_on,
            "agreed_at": d.agreed_at,
            "resolved_at": d.resolved_at,
            "closed_at": d.closed_at,
            "exit_detail": d.exit_detail,
            "parties": [
                {
                    "id": p.id,
                    "role": p.role,
                    "kind": p.kind,
                    "name": p.name,
                    "id_type": p.id_type,
                    "id_number": p.id_number_masked,
                    "phone": p.phone_masked,
                    "sex": p.sex,
                    "ethnicity": p.ethnicity,
                    "address": p.address_masked,
                }
                for p in children["parties"]
            ],
            "sessions": [
                {
                    "held_at": s.held_at,
                    "place": s.place,
                    "mediators": s.mediators,
                    "summary": s.summary,
                }
                for s in children["sessions"]
            ],
            "agreements": [
                {
                    "form": a.form,
                    "facts": a.facts,
                    "terms": a.terms,
                    "performance_method": a.performance_method,
                    "performance_place": a.performance_place,
                    "performance_deadline": a.performance_deadline,
                    "performed_immediately": a.performed_immediately,
                    "amount": a.amount,
                    "judicial_confirmation_due_on": a.judicial_confirmation_due_on,
                    "created_at": a.created_at,
                }
                for a in children["agreements"]
            ],
            "visits": [
                {
                    "visited_at": v.visited_at,
                    "method": v.method,
                    "result": v.result,
                    "satisfaction": v.satisfaction,
                    "notes": v.notes,
                    "visitor_id": v.visitor_id,
                    "status_before": v.status_before,
                    "status_after": v.status_after,
                    "photo_id": v.photo_id,
                }
                for v in children["visits"]
            ],
            "risk_history": [
                {
                    "likelihood": r.likelihood,
                    "severity": r.severity,
                    "score": r.score,
                    "level": r.level,
                    "forced_reasons": r.forced_reasons,
                    "note": r.note,
                    "assessed_at": r.assessed_at,
                }
                for r in children["risk_history"]
            ],
            "escalations": [
                {
                    "direction": e.direction,
                    "from_level": e.from_level,
                    "to_level": e.to_level,
                    "reason": e.reason,
                    "status": e.status,
                    "requested_at": e.requested_at,
                    "decided_at": e.decided_at,
                    "decision_reason": e.decision_reason,
                }
                for e in children["escalations"]
            ],
            "attachments": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "created_at": a.created_at,
                }
                for a in children["attachments"]
            ],
            "links": [
                {"other_id": link.other_id, "kind": link.kind, "reason": link.reason}
                for link in children["links"]
            ],
            "court_outcomes": [
                {"outcome": c.outcome, "court": c.court, "decided_on": c.decided_on}
                for c in children.get("court_outcomes", [])
            ],
            "timeline": children["timeline"],
        }
    )
    return out


def timeline_rows(db_session: Session, d: Dispute) -> list[dict]:
    """The audit events of a case, oldest first, with who acted."""
    events = db_session.execute(
        select(DisputeEvent, User.display_name)
        .outerjoin(User, User.id == DisputeEvent.actor_id)
        .where(DisputeEvent.dispute_id == d.id)
        .order_by(DisputeEvent.seq)
    ).all()
    return [timeline_row(e, name) for e, name in events]


def timeline(db_session: Session, *, actor: Actor, dispute_id) -> list[dict]:
    """The timeline of a visible case."""
    return timeline_rows(db_session, get_dispute(db_session, actor=actor, dispute_id=dispute_id))
