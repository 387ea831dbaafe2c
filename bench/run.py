"""One benchmark command: every hot path at province scale, each next to its physical baseline.

    make bench                              # everything (generates the province once: ~10 min)
    make bench ARGS="--only locate,tasks"   # some scenarios
    make bench ARGS="--quick"               # small sizes, to check that the scripts still run

The baseline is the same work done by raw SQL through psycopg on one connection: for locate, the
report and registration a hand-written statement (or transaction); for the API reads (task list,
dashboard, timeline, sync pull) the very statements the product sent during the request, captured
and replayed. Figures are ratios measured in the same run, so they survive a noisy machine.
Prints one table and writes `bench/results/bench.json` (and the machine it ran on).

Data: `bench/dataset.py` (the province: >= 100,000 cells, >= 1,000,000 cases) in
BENCH_DATABASE_URL; the reminder sweep fills a database of its own (`<bench db>_sweep`) with
10,000,000 rows, so the province stays as generated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results")
SECRET = secrets.token_urlsafe(40)
# Production settings for every app the benchmark builds (in-process and gunicorn).
PROD_ENV = {
    "APP_ENV": "production",
    "SECRET_KEY": SECRET,
    "JWT_SECRET_KEY": SECRET,
    "PII_KEY": SECRET,
    "RATELIMIT_ENABLED": "0",  # the load comes from one IP; throttling is not what we measure
}
# Reads first, then the scenarios that write (their cases are removed afterwards, so a run leaves
# the province as generated); the sweep fills a database of its own.
SCENARIOS = [
    "locate",
    "tasks",
    "dashboard",
    "timeline",
    "report",
    "sync",
    "export",
    "register",
    "rps",
    "sweep",
]


# ---------------------------------------------------------------- measuring
def stats(ms: list[float]) -> dict:
    """n, median, p95, p99 of times in milliseconds."""
    s = sorted(ms)

    def pct(p: float) -> float:
        return round(s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))], 3)

    return {
        "n": len(s),
        "median_ms": round(statistics.median(s), 3),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


def timed(fn, rounds: int) -> list[float]:
    """Wall time of each call, in milliseconds."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def row(scenario: str, product: dict, baseline: dict | None, target: str, ok, **extra) -> dict:
    """One line of the results table."""
    ratio = None
    if baseline and baseline.get("median_ms"):
        ratio = round(product["median_ms"] / baseline["median_ms"], 2)
    return {
        "scenario": scenario,
        "product": product,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "ok": ok,
        **extra,
    }


@contextmanager
def captured(engine):
    """The statements (and parameters) the product sends while the block runs."""
    from sqlalchemy import event

    stmts: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        stmts.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield stmts
    finally:
        event.remove(engine, "before_cursor_execute", before)


def replay(conn, stmts) -> None:
    """Send captured statements through raw psycopg in one transaction, fetching every row."""
    with conn.transaction():
        for sql, params in stmts:
            cur = conn.execute(sql, params or None)
            if cur.description:
                cur.fetchall()


# ---------------------------------------------------------------- context
class Bench:
    """What every scenario shares: the database, the app, raw connections, the sample users."""

    def __init__(self, args) -> None:
        self.args = args
        self.url = os.environ["BENCH_DATABASE_URL"]
        self.raw_url = self.url.replace("+psycopg", "")
        os.environ.update(PROD_ENV)
        os.environ["DATABASE_URL"] = self.url
        from api import create_app

        self.app = create_app("production")
        self.rows: list[dict] = []

    def raw(self, **kw):
        import psycopg

        return psycopg.connect(self.raw_url, options="-c jit=off", **kw)

    def one(self, sql: str, params=None):
        with self.raw() as conn:
            return conn.execute(sql, params).fetchone()

    def login(self, client, username: str) -> dict:
        from bench.dataset import PASSWORD

        r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, (username, r.status_code, r.get_json())
        return {"Authorization": f"Bearer {r.get_json()['access_token']}"}

    def api_reads(
        self, scenario: str, username: str, path: str, rounds: int, target_ms: float, **extra
    ) -> dict:
        """A GET through the app (in-process WSGI: auth, scoping, SQL, JSON) `rounds` times, next
        to the statements it sent replayed through psycopg."""
        from core.db import db

        client = self.app.test_client()
        headers = self.login(client, username)
        first = client.get(path, headers=headers)
        assert first.status_code == 200, (path, first.status_code, first.get_json())
        with self.app.app_context(), captured(db.engine) as stmts:
            client.get(path, headers=headers)
        product = stats(timed(lambda: client.get(path, headers=headers), rounds))
        with self.raw() as conn:
            replay(conn, stmts)
            baseline = stats(timed(lambda: replay(conn, stmts), rounds))
        return self.add(
            row(
                scenario,
                product,
                baseline,
                f"p95 ≤ {target_ms:.0f} ms",
                product["p95_ms"] <= target_ms,
                statements=len(stmts),
                path=path,
                user=username,
                **extra,
            )
        )

    def add(self, r: dict) -> dict:
        self.rows.append(r)
        print("  " + json.dumps(r, ensure_ascii=False, default=str), file=sys.stderr)
        return r


# ---------------------------------------------------------------- locate
def sample_points(conn, n: int, seed: float = 0.42) -> list[tuple[float, float]]:
    """Points inside random current cells (WGS-84)."""
    conn.execute("SELECT setseed(%s)", (seed,))
    rows = conn.execute(
        """WITH c AS (SELECT geom FROM grid_cell WHERE valid_to IS NULL ORDER BY random() LIMIT %s)
           SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 1, 7))).geom p
                                          FROM c) s""",
        (n,),
    ).fetchall()
    return [(float(x), float(y)) for x, y in rows]


