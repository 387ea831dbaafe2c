"""Import administrative boundaries: validate everything first, then write in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from geoalchemy2.shape import from_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from geo.enums import level_of, parent_code_of
from geo.geojson import ParsedFeature
from geo.models import Area


@dataclass
class ImportResult:
    """What an import did, feature by feature."""

    inserted: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Counts for printing or JSON."""
        return {
            "inserted": len(self.inserted),
            "replaced": len(self.replaced),
            "renamed": len(self.renamed),
            "unchanged": len(self.unchanged),
            "repaired": len(self.repaired),
            "repaired_codes": self.repaired,
        }


def current_areas(db_session: Session, codes: Iterable[str]) -> dict[str, Area]:
    """Current versions of the given area codes, keyed by code."""
    codes = list(codes)
    if not codes:
        return {}
    rows = db_session.scalars(select(Area).where(Area.code.in_(codes), Area.valid_to.is_(None)))
    return {a.code: a for a in rows}


def check_nesting(db_session: Session, features: list[ParsedFeature]) -> None:
    """Every code must nest in its parent: derived parent exists (in the file or loaded)."""
    fields: dict[str, list[str]] = {}
    in_file = {f.code for f in features}
    wanted_parents = {parent_code_of(f.code) for f in features} - {None} - in_file
    loaded = set(current_areas(db_session, wanted_parents))
    for f in features:
        path = f"features[{f.index}].properties.adcode"
        if level_of(f.code) is None:
            fields.setdefault(path, []).append("区划代码应为 6、9 或 12 位数字")
            continue
        declared = (f.properties.get("parent") or {}).get("adcode")
        parent = parent_code_of(f.code)
        if declared not in (None, "") and parent is not None and str(declared) != parent:
            fields.setdefault(path, []).append(
                f"代码 {f.code} 与其声明的上级 {declared} 不相符（上级应为 {parent}）"
            )
            continue
        if parent is not None and parent not in in_file and parent not in loaded:
            fields.setdefault(path, []).append(
                f"代码 {f.code} 的上级 {parent} 不存在，请先导入上级区划"
            )
    if fields:
        raise ValidationFailed(
            "区划代码与上级不相符，未导入任何内容",
            code="code_not_nested",
            fields=dict(list(fields.items())[:20]),
        )


def import_areas(
    db_session: Session,
    *,
    features: list[ParsedFeature],
    today: date,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Insert new areas, version changed boundaries, rename in place; only flushes."""
    check_nesting(db_session, features)
    result = ImportResult()
    existing = current_areas(db_session, (f.code for f in features))
    # Parents first, so that a file holding several levels stays consistent.
    for f in sorted(features, key=lambda f: len(f.code)):
        if f.repaired:
            result.repaired.append(f.code)
        old = existing.get(f.code)
        digest = f.geom_hash
        if old is not None and old.geom_hash == digest:
            if old.name != f.name:
                old.name = f.name
                result.renamed.append(f.code)
            else:
                result.unchanged.append(f.code)
        else:
            if old is not None:
                old.valid_to = today
                result.replaced.append(f.code)
                db_session.flush()
            else:
                result.inserted.append(f.code)
            db_session.add(
                Area(
                    code=f.code,
                    level=level_of(f.code),
                    parent_code=parent_code_of(f.code),
                    name=f.name,
                    geom=from_shape(f.geom, srid=4326),
                    geom_hash=digest,
                    valid_from=today,
                )
            )
        if progress:
            progress(1)
    db_session.flush()
    return result
