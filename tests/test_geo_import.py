"""Boundary import: the real county's quality report, idempotence, versioning, bad input."""

import json
from datetime import date

import pytest
from sqlalchemy import func, select, text

from geo.geojson import parse_feature_collection
from geo.importer import import_areas
from geo.models import Area, GridCell
from geo.quality import quality_report

SQUARE = [[120.30, 29.70], [120.31, 29.70], [120.31, 29.71], [120.30, 29.71], [120.30, 29.70]]


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feature(code, name="测试村", coords=None, gtype="Polygon", parent=None):
    props = {"adcode": code, "name": name}
    if parent:
        props["parent"] = {"adcode": parent}
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": gtype, "coordinates": [coords or SQUARE]},
    }


def run_import(app, tmp_path, doc, crs="wgs84"):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc, ensure_ascii=False) if not isinstance(doc, str) else doc)
    return app.test_cli_runner().invoke(
        args=["geo", "import", str(path), "--crs", crs, "--no-report"]
    )


def area_count(db_session):
    return db_session.scalar(select(func.count()).select_from(Area))


def test_county_is_loaded_with_every_level(db_session):
    counts = dict(
        db_session.execute(
            text("SELECT level, count(*) FROM area WHERE valid_to IS NULL GROUP BY level")
        ).all()
    )
    assert counts == {"county": 1, "township": 23, "village": 518}
    fengqiao = db_session.scalar(select(Area).where(Area.code == "330681109"))
    assert fengqiao.name == "枫桥镇" and fengqiao.parent_code == "330681"


def test_quality_report_finds_the_real_defects(db_session):
    report = quality_report(db_session, scope_code="330681")
    assert report["invalid_after_repair"] == 0
    assert report["overlaps"]["village"]["pairs"] > 300
    assert report["overlaps"]["village"]["area_m2"] > 0
    gaps = report["gaps"]["villages_in_township"]
    assert gaps["gap_pieces"] > 0 and gaps["children_sticking_out"] > 0
    assert report["cells"]["villages_without_cells"] == 0
    assert report["cells"]["overlapping_cell_pairs"] == 0


def test_invalid_source_polygons_are_repaired():
    # 32 self-touching villages plus a degenerate hole ring: the parser repairs them all.
    from geo.geojson import read_geojson
    from mediation.demo import demo_file, village_stems
    from tests.conftest import DATA_DIR

    repaired = 0
    for stem in village_stems(DATA_DIR):
        doc = read_geojson(demo_file(DATA_DIR, stem))
        repaired += sum(f.repaired for f in parse_feature_collection(doc, "gcj02"))
    assert repaired >= 32


def test_reimport_is_idempotent_and_replacing_keeps_history(app, db_session, tmp_path):
    doc = fc(feature("330681109901", "新测试村", parent="330681109"))
    assert run_import(app, tmp_path, doc).exit_code == 0
    before = area_count(db_session)
    r = run_import(app, tmp_path, doc)
    assert r.exit_code == 0 and '"unchanged": 1' in r.output
    assert area_count(db_session) == before

    moved = [[x + 0.001, y] for x, y in SQUARE]
    r = run_import(app, tmp_path, fc(feature("330681109901", "新测试村", coords=moved)))
    assert r.exit_code == 0 and '"replaced": 1' in r.output
    versions = db_session.scalars(
        select(Area).where(Area.code == "330681109901").order_by(Area.id)
    ).all()
    assert len(versions) == 2
    assert versions[0].valid_to is not None and versions[1].valid_to is None

    r = run_import(app, tmp_path, fc(feature("330681109901", "更名村", coords=moved)))
    assert '"renamed": 1' in r.output
    assert db_session.scalar(select(func.count()).where(Area.code == "330681109901")) == 2


def test_import_areas_versions_by_business_date(db_session):
    features = parse_feature_collection(fc(feature("330681109902", "甲村")), "wgs84")
    import_areas(db_session, features=features, today=date(2026, 1, 5))
    area = db_session.scalar(select(Area).where(Area.code == "330681109902"))
    assert area.valid_from == date(2026, 1, 5) and area.level == "village"


UNCLOSED = [*SQUARE[:-1], [120.3, 29.705]]


