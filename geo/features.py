"""Grid cells as small GeoJSON-ready dicts for phones (geometry only when asked for)."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session


def current_cells(db_session: Session, *, codes, geometry_for=()) -> dict[str, dict]:
    """The current version of each cell by code; `geometry` (WGS-84 GeoJSON, 6 decimals) only for
    the codes in `geometry_for`, so unchanged boundaries are not sent to phones again."""
    codes = sorted(set(codes))
    if not codes:
        return {}
    rows = db_session.execute(
        text(
            """SELECT code, village_code, name, cell_type, households, population, geom_hash,
                      CASE WHEN code = ANY(:with_geom) THEN ST_AsGeoJSON(geom, 6) END AS geojson
               FROM grid_cell WHERE valid_to IS NULL AND code = ANY(:codes)"""
        ),
        {"codes": codes, "with_geom": sorted(set(geometry_for))},
    ).all()
    out = {}
    for r in rows:
        cell = {
            "code": r.code,
            "village_code": r.village_code,
            "name": r.name,
            "cell_type": r.cell_type,
            "households": r.households,
            "population": r.population,
            "geom_hash": r.geom_hash,
        }
        if r.geojson is not None:
            cell["geometry"] = json.loads(r.geojson)
        out[r.code] = cell
    return out
