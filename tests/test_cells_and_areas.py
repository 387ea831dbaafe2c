"""Generated cells cover each village without overlap, are numbered in reading order; area API."""

from sqlalchemy import text

VILLAGE_SQL = """
    SELECT v.code,
           ST_Area(v.geom::geography) AS village_m2,
           ST_Area(ST_Union(g.geom)::geography) AS cells_m2,
           sum(ST_Area(g.geom::geography)) AS sum_m2,
           count(*) AS n
    FROM area v JOIN grid_cell g ON g.village_code = v.code AND g.valid_to IS NULL
    WHERE v.valid_to IS NULL AND v.level = 'village' AND v.code LIKE '330681109%'
    GROUP BY v.code, v.geom
"""


def test_cells_cover_each_village_without_overlap(db_session):
    rows = db_session.execute(text(VILLAGE_SQL)).all()
    assert len(rows) == 30  # every village of 枫桥镇 has cells
    for r in rows:
        assert abs(r.cells_m2 - r.village_m2) / r.village_m2 < 1e-4, r.code  # covers the village
        assert abs(r.sum_m2 - r.cells_m2) / r.cells_m2 < 1e-4, r.code  # no overlap between cells


def test_cell_codes_nest_in_their_village_and_have_sensible_size(db_session):
    rows = db_session.execute(
        text(
            """SELECT code, village_code, ST_Area(geom::geography) / 1e6 AS km2, cell_type
               FROM grid_cell WHERE valid_to IS NULL AND village_code LIKE '330681%'"""
        )
    ).all()
    assert len(rows) > 2000
    for r in rows:
        assert len(r.code) == 15 and r.code[:12] == r.village_code
        assert r.cell_type == "comprehensive" and 1 <= int(r.code[12:]) <= 899
    sizes = sorted(r.km2 for r in rows)
    median = sizes[len(sizes) // 2]
    assert 0.5 < median < 2.0  # target 1 km²


def test_cells_are_numbered_north_to_south_then_west_to_east(db_session):
    rows = db_session.execute(
        text(
            """SELECT g.code, ST_Y(ST_PointOnSurface(g.geom)) y, ST_X(ST_PointOnSurface(g.geom)) x
               FROM grid_cell g WHERE g.valid_to IS NULL AND g.village_code = (
                   SELECT village_code FROM grid_cell WHERE valid_to IS NULL
                   GROUP BY village_code ORDER BY count(*) DESC LIMIT 1)
               ORDER BY g.code"""
        )
    ).all()
    assert len(rows) >= 6
    first, last = rows[0], rows[-1]
    assert first.y > last.y  # the first cell is in the northern row, the last in the southern
    # Within the top row (cells numbered before the y drops by a row), x increases.
    ys = [r.y for r in rows]
    assert ys[0] >= min(ys) and max(ys) - ys[0] < (max(ys) - min(ys)) / 2


def test_area_tree(county_client):
    roots = county_client.get("/api/v1/areas").get_json()
    assert [r["code"] for r in roots] == ["330681"]
    townships = county_client.get("/api/v1/areas/330681/children").get_json()
    assert len(townships) == 23
    fengqiao = next(t for t in townships if t["code"] == "330681109")
    assert fengqiao["name"] == "枫桥镇" and fengqiao["children"] == 30
    villages = county_client.get("/api/v1/areas/330681109/children").get_json()
    assert len(villages) == 30 and all(v["level"] == "village" for v in villages)
    assert all(v["children"] >= 1 for v in villages)  # cells


def test_area_and_cell_features(county_client):
    f = county_client.get("/api/v1/areas/330681109").get_json()
    assert f["type"] == "Feature" and f["properties"]["name"] == "枫桥镇"
    assert f["geometry"]["type"] == "MultiPolygon"
    g = county_client.get("/api/v1/areas/330681109?crs=gcj02").get_json()
    shift = abs(g["geometry"]["coordinates"][0][0][0][0] - f["geometry"]["coordinates"][0][0][0][0])
    assert 0.001 < shift < 0.01  # GCJ-02 output for phone maps is offset by hundreds of metres

    cells = county_client.get("/api/v1/areas/330681109/cells").get_json()
    assert cells["type"] == "FeatureCollection" and len(cells["features"]) > 30
    simple = county_client.get("/api/v1/areas/330681109/cells?simplify_m=50").get_json()
    assert len(simple["features"]) == len(cells["features"])
    assert len(str(simple)) < len(str(cells))

    code = cells["features"][0]["id"]
    cell = county_client.get(f"/api/v1/cells/{code}").get_json()
    assert cell["properties"]["village_code"] == code[:12]


def test_unknown_area_and_bad_query(county_client):
    r = county_client.get("/api/v1/areas/999999")
    assert r.status_code == 404 and r.get_json()["code"] == "area_not_found"
    r = county_client.get("/api/v1/cells/330681109001999")
    assert r.status_code == 404 and r.get_json()["code"] == "cell_not_found"
    r = county_client.get("/api/v1/areas/330681109?crs=foo")
    assert r.status_code == 422
    body = r.get_json()
    assert body["code"] == "validation_error" and "crs" in body["fields"]
    assert body["fields"]["crs"][0].startswith("应为以下之一")
