"""Locate: 1,000 points in the real villages agree with an independent shapely check."""

import random

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from geo import crs
from geo.geojson import read_geojson
from mediation.demo import demo_file, village_stems
from tests.conftest import DATA_DIR


@pytest.fixture(scope="module")
def source_villages():
    """The source polygons in GCJ-02, repaired by shapely alone (independent of our importer)."""
    villages = {}
    for stem in village_stems(DATA_DIR):
        for f in read_geojson(demo_file(DATA_DIR, stem))["features"]:
            villages[str(f["properties"]["adcode"])] = shapely.make_valid(shape(f["geometry"]))
    return villages


@pytest.fixture(scope="module")
def sample_points(source_villages):
    """1,000 points sampled uniformly inside randomly chosen villages (seeded)."""
    rng = random.Random(20261123)
    codes = sorted(source_villages)
    points = []
    while len(points) < 1000:
        code = rng.choice(codes)
        geom = source_villages[code]
        minx, miny, maxx, maxy = geom.bounds
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if geom.contains(p):
            points.append((code, p.x, p.y))
    return points


def _truth(source_villages, tree, codes, x, y):
    p = Point(x, y)
    return {codes[i] for i in tree.query(p, predicate="intersects")}


def test_thousand_gcj02_points_agree_with_shapely(county_client, source_villages, sample_points):
    codes = list(source_villages)
    tree = shapely.STRtree([source_villages[c] for c in codes])
    answers = {"exact": 0, "ambiguous": 0, "approximate": 0}
    disagreements = []
    for _, x, y in sample_points:
        truth = _truth(source_villages, tree, codes, x, y)
        r = county_client.get(f"/api/v1/locate?lon={x}&lat={y}&crs=gcj02")
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        answers[body["match"]] += 1
        village = body["village"]["code"]
        if len(truth) > 1:
            # In an overlap: the answer is one of the candidates, and flagged.
            assert village in truth
            assert body["match"] == "ambiguous", (x, y, truth, body)
            assert {c["village_code"] for c in body["candidates"]} == truth
        elif village not in truth:
            disagreements.append((x, y, truth, body))
        else:
            assert body["township"]["code"] == village[:9]
            assert body["county"]["code"] == "330681" and body["county"]["name"] == "诸暨市"
    # A point within centimetres of a boundary may fall either side after conversion; allow 0.5 %.
    assert len(disagreements) <= 5, disagreements[:3]
    assert answers["exact"] > 900
    print("locate answers:", answers, "disagreements:", len(disagreements))


def test_same_points_in_wgs84_give_the_same_villages(county_client, sample_points):
    xs = np.array([p[1] for p in sample_points[:300]])
    ys = np.array([p[2] for p in sample_points[:300]])
    wx, wy = crs.gcj02_to_wgs84(xs, ys)
    for x, y, gx, gy in zip(wx, wy, xs, ys, strict=True):
        a = county_client.get(f"/api/v1/locate?lon={gx}&lat={gy}&crs=gcj02").get_json()
        b = county_client.get(f"/api/v1/locate?lon={x}&lat={y}&crs=wgs84").get_json()
        assert a["village"] == b["village"] and a["cell"] == b["cell"]
        assert abs(a["lon"] - b["lon"]) < 1e-6


def test_same_point_in_bd09(county_client, sample_points):
    _, x, y = sample_points[0]
    bx, by = crs.gcj02_to_bd09(x, y)
    a = county_client.get(f"/api/v1/locate?lon={x}&lat={y}&crs=gcj02").get_json()
    b = county_client.get(f"/api/v1/locate?lon={float(bx)}&lat={float(by)}&crs=bd09").get_json()
    assert a["cell"] == b["cell"]


def test_point_in_a_gap_goes_to_the_nearest_cell_and_says_so(county_client, db_session):
    from sqlalchemy import text

    # The largest piece of 枫桥镇 that no village covers (a real defect of the source data).
    row = db_session.execute(
        text(
            """
            WITH t AS (SELECT geom FROM area WHERE code = '330681109' AND valid_to IS NULL),
                 v AS (SELECT ST_Union(c.geom) g FROM grid_cell c, t
                       WHERE c.valid_to IS NULL AND c.geom && t.geom),
                 gap AS (SELECT (ST_Dump(ST_Difference(t.geom, v.g))).geom p FROM t, v)
            SELECT ST_X(ST_PointOnSurface(p)) x, ST_Y(ST_PointOnSurface(p)) y
            FROM gap ORDER BY ST_Area(p) DESC LIMIT 1
            """
        )
    ).one()
    r = county_client.get(f"/api/v1/locate?lon={row.x}&lat={row.y}&crs=wgs84")
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["match"] == "approximate"
    assert 0 < body["distance_m"] <= 150
    assert body["village"]["code"].startswith("330681")


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("lon=121.5&lat=31.2&crs=wgs84", "outside_coverage", "location"),
        ("lon=29.71&lat=120.24&crs=gcj02", "coordinates_swapped", "lon"),
        ("lon=120.24&lat=29.71&crs=cgcs2000", "unknown_crs", "crs"),
        ("lon=abc&lat=29.71&crs=gcj02", "validation_error", "lon"),
        ("lat=29.71&crs=gcj02", "validation_error", "lon"),
        ("lon=2.35&lat=48.85&crs=wgs84", "outside_china", "lon"),
    ],
)
def test_locate_errors(county_client, query, code, field):
    r = county_client.get(f"/api/v1/locate?{query}")
    assert r.status_code in (400, 422)
    body = r.get_json()
    assert body["code"] == code, body
    assert field in body["fields"], body
    assert all(isinstance(m, str) and m for m in body["fields"][field])
