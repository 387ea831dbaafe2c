"""Login, tokens (tampered, expired, wrong algorithm, revoked), rotation, lockout, logs."""

import base64
import json
import logging
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from api import create_app
from mediation.users.models import AccessLog, CellAssignment
from tests.factories import PASSWORD, bearer, cells_of, login, make_user, village_with_cells


@pytest.fixture
def gw(app, db_session):
    village = village_with_cells(db_session)
    return make_user(
        app,
        db_session,
        "t_gw",
        [{"role": "grid_worker"}],
        cells_of(db_session, village)[:2],
        phone="13900001111",
    )


def me(client, token):
    return client.get("/api/v1/auth/me", headers=bearer(token))


def test_login_returns_tokens_and_profile(client, gw):
    body = login(client, "t_gw")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    assert body["user"]["roles"][0]["role"] == "grid_worker"
    assert len(body["user"]["cells"]) == 2
    r = me(client, body["access_token"])
    assert r.status_code == 200 and r.get_json()["username"] == "t_gw"


@pytest.mark.parametrize("username", ["t_gw", "nobody"])
def test_wrong_password_and_unknown_user_get_the_same_answer(client, gw, username):
    r = client.post("/api/v1/auth/login", json={"username": username, "password": "Wrong#Passw0rd"})
    assert r.status_code == 401
    assert r.get_json() == {"code": "invalid_credentials", "message": "用户名或密码错误"}


def _forge(payload: dict, key: str, alg: str) -> str:
    return pyjwt.encode(payload, key, algorithm=alg)


def _alg_none(payload: dict) -> str:
    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


@pytest.mark.parametrize(
    "kind", ["tampered", "alg_none", "other_secret", "hs512", "garbage", "refresh_as_access"]
)
def test_forged_tokens_are_refused(app, client, gw, kind):
    body = login(client, "t_gw")
    token = body["access_token"]
    payload = pyjwt.decode(token, options={"verify_signature": False})
    payload["sub"] = str(gw.id)
    if kind == "tampered":
        head, claims, sig = token.split(".")
        claims_d = json.loads(base64.urlsafe_b64decode(claims + "=="))
        claims_d["sub"] = "1"
        claims = base64.urlsafe_b64encode(json.dumps(claims_d).encode()).rstrip(b"=").decode()
        token = f"{head}.{claims}.{sig}"
    elif kind == "alg_none":
        token = _alg_none(payload)
    elif kind == "other_secret":
        token = _forge(payload, "another-deployment-secret-of-32-bytes!", "HS256")
    elif kind == "hs512":
        token = _forge(payload, app.config["JWT_SECRET_KEY"], "HS512")
    elif kind == "garbage":
        token = "not.a.token"
    elif kind == "refresh_as_access":
        token = body["refresh_token"]
    r = me(client, token)
    assert r.status_code in (401, 422), r.get_json()
    assert r.get_json()["code"] in ("invalid_token", "unauthorized"), r.get_json()


def test_expired_token_is_refused(app, client, gw):
    body = login(client, "t_gw")
    fam = pyjwt.decode(body["access_token"], options={"verify_signature": False})["fam"]
    with app.app_context():
        token = create_access_token(
            identity=str(gw.id), additional_claims={"fam": fam}, expires_delta=timedelta(seconds=-5)
        )
    r = me(client, token)
    assert r.status_code == 401 and r.get_json()["code"] == "token_expired"


def test_a_remembered_token_still_expires_and_still_gets_revoked(app, client, gw):
    """Verified tokens are remembered per process (extensions.VerifiedTokens): a token that
    worked stops working when it expires, and when its login is ended."""
    from api.extensions import jwt

    body = login(client, "t_gw")
    fam = pyjwt.decode(body["access_token"], options={"verify_signature": False})["fam"]
    with app.app_context():
        short = create_access_token(
            identity=str(gw.id), additional_claims={"fam": fam}, expires_delta=timedelta(seconds=2)
        )
    assert me(client, short).status_code == 200
    assert short in jwt._verified  # remembered, and answered from memory from now on
    assert me(client, short).status_code == 200
    time.sleep(2.2)
    r = me(client, short)
    assert r.status_code == 401 and r.get_json()["code"] == "token_expired"

    token = body["access_token"]
    assert me(client, token).status_code == 200 and token in jwt._verified
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    r = me(client, token)
    assert r.status_code == 401, r.get_json()


def test_refresh_rotates_and_reuse_revokes_the_family(client, gw):
    first = login(client, "t_gw")
    r = client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert r.status_code == 200
    second = r.get_json()
    assert me(client, second["access_token"]).status_code == 200
    # The first refresh token is presented again (stolen phone, replayed request): the family dies.
    r = client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert r.status_code == 401 and r.get_json()["code"] == "refresh_token_reused"
    assert me(client, second["access_token"]).get_json()["code"] == "token_revoked"
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(second["refresh_token"])).status_code
        == 401
    )


def test_logout_this_device_and_all_devices(client, gw):
    phone = login(client, "t_gw", device="phone")
    tablet = login(client, "t_gw", device="tablet")
    assert (
        client.post("/api/v1/auth/logout", headers=bearer(phone["access_token"])).status_code == 204
    )
    assert me(client, phone["access_token"]).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(phone["refresh_token"])).status_code
        == 401
    )
    assert me(client, tablet["access_token"]).status_code == 200
    third = login(client, "t_gw", device="pc")
    assert (
        client.post("/api/v1/auth/logout-all", headers=bearer(third["access_token"])).status_code
        == 204
    )
    assert me(client, tablet["access_token"]).status_code == 401
    assert me(client, third["access_token"]).status_code == 401


