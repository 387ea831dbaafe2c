"""Risk signals (隐患) that are not disputes: recorded by grid workers at a place in one of the
15 key areas (online, in a screening round or through the sync push, idempotent by client id),
assessed with the dispute risk matrix, followed up, and closed, turned into a dispute (kept
linked) or attached to a 稳评 item."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import Conflict, NotFound, ValidationFailed
from geo import crs as coordinates
from geo.locate import locate
from geo.scope import record_clause
from mediation import idempotency
from mediation.disputes.access import get_dispute
from mediation.disputes.risk import assess
from mediation.risks.common import check_key_areas, check_no_personal_data
from mediation.risks.enums import ATTACHED, CLOSED, CONVERTED, OPEN, SIGNAL_SOURCES
from mediation.risks.models import RiskSignal
from mediation.risks.register import get_item
from mediation.times import check_not_future
from mediation.users.actor import Actor
from mediation.users.enums import GRID_WORKER


def signal_visible(actor: Actor):
    """Signals inside the actor's area, plus those they recorded."""
    inside = record_clause(
        actor.case_scope,
        cell=RiskSignal.cell_code,
        village=RiskSignal.village_code,
        township=RiskSignal.township_code,
        county=RiskSignal.county_code,
    )
    return or_(inside, RiskSignal.reporter_id == actor.user_id)


def get_signal(db_session: Session, *, actor: Actor, signal_id, for_update=False) -> RiskSignal:
    """A visible signal, or NotFound."""
    try:
        key = uuid.UUID(str(signal_id))
    except ValueError:
        raise NotFound("未找到该风险隐患", code="signal_not_found") from None
    stmt = select(RiskSignal).where(RiskSignal.id == key, signal_visible(actor))
    s = db_session.scalar(stmt.with_for_update() if for_update else stmt)
    if s is None:
        raise NotFound("未找到该风险隐患", code="signal_not_found")
    return s


def content_hash(data: dict) -> str:
    """Fingerprint of what the phone sent, to tell a retry from a different signal."""
    loc = data["location"]
    body = {
        "location": [loc.get("lon"), loc.get("lat"), loc.get("crs")],
        "key_area": data.get("key_area"),
        "description": (data.get("description") or "").strip(),
        "observed_at": data["observed_at"].astimezone(BUSINESS_TZ).isoformat(),
        "source": data.get("source") or "grid_patrol",
        "likelihood": data.get("likelihood"),
        "severity": data.get("severity"),
    }
    return idempotency.fingerprint(body)


SIGNAL = idempotency.Record(
    taken="该编号已被其他记录使用", changed="同一编号的风险隐患已提交，但内容不同"
)


def _same_or_conflict(existing: RiskSignal, digest: str, actor: Actor) -> RiskSignal:
    return idempotency.same_or_conflict(
        existing,
        owner_id=existing.reporter_id,
        stored_digest=existing.content_hash,
        digest=digest,
        actor=actor,
        record=SIGNAL,
        details={"signal_id": str(existing.id)},
    )


def _check_place(actor: Actor, cell_code: str) -> None:
    """A grid worker records in the villages of their cells; others inside their area."""
    if actor.has(GRID_WORKER) and cell_code[:12] in {c[:12] for c in actor.cells}:
        return
    if actor.case_scope.contains_code(cell_code):
        return
    raise ValidationFailed(
        "该位置不在您负责的网格或辖区内", code="outside_your_area", field="location"
    )


def _matrix(likelihood, severity, flags=()):
    result = assess(likelihood=likelihood, severity=severity, flags=list(flags or []))
    return result.likelihood, result.severity, result.score, result.level