def scenario_locate(b: Bench) -> None:
    """The product's locate (crs conversion, SQL, overlap/nearest logic) next to its statement in
    raw SQL; the database's own rate (a set of points in one statement, one core); the API."""
    from core.db import db
    from geo import crs
    from geo.locate import CELLS_COVERING, locate

    n = b.args.lookups
    sql = CELLS_COVERING
    with b.raw() as conn:
        pts = sample_points(conn, n)
        cells = conn.execute("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL").fetchone()[0]
        for x, y in pts[:50]:
            conn.execute(sql, {"lon": x, "lat": y}, prepare=True).fetchall()
        raw_ms = []
        t_all = time.perf_counter()
        for x, y in pts:
            t0 = time.perf_counter()
            conn.execute(sql, {"lon": x, "lat": y}, prepare=True).fetchall()
            raw_ms.append((time.perf_counter() - t0) * 1000)
        raw_rate = n / (time.perf_counter() - t_all)
        # The database alone: every point located in one statement (one backend = one core).
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        set_sql = f"""SELECT count(*) FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) p(lon, lat)
                      CROSS JOIN LATERAL ({
            sql.replace("%(lon)s", "p.lon").replace("%(lat)s", "p.lat")
        }) c"""
        conn.execute(set_sql, {"xs": xs, "ys": ys}).fetchone()
        db_s = min(timed(lambda: conn.execute(set_sql, {"xs": xs, "ys": ys}).fetchone(), 3)) / 1000
    db_rate = n / db_s
    tol = b.app.config["LOCATE_TOLERANCE_M"]
    with b.app.app_context():
        for x, y in pts[:50]:
            locate(db.session, lon=x, lat=y, system="wgs84", tolerance_m=tol)
        prod_ms = []
        for x, y in pts:
            t0 = time.perf_counter()
            locate(db.session, lon=x, lat=y, system="wgs84", tolerance_m=tol)
            prod_ms.append((time.perf_counter() - t0) * 1000)
        db.session.remove()
    product, baseline = stats(prod_ms), stats(raw_ms)
    ratio = product["median_ms"] / baseline["median_ms"]
    b.add(
        row(
            "locate (service)",
            product,
            baseline,
            "≤ 2 × raw; ≥ 5,000/s per core in the DB",
            ratio <= 2 and db_rate >= 5000,
            cells=cells,
            raw_lookups_per_s_one_connection=round(raw_rate),
            db_lookups_per_s_one_core=round(db_rate),
        )
    )
    client = b.app.test_client()
    headers = b.login(client, busiest_grid_worker(b))
    gx, gy = crs.wgs84_to_gcj02(xs, ys)
    paths = [
        f"/api/v1/locate?lon={a:.7f}&lat={c:.7f}&crs=gcj02" for a, c in zip(gx, gy, strict=True)
    ]
    client.get(paths[0], headers=headers)
    api_ms = []
    for p in paths:
        t0 = time.perf_counter()
        assert client.get(p, headers=headers).status_code == 200
        api_ms.append((time.perf_counter() - t0) * 1000)
    b.add(
        row(
            "locate (HTTP API, in-process)",
            stats(api_ms),
            baseline,
            "for information",
            None,
            cells=cells,
        )
    )


# ---------------------------------------------------------------- registration
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick


