"""Grid cells: generate compact cells inside villages in PostGIS, or import hand-drawn ones."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from geoalchemy2.shape import from_shape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from geo.enums import (
    CELL_COMPREHENSIVE,
    CELL_DEDICATED,
    CELL_GENERATED,
    CELL_IMPORTED,
    GUIDE_MAX_POPULATION,
    households_guideline,
)
from geo.geojson import ParsedFeature
from geo.models import Area, GridCell

# Random points → k-means clusters → Voronoi of the cluster centres → clipped to the village.
# Cells are numbered in reading order: rows of about one cell's height from north to south,
# west to east within a row. Everything happens in one statement inside PostGIS.
_GENERATE = text(
    """
    WITH v AS (
        SELECT code, name, geom, ST_YMax(geom) AS ymax FROM area
        WHERE code = :code AND valid_to IS NULL
    ),
    pts AS (
        SELECT (ST_Dump(ST_GeneratePoints(v.geom, :npts, :seed))).geom AS g FROM v
    ),
    km AS (SELECT g, ST_ClusterKMeans(g, :k) OVER () AS cid FROM pts),
    ctr AS (SELECT ST_Centroid(ST_Collect(g)) AS c FROM km GROUP BY cid),
    vor AS (
        -- Voronoi of a single seed is empty: a one-cell village is the whole village.
        SELECT (ST_Dump(d)).geom AS cell FROM (
            SELECT ST_VoronoiPolygons(ST_Collect(c), 0.0, ST_Expand((SELECT geom FROM v), 0.05)) AS d,
                   count(*) AS n
            FROM ctr
        ) s WHERE n > 1
        UNION ALL
        SELECT ST_Expand(geom, 0.05) FROM v WHERE (SELECT count(*) FROM ctr) <= 1
    ),
    clipped AS (
        SELECT ST_Multi(ST_CollectionExtract(ST_Intersection(vor.cell, v.geom), 3)) AS geom, v.ymax
        FROM vor, v
    ),
    ordered AS (
        SELECT geom,
               row_number() OVER (
                   ORDER BY floor((ymax - ST_Y(ST_PointOnSurface(geom))) / :band),
                            ST_X(ST_PointOnSurface(geom))
               ) AS seq
        FROM clipped WHERE NOT ST_IsEmpty(geom) AND ST_Area(geom) > 0
    )
    INSERT INTO grid_cell (code, village_code, name, cell_type, geom, geom_hash, source,
                           valid_from)
    SELECT :code || lpad(seq::text, 3, '0'), :code, :name || '第' || seq || '网格',
           :cell_type, geom, md5(ST_AsBinary(ST_SnapToGrid(geom, 1e-7)))::text, :source,
           :today
    FROM ordered
    RETURNING code
    """
)

MAX_COMPREHENSIVE = 899


@dataclass
class CellResult:
    """Counts from a generation or import run, plus guideline warnings."""

    villages: int = 0
    cells: int = 0
    unchanged: int = 0
    replaced: int = 0
    warnings: list[str] = field(default_factory=list)


def nearest_cell_of(
    db_session: Session, *, codes, lon: float, lat: float
) -> tuple[str, float] | None:
    """Of the current cells `codes`, the one nearest a WGS-84 point and its distance in metres
    (0 inside it); None when none of them exists."""
    row = db_session.execute(
        text(
            "SELECT code, ST_Distance(geom::geography,"
            " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS d"
            " FROM grid_cell WHERE code = ANY(:codes) AND valid_to IS NULL"
            " ORDER BY d, code LIMIT 1"
        ),
        {"codes": sorted(codes), "lon": lon, "lat": lat},
    ).first()
    return (row.code, float(row.d)) if row is not None else None


def cells_wanted(
    *, area_km2: float, households: int | None, target_km2: float, target_households: int
) -> int:
    """How many cells a village gets: by households when known, else by area."""
    if households:
        k = math.ceil(households / target_households)
    else:
        k = round(area_km2 / target_km2)
    return max(1, min(MAX_COMPREHENSIVE, k))


def villages_without_cells(db_session: Session, *, scope_code: str = "") -> list[Area]:
    """Current villages under `scope_code` that have no current cell."""
    has_cell = (
        select(GridCell.id)
        .where(GridCell.village_code == Area.code, GridCell.valid_to.is_(None))
        .exists()
    )
    return list(
        db_session.scalars(
            select(Area)
            .where(
                Area.level == "village",
                Area.valid_to.is_(None),
                Area.code.like(f"{scope_code}%"),
                ~has_cell,
            )
            .order_by(Area.code)
        )
    )


def generate_cells(
    db_session: Session,
    *,
    today: date,
    target_km2: float,
    target_households: int,
    scope_code: str = "",
    progress: Callable[[int], None] | None = None,
) -> CellResult:
    """Cut every village without cells into compact cells (only flushes; caller commits)."""
    result = CellResult()
    villages = villages_without_cells(db_session, scope_code=scope_code)
    for village in villages:
        area_km2 = db_session.scalar(
            text("SELECT ST_Area(geom::geography) / 1e6 FROM area WHERE id = :id"),
            {"id": village.id},
        )
        k = cells_wanted(
            area_km2=area_km2,
            households=village.households,
            target_km2=target_km2,
            target_households=target_households,
        )
        band_deg = math.sqrt(area_km2 / k) * 1000.0 / 111_320.0
        codes = (
            db_session.execute(
                _GENERATE,
                {
                    "code": village.code,
                    "name": village.name,
                    "k": k,
                    "npts": min(5000, max(60, 40 * k)),
                    "seed": int(village.code) % 2_147_483_647,
                    "band": band_deg,
                    "cell_type": CELL_COMPREHENSIVE,
                    "source": CELL_GENERATED,
                    "today": today,
                },
            )
            .scalars()
            .all()
        )
        result.villages += 1
        result.cells += len(codes)
        if progress:
            progress(1)
    db_session.flush()
    return result


def import_cells(db_session: Session, *, features: list[ParsedFeature], today: date) -> CellResult:
    """Import hand-drawn cells (15-digit codes); re-import versions changed geometry."""
    result = CellResult()
    fields: dict[str, list[str]] = {}
    village_codes = {f.code[:12] for f in features}
    villages = {
        a.code: a.name
        for a in db_session.scalars(
            select(Area).where(Area.code.in_(village_codes), Area.valid_to.is_(None))
        )
    }
    for f in features:
        path = f"features[{f.index}].properties.adcode"
        if len(f.code) != 15:
            fields.setdefault(path, []).append("网格编码应为 15 位（村代码 12 位 + 序号 3 位）")
        elif f.code[:12] not in villages:
            fields.setdefault(path, []).append(f"网格 {f.code} 所属的村 {f.code[:12]} 不存在")
        elif f.code[12:] == "000":
            fields.setdefault(path, []).append("网格序号应为 001–999")
    if fields:
        raise ValidationFailed(
            "网格文件有误，未导入任何内容",
            code="code_not_nested",
            fields=dict(list(fields.items())[:20]),
        )
    existing = {
        c.code: c
        for c in db_session.scalars(
            select(GridCell).where(
                GridCell.code.in_([f.code for f in features]), GridCell.valid_to.is_(None)
            )
        )
    }
    for f in features:
        households = _int_or_none(f.properties.get("households"))
        population = _int_or_none(f.properties.get("population"))
        guide = households_guideline(f.code, villages.get(f.code[:12]))
        if households and guide and households > guide:
            result.warnings.append(f"网格 {f.code} 有 {households} 户，超过指导标准 {guide} 户")
        if population and guide and population > GUIDE_MAX_POPULATION:
            result.warnings.append(
                f"网格 {f.code} 有 {population} 人，超过指导标准 {GUIDE_MAX_POPULATION} 人"
            )
        digest = f.geom_hash
        old = existing.get(f.code)
        if old is not None and old.geom_hash == digest:
            old.name, old.households, old.population = f.name, households, population
            result.unchanged += 1
            continue
        if old is not None:
            old.valid_to = today
            result.replaced += 1
            db_session.flush()
        db_session.add(
            GridCell(
                code=f.code,
                village_code=f.code[:12],
                name=f.name,
                cell_type=CELL_DEDICATED if int(f.code[12:]) >= 900 else CELL_COMPREHENSIVE,
                households=households,
                population=population,
                geom=from_shape(f.geom, srid=4326),
                geom_hash=digest,
                source=CELL_IMPORTED,
                valid_from=today,
            )
        )
        result.cells += 1
    db_session.flush()
    return result


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
