"""Issue 16, the API's part: what the document says, what the phone gets back, what is refused.

One regression test per item (m1, m4–m11, m13), named after it."""

from __future__ import annotations

import pytest

from tests.factories import Api, bearer, login, role_users


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
