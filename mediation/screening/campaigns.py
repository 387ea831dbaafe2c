"""Screening campaigns (排查任务): their windows in business dates, who sees and launches them, the monthly routine ones."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import false, literal, or_, select, text, true
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import NotFound, ValidationFailed
from geo.models import Area
from geo.scope import code_prefix_clause
from mediation.screening.enums import (
    KEY_AREAS,
    ROUTINE,
    SPECIAL,
)
from mediation.screening.models import (
    ScreeningCampaign,
)
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN

MAX_CAMPAIGN_DAYS = 366


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


def business_today(now: datetime) -> date:
    return now.astimezone(BUSINESS_TZ).date()


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
    if ends < business_today(now):
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
    month = month or business_today(now).strftime("%Y-%m")
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
    day = business_today(at)
    return list(
        db_session.scalars(
            select(ScreeningCampaign).where(
                literal(cell_code).startswith(ScreeningCampaign.area_code),
                ScreeningCampaign.starts_on <= day,
                ScreeningCampaign.ends_on >= day,
            )
        )
    )


def reminder_key(campaign_id: int, cell_code: str) -> str:
    """The unique key of a cell's screening reminder in a campaign."""
    return f"screening:{campaign_id}:{cell_code}"
