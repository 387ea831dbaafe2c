"""Read replica routing (core/replica.py) without an HA deployment: the "replica" is a second URL
to the test database (read-only connections), its lag and death are simulated. The real replica
is exercised by scripts/ha/test_ha.py (make test-ha)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from core.replica import COOKIE, ReplicaRouter
from tests.factories import PASSWORD, make_user

USER = "t_replica_county"
ENDPOINTS = ("console.Dashboard", "console.SupervisionList", "console.MapAreas")
COUNTY = "330681"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_lag_within_bound_is_usable_beyond_is_skipped_and_cached():
    clock, lag = Clock(), {"v": 0.0}
    router = ReplicaRouter("postgresql+psycopg://x@/y", clock=clock, lag_probe=lambda: lag["v"])
    assert router.usable()
    lag["v"] = 30.0
    assert router.usable(), "the answer is cached for check_every_s"
    clock.t += 1.01
    assert not router.usable(), "30 s behind a 10 s bound: skipped"
    lag["v"] = 9.5
    clock.t += 1.01
    assert router.usable()


def test_a_replica_that_does_not_answer_is_skipped_not_an_error():
    clock = Clock()

    def gone():
        raise OSError("connection refused")

    router = ReplicaRouter("postgresql+psycopg://x@/y", clock=clock, lag_probe=gone)
    assert not router.usable()
    assert router.last_lag is None


def test_own_write_reads_the_primary_for_the_window():
    clock = Clock()
    router = ReplicaRouter("postgresql+psycopg://x@/y", clock=clock, sticky_s=15)
    assert not router.sticky("alice")
    router.wrote("alice")
    assert router.sticky("alice") and not router.sticky("bob")
    clock.t += 16
    assert not router.sticky("alice")
    assert router.sticky(None, cookie="9999999999"), "the cookie of a write still in its window"
    assert not router.sticky(None, cookie="1"), "an expired cookie"
    assert not router.sticky(None, cookie="garbage")


def test_the_lag_check_on_a_server_not_in_recovery_answers_zero(app):
    router = ReplicaRouter(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        assert router._probe() == 0.0
        assert router.usable()
        with router.engine.connect() as conn:
            assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
    finally:
        router.engine.dispose()


@pytest.fixture(scope="module")
def routed():
    """An app whose replica URL is the test database itself, and a committed county user."""
    from api import create_app
    from core.db import db

    url = os.environ["TEST_DATABASE_URL"]
    # Not RATELIMIT_ENABLED=False: the limiter is one object shared by every app (it would
    # switch throttling off for the rest of the suite).
    app = create_app("testing", DATABASE_REPLICA_URL=url)
    with app.app_context():
        make_user(app, db.session, USER, [{"role": "county_admin", "area_code": COUNTY}])
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.rollback()
            db.session.execute(text("DELETE FROM user_account WHERE username = :u"), {"u": USER})
            db.session.commit()
            db.session.remove()
        app.extensions["replica"].engine.dispose()


def _login(client):
    r = client.post(
        "/api/v1/auth/login", json={"username": USER, "password": PASSWORD, "device_name": "t"}
    )
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def _get(client, path, headers):
    """GET `path`; returns (response, True when the replica answered it)."""
    from prometheus_client import REGISTRY

    def count():
        return sum(
            REGISTRY.get_sample_value("mediation_replica_reads_total", {"endpoint": e}) or 0
            for e in ENDPOINTS
        )

    before = count()
    r = client.get(path, headers=headers)
    return r, count() > before


def _fresh(router):
    router._checked_at = float("-inf")
    router._writers.clear()


def test_console_reads_go_to_the_replica_writes_and_own_reads_stay(routed):
    router = routed.extensions["replica"]
    _fresh(router)
    client = routed.test_client()
    headers = _login(client)
    assert client.get_cookie(COOKIE) is not None, "a write answers with the stickiness cookie"
    r, replica = _get(client, "/api/v1/console/dashboard", headers)
    assert r.status_code == 200
    assert not replica, "right after my own write: the primary"

    client.delete_cookie(COOKIE)
    for path in (
        "/api/v1/console/dashboard",
        "/api/v1/console/lists/overdue",
        "/api/v1/console/lists/high_risk",
        f"/api/v1/console/map/areas?area={COUNTY}",
    ):
        r, replica = _get(client, path, headers)
        assert r.status_code == 200, (path, r.get_json())
        assert replica, path

    from prometheus_client import REGISTRY

    r = client.get("/api/v1/disputes/tasks", headers=headers)
    assert r.status_code in (200, 403)
    assert not REGISTRY.get_sample_value(
        "mediation_replica_reads_total", {"endpoint": "disputes.Tasks"}
    ), "the phone's reads never go to the replica"

    router.wrote(__import__("hashlib").sha256(headers["Authorization"].encode()).hexdigest()[:32])
    r, replica = _get(client, "/api/v1/console/dashboard", headers)
    assert r.status_code == 200 and not replica, "sticky by token"


def test_a_lagging_replica_is_skipped(routed):
    router = routed.extensions["replica"]
    _fresh(router)
    client = routed.test_client()
    headers = _login(client)
    client.delete_cookie(COOKIE)
    router._lag_probe = lambda: 42.0
    try:
        r, replica = _get(client, "/api/v1/console/dashboard", headers)
        assert r.status_code == 200 and not replica
        assert router.last_lag == 42.0
    finally:
        router._lag_probe = router._probe
        _fresh(router)


def test_a_replica_that_dies_during_the_request_is_answered_from_the_primary(routed):
    """The lag check said yes, then the replica's connections fail: 200 from the primary."""
    from sqlalchemy import create_engine

    router = routed.extensions["replica"]
    _fresh(router)
    client = routed.test_client()
    headers = _login(client)
    client.delete_cookie(COOKIE)
    real = router._engine
    router._engine = create_engine(
        "postgresql+psycopg://mediation@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    router._lag_probe = lambda: 0.0
    try:
        r, replica = _get(client, "/api/v1/console/dashboard", headers)
        assert r.status_code == 200, r.get_json()
        assert not replica and not router._usable, "skipped until its next check"
        r, replica = _get(client, "/api/v1/console/dashboard", headers)
        assert r.status_code == 200 and not replica
    finally:
        router._engine.dispose()
        router._engine = real
        router._lag_probe = router._probe
        _fresh(router)


def test_without_a_replica_url_nothing_is_routed(app, county_client):
    assert "replica" not in app.extensions
    r, replica = _get(county_client, "/api/v1/console/dashboard", {})
    assert r.status_code == 200 and not replica
