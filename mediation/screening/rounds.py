"""Screening rounds: a grid worker records a round of a cell (disputes found, or a zero report), idempotent by client id; reads."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import LineString, MultiPoint, mapping
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import Conflict, NotFound, ValidationFailed
from geo import crs as crs_mod
from geo.locate import wgs84_point
from geo.models import GridCell
from geo.scope import record_clause
from mediation import idempotency
from mediation.attachments import Checked, FileStore
from mediation.disputes.access import visible_clause as dispute_visible
from mediation.disputes.models import Dispute
from mediation.reminders import service as reminders
from mediation.screening.campaigns import (
    business_today,
    covering_campaigns,
    day_start,
    month_window,
    reminder_key,
)
from mediation.screening.models import (
    ScreeningPhoto,
    ScreeningRound,
    ScreeningRoundDispute,
)
from mediation.times import DEFAULT_CLOCK_SKEW
from mediation.users.actor import Actor
from mediation.users.models import User


def round_visible(actor: Actor):
    """Rounds the actor may see: inside their area, plus their own."""
    inside = record_clause(
        actor.case_scope,
        cell=ScreeningRound.cell_code,
        village=ScreeningRound.village_code,
        township=ScreeningRound.township_code,
        county=ScreeningRound.county_code,
    )
    return or_(inside, ScreeningRound.worker_id == actor.user_id)


def content_hash(data: dict, photos: list[Checked]) -> str:
    """Fingerprint of what the phone sent, to tell a retry from a different round."""
    body = {
        "cell_code": data["cell_code"],
        "screened_at": data["screened_at"].astimezone(BUSINESS_TZ).isoformat(),
        "households_visited": data.get("households_visited") or 0,
        "key_areas": sorted(set(data.get("key_areas") or [])),
        "zero_report": bool(data.get("zero_report")),
        "dispute_ids": sorted(str(d) for d in data.get("dispute_ids") or []),
        "notes": (data.get("notes") or "").strip(),
        "track": data.get("track"),
        "photo_sha256": sorted(p.sha256 for p in photos),
    }
    if data.get("signal_ids"):  # issue 21: only when sent, so older rounds keep their hash
        body["signal_ids"] = sorted(str(s) for s in data["signal_ids"])
    return idempotency.fingerprint(body)


ROUND = idempotency.Record(
    taken="该编号已被其他排查记录使用", changed="同一编号的排查记录已提交，但内容不同"
)


def _same_or_conflict(existing: ScreeningRound, digest: str, actor: Actor) -> ScreeningRound:
    return idempotency.same_or_conflict(
        existing,
        owner_id=existing.worker_id,
        stored_digest=existing.content_hash,
        digest=digest,
        actor=actor,
        record=ROUND,
        details={"round_id": str(existing.id)},
    )


def _check_when(screened_at: datetime, now: datetime, clock_skew: timedelta) -> None:
    if screened_at > now + clock_skew:
        raise ValidationFailed("排查时间不能晚于现在", code="invalid_date", field="screened_at")
    first = business_today(now).replace(day=1)
    earliest = (first - timedelta(days=1)).replace(day=1)
    if screened_at < day_start(earliest):
        raise ValidationFailed(
            f"排查时间不能早于上月1日（{earliest.isoformat()}），更早的排查请线下补录",
            code="screened_too_early",
            field="screened_at",
        )


def _track(track: dict | None):
    """The track (LineString) or points visited (MultiPoint) in WGS-84, from the phone's system."""
    if not track:
        return None
    system = crs_mod.check_system(track.get("crs"), "track.crs")
    kind = track.get("type")
    coords = track.get("coordinates") or []
    if kind not in ("LineString", "MultiPoint"):
        raise ValidationFailed(
            "轨迹应为 LineString（轨迹线）或 MultiPoint（走访点）",
            code="invalid_track",
            field="track.type",
        )
    if not (1 if kind == "MultiPoint" else 2) <= len(coords) <= 5000:
        raise ValidationFailed(
            "轨迹点数不对（线至少 2 个点，最多 5000 个点）",
            code="invalid_track",
            field="track.coordinates",
        )
    points = []
    for pair in coords:
        if not isinstance(pair, list | tuple) or len(pair) < 2:
            raise ValidationFailed(
                "轨迹坐标应为 [经度, 纬度]", code="invalid_track", field="track.coordinates"
            )
        wlon, wlat = wgs84_point(pair[0], pair[1], system, field_prefix="track.")
        points.append((round(wlon, 7), round(wlat, 7)))
    shape = LineString(points) if kind == "LineString" else MultiPoint(points)
    return from_shape(shape, srid=4326)


