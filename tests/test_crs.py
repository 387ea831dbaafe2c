"""Coordinate conversion between WGS-84, GCJ-02 and BD-09."""

import math

import numpy as np
import pytest

from core.errors import ValidationFailed
from geo import crs


def _metres(lon1, lat1, lon2, lat2):
    dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    dy = (lat2 - lat1) * 110_574
    return math.hypot(dx, dy)


def test_gcj02_offset_in_zhuji_is_hundreds_of_metres():
    lon, lat = 120.2403, 29.7139
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert 100 < _metres(lon, lat, float(glon), float(glat)) < 800


def test_gcj02_round_trip_is_exact_to_a_centimetre():
    rng = np.random.default_rng(1)
    lon = rng.uniform(74, 134, 500)
    lat = rng.uniform(18, 53, 500)
    back_lon, back_lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-7
    assert np.max(np.abs(back_lat - lat)) < 1e-7


def test_bd09_round_trip():
    lon, lat = 120.24, 29.71
    wlon, wlat = crs.to_wgs84(*crs.from_wgs84(lon, lat, crs.BD09), crs.BD09)
    assert _metres(lon, lat, float(wlon), float(wlat)) < 0.5


def test_no_offset_outside_china():
    glon, glat = crs.wgs84_to_gcj02(2.35, 48.85)
    assert float(glon) == 2.35 and float(glat) == 48.85


@pytest.mark.parametrize("name", ["WGS84", "gcj-02", "BD09", "epsg:4326"])
def test_system_names_are_normalised(name):
    assert crs.check_system(name, lenient=True) in crs.SYSTEMS


def test_unknown_system_is_a_field_error():
    with pytest.raises(ValidationFailed) as exc:
        crs.check_system("cgcs2000")
    assert exc.value.code == "unknown_crs" and "crs" in exc.value.fields


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        (29.71, 120.24, "coordinates_swapped"),
        (200.0, 29.0, "coordinates_out_of_range"),
        (120.0, -95.0, "coordinates_out_of_range"),
        (2.35, 48.85, "outside_china"),
        (float("nan"), 29.0, "invalid_coordinates"),
    ],
)
def test_coordinate_problems(lon, lat, code):
    assert crs.coordinate_problem(lon, lat)[0] == code


def test_usable_coordinates_have_no_problem():
    assert crs.coordinate_problem(120.24, 29.71) is None
