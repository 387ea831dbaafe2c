"""Point location: a coordinate in any supported system → cell, village, township, county."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core import fastsql
from core.errors import ValidationFailed
from geo import crs
from geo.near import metres_as_degrees

EXACT = "exact"
AMBIGUOUS = "ambiguous"
APPROXIMATE = "approximate"

_SELECT = """
    SELECT g.code, g.name, g.village_code, v.name AS village_name,
           t.code AS township_code, t.name AS township_name,
           c.code AS county_code, c.name AS county_name{extra}
    FROM grid_cell g
    LEFT JOIN area v ON v.code = g.village_code AND v.valid_to IS NULL
    LEFT JOIN area t ON t.code = left(g.village_code, 9) AND t.valid_to IS NULL
    LEFT JOIN area c ON c.code = left(g.village_code, 6) AND c.valid_to IS NULL
"""

# Cells covering the point; several rows only where village polygons overlap (or on a shared edge).
CELLS_COVERING = (
    _SELECT.format(extra="")
    + """
    WHERE g.valid_to IS NULL
      AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
    ORDER BY g.code
    """
)

# The nearest cell within the tolerance, for points in the gaps between real-world boundaries.
CELL_NEAREST = (
    _SELECT.format(
        extra=", ST_Distance(g.geom::geography, "
        "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) AS distance_m"
    )
    + """
    WHERE g.valid_to IS NULL
      AND ST_DWithin(g.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(deg)s)
    ORDER BY distance_m, g.code
    LIMIT 1
    """
)


def _fetch(db_session: Session, sql: str, params: dict) -> list:
    """Locate statements run prepared on the driver connection: on this hot path SQLAlchemy's
    result machinery cost more than the query itself (bench/run.py, scenario locate)."""
    return fastsql.fetch(db_session, sql, params)


@dataclass
class Located:
    """Where a point falls, with how sure we are."""

    lon: float
    lat: float
    cell_code: str
    cell_name: str
    village_code: str
    village_name: str | None
    township_code: str | None
    township_name: str | None
    county_code: str | None
    county_name: str | None
    match: str = EXACT
    distance_m: float = 0.0
    candidates: list[dict] = field(default_factory=list)


def _located(row, lon: float, lat: float, **extra) -> Located:
    return Located(
        lon=lon,
        lat=lat,
        cell_code=row.code,
        cell_name=row.name,
        village_code=row.village_code,
        village_name=row.village_name,
        township_code=row.township_code,
        township_name=row.township_name,
        county_code=row.county_code,
        county_name=row.county_name,
        **extra,
    )


def check_point(lon, lat, *, field_prefix: str = "") -> tuple[float, float]:
    """Validate a lon/lat pair for this product; raise a field-level error when it is unusable."""
    try:
        lon_f, lat_f = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "坐标不是有效数字", code="invalid_coordinates", field=f"{field_prefix}lon"
        ) from None
    problem = crs.coordinate_problem(lon_f, lat_f)
    if problem:
        raise ValidationFailed(problem[1], code=problem[0], field=f"{field_prefix}lon")
    return lon_f, lat_f


def wgs84_point(lon, lat, system: str, *, field_prefix: str = "") -> tuple[float, float]:
    """A checked point in `system` as WGS-84 (lon, lat): the one conversion every input uses.
    Errors name the fields as the request sent them (`field_prefix`, e.g. "location.")."""
    system = crs.check_system(system, f"{field_prefix}crs")
    lon, lat = check_point(lon, lat, field_prefix=field_prefix)
    wlon, wlat = crs.to_wgs84(lon, lat, system)
    return float(wlon), float(wlat)


def locate(
    db_session: Session,
    *,
    lon: float,
    lat: float,
    system: str,
    tolerance_m: float,
    field_prefix: str = "",
) -> Located:
    """Route a point to its cell; flag overlaps and nearest-cell fallbacks; raise outside coverage.

    Errors name the fields as the request sent them (`field_prefix`, e.g. "location.")."""
    wlon, wlat = wgs84_point(lon, lat, system, field_prefix=field_prefix)
    rows = _fetch(db_session, CELLS_COVERING, {"lon": wlon, "lat": wlat})
    if rows:
        villages = {r.village_code for r in rows}
        if len(villages) == 1:
            return _located(rows[0], wlon, wlat)
        # Overlapping village polygons: deterministic answer (lowest cell code), flagged.
        candidates = [
            {"cell_code": r.code, "village_code": r.village_code, "village_name": r.village_name}
            for r in rows
        ]
        return _located(rows[0], wlon, wlat, match=AMBIGUOUS, candidates=candidates)
    deg = metres_as_degrees(tolerance_m, wlat)
    found = _fetch(db_session, CELL_NEAREST, {"lon": wlon, "lat": wlat, "deg": deg})
    row = found[0] if found else None
    if row is not None and row.distance_m <= tolerance_m:
        return _located(row, wlon, wlat, match=APPROXIMATE, distance_m=round(row.distance_m, 1))
    raise ValidationFailed(
        f"该位置不在系统覆盖的网格范围内（{tolerance_m:.0f} 米内没有网格），请核对定位或坐标系",
        code="outside_coverage",
        field="location",
        details={"lon": wlon, "lat": wlat},
    )
