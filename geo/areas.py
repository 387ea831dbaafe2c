"""Named queries over areas and cells, returning plain dicts and GeoJSON."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import NotFound
from geo import crs
from geo.enums import LEVEL_LABELS
from geo.models import Area
from geo.scope import SQL_INSIDE, SQL_VISIBLE, AreaScope, sql_params, visible_area_clause

METRES_PER_DEGREE = 111_320.0


def get_area(db_session: Session, *, code: str, scope: AreaScope) -> Area:
    """The current version of an area the scope may see (inside it or above it), or NotFound."""
    area = db_session.scalar(
        select(Area).where(
            Area.code == code, Area.valid_to.is_(None), visible_area_clause(scope, Area.code)
        )
    )
    if area is None:
        raise NotFound("未找到该区划", code="area_not_found")
    return area


def list_children(db_session: Session, *, code: str | None, scope: AreaScope) -> list[dict]:
    """Visible children of an area (the roots when code is None), with their child counts."""
    parent_filter = "a.parent_code IS NULL" if code is None else "a.parent_code = :code"
    rows = db_session.execute(
        text(
            f"""
            SELECT a.code, a.name, a.level,
                   (SELECT count(*) FROM area c WHERE c.parent_code = a.code AND c.valid_to IS NULL
                      AND {SQL_VISIBLE.format(col="c.code")})
                   + (SELECT count(*) FROM grid_cell g
                      WHERE g.village_code = a.code AND g.valid_to IS NULL
                      AND {SQL_INSIDE.format(col="g.code")}) AS children
            FROM area a WHERE a.valid_to IS NULL AND {parent_filter}
              AND {SQL_VISIBLE.format(col="a.code")}
            ORDER BY a.code
            """
        ),
        {"code": code, **sql_params(scope)},
    ).all()
    return [
        {
            "code": r.code,
            "name": r.name,
            "level": r.level,
            "level_label": LEVEL_LABELS[r.level],
            "children": r.children,
        }
        for r in rows
    ]


def _convert_coords(coords, system: str):
    if coords and isinstance(coords[0], (int, float)):  # a position
        lon, lat = crs.from_wgs84(coords[0], coords[1], system)
        return [round(float(lon), 6), round(float(lat), 6)]
    if coords and isinstance(coords[0][0], (int, float)):  # a ring / line: convert at once
        arr = np.asarray(coords, dtype=float)
        lon, lat = crs.from_wgs84(arr[:, 0], arr[:, 1], system)
        return np.round(np.column_stack([lon, lat]), 6).tolist()
    return [_convert_coords(c, system) for c in coords]


def geometry_in(geometry: dict, system: str) -> dict:
    """A GeoJSON geometry (WGS-84) expressed in another coordinate system for display."""
    if system == crs.WGS84:
        return geometry
    return {
        "type": geometry["type"],
        "coordinates": _convert_coords(geometry["coordinates"], system),
    }


def simplify_sql(simplify_m: float) -> str:
    if simplify_m and simplify_m > 0:
        return f"ST_SimplifyPreserveTopology(geom, {float(simplify_m) / METRES_PER_DEGREE!r})"
    return "geom"


def area_feature(
    db_session: Session, *, code: str, scope: AreaScope, system: str, simplify_m: float = 0
) -> dict:
    """An area as a GeoJSON Feature."""
    area = get_area(db_session, code=code, scope=scope)
    geometry = db_session.scalar(
        text(f"SELECT ST_AsGeoJSON({simplify_sql(simplify_m)}, 6) FROM area WHERE id = :id"),
        {"id": area.id},
    )
    return {
        "type": "Feature",
        "id": area.code,
        "properties": {
            "code": area.code,
            "name": area.name,
            "level": area.level,
            "parent_code": area.parent_code,
            "valid_from": area.valid_from.isoformat(),
        },
        "geometry": geometry_in(json.loads(geometry), system),
    }


def cell_feature(
    db_session: Session, *, code: str, scope: AreaScope, system: str, simplify_m: float = 0
) -> dict:
    """A grid cell as a GeoJSON Feature."""
    row = db_session.execute(
        text(
            f"""SELECT code, name, village_code, cell_type, households, population, valid_from,
                       ST_AsGeoJSON({simplify_sql(simplify_m)}, 6) AS geometry
                FROM grid_cell WHERE code = :code AND valid_to IS NULL
                AND {SQL_INSIDE.format(col="code")}"""
        ),
        {"code": code, **sql_params(scope)},
    ).first()
    if row is None:
        raise NotFound("未找到该网格", code="cell_not_found")
    return _cell_feature(row, system)


def _cell_feature(row, system: str) -> dict:
    return {
        "type": "Feature",
        "id": row.code,
        "properties": {
            "code": row.code,
            "name": row.name,
            "village_code": row.village_code,
            "cell_type": row.cell_type,
            "households": row.households,
            "population": row.population,
            "valid_from": row.valid_from.isoformat(),
        },
        "geometry": geometry_in(json.loads(row.geometry), system),
    }


def cells_of_area(
    db_session: Session, *, code: str, scope: AreaScope, system: str, simplify_m: float = 0
) -> dict:
    """The visible current cells inside an area (by code prefix) as a FeatureCollection."""
    get_area(db_session, code=code, scope=scope)
    rows = db_session.execute(
        text(
            f"""SELECT code, name, village_code, cell_type, households, population, valid_from,
                       ST_AsGeoJSON({simplify_sql(simplify_m)}, 6) AS geometry
                FROM grid_cell WHERE valid_to IS NULL AND village_code LIKE :prefix
                AND {SQL_INSIDE.format(col="code")}
                ORDER BY code"""
        ),
        {"prefix": f"{code}%", **sql_params(scope)},
    ).all()
    return {"type": "FeatureCollection", "features": [_cell_feature(r, system) for r in rows]}
