"""Parse and validate GeoJSON boundaries into WGS-84 shapely geometries, repairing what can be."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from core.errors import DomainError, ValidationFailed
from geo import crs

MAX_ERRORS = 20


def read_geojson(path: str):
    """Read a GeoJSON file, plain or gzip-compressed (`.gz`), as a Python object."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DomainError(f"无法读取 {path}：{exc}", code="invalid_geojson") from exc


@dataclass
class ParsedFeature:
    """One valid feature: its code, name, WGS-84 MultiPolygon and whether it was repaired."""

    index: int
    code: str
    name: str
    geom: MultiPolygon
    repaired: bool
    properties: dict = field(default_factory=dict)

    @property
    def geom_hash(self) -> str:
        """A stable fingerprint of the geometry (rounded to ~1 cm) for idempotent re-imports."""
        return geometry_hash(self.geom)


def geometry_hash(geom) -> str:
    """Fingerprint of a geometry, rounded to 1e-7 degrees so float noise does not count."""
    return hashlib.sha256(shapely.to_wkb(shapely.set_precision(geom, 1e-7))).hexdigest()


class _Errors:
    def __init__(self):
        self.fields: dict[str, list[str]] = {}
        self.first_code: str | None = None

    def add(self, path: str, code: str, message: str) -> None:
        if len(self.fields) >= MAX_ERRORS:
            return
        self.fields.setdefault(path, []).append(message)
        self.first_code = self.first_code or code

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed(
                "边界文件有误，未导入任何内容，请按标出的位置修改后重试",
                code=self.first_code or "invalid_geojson",
                fields=self.fields,
            )


def _ring_problem(ring) -> tuple[str, str] | None:
    if not isinstance(ring, list) or len(ring) < 2:
        return "invalid_geojson", "多边形的环至少需要 4 个坐标点（首尾相同）"
    for pt in ring:
        if (
            not isinstance(pt, list | tuple)
            or len(pt) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pt[:2])
        ):
            return "invalid_geojson", "坐标点应为 [经度, 纬度] 数字对"
        problem = crs.coordinate_problem(float(pt[0]), float(pt[1]))
        if problem:
            return problem
    if list(ring[0][:2]) != list(ring[-1][:2]):
        return "ring_not_closed", "多边形未闭合：第一个和最后一个坐标点必须相同"
    return None


def _degenerate(ring) -> bool:
    """A closed ring with fewer than three distinct points encloses nothing (real data has them)."""
    return len(ring) < 4 or len({tuple(p[:2]) for p in ring}) < 3


def _polygons_of(geometry) -> tuple[list, bool, tuple[str, str] | None]:
    """Polygon coordinate arrays of a (Multi)Polygon, whether degenerate rings were dropped, and
    what is wrong when it cannot be used."""
    if not isinstance(geometry, dict):
        return [], False, ("invalid_geojson", "缺少 geometry 或格式不对")
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    if gtype == "Polygon":
        polys = [coords]
    elif gtype == "MultiPolygon":
        polys = coords
    else:
        return (
            [],
            False,
            ("invalid_geojson", f"几何类型应为 Polygon 或 MultiPolygon，而不是 {gtype!r}"),
        )
    if not isinstance(polys, list) or not polys:
        return [], False, ("invalid_geojson", "coordinates 为空或格式不对")
    kept, dropped = [], False
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            return [], False, ("invalid_geojson", "多边形坐标格式不对")
        for ring in poly:
            problem = _ring_problem(ring)
            if problem:
                return [], False, problem
        if _degenerate(poly[0]):
            dropped = True
            continue
        holes = [r for r in poly[1:] if not _degenerate(r)]
        dropped = dropped or len(holes) != len(poly) - 1
        kept.append([poly[0], *holes])
    if not kept:
        return [], False, ("invalid_geometry", "多边形的环至少需要 3 个不同的坐标点")
    return kept, dropped, None


def areal_parts(geom) -> list[Polygon]:
    """Every non-empty polygon inside a geometry (collections flattened, lines and points dropped)."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in areal_parts(g)]
    return []


def _to_multipolygon(polys: list, system: str) -> tuple[MultiPolygon, bool]:
    """Build the WGS-84 MultiPolygon, repairing invalid rings; returns (geom, repaired)."""
    geom = MultiPolygon([Polygon(p[0], p[1:]) for p in polys])

    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = crs.to_wgs84(xy[:, 0], xy[:, 1], system)
        return np.column_stack([lon, lat])

    geom = shapely.transform(geom, convert)
    if geom.is_valid:
        return geom, False
    return MultiPolygon(areal_parts(shapely.make_valid(geom))), True


def _code_of(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def parse_feature_collection(
    doc, system: str, code_property: str = "adcode"
) -> list[ParsedFeature]:
    """Validate a whole FeatureCollection; raise one ValidationFailed listing every problem."""
    system = crs.check_system(system, lenient=True)
    errors = _Errors()
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        errors.add("type", "invalid_geojson", "文件应为 GeoJSON FeatureCollection")
        errors.raise_if_any()
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        errors.add("features", "invalid_geojson", "features 为空")
        errors.raise_if_any()
    parsed: list[ParsedFeature] = []
    seen: set[str] = set()
    for i, feat in enumerate(features):
        path = f"features[{i}]"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            errors.add(path, "invalid_geojson", "应为 GeoJSON Feature")
            continue
        props = feat.get("properties") or {}
        code = _code_of(props.get(code_property))
        if code is None or len(code) not in (6, 9, 12, 15):
            errors.add(
                f"{path}.properties.{code_property}",
                "invalid_code",
                "区划代码应为 6、9 或 12 位数字（网格为 15 位）",
            )
            continue
        if code in seen:
            errors.add(f"{path}.properties.{code_property}", "duplicate_code", f"代码 {code} 重复")
            continue
        seen.add(code)
        name = str(props.get("name") or "").strip()
        if not name:
            errors.add(f"{path}.properties.name", "invalid_geojson", "缺少名称 name")
            continue
        polys, dropped, problem = _polygons_of(feat.get("geometry"))
        if problem:
            errors.add(f"{path}.geometry", problem[0], problem[1])
            continue
        try:
            geom, repaired = _to_multipolygon(polys, system)
            repaired = repaired or dropped
        except (ValueError, TypeError, shapely.errors.GEOSException):
            errors.add(f"{path}.geometry", "invalid_geometry", "几何图形无法解析")
            continue
        if geom.is_empty or not math.isfinite(geom.area) or geom.area == 0:
            errors.add(f"{path}.geometry", "invalid_geometry", "几何图形面积为零，无法修复")
            continue
        parsed.append(ParsedFeature(i, code, name, geom, repaired, props))
    errors.raise_if_any()
    return parsed
