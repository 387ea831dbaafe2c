"""The console's pages in process (test client, rolled-back transaction): login and lockout,
CSRF, headers, escaping, area scoping, the flow's actions, reveal, and the authorisation matrix
of every console route × role × inside/outside."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from tests.console_matrix import CONSOLE_RULES, ROLES, expected
from tests.factories import PASSWORD, make_user
from tests.test_authorization_matrix import ctx  # noqa: F401  (the fixture)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path="/console/login") -> str:
    r = client.get(path)
    found = CSRF.search(r.get_data(as_text=True))
    assert found, r.get_data(as_text=True)[:500]
    return found.group(1)


def console_login(client, username: str, password: str = PASSWORD):
    token = csrf_of(client)
    r = client.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return r, csrf_of(client, "/console/inbox") if r.status_code == 302 else token


def test_login_sets_a_strict_cookie_and_the_csp(app, client, db_session):
    make_user(app, db_session, "t_c_login", [{"role": "center_staff", "area_code": "330681109"}])
    r = client.get("/console/login")
    csp = r.headers["Content-Security-Policy"]
    script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert script_src.strip() == "script-src 'self'"
    assert "<script>" not in r.get_data(as_text=True)  # no inline script
    r, _ = console_login(client, "t_c_login")
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert app.permanent_session_lifetime.total_seconds() == 8 * 3600  # a working day
    assert client.get("/console/queue").status_code == 200


def test_login_without_csrf_token_is_refused(app, client, db_session):
    make_user(app, db_session, "t_c_csrf", [{"role": "center_staff", "area_code": "330681109"}])
    client.get("/console/login")
    r = client.post("/console/login", data={"username": "t_c_csrf", "password": PASSWORD})
    assert r.status_code == 400
    assert "CSRF" in r.get_data(as_text=True)
    assert client.get("/console/queue").status_code == 302  # not logged in


def test_a_logged_in_post_without_csrf_token_is_refused(app, client, db_session):
    make_user(app, db_session, "t_c_csrf2", [{"role": "center_staff", "area_code": "330681109"}])
    console_login(client, "t_c_csrf2")
    r = client.post("/console/logout", data={})
    assert r.status_code == 400
    assert "CSRF" in r.get_data(as_text=True)
    assert "退出登录" in r.get_data(as_text=True)  # the page keeps its menu
    assert client.get("/console/queue").status_code == 200  # still logged in


def test_same_lockout_as_the_api(app, client, db_session):
    make_user(app, db_session, "t_c_lock", [{"role": "center_staff", "area_code": "330681109"}])
    statuses = [
        console_login(client, "t_c_lock", "wrong-password")[0].status_code for _ in range(5)
    ]
    assert statuses == [401] * 5
    r, _ = console_login(client, "t_c_lock")  # right password, but locked now
    assert r.status_code == 423
    assert "锁定" in r.get_data(as_text=True)
    api = client.post("/api/v1/auth/login", json={"username": "t_c_lock", "password": PASSWORD})
    assert api.status_code == 423


def test_logout_ends_the_session_in_the_database(app, client, db_session):
    make_user(app, db_session, "t_c_out", [{"role": "center_staff", "area_code": "330681109"}])
    _, token = console_login(client, "t_c_out")
    cookie = client.get_cookie("console_session", path="/console").value
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    revoked = db_session.scalar(
        text(
            "SELECT count(*) FROM token_family f JOIN user_account u ON u.id = f.user_id "
            "WHERE u.username = 't_c_out' AND f.revoked_at IS NOT NULL"
        )
    )
    assert revoked == 1
    client.set_cookie("console_session", cookie, path="/console")  # a copy of the old cookie
    assert client.get("/console/queue").status_code == 302


def test_console_is_not_in_the_openapi_document(client):
    doc = client.get("/api/openapi.json").get_json()
    assert not [p for p in doc["paths"] if p.startswith("/console")]


def _case_for(app, db_session, ctx, description):  # noqa: F811 (the matrix fixture)
    from datetime import UTC, datetime

    from api.disputes import settings, store
    from api.schemas.disputes import DisputeIn
    from core.clock import business_date
    from mediation.disputes.registration import register_dispute
    from mediation.pii import vault_for
    from mediation.users.actor import load_actor
    from tests.factories import dispute_payload

    now = datetime.now(UTC)
    actor = load_actor(db_session, user=ctx["users"]["grid_worker"], today=business_date(now))
    with app.test_request_context():
        data = DisputeIn().load(
            dispute_payload(db_session, ctx["cells"][0], description=description)
        )
        case, _, _ = register_dispute(
            db_session,
            actor=actor,
            data=data,
            photos=[],
            now=now,
            settings=settings(),
            vault=vault_for(app.config["PII_KEY"]),
            store=store(),
        )
    return case


def test_user_text_is_escaped_and_out_of_area_is_404(app, client, db_session, ctx):  # noqa: F811 (the matrix fixture)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    case = _case_for(app, db_session, ctx, evil)
    console_login(client, ctx["users"]["center_staff"].username)
    body = client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in body
    assert "<script>alert(" not in body and "<img src=x" not in body
    r = client.get(f"/console/cases/{ctx['cases']['out'].id}")
    assert r.status_code == 404
    assert "未找到该案件" in r.get_data(as_text=True)


def test_actions_come_from_the_table_and_refusals_show_beside_the_field(
    app,
    client,
    db_session,
    ctx,  # noqa: F811
):
    case = _case_for(app, db_session, ctx, "邻里纠纷")
    _, token = console_login(client, ctx["users"]["mediator"].username)
    body = client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    shown = set(re.findall(r'data-action-button="([a-z_]+)"', body))
    # registered at grid level: the village mediator may accept, reject, escalate, refer …
    assert {"accept", "reject", "escalate", "refer", "withdraw", "assess_risk"} <= shown
    assert "start_mediation" not in shown and "archive" not in shown and "record_visit" not in shown
    r = client.post(
        f"/console/cases/{case.id}/actions/reject",
        data={"csrf_token": token, "expected_version": str(case.version)},
    )
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert re.search(r'data-field="ground">必填项不能为空', page), page[-3000:]
    r = client.post(
        f"/console/cases/{case.id}/actions/accept",
        data={"csrf_token": token, "expected_version": str(case.version)},
    )
    assert r.status_code == 302
    status = db_session.scalar(text("SELECT status FROM dispute WHERE id = :i"), {"i": case.id})
    assert status == "accepted"
    stale = client.post(
        f"/console/cases/{case.id}/actions/reject",
        data={"csrf_token": token, "expected_version": "1", "reason": "重复登记"},
    )
    assert stale.status_code == 409
    assert "案件已被他人修改" in stale.get_data(as_text=True)


def test_reveal_writes_the_access_log(app, client, db_session, ctx):  # noqa: F811 (the matrix fixture)
    case = ctx["cases"]["in"]
    _, token = console_login(client, ctx["users"]["center_staff"].username)
    body = client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    assert "13800138000" not in body and "138****8000" in body
    r = client.post(
        f"/console/cases/{case.id}/parties/{case.parties[0].id}/reveal",
        data={"csrf_token": token, "field": "phone", "purpose": "电话回访当事人"},
    )
    assert r.status_code == 200
    assert "13800138000" in r.get_data(as_text=True)
    logged = db_session.scalar(
        text(
            "SELECT purpose FROM access_log WHERE record_id = :p AND action = 'reveal' "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"p": str(case.parties[0].id)},
    )
    assert logged == "电话回访当事人"


@pytest.mark.parametrize("key", sorted(CONSOLE_RULES), ids=lambda k: f"{k[1]} {k[0]}")
def test_console_matrix(app, db_session, ctx, key):  # noqa: F811 (the matrix fixture)
    endpoint, method = key
    rule = CONSOLE_RULES[key]
    failures = []
    for role in [None, *ROLES]:
        for where in ("in", "out"):
            client = app.test_client()
            token = None
            if role is not None and rule.allowed != "public":
                r, token = console_login(client, ctx["users"][role].username)
                assert r.status_code == 302, r.get_data(as_text=True)[:300]
            elif method == "POST" and rule.allowed == "public":
                token = csrf_of(client)
            path, form = rule.build(ctx, role or "admin", where)
            if method == "GET":
                r = client.get(path)
            else:
                data = dict(form or {})
                if token:
                    data["csrf_token"] = token
                r = client.post(path, data=data)
            want = expected(rule, role, where, method)
            if r.status_code != want:
                failures.append(
                    (role, where, path, want, r.status_code, r.get_data(as_text=True)[:300])
                )
    assert not failures, "\n".join(map(str, failures))


def test_case_list_pages_by_keyset(app, client, db_session, ctx):  # noqa: F811
    for i in range(33):
        _case_for(app, db_session, ctx, f"分页测试{i:02d}")
    console_login(client, ctx["users"]["mediator"].username)
    first = client.get(f"/console/cases?area={ctx['village']}").get_data(as_text=True)
    ids1 = re.findall(r'<tr class="[^"]*" data-case-id="([^"]+)"', first)
    assert len(ids1) == 30
    nxt = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert f"area={ctx['village']}" in nxt  # the filters travel with the cursor
    second = client.get(nxt).get_data(as_text=True)
    ids2 = re.findall(r'<tr class="[^"]*" data-case-id="([^"]+)"', second)
    assert len(ids2) == 4  # 33 + the matrix fixture's case inside the village
    assert not set(ids1) & set(ids2)
    assert 'id="next-page"' not in second
    red = client.get(f"/console/cases?area={ctx['village']}&risk_level=red").get_data(as_text=True)
    assert "没有符合条件的案件" in red and "共 0 件" in red
    bad = client.get("/console/cases?registered_from=2026-13-01").get_data(as_text=True)
    assert "日期" in bad or "registered_from" in bad  # a bad filter is named, not a 500


def test_county_village_choropleth_is_small_and_gzip(app, client, db_session, ctx):  # noqa: F811
    import gzip
    import json

    console_login(client, ctx["users"]["county_admin"].username)
    r = client.get("/console/map/areas.json?area=330681", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    body = r.get_data()
    assert len(body) <= 500 * 1024
    layer = json.loads(gzip.decompress(body))
    assert len(layer["features"]) == 518
    assert {"code", "name", "open_cases", "red"} <= set(layer["features"][0]["properties"])
    bad_date = client.get("/console/dashboard?from=2026-13-01")
    assert bad_date.status_code == 422 and "日期格式" in bad_date.get_data(as_text=True)
    other = client.get(f"/console/map/areas.json?area={ctx['village'][:9]}")
    assert other.status_code == 200
    console_login(client, ctx["users"]["center_staff"].username)
    assert client.get("/console/map/areas.json?area=330681").status_code == 404


def test_screening_coverage_is_scoped_to_the_area(app, client, db_session, ctx):  # noqa: F811
    from mediation.screening import coverage

    village, cell, other_cell = ctx["village"], ctx["cells"][0], ctx["other_cells"][0]
    console_login(client, ctx["users"]["center_staff"].username)
    r = client.get("/console/screening")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "排查覆盖" in page and "本月排查任务" in page
    assert "<script>" not in page  # no inline script
    # the township view: one row per village of the township, the service's own figures
    township = village[:9]
    month = re.search(r'name="month" value="([0-9-]+)"', page).group(1)
    actor = _actor_of(db_session, ctx["users"]["center_staff"])
    want = coverage.monthly_coverage(db_session, actor=actor, area=township, month=month)
    rows = re.findall(r'<tr data-code="(\d+)"', page)
    assert rows == [i["code"] for i in want["items"]] and village in rows
    assert all(code.startswith(township) for code in rows)
    assert f'id="coverage-total">{want["totals"]["coverage"] * 100:.1f}%' in page
    assert ctx["campaigns"]["in"].title in page
    assert f'data-campaign-id="{ctx["campaigns"]["out"].id}"' not in page
    assert other_cell[:12] not in page and other_cell not in page
    # the village view: per cell, the fixture's zero-report round shows as 零报告
    body = client.get(f"/console/screening?area={village}&month={month}").get_data(as_text=True)
    cells = re.findall(r'<tr data-code="(\d{15})"', body)
    assert cell in cells and all(c.startswith(village) for c in cells)
    row = body[body.index(f'<tr data-code="{cell}"') :].split("</tr>")[0]
    assert 'data-state="zero"' in row and "零报告" in row
    assert "未排查" in body or len(cells) == 1
    # another township's village (or cell) is not found, as in the API
    for code in (other_cell[:12], other_cell):
        assert client.get(f"/console/screening?area={code}").status_code == 404
    assert client.get("/console/screening?month=2026-13").status_code == 422


def _actor_of(db_session, user):
    from datetime import UTC, datetime

    from core.clock import business_date
    from mediation.users.actor import load_actor

    return load_actor(db_session, user=user, today=business_date(datetime.now(UTC)))
