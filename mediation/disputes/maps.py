"""Map layers for the township console: areas with figures, case points, hot spots (PostGIS).

They live with the disputes because they read the dispute table; geo lends them the shapes,
the simplification and the coordinate systems. Everything comes out as GeoJSON in the coordinate system the map asks for (GCJ-02 by default,
as Chinese web maps draw it). Case points carry no personal data.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import crs
from geo.areas import geometry_in, simplify_sql
from geo.scope import SQL_INSIDE, AreaScope, sql_params
from mediation.disputes.enums import OPEN_STATUSES_SQL

OPEN = OPEN_STATUSES_SQL


def area_figures_layer(
    db_session: Session,
    *,
    parent: str,
    level: str,
    now: datetime,
    system: str,
    simplify_m: float,
) -> dict:
    """The villages or cells under `parent` with open / RED / overdue counts (choropleth)."""
    column = {"village": "village_code", "cell": "cell_code"}[level]
    if level == "cell":
        shapes = f"""SELECT code, name, {simplify_sql(simplify_m)} AS geom FROM grid_cell
                     WHERE valid_to IS NULL AND code LIKE :p"""
    else:
        shapes = f"""SELECT code, name, {simplify_sql(simplify_m)} AS geom FROM area
                     WHERE valid_to IS NULL AND level = 'village' AND code LIKE :p"""
    rows = db_session.execute(
        text(
            f"""
WITH shapes AS ({shapes}),
counts AS (
  SELECT {column} AS code,
         count(*) AS open_cases,
         count(*) FILTER (WHERE risk_level = 'red') AS red,
         count(*) FILTER (WHERE risk_level = 'orange') AS orange,
         count(*) FILTER (WHERE next_due_at < :now) AS overdue
  FROM dispute
  WHERE {
                "township_code"
                if len(parent) == 9
                else "village_code"
                if len(parent) == 12
                else "county_code"
            } = :parent AND status IN {OPEN}
  GROUP BY 1)
SELECT s.code, s.name, ST_AsGeoJSON(s.geom, 6) AS geometry,
       coalesce(c.open_cases, 0) AS open_cases, coalesce(c.red, 0) AS red,
       coalesce(c.orange, 0) AS orange, coalesce(c.overdue, 0) AS overdue
FROM shapes s LEFT JOIN counts c ON c.code = s.code ORDER BY s.code"""
        ),
        {"p": f"{parent}%", "parent": parent, "now": now},
    ).mappings()
    features = [
        {
            "type": "Feature",
            "id": r["code"],
            "properties": {
                "code": r["code"],
                "name": r["name"],
                "open_cases": r["open_cases"],
                "red": r["red"],
                "orange": r["orange"],
                "overdue": r["overdue"],
            },
            "geometry": geometry_in(json.loads(r["geometry"]), system),
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def case_points(
    db_session: Session,
    *,
    scope: AreaScope,
    area: str,
    bbox: tuple[float, float, float, float] | None,
    statuses: list[str] | None,
    risks: list[str] | None,
    since: datetime | None,
    system: str,
    limit: int,
    now: datetime,
) -> dict:
    """Cases of an area as points (no personal data), newest first, at most `limit`."""
    column = {6: "county_code", 9: "township_code", 12: "village_code", 15: "cell_code"}[len(area)]
    where = [f"d.{column} = :area", SQL_INSIDE.format(col="d.cell_code")]
    params: dict = {"area": area, "limit": limit, **sql_params(scope)}
    if bbox:
        where.append("d.location && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    if statuses:
        where.append("d.status = ANY(:statuses)")
        params["statuses"] = statuses
    if risks:
        where.append("d.risk_level = ANY(:risks)")
        params["risks"] = risks
    if since:
        where.append("d.registered_at >= :since")
        params["since"] = since
    rows = db_session.execute(
        text(
            f"""SELECT d.id, d.case_number, d.category, d.status, d.risk_level, d.handling_level,
                       d.registered_at, d.next_due_at, ST_X(d.location) AS lon,
                       ST_Y(d.location) AS lat
                FROM dispute d WHERE {" AND ".join(where)}
                ORDER BY d.registered_at DESC LIMIT :limit"""
        ),
        params,
    ).mappings()
    features = []
    for r in rows:
        lon, lat = (float(v) for v in crs.from_wgs84(r["lon"], r["lat"], system))
        features.append(
            {
                "type": "Feature",
                "id": str(r["id"]),
                "properties": {
                    "id": str(r["id"]),
                    "case_number": r["case_number"],
                    "category": r["category"],
                    "status": r["status"],
                    "risk_level": r["risk_level"],
                    "handling_level": r["handling_level"],
                    "registered_at": r["registered_at"].isoformat(),
                    "overdue": bool(r["next_due_at"] and r["next_due_at"] < now),
                },
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def hot_spots(
    db_session: Session,
    *,
    scope: AreaScope,
    area: str,
    start: datetime,
    end: datetime,
    radius_m: float,
    min_cases: int,
    system: str,
) -> dict:
    """Places where at least `min_cases` cases registered in [start, end) lie within `radius_m`
    of each other (DBSCAN in a local metric projection): the weak signals to catch early."""
    column = {6: "county_code", 9: "township_code", 12: "village_code", 15: "cell_code"}[len(area)]
    rows = db_session.execute(
        text(
            f"""