@pytest.mark.parametrize(
    ("doc", "crs", "code", "field"),
    [
        ('{"type": "FeatureCollection", "features": [', "wgs84", "invalid_geojson", None),
        ({"type": "Feature"}, "wgs84", "invalid_geojson", "type"),
        (
            fc(
                {
                    "type": "Feature",
                    "properties": {"adcode": "330681109903", "name": "x"},
                    "geometry": {"type": "Point", "coordinates": [120.3, 29.7]},
                }
            ),
            "wgs84",
            "invalid_geojson",
            "features[0].geometry",
        ),
        (
            fc(feature("330681109903", coords=UNCLOSED)),
            "wgs84",
            "ring_not_closed",
            "features[0].geometry",
        ),
        (
            fc(feature("330681109903", coords=[[x, 95.0] for x, _ in SQUARE])),
            "wgs84",
            "coordinates_out_of_range",
            "features[0].geometry",
        ),
        (
            fc(feature("330681109903", coords=[[y, x] for x, y in SQUARE])),
            "wgs84",
            "coordinates_swapped",
            "features[0].geometry",
        ),
        (fc(feature("330681109903")), "cgcs2000", "unknown_crs", "crs"),
        (fc(feature("330681999903")), "wgs84", "code_not_nested", "features[0].properties.adcode"),
        (
            fc(feature("330681109903", parent="330681108")),
            "wgs84",
            "code_not_nested",
            "features[0].properties.adcode",
        ),
        (fc(feature("3306811099")), "wgs84", "invalid_code", "features[0].properties.adcode"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(app, db_session, tmp_path, doc, crs, code, field):
    good = feature("330681109904", "好村")
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        doc = fc(good, *doc["features"])  # a valid feature in the same file is not imported either
    before = area_count(db_session)
    r = run_import(app, tmp_path, doc, crs)
    assert r.exit_code == 2, r.output
    assert f"[{code}]" in r.output
    if field:
        assert field in r.output.replace("features[1]", "features[0]")
    assert area_count(db_session) == before


def test_cells_are_versioned_not_deleted_when_reimported(app, db_session, tmp_path):
    doc = fc(feature("330681109001001", "枫桥测试网格", coords=None))
    doc["features"][0]["properties"]["households"] = 650
    path = tmp_path / "cells.json"
    path.write_text(json.dumps(doc))
    runner = app.test_cli_runner()
    r = runner.invoke(args=["geo", "import-cells", str(path), "--crs", "wgs84"])
    assert r.exit_code == 2 and "所属的村 330681109001 不存在" in r.output  # no such village
    code = db_session.scalar(
        text(
            "SELECT code FROM area WHERE code LIKE '330681109%' AND level='village' ORDER BY code LIMIT 1"
        )
    )
    doc["features"][0]["properties"]["adcode"] = code + "950"
    path.write_text(json.dumps(doc))
    r = runner.invoke(args=["geo", "import-cells", str(path), "--crs", "wgs84"])
    assert r.exit_code == 0, r.output
    assert "超过指导标准" not in r.output  # a 专属网格 has no household guideline
    cell = db_session.scalar(select(GridCell).where(GridCell.code == code + "950"))
    assert cell.cell_type == "dedicated" and cell.households == 650


def test_household_guideline_is_300_in_a_village_500_in_a_community_none_for_dedicated_cells(
    app, db_session, tmp_path
):
    from geo.enums import households_guideline

    assert households_guideline("330681109219001", "先进村") == 300
    assert households_guideline("330681001032001", "八一社区") == 500
    assert households_guideline("330681001054001", "碑亭居") == 500
    assert households_guideline("330681001282001", "城南新村") == 300  # a 村, however named
    assert households_guideline("330681001220001", "某某社区") == 500  # village turned community
    assert households_guideline("330681001050001", None) == 500  # no name: by the code (0xx)
    assert households_guideline("330681109219950", "先进村") is None  # 专属网格
    # Imported: 350 households in a village's comprehensive cell is over its 300 guideline.
    code, name = db_session.execute(
        text(
            "SELECT code, name FROM area WHERE code LIKE '330681109%' AND level='village' "
            "AND name LIKE '%村' ORDER BY code LIMIT 1"
        )
    ).one()
    doc = fc(feature(code + "899", "测试综合网格", coords=None))
    doc["features"][0]["properties"]["households"] = 350
    path = tmp_path / "cells.json"
    path.write_text(json.dumps(doc))
    r = app.test_cli_runner().invoke(args=["geo", "import-cells", str(path), "--crs", "wgs84"])
    assert r.exit_code == 0, r.output
    assert f"网格 {code}899 有 350 户，超过指导标准 300 户" in r.output
