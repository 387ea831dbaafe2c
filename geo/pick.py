"""A point to stand for an area when a place is known only by its village (walk-in registration
at the township centre's window: the party names the village, not a spot on the map)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def point_in_area(db_session: Session, code: str) -> tuple[float, float] | None:
    """A WGS-84 point inside the current polygon of an area (or cell), or None."""
    table = "grid_cell" if len(code) == 15 else "area"
    row = db_session.execute(
        text(
            f"""SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (
                  SELECT ST_PointOnSurface(geom) AS p FROM {table}
                  WHERE code = :c AND valid_to IS NULL) s"""
        ),
        {"c": code},
    ).first()
    return (row.x, row.y) if row else None


def villages_under(db_session: Session, prefix: str) -> list[tuple[str, str]]:
    """(code, name) of the current villages under a township or county code."""
    return [
        (r.code, r.name)
        for r in db_session.execute(
            text(
                """SELECT code, name FROM area WHERE level = 'village' AND valid_to IS NULL
                   AND code LIKE :p ORDER BY code"""
            ),
            {"p": f"{prefix}%"},
        )
    ]