def record_signal(
    db_session: Session,
    *,
    actor: Actor,
    data: dict,
    now: datetime,
    settings,
    device_time: datetime | None = None,
) -> tuple[RiskSignal, bool]:
    """Record a signal; the same client id with the same content returns it (created False)."""
    digest = content_hash(data)
    client_id = data.get("client_id")
    if client_id is not None:
        existing = db_session.get(RiskSignal, client_id)
        if existing is not None:
            return _same_or_conflict(existing, digest, actor), False
    key_area = check_key_areas([data.get("key_area")], field="key_area")[0]
    description = check_no_personal_data(data.get("description"), field="description")
    if not description:
        raise ValidationFailed("请描述发现的情况", code="description_required", field="description")
    if (data.get("source") or "grid_patrol") not in SIGNAL_SOURCES:
        raise ValidationFailed("来源不对", code="invalid_source", field="source")
    check_not_future(
        data["observed_at"],
        now=now,
        skew=settings.clock_skew,
        field="observed_at",
        label="发现时间",
    )
    loc = data["location"]
    where = locate(
        db_session,
        lon=loc.get("lon"),
        lat=loc.get("lat"),
        system=loc.get("crs"),
        tolerance_m=settings.locate_tolerance_m,
        field_prefix="location.",
    )
    _check_place(actor, where.cell_code)
    assessed = None
    if data.get("likelihood") is not None or data.get("severity") is not None:
        assessed = _matrix(data.get("likelihood"), data.get("severity"))
    signal = RiskSignal(
        id=client_id or uuid.uuid4(),
        content_hash=digest,
        cell_code=where.cell_code,
        village_code=where.village_code,
        township_code=where.village_code[:9],
        county_code=where.village_code[:6],
        location=from_shape(Point(where.lon, where.lat), srid=4326),
        key_area=key_area,
        description=description,
        source=data.get("source") or "grid_patrol",
        reporter_id=actor.user_id,
        observed_at=data["observed_at"],
        recorded_at=now,
        device_recorded_at=device_time,
        follow_ups=[],
        status=OPEN,
    )
    if assessed:
        signal.likelihood, signal.severity, signal.score, signal.level = assessed
        signal.assessed_at, signal.assessed_by = now, actor.user_id
    try:
        with db_session.begin_nested():
            db_session.add(signal)
            db_session.flush()
    except IntegrityError:  # the same client id sent twice at once: the first one won
        existing = db_session.get(RiskSignal, signal.id, populate_existing=True)
        if existing is None:
            raise
        return _same_or_conflict(existing, digest, actor), False
    return signal, True


def _open(db_session, actor, signal_id) -> RiskSignal:
    s = get_signal(db_session, actor=actor, signal_id=signal_id, for_update=True)
    if s.status != OPEN:
        raise Conflict(
            "该隐患已办结，不能再处理", code="signal_not_open", details={"status": s.status}
        )
    return s


def assess_signal(db_session: Session, *, actor: Actor, signal_id, data: dict, now: datetime):
    """Assess (or reassess) with the dispute risk matrix (L × S, forced conditions)."""
    s = _open(db_session, actor, signal_id)
    s.likelihood, s.severity, s.score, s.level = _matrix(
        data.get("likelihood"), data.get("severity"), data.get("flags")
    )
    s.assessed_at, s.assessed_by = now, actor.user_id
    db_session.flush()
    return s


def follow_up(db_session: Session, *, actor: Actor, signal_id, data: dict, now: datetime):
    """Record what was done or seen since."""
    s = _open(db_session, actor, signal_id)
    note = check_no_personal_data(data.get("note"), field="note")
    if not note:
        raise ValidationFailed("请填写跟进情况", code="note_required", field="note")
    s.follow_ups = [*s.follow_ups, {"at": now.isoformat(), "by": actor.user_id, "note": note}]
    db_session.flush()
    return s


def _finish(s: RiskSignal, status: str, actor: Actor, now: datetime, note: str | None):
    s.status, s.closed_at, s.closed_by, s.close_note = status, now, actor.user_id, note


def close_signal(db_session: Session, *, actor: Actor, signal_id, data: dict, now: datetime):
    """The risk is gone (消除): closed with how."""
    s = _open(db_session, actor, signal_id)
    note = check_no_personal_data(data.get("note"), field="note")
    if not note:
        raise ValidationFailed("请填写隐患如何消除", code="note_required", field="note")
    _finish(s, CLOSED, actor, now, note)
    db_session.flush()
    return s


