"""The 稳评 register: major projects, policies and events of a township, their assessment,
decision and follow-up checks, and the disputes they produced (offered by place + key area,
confirmed by a person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from geo import zones
from geo.scope import record_clause
from mediation.disputes.access import get_dispute
from mediation.disputes.enums import OPEN_STATUSES
from mediation.disputes.models import Dispute
from mediation.risks import propagation
from mediation.risks.common import check_key_areas, check_person, check_township
from mediation.risks.enums import (
    ASSESSED,
    CHECK_RESULTS,
    DECIDED,
    DECISIONS,
    ITEM_KINDS,
    RATINGS,
    REGISTERED,
)
from mediation.risks.models import RiskSignal, StabilityCheck, StabilityItem, StabilityLink
from mediation.users.actor import Actor


def item_visible(actor: Actor):
    """Items of the actor's townships (or county); a village sees the items touching it."""
    scope = actor.case_scope
    inside = record_clause(
        scope, township=StabilityItem.township_code, county=StabilityItem.county_code
    )
    villages = sorted({c[:12] for c in scope.codes if len(c) >= 12})
    if villages:
        inside = or_(inside, StabilityItem.village_codes.overlap(villages))
    return inside


def get_item(db_session: Session, *, actor: Actor, item_id, for_update=False) -> StabilityItem:
    """A visible item, or NotFound."""
    stmt = select(StabilityItem).where(StabilityItem.id == item_id, item_visible(actor))
    item = db_session.scalar(stmt.with_for_update() if for_update else stmt)
    if item is None:
        raise NotFound("未找到该稳评事项", code="item_not_found")
    return item


def stage(item: StabilityItem) -> str:
    """registered → assessed → decided."""
    return DECIDED if item.decision else ASSESSED if item.rating else REGISTERED


def _zone(db_session: Session, data: dict, township: str):
    """The area touched: a polygon inside the township, or villages of the township."""
    geometry, villages = data.get("geometry"), data.get("village_codes") or []
    if geometry is None and not villages:
        raise ValidationFailed(
            "请绘制涉及范围或选择涉及的村（社区）", code="zone_required", field="geometry"
        )
    geom = None
    if geometry is not None:
        geom = zones.parse_zone(geometry, system=geometry.get("crs"), field="geometry")
        zones.check_within(db_session, geom=geom, area_code=township, field="geometry")
        villages = sorted(
            set(villages) | set(zones.villages_touched(db_session, geom=geom, township=township))
        )
    parents = zones.current_villages(db_session, villages)
    unknown = [v for v in villages if v not in parents]
    if unknown:
        raise ValidationFailed(
            f"村（社区）代码不存在：{'、'.join(unknown)}",
            code="village_not_found",
            field="village_codes",
        )
    elsewhere = [v for v in villages if parents[v] != township]
    if elsewhere:
        raise ValidationFailed(
            f"所选村（社区）不属于本乡镇：{'、'.join(elsewhere)}",
            code="link_other_township",
            field="village_codes",
        )
    return geom, sorted(villages)


def register_item(db_session: Session, *, actor: Actor, data: dict, now: datetime):
    """Register a project, policy or event of a township for 稳评 (flush only)."""
    township = check_township(actor, data.get("township_code"))
    if data.get("kind") not in ITEM_KINDS:
        raise ValidationFailed("事项类型不对", code="invalid_kind", field="kind")
    key_areas = check_key_areas(data.get("key_areas"))
    geom, villages = _zone(db_session, data, township)
    check_person(db_session, data.get("responsible_id"), township, field="responsible_id")
    item = StabilityItem(
        township_code=township,
        county_code=township[:6],
        kind=data["kind"],
        title=data["title"].strip(),
        subject=data["subject"].strip(),
        decision_maker=data["decision_maker"].strip(),
        key_areas=key_areas,
        village_codes=villages,
        geom=zones.as_column_value(geom),
        responsible_id=data.get("responsible_id"),
        responsible_unit=(data.get("responsible_unit") or "").strip() or None,
        risk_points=[],
        measures=[],
        created_by=actor.user_id,
        created_at=now,
    )
    db_session.add(item)
    db_session.flush()
    return item


