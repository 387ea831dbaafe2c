"""A grid worker's phone as the HA tests and the restore drill need it: log in, register with a
client id, retry what was not answered (503 + Retry-After, connection refused) with the same body,
as the app does offline. Standard library only (plus psycopg for the points)."""

from __future__ import annotations

import http.client as httpclient
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

DEMO_PASSWORD = "Fengqiao#2026"  # noqa: S105 - the demo accounts (mediation/demo.py)


def http(port: int, method: str, path: str, body=None, headers=None, timeout: float = 30):
    """(status, headers, parsed JSON or None); status 0 when the connection failed."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(
            method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        r = conn.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, dict(r.getheaders()), parsed
    except OSError:
        return 0, {}, None
    finally:
        conn.close()


def login(port: int, username: str, *, wait: float = 60) -> dict:
    """Authorization header of a demo user (retried while the database is unavailable)."""
    deadline = time.time() + wait
    while True:
        status, _h, body = http(
            port,
            "POST",
            "/api/v1/auth/login",
            {"username": username, "password": DEMO_PASSWORD, "device_name": "ha-test"},
        )
        if status == 200:
            return {"Authorization": f"Bearer {body['access_token']}"}
        if time.time() > deadline:
            raise RuntimeError(f"login {username}: {status} {body}")
        time.sleep(1)


def cell_points(dsn: str, username: str, n: int = 30) -> list[tuple[float, float]]:
    """WGS-84 points inside the user's current cells."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT setseed(0.3)")
        rows = conn.execute(
            """SELECT ST_X(p.geom), ST_Y(p.geom)
               FROM user_account u
               JOIN cell_assignment a ON a.user_id = u.id AND a.valid_to IS NULL
               JOIN grid_cell g ON g.code = a.cell_code AND g.valid_to IS NULL
               CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(g.geom, %s)) p
               WHERE u.username = %s""",
            (n, username),
        ).fetchall()
    return [(float(x), float(y)) for x, y in rows]


def resident_id(rng: random.Random) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    first17 = (
        f"330681{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        f"{rng.randint(0, 999):03d}"
    )
    return (
        first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    )


def registration(rng: random.Random, point: tuple[float, float], marker: str) -> dict:
    """A registration body with a fresh client id; `marker` in the description finds it again."""
    return {
        "client_id": str(uuid.uuid4()),
        "location": {"lon": point[0], "lat": point[1], "crs": "wgs84"},
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "category": rng.choice(["02", "03", "04", "06"]),
        "key_areas": ["涉农问题"],
        "source": "grid_patrol",
        "description": f"两户因排水沟堵塞发生争执（{marker}）",
        "people_involved": 3,
        "amount": f"{rng.randint(1, 90) * 100}.00",
        "parties": [
            {
                "role": "applicant",
                "kind": "person",
                "name": "张某",
                "id_type": "resident_id",
                "id_number": resident_id(rng),
                "phone": f"138{rng.randint(0, 99999999):08d}",
            },
            {"role": "respondent", "kind": "person", "name": "李某"},
        ],
    }


def register_until_answered(port: int, headers: dict, body: dict, *, give_up: float, log=None):
    """POST until 201/200 (the case is registered) or `give_up` (a time.time()); every answer
    is passed to `log(status)`. Returns the final status."""
    while True:
        status, h, _ = http(port, "POST", "/api/v1/disputes", body, headers, timeout=20)
        if log:
            log(status)
        if status in (200, 201) or time.time() > give_up:
            return status
        if status not in (0, 503):
            return status  # a refusal is an answer: the phone shows it, it does not retry
        time.sleep(min(float(h.get("Retry-After", 1)), 5.0))  # as the phone does