def _tree_cpu(root: int) -> float:
    """CPU seconds used by a process and its live children."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st:
                stats[int(name)] = st
    total = stats.get(root, (0, 0.0))[1]
    return total + sum(cpu for ppid, cpu in stats.values() if ppid == root)


class CpuSplit:
    """Where the CPU of a load went: the web service (gunicorn and its workers), the database
    (the cluster's postmaster and backends) and the load generator (this process)."""

    def __init__(self, b: Bench, web_pid: int) -> None:
        with b.raw() as conn:  # the backend's parent, read while the backend lives
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.db_root = _proc_stat(backend)[0]  # the postmaster
        self.web_pid = web_pid

    def snapshot(self) -> dict:
        t = os.times()
        return {
            "web": _tree_cpu(self.web_pid),
            "database": _tree_cpu(self.db_root),
            "load generator": t.user + t.system,
        }

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict:
        out = {k: round((after[k] - before[k]) * 1000 / max(requests, 1), 2) for k in before}
        out["total"] = round(sum(out.values()), 2)
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(b: Bench):
    """The service as in production (scripts/serve.sh): gunicorn, WEB_CONCURRENCY workers."""
    port = _free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}"]
    conf = os.path.join(ROOT, "deploy", "gunicorn.conf.py")
    if os.path.exists(conf):
        cmd += ["-c", conf]
    else:
        cmd += ["-w", os.environ.get("WEB_CONCURRENCY", "2")]
    env = {**os.environ, **PROD_ENV, "DATABASE_URL": b.url}
    proc = subprocess.Popen(
        [*cmd, "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    b.web_pid = proc.pid
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _http(
    port: int, method: str, path: str, body: bytes | None, headers: dict
) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _resident_id(rng: random.Random) -> str:
    from mediation.pii import resident_id_check_char

    first17 = (
        f"330681{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        f"{rng.randint(0, 999):03d}"
    )
    return first17 + resident_id_check_char(first17)


class Registrations:
    """Registration bodies as phones send them, from grid workers in their own cells."""

    def __init__(self, b: Bench, workers: int = 20) -> None:
        from geo import crs

        with b.raw() as conn:
            conn.execute("SELECT setseed(0.7)")
            rows = conn.execute(
                """SELECT u.username, ST_X(p.geom), ST_Y(p.geom)
                   FROM (SELECT a.user_id, a.cell_code FROM cell_assignment a
                         JOIN user_account u ON u.id = a.user_id AND u.username LIKE 'bgw%%'
                         WHERE a.valid_to IS NULL ORDER BY random() LIMIT %s) a
                   JOIN user_account u ON u.id = a.user_id
                   JOIN grid_cell g ON g.code = a.cell_code AND g.valid_to IS NULL
                   CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(g.geom, 20, 3)) p""",
                (workers,),
            ).fetchall()
        self.points: dict[str, list[tuple[float, float]]] = {}
        for username, x, y in rows:
            gx, gy = crs.wgs84_to_gcj02(x, y)
            self.points.setdefault(username, []).append((float(gx), float(gy)))
        client = b.app.test_client()
        self.headers = {
            u: {**b.login(client, u), "Content-Type": "application/json"} for u in self.points
        }
        self.users = sorted(self.points)
        self.rng = random.Random(7)
        self.lock = threading.Lock()

    def next(self) -> tuple[dict, bytes]:
        with self.lock:
            user = self.rng.choice(self.users)
            lon, lat = self.rng.choice(self.points[user])
            rid = _resident_id(self.rng)
            phone = f"13{self.rng.randint(0, 999999999):09d}"
            other = f"15{self.rng.randint(0, 999999999):09d}"
            cat = self.rng.choice(["02", "02", "03", "04", "06", "10"])
        body = {
            "client_id": str(uuid.uuid4()),
            "location": {"lon": lon, "lat": lat, "crs": "gcj02"},
            "occurred_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
            "category": cat,
            "key_areas": ["涉农问题"],
            "source": "grid_patrol",
            "description": "两户因宅基地边界发生争执，网格员现场登记",
            "people_involved": 4,
            "amount": "3000.00",
            "parties": [
                {
                    "role": "applicant",
                    "kind": "person",
                    "name": "张某",
                    "id_type": "resident_id",
                    "id_number": rid,
                    "phone": phone,
                },
                {"role": "respondent", "kind": "person", "name": "李某", "phone": other},
            ],
        }
        return self.headers[user], json.dumps(body).encode()


RAW_REGISTER = [
    # locate: the same statement as the product (prepared)
    None,
    """INSERT INTO case_counter (village_code, year, last_seq) VALUES (%(village)s, %(year)s, 1)
       ON CONFLICT (village_code, year) DO UPDATE SET last_seq = case_counter.last_seq + 1
       RETURNING last_seq""",
    """INSERT INTO dispute (id, case_number, content_hash, version, status, handling_level,
         cell_code, village_code, township_code, county_code, location, locate_match, occurred_at,
         registered_at, registered_by, source, category, key_areas, description, people_involved,
         amount, risk_level, risk_score, group_dispute, recurrence_count, next_due_at,
         next_due_kind, visits_done, created_at, updated_at)
       VALUES (%(id)s, %(number)s, %(hash)s, 1, 'registered', 'grid', %(cell)s, %(village)s,
         %(township)s, %(county)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 'exact',
         now() - interval '3 hours', now(), %(user)s, 'grid_patrol', '02', ARRAY['涉农问题'],
         '两户因宅基地边界发生争执，网格员现场登记', 4, 3000, 'blue', 2, false, 0,
         now() + interval '3 days', 'acceptance', 0, now(), now())""",
    """INSERT INTO party (dispute_id, position, role, kind, name, id_type, id_number_enc,
         id_number_hash, id_number_masked, phone_enc, phone_hash, phone_masked, name_phone_hash)
       VALUES (%(id)s, 1, 'applicant', 'person', '张某', 'resident_id', %(enc)s, %(hash)s,
               '330681********123X', %(enc)s, %(hash)s, '138****5678', %(hash)s),
              (%(id)s, 2, 'respondent', 'person', '李某', NULL, NULL, NULL, NULL, %(enc)s,
               %(hash)s, '150****1234', %(hash)s)""",
    """INSERT INTO risk_assessment (dispute_id, likelihood, severity, score, level, forced_reasons,
         assessed_by, assessed_at)
       VALUES (%(id)s, 1, 2, 2, 'blue', ARRAY[]::varchar[], %(user)s, now())""",
    """INSERT INTO dispute_event (dispute_id, seq, action, actor_id, at, from_status, to_status,
         changes, cell_code)
       VALUES (%(id)s, 1, 'register', %(user)s, now(), NULL, 'registered', '{}', %(cell)s)""",
    """INSERT INTO reminder (key, kind, dispute_id, area_code, recipient_id, due_at, remind_at,
         state, title, body, created_at)
       VALUES ('case:' || %(id)s || ':acceptance', 'acceptance', %(id)s, %(cell)s, %(user)s,
               now() + interval '3 days', now() + interval '2 days', 'pending', '受理提醒',
               '{}', now())""",
]


def raw_registration(b: Bench, regs: Registrations, n: int) -> dict:
    """The same writes in one transaction through psycopg: locate, counter, case, parties, risk,
    audit event, reminder."""
    from geo import crs
    from geo.locate import CELLS_COVERING

    locate_sql = CELLS_COVERING
    user = b.one("SELECT id FROM user_account WHERE username = 'bench'")[0]
    times = []
    with b.raw() as conn:
        for i in range(n + 20):
            _, body = regs.next()
            loc = json.loads(body)["location"]
            lon, lat = (float(v) for v in crs.to_wgs84(loc["lon"], loc["lat"], "gcj02"))
            t0 = time.perf_counter()
            with conn.transaction():
                cell = conn.execute(locate_sql, {"lon": lon, "lat": lat}, prepare=True).fetchone()
                p = {
                    "lon": lon,
                    "lat": lat,
                    "cell": cell[0],
                    "village": cell[2],
                    "township": cell[4],
                    "county": cell[6],
                    "year": 2026,
                    "user": user,
                    "id": uuid.uuid4(),
                    "hash": secrets.token_hex(32),
                    "enc": secrets.token_bytes(48),
                }
                seq = conn.execute(RAW_REGISTER[1], p, prepare=True).fetchone()[0]
                p["number"] = f"RAW-{cell[2]}-{seq:06d}"
                for sql in RAW_REGISTER[2:]:
                    conn.execute(sql, p, prepare=True)
            if i >= 20:
                times.append((time.perf_counter() - t0) * 1000)
    return stats(times)


def open_loop(port: int, make, rate: float, seconds: float, threads: int = 24) -> dict:
    """Requests sent at a fixed rate whatever the answers (no coordinated omission): latency is
    counted from when each request was due to be sent."""
    total = int(rate * seconds)
    jobs: queue.Queue = queue.Queue()
    start = time.perf_counter() + 0.5
    for i in range(total):
        jobs.put(start + i / rate)
    lat, codes, lock = [], {}, threading.Lock()

    def worker():
        while True:
            try:
                due = jobs.get_nowait()
            except queue.Empty:
                return
            headers, body = make()
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                status, _ = _http(port, "POST" if body else "GET", make.path, body, headers)
            except OSError:
                status = 0
            elapsed = (time.perf_counter() - due) * 1000
            with lock:
                lat.append(elapsed)
                codes[status] = codes.get(status, 0) + 1

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {**stats(lat), "rate_per_s": rate, "seconds": seconds, "statuses": codes}


def closed_loop(port: int, make, seconds: float, clients: int) -> dict:
    """As many requests as `clients` back-to-back clients get answered: requests per second."""
    stop = time.perf_counter() + seconds
    done, codes, lock = [0], {}, threading.Lock()

    def worker():
        while time.perf_counter() < stop:
            headers, body = make()
            try:
                status, _ = _http(port, "POST" if body else "GET", make.path, body, headers)
            except OSError:
                status = 0
            with lock:
                done[0] += status < 300 and status > 0
                codes[status] = codes.get(status, 0) + 1

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "requests_per_s": round(done[0] / elapsed, 1),
        "clients": clients,
        "seconds": round(elapsed, 1),
        "statuses": codes,
    }


REMOVED_FROM = (
    "dispute",
    "party",
    "risk_assessment",
    "dispute_event",
    "dispute_link",
    "reminder",
    "sync_change",
    "case_counter",
)


def quiet_database(b: Bench, limit_s: float = 180.0) -> float:
    """Wait until no autovacuum worker runs (the benchmark's own deletes set them off; a vacuum
    of a million-row table running under the measured load is the benchmark measuring itself).
    Returns the seconds waited."""
    t0 = time.perf_counter()
    with b.raw(autocommit=True) as conn:
        while time.perf_counter() - t0 < limit_s:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()[0]
            if not busy:
                break
            time.sleep(1)
    return round(time.perf_counter() - t0, 1)


@contextmanager
def registrations_removed(b: Bench):
    """Remove the cases the block registers (and what hangs off them), so the scenarios after it
    and the next run measure the province as generated."""
    from bench.dataset import drop_cases

    with b.raw() as conn:
        since = conn.execute("SELECT now()").fetchone()[0]
    try:
        yield
    finally:
        with b.raw(autocommit=True) as conn:
            drop_cases(
                conn,
                "case_number NOT LIKE 'BENCH-%%' AND registered_at >= %(since)s",
                {"since": since},
            )
            # Vacuum what the removal left now, rather than under the next scenario's load.
            for table in REMOVED_FROM:
                conn.execute(f"VACUUM (ANALYZE) {table}")


def one_at_a_time(port: int, make, n: int) -> dict:
    """n requests from one client, each sent when the one before was answered: the cost of one
    request with nothing queued, as the raw baseline is measured."""
    times, codes = [], {}
    for _ in range(n):
        headers, body = make()
        t0 = time.perf_counter()
        status, _ = _http(port, "POST" if body else "GET", make.path, body, headers)
        times.append((time.perf_counter() - t0) * 1000)
        codes[status] = codes.get(status, 0) + 1
    return {**stats(times), "statuses": codes}


def scenario_register(b: Bench) -> None:
    """Registration through HTTP (gunicorn as in production), next to the same writes in raw SQL:
    one request at a time against the baseline (median ≤ 5 × raw), and under a steady 100
    requests/s (p99 ≤ 50 ms)."""
    regs = Registrations(b)

    def make():
        return regs.next()

    make.path = "/api/v1/disputes"
    with registrations_removed(b):
        baseline = raw_registration(b, regs, b.args.raw_registrations)
    lower: list[dict] = []
    with registrations_removed(b), gunicorn(b) as port:
        # Warm up at the measured rate: every worker thread opens its database connection (a new
        # backend loads PostGIS and prepares its statements), as in a service that has been up.
        open_loop(port, make, rate=b.args.rate, seconds=3)
        quiet_database(b)
        single = one_at_a_time(port, make, b.args.raw_registrations)
        waited = quiet_database(b)
        split = CpuSplit(b, b.web_pid)
        before = split.snapshot()
        load = open_loop(port, make, rate=b.args.rate, seconds=b.args.seconds)
        cpu = CpuSplit.per_request(before, split.snapshot(), load["n"])
        for rate in b.args.lower_rates:  # where the latency target holds on this machine
            time.sleep(3)  # let a backlog from the run before drain
            quiet_database(b)
            r = open_loop(port, make, rate=rate, seconds=b.args.seconds / 2)
            lower.append({k: r[k] for k in ("rate_per_s", "n", "median_ms", "p95_ms", "p99_ms")})
    ok_codes = sum(v for k, v in load["statuses"].items() if k in (200, 201))
    one = {k: single[k] for k in ("n", "median_ms", "p95_ms", "p99_ms")}
    b.add(
        row(
            "register (HTTP, gunicorn, one request at a time)",
            one,
            baseline,
            "median ≤ 5 × raw",
            one["median_ms"] <= 5 * baseline["median_ms"] and set(single["statuses"]) <= {200, 201},
            statuses=single["statuses"],
        )
    )
    product = {k: load[k] for k in ("n", "median_ms", "p95_ms", "p99_ms")}
    b.add(
        row(
            f"register (HTTP, gunicorn, {b.args.rate:.0f} req/s)",
            product,
            baseline,
            "p99 ≤ 50 ms",
            product["p99_ms"] <= 50 and ok_codes == load["n"],
            statuses=load["statuses"],
            workers=os.environ.get("WEB_CONCURRENCY", "2"),
            cpu_ms_per_request=cpu,
            waited_for_autovacuum_s=waited,
            cores_needed_at_rate=round(cpu["total"] * b.args.rate / 1000, 2),
            lower_rates=lower,
        )
    )
    print(f"CPU per registration (ms): {cpu}", file=sys.stderr)
    for r in lower:
        print(f"at {r['rate_per_s']:.0f} req/s: {r}", file=sys.stderr)


def profile_register(b: Bench, n: int) -> None:
    """Where a registration's CPU goes: n registrations in this process (Flask's test client, no
    HTTP), profiled; prints CPU ms per registration and the costliest functions. Not a target,
    a tool for the next change."""
    import cProfile
    import pstats

    regs = Registrations(b)
    client = b.app.test_client()
    with registrations_removed(b):
        for headers, body in [regs.next() for _ in range(20)]:  # warm caches, the pool
            client.post("/api/v1/disputes", data=body, headers=headers)
        bodies = [regs.next() for _ in range(n)]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for headers, body in bodies:
            r = client.post("/api/v1/disputes", data=body, headers=headers)
            assert r.status_code == 201, r.get_json()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(
            f"{n} registrations in process: CPU {cpu / n * 1000:.2f} ms each, "
            f"wall {wall / n * 1000:.2f} ms each"
        )
        bodies = [regs.next() for _ in range(n)]
        prof = cProfile.Profile(time.process_time)  # CPU time: waits on the database excluded
        cpu0, wall0 = time.process_time(), time.perf_counter()
        prof.enable()
        for headers, body in bodies:
            r = client.post("/api/v1/disputes", data=body, headers=headers)
            assert r.status_code == 201, r.get_json()
        prof.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"profiled: CPU {cpu / n * 1000:.2f} ms each, wall {wall / n * 1000:.2f} ms each")
    os.makedirs(RESULTS, exist_ok=True)
    prof.dump_stats(os.path.join(RESULTS, "register.prof"))
    print(f"profile written to {os.path.join(RESULTS, 'register.prof')}")
    stats_ = pstats.Stats(prof).strip_dirs()
    stats_.sort_stats("cumulative").print_stats(45)
    stats_.sort_stats("tottime").print_stats(30)


