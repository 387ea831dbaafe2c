"""Map layers shared by the API (`/api/v1/console/map/…`) and the console's map page: the same
defaults (hot spots of the last 30 days) and the same inputs, shaped once."""

from __future__ import annotations

from datetime import date, datetime, time

from core.clock import BUSINESS_TZ
from mediation.disputes import maps as layers
from mediation.reports import console

HOTSPOT_DAYS = 30


def area_level(area: str, level: str | None) -> tuple[str, str]:
    """(parent, level) of the choropleth under `area`: villages of a township, cells of a village
    (a cell code shows its village's cells)."""
    level = level or ("cell" if len(area) >= 12 else "village")
    if len(area) == 15 or (level == "village" and len(area) == 12):
        level = "cell"
    return (area[:12] if len(area) == 15 else area), level


def case_points(session, *, since: date | None = None, **kw) -> dict:
    """Case points (no personal data); `since` is a business-calendar day."""
    start = datetime.combine(since, time(0), BUSINESS_TZ) if since else None
    return layers.case_points(session, since=start, **kw)


def hot_spots(
    session,
    *,
    scope,
    area: str,
    now: datetime,
    start: date | None = None,
    end: date | None = None,
    radius_m: float = 200.0,
    min_cases: int = 3,
    system: str = "wgs84",
) -> dict:
    """Hot spots within [start, end] (default: the last 30 days up to today)."""
    today = now.astimezone(BUSINESS_TZ).date()
    start = start or today.fromordinal(today.toordinal() - (HOTSPOT_DAYS - 1))
    period = console.check_period(start, end or today, now)
    return layers.hot_spots(
        session,
        scope=scope,
        area=area,
        start=period.start_at,
        end=period.end_at,
        radius_m=radius_m,
        min_cases=min_cases,
        system=system,
    )
