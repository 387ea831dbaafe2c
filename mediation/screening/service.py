"""Use cases for screening: record a round, launch a campaign, the monthly routine campaigns,
coverage views and the job that reminds (and supervises) cells that have not been screened.

Each public function takes the session and an explicit `now`, only flushes (jobs commit per
campaign), and scopes its queries by the actor's area like the dispute use cases do.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import uuid
from datetime import date, datetime, time, timedelta

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import LineString, MultiPoint, mapping
from sqlalchemy import false, func, literal, or_, select, text, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import Conflict, NotFound, ValidationFailed
from geo import crs as crs_mod
from geo.locate import check_point
from geo.models import Area, GridCell
from geo.scope import code_prefix_clause, record_clause
from mediation.attachments import Checked, FileStore
from mediation.disputes.access import visible_clause as dispute_visible
from mediation.disputes.models import Dispute
from mediation.reminders import service as reminders
from mediation.reminders.kinds import TITLES
from mediation.screening import metrics
from mediation.screening.enums import (
    CELL_STATES,
    KEY_AREAS,
    MISSING,
    OVERDUE,
    ROUTINE,
    SCREENED,
    SPECIAL,
)
from mediation.screening.models import (
    ScreeningCampaign,
    ScreeningPhoto,
    ScreeningRound,
    ScreeningRoundDispute,
)
from mediation.times import DEFAULT_CLOCK_SKEW
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN
from mediation.users.models import User

MAX_CAMPAIGN_DAYS = 366

# ------------------------------------------------------------------ windows (business dates)


def day_start(day: date) -> datetime:
    """00:00 of a business date (Asia/Shanghai), aware."""
    return datetime.combine(day, time(0), BUSINESS_TZ)


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        raise ValidationFailed(
            "月份格式应为 YYYY-MM", code="invalid_month", field="month"
        ) from None
    return first, first.replace(day=calendar.monthrange(year, mon)[1])


def month_window(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in Asia/Shanghai."""
    first, last = month_bounds(month)
    return day_start(first), day_start(last + timedelta(days=1))


def campaign_window(c: ScreeningCampaign) -> tuple[datetime, datetime]:
    """[start, end) of a campaign's window: starts_on 00:00 to the day after ends_on 00:00."""
    return day_start(c.starts_on), day_start(c.ends_on + timedelta(days=1))


def due_at(c: ScreeningCampaign) -> datetime:
    """The moment a campaign's round is due: end of its due date (23:59:59 Asia/Shanghai)."""
    return datetime.combine(c.due_on, time(23, 59, 59), BUSINESS_TZ)


def _today(now: datetime) -> date:
    return now.astimezone(BUSINESS_TZ).date()


# ------------------------------------------------------------------ visibility


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


def campaign_visible(actor: Actor):
    """Campaigns inside the actor's area, or over it (a village sees its township's campaigns)."""
    scope = actor.case_scope
    if scope.everything:
        return true()
    if not scope.codes:
        return false()
    col = ScreeningCampaign.area_code
    return or_(
        code_prefix_clause(scope, col),
        *[literal(c).startswith(col) for c in sorted(scope.codes)],
    )


# ------------------------------------------------------------------ record a round


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
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same_or_conflict(existing: ScreeningRound, digest: str, actor: Actor) -> ScreeningRound:
    if existing.worker_id != actor.user_id:
        raise Conflict("该编号已被其他排查记录使用", code="client_id_taken", field="client_id")
    if existing.content_hash != digest:
        raise Conflict(
            "同一编号的排查记录已提交，但内容不同",
            code="client_id_conflict",
            field="client_id",
            details={"round_id": str(existing.id)},
        )
    return existing


def _check_when(screened_at: datetime, now: datetime, clock_skew: timedelta) -> None:
    if screened_at > now + clock_skew:
        raise ValidationFailed("排查时间不能晚于现在", code="invalid_date", field="screened_at")
    first = _today(now).replace(day=1)
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
        lon, lat = check_point(pair[0], pair[1], field_prefix="track.")
        wlon, wlat = crs_mod.to_wgs84(lon, lat, system)
        points.append((round(float(wlon), 7), round(float(wlat), 7)))
    shape = LineString(points) if kind == "LineString" else MultiPoint(points)
    return from_shape(shape, srid=4326)


