"""Issue 16, the API's part: what the document says, what the phone gets back, what is refused.

One regression test per item (m1, m4–m11, m13), named after it."""

from __future__ import annotations

import pytest

from tests.factories import Api, bearer, dispute_payload, login, role_users


@pytest.fixture
def world(app, db_session):
    return role_users(app, db_session)


@pytest.fixture
def gw(client, world):
    return Api(client, "t_gw")


def _spec(client) -> dict:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    return r.get_json()


# ------------------------------------------------------------------ m13


def test_m13_swagger_ui_sets_validator_url_null(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert '"validatorUrl": null' in html, html


# ------------------------------------------------------------------ m10


def test_m10_refresh_accepts_the_token_in_the_body(client, world):
    first = login(client, "t_gw")
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.get_json()
    second = r.get_json()
    # the header way keeps working, and rotation still holds for the body way
    r = client.post("/api/v1/auth/refresh", headers=bearer(second["refresh_token"]))
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.get_json()["code"] == "refresh_token_reused"
    # an access token in the body is no refresh token
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": second["access_token"]})
    assert r.status_code == 401
    for body in ([1], {"refresh_token": 5}, {"refresh_token": "a\x00b"}):
        assert client.post("/api/v1/auth/refresh", json=body).status_code == 401


def test_m10_refresh_documents_its_body(client):
    op = _spec(client)["paths"]["/api/v1/auth/refresh"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[1]
    assert "refresh_token" in _spec(client)["components"]["schemas"][ref]["properties"]


# ------------------------------------------------------------------ m1


def test_m1_actions_are_documented_from_the_workflow_table(client):
    from mediation.disputes.workflow import TRANSITIONS

    path = _spec(client)["paths"]["/api/v1/disputes/{dispute_id}/actions/{action}"]
    op = path["post"]
    params = {p["name"]: p for p in [*path.get("parameters", []), *op.get("parameters", [])]}
    assert params["action"]["schema"]["enum"] == list(TRANSITIONS)
    description = op["description"]
    catalogue = op["x-actions"]
    assert set(catalogue) == set(TRANSITIONS)
    for name, t in TRANSITIONS.items():
        line = next(x for x in description.splitlines() if x.startswith(f"| `{name}` |"))
        assert t.label in line
        for field in t.requires:
            assert f"`{field}`" in line, (name, field)
        assert catalogue[name]["requires"] == list(t.requires)
        assert catalogue[name]["from"] and set(catalogue[name]["from"]) == set(t.sources)
    assert "网格员" in next(x for x in description.splitlines() if "`record_visit`" in x)
    assert catalogue["archive"]["roles"] == ["center_staff", "county_admin", "village_admin"]


# ------------------------------------------------------------------ m4


def test_m4_registration_outside_own_cells_is_flagged_with_distance(client, db_session, world, gw):
    from sqlalchemy import text

    from tests.factories import point_in

    own = gw.register(dispute_payload(db_session, world["cells"][0]))
    assert own.status_code == 201, own.get_json()
    body = own.get_json()
    assert body["location"]["outside_own_cells"] is None and body["warnings"] == []

    # a point in another grid worker's cell (what a WGS-84 fix labelled GCJ-02 does)
    elsewhere = world["cells"][2]
    r = gw.register(dispute_payload(db_session, elsewhere))
    assert r.status_code == 201, r.get_json()  # flagged, not blocked
    body = r.get_json()
    assert body["cell_code"] == elsewhere and body["location"]["match"] == "exact"
    flag = body["location"]["outside_own_cells"]
    x, y = point_in(db_session, elsewhere)
    expected = db_session.execute(
        text(
            "SELECT min(ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
            "::geography)) FROM grid_cell WHERE code = ANY(:c) AND valid_to IS NULL"
        ),
        {"x": x, "y": y, "c": world["cells"][:2]},
    ).scalar()
    assert flag["nearest_own_cell"] in world["cells"][:2]
    assert abs(flag["distance_m"] - expected) < 1.0 and flag["distance_m"] > 0
    (warning,) = body["warnings"]
    assert warning["code"] == "outside_own_cells" and warning["field"] == "location"
    assert "米" in warning["message"] and warning["distance_m"] == flag["distance_m"]
    # the case file keeps saying so
    again = gw.get(body["id"]).get_json()
    assert again["location"]["outside_own_cells"] == flag


def test_m4_wgs84_point_labelled_gcj02_is_flagged(client, db_session, world, gw):
    from geo import crs
    from tests.factories import point_in

    # A WGS-84 fix sent as GCJ-02 lands about 500 m south-west of where it was taken.
    for cell in world["cells"][:2]:
        x, y = point_in(db_session, cell)
        payload = dispute_payload(db_session, cell)
        payload["location"] = {"lon": x, "lat": y, "crs": "gcj02"}
        r = gw.register(payload)
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        wx, wy = crs.gcj02_to_wgs84(x, y)
        if body["cell_code"] not in world["cells"][:2]:
            assert body["location"]["outside_own_cells"]["distance_m"] > 0
            assert body["warnings"][0]["code"] == "outside_own_cells"
        else:
            assert body["location"]["outside_own_cells"] is None
        assert abs(body["location"]["lon"] - float(wx)) < 1e-6


# ------------------------------------------------------------------ m5


def test_m5_map_layers_are_wgs84_geojson_by_default(client, db_session, world):
    from geo import crs
    from tests.factories import point_in

    gw = Api(client, "t_gw")
    case = gw.register(dispute_payload(db_session, world["cells"][0])).get_json()
    h = bearer(login(client, "t_center")["access_token"])
    village = world["village"]
    for path in ("areas", "cases", "hotspots"):
        r = client.get(f"/api/v1/console/map/{path}?area={village}", headers=h)
        assert r.status_code == 200, r.get_json()
        assert r.mimetype == "application/geo+json"
        assert r.get_json()["coordinate_system"] == "wgs84"
        r = client.get(f"/api/v1/console/map/{path}?area={village}&crs=gcj02", headers=h)
        assert r.mimetype == "application/geo+json"
        assert r.get_json()["coordinate_system"] == "gcj02"
    x, y = point_in(db_session, world["cells"][0])
    r = client.get(f"/api/v1/console/map/cases?area={village}", headers=h)
    (feature,) = [f for f in r.get_json()["features"] if f["id"] == case["id"]]
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lon - x) < 1e-6 and abs(lat - y) < 1e-6
    r = client.get(f"/api/v1/console/map/cases?area={village}&crs=gcj02", headers=h)
    (feature,) = [f for f in r.get_json()["features"] if f["id"] == case["id"]]
    gx, gy = crs.wgs84_to_gcj02(x, y)
    assert abs(feature["geometry"]["coordinates"][0] - float(gx)) < 1e-6
    spec = _spec(client)
    for path in ("areas", "cases", "hotspots"):
        op = spec["paths"][f"/api/v1/console/map/{path}"]["get"]
        assert list(op["responses"]["200"]["content"]) == ["application/geo+json"]
        crs_param = next(p for p in op["parameters"] if p["name"] == "crs")
        assert crs_param["schema"]["default"] == "wgs84"


# ------------------------------------------------------------------ m6


def test_m6_case_reads_honour_crs(client, db_session, world, gw):
    from geo import crs
    from tests.factories import point_in

    case = gw.register(dispute_payload(db_session, world["cells"][0])).get_json()
    x, y = point_in(db_session, world["cells"][0])
    gx, gy = (float(v) for v in crs.wgs84_to_gcj02(x, y))
    r = client.get(f"/api/v1/disputes/{case['id']}?crs=gcj02", headers=gw.h())
    loc = r.get_json()["location"]
    assert loc["crs"] == "gcj02" and abs(loc["lon"] - gx) < 1e-6 and abs(loc["lat"] - gy) < 1e-6
    loc = gw.get(case["id"]).get_json()["location"]
    assert loc["crs"] == "wgs84" and abs(loc["lon"] - x) < 1e-6
    r = client.get("/api/v1/disputes?crs=gcj02", headers=gw.h())
    (item,) = [i for i in r.get_json()["items"] if i["id"] == case["id"]]
    assert item["location"]["crs"] == "gcj02" and abs(item["location"]["lat"] - gy) < 1e-6
    r = client.get("/api/v1/disputes/tasks?crs=bd09", headers=gw.h())
    assert all(i["location"]["crs"] == "bd09" for i in r.get_json())
    r = client.get("/api/v1/disputes?crs=gcj-02", headers=gw.h())
    assert r.status_code == 422 and "crs" in r.get_json()["fields"]


# ------------------------------------------------------------------ m7


def test_m7_device_time_is_kept_and_shown(client, db_session, world, gw):
    from datetime import UTC, datetime, timedelta

    device = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    payload = dispute_payload(db_session, world["cells"][0], device_recorded_at=device.isoformat())
    case = gw.register(payload).get_json()
    assert datetime.fromisoformat(case["device_recorded_at"]) == device
    r = client.get(f"/api/v1/disputes/{case['id']}/timeline", headers=gw.h())
    (event,) = r.get_json()
    assert datetime.fromisoformat(event["device_at"]) == device
    assert datetime.fromisoformat(event["at"]) > device  # the server time, kept beside it
    # an action taken online has no device time
    assert gw.act(case["id"], "accept").status_code == 200
    events = client.get(f"/api/v1/disputes/{case['id']}/timeline", headers=gw.h()).get_json()
    assert events[-1]["action"] == "accept" and events[-1]["device_at"] is None


# ------------------------------------------------------------------ m8


def test_m8_amount_with_three_decimals_is_refused(client, db_session, world, gw):
    for amount in (100.123, "100.123", 1e-5):
        r = gw.register(dispute_payload(db_session, world["cells"][0], amount=amount))
        assert r.status_code == 422, (amount, r.get_json())
        body = r.get_json()
        assert body["code"] == "validation_error" and "amount" in body["fields"]
        assert "两位小数" in body["fields"]["amount"][0]
    r = gw.register(dispute_payload(db_session, world["cells"][0], amount=100.12))
    assert r.status_code == 201 and r.get_json()["amount"] == "100.12"
    money = _spec(client)["components"]["schemas"]["DisputeIn"]["properties"]["amount"]
    number = next(v for v in money["anyOf"] if v["type"] == "number")
    assert number["multipleOf"] == 0.01


def test_m8_coordinates_as_strings_are_refused(client, db_session, world, gw):
    payload = dispute_payload(db_session, world["cells"][0])
    payload["location"] = {**payload["location"], "lon": str(payload["location"]["lon"])}
    r = gw.register(payload)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["fields"] == {"location.lon": ["应为数字"]}
    for wrong in (
        {"people_involved": "4"},
        {"people_involved": 4.5},
        {"risk": {"likelihood": "2"}},
    ):
        r = gw.register(dispute_payload(db_session, world["cells"][0], **wrong))
        assert r.status_code == 422 and r.get_json()["code"] == "validation_error", wrong
    case = gw.register(dispute_payload(db_session, world["cells"][0])).get_json()
    r = gw.act(case["id"], "record_visit", performed_immediately="true")
    assert r.status_code == 422 and "performed_immediately" in r.get_json()["fields"]


def test_m8_repeated_scalar_query_parameters_are_refused(client, world, gw):
    r = client.get("/api/v1/disputes?limit=1&limit=200", headers=gw.h())
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["code"] == "validation_error" and body["fields"] == {
        "limit": ["该参数只能出现一次"]
    }
    # list parameters still repeat
    r = client.get("/api/v1/disputes?status=registered&status=accepted", headers=gw.h())
    assert r.status_code == 200
    r = client.get("/api/v1/locate?lon=120.24&lon=120.25&lat=29.71&crs=gcj02", headers=gw.h())
    assert r.status_code == 422 and "lon" in r.get_json()["fields"]


# ------------------------------------------------------------------ m9


def test_m9_document_declares_what_the_server_enforces(client):
    spec = _spec(client)
    schemas = spec["components"]["schemas"]
    # date ranges (1900–2999) and no NUL in text
    assert schemas["DisputeIn"]["properties"]["occurred_at"]["pattern"].startswith("^(19")
    assert "u0000" in schemas["RevealIn"]["properties"]["purpose"]["pattern"]
    assert schemas["RevealIn"]["properties"]["purpose"]["minLength"] == 4
    # crs enums
    assert schemas["LocationIn"]["properties"]["crs"]["enum"] == ["wgs84", "gcj02", "bd09"]
    locate = spec["paths"]["/api/v1/locate"]["get"]
    crs_param = next(p for p in locate["parameters"] if p["name"] == "crs")
    assert crs_param["schema"]["enum"] == ["wgs84", "gcj02", "bd09"]
    # month pattern and sort enum
    drafts = spec["paths"]["/api/v1/reports/monthly/{month}/drafts"]
    month = next(p for p in drafts.get("parameters", []) if p["name"] == "month")
    assert month["schema"]["pattern"]
    lists = spec["paths"]["/api/v1/console/lists/{kind}"]["get"]
    sort = next(p for p in lists["parameters"] if p["name"] == "sort")
    assert {"due", "risk", "village", "waiting"} <= set(sort["schema"]["enum"])
    # the multipart file is required; 414 from gunicorn is listed
    assert schemas["AttachmentForm"]["required"] == ["file"]
    assert "file" in schemas["PhotoForm"]["required"]
    assert "414" in spec["paths"]["/api/v1/disputes"]["get"]["responses"]


def test_m9_server_refuses_what_the_document_refuses(client, world, gw, db_session):
    h = bearer(login(client, "t_center")["access_token"])
    for month in ("2026-1", "2026-13", "1999-12"):
        r = client.get(f"/api/v1/reports/monthly/{month}/townships/330681109", headers=h)
        assert r.status_code == 422 and r.get_json()["code"] == "invalid_month", month
    payload = dispute_payload(db_session, world["cells"][0])
    payload["location"]["crs"] = "GCJ-02"
    r = gw.register(payload)
    assert r.status_code == 422 and r.get_json()["code"] == "unknown_crs"
    assert "location.crs" in r.get_json()["fields"]


def test_m9_method_not_allowed_says_allow(client):
    r = client.delete("/api/v1/disputes")
    assert r.status_code == 405 and r.get_json()["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# ------------------------------------------------------------------ found by the populated fuzz


def test_fuzz_populated_month_of_year_zero_is_refused_not_500(client, world):
    h = bearer(login(client, "t_center")["access_token"])
    for path in (
        "/api/v1/console/lists/late_reports?month=0000-01",
        "/api/v1/screening/rounds?month=0000-01",
        "/api/v1/screening/campaigns?month=0000-01",
        "/api/v1/screening/coverage?area=330681109&month=0000-01",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 422, (path, r.get_json())
        assert "month" in r.get_json()["fields"]


def test_fuzz_populated_duplicate_roles_are_refused_not_500(client, world):
    h = bearer(login(client, "t_admin")["access_token"])
    target = world["users"]["mediator"].id
    roles = [{"role": "admin"}, {"role": "admin", "area_code": None}]
    r = client.patch(f"/api/v1/users/{target}", json={"roles": roles}, headers=h)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["fields"] == {"roles[1]": ["该角色与区域重复"]}
    r = client.post(
        "/api/v1/users",
        json={
            "username": "t_dup",
            "display_name": "重复",
            "password": "Fengqiao#2026x",
            "roles": [{"role": "mediator", "area_code": world["village"]}] * 2,
        },
        headers=h,
    )
    assert r.status_code == 422 and "roles[1]" in r.get_json()["fields"], r.get_json()


def test_fuzz_populated_empty_sort_is_refused(client, world):
    h = bearer(login(client, "t_center")["access_token"])
    r = client.get("/api/v1/console/lists/overdue?sort=", headers=h)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_sort"
    assert client.get("/api/v1/console/lists/overdue", headers=h).status_code == 200
