"""Places known only by their village (a partner's work order with an address, a walk-in at the
centre's window): the village chosen, checked by lookup, and the case routed there "not
located" — no coordinates are made up for it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from geo.locate import Located, locate

NOT_LOCATED = "not_located"


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


def current_village(db_session: Session, code: str | None) -> tuple[str, str] | None:
    """(code, name) of a current village, or None (a code is checked by lookup, never by range)."""
    if not code or len(code) != 12:
        return None
    row = db_session.execute(
        text(
            "SELECT code, name FROM area WHERE code = :c AND level = 'village' AND valid_to IS NULL"
        ),
        {"c": code},
    ).first()
    return (row.code, row.name) if row else None


def place_of(
    db_session: Session, *, location: dict | None, village_code: str | None, tolerance_m: float
) -> Located:
    """Where a case is routed: its point's cell, or — with no point — the village chosen for it:
    "not located", with no coordinates and the village code standing for the cell."""
    if location:
        return locate(
            db_session,
            lon=location["lon"],
            lat=location["lat"],
            system=location["crs"],
            tolerance_m=tolerance_m,
            field_prefix="location.",
        )
    village = current_village(db_session, village_code)
    if village is None:
        if village_code:
            raise ValidationFailed(
                "村（社区）代码不存在，请选择纠纷所在的村（社区）",
                code="unknown_village",
                field="village_code",
            )
        raise ValidationFailed(
            "请给出纠纷地点的坐标，或选择所在村（社区）",
            code="location_required",
            field="location",
        )
    code, name = village
    return Located(
        lon=None,
        lat=None,
        cell_code=code,
        cell_name=None,
        village_code=code,
        village_name=name,
        township_code=code[:9],
        township_name=None,
        county_code=code[:6],
        county_name=None,
        match=NOT_LOCATED,
    )
