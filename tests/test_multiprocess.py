"""Login lockout and throttling hold across several server processes (real gunicorn, real Redis)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, make_user

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _start(port: int, extra_env: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        "APP_ENV": "development",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "1024",
        **extra_env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


@pytest.fixture
def committed_user(app):
    """A user committed for real (the servers run in other processes), deleted afterwards."""
    from core.db import db

    with app.app_context():
        make_user(app, db.session, "t_multi", [{"role": "grid_worker"}])
        db.session.commit()
        yield "t_multi"
        db.session.execute(text("DELETE FROM user_account WHERE username = 't_multi'"))
        db.session.commit()


@pytest.fixture
def two_servers(request):
    extra = getattr(request, "param", {})
    ports = [_free_port(), _free_port()]
    procs = [_start(p, extra) for p in ports]
    yield ports
    for p in procs:
        p.terminate()
        p.wait(10)


def test_lockout_counts_failures_across_processes(app, committed_user, two_servers):
    a, b = two_servers
    for i in range(app.config["LOGIN_MAX_FAILURES"]):
        status, body = _post(
            a if i % 2 == 0 else b,
            "/api/v1/auth/login",
            {"username": committed_user, "password": "Wrong#Passw0rd"},
        )
        assert status == 401, body
    for port in (a, b):
        status, body = _post(
            port, "/api/v1/auth/login", {"username": committed_user, "password": PASSWORD}
        )
        assert status == 423 and body["code"] == "account_locked"


# The test uses whatever Redis listens here, which it does not own: it writes only keys under its
# own unique prefix and deletes only those.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = f"mediation-test-{uuid.uuid4().hex}"


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _our_keys(client) -> list[bytes]:
    """The keys this test run wrote: flask-limiter's keys under our own prefix only."""
    return list(client.scan_iter(match=f"LIMITS:LIMITER/{REDIS_PREFIX}/*", count=1000))


@pytest.mark.skipif(
    not _redis_available(),
    reason=f"no Redis at {REDIS_URL} (TEST_REDIS_URL): shared rate-limit storage not tested",
)
@pytest.mark.parametrize(
    "two_servers",
    [
        {
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_KEY_PREFIX": REDIS_PREFIX,
            "LOGIN_RATE_LIMIT": "3 per minute",
            "LOGIN_MAX_FAILURES": "100",
        }
    ],
    indirect=True,
)
def test_throttling_shares_redis_between_processes(two_servers):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    neighbour = f"{REDIS_PREFIX}-neighbour"  # stands for a key somebody else wrote
    client.set(neighbour, "keep", ex=60)
    try:
        a, b = two_servers
        statuses = []
        for i in range(4):
            status, _ = _post(
                a if i % 2 == 0 else b,
                "/api/v1/auth/login",
                {"username": "nobody-here", "password": "Wrong#Passw0rd"},
            )
            statuses.append(status)
        assert statuses[:3] == [401, 401, 401]
        assert statuses[3] == 429  # the fourth failure, on the other process, is throttled
        ours = _our_keys(client)
        assert ours, "the servers did not write their counters under the configured prefix"
    finally:
        for key in _our_keys(client):
            client.delete(key)
    assert _our_keys(client) == []
    assert client.get(neighbour) == b"keep"  # a key outside our prefix was left alone
    client.delete(neighbour)
