"""Security stories: forged tokens, privilege escalation through the write endpoints, rate limits,
security headers and CORS, and no personal data in logs.

`test_authorization_matrix.py` covers every route × role × inside/outside; here are the concrete
attacks a township centre would ask about, each one refused (401/403/404, or a per-operation
rejection) and each one changing nothing.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import text

from tests.factories import PASSWORD, bearer, dispute_payload, login, resident_id, role_users

pytestmark = pytest.mark.security

ID_NUMBER = "11010519491231002X"  # real format, valid check character (GB 11643 example)
PHONE = "13912345678"


@pytest.fixture
def w(app, client, db_session):
    """Users around 枫桥镇, their tokens, and a case in their village and one elsewhere."""
    c = role_users(app, db_session)
    c["tokens"] = {
        role: login(client, u.username)["access_token"] for role, u in c["users"].items()
    }
    c["tokens"]["gw_out"] = login(client, "t_gw_out")["access_token"]
    c["h"] = {role: bearer(t) for role, t in c["tokens"].items()}
    cases = {}
    for where, who, cell in (
        ("in", "grid_worker", c["cells"][0]),
        ("out", "gw_out", c["other_cells"][0]),
    ):
        payload = dispute_payload(db_session, cell)
        payload["parties"][0]["id_number"] = ID_NUMBER
        payload["parties"][0]["phone"] = PHONE
        r = client.post("/api/v1/disputes", json=payload, headers=c["h"][who])
        assert r.status_code == 201, r.get_json()
        cases[where] = r.get_json()
    c["cases"] = cases
    c["db"] = db_session
    return c


def _state(db_session) -> tuple:
    """A fingerprint of everything an attack could change."""
    return tuple(
        db_session.scalar(text(q))
        for q in (
            "SELECT count(*) FROM dispute",
            "SELECT coalesce(sum(version), 0) FROM dispute",
            "SELECT count(*) FROM dispute_event",
            "SELECT count(*) FROM user_account",
            "SELECT count(*) FROM user_role",
            "SELECT count(*) FROM access_log",
            "SELECT count(*) FROM attachment",
            "SELECT count(*) FROM cell_assignment",
            "SELECT count(*) FROM monthly_report WHERE status = 'submitted'",
            "SELECT count(*) FROM screening_round",
            "SELECT coalesce(string_agg(narrative, '|' ORDER BY id), '') FROM monthly_report",
            "SELECT count(*) FROM reminder WHERE state = 'acknowledged'",
        )
    )


# ------------------------------------------------------------------ tokens


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _forge(kind, app, tokens, admin_id):
    token = tokens["access_token"]
    head, claims, sig = token.split(".")
    payload = pyjwt.decode(token, options={"verify_signature": False})
    escalated = {**payload, "sub": str(admin_id)}
    if kind == "wrong signature":
        return f"{head}.{claims}.{sig[:-4]}AAAA"
    if kind == "tampered claims (sub → admin)":
        return f"{head}.{_b64(escalated)}.{sig}"
    if kind == "alg none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(escalated)}."
    if kind == "alg none, no dot":
        return f"{_b64({'alg': 'none'})}.{_b64(escalated)}"
    if kind == "another deployment's secret":
        return pyjwt.encode(escalated, "another-deployment-secret-of-at-least-32-bytes", "HS256")
    if kind == "HS512 with our secret":
        return pyjwt.encode(escalated, app.config["JWT_SECRET_KEY"], "HS512")
    if kind == "refresh token as access token":
        return tokens["refresh_token"]
    if kind == "expired":
        with app.app_context():
            return create_access_token(
                identity=payload["sub"],
                additional_claims={"fam": payload["fam"]},
                expires_delta=timedelta(seconds=-1),
            )
    if kind == "no family claim":
        with app.app_context():
            return create_access_token(identity=str(admin_id))
    if kind == "garbage":
        return "eyJhbGciOi.not-a-token"
    raise AssertionError(kind)


TOKEN_KINDS = [
    "wrong signature",
    "tampered claims (sub → admin)",
    "alg none",
    "alg none, no dot",
    "another deployment's secret",
    "HS512 with our secret",
    "refresh token as access token",
    "expired",
    "no family claim",
    "garbage",
]


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_forged_tokens_cannot_write(app, client, db_session, w, kind):
    """A forged token on a write endpoint: 401, and no user was created."""
    tokens = login(client, "t_gw")
    token = _forge(kind, app, tokens, w["users"]["admin"].id)
    before = _state(db_session)
    r = client.post(
        "/api/v1/users",
        json={
            "username": "intruder",
            "display_name": "入侵者",
            "password": "Strong#Passw0rd",
            "roles": [{"role": "admin"}],
        },
        headers=bearer(token),
    )
    assert r.status_code == 401, (r.status_code, r.get_json())
    assert r.get_json()["code"] in (
        "invalid_token",
        "token_expired",
        "token_revoked",
        "unauthorized",
    )
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert _state(db_session) == before


def test_logged_out_token_cannot_write(client, db_session, w):
    h = w["h"]["county_admin"]
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    before = _state(db_session)
    r = client.post(f"/api/v1/disputes/{w['cases']['in']['id']}/actions/accept", json={}, headers=h)
    assert r.status_code == 401 and r.get_json()["code"] == "token_revoked"
    assert _state(db_session) == before


# ------------------------------------------------------------------ privilege escalation


def _act(client, h, case, action, **body):
    return client.post(
        f"/api/v1/disputes/{case['id']}/actions/{action}",
        json={"expected_version": case["version"], **body},
        headers=h,
    )


def test_grid_worker_cannot_accept_an_escalation(client, db_session, w):
    case = w["cases"]["in"]
    for action, role, body in (
        ("accept", "mediator", {}),
        ("start_mediation", "mediator", {"rights_notice": "口头告知权利义务"}),
        ("escalate", "mediator", {"to_level": "township", "reason": "涉及多个村，需镇调委会调解"}),
    ):
        r = _act(client, w["h"][role], case, action, **body)
        assert r.status_code == 200, (action, r.get_json())
        case = r.get_json()
    before = _state(db_session)
    for role in ("grid_worker", "mediator", "village_admin"):
        r = _act(client, w["h"][role], case, "accept_escalation")
        assert r.status_code == 403, (role, r.get_json())
    assert _state(db_session) == before
    assert _act(client, w["h"]["center_staff"], case, "accept_escalation").status_code == 200


@pytest.mark.parametrize(
    "action,body",
    [
        ("accept", {}),
        ("reject", {"ground": "not_civil_dispute", "reason": "不属于人民调解范围"}),
        ("assess_risk", {"likelihood": 5, "severity": 5}),
        ("withdraw", {"reason": "当事人撤回"}),
    ],
)
def test_village_mediator_cannot_act_on_another_villages_case(client, db_session, w, action, body):
    before = _state(db_session)
    for role in ("mediator", "village_admin", "grid_worker", "center_staff", "leader"):
        r = _act(client, w["h"][role], w["cases"]["out"], action, **body)
        assert r.status_code == 404, (role, r.get_json())
    assert _state(db_session) == before


def test_reading_or_revealing_another_villages_case_is_404(client, db_session, w):
    out = w["cases"]["out"]
    before = _state(db_session)
    for role in ("grid_worker", "mediator", "village_admin", "center_staff", "leader"):
        h = w["h"][role]
        assert client.get(f"/api/v1/disputes/{out['id']}", headers=h).status_code == 404
        r = client.post(
            f"/api/v1/disputes/{out['id']}/parties/{out['parties'][0]['id']}/reveal",
            json={"field": "phone", "purpose": "电话回访当事人"},
            headers=h,
        )
        assert r.status_code == 404, (role, r.get_json())
        png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + role.encode() * 8)
        r = client.post(
            f"/api/v1/disputes/{out['id']}/attachments",
            data={"kind": "photo", "file": (png, "a.png")},
            headers=h,
            content_type="multipart/form-data",
        )
        assert r.status_code in (403, 404), (role, r.get_json())
    assert _state(db_session) == before


@pytest.mark.parametrize("role", ["grid_worker", "leader", "admin"])
def test_revealing_an_id_number_needs_the_role(client, db_session, w, role):
    case = w["cases"]["in"]
    before = _state(db_session)
    r = client.post(
        f"/api/v1/disputes/{case['id']}/parties/{case['parties'][0]['id']}/reveal",
        json={"field": "id_number", "purpose": "核实身份"},
        headers=w["h"][role],
    )
    assert r.status_code == 403, r.get_json()
    assert ID_NUMBER not in r.get_data(as_text=True)
    assert _state(db_session) == before  # not even an access-log row


def test_masked_everywhere_without_a_reveal(client, w):
    case = w["cases"]["in"]
    for role in ("grid_worker", "mediator", "center_staff", "county_admin"):
        for path in (f"/api/v1/disputes/{case['id']}", "/api/v1/disputes", "/api/v1/sync/changes"):
            text_ = client.get(path, headers=w["h"][role]).get_data(as_text=True)
            assert ID_NUMBER not in text_ and PHONE not in text_, (role, path)


@pytest.mark.parametrize(
    "role,body",
    [
        ("grid_worker", {"roles": [{"role": "grid_worker"}]}),
        ("mediator", {"roles": [{"role": "mediator", "area_code": "330681109"}]}),
        ("village_admin", {"roles": [{"role": "village_admin", "area_code": "330681109"}]}),
        ("center_staff", {"roles": [{"role": "admin"}]}),
        ("leader", {"roles": [{"role": "county_admin", "area_code": "330681"}]}),
    ],
)
def test_only_managers_create_users(client, db_session, w, role, body):
    before = _state(db_session)
    r = client.post(
        "/api/v1/users",
        json={
            "username": f"x_{role}",
            "display_name": "新用户",
            "password": "Strong#Passw0rd",
            **body,
        },
        headers=w["h"][role],
    )
    assert r.status_code == 403, r.get_json()
    assert _state(db_session) == before


def test_county_admin_cannot_make_anybody_a_system_admin(client, db_session, w):
    before = _state(db_session)
    me_ = w["users"]["county_admin"]
    for target in (me_, w["targets"]["gw_in"]):
        r = client.patch(
            f"/api/v1/users/{target.id}",
            json={"roles": [{"role": "admin"}]},
            headers=w["h"]["county_admin"],
        )
        assert r.status_code in (403, 404, 422), r.get_json()
    r = client.post(
        "/api/v1/users",
        json={
            "username": "x_admin",
            "display_name": "新管理员",
            "password": "Strong#Passw0rd",
            "roles": [{"role": "county_admin", "area_code": "330682"}],
        },
        headers=w["h"]["county_admin"],
    )
    assert r.status_code in (403, 404, 422), r.get_json()
    assert _state(db_session) == before


def test_township_staff_cannot_manage_another_townships_worker(client, db_session, w):
    before = _state(db_session)
    out = w["targets"]["gw_out"]
    h = w["h"]["center_staff"]
    assert (
        client.post(
            f"/api/v1/users/{out.id}/cells", json={"cell_code": w["cells"][4]}, headers=h
        ).status_code
        == 404
    )
    assert client.post(
        f"/api/v1/users/{w['targets']['gw_in'].id}/cells",
        json={"cell_code": w["other_cells"][1]},
        headers=h,
    ).status_code in (403, 404, 422)
    assert (
        client.patch(f"/api/v1/users/{out.id}", json={"is_active": False}, headers=h).status_code
        == 403
    )
    assert _state(db_session) == before


def test_reports_belong_to_their_village_head(app, client, db_session, w):
    from tests.test_authorization_matrix import _report

    w["db_session"] = db_session
    own = _report()(w, "village_admin", "in")[0]
    other = _report()(w, "village_admin", "out")[0]
    before = _state(db_session)
    for role in ("grid_worker", "mediator", "center_staff", "leader", "county_admin"):
        r = client.patch(own, json={"narrative": "篡改"}, headers=w["h"][role])
        assert r.status_code == 403, (role, r.get_json())
    for suffix, body in (("", {"narrative": "篡改"}), ("/submit", {})):
        method = "PATCH" if not suffix else "POST"
        r = client.open(other + suffix, method=method, json=body, headers=w["h"]["village_admin"])
        assert r.status_code == 404, r.get_json()
    assert _state(db_session) == before


def test_nobody_else_acknowledges_my_reminders(client, db_session, w):
    from datetime import UTC, datetime

    from mediation.reminders.models import Reminder

    now = datetime.now(UTC)
    r = Reminder(
        key="sec:ack",
        kind="acceptance",
        area_code=w["village"],
        recipient_id=w["users"]["mediator"].id,
        due_at=now,
        remind_at=now,
        state="due",
        title="受理提醒",
        body={},
        created_at=now,
        fired_at=now,
    )
    db_session.add(r)
    db_session.flush()
    before = _state(db_session)
    for role in ("grid_worker", "village_admin", "center_staff", "county_admin", "admin"):
        assert client.post(f"/api/v1/inbox/{r.id}/ack", headers=w["h"][role]).status_code == 404
    assert _state(db_session) == before


def test_offline_operations_cannot_reach_other_cases(client, db_session, w):
    import uuid

    out = w["cases"]["out"]
    before = _state(db_session)
    ops = [
        {
            "op_id": str(uuid.uuid4()),
            "kind": kind,
            "case_id": out["id"],
            "base_version": out["version"],
            "action": action,
            "payload": payload,
        }
        for kind, action, payload in (
            ("transition", "accept", {}),
            ("record_visit", None, {"method": "phone", "result": "performed"}),
            ("attach_photo", None, {"sha256": "0" * 64}),
        )
    ]
    r = client.post("/api/v1/sync/operations", json={"operations": ops}, headers=w["h"]["mediator"])
    assert r.status_code == 200
    assert [x["status"] for x in r.get_json()["results"]] == ["rejected"] * 3
    assert db_session.scalar(text("SELECT sum(version) FROM dispute")) == before[1]


def test_admin_sees_no_cases_and_workers_no_access_log(client, w):
    assert client.get("/api/v1/disputes", headers=w["h"]["admin"]).status_code == 403
    case = w["cases"]["in"]
    assert client.get(f"/api/v1/disputes/{case['id']}", headers=w["h"]["admin"]).status_code == 403
    for role in ("grid_worker", "mediator", "village_admin", "center_staff", "leader"):
        assert client.get("/api/v1/access-log", headers=w["h"][role]).status_code == 403


# ------------------------------------------------------------------ rate limits


@pytest.fixture
def limits(app):
    from api.extensions import limiter

    saved = {
        k: app.config[k] for k in ("LOGIN_RATE_LIMIT", "REVEAL_RATE_LIMIT", "PASSWORD_RATE_LIMIT")
    }
    limiter.reset()
    yield app.config
    app.config.update(saved)
    limiter.reset()


def test_failed_logins_are_throttled_per_address(client, w, limits):
    limits["LOGIN_RATE_LIMIT"] = "3 per minute"
    codes = [
        client.post(
            "/api/v1/auth/login", json={"username": f"nobody{i}", "password": "x"}
        ).status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    r = client.post("/api/v1/auth/login", json={"username": "t_gw", "password": PASSWORD})
    assert r.status_code == 429 and r.get_json()["code"] == "too_many_requests"
    assert "Retry-After" in r.headers


def test_reveals_are_limited_per_user(client, db_session, w, limits):
    limits["REVEAL_RATE_LIMIT"] = "2 per hour"
    case = w["cases"]["in"]
    path = f"/api/v1/disputes/{case['id']}/parties/{case['parties'][0]['id']}/reveal"
    body = {"field": "id_number", "purpose": "核实身份"}
    codes = [client.post(path, json=body, headers=w["h"]["mediator"]).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    logged = db_session.scalar(text("SELECT count(*) FROM access_log WHERE action = 'reveal'"))
    assert logged == 2
    # another user is counted on their own
    assert client.post(path, json=body, headers=w["h"]["village_admin"]).status_code == 200


def test_guessing_the_old_password_is_limited(client, w, limits):
    limits["PASSWORD_RATE_LIMIT"] = "2 per 15 minutes"
    h = w["h"]["grid_worker"]
    body = {"old_password": "Guess#123456", "new_password": "New#Passw0rd99"}
    codes = [
        client.post("/api/v1/auth/password", json=body, headers=h).status_code for _ in range(3)
    ]
    assert codes == [422, 422, 429]
    right = {"old_password": PASSWORD, "new_password": "New#Passw0rd99"}
    assert client.post("/api/v1/auth/password", json=right, headers=h).status_code == 429


# ------------------------------------------------------------------ headers and CORS

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def test_security_headers_on_every_kind_of_response(app, client, w):
    case = w["cases"]["in"]
    h = w["h"]["county_admin"]
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"x" * 32)
    att = client.post(
        f"/api/v1/disputes/{case['id']}/attachments",
        data={"kind": "photo", "file": (png, "a.png")},
        headers=h,
        content_type="multipart/form-data",
    ).get_json()
    responses = {
        "json": client.get(f"/api/v1/disputes/{case['id']}", headers=h),
        "error": client.get("/api/v1/disputes/nope", headers=h),
        "401": client.get("/api/v1/disputes"),
        "file": client.get(f"/api/v1/disputes/{case['id']}/attachments/{att['id']}", headers=h),
        "csv": client.get(
            f"/api/v1/console/lists/overdue?area={w['village']}&format=csv", headers=h
        ),
        "health": client.get("/api/v1/health"),
    }
    for name, r in responses.items():
        for key, value in BASE_HEADERS.items():
            assert r.headers.get(key) == value, (name, key, dict(r.headers))
        assert r.headers["Cache-Control"] == "no-store", name
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, name
        assert "Strict-Transport-Security" not in r.headers  # only when configured
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    csp = docs.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("Cache-Control", "")
    app.config["HSTS_SECONDS"] = 31536000
    try:
        r = client.get("/api/v1/health")
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    finally:
        app.config["HSTS_SECONDS"] = 0


def _preflight(c, origin):
    return c.options(
        "/api/v1/disputes",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cross_origin_access_by_default(client):
    for origin in ("https://console.example.cn", "https://evil.example", "null"):
        r = _preflight(client, origin)
        assert "Access-Control-Allow-Origin" not in r.headers
        r = client.get("/api/openapi.json", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_allow_list(db_session):
    from api import create_app

    app = create_app("testing", CORS_ORIGINS=["https://console.example.cn"])
    c = app.test_client()
    r = _preflight(c, "https://console.example.cn")
    assert r.headers["Access-Control-Allow-Origin"] == "https://console.example.cn"
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = c.get("/api/openapi.json", headers={"Origin": "https://console.example.cn"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://console.example.cn"
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    for origin in ("https://evil.example", "https://console.example.cn.evil.example", "null"):
        assert "Access-Control-Allow-Origin" not in _preflight(c, origin).headers


# ------------------------------------------------------------------ logs


def test_no_personal_data_in_logs(app, client, db_session, w, caplog):
    caplog.set_level(logging.DEBUG)
    h_gw, h_med = w["h"]["grid_worker"], w["h"]["mediator"]
    payload = dispute_payload(db_session, w["cells"][1], description="邻里纠纷")
    other_id = resident_id("33068119850607321")
    payload["parties"][0].update(id_number=other_id, phone="13700001234")
    r = client.post("/api/v1/disputes", json=payload, headers=h_gw)
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    party = case["parties"][0]["id"]
    for field in ("id_number", "phone"):
        r = client.post(
            f"/api/v1/disputes/{case['id']}/parties/{party}/reveal",
            json={"field": field, "purpose": "电话回访"},
            headers=h_med,
        )
        assert r.status_code == 200
    # bad input that carries the values back must not echo them either
    bad = dispute_payload(db_session, w["cells"][1])
    wrong = other_id[:-1] + ("0" if other_id[-1] != "0" else "1")
    bad["parties"][0].update(id_number=wrong, phone="1370000123")
    r = client.post("/api/v1/disputes", json=bad, headers=h_gw)
    assert r.status_code == 422
    assert wrong not in r.get_data(as_text=True)
    r = client.get(
        f"/api/v1/console/lists/high_risk?area={w['village']}&format=xlsx",
        headers=w["h"]["village_admin"],
    )
    assert r.status_code == 200
    from api.logging import redact

    logging.getLogger("mediation").info("party %s phone %s", other_id, "13700001234")
    logging.getLogger("werkzeug").info('"POST /reveal?id=%s HTTP/1.1" 200', other_id)
    text_ = caplog.text
    for raw in (other_id, "13700001234", ID_NUMBER, PHONE, wrong):
        assert raw not in text_, raw
    assert redact(f"+8613700001234 and {other_id}") == "[phone] and [id-number]"
    rows = db_session.execute(text("SELECT access_log::text FROM access_log")).scalars().all()
    assert rows and not any(other_id in r or "13700001234" in r for r in rows)