def assess_item(
    db_session: Session, *, actor: Actor, item_id: int, data: dict, now: datetime, settings
) -> dict:
    """Record (or redo) the assessment: rating, risk points, measures; the linked open cases are
    raised to the item's floor (propagation.py). Returns the cases raised."""
    item = get_item(db_session, actor=actor, item_id=item_id, for_update=True)
    check_township(actor, item.township_code)
    if data.get("rating") not in RATINGS:
        raise ValidationFailed("评估等级应为高、中、低风险", code="invalid_rating", field="rating")
    points = [p.strip() for p in data.get("risk_points") or [] if p and p.strip()]
    measures = [m.strip() for m in data.get("measures") or [] if m and m.strip()]
    if not points:
        raise ValidationFailed(
            "请列出评估发现的风险点", code="risk_points_required", field="risk_points"
        )
    if data["rating"] != "low" and not measures:
        raise ValidationFailed(
            "中、高风险事项须列出化解措施", code="measures_required", field="measures"
        )
    item.rating, item.risk_points, item.measures = data["rating"], points, measures
    item.assessed_at, item.assessed_by = now, actor.user_id
    db_session.flush()
    return {
        "raised": propagation.raise_linked(
            db_session, actor=actor, item=item, now=now, settings=settings
        )
    }


def decide_item(db_session: Session, *, actor: Actor, item_id: int, data: dict, now: datetime):
    """Record the decision taken on the assessment (proceed / with measures / postpone)."""
    item = get_item(db_session, actor=actor, item_id=item_id, for_update=True)
    check_township(actor, item.township_code)
    if item.rating is None:
        raise Conflict("请先完成风险评估，再记录决策", code="item_not_assessed", field="decision")
    if data.get("decision") not in DECISIONS:
        raise ValidationFailed("决策结果不对", code="invalid_decision", field="decision")
    if item.rating == "high" and data["decision"] == "proceed":
        raise ValidationFailed(
            "高风险事项不能直接实施：请选择落实化解措施后实施或暂缓实施",
            code="high_risk_needs_measures",
            field="decision",
        )
    item.decision, item.decision_note = data["decision"], (data.get("note") or None)
    item.decided_at, item.decided_by = now, actor.user_id
    db_session.flush()
    return item


def record_check(db_session: Session, *, actor: Actor, item_id: int, data: dict, now: datetime):
    """A follow-up check after the decision."""
    item = get_item(db_session, actor=actor, item_id=item_id, for_update=True)
    check_township(actor, item.township_code)
    if item.decision is None:
        raise Conflict("决策后才能记录跟踪检查", code="item_not_decided", field="result")
    if data.get("result") not in CHECK_RESULTS:
        raise ValidationFailed("检查结果不对", code="invalid_result", field="result")
    checked_at = data.get("checked_at") or now
    if checked_at > now:
        raise ValidationFailed("检查时间不能晚于现在", code="invalid_date", field="checked_at")
    row = StabilityCheck(
        item_id=item.id,
        checked_at=checked_at,
        result=data["result"],
        note=data["note"].strip(),
        checked_by=actor.user_id,
        created_at=now,
    )
    db_session.add(row)
    db_session.flush()
    return row


def _offer_clause(item: StabilityItem):
    place = Dispute.village_code.in_(item.village_codes or [""])
    if item.geom is not None:
        place = or_(place, zones.covered_clause(Dispute.location, item.geom))
    return and_(
        Dispute.township_code == item.township_code,
        place,
        Dispute.key_areas.overlap(item.key_areas),
    )


def offered_disputes(db_session: Session, *, actor: Actor, item_id: int) -> list[dict]:
    """Disputes in the item's area and key areas not linked to any item yet (to confirm)."""
    item = get_item(db_session, actor=actor, item_id=item_id)
    rows = db_session.scalars(
        select(Dispute)
        .outerjoin(StabilityLink, StabilityLink.dispute_id == Dispute.id)
        .where(_offer_clause(item), StabilityLink.dispute_id.is_(None))
        .order_by(Dispute.registered_at, Dispute.case_number)
        .limit(200)
    )
    return [_case_row(d) for d in rows]