def _check_findings(db_session: Session, *, actor: Actor, data: dict, village_code: str):
    ids = list(dict.fromkeys(data.get("dispute_ids") or []))
    signals = data.get("signal_ids") or []  # risk signals (issue 21), checked by mediation.risks
    if data.get("zero_report") and signals:
        raise ValidationFailed(
            "零报告不能关联风险隐患：有发现请取消零报告",
            code="zero_report_with_findings",
            field="signal_ids",
        )
    if data.get("zero_report") and ids:
        raise ValidationFailed(
            "零报告不能关联矛盾纠纷：有发现请取消零报告，无发现请移除关联案件",
            code="zero_report_with_findings",
            field="dispute_ids",
        )
    if not data.get("zero_report") and not ids and not signals:
        raise ValidationFailed(
            "请关联本次排查登记的矛盾纠纷或风险隐患；没有发现请勾选零报告",
            code="findings_required",
            field="dispute_ids",
        )
    if not ids:
        return []
    found = {
        d.id: d
        for d in db_session.scalars(
            select(Dispute).where(Dispute.id.in_(ids), dispute_visible(actor))
        )
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            "关联的案件不存在或不在您的范围内，请先同步登记的案件",
            code="dispute_not_found",
            field="dispute_ids",
            details={"dispute_ids": missing},
        )
    elsewhere = [d.case_number for d in found.values() if d.village_code != village_code]
    if elsewhere:
        raise ValidationFailed(
            "关联的案件不在本网格所在的村（社区）",
            code="dispute_other_village",
            field="dispute_ids",
            details={"case_numbers": elsewhere},
        )
    taken = db_session.scalars(
        select(Dispute.case_number)
        .join(ScreeningRoundDispute, ScreeningRoundDispute.dispute_id == Dispute.id)
        .where(ScreeningRoundDispute.dispute_id.in_(ids))
    ).all()
    if taken:
        raise Conflict(
            "案件已计入另一次排查，同一案件只能计入一次",
            code="dispute_already_found",
            field="dispute_ids",
            details={"case_numbers": sorted(taken)},
        )
    return ids


