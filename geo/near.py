""" "Within so many metres of a point" in SQL, the same way everywhere: an index-friendly bounding
test in degrees first, then the exact geodesic distance."""

from __future__ import annotations

import math

METRES_PER_DEGREE = 111_320.0


def metres_as_degrees(metres: float, lat: float) -> float:
    """Degrees that cover at least `metres` in every direction at latitude `lat` (a degree of
    longitude shrinks with the cosine of the latitude)."""
    return metres / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))


def within_metres_sql(column: str, *, x: str = "x", y: str = "y", deg: str = "deg", m: str = "m"):
    """SQL condition: geometry `column` (SRID 4326) within `%(m)s` metres of point (`%(x)s`,
    `%(y)s`); pass `deg` = metres_as_degrees(m, y). Placeholders in psycopg's pyformat."""
    point = f"ST_SetSRID(ST_MakePoint(%({x})s, %({y})s), 4326)"
    return (
        f"ST_DWithin({column}, {point}, %({deg})s)"
        f" AND ST_DWithin({column}::geography, {point}::geography, %({m})s)"
    )
