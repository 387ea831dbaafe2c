"""Fault injection with real parts: the database restarted under load, the scheduler killed in the
middle of a sweep, the webhook receiver down for an hour (and for days), the attachment disk
full, slow clients.

The database fault runs the real service (gunicorn configured by deploy/gunicorn.conf.py) against a
throwaway PostgreSQL cluster this module creates (initdb in a temporary folder, unix socket only,
one township of the real county), so it can be stopped and started without disturbing the rest
of the suite. The other faults use the suite's test database.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import text

from core.clock import BUSINESS_TZ
from tests.factories import resident_id

pytestmark = pytest.mark.fault

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("DEMO_DATA_DIR", os.path.join(ROOT, "data", "zhuji"))
PGBIN = f"/usr/lib/postgresql/{os.environ.get('PG_MAJOR', '15')}/bin"
TOWNSHIP = "330681121"  # 岭北镇: the smallest township file of the county
FAULT_USER, FAULT_PASSWORD = "gw_fault", "Fault#Passw0rd1"
# gunicorn's timeout is 60 s: a request while the database is down must answer well within.
FAIL_FAST_S = 6.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; scripts/dev.sh does the same.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Cluster:
    """A PostgreSQL cluster of our own in a temporary folder, reachable on a unix socket only."""

    def __init__(self, base: str):
        self.base = base
        self.data = os.path.join(base, "data")
        self.run_dir = os.path.join(base, "run")
        self.log = os.path.join(base, "postgres.log")
        self.port = 55999  # names the socket file inside run_dir; no TCP port is opened

    def _pg(self, *args: str) -> None:
        # Not captured: the postmaster pg_ctl starts would hold a captured pipe open forever.
        with open(self.log + ".ctl", "a") as out:
            subprocess.run(_as_postgres([*args]), check=True, stdout=out, stderr=out, timeout=120)

    def init(self) -> None:
        os.makedirs(self.run_dir)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.run_dir, "postgres", "postgres")
        self._pg(
            f"{PGBIN}/initdb", "-D", self.data, "-U", "mediation", "--auth=trust", "-E", "UTF8"
        )
        with open(os.path.join(self.data, "postgresql.conf"), "a") as fh:
            fh.write(
                f"listen_addresses = ''\nunix_socket_directories = '{self.run_dir}'\n"
                f"port = {self.port}\nmax_connections = 60\nshared_buffers = 32MB\n"
                "timezone = 'UTC'\n"
                # Only the operating system's crash makes fsync matter; the faults here are
                # server restarts and crashes of PostgreSQL itself, which keep the page cache.
                "fsync = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        self._pg(f"{PGBIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg(f"{PGBIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._pg(
            f"{PGBIN}/pg_ctl", "-D", self.data, "-l", self.log, "-m", mode, "-w", "-t", "60",
            "restart",
        )  # fmt: skip

    def url(self, db: str = "mediation") -> str:
        return f"postgresql+psycopg://mediation@/{db}?host={self.run_dir}&port={self.port}"


def _flask(env: dict, *args: str, input_text: str | None = None) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=300,
    )
    assert r.returncode == 0, f"flask {' '.join(args)} failed:\n{r.stdout}\n{r.stderr[-3000:]}"
    return r.stdout


def _one_township_files(base: str) -> list[str]:
    """The county (cut from its city's file), one township, and that township's villages."""
    from geo.geojson import read_geojson
    from mediation.demo import county_feature_collection, demo_file

    county = county_feature_collection(DATA_DIR)["features"]
    townships = read_geojson(demo_file(DATA_DIR, "330681"))
    township = [f for f in townships["features"] if str(f["properties"]["adcode"]) == TOWNSHIP]
    paths = []
    for name, features in (("county", county), ("township", township)):
        path = os.path.join(base, f"{name}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"type": "FeatureCollection", "features": features}, fh, ensure_ascii=False)
        paths.append(path)
    return [*paths, demo_file(DATA_DIR, TOWNSHIP)]


@dataclass
class Deployment:
    """The throwaway cluster with one township, its cells and a grid worker."""

    cluster: Cluster
    env: dict
    engine: sqlalchemy.Engine
    cells: list[str]
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def deployment():
    base = tempfile.mkdtemp(prefix="mfault-", dir="/tmp")
    cluster = Cluster(base)
    cluster.init()
    cluster.start()
    try:
        subprocess.run(
            [f"{PGBIN}/createdb", "-h", cluster.run_dir, "-p", str(cluster.port), "-U",
             "mediation", "mediation"],
            check=True,
        )  # fmt: skip
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url(),
            "APP_ENV": "development",
            "FLASK_APP": "wsgi:app",
            "ATTACHMENT_DIR": os.path.join(base, "attachments"),
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "1024",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        _flask(env, "db", "upgrade")
        _flask(env, "geo", "import", *_one_township_files(base), "--crs", "gcj02", "--no-report")
        _flask(env, "geo", "generate-cells", "--scope", TOWNSHIP)
        _flask(
            env, "users", "create", FAULT_USER, "--name", "网格员", "--role", "grid_worker",
            "--password", FAULT_PASSWORD,
        )  # fmt: skip
        engine = sqlalchemy.create_engine(cluster.url(), poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            cells = list(
                conn.scalars(
                    text(
                        "SELECT code FROM grid_cell WHERE valid_to IS NULL AND village_code LIKE :t "
                        "ORDER BY code LIMIT 4"
                    ),
                    {"t": TOWNSHIP + "%"},
                )
            )
            points = {}
            for cell in cells:
                rows = conn.execute(
                    text(
                        "SELECT ST_X(p.geom), ST_Y(p.geom) FROM grid_cell c, "
                        "ST_Dump(ST_GeneratePoints(c.geom, 40, 7)) p "
                        "WHERE c.code = :c AND c.valid_to IS NULL"
                    ),
                    {"c": cell},
                ).all()
                points[cell] = [(x, y) for x, y in rows]
        for cell in cells:
            _flask(env, "users", "assign-cell", FAULT_USER, cell, "--from", "2026-01-01")
        yield Deployment(cluster, env, engine, cells, points)
        engine.dispose()
    finally:
        try:
            cluster.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        if not os.environ.get("FAULTS_KEEP"):
            shutil.rmtree(base, ignore_errors=True)


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return {int(p) for p in fh.read().split()}


class Gunicorn:
    """The real service, started with the production settings (deploy/gunicorn.conf.py)."""

    def __init__(self, env: dict, log_path: str, **extra_env: str):
        self.port = _free_port()
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env={**env, "HOST": "127.0.0.1", "PORT": str(self.port), "ACCESS_LOG": "", **extra_env},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url("/api/v1/health"), timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start; see " + log_path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def workers(self) -> set[int]:
        return _children(self.proc.pid)

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the service's log (tracebacks included), for a failing assertion."""
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def _request(url: str, *, method="GET", body: dict | None = None, token=None, timeout=30.0):
    """(status, headers, json body) — never raises for an HTTP status."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return e.code, dict(e.headers), parsed


# ---------------------------------------------------------------------- 1. database restarted


@dataclass
class Attempt:
    client_id: str
    start: float
    end: float
    status: int | None  # None: no HTTP answer (connection error, timeout)
    code: str | None = None
    retry_after: str | None = None
    error: str | None = None


class Phones:
    """Grid workers' phones registering cases; each retries a case with the same client_id until
    the server accepts it, as the app does on a poor connection."""

    def __init__(self, svc: Gunicorn, dep: Deployment, token: str, n: int):
        self.svc, self.dep, self.token = svc, dep, token
        self.attempts: list[Attempt] = []
        self.accepted: dict[str, dict] = {}  # client_id → what the phone was told
        self.sent_parties: dict[str, int] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.give_up = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.time() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.time()))
        self.give_up.set()
        if any(t.is_alive() for t in self.threads):
            with self.lock:
                stuck = [a for a in self.attempts if a.client_id not in self.accepted]
            raise AssertionError(f"phones never got their case accepted: {stuck[-10:]}")

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def wait_for(self, n: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while self.count() < n:
            with self.lock:
                odd = [a for a in self.attempts if a.status not in (200, 201, 503)]
            assert not odd, (odd[:5], self.svc.log_tail())
            assert time.time() < deadline, f"only {self.count()} of {n} registrations accepted"
            time.sleep(0.05)

    def _payload(self, rnd: random.Random, client_id: str) -> dict:
        from geo import crs

        cell = rnd.choice(self.dep.cells)
        x, y = rnd.choice(self.dep.points[cell])
        gx, gy = crs.wgs84_to_gcj02(x, y)
        parties = [
            {
                "role": "applicant",
                "kind": "person",
                "name": "张三",
                "id_type": "resident_id",
                "id_number": resident_id(f"33068119900101{rnd.randrange(1000):03d}"),
                "phone": f"138{rnd.randrange(10**8):08d}",
            },
            {"role": "respondent", "kind": "person", "name": "李四"},
        ]
        if rnd.random() < 0.3:
            parties.append({"role": "respondent", "kind": "person", "name": "王五"})
        return {
            "client_id": client_id,
            "location": {"lon": float(gx), "lat": float(gy), "crs": "gcj02"},
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "category": rnd.choice(["01", "02", "03"]),
            "key_areas": ["涉农问题"],
            "source": "grid_patrol",
            "description": "因宅基地边界发生争执，需调解",
            "people_involved": 3,
            "parties": parties,
            "risk": {"likelihood": 2, "severity": 2},  # its assessment row is checked below
        }

    def _run(self, i: int) -> None:
        rnd = random.Random(i)
        # Most phones register directly; every third one pushes its offline queue instead.
        offline = i % 3 == 2
        url = self.svc.url("/api/v1/sync/operations" if offline else "/api/v1/disputes")
        while not self.stop.is_set():
            client_id = str(uuid.uuid4())
            payload = self._payload(rnd, client_id)
            if offline:
                op = {"op_id": str(uuid.uuid4()), "kind": "register", "case_id": client_id}
                op["happened_at"] = datetime.now(UTC).isoformat()
                op["payload"] = {k: v for k, v in payload.items() if k != "client_id"}
                payload = {"operations": [op]}
            with self.lock:
                self.sent_parties[client_id] = len(
                    (op["payload"] if offline else payload)["parties"]
                )
            while True:  # the phone keeps the case until the server has it
                start = time.monotonic()
                try:
                    status, headers, body = _request(
                        url, method="POST", body=payload, token=self.token, timeout=30
                    )
                    if offline and status == 200:
                        status, body = self._op_answer(body["results"][0])
                    attempt = Attempt(
                        client_id,
                        start,
                        time.monotonic(),
                        status,
                        (body or {}).get("code") if status >= 400 else None,
                        headers.get("Retry-After"),
                        error=json.dumps(body, ensure_ascii=False)[:300] if status >= 400 else None,
                    )
                except OSError as exc:
                    status, body = None, None
                    attempt = Attempt(client_id, start, time.monotonic(), None, error=repr(exc))
                with self.lock:
                    self.attempts.append(attempt)
                    if status in (200, 201):
                        self.accepted[client_id] = {
                            "status": status,
                            "id": body["id"],
                            "case_number": body["case_number"],
                        }
                if status in (200, 201) or self.give_up.is_set():
                    break
                if status is not None and status != 503:
                    break  # refused for good: the test fails on it below
                time.sleep(0.1 + rnd.random() * 0.2)  # a real phone would honour Retry-After

    @staticmethod
    def _op_answer(result: dict) -> tuple[int, dict]:
        """An offline operation's answer as (status, body) in the terms of the plain endpoint."""
        if result["status"] in ("applied", "already_applied"):
            status = 201 if result["status"] == "applied" else 200
            return status, {"id": result["result"]["case_id"], **result["result"]}
        return 599, {"code": f"op_{result['status']}", **(result.get("error") or {})}


def _window(attempts: list[Attempt], start: float, end: float) -> list[Attempt]:
    return [a for a in attempts if a.start >= start and a.end <= end]


def test_database_restarted_under_load_fails_fast_recovers_and_loses_nothing(
    deployment, suite, tmp_path
):
    dep = deployment
    svc = Gunicorn(dep.env, str(tmp_path / "gunicorn.log"))
    try:
        status, _, body = _request(
            svc.url("/api/v1/auth/login"),
            method="POST",
            body={"username": FAULT_USER, "password": FAULT_PASSWORD, "device_name": "phone"},
        )
        assert status == 200, body
        workers = svc.workers()
        phones = Phones(svc, dep, body["access_token"], n=6)
        phones.start()
        try:
            phones.wait_for(20, 60)
            # Fault 1: restart (fast shutdown: sessions are terminated mid-transaction).
            dep.cluster.restart("fast")
            phones.wait_for(phones.count() + 20, 60)
            # Fault 2: stopped for a few seconds, then started.
            dep.cluster.stop("fast")
            down_from = time.monotonic()
            time.sleep(4)
            down_to = time.monotonic()
            dep.cluster.start()
            phones.wait_for(phones.count() + 20, 60)
            # Fault 3: PostgreSQL crashes (immediate stop: crash recovery from the WAL on start).
            dep.cluster.stop("immediate")
            crash_from = time.monotonic()
            time.sleep(2)
            crash_to = time.monotonic()
            dep.cluster.start()
            phones.wait_for(phones.count() + 20, 60)
        finally:
            phones.join(60)
        after = svc.workers()
        assert svc.proc.poll() is None
    finally:
        svc.stop()

    attempts = phones.attempts
    suite.tried(len(attempts))
    while_down = _window(attempts, down_from, down_to) + _window(attempts, crash_from, crash_to)
    latencies = sorted(a.end - a.start for a in while_down)
    statuses: dict = {}
    for a in attempts:
        statuses[a.status] = statuses.get(a.status, 0) + 1
    retried = {a.client_id for a in attempts if a.status not in (200, 201)}
    print(
        f"\n{len(attempts)} requests, {len(phones.accepted)} cases accepted, statuses {statuses}; "
        f"{len(retried)} cases retried; while down: {len(while_down)} requests, latency "
        f"max {latencies[-1]:.3f} s, median {latencies[len(latencies) // 2]:.3f} s"
        if latencies
        else "no requests while down"
    )

    # While the database is down: fail fast, 503 in our error shape, with Retry-After.
    assert len(while_down) >= 10, "too few requests landed while the database was down"
    for a in while_down:
        assert a.status == 503 and a.code == "service_unavailable" and a.retry_after, a
        assert a.end - a.start < FAIL_FAST_S, a
    # At no time anything but accepted, a retry answered as such, or 503.
    assert set(statuses) <= {200, 201, 503}, [
        a for a in attempts if a.status not in (200, 201, 503)
    ]
    assert retried, "no registration was cut by the faults"
    # The same processes serve again: nothing was restarted.
    assert after == workers

    with dep.engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT d.id::text, d.case_number, d.version, d.village_code,
                          (SELECT count(*) FROM party p WHERE p.dispute_id = d.id) parties,
                          (SELECT count(*) FROM dispute_event e WHERE e.dispute_id = d.id
                             AND e.action = 'register' AND e.seq = 1) registered,
                          (SELECT count(*) FROM dispute_event e WHERE e.dispute_id = d.id) events,
                          (SELECT count(*) FROM risk_assessment r WHERE r.dispute_id = d.id) risks,
                          (SELECT count(*) FROM reminder r WHERE r.dispute_id = d.id) reminders,
                          (SELECT count(*) FROM sync_change s WHERE s.entity = 'case'
                             AND s.entity_id = d.id::text) changes
                   FROM dispute d"""
            )
        ).all()
        counters = dict(
            conn.execute(
                text("SELECT village_code || ':' || year, last_seq FROM case_counter")
            ).all()
        )
    by_id = {r.id: r for r in rows}
    # Every case a phone saw accepted is there once, under the number the phone was told.
    assert len(rows) == len(by_id) == len(phones.accepted)
    for client_id, told in phones.accepted.items():
        row = by_id[client_id]
        assert told["id"] == client_id and row.case_number == told["case_number"]
        # Nothing half-written: every table the registration writes in its transaction.
        assert row.parties == phones.sent_parties[client_id], row
        assert row.version == 1 and row.registered == 1 and row.events == 1, row
        assert row.risks == 1 and row.reminders >= 1 and row.changes >= 1, row
    # Case numbers: gap-free per village and year, and the counter agrees.
    numbers: dict[str, list[int]] = {}
    for r in rows:
        year, village, seq = r.case_number.split("-")
        assert village == r.village_code
        numbers.setdefault(f"{village}:{year}", []).append(int(seq))
    for key, seqs in numbers.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), key
        assert counters[key] == len(seqs), key
    suite.survived(3)


def test_connection_lost_at_the_locate_step_answers_503_and_keeps_nothing(
    app, committed, monkeypatch, suite
):
    """The database connection dies in the middle of a registration, right where the case is
    located (a statement the locate module runs on the driver connection itself, outside
    SQLAlchemy's error handling): the phone gets 503 with Retry-After, nothing is half-written,
    the dead connection is not handed out again, and the retry is accepted."""
    import geo.locate
    from core.db import db
    from tests.factories import bearer, dispute_payload, login

    client = app.test_client()
    token = login(client, "c_gw")["access_token"]
    with app.app_context():
        payload = dispute_payload(db.session, committed["cells"][0], client_id=str(uuid.uuid4()))
    real_fetch = geo.locate._fetch
    killed: list[int] = []

    def fetch_after_the_backend_dies(db_session, sql, params):
        pid = db_session.connection().connection.driver_connection.info.backend_pid
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            assert _wait_until(
                lambda: (
                    not other.scalar(
                        text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
                    )
                ),
                15,
            )
        killed.append(pid)
        return real_fetch(db_session, sql, params)

    def post():
        # In a thread of its own, as under gunicorn: the request has its own app context and
        # session (the fixture's app context would otherwise carry the session across requests).
        out = []
        t = threading.Thread(
            target=lambda: out.append(
                app.test_client().post("/api/v1/disputes", json=payload, headers=bearer(token))
            )
        )
        t.start()
        t.join(30)
        return out[0]

    monkeypatch.setattr(geo.locate, "_fetch", fetch_after_the_backend_dies)
    r = post()
    assert killed and r.status_code == 503, r.get_json()
    assert r.get_json()["code"] == "service_unavailable" and r.headers["Retry-After"]
    with app.app_context():
        assert not db.session.scalar(
            text("SELECT count(*) FROM dispute WHERE id = :i"), {"i": payload["client_id"]}
        )
    monkeypatch.setattr(geo.locate, "_fetch", real_fetch)
    # The phone retries: the pool hands out a live connection, the case is accepted once.
    for _ in range(3):
        r = post()
        assert r.status_code in (200, 201), r.get_json()
    with app.app_context():
        assert (
            db.session.scalar(
                text("SELECT count(*) FROM dispute WHERE id = :i"), {"i": payload["client_id"]}
            )
            == 1
        )
    suite.survived()


# ---------------------------------------------------------------------- 4. attachment disk full


class SmallDisk:
    """A real, tiny filesystem (tmpfs) mounted as the attachment store, which we can fill."""

    def __init__(self, path: str):
        self.path = path
        self.filler = os.path.join(path, "filler")

    def fill(self) -> None:
        """Write until the filesystem refuses even one more byte (ENOSPC)."""
        with open(self.filler, "ab", buffering=0) as fh:
            for size in (65536, 4096, 1):
                try:
                    while True:
                        fh.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == 28, exc  # ENOSPC
        with pytest.raises(OSError):
            with open(os.path.join(self.path, "probe"), "wb") as fh:
                fh.write(b"x")
                fh.flush()
                os.fsync(fh.fileno())
        os.unlink(os.path.join(self.path, "probe"))

    def make_room(self, nbytes: int) -> None:
        """Free just enough pages for a file of `nbytes`."""
        pages = -(-nbytes // 4096)
        os.truncate(self.filler, os.path.getsize(self.filler) - pages * 4096)

    def free(self) -> None:
        os.unlink(self.filler)

    def files(self) -> list[str]:
        """Every regular file in the store except the filler."""
        found = []
        for folder, _, names in os.walk(self.path):
            found += [os.path.join(folder, n) for n in names if n != "filler"]
        return found


@pytest.fixture
def small_disk(app, monkeypatch, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    mnt = tmp_path / "attachments"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "fault-attachments", str(mnt)],
        check=True,
    )
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(mnt))
    try:
        yield SmallDisk(str(mnt))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _photo(label: str) -> bytes:
    # The store checks the type on the magic number; the rest only needs to be unique and sizeable.
    return b"\x89PNG\r\n\x1a\n" + os.urandom(16) + label.encode() * 2000


def test_attachment_disk_full_refuses_cleanly_keeps_the_case_and_recovers(
    app, client, db_session, small_disk, suite
):
    import base64
    import hashlib
    import io

    from tests.factories import Api, dispute_payload, role_users

    ctx = role_users(app, db_session)
    gw, med = Api(client, "t_gw"), Api(client, "t_med")
    r = gw.register(dispute_payload(db_session, ctx["cells"][0]))
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    photo, synced, inline = _photo("现场"), _photo("离线"), _photo("登记")
    synced_sha = hashlib.sha256(synced).hexdigest()
    with_photo = dispute_payload(
        db_session,
        ctx["cells"][0],
        client_id=str(uuid.uuid4()),
        photos=[{"filename": "现场.png", "content_base64": base64.b64encode(inline).decode()}],
    )
    register_op = {
        "op_id": str(uuid.uuid4()),
        "kind": "register",
        "case_id": str(uuid.uuid4()),
        "happened_at": datetime.now(UTC).isoformat(),
        "payload": {k: v for k, v in with_photo.items() if k != "client_id"},
    }
    counter = "SELECT last_seq FROM case_counter WHERE village_code = :v"
    seq_before = db_session.scalar(text(counter), {"v": case["village_code"]})

    def upload():
        return client.post(
            f"/api/v1/disputes/{case['id']}/attachments",
            data={"kind": "photo", "file": (io.BytesIO(photo), "现场.png")},
            headers=gw.h(),
            content_type="multipart/form-data",
        )

    def put_synced():
        return client.put(
            f"/api/v1/sync/photos/{synced_sha}",
            data={"file": (io.BytesIO(synced), "离线.png")},
            headers=gw.h(),
            content_type="multipart/form-data",
        )

    def push():
        r = client.post(
            "/api/v1/sync/operations", json={"operations": [register_op]}, headers=gw.h()
        )
        assert r.status_code == 200, r.get_json()
        return r.get_json()["results"][0]

    small_disk.fill()
    refusals = [upload(), put_synced(), gw.register(with_photo)]
    for r in refusals:
        body = r.get_json()
        assert r.status_code == 507, body
        assert body["code"] == "storage_full" and "存储空间已满" in body["message"], body
        assert int(r.headers["Retry-After"]) > 0
    assert "登记未完成" in refusals[2].get_json()["message"]  # the case itself was not registered
    op = push()
    assert op["status"] == "rejected" and op["error"]["code"] == "storage_full", op
    assert op["error"]["retryable"]  # not remembered: the same op is applied once there is room
    # Nothing half-stored: no file (not even a temporary one), no row without its file, no case
    # and no case number taken by the refused registrations.
    assert small_disk.files() == []
    rows = db_session.execute(text("SELECT dispute_id, sha256 FROM attachment")).all()
    assert [r for r in rows if str(r.dispute_id) == case["id"]] == []
    gone = db_session.scalar(
        text("SELECT count(*) FROM dispute WHERE id IN (:a, :b)"),
        {"a": with_photo["client_id"], "b": register_op["case_id"]},
    )
    assert gone == 0
    assert db_session.scalar(text(counter), {"v": case["village_code"]}) == seq_before
    # Room for one photo of a registration but not for its second: the first, already written,
    # is removed again.
    two_photos = dispute_payload(
        db_session,
        ctx["cells"][0],
        client_id=str(uuid.uuid4()),
        photos=[
            {"filename": f"{i}.png", "content_base64": base64.b64encode(p).decode()}
            for i, p in enumerate((_photo("第一张"), _photo("第二张")))
        ],
    )
    small_disk.make_room(len(base64.b64decode(two_photos["photos"][0]["content_base64"])))
    r = gw.register(two_photos)
    assert r.status_code == 507 and r.get_json()["code"] == "storage_full", r.get_json()
    assert small_disk.files() == []
    # The case is intact and still usable while the disk is full.
    detail = gw.get(case["id"]).get_json()
    assert detail["version"] == case["version"] and detail["attachments"] == []
    accepted = med.act(case["id"], "accept")
    assert accepted.status_code == 200, accepted.get_json()

    small_disk.free()
    r = upload()
    assert r.status_code == 201, r.get_json()
    r = put_synced()
    assert r.status_code == 201 and r.get_json()["stored"] == "new", r.get_json()
    r = gw.register(with_photo)
    assert r.status_code == 201, r.get_json()
    op = push()
    assert op["status"] == "applied", op
    stored = {os.path.basename(p) for p in small_disk.files()}
    for r in db_session.execute(text("SELECT sha256 FROM attachment")).all():
        if r.sha256 in {hashlib.sha256(b).hexdigest() for b in (photo, inline)}:
            assert r.sha256 in stored  # every row points at a file that is there
    assert synced_sha in stored and not any(n.startswith(".upload-") for n in stored)
    suite.tried(len(refusals) + 2)


# ---------------------------------------------------------------------- 3. webhook receiver down


class FlakyReceiver:
    """A real webhook receiver on loopback that can be down (nothing listening: connection
    refused), answer 503, or accept; it checks every signature and logs every request."""

    def __init__(self, secret: str):
        self.secret, self.mode = secret, "up"
        self.delivered: list[tuple[str, dict]] = []  # accepted: (Idempotency-Key, payload)
        self.refused: list[tuple[str, int]] = []  # answered 503: (Idempotency-Key, reminder id)
        self.bad_sig = 0
        self.port = _free_port()
        self.server = None

    def _handler(self):
        import hashlib
        import hmac
        from http.server import BaseHTTPRequestHandler

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Mediation-Timestamp"]
                want = hmac.new(outer.secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
                if self.headers["X-Mediation-Signature"] != f"sha256={want.hexdigest()}":
                    outer.bad_sig += 1
                key, payload = self.headers["Idempotency-Key"], json.loads(body)
                if outer.mode == "503":
                    outer.refused.append((key, payload["reminder_id"]))
                    self.send_response(503)
                else:
                    outer.delivered.append((key, payload))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def set(self, mode: str) -> None:
        """up / 503: listening; down: the port is closed (connection refused)."""
        from http.server import HTTPServer

        self.mode = mode
        if mode == "down" and self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        elif mode != "down" and self.server is None:
            self.server = HTTPServer(("127.0.0.1", self.port), self._handler())
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def test_webhook_receiver_down_for_an_hour_then_every_message_once(db_session, suite):
    from mediation.reminders import service
    from mediation.reminders.models import OutboxMessage, Reminder

    tz = BUSINESS_TZ
    t0 = datetime(2026, 12, 4, 8, 0, tzinfo=tz)
    m = 40
    db_session.execute(
        text(
            """INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at,
                                     remind_at, state, title, body, created_at)
               SELECT 'fault-hook:' || g, 'acceptance', '330681109', 'center_staff', '330681109',
                      :due, :remind, 'pending', '测试提醒', '{}'::jsonb, :remind
               FROM generate_series(1, :n) g"""
        ),
        {"n": m, "due": t0 + timedelta(days=1), "remind": t0 - timedelta(minutes=1)},
    )
    assert service.sweep(db_session, now=t0, webhook=True) == m
    receiver = FlakyReceiver("hook-secret")
    real_send = service.webhook_sender(receiver.url, "hook-secret")
    tries: dict[str, list[datetime]] = {}  # Idempotency-Key → when the job tried it

    def send(payload, key):
        tries.setdefault(key, []).append(now)
        real_send(payload, key)

    def outbox():
        return db_session.scalars(
            select_outbox.where(OutboxMessage.reminder_id.in_(ids)).order_by(OutboxMessage.id)
        ).all()

    from sqlalchemy import select

    select_outbox = select(OutboxMessage).execution_options(populate_existing=True)
    ids = list(db_session.scalars(select(Reminder.id).where(Reminder.key.like("fault-hook:%"))))
    tick = timedelta(seconds=10)  # the scheduler's deliver job runs every 10 s by default
    try:
        # An hour of outage: the first half refused connections, the second half 503s.
        receiver.set("down")
        now = t0
        while now < t0 + timedelta(hours=1):
            if now >= t0 + timedelta(minutes=30) and receiver.mode == "down":
                receiver.set("503")
            service.deliver(db_session, now=now, send=send)
            now += tick
        during = outbox()
        assert {msg.state for msg in during} == {"pending"}  # nothing sent, dropped or given up
        assert all(msg.attempts >= 5 and msg.next_attempt_at <= now + tick * 360 for msg in during)
        assert receiver.delivered == [] and receiver.refused
        # Each retry waited its backoff (30 s × 2ⁿ, at most an hour), never less.
        for key, times in tries.items():
            for n, (a, b) in enumerate(itertools.pairwise(times), start=1):
                assert service.backoff(n) <= b - a <= service.backoff(n) + 3 * tick, (key, n)
        # The receiver comes back: everything is delivered within the longest backoff.
        receiver.set("up")
        back = now
        while now < back + timedelta(hours=2):
            service.deliver(db_session, now=now, send=send)
            now += tick
            if len(receiver.delivered) == m and now > back + timedelta(hours=1, minutes=5):
                break
    finally:
        receiver.set("down")

    after = outbox()
    keys = [k for k, _ in receiver.delivered]
    suite.tried(sum(len(t) for t in tries.values()))
    print(
        f"\n{m} messages; {sum(len(t) for t in tries.values())} tries during and after a 1 h "
        f"outage ({len(receiver.refused)} answered 503); all delivered by "
        f"+{max(msg.sent_at for msg in after) - back} after the receiver came back"
    )
    assert len(keys) == len(set(keys)) == m  # every message once
    assert receiver.bad_sig == 0
    assert {msg.state for msg in after} == {"sent"}
    assert max(msg.sent_at for msg in after) - back <= service.BACKOFF_MAX + tick
    by_key = {f"outbox-{msg.id}": msg.reminder_id for msg in after}
    # The Idempotency-Key is the message's, the same on every try (503s included).
    assert {k: p["reminder_id"] for k, p in receiver.delivered} == by_key
    assert all(by_key[k] == reminder_id for k, reminder_id in receiver.refused)
    states = db_session.scalars(select(Reminder.state).where(Reminder.id.in_(ids))).all()
    assert set(states) == {"sent"}


def test_webhook_receiver_down_for_days_keeps_open_reminders_and_skips_read_ones(db_session):
    from sqlalchemy import select

    from mediation.reminders import service
    from mediation.reminders.models import OutboxMessage, Reminder

    t0 = datetime(2026, 10, 1, 8, 0, tzinfo=BUSINESS_TZ)  # 国庆: a week of holiday
    db_session.execute(
        text(
            """INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at,
                                     remind_at, state, title, body, created_at)
               SELECT 'fault-days:' || g, 'acceptance', '330681109', 'center_staff', '330681109',
                      :due, :remind, 'pending', '测试提醒', '{}'::jsonb, :remind
               FROM generate_series(1, 3) g"""
        ),
        {"due": t0 + timedelta(days=9), "remind": t0 - timedelta(minutes=1)},
    )
    service.sweep(db_session, now=t0, webhook=True)
    receiver = FlakyReceiver("days-secret")
    send = service.webhook_sender(receiver.url, "days-secret")
    reminders = db_session.scalars(
        select(Reminder).where(Reminder.key.like("fault-days:%")).order_by(Reminder.id)
    ).all()
    try:
        receiver.set("down")
        now = t0
        while now < t0 + timedelta(days=8):  # the push gateway is down for eight days
            service.deliver(db_session, now=now, send=send)
            if now == t0 + timedelta(days=2):
                reminders[0].state = "acknowledged"  # read in the app meanwhile
                reminders[1].state = "cancelled"  # the case moved on
                db_session.flush()
            now += timedelta(minutes=30)
        msgs = db_session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.reminder_id.in_([r.id for r in reminders]))
            .order_by(OutboxMessage.reminder_id)
            .execution_options(populate_existing=True)
        ).all()
        assert [m.state for m in msgs] == ["skipped", "skipped", "pending"]
        assert msgs[2].attempts > 150  # hourly for eight days, not given up
        receiver.set("up")
        service.deliver(db_session, now=now + service.BACKOFF_MAX, send=send)
        assert [p["reminder_id"] for _, p in receiver.delivered] == [reminders[2].id]
    finally:
        receiver.set("down")
    # Two weeks without a receiver: given up, with the reason kept.
    stale = msgs[2]
    stale.state, stale.next_attempt_at = "pending", t0
    db_session.flush()
    service.deliver(db_session, now=t0 + service.GIVE_UP_AFTER, send=send)
    db_session.refresh(stale)
    assert stale.state == "dead" and "Connection refused" in stale.last_error


# ---------------------------------------------------------------------- 2. scheduler killed


SWEEP_N = 3000  # six batches of 500


def _scheduler(extra: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        "APP_ENV": "development",
        "FLASK_APP": "wsgi:app",
        "SCHEDULER_SWEEP_SECONDS": "1",
        # It commits for real: no catch-up of calendar jobs (their drafts and digests would stay
        # in the test database and count in this test's sweep; catch_up is tested elsewhere).
        "SCHEDULER_CATCH_UP": "0",
        # Names its connections, so the test can see when a sweep batch is open.
        "DB_OPTIONS": "-c jit=off -c application_name=fault-scheduler",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "scheduler", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def due_sweep(app):
    from core.db import db

    with app.app_context():
        engine = db.engine
    delete = text("DELETE FROM reminder WHERE key LIKE 'fault-sweep:%'")  # outbox cascades
    with engine.begin() as conn:
        conn.execute(delete)
        conn.execute(
            text(
                """INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area,
                                         due_at, remind_at, state, title, body, created_at)
                   SELECT 'fault-sweep:' || g, 'acceptance', '330681109', 'center_staff',
                          '330681109', now() + interval '1 day', now() - interval '1 minute',
                          'pending', '测试提醒', '{}'::jsonb, now()
                   FROM generate_series(1, :n) g"""
            ),
            {"n": SWEEP_N},
        )
    yield engine
    with engine.begin() as conn:
        conn.execute(delete)


def test_scheduler_killed_mid_sweep_fires_every_reminder_exactly_once(due_sweep, suite):
    engine = due_sweep
    fired_q = text(
        "SELECT count(*) FROM reminder WHERE key LIKE 'fault-sweep:%' AND fired_at IS NOT NULL"
    )
    # A sweep batch in progress: the scheduler's connection holds a transaction that has written.
    batch_q = text(
        """SELECT count(*) FROM pg_stat_activity
           WHERE application_name = 'fault-scheduler' AND backend_xid IS NOT NULL
             AND (query ILIKE '%fired_at%' OR query ILIKE 'INSERT INTO outbox%')"""
    )
    receiver = FlakyReceiver("sweep-secret")
    receiver.set("up")
    env = {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": "sweep-secret"}
    first = _scheduler(env)
    try:
        deadline, at_kill, open_batch = time.time() + 90, None, 0
        with engine.connect() as conn:
            while time.time() < deadline:
                fired = conn.scalar(fired_q)
                open_batch = conn.scalar(batch_q)
                conn.commit()
                if 1000 <= fired < SWEEP_N - 500 and open_batch:
                    first.send_signal(signal.SIGKILL)
                    at_kill = fired
                    break
                time.sleep(0.005)
        first.wait(10)
        assert at_kill is not None, "never caught the sweep in the middle of a batch"
        # The killed batch was rolled back with its connection: nothing stays claimed.
        with engine.connect() as conn:
            assert _wait_until(lambda: _scheduler_connections(conn) == 0, 10)
            assert conn.scalar(fired_q) == at_kill  # the open batch left nothing behind
            free = conn.scalar(
                text(
                    """SELECT count(*) FROM (SELECT id FROM reminder WHERE key LIKE 'fault-sweep:%'
                       FOR UPDATE SKIP LOCKED) s"""
                )
            )
            conn.rollback()
            assert free == SWEEP_N  # no row is still locked by the dead process
        second = _scheduler(env)
        try:
            assert _wait_until(lambda: len({k for k, _ in receiver.delivered}) >= SWEEP_N, 150)
            time.sleep(1.5)  # a duplicate still in flight would show up now
        finally:
            second.terminate()
            second.wait(10)
    finally:
        receiver.set("down")
        if first.poll() is None:
            first.kill()

    keys = [k for k, _ in receiver.delivered]
    print(
        f"\n{SWEEP_N} due reminders; scheduler SIGKILLed with {at_kill} fired and a batch open; "
        f"restarted: {len(set(keys))} delivered, {len(keys) - len(set(keys))} duplicate POSTs"
    )
    suite.tried(SWEEP_N)
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                text(
                    "SELECT state, count(*) FROM reminder WHERE key LIKE 'fault-sweep:%' "
                    "AND fired_at IS NOT NULL GROUP BY state"
                )
            ).all()
        )
        outbox = conn.execute(
            text(
                """SELECT count(*) total, count(DISTINCT o.reminder_id) reminders,
                          count(*) FILTER (WHERE o.state = 'sent') sent
                   FROM outbox o JOIN reminder r ON r.id = o.reminder_id
                   WHERE r.key LIKE 'fault-sweep:%'"""
            )
        ).one()
    # Every reminder fired once (in the inbox: state due → sent) and has exactly one message.
    assert states == {"sent": SWEEP_N}
    assert outbox.total == outbox.reminders == outbox.sent == SWEEP_N
    assert len({p["reminder_id"] for _, p in receiver.delivered}) == SWEEP_N
    assert len(keys) - len(set(keys)) <= 1  # at most the message in flight, same key
    assert receiver.bad_sig == 0


def _scheduler_connections(conn) -> int:
    n = conn.scalar(
        text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fault-scheduler'")
    )
    conn.rollback()
    return n


def _wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


# ---------------------------------------------------------------------- 5. slow clients


class SlowClient(threading.Thread):
    """Opens a connection, sends `start`, then one byte of `trickle` every half second until the
    server cuts it off (or `give_up` seconds pass)."""

    def __init__(self, port: int, start: bytes, trickle: bytes, give_up: float = 45):
        super().__init__(daemon=True)
        self.port, self.start_bytes, self.trickle, self.give_up = port, start, trickle, give_up
        self.cut_after: float | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        import select

        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        began = time.monotonic()
        try:
            sock.sendall(self.start_bytes)
            self.connected.set()
            i = 0
            while time.monotonic() - began < self.give_up:
                readable, _, _ = select.select([sock], [], [], 0.5)
                if readable and not sock.recv(65536):
                    break  # the server closed the connection
                sock.sendall(self.trickle[i % len(self.trickle) : i % len(self.trickle) + 1])
                i += 1
            else:
                return
        except OSError:
            pass  # reset by the server
        finally:
            sock.close()
        self.cut_after = time.monotonic() - began


def test_slow_clients_do_not_stop_others_and_are_cut_off(app, suite, tmp_path):
    from deploy import server

    env = {
        **os.environ,
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        "APP_ENV": "development",
        "LOGIN_RATE_LIMIT": "1000 per minute",  # the probes below log in and fail, many times
    }
    svc = Gunicorn(env, str(tmp_path / "gunicorn.log"))
    workers, threads = 2, 8  # deploy/gunicorn.conf.py's defaults
    try:
        # More trickling heads than the service has threads, and a few trickling bodies.
        heads = [
            SlowClient(svc.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n")
            for _ in range(workers * threads + 4)
        ]
        body_start = (
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        bodies = [SlowClient(svc.port, body_start, b'"a') for _ in range(threads // 2)]
        for c in heads + bodies:
            c.start()
        for c in heads + bodies:
            assert c.connected.wait(10)
        time.sleep(1.5)  # every slow client is in, with its first bytes sent
        # Meanwhile everyone else is served promptly: a database read and a JSON body each time.
        latencies = []
        until = time.monotonic() + 5
        while time.monotonic() < until:
            for url, method, body in (
                ("/api/v1/health", "GET", None),
                ("/api/v1/auth/login", "POST", {"username": "nobody", "password": "x" * 12}),
            ):
                start = time.monotonic()
                status, _, _ = _request(svc.url(url), method=method, body=body, timeout=10)
                latencies.append(time.monotonic() - start)
                assert status in (200, 401), status
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        # And the slow ones are cut off: heads after HEAD_TIMEOUT, bodies when they fall behind
        # BODY_MIN_RATE (about BODY_TIMEOUT here: they send two bytes a second).
        for c in heads + bodies:
            c.join(server.BODY_TIMEOUT + 15)
        assert svc.proc.poll() is None
    finally:
        svc.stop()
    suite.tried(len(latencies) + len(heads) + len(bodies))
    head_cuts = [c.cut_after for c in heads]
    body_cuts = [c.cut_after for c in bodies]
    print(
        f"\n{len(heads)} trickling heads and {len(bodies)} trickling bodies on {workers}×{threads} "
        f"threads; others answered in max {max(latencies) * 1000:.0f} ms over {len(latencies)} "
        f"requests; heads cut after {min(head_cuts):.1f}–{max(head_cuts):.1f} s, bodies after "
        f"{min(body_cuts):.1f}–{max(body_cuts):.1f} s"
    )
    assert all(t is not None and t < server.HEAD_TIMEOUT + 3 for t in head_cuts), head_cuts
    assert all(
        t is not None and server.BODY_TIMEOUT - 1 < t < server.BODY_TIMEOUT + 8 for t in body_cuts
    ), body_cuts
    with open(tmp_path / "gunicorn.log") as fh:
        log = fh.read()
    assert log.count("cut off") == len(heads) + len(bodies)
    suite.survived(2)