def link_dispute(
    db_session: Session, *, actor: Actor, item_id: int, dispute_id, now: datetime, settings
) -> dict:
    """Confirm that a dispute arose from the item; raises the item's open linked cases."""
    item = get_item(db_session, actor=actor, item_id=item_id, for_update=True)
    check_township(actor, item.township_code)
    d = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    if d.township_code != item.township_code:
        raise ValidationFailed(
            "该案件不在本事项所在乡镇，不能跨乡镇关联",
            code="link_other_township",
            field="dispute_id",
        )
    existing = db_session.get(StabilityLink, (item.id, d.id)) or db_session.scalar(
        select(StabilityLink).where(StabilityLink.dispute_id == d.id)
    )
    if existing is not None and existing.item_id != item.id:
        raise Conflict(
            "该案件已关联到另一稳评事项",
            code="dispute_linked_elsewhere",
            field="dispute_id",
            details={"item_id": existing.item_id},
        )
    if existing is None:
        offered = (
            db_session.scalar(
                select(func.count())
                .select_from(Dispute)
                .where(Dispute.id == d.id, _offer_clause(item))
            )
            > 0
        )
        db_session.add(
            StabilityLink(
                item_id=item.id,
                dispute_id=d.id,
                offered=offered,
                linked_by=actor.user_id,
                linked_at=now,
            )
        )
        db_session.flush()
    raised = propagation.raise_linked(
        db_session, actor=actor, item=item, now=now, settings=settings
    )
    return {"item_id": item.id, "dispute_id": d.id, "raised": raised}


def _case_row(d: Dispute) -> dict:
    return {
        "id": d.id,
        "case_number": d.case_number,
        "village_code": d.village_code,
        "category": d.category,
        "key_areas": d.key_areas,
        "status": d.status,
        "risk_level": d.risk_level,
        "registered_at": d.registered_at,
        "open": d.status in OPEN_STATUSES,
    }


def _item_row(item: StabilityItem, counts: dict) -> dict:
    return {
        "id": item.id,
        "township_code": item.township_code,
        "kind": item.kind,
        "title": item.title,
        "subject": item.subject,
        "decision_maker": item.decision_maker,
        "key_areas": item.key_areas,
        "village_codes": item.village_codes,
        "responsible_id": item.responsible_id,
        "responsible_unit": item.responsible_unit,
        "stage": stage(item),
        "rating": item.rating,
        "risk_points": item.risk_points,
        "measures": item.measures,
        "assessed_at": item.assessed_at,
        "decision": item.decision,
        "decision_note": item.decision_note,
        "decided_at": item.decided_at,
        "created_at": item.created_at,
        "disputes": counts.get("disputes", 0),
        "disputes_open": counts.get("open", 0),
        "disputes_resolved": counts.get("resolved", 0),
        "floor": propagation.floor_for(item.rating, counts.get("open", 0)),
    }


def list_items(db_session: Session, *, actor: Actor, filters: dict, limit: int = 200) -> dict:
    """Visible items, newest first, each with how many disputes it produced."""
    stmt = select(StabilityItem).where(item_visible(actor))
    if filters.get("area"):
        area = filters["area"]
        if len(area) >= 12:  # a village (or a cell of it): the items touching the village
            stmt = stmt.where(StabilityItem.village_codes.contains([area[:12]]))
        else:
            stmt = stmt.where(StabilityItem.township_code.startswith(area, autoescape=True))
    if filters.get("rating"):
        stmt = stmt.where(StabilityItem.rating == filters["rating"])
    items = db_session.scalars(
        stmt.order_by(StabilityItem.created_at.desc(), StabilityItem.id.desc()).limit(limit)
    ).all()
    counts = propagation.linked_counts(db_session, [i.id for i in items])
    return {"items": [_item_row(i, counts[i.id]) for i in items], "total": len(items)}


def item_detail(db_session: Session, *, actor: Actor, item_id: int, system: str = "wgs84"):
    """An item with its zone, linked disputes, attached signals and checks."""
    item = get_item(db_session, actor=actor, item_id=item_id)
    counts = propagation.linked_counts(db_session, [item.id])[item.id]
    out = _item_row(item, counts)
    out["geometry"] = zones.zone_geojson(db_session, zone_column_value=item.geom, system=system)
    out["linked"] = [
        {**_case_row(d), "offered": link.offered, "linked_at": link.linked_at}
        for d, link in db_session.execute(
            select(Dispute, StabilityLink)
            .join(StabilityLink, StabilityLink.dispute_id == Dispute.id)
            .where(StabilityLink.item_id == item.id)
            .order_by(Dispute.case_number)
        ).all()
    ]
    out["signals"] = [
        {
            "id": s.id,
            "key_area": s.key_area,
            "status": s.status,
            "level": s.level,
            "observed_at": s.observed_at,
        }
        for s in db_session.scalars(
            select(RiskSignal).where(RiskSignal.item_id == item.id).order_by(RiskSignal.observed_at)
        )
    ]
    out["checks"] = [
        {"id": c.id, "checked_at": c.checked_at, "result": c.result, "note": c.note}
        for c in db_session.scalars(
            select(StabilityCheck)
            .where(StabilityCheck.item_id == item.id)
            .order_by(StabilityCheck.checked_at)
        )
    ]
    return out