def scenario_rps(b: Bench) -> None:
    """Requests per second on this machine's cores: registration and a grid worker's task list."""
    regs = Registrations(b)

    def make_reg():
        return regs.next()

    make_reg.path = "/api/v1/disputes"
    user = busiest_grid_worker(b)
    headers = b.login(b.app.test_client(), user)

    def make_tasks():
        return headers, None

    make_tasks.path = "/api/v1/disputes/tasks"
    with registrations_removed(b), gunicorn(b) as port:
        closed_loop(port, make_tasks, 2, 4)
        closed_loop(port, make_reg, 2, b.args.clients)  # every thread's connection open
        for label, make in (("registration", make_reg), ("task list", make_tasks)):
            quiet_database(b)
            r = closed_loop(port, make, b.args.seconds / 2, b.args.clients)
            b.add(
                row(
                    f"throughput: {label} (gunicorn, {os.cpu_count()} cores)",
                    {"median_ms": None, "p95_ms": None, **r},
                    None,
                    "for information",
                    None,
                )
            )


# ---------------------------------------------------------------- API reads
def busiest_grid_worker(b: Bench) -> str:
    """The generated grid worker with the most open reminders addressed to them."""
    return b.one(
        """SELECT u.username FROM reminder r JOIN user_account u ON u.id = r.recipient_id
           JOIN dispute d ON d.id = r.dispute_id AND d.case_number LIKE 'BENCH-%%'
           WHERE r.state IN ('pending', 'due', 'sent') AND u.username LIKE 'bgw%%'
           GROUP BY u.username ORDER BY count(*) DESC, u.username LIMIT 1"""
    )[0]