def _check_findings(db_session: Session, *, actor: Actor, data: dict, village_code: str):
    ids = list(dict.fromkeys(data.get("dispute_ids") or []))
    if data.get("zero_report") and ids:
        raise ValidationFailed(
            "零报告不能关联矛盾纠纷：有发现请取消零报告，无发现请移除关联案件",
            code="zero_report_with_findings",
            field="dispute_ids",
        )
    if not data.get("zero_report") and not ids:
        raise ValidationFailed(
            "请关联本次排查登记的矛盾纠纷；没有发现请勾选零报告",
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


# ------------------------------------------------------------------ rounds: reads


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


# ------------------------------------------------------------------ campaigns


def _can_launch_in(actor: Actor, area_code: str) -> bool:
    for role in (CENTER_STAFF, COUNTY_ADMIN):
        if any(area_code.startswith(code) for code in actor.roles.get(role, ())):
            return True
    return False


def launch_campaign(
    db_session: Session, *, actor: Actor, data: dict, now: datetime
) -> ScreeningCampaign:
    """A 专项排查 for an area of the actor's township (centre staff) or county (county centre):
    every current cell of the area then owes a round between starts_on and ends_on."""
    area_code = data["area_code"]
    area = db_session.scalar(select(Area).where(Area.code == area_code, Area.valid_to.is_(None)))
    if area is None:
        raise ValidationFailed("未找到该区划", code="area_not_found", field="area_code")
    if not _can_launch_in(actor, area_code):
        raise ValidationFailed(
            "只能在本乡镇（街道）或本县范围内部署专项排查",
            code="outside_your_area",
            field="area_code",
        )
    starts, ends = data["starts_on"], data["ends_on"]
    due = data.get("due_on") or ends
    if starts > ends:
        raise ValidationFailed("结束日期不能早于开始日期", code="invalid_date", field="ends_on")
    if (ends - starts).days >= MAX_CAMPAIGN_DAYS:
        raise ValidationFailed("排查周期不能超过一年", code="invalid_date", field="ends_on")
    if ends < _today(now):
        raise ValidationFailed("结束日期已过，不能部署", code="invalid_date", field="ends_on")
    if not starts <= due <= ends:
        raise ValidationFailed("截止日期应在排查周期之内", code="invalid_date", field="due_on")
    campaign = ScreeningCampaign(
        kind=SPECIAL,
        title=data["title"].strip(),
        area_code=area_code,
        key_areas=[k for k in KEY_AREAS if k in set(data.get("key_areas") or [])],
        month=None,
        starts_on=starts,
        ends_on=ends,
        due_on=due,
        notes=(data.get("notes") or "").strip() or None,
        created_by=actor.user_id,
        created_at=now,
    )
    db_session.add(campaign)
    db_session.flush()
    return campaign


def ensure_monthly_campaigns(
    db_session: Session, *, now: datetime, month: str | None = None
) -> int:
    """Create the month's routine campaign (all fifteen key areas, the calendar month, due on its
    last day) for every current township that has none yet; returns how many were created."""
    month = month or _today(now).strftime("%Y-%m")
    first, last = month_bounds(month)
    rows = db_session.execute(
        text(
            """INSERT INTO screening_campaign
                 (kind, title, area_code, key_areas, month, starts_on, ends_on, due_on, created_at)
               SELECT :kind, :title, a.code, :key_areas, :month, :first, :last, :last, :now
               FROM area a WHERE a.level = 'township' AND a.valid_to IS NULL
               ON CONFLICT (area_code, month) WHERE kind = 'routine' DO NOTHING
               RETURNING id"""
        ),
        {
            "kind": ROUTINE,
            "title": f"{first.year}年{first.month}月例行矛盾纠纷排查",
            "key_areas": list(KEY_AREAS),
            "month": month,
            "first": first,
            "last": last,
            "now": now,
        },
    ).all()
    db_session.flush()
    return len(rows)


def get_campaign(db_session: Session, *, actor: Actor, campaign_id: int) -> ScreeningCampaign:
    """A campaign over or inside the actor's area, or NotFound."""
    c = db_session.scalar(
        select(ScreeningCampaign).where(
            ScreeningCampaign.id == campaign_id, campaign_visible(actor)
        )
    )
    if c is None:
        raise NotFound("未找到该排查任务", code="campaign_not_found")
    return c


def list_campaigns(db_session: Session, *, actor: Actor, filters: dict, limit: int) -> list:
    """Campaigns over or inside the actor's area; filter by kind, area, a date they cover."""
    stmt = select(ScreeningCampaign).where(campaign_visible(actor))
    if filters.get("kind"):
        stmt = stmt.where(ScreeningCampaign.kind == filters["kind"])
    if filters.get("area"):
        stmt = stmt.where(ScreeningCampaign.area_code.startswith(filters["area"], autoescape=True))
    if filters.get("on"):
        stmt = stmt.where(
            ScreeningCampaign.starts_on <= filters["on"], ScreeningCampaign.ends_on >= filters["on"]
        )
    if filters.get("month"):
        first, last = month_bounds(filters["month"])
        stmt = stmt.where(ScreeningCampaign.starts_on <= last, ScreeningCampaign.ends_on >= first)
    order = (ScreeningCampaign.starts_on.desc(), ScreeningCampaign.id.desc())
    return list(db_session.scalars(stmt.order_by(*order).limit(limit)))


def covering_campaigns(db_session: Session, *, cell_code: str, at: datetime) -> list:
    """Every campaign a round of this cell at this time counts for."""
    day = _today(at)
    return list(
        db_session.scalars(
            select(ScreeningCampaign).where(
                literal(cell_code).startswith(ScreeningCampaign.area_code),
                ScreeningCampaign.starts_on <= day,
                ScreeningCampaign.ends_on >= day,
            )
        )
    )


# ------------------------------------------------------------------ coverage


def _cell_rows(db_session: Session, *, prefix: str, actor: Actor, start, end, today: date):
    """Current cells under a prefix inside the actor's scope: name, worker, last round."""
    scope_clause = code_prefix_clause(actor.case_scope, GridCell.code)
    codes = select(GridCell.code).where(
        GridCell.valid_to.is_(None),
        GridCell.code.startswith(prefix, autoescape=True),
        scope_clause,
    )
    return db_session.execute(
        text(
            """
            SELECT g.code, g.name, g.village_code, g.households, w.user_id AS worker_id,
                   w.display_name AS worker_name, lr.id AS last_round_id,
                   lr.screened_at AS last_screened_at, lr.zero_report AS last_zero_report
            FROM grid_cell g
            LEFT JOIN LATERAL (
                SELECT ca.user_id, u.display_name FROM cell_assignment ca
                JOIN user_account u ON u.id = ca.user_id
                WHERE ca.cell_code = g.code AND ca.valid_from <= :today
                  AND (ca.valid_to IS NULL OR ca.valid_to > :today)
                ORDER BY ca.valid_from DESC LIMIT 1) w ON true
            LEFT JOIN LATERAL (
                SELECT r.id, r.screened_at, r.zero_report FROM screening_round r
                WHERE r.cell_code = g.code AND r.screened_at >= :start AND r.screened_at < :end
                ORDER BY r.screened_at DESC LIMIT 1) lr ON true
            WHERE g.valid_to IS NULL AND g.code = ANY(:codes)
            ORDER BY g.code
            """
        ),
        {"today": today, "start": start, "end": end, "codes": list(db_session.scalars(codes))},
    ).all()


def _figures_out(f: metrics.ScreeningFigures) -> dict:
    return {**f.as_dict(), "cells_missing": f.cells_total - f.cells_screened}


def campaign_coverage(db_session: Session, *, actor: Actor, campaign_id: int, now: datetime):
    """Per cell of the campaign (inside the actor's area): screened, missing or overdue, the last
    round and the grid worker; totals and found by key area over those cells."""
    c = get_campaign(db_session, actor=actor, campaign_id=campaign_id)
    start, end = campaign_window(c)
    per_cell = metrics.screening_figures(
        db_session, level="cell", prefix=c.area_code, start=start, end=end
    )
    late = now > due_at(c)
    cells = []
    for row in _cell_rows(
        db_session, prefix=c.area_code, actor=actor, start=start, end=end, today=_today(now)
    ):
        f = per_cell.get(row.code) or metrics.ScreeningFigures(0, 0, 0, 1, 0, 0.0)
        state = SCREENED if f.cells_screened else (OVERDUE if late else MISSING)
        cells.append(
            {
                "code": row.code,
                "name": row.name,
                "village_code": row.village_code,
                "state": state,
                "state_label": CELL_STATES[state],
                "worker_id": row.worker_id,
                "worker_name": row.worker_name,
                "rounds": f.rounds,
                "found": f.found,
                "last_round_id": row.last_round_id,
                "last_screened_at": row.last_screened_at,
                "last_zero_report": row.last_zero_report,
            }
        )
    visible = [per_cell[x["code"]] for x in cells if x["code"] in per_cell]
    return {
        "campaign": c,
        "due_at": due_at(c),
        "totals": _figures_out(metrics.combine(visible)),
        "cells": cells,
    }


CHILD_LEVEL = {6: "township", 9: "village", 12: "cell", 15: "cell"}


def monthly_coverage(db_session: Session, *, actor: Actor, area: str, month: str) -> dict:
    """A month's screening figures for an area inside the actor's area, by child area."""
    if not actor.case_scope.contains_code(area):
        raise NotFound("未找到该区划", code="area_not_found")
    if len(area) == 15:
        exists = db_session.scalar(
            select(GridCell.code).where(GridCell.code == area, GridCell.valid_to.is_(None))
        )
    else:
        exists = db_session.scalar(
            select(Area.code).where(Area.code == area, Area.valid_to.is_(None))
        )
    if exists is None:
        raise NotFound("未找到该区划", code="area_not_found")
    start, end = month_window(month)
    level = CHILD_LEVEL[len(area)]
    figures = metrics.screening_figures(db_session, level=level, prefix=area, start=start, end=end)
    if len(area) == 15:
        figures = {k: v for k, v in figures.items() if k == area}
    codes = sorted(figures)
    names = dict(
        db_session.execute(
            select(GridCell.code, GridCell.name).where(
                GridCell.code.in_(codes), GridCell.valid_to.is_(None)
            )
        ).all()
        if level == "cell"
        else db_session.execute(
            select(Area.code, Area.name).where(Area.code.in_(codes), Area.valid_to.is_(None))
        ).all()
    )
    return {
        "area": area,
        "month": month,
        "level": level,
        "totals": _figures_out(metrics.combine(figures.values())),
        "items": [
            {"code": code, "name": names.get(code), **_figures_out(figures[code])} for code in codes
        ],
    }


# ------------------------------------------------------------------ reminders job


def reminder_key(campaign_id: int, cell_code: str) -> str:
    """The unique key of a cell's screening reminder in a campaign."""
    return f"screening:{campaign_id}:{cell_code}"


def late_cell_reminders(
    db_session: Session,
    *,
    now: datetime,
    lead: timedelta = timedelta(days=3),
    horizon: timedelta = timedelta(days=31),
) -> int:
    """For every campaign due within `lead` (or overdue less than `horizon` ago), a reminder to
    the grid worker of each of its cells without a round yet (the village head when the cell has
    no worker), due at the end of the due date; supervision follows through the supervise job.
    Idempotent by key; commits per campaign. Returns how many reminders were created."""
    today = _today(now)
    campaigns = db_session.scalars(
        select(ScreeningCampaign)
        .where(
            ScreeningCampaign.due_on <= (now + lead).astimezone(BUSINESS_TZ).date(),
            ScreeningCampaign.due_on >= (now - horizon).astimezone(BUSINESS_TZ).date(),
        )
        .order_by(ScreeningCampaign.id)
    ).all()
    made = 0
    for c in campaigns:
        start, end = campaign_window(c)
        due = due_at(c)
        made += len(
            db_session.execute(
                text(
                    """
                    INSERT INTO reminder (key, kind, area_code, recipient_id, recipient_role,
                        recipient_area, due_at, remind_at, state, title, body, created_at)
                    SELECT 'screening:' || CAST(:cid AS text) || ':' || g.code, 'screening_due', g.code,
                           w.user_id,
                           CASE WHEN w.user_id IS NULL THEN 'village_admin' END,
                           CASE WHEN w.user_id IS NULL THEN g.village_code END,
                           :due, :remind, 'pending', :title,
                           jsonb_build_object('campaign_id', CAST(:cid AS text),
                                              'campaign_title', CAST(:ctitle AS text),
                                              'cell_code', g.code,
                                              'due_on', CAST(:due_on AS text)),
                           :now
                    FROM grid_cell g
                    LEFT JOIN LATERAL (
                        SELECT ca.user_id FROM cell_assignment ca
                        WHERE ca.cell_code = g.code AND ca.valid_from <= :today
                          AND (ca.valid_to IS NULL OR ca.valid_to > :today)
                        ORDER BY ca.valid_from DESC LIMIT 1) w ON true
                    WHERE g.valid_to IS NULL AND g.code LIKE :prefix
                      AND NOT EXISTS (
                          SELECT 1 FROM screening_round r WHERE r.cell_code = g.code
                          AND r.screened_at >= :start AND r.screened_at < :end)
                    ON CONFLICT (key) WHERE dispute_id IS NULL DO NOTHING
                    RETURNING id
                    """
                ),
                {
                    "cid": str(c.id),
                    "ctitle": c.title,
                    "due": due,
                    "due_on": c.due_on.isoformat(),
                    "remind": due - lead,
                    "title": TITLES["screening_due"],
                    "now": now,
                    "today": today,
                    "prefix": f"{c.area_code}%",
                    "start": start,
                    "end": end,
                },
            ).all()
        )
        db_session.commit()
    return made
