"""Coordinate systems used in China (WGS-84, GCJ-02, BD-09) and conversion to WGS-84.

GCJ-02 is the obfuscated system mandated for maps published in China (AMap, Tencent, most phone
SDKs); BD-09 is Baidu's further offset. The formulas are the widely published ones; the inverse of
GCJ-02 is solved by fixed-point iteration to better than 1e-9 degrees (about 0.1 mm).
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import ValidationFailed

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"
SYSTEMS = (WGS84, GCJ02, BD09)

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Rough bounding box of China, used both to decide whether the GCJ-02 offset applies and to catch
# coordinates that cannot belong to a deployment of this product.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """WGS-84 → GCJ-02 (arrays or scalars)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS-84 by fixed-point iteration (exact to ~1e-9 degrees)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        tlon, tlat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = tlon - glon, tlat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < 1e-10) and np.all(np.abs(elat) < 1e-10):
            break
    return wlon, wlat


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def to_wgs84(lon, lat, system: str):
    """Convert coordinates declared in `system` to WGS-84."""
    if system == WGS84:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if system == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if system == BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    raise unknown_system(system)


def from_wgs84(lon, lat, system: str):
    """Convert WGS-84 coordinates to `system` (for clients that draw on GCJ-02 maps)."""
    if system == WGS84:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if system == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if system == BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    raise unknown_system(system)


def unknown_system(system, field: str = "crs") -> ValidationFailed:
    """The error for a coordinate system we do not know."""
    return ValidationFailed(
        f"不支持的坐标系“{system}”，请使用 wgs84、gcj02 或 bd09",
        code="unknown_crs",
        field=field,
    )


def check_system(system, field: str = "crs", *, lenient: bool = False) -> str:
    """Return the system name or raise unknown_crs. The API takes exactly `wgs84`, `gcj02` or
    `bd09` (what its document declares); `lenient` (the import CLI's --crs) also takes spellings
    such as GCJ-02, EPSG:4326 or bd09ll."""
    if not lenient:
        if system not in SYSTEMS:
            raise unknown_system(system, field)
        return system
    name = str(system or "").strip().lower()
    for ch in "-_: ":
        name = name.replace(ch, "")
    aliases = {"wgs84": WGS84, "epsg4326": WGS84, "gcj02": GCJ02, "bd09": BD09, "bd09ll": BD09}
    if name not in aliases:
        raise unknown_system(system, field)
    return aliases[name]


def coordinate_problem(lon: float, lat: float) -> tuple[str, str] | None:
    """Say what is wrong with a lon/lat pair for this product, or None when it is usable."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return "invalid_coordinates", "坐标不是有效数字"
    in_china = CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]
    swapped = CHINA_LON[0] <= lat <= CHINA_LON[1] and CHINA_LAT[0] <= lon <= CHINA_LAT[1]
    if not in_china and swapped:
        return (
            "coordinates_swapped",
            "经纬度顺序可能颠倒：应先填经度（约 73–136），再填纬度（约 3–54）",
        )
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return (
            "coordinates_out_of_range",
            "坐标超出范围：经度应在 -180 到 180 之间，纬度应在 -90 到 90 之间",
        )
    if not in_china:
        return "outside_china", "坐标不在中国境内，请检查定位或坐标系"
    return None
