"""Replicate a loaded county under new codes and shifted geometry (province-scale test data)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

_COPY_AREAS = text(
    """
    INSERT INTO area (code, level, parent_code, name, geom, geom_hash, valid_from)
    SELECT :new || substr(code, 7), level,
           CASE WHEN parent_code IS NULL THEN NULL ELSE :new || substr(parent_code, 7) END,
           name || '（副本' || :n || '）', ST_Translate(geom, :dx, :dy), geom_hash, valid_from
    FROM area WHERE valid_to IS NULL AND code LIKE :src || '%'
    ON CONFLICT DO NOTHING
    """
)
_COPY_CELLS = text(
    """
    INSERT INTO grid_cell (code, village_code, name, cell_type, households, population, geom,
                           geom_hash, source, valid_from)
    SELECT :new || substr(code, 7), :new || substr(village_code, 7), name, cell_type, households,
           population, ST_Translate(geom, :dx, :dy), geom_hash, source, valid_from
    FROM grid_cell WHERE valid_to IS NULL AND code LIKE :src || '%'
    ON CONFLICT DO NOTHING
    """
)


def replicate_county(
    db_session: Session,
    *,
    source_code: str,
    copies: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy a county `copies` times on a grid of offsets; returns the number of current cells."""
    cols = 8
    for n in range(1, copies + 1):
        new = f"9{n:05d}"  # 6-digit codes that no real county uses
        dx = ((n % cols) - cols // 2) * 0.9
        dy = ((n // cols) - 3) * 0.7
        params = {"new": new, "src": source_code, "dx": dx, "dy": dy, "n": n}
        if db_session.scalar(
            text("SELECT 1 FROM area WHERE code = :c AND valid_to IS NULL"), {"c": new}
        ):
            if progress:
                progress(1)
            continue
        db_session.execute(_COPY_AREAS, params)
        db_session.execute(_COPY_CELLS, params)
        db_session.commit()  # one copy per transaction keeps memory and WAL bounded
        if progress:
            progress(1)
    db_session.execute(text("ANALYZE area"))
    db_session.execute(text("ANALYZE grid_cell"))
    return db_session.scalar(text("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL"))