def test_lockout_after_repeated_failures(app, client, gw):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        r = client.post(
            "/api/v1/auth/login", json={"username": "t_gw", "password": "Wrong#Passw0rd"}
        )
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "t_gw", "password": PASSWORD})
    assert r.status_code == 423 and r.get_json()["code"] == "account_locked"


def test_deactivated_user_is_logged_out_everywhere(app, client, db_session, gw):
    admin = make_user(app, db_session, "t_admin", [{"role": "admin"}])
    assert admin.id
    tokens = login(client, "t_gw")
    admin_tokens = login(client, "t_admin")
    r = client.patch(
        f"/api/v1/users/{gw.id}",
        json={"is_active": False},
        headers=bearer(admin_tokens["access_token"]),
    )
    assert r.status_code == 200
    assert me(client, tokens["access_token"]).status_code == 401


def test_password_rules_and_change(client, gw):
    tokens = login(client, "t_gw")
    h = bearer(tokens["access_token"])
    r = client.post(
        "/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "short"}, headers=h
    )
    assert r.status_code == 422 and r.get_json()["code"] == "weak_password"
    assert r.get_json()["fields"]["password"]
    other = login(client, "t_gw", device="other")
    r = client.post(
        "/api/v1/auth/password",
        json={"old_password": PASSWORD, "new_password": "New#Passw0rd2026"},
        headers=h,
    )
    assert r.status_code == 204
    assert me(client, tokens["access_token"]).status_code == 200  # this device stays
    assert me(client, other["access_token"]).status_code == 401  # others are logged out
    login(client, "t_gw", password="New#Passw0rd2026")


def test_production_refuses_default_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x@/y")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="default or short secrets"):
        create_app("production")
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "PII_KEY"):
        monkeypatch.setenv(name, "x" * 40 + name)
    assert create_app("production").config["ENV_NAME"] == "production"


def test_cell_reassignment_keeps_history(app, client, db_session, gw):
    cell = cells_of(db_session, village_with_cells(db_session))[0]
    other = make_user(app, db_session, "t_gw2", [{"role": "grid_worker"}])
    center = make_user(
        app, db_session, "t_center", [{"role": "center_staff", "area_code": "330681109"}]
    )
    assert center.id
    h = bearer(login(client, "t_center")["access_token"])
    r = client.post(
        f"/api/v1/users/{other.id}/cells",
        json={"cell_code": cell, "valid_from": "2026-03-01"},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    history = db_session.scalars(
        select(CellAssignment).where(CellAssignment.cell_code == cell).order_by(CellAssignment.id)
    ).all()
    assert [(a.user_id, str(a.valid_to)) for a in history] == [
        (gw.id, "2026-03-01"),
        (other.id, "None"),
    ]
    assert cell not in me(client, login(client, "t_gw")["access_token"]).get_json()["cells"]
    # Outside the centre's township: no such cell as far as they are concerned.
    r = client.post(
        f"/api/v1/users/{other.id}/cells", json={"cell_code": "330681108001001"}, headers=h
    )
    assert r.status_code == 404


def test_reveal_writes_the_access_log(app, client, db_session, gw):
    make_user(app, db_session, "t_center", [{"role": "center_staff", "area_code": "330681109"}])
    h = bearer(login(client, "t_center")["access_token"])
    listed = client.get(f"/api/v1/users/{gw.id}", headers=h).get_json()
    assert listed["phone"] == "139****1111"
    r = client.post(
        f"/api/v1/users/{gw.id}/reveal", json={"field": "phone", "purpose": ""}, headers=h
    )
    assert r.status_code == 422 and r.get_json()["code"] == "purpose_required"
    r = client.post(
        f"/api/v1/users/{gw.id}/reveal",
        json={"field": "phone", "purpose": "联系网格员核实纠纷"},
        headers=h,
    )
    assert r.status_code == 200 and r.get_json()["value"] == "13900001111"
    rows = db_session.scalars(select(AccessLog).where(AccessLog.record_id == str(gw.id))).all()
    assert len(rows) == 1 and rows[0].purpose == "联系网格员核实纠纷" and rows[0].field == "phone"
    gw_h = bearer(login(client, "t_gw")["access_token"])
    r = client.post(
        f"/api/v1/users/{gw.id}/reveal",
        json={"field": "phone", "purpose": "想看看自己"},
        headers=gw_h,
    )
    assert r.status_code == 403
    assert db_session.scalar(select(func.count()).select_from(AccessLog)) == 1


def test_no_secret_or_personal_data_in_logs_or_error_bodies(app, client, db_session, gw, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    tokens = login(client, "t_gw")
    bodies.append(
        client.post(
            "/api/v1/auth/login", json={"username": "t_gw", "password": "Secret#Wrong123"}
        ).get_data(as_text=True)
    )
    bodies.append(
        client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"] + "x")).get_data(
            as_text=True
        )
    )
    admin = make_user(app, db_session, "t_admin", [{"role": "admin"}])
    assert admin.id
    ah = bearer(login(client, "t_admin")["access_token"])
    bodies.append(
        client.post(
            "/api/v1/users",
            json={
                "username": "t_new",
                "display_name": "新",
                "password": "weak",
                "roles": [{"role": "admin"}],
                "phone": "13912345678",
            },
            headers=ah,
        ).get_data(as_text=True)
    )
    logging.getLogger("test").warning(
        "login of %s with password=%s token %s id %s",
        "t_gw",
        PASSWORD,
        tokens["access_token"],
        "33068119900101123X",
    )
    text = caplog.text + "".join(bodies)
    for secret in (
        PASSWORD,
        "Secret#Wrong123",
        tokens["access_token"],
        tokens["refresh_token"],
        "33068119900101123X",
        "13912345678",
        "13900001111",
    ):
        assert secret not in text, secret
    assert "[token]" in caplog.text and "[id-number]" in caplog.text