def scenario_tasks(b: Bench) -> None:
    """The task lists: a grid worker's (person-addressed) and a village mediator's (role)."""
    user = busiest_grid_worker(b)
    b.api_reads("task list: grid worker", user, "/api/v1/disputes/tasks", b.args.rounds, 100)
    mediator = b.one(
        """SELECT 'bmd' || r.recipient_area FROM reminder r
           JOIN dispute d ON d.id = r.dispute_id AND d.case_number LIKE 'BENCH-%%'
           WHERE r.state IN ('pending', 'due', 'sent') AND r.recipient_role = 'mediator'
           GROUP BY r.recipient_area ORDER BY count(*) DESC, 1 LIMIT 1"""
    )[0]
    b.api_reads(
        "task list: village mediator", mediator, "/api/v1/disputes/tasks", b.args.rounds, 100
    )


def busiest_township(b: Bench) -> str:
    return b.one(
        """SELECT township_code FROM dispute WHERE registered_at > now() - interval '90 days'
             AND case_number LIKE 'BENCH-%%'
           GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
    )[0]


def scenario_dashboard(b: Bench) -> None:
    """The township console's dashboard (this month, with trend and villages) and the county's."""
    t = busiest_township(b)
    b.api_reads(
        "dashboard: township",
        f"bcs{t}",
        f"/api/v1/console/dashboard?area={t}",
        max(10, b.args.rounds // 4),
        100,
    )
    b.api_reads(
        "dashboard: county",
        f"bca{t[:6]}",
        f"/api/v1/console/dashboard?area={t[:6]}",
        max(10, b.args.rounds // 4),
        100 * 5,
        note="target set for the township only",
    )


def scenario_timeline(b: Bench) -> None:
    """A case's timeline and case file, as its village mediator."""
    case_id, village = b.one(
        """SELECT d.id, d.village_code FROM dispute d JOIN dispute_event e ON e.dispute_id = d.id
           WHERE d.case_number LIKE 'BENCH-%%' GROUP BY d.id ORDER BY count(*) DESC LIMIT 1"""
    )
    b.api_reads(
        "case timeline", f"bmd{village}", f"/api/v1/disputes/{case_id}/timeline", b.args.rounds, 100
    )
    b.api_reads("case file", f"bmd{village}", f"/api/v1/disputes/{case_id}", b.args.rounds, 100)


# ---------------------------------------------------------------- monthly report
def raw_report_statement(parent: str, level: str) -> str:
    """One statement: every grouped aggregation of the report as CTEs joined on the area."""
    import re

    from mediation.reports import aggregates, metrics

    queries = aggregates._queries(metrics.GROUP_COLUMN[level], aggregates._where(parent))
    ctes = [f"{name} AS ({sql})" for name, sql in queries.items()]
    scalar = ["cases", "agreements", "visits", "visits_due", "escalations", "events"]
    breakdown = ["by_source", "by_category"]
    joins = " ".join(f"FULL JOIN {n} USING (period, area)" for n in scalar[1:])
    extra = ", ".join(
        f"(SELECT jsonb_object_agg(key, n) FROM {x} WHERE {x}.area = cases.area"
        f" AND {x}.period = cases.period) AS {x}_json"
        for x in breakdown
    )
    sql = f"WITH {', '.join(ctes)} SELECT *, {extra} FROM cases {joins}"
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


def scenario_report(b: Bench) -> None:
    """The monthly report of the busiest township and of its county, next to one raw statement."""
    from core.clock import utcnow
    from core.db import db
    from mediation.reports import aggregates, figures, months

    settings = months.ReportSettings()
    month = months.report_month_of(utcnow())
    period = months.covered_period(month)
    township = busiest_township(b)
    county = township[:6]
    rounds = max(3, b.args.rounds // 20)
    with b.app.app_context(), b.raw() as conn:
        for label, parent, level, fn in (
            (
                "monthly report: township",
                township,
                "village",
                lambda: figures.village_figures(
                    db.session, township=township, month=month, settings=settings
                ),
            ),
            (
                "monthly report: county",
                county,
                "township",
                lambda: (
                    aggregates.area_rows(
                        db.session, parent=county, level="township", period=period
                    ),
                    figures._screening(db.session, parent=county, level="township", period=period),
                ),
            ),
        ):
            sql = raw_report_statement(parent, level)
            p = aggregates._params(parent, [period], settings.first_visit_days)
            fn()
            conn.execute(sql, p).fetchall()
            product = stats(timed(fn, rounds))
            baseline = stats(timed(lambda s=sql, q=p: conn.execute(s, q).fetchall(), rounds))
            db.session.rollback()
            b.add(
                row(
                    label,
                    product,
                    baseline,
                    "≤ 3 × raw",
                    product["median_ms"] <= 3 * baseline["median_ms"],
                    area=parent,
                    month=month,
                )
            )


# ---------------------------------------------------------------- sync
def scenario_sync(b: Bench) -> None:
    """A village mediator's phone pulls 100 changes of its village while 5,000 changes happen
    elsewhere in the same moments (change log of the whole province)."""
    from core.db import db
    from mediation.sync import cursor as cursors
    from mediation.sync import pull
    from mediation.users.actor import load_actor
    from mediation.users.models import User

    village = b.one(
        """SELECT village_code FROM dispute WHERE case_number LIKE 'BENCH-%%'
           GROUP BY 1 HAVING count(*) >= 100 ORDER BY count(*) DESC LIMIT 1"""
    )[0]
    change = """UPDATE dispute SET version = version + 1, updated_at = now()
                WHERE id IN (SELECT id FROM dispute WHERE village_code = %(v)s
                             ORDER BY random() LIMIT 100)"""
    noise = """UPDATE dispute SET version = version + 1, updated_at = now()
               WHERE id IN (SELECT id FROM dispute WHERE village_code <> %(v)s
                            AND case_number LIKE 'BENCH-%%' ORDER BY random() LIMIT %(n)s)"""
    now = datetime.now(UTC)
    product_ms, raw_ms = [], []
    with b.app.app_context(), b.raw(autocommit=True) as conn:
        user = db.session.scalar(db.select(User).where(User.username == f"bmd{village}"))
        actor = load_actor(db.session, user=user, today=now.date())
        rounds = max(5, b.args.rounds // 10)
        for _ in range(rounds):
            start = cursors.encode(cursors.Position(pull.horizon(db.session) - 1, cursors.MAX_ID))
            db.session.rollback()
            conn.execute(noise, {"v": village, "n": 2500})
            conn.execute(change, {"v": village})
            conn.execute(noise, {"v": village, "n": 2500})
            with captured(db.engine) as stmts:
                t0 = time.perf_counter()
                page = pull.pull_changes(
                    db.session, actor=actor, cursor=start, limit=100, now=now, config={}
                )
                product_ms.append((time.perf_counter() - t0) * 1000)
            db.session.rollback()
            assert len(page["changes"]) == 100, len(page["changes"])
            with b.raw() as rconn:
                replay(rconn, stmts)
                raw_ms.append(min(timed(lambda c=rconn, s=stmts: replay(c, s), 3)))
        log_rows = conn.execute("SELECT count(*) FROM sync_change").fetchone()[0]
        db.session.remove()
    product = stats(product_ms)
    b.add(
        row(
            "sync pull of 100 changes",
            product,
            stats(raw_ms),
            "≤ 50 ms",
            product["p95_ms"] <= 50,
            change_log_rows=log_rows,
        )
    )


# ---------------------------------------------------------------- export
EXPORT_FILL = """
INSERT INTO dispute (id, case_number, content_hash, version, status, handling_level, cell_code,
  village_code, township_code, county_code, location, locate_match, occurred_at, registered_at,
  registered_by, source, category, key_areas, description, people_involved, risk_level,
  risk_score, group_dispute, recurrence_count, visits_done, accepted_at, next_due_at,
  next_due_kind)
SELECT gen_random_uuid(), 'BENCH-X-' || g, 'x', 1, 'mediating', 'village', c.code,
  c.village_code, left(c.village_code, 9), left(c.village_code, 6), ST_PointOnSurface(c.geom),
  'exact', now() - interval '61 days', now() - interval '60 days', u.id, 'grid_patrol',
  (ARRAY['02', '03', '04', '06'])[1 + g % 4], '{}', '基准测试：逾期未结', 3,
  (ARRAY['blue', 'yellow', 'orange', 'red'])[1 + g % 4], 6, false, 0, 0,
  now() - interval '59 days', now() - (1 + g % 29) * interval '1 day', 'mediation'
FROM generate_series(1, %(n)s) g
JOIN (SELECT row_number() OVER (ORDER BY code) - 1 AS i, code, village_code, geom FROM grid_cell
      WHERE valid_to IS NULL AND code LIKE %(county)s || '%%') c
  ON c.i = g %% (SELECT count(*) FROM grid_cell WHERE valid_to IS NULL
                 AND code LIKE %(county)s || '%%')
CROSS JOIN (SELECT id FROM user_account WHERE username = 'bench') u
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space, so it starts
    afresh at exec; ru_maxrss would carry over the parent's peak (Linux keeps it across execve)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export_child(rows: int) -> None:
    """Child process: `rows` overdue cases in one county (inserted in a transaction that is rolled
    back), streamed into the XLSX of the county's overdue list; prints seconds and peak RSS."""
    from core.clock import utcnow
    from core.db import db
    from geo.scope import AreaScope
    from mediation.reports import console, exports

    os.environ.update(PROD_ENV)
    from api import create_app

    app = create_app("production")
    with app.app_context():
        county = "330681"
        db.session.execute(
            db.text(
                EXPORT_FILL.replace("%%", "%")
                .replace("%(n)s", ":n")
                .replace("%(county)s", ":county")
            ),
            {"n": rows, "county": county},
        )
        rss_before = peak_rss_mb()
        t0 = time.perf_counter()
        it = console.supervision_rows(
            db.session,
            kind="overdue",
            scope=AreaScope(frozenset({county})),
            area=county,
            sort="due",
            now=utcnow(),
            limit=None,
        )
        out = exports.xlsx_list(console.LIST_COLUMNS["overdue"], it, title="逾期案件")
        size = len(out.read())
        elapsed = time.perf_counter() - t0
        db.session.rollback()
    print(
        json.dumps(
            {
                "rows_requested": rows,
                "seconds": round(elapsed, 2),
                "xlsx_bytes": size,
                "rss_before_export_mb": rss_before,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def scenario_export(b: Bench) -> None:
    """Peak memory of the streamed XLSX export at 10,000 and 100,000 rows (flat, ≤ 200 MB)."""
    for n in b.args.export_rows:
        out = subprocess.run(
            [sys.executable, __file__, "--export-child", str(n)],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        b.add(
            row(
                f"XLSX export, {n:,} overdue rows",
                {"median_ms": r["seconds"] * 1000, "p95_ms": None, **r},
                None,
                "peak RSS ≤ 200 MB",
                r["peak_rss_mb"] <= 200,
            )
        )


# ---------------------------------------------------------------- reminder sweep
SWEEP_FILL = """
INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at, remind_at,
                      state, title, body, created_at, fired_at)
SELECT 'bench:bg:' || g, 'acceptance', '330681109', 'center_staff', '330681109',
       now() + interval '30 days', now() + (1 + g % 1000) * interval '1 hour',
       (ARRAY['pending', 'sent', 'acknowledged', 'cancelled'])[1 + g % 4], 'bench', '{}', now(),
       CASE WHEN g % 4 IN (1, 2) THEN now() END
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) g
"""
SWEEP_DUE = """
INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at, remind_at,
                      state, title, body, created_at)
SELECT 'bench:due:' || %(round)s || ':' || g, 'acceptance', '330681109', 'center_staff',
       '330681109', now(), now() - interval '1 minute', 'pending', 'bench', '{}', now()
FROM generate_series(1, %(n)s) g
"""
# A day's churn of the hot table: reminders fired and delivered, acknowledged, re-planned (as cases
# move), 1,000 rows per transaction as the web workers and the scheduler write them. Every step
# moves rows into or out of the sweep's partial index (state = 'pending').
CHURN = """
UPDATE reminder SET
  state = CASE state WHEN 'pending' THEN 'sent' WHEN 'sent' THEN 'acknowledged'
                     ELSE 'pending' END,
  fired_at = CASE state WHEN 'pending' THEN now() ELSE fired_at END,
  sent_at = CASE state WHEN 'pending' THEN now() ELSE sent_at END,
  acknowledged_at = CASE state WHEN 'sent' THEN now() ELSE acknowledged_at END,
  remind_at = CASE WHEN state NOT IN ('pending', 'sent')
                   THEN now() + interval '2 hours' ELSE remind_at END
WHERE id >= %(lo)s AND id < %(lo)s + 1000
"""


def scenario_sweep(b: Bench) -> None:
    """The sweep of 2,000 due reminders with 100,000 and with 10,000,000 other rows in the table,
    then again after a heavy day of update churn with autovacuum as configured."""
    import psycopg
    from sqlalchemy.engine import make_url

    from core.db import db
    from mediation.reminders import service

    bench_url = make_url(b.url)
    sweep_db = f"{bench_url.database}_sweep"
    url = bench_url.set(database=sweep_db).render_as_string(hide_password=False)
    raw = url.replace("+psycopg", "")
    admin = bench_url.set(database="postgres").render_as_string(hide_password=False)
    admin = admin.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (sweep_db,)).fetchone():
            conn.execute(f'CREATE DATABASE "{sweep_db}"')
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from api import create_app

    app = create_app("production", SQLALCHEMY_DATABASE_URI=url)
    due, rounds = b.args.due, 5

    def measure(label: str) -> dict:
        times = []
        for r in range(rounds):
            with psycopg.connect(raw, autocommit=True) as conn:
                conn.execute(SWEEP_DUE, {"round": f"{label}{r}{time.time()}", "n": due})
            with app.app_context():
                t = time.perf_counter()
                fired = service.sweep(db.session, now=datetime.now(UTC), webhook=False)
                times.append((time.perf_counter() - t) * 1000)
                db.session.remove()
            assert fired == due, (fired, due)
        return stats(times)

    def fill(conn, upto: int, have: int) -> int:
        step = 1_000_000
        while have < upto:
            stop = min(upto, have + step)
            conn.execute(
                SWEEP_FILL.replace("%", "%%").replace("%%(", "%("),
                {"start": have + 1, "stop": stop},
            )
            have = stop
            print(f"    sweep table: {have:,} rows", file=sys.stderr)
        conn.execute("VACUUM ANALYZE reminder")
        return have

    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("TRUNCATE reminder CASCADE")
        have = fill(conn, b.args.sweep_small, 0)
    small = measure("small")
    with psycopg.connect(raw, autocommit=True) as conn:
        fill(conn, b.args.sweep_big, have)
    big = measure("big")
    b.add(
        row(
            f"reminder sweep, {b.args.sweep_big:,} vs {b.args.sweep_small:,} rows",
            big,
            small,
            "≤ 1.5 × the small table",
            big["median_ms"] <= 1.5 * small["median_ms"],
            due_rows=due,
        )
    )
    # A heavy day: churn_rows updates in transactions of 1,000, while autovacuum runs.
    t0 = time.perf_counter()
    done = 0
    rng = random.Random(11)
    with psycopg.connect(raw, autocommit=True) as conn:
        lo_id, hi_id = conn.execute("SELECT min(id), max(id) FROM reminder").fetchone()
        k = 0
        while done < b.args.churn_rows:
            cur = conn.execute(CHURN, {"lo": rng.randint(lo_id, max(lo_id, hi_id - 1000))})
            done += cur.rowcount
            k += 1
            if k % 200 == 0:
                print(f"    churn: {done:,} rows updated", file=sys.stderr)
        dead = conn.execute(
            """SELECT n_dead_tup, autovacuum_count FROM pg_stat_user_tables
               WHERE relname = 'reminder'"""
        ).fetchone()
    churn_s = time.perf_counter() - t0
    churned = measure("churned")
    b.add(
        row(
            f"reminder sweep after churn ({done:,} updates)",
            churned,
            big,
            "≤ 10 × fresh",
            churned["median_ms"] <= 10 * big["median_ms"],
            churn_seconds=round(churn_s),
            dead_tuples_after=dead[0],
            autovacuums_during=dead[1],
        )
    )
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("TRUNCATE reminder CASCADE")


# ---------------------------------------------------------------- main
def print_table(rows: list[dict]) -> None:
    print()
    head = (
        f"{'scenario':58} {'median':>9} {'p95':>9} {'p99':>9} {'raw med':>9} {'ratio':>6}  "
        f"target / result"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        p, bl = r["product"], r["baseline"] or {}

        def f(v):
            return "" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

        verdict = {True: "ok", False: "MISSED", None: ""}[r["ok"]]
        extra = ""
        for key in ("requests_per_s", "db_lookups_per_s_one_core", "peak_rss_mb"):
            if key in r or key in p:
                extra += f"  {key}={r.get(key, p.get(key))}"
        print(
            f"{r['scenario'][:58]:58} {f(p.get('median_ms')):>9} {f(p.get('p95_ms')):>9} "
            f"{f(p.get('p99_ms')):>9} {f(bl.get('median_ms')):>9} {f(r['ratio']):>6}  "
            f"{r['target']} {verdict}{extra}"
        )
    print("(times in ms; raw = the same work in raw SQL through psycopg, one connection)")


def machine() -> dict:
    import psycopg

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    with psycopg.connect(os.environ["BENCH_DATABASE_URL"].replace("+psycopg", "")) as conn:
        pg = conn.execute("SELECT version(), postgis_lib_version()").fetchone()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgres": pg[0].split(",")[0],
        "postgis": pg[1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes: check the scripts run")
    ap.add_argument("--min-cells", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument(
        "--lower-rates",
        default="40,60,80",
        help="registration rates also measured (req/s), to find where p99 ≤ 50 ms holds",
    )
    ap.add_argument("--raw-registrations", type=int, default=300)
    ap.add_argument("--export-rows", default="10000,100000")
    ap.add_argument("--due", type=int, default=2000)
    ap.add_argument("--sweep-small", type=int, default=100_000)
    ap.add_argument("--sweep-big", type=int, default=10_000_000)
    ap.add_argument("--churn-rows", type=int, default=2_000_000)
    ap.add_argument("--export-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument(
        "--profile-register",
        type=int,
        metavar="N",
        help="profile N registrations in process (CPU per registration, costliest functions)",
    )
    args = ap.parse_args()
    if not os.environ.get("BENCH_DATABASE_URL"):
        sys.exit("BENCH_DATABASE_URL is not set (run `make bench`)")
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    if args.export_child:
        export_child(args.export_child)
        return
    if args.quick:
        args.min_cells, args.cases, args.rounds, args.lookups = 3000, 20_000, 20, 200
        args.seconds, args.raw_registrations, args.export_rows = 4.0, 30, "2000"
        args.rate, args.sweep_small, args.sweep_big, args.churn_rows = 20.0, 10_000, 50_000, 20_000
        args.due, args.lower_rates = 200, "10"
    args.export_rows = [int(x) for x in str(args.export_rows).split(",") if x]
    args.lower_rates = [float(x) for x in str(args.lower_rates).split(",") if x]
    wanted = [s for s in args.only.split(",") if s]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}")

    from bench.dataset import counts, ensure_province

    made = ensure_province(
        os.environ["BENCH_DATABASE_URL"], min_cells=args.min_cells, cases=args.cases
    )
    print(f"province: {made['cells']:,} cells, {made['cases']:,} generated cases", file=sys.stderr)
    b = Bench(args)
    if args.profile_register:
        profile_register(b, args.profile_register)
        return
    started = time.time()
    for name in SCENARIOS:
        if name in wanted:
            print(f"== {name}", file=sys.stderr)
            globals()[f"scenario_{name}"](b)
    print_table(b.rows)
    os.makedirs(RESULTS, exist_ok=True)
    out = {
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started),
        "machine": machine(),
        "data": {**made, "rows": counts(os.environ["BENCH_DATABASE_URL"])},
        "quick": args.quick,
        "results": b.rows,
    }
    name = "bench-quick.json" if args.quick else "bench.json"
    with open(os.path.join(RESULTS, name), "w") as fh:
        json.dump(out, fh, ensure_ascii=False, indent=1, default=str)
    print(f"written bench/results/{name}")


if __name__ == "__main__":
    main()
