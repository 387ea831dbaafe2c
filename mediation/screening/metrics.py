"""Screening figures for the monthly report, the dashboard and the coverage views, defined once.

Measures, for a window [start, end) of `screened_at` and an area:

* rounds (排查次数): screening rounds recorded for cells of the area with screened_at in the window.
* zero_reports (零报告): those of the rounds that found nothing (zero_report = true).
* found (排查发现矛盾纠纷数): distinct disputes linked to those rounds. A dispute is linked to at
  most one round (unique link), so `found` adds up across areas and periods without double counts.
* cells_total: current grid cells of the area (the cells that owed a round).
* cells_screened: distinct current cells of the area with at least one round in the window
  (a round on a cell since replaced by a boundary change counts in rounds/found, not here).
* coverage (排查覆盖率): cells_screened / cells_total; None when the area has no cells.
* found_by_key_area: the found disputes by the key areas (重点领域) they are tagged with; a dispute
  tagged with two key areas counts in both, one without a tag in none.

Rounds are attributed to the cell/village/township/county codes stored on the round when it was
recorded (like disputes), cells to their current village.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import ValidationFailed

LEVEL_LENGTH = {"county": 6, "township": 9, "village": 12, "cell": 15}
_ROUND_COLUMN = {
    "county": "r.county_code",
    "township": "r.township_code",
    "village": "r.village_code",
    "cell": "r.cell_code",
}
_CELL_AREA = {
    "county": "left(g.village_code, 6)",
    "township": "left(g.village_code, 9)",
    "village": "g.village_code",
    "cell": "g.code",
}


@dataclass(frozen=True)
class ScreeningFigures:
    """Screening figures of one area over one window (see the module docstring)."""

    rounds: int  # 排查次数: rounds recorded in the window
    zero_reports: int  # 零报告 rounds
    found: int  # 排查发现矛盾纠纷数: distinct disputes linked to rounds in the window
    cells_total: int  # cells that owed a round (current cells of the area)
    cells_screened: int  # distinct cells with ≥1 round in the window
    coverage: float | None  # cells_screened / cells_total, None when cells_total == 0
    found_by_key_area: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain JSON (coverage rounded to four places), as reports store and the API returns."""
        return {
            "rounds": self.rounds,
            "zero_reports": self.zero_reports,
            "found": self.found,
            "cells_total": self.cells_total,
            "cells_screened": self.cells_screened,
            "coverage": round(self.coverage, 4) if self.coverage is not None else None,
            "found_by_key_area": dict(self.found_by_key_area),
        }


def _coverage(screened: int, total: int) -> float | None:
    return screened / total if total else None


def combine(figures: Iterable[ScreeningFigures]) -> ScreeningFigures:
    """Figures of disjoint areas added up (a township total from its villages)."""
    rounds = zero = found = total = screened = 0
    by_key: dict[str, int] = {}
    for f in figures:
        rounds += f.rounds
        zero += f.zero_reports
        found += f.found
        total += f.cells_total
        screened += f.cells_screened
        for k, n in f.found_by_key_area.items():
            by_key[k] = by_key.get(k, 0) + n
    return ScreeningFigures(
        rounds,
        zero,
        found,
        total,
        screened,
        _coverage(screened, total),
        dict(sorted(by_key.items())),
    )


def screening_figures(
    db_session: Session, *, level: str, prefix: str, start: datetime, end: datetime
) -> dict[str, ScreeningFigures]:
    """Figures per area of `level` ('township'|'village'|'cell') under code prefix `prefix`, for
    rounds with screened_at in [start, end) (UTC-aware datetimes)."""
    if level not in LEVEL_LENGTH:
        raise ValidationFailed(
            "统计层级应为 county、township、village 或 cell", code="invalid_level"
        )
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    area_col, cell_area = _ROUND_COLUMN[level], _CELL_AREA[level]
    if level == "cell":
        current_areas = "SELECT code FROM grid_cell WHERE valid_to IS NULL AND code LIKE :p"
    else:
        current_areas = (
            "SELECT code FROM area WHERE valid_to IS NULL AND level = :level AND code LIKE :p"
        )
    rows = db_session.execute(
        text(
            f"""
            WITH rr AS (
                SELECT r.id, {area_col} AS area, r.cell_code, r.zero_report,
                       EXISTS (SELECT 1 FROM grid_cell g WHERE g.code = r.cell_code
                               AND g.valid_to IS NULL) AS current_cell
                FROM screening_round r
                WHERE r.cell_code LIKE :p AND r.screened_at >= :start AND r.screened_at < :end
            ),
            cells AS (
                SELECT {cell_area} AS area, count(*) AS total
                FROM grid_cell g WHERE g.valid_to IS NULL AND g.code LIKE :p GROUP BY 1
            ),
            rstats AS (
                SELECT area, count(*) AS rounds, count(*) FILTER (WHERE zero_report) AS zero,
                       count(DISTINCT cell_code) FILTER (WHERE current_cell) AS screened
                FROM rr GROUP BY area
            ),
            found AS (
                SELECT rr.area, d.id, d.key_areas
                FROM rr JOIN screening_round_dispute l ON l.round_id = rr.id
                JOIN dispute d ON d.id = l.dispute_id
            ),
            fstats AS (SELECT area, count(DISTINCT id) AS found FROM found GROUP BY area),
            kstats AS (
                SELECT area, jsonb_object_agg(k, n) AS by_key FROM (
                    SELECT area, k, count(DISTINCT id) AS n FROM found, unnest(key_areas) AS k
                    GROUP BY area, k
                ) s GROUP BY area
            ),
            areas AS (
                {current_areas}
                UNION SELECT area FROM rr
                UNION SELECT area FROM cells
            )
            SELECT a.code, coalesce(c.total, 0) AS total, coalesce(s.rounds, 0) AS rounds,
                   coalesce(s.zero, 0) AS zero, coalesce(s.screened, 0) AS screened,
                   coalesce(f.found, 0) AS found, coalesce(k.by_key, '{{}}'::jsonb) AS by_key
            FROM areas a
            LEFT JOIN cells c ON c.area = a.code
            LEFT JOIN rstats s ON s.area = a.code
            LEFT JOIN fstats f ON f.area = a.code
            LEFT JOIN kstats k ON k.area = a.code
            WHERE length(a.code) = :n
            ORDER BY a.code
            """
        ),
        {
            "p": f"{prefix}%",
            "start": start,
            "end": end,
            "level": level,
            "n": LEVEL_LENGTH[level],
        },
    ).all()
    return {
        r.code: ScreeningFigures(
            rounds=r.rounds,
            zero_reports=r.zero,
            found=r.found,
            cells_total=r.total,
            cells_screened=r.screened,
            coverage=_coverage(r.screened, r.total),
            found_by_key_area=dict(sorted(r.by_key.items())),
        )
        for r in rows
    }
