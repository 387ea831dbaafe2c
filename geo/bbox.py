"""A map's visible box as the console sends it, checked and converted to WGS-84."""

from __future__ import annotations

import math

from core.errors import ValidationFailed
from geo import crs


def check_bbox(bbox: str | None, system: str) -> tuple[float, float, float, float] | None:
    """`min_lon,min_lat,max_lon,max_lat` in `system` → the same box in WGS-84, or an error."""
    if not bbox:
        return None
    try:
        parts = [float(x) for x in bbox.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not all(math.isfinite(v) for v in parts):
        raise ValidationFailed(
            "范围应为 最小经度,最小纬度,最大经度,最大纬度", code="invalid_bbox", field="bbox"
        )
    x0, y0, x1, y1 = parts
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ValidationFailed(
            "范围不正确：经度在前、纬度在后，且最小值小于最大值", code="invalid_bbox", field="bbox"
        )
    (a, b), (c, d) = (
        (float(v) for v in crs.to_wgs84(x0, y0, system)),
        (float(v) for v in crs.to_wgs84(x1, y1, system)),
    )
    return a, b, c, d
