"""Quality report of loaded boundaries and cells: repairs, overlaps, gaps, parts outside parents."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Pieces smaller than this (m², a 10 m × 10 m square) are slivers from digitising, counted in the
# total area but not as separate gaps or overlaps worth a township's attention.
MIN_PIECE_M2 = 100.0

_OVERLAPS = text(
    """
    SELECT a.code AS a, b.code AS b,
           ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2
    FROM area a
    JOIN area b ON a.level = b.level AND a.code < b.code AND a.geom && b.geom
    WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND a.level = :level
      AND a.code LIKE :prefix AND b.code LIKE :prefix
      AND ST_Relate(a.geom, b.geom, '2********')
    """
)

_GAPS = text(
    """
    WITH kids AS (
        SELECT p.code, p.geom, ST_Union(c.geom) AS u
        FROM area p JOIN area c ON c.parent_code = p.code AND c.valid_to IS NULL
        WHERE p.valid_to IS NULL AND p.level = :level AND p.code LIKE :prefix
        GROUP BY p.code, p.geom
    ),
    gap AS (
        SELECT code, ST_Area((ST_Dump(ST_Difference(geom, u))).geom::geography) AS m2 FROM kids
    ),
    outside AS (
        SELECT code, ST_Area((ST_Dump(ST_Difference(u, geom))).geom::geography) AS m2 FROM kids
    )
    SELECT 'gap' AS kind, count(*) FILTER (WHERE m2 >= :min) AS n, coalesce(sum(m2), 0) AS m2
    FROM gap
    UNION ALL
    SELECT 'outside', count(*) FILTER (WHERE m2 >= :min), coalesce(sum(m2), 0) FROM outside
    """
)

_STICKING_OUT = text(
    """
    SELECT c.code, ST_Area(ST_Difference(c.geom, p.geom)::geography) AS m2
    FROM area c JOIN area p ON p.code = c.parent_code AND p.valid_to IS NULL
    WHERE c.valid_to IS NULL AND c.level = :level AND c.code LIKE :prefix
      AND NOT ST_CoveredBy(c.geom, p.geom)
    """
)

_CELLS = text(
    """
    SELECT
      (SELECT count(*) FROM grid_cell WHERE valid_to IS NULL AND code LIKE :prefix) AS cells,
      (SELECT count(*) FROM grid_cell g JOIN area v ON v.code = g.village_code AND v.valid_to IS NULL
        WHERE g.valid_to IS NULL AND g.code LIKE :prefix
          AND ST_Area(ST_Difference(g.geom, v.geom)::geography) >= :min) AS cells_outside_village,
      (SELECT count(*) FROM grid_cell a JOIN grid_cell b
         ON a.village_code = b.village_code AND a.code < b.code AND a.geom && b.geom
        WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND a.code LIKE :prefix
          AND ST_Relate(a.geom, b.geom, '2********')
          AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) >= :min) AS overlapping_cell_pairs,
      (SELECT count(*) FROM area v WHERE v.valid_to IS NULL AND v.level = 'village'
         AND v.code LIKE :prefix AND NOT EXISTS (
           SELECT 1 FROM grid_cell g WHERE g.village_code = v.code AND g.valid_to IS NULL))
        AS villages_without_cells
    """
)


def quality_report(db_session: Session, *, scope_code: str = "") -> dict:
    """Defects of the current boundaries under `scope_code` (all when empty), as numbers."""
    prefix = f"{scope_code}%"
    counts = dict(
        db_session.execute(
            text(
                "SELECT level, count(*) FROM area WHERE valid_to IS NULL AND code LIKE :p "
                "GROUP BY level"
            ),
            {"p": prefix},
        ).all()
    )
    invalid = db_session.scalar(
        text(
            "SELECT count(*) FROM area WHERE valid_to IS NULL AND code LIKE :p AND NOT ST_IsValid(geom)"
        ),
        {"p": prefix},
    )
    report: dict = {"areas": counts, "invalid_after_repair": invalid, "overlaps": {}, "gaps": {}}
    for level in ("township", "village"):
        rows = [
            r
            for r in db_session.execute(_OVERLAPS, {"level": level, "prefix": prefix}).all()
            if r.m2 > 0
        ]
        report["overlaps"][level] = {
            "pairs": len(rows),
            "pairs_over_min": sum(1 for r in rows if r.m2 >= MIN_PIECE_M2),
            "area_m2": round(sum(r.m2 for r in rows), 1),
            "largest": [
                {"a": r.a, "b": r.b, "area_m2": round(r.m2, 1)}
                for r in sorted(rows, key=lambda r: -r.m2)[:5]
            ],
        }
    for parent_level, child_level in (("county", "township"), ("township", "village")):
        gaps = {
            r.kind: (r.n, r.m2)
            for r in db_session.execute(
                _GAPS, {"level": parent_level, "prefix": prefix, "min": MIN_PIECE_M2}
            )
        }
        out = [
            r
            for r in db_session.execute(_STICKING_OUT, {"level": child_level, "prefix": prefix})
            if r.m2 > 0
        ]
        report["gaps"][f"{child_level}s_in_{parent_level}"] = {
            "gap_pieces": gaps.get("gap", (0, 0))[0],
            "gap_area_m2": round(gaps.get("gap", (0, 0))[1], 1),
            "children_sticking_out": len(out),
            "children_sticking_out_over_min": sum(1 for r in out if r.m2 >= MIN_PIECE_M2),
            "sticking_out_area_m2": round(sum(r.m2 for r in out), 1),
        }
    cells = db_session.execute(_CELLS, {"prefix": prefix, "min": MIN_PIECE_M2}).one()
    report["cells"] = dict(cells._mapping)
    return report


def format_report(report: dict, import_result: dict | None = None) -> str:
    """The report as lines a township GIS officer can read."""
    lines = ["== 边界导入质量报告 =="]
    if import_result:
        lines.append(
            "导入：新增 {inserted}，替换 {replaced}，改名 {renamed}，未变 {unchanged}，"
            "修复无效几何 {repaired}".format(**import_result)
        )
    a = report["areas"]
    lines.append(
        f"现行区划：县 {a.get('county', 0)}，乡镇 {a.get('township', 0)}，村社区 {a.get('village', 0)}；"
        f"修复后仍无效 {report['invalid_after_repair']}"
    )
    for level, label in (("township", "乡镇"), ("village", "村社区")):
        o = report["overlaps"][level]
        lines.append(
            f"{label}之间重叠：{o['pairs']} 对（其中 ≥{MIN_PIECE_M2:.0f} m² 的 {o['pairs_over_min']} 对），"
            f"共 {o['area_m2'] / 1e6:.4f} km²"
        )
    for key, label in (("townships_in_county", "乡镇/县"), ("villages_in_township", "村/乡镇")):
        g = report["gaps"][key]
        lines.append(
            f"{label}：缝隙 ≥{MIN_PIECE_M2:.0f} m² 的 {g['gap_pieces']} 块，缝隙总面积 "
            f"{g['gap_area_m2'] / 1e6:.4f} km²；超出上级边界 {g['children_sticking_out']} 个"
            f"（其中 ≥{MIN_PIECE_M2:.0f} m² 的 {g['children_sticking_out_over_min']} 个），"
            f"共 {g['sticking_out_area_m2'] / 1e6:.4f} km²"
        )
    c = report["cells"]
    lines.append(
        f"网格：{c['cells']} 个；超出所属村 {c['cells_outside_village']} 个；"
        f"同村网格重叠 {c['overlapping_cell_pairs']} 对；无网格的村 {c['villages_without_cells']} 个"
    )
    return "\n".join(lines)