def convert_signal(db_session: Session, *, actor: Actor, signal_id, dispute_id, now: datetime):
    """The signal became a dispute (registered as usual): keep them linked. Idempotent."""
    s = get_signal(db_session, actor=actor, signal_id=signal_id, for_update=True)
    d = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    if s.status == CONVERTED and s.dispute_id == d.id:
        return s
    if s.status != OPEN:
        raise Conflict(
            "该隐患已办结，不能再处理", code="signal_not_open", details={"status": s.status}
        )
    if d.township_code != s.township_code:
        raise ValidationFailed(
            "该案件与隐患不在同一乡镇，不能跨乡镇关联",
            code="link_other_township",
            field="dispute_id",
        )
    taken = db_session.scalar(select(RiskSignal.id).where(RiskSignal.dispute_id == d.id))
    if taken is not None:
        raise Conflict(
            "该案件已由另一隐患转化而来",
            code="dispute_already_linked",
            field="dispute_id",
            details={"signal_id": str(taken)},
        )
    s.dispute_id = d.id
    _finish(s, CONVERTED, actor, now, f"已转为矛盾纠纷 {d.case_number}")
    db_session.flush()
    return s


def attach_signal(db_session: Session, *, actor: Actor, signal_id, item_id: int, now: datetime):
    """The signal belongs to a 稳评 item: followed there from now on."""
    s = _open(db_session, actor, signal_id)
    item = get_item(db_session, actor=actor, item_id=item_id)
    if item.township_code != s.township_code:
        raise ValidationFailed(
            "该稳评事项与隐患不在同一乡镇，不能跨乡镇关联",
            code="link_other_township",
            field="item_id",
        )
    s.item_id = item.id
    _finish(s, ATTACHED, actor, now, f"已纳入稳评事项：{item.title}")
    db_session.flush()
    return s


def signal_row(s: RiskSignal, system: str = coordinates.WGS84) -> dict:
    """A signal as the API shows it (point in the asked system)."""
    p = to_shape(s.location)
    lon, lat = coordinates.from_wgs84(p.x, p.y, system)
    return {
        "id": s.id,
        "cell_code": s.cell_code,
        "village_code": s.village_code,
        "township_code": s.township_code,
        "location": {"lon": round(float(lon), 7), "lat": round(float(lat), 7), "crs": system},
        "key_area": s.key_area,
        "description": s.description,
        "source": s.source,
        "reporter_id": s.reporter_id,
        "observed_at": s.observed_at,
        "recorded_at": s.recorded_at,
        "device_recorded_at": s.device_recorded_at,
        "likelihood": s.likelihood,
        "severity": s.severity,
        "score": s.score,
        "level": s.level,
        "assessed_at": s.assessed_at,
        "follow_ups": s.follow_ups,
        "status": s.status,
        "closed_at": s.closed_at,
        "close_note": s.close_note,
        "dispute_id": s.dispute_id,
        "item_id": s.item_id,
        "round_id": s.round_id,
    }


def list_signals(db_session: Session, *, actor: Actor, filters: dict, limit: int = 200) -> dict:
    """Visible signals, newest first: filter by area, status, key area, month window."""
    stmt = select(RiskSignal).where(signal_visible(actor))
    if filters.get("area"):
        stmt = stmt.where(RiskSignal.cell_code.startswith(filters["area"], autoescape=True))
    if filters.get("status"):
        stmt = stmt.where(RiskSignal.status == filters["status"])
    if filters.get("key_area"):
        stmt = stmt.where(RiskSignal.key_area == filters["key_area"])
    if filters.get("start"):
        stmt = stmt.where(RiskSignal.observed_at >= filters["start"])
    if filters.get("end"):
        stmt = stmt.where(RiskSignal.observed_at < filters["end"])
    total = db_session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db_session.scalars(
        stmt.order_by(RiskSignal.observed_at.desc(), RiskSignal.id).limit(limit)
    ).all()
    return {"items": [signal_row(s) for s in rows], "total": total}