def record_round(
    db_session: Session,
    *,
    actor: Actor,
    data: dict,
    photos: list[Checked],
    now: datetime,
    store: FileStore,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> tuple[ScreeningRound, bool]:
    """Record a grid worker's round of one of their cells; the same client id + same content
    returns the existing round (created False), the same id with different content is a Conflict.
    Cancels the cell's screening reminders (and their supervision) of the campaigns it counts for.
    """
    digest = content_hash(data, photos)
    client_id = data.get("client_id")
    if client_id is not None:
        existing = db_session.get(ScreeningRound, client_id)
        if existing is not None:
            return _same_or_conflict(existing, digest, actor), False
    cell_code = data["cell_code"]
    if cell_code not in actor.cells:
        raise ValidationFailed(
            "只能为自己负责的网格记录排查", code="outside_your_cells", field="cell_code"
        )
    cell = db_session.scalar(
        select(GridCell).where(GridCell.code == cell_code, GridCell.valid_to.is_(None))
    )
    if cell is None:
        raise ValidationFailed("该网格不存在或已撤销", code="cell_not_found", field="cell_code")
    screened_at = data["screened_at"]
    _check_when(screened_at, now, clock_skew)
    ids = _check_findings(db_session, actor=actor, data=data, village_code=cell.village_code)
    track = _track(data.get("track"))
    round_id = client_id or uuid.uuid4()
    written = [p.sha256 for p in photos if store.put(p)]
    try:
        with db_session.begin_nested():
            rnd = ScreeningRound(
                id=round_id,
                content_hash=digest,
                cell_code=cell.code,
                village_code=cell.village_code,
                township_code=cell.village_code[:9],
                county_code=cell.village_code[:6],
                worker_id=actor.user_id,
                screened_at=screened_at,
                received_at=now,
                households_visited=data.get("households_visited") or 0,
                key_areas=sorted(set(data.get("key_areas") or [])),
                zero_report=bool(data.get("zero_report")),
                found_count=len(ids),
                signal_count=len(set(data.get("signal_ids") or [])),
                notes=(data.get("notes") or "").strip() or None,
                track=track,
            )
            db_session.add(rnd)
            db_session.flush()
            for dispute_id in ids:
                db_session.add(ScreeningRoundDispute(round_id=rnd.id, dispute_id=dispute_id))
            for p in photos:
                db_session.add(
                    ScreeningPhoto(
                        id=uuid.uuid4(),
                        round_id=rnd.id,
                        filename=p.filename,
                        content_type=p.content_type,
                        size=len(p.data),
                        sha256=p.sha256,
                        created_at=now,
                    )
                )
            db_session.flush()
            keys = [
                reminder_key(c.id, cell.code)
                for c in covering_campaigns(db_session, cell_code=cell.code, at=screened_at)
            ]
            reminders.cancel_keys(db_session, keys=keys, now=now, reason="screened")
    except IntegrityError:
        for sha in written:
            if not db_session.scalar(
                select(func.count()).select_from(ScreeningPhoto).where(ScreeningPhoto.sha256 == sha)
            ):
                store.discard(sha)
        existing = db_session.get(ScreeningRound, client_id) if client_id else None
        if existing is None:
            # Not a retry: a dispute was linked by a concurrent round in the meantime.
            raise Conflict(
                "案件已计入另一次排查，同一案件只能计入一次",
                code="dispute_already_found",
                field="dispute_ids",
            ) from None
        return _same_or_conflict(existing, digest, actor), False
    except BaseException:
        for sha in written:
            store.discard(sha)
        raise
    return rnd, True


def get_round(db_session: Session, *, actor: Actor, round_id) -> ScreeningRound:
    """A visible round, or NotFound."""
    try:
        key = uuid.UUID(str(round_id))
    except ValueError:
        raise NotFound("未找到该排查记录", code="round_not_found") from None
    rnd = db_session.scalar(
        select(ScreeningRound).where(ScreeningRound.id == key, round_visible(actor))
    )
    if rnd is None:
        raise NotFound("未找到该排查记录", code="round_not_found")
    return rnd


def round_detail(db_session: Session, *, actor: Actor, round_id) -> dict:
    """A round with its worker, the disputes it found and its photos."""
    rnd = get_round(db_session, actor=actor, round_id=round_id)
    disputes = db_session.execute(
        select(
            Dispute.id,
            Dispute.case_number,
            Dispute.category,
            Dispute.key_areas,
            Dispute.status,
            Dispute.risk_level,
        )
        .join(ScreeningRoundDispute, ScreeningRoundDispute.dispute_id == Dispute.id)
        .where(ScreeningRoundDispute.round_id == rnd.id)
        .order_by(Dispute.case_number)
    ).all()
    photos = db_session.scalars(
        select(ScreeningPhoto)
        .where(ScreeningPhoto.round_id == rnd.id)
        .order_by(ScreeningPhoto.created_at, ScreeningPhoto.sha256)
    ).all()
    out = _round_row(rnd, db_session.get(User, rnd.worker_id))
    out["disputes"] = [dict(r._mapping) for r in disputes]
    out["photos"] = [
        {"id": p.id, "filename": p.filename, "content_type": p.content_type, "size": p.size}
        for p in photos
    ]
    out["track"] = (
        {**mapping(to_shape(rnd.track)), "crs": "wgs84"} if rnd.track is not None else None
    )
    return out


def _round_row(rnd: ScreeningRound, worker: User | None) -> dict:
    return {
        "id": rnd.id,
        "cell_code": rnd.cell_code,
        "village_code": rnd.village_code,
        "township_code": rnd.township_code,
        "worker_id": rnd.worker_id,
        "worker_name": worker.display_name if worker else None,
        "screened_at": rnd.screened_at,
        "received_at": rnd.received_at,
        "households_visited": rnd.households_visited,
        "key_areas": rnd.key_areas,
        "zero_report": rnd.zero_report,
        "found_count": rnd.found_count,
        "notes": rnd.notes,
    }


def list_rounds(db_session: Session, *, actor: Actor, filters: dict, limit: int) -> dict:
    """Visible rounds, newest first, filtered by area code (cell/village/…), month and worker."""
    stmt = select(ScreeningRound, User).join(User, User.id == ScreeningRound.worker_id)
    stmt = stmt.where(round_visible(actor))
    if filters.get("area"):
        stmt = stmt.where(ScreeningRound.cell_code.startswith(filters["area"], autoescape=True))
    if filters.get("month"):
        start, end = month_window(filters["month"])
        stmt = stmt.where(ScreeningRound.screened_at >= start, ScreeningRound.screened_at < end)
    if filters.get("zero_report") is not None:
        stmt = stmt.where(ScreeningRound.zero_report.is_(filters["zero_report"]))
    if filters.get("before"):
        stmt = stmt.where(ScreeningRound.screened_at < filters["before"])
    total = db_session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db_session.execute(
        stmt.order_by(ScreeningRound.screened_at.desc(), ScreeningRound.id).limit(limit)
    ).all()
    return {"items": [_round_row(r, u) for r, u in rows], "total": total}
