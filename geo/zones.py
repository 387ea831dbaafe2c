"""Zones of concern drawn by users (the area a 稳评 item touches): parse, check against the
township, villages touched, points inside. The spatial SQL of the risk register lives here."""

from __future__ import annotations

import json

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, text
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from geo import crs
from geo.areas import geometry_in
from geo.geojson import _polygons_of, _to_multipolygon

MAX_VERTICES = 20_000


def parse_zone(geometry, *, system: str, field: str = "geometry") -> MultiPolygon:
    """A GeoJSON (Multi)Polygon in `system` → a valid WGS-84 MultiPolygon, or a field error."""
    system = crs.check_system(system, f"{field}.crs")
    polys, _dropped, problem = _polygons_of(geometry)
    if problem:
        raise ValidationFailed(problem[1], code="invalid_geometry", field=field)
    if sum(len(ring) for poly in polys for ring in poly) > MAX_VERTICES:
        raise ValidationFailed(
            f"范围的顶点过多（最多 {MAX_VERTICES} 个）", code="invalid_geometry", field=field
        )
    try:
        geom, _repaired = _to_multipolygon(polys, system)
    except (ValueError, TypeError):
        raise ValidationFailed(
            "范围坐标格式不对，应为 [经度, 纬度] 的环", code="invalid_geometry", field=field
        ) from None
    if geom.is_empty or geom.area == 0:
        raise ValidationFailed("范围面积为零", code="invalid_geometry", field=field)
    return geom


def check_within(db_session: Session, *, geom: MultiPolygon, area_code: str, field: str) -> None:
    """The zone must lie within the area's current boundary (ST_CoveredBy)."""
    inside = db_session.scalar(
        text(
            "SELECT ST_CoveredBy(ST_GeomFromText(:wkt, 4326), geom) FROM area "
            "WHERE code = :code AND valid_to IS NULL"
        ),
        {"wkt": geom.wkt, "code": area_code},
    )
    if not inside:
        raise ValidationFailed(
            "范围超出了本乡镇（街道）的行政区域，请在本乡镇范围内绘制",
            code="zone_outside_township",
            field=field,
        )


def villages_touched(db_session: Session, *, geom: MultiPolygon, township: str) -> list[str]:
    """Current villages of the township whose polygon shares area with the zone."""
    return list(
        db_session.scalars(
            text(
                """SELECT code FROM area
                   WHERE level = 'village' AND valid_to IS NULL AND parent_code = :t
                     AND ST_Intersects(geom, ST_GeomFromText(:wkt, 4326))
                     AND ST_Area(ST_Intersection(geom, ST_GeomFromText(:wkt, 4326))) > 0
                   ORDER BY code"""
            ),
            {"t": township, "wkt": geom.wkt},
        )
    )


def current_villages(db_session: Session, codes: list[str]) -> dict[str, str]:
    """code → parent (township) code of the current villages among `codes`."""
    rows = db_session.execute(
        text(
            "SELECT code, parent_code FROM area WHERE level = 'village' AND valid_to IS NULL "
            "AND code = ANY(:codes)"
        ),
        {"codes": list(codes)},
    ).all()
    return {r.code: r.parent_code for r in rows}


def as_column_value(geom: MultiPolygon | None):
    """The zone as a geometry column value (SRID 4326)."""
    return from_shape(geom, srid=4326) if geom is not None else None


def covered_clause(point_column, zone_column):
    """WHERE clause: a point inside a zone column (boundary included)."""
    return func.ST_CoveredBy(point_column, zone_column)


def zone_geojson(db_session: Session, *, zone_column_value, system: str) -> dict | None:
    """A stored zone as GeoJSON in `system`."""
    if zone_column_value is None:
        return None
    raw = db_session.scalar(func.ST_AsGeoJSON(zone_column_value, 6))
    return geometry_in(json.loads(raw), system)