WITH pts AS (
  SELECT d.category, d.risk_level, d.registered_at, d.location,
         ST_Transform(d.location, 3857) AS metric
  FROM dispute d
  WHERE d.{column} = :area AND {SQL_INSIDE.format(col="d.cell_code")}
    AND d.registered_at >= :start AND d.registered_at < :end),
-- Web Mercator stretches distances by 1 / cos(latitude): widen eps by the same factor.
clustered AS (
  SELECT *, ST_ClusterDBSCAN(metric, eps := :eps / cos(radians(
           (SELECT avg(ST_Y(location)) FROM pts))), minpoints := :minpoints) OVER () AS cid
  FROM pts),
clusters AS (
  SELECT cid, count(*) AS cases,
         count(*) FILTER (WHERE risk_level IN ('red', 'orange')) AS high_risk,
         min(registered_at) AS first_at, max(registered_at) AS last_at,
         array_agg(DISTINCT category ORDER BY category) AS categories,
         ST_Centroid(ST_Collect(location)) AS centre,
         ST_ConvexHull(ST_Collect(location)) AS hull
  FROM clustered WHERE cid IS NOT NULL GROUP BY cid)
SELECT c.cases, c.high_risk, c.first_at, c.last_at, c.categories,
       ST_AsGeoJSON(c.centre, 6) AS centre, ST_AsGeoJSON(c.hull, 6) AS hull,
       (SELECT max(ST_Distance(k.location::geography, c.centre::geography))
          FROM clustered k WHERE k.cid = c.cid) AS radius_m
FROM clusters c ORDER BY c.cases DESC, c.first_at"""
        ),
        {
            "area": area,
            "start": start,
            "end": end,
            "eps": radius_m,
            "minpoints": min_cases,
            **sql_params(scope),
        },
    ).mappings()
    features = []
    for i, r in enumerate(rows, 1):
        centre = json.loads(r["centre"])
        features.append(
            {
                "type": "Feature",
                "id": i,
                "properties": {
                    "cases": r["cases"],
                    "high_risk": r["high_risk"],
                    "categories": list(r["categories"]),
                    "first_at": r["first_at"].isoformat(),
                    "last_at": r["last_at"].isoformat(),
                    "radius_m": round(float(r["radius_m"] or 0), 1),
                    "hull": geometry_in(json.loads(r["hull"]), system),
                },
                "geometry": geometry_in(centre, system),
            }
        )
    return {"type": "FeatureCollection", "features": features}
