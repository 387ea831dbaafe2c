"""Soak test: a county's busiest day at 10x, for 10 minutes, against gunicorn on this machine.

    make soak                               # 600 s (SOAK_SECONDS or --seconds to change)
    make soak ARGS="--seconds 60"           # a short check that it runs

Bounded and stopping by itself: the load runs --seconds, the stragglers get --drain seconds, then
gunicorn is stopped; a hard limit (seconds + drain + 120 s) ends the process whatever happens.

The county is the demo county (诸暨市: 23 townships, 518 villages, 2,341 grid cells), loaded into a
database of its own (`<bench database>_soak`) with soak users: SOAK_WORKERS grid workers (one cell
each, spread over every township), one centre staff per township and the county centre. Before
the measured window it holds at least --backlog cases (registered through the API).

The mix, per second, is ten times the peak hour of a county's busiest day (the day the monthly
reports are due after a week of harvest-season disputes), from these assumptions:

| request                           | busiest peak hour, whole county              | x10 /s |
|-----------------------------------|----------------------------------------------|--------|
| sync pull (GET /sync/changes)     | 2,341 phones pull every 20 min: 1.95/s       | 19.5   |
| task list (GET /disputes/tasks)   | each phone opens its list every 30 min: 1.3/s | 13     |
| sync push (POST /sync/operations) | every phone pushes once an hour: 0.65/s      | 6.5    |
| registration (POST /disputes)     | 600 on the day, 30 % in the peak hour: 0.05/s | 0.5    |
| action (accept, If-Match)         | 4 actions per new case: 0.2/s                | 2      |
| console read (dashboard, list,    | 80 centre staff, one view a minute: 1.3/s    | 13     |
|   map cases)                      |                                              |        |
| report draft (township report)    | 518 village heads x 3 views, 20 % in the     | 1      |
|                                   |   peak hour: 0.09/s                          |        |

Phones dominate (sync and the task list are 80 % of requests): that is what a grid system is.
Writes are 15 % (pushes register offline cases). Prints throughput, p50/p95/p99 per kind,
errors (target 0) and the memory of every process (gunicorn master and workers, each PostgreSQL
backend) at the start and the end, and writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts", "ha"))
import phone  # noqa: E402  (the phone's requests, shared with the HA tests)

from bench.run import PROD_ENV, _free_port, stats  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
PASSWORD = "Soak#Passw0rd2026"  # noqa: S105 - soak accounts in the soak database only
RATES = {
    "sync_pull": 19.5,
    "tasks": 13.0,
    "sync_push": 6.5,
    "register": 0.5,
    "action": 2.0,
    "console": 13.0,
    "report": 1.0,
}


def soak_url() -> str:
    base = os.environ["BENCH_DATABASE_URL"]
    prefix, rest = base.split("@/", 1)
    name, query = rest.split("?", 1)
    return f"{prefix}@/{name}_soak?{query}"


def ensure_database(url: str) -> None:
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    name = libpq.split("@/", 1)[1].split("?", 1)[0]
    admin = libpq.replace(f"@/{name}?", "@/postgres?")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development"}
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    subprocess.run([flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([flask, "demo", "load"], env=env, cwd=ROOT, check=True, capture_output=True)


def ensure_users(url: str, workers: int) -> dict:
    """Soak users (created once): grid workers with a cell each, centre staff, the county."""
    from datetime import date

    from sqlalchemy import text

    from api import create_app
    from core.clock import utcnow
    from core.db import db
    from mediation.pii import vault_for
    from mediation.users import accounts
    from mediation.users.actor import system_actor
    from mediation.users.passwords import hasher_for

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url, DATABASE_REPLICA_URL="")
    with app.app_context():
        s = db.session
        cells = s.execute(
            text(
                """SELECT code, township_code FROM (
                     SELECT g.code, substr(g.village_code, 1, 9) AS township_code,
                            row_number() OVER (PARTITION BY substr(g.village_code, 1, 9)
                                               ORDER BY md5(g.code)) AS n
                     FROM grid_cell g WHERE g.valid_to IS NULL) c
                   ORDER BY n, code LIMIT :k"""
            ),
            {"k": workers},
        ).all()
        townships = sorted({t for _c, t in cells})
        have = set(s.scalars(text("SELECT username FROM user_account WHERE username LIKE 'soak%'")))
        cfg, now = app.config, utcnow()

        def make(username, roles, cell=None):
            if username in have:
                return
            user = accounts.create_user(
                s,
                actor=system_actor(),
                username=username,
                display_name=username,
                password=PASSWORD,
                roles=roles,
                phone=None,
                vault=vault_for(cfg["PII_KEY"]),
                ph=hasher_for(cfg),
                now=now,
            )
            if cell:
                accounts.assign_cell(
                    s,
                    actor=system_actor(),
                    user_id=user.id,
                    cell_code=cell,
                    valid_from=date(2026, 1, 1),
                )

        for i, (cell, _t) in enumerate(cells):
            make(f"soak_gw{i:04d}", [{"role": "grid_worker"}], cell)
        for t in townships:
            make(f"soak_center_{t}", [{"role": "center_staff", "area_code": t}])
        make("soak_county", [{"role": "county_admin", "area_code": "330681"}])
        s.commit()
        points = {}
        for i, (cell, _t) in enumerate(cells):
            rows = s.execute(
                text(
                    "SELECT ST_X(p.geom), ST_Y(p.geom) FROM grid_cell g, "
                    "LATERAL ST_Dump(ST_GeneratePoints(g.geom, 8)) p "
                    "WHERE g.code = :c AND g.valid_to IS NULL"
                ),
                {"c": cell},
            ).all()
            points[f"soak_gw{i:04d}"] = [(float(x), float(y)) for x, y in rows]
        db.session.remove()
        db.engine.dispose()
    return {"points": points, "townships": townships}


# ------------------------------------------------------------------ processes and memory
def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    children.setdefault(int(fh.read().rsplit(")", 1)[1].split()[1]), []).append(
                        int(entry)
                    )
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory(pid: int) -> dict | None:
    """RSS and private (anonymous + private file) memory of a process, in MB."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
        fields = {}
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    fields[parts[0][:-1]] = int(parts[1])
    except OSError:
        return None
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "cmd": cmd,
        "rss_mb": round(fields.get("Rss", 0) / 1024, 1),
        "private_mb": round(private / 1024, 1),
    }


def postmaster_pid(url: str) -> int | None:
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq) as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]
    try:
        with open(os.path.join(data, "postmaster.pid")) as fh:
            return int(fh.readline())
    except OSError:
        return None


def snapshot(web_pid: int, pg_pid: int | None) -> dict:
    procs = {}
    for label, root in (("gunicorn", web_pid), ("postgres", pg_pid), ("soak", os.getpid())):
        if root is None:
            continue
        for pid in descendants(root) if label != "soak" else [root]:
            m = memory(pid)
            if m:
                procs[f"{label}:{pid}"] = m
    return procs


# ------------------------------------------------------------------ the load
class Load:
    """The phones and consoles: state each kind of request needs (tokens, cursors, cases)."""

    def __init__(self, port: int, users: dict, args) -> None:
        self.port = port
        self.points = users["points"]
        self.workers = sorted(self.points)
        self.townships = users["townships"]
        self.rng = random.Random(11)
        self.lock = threading.Lock()
        self.tokens = {}
        self.cursors: dict[str, str | None] = {}
        self.to_accept: list[tuple[str, str, int]] = []  # (user, case id, version)
        self.month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    def login_all(self) -> None:
        names = [*self.workers, *(f"soak_center_{t}" for t in self.townships)]
        for name in names:
            status, _h, body = phone.http(
                self.port,
                "POST",
                "/api/v1/auth/login",
                {"username": name, "password": PASSWORD, "device_name": "soak"},
            )
            if status != 200:
                raise SystemExit(f"soak: login {name}: {status} {body}")
            self.tokens[name] = {"Authorization": f"Bearer {body['access_token']}"}

    def pick(self, seq):
        with self.lock:
            return self.rng.choice(seq)

    def body(self, user: str) -> dict:
        with self.lock:
            return phone.registration(self.rng, self.rng.choice(self.points[user]), "soak")

    # each returns the HTTP status
    def register(self) -> int:
        user = self.pick(self.workers)
        status, _h, body = phone.http(
            self.port, "POST", "/api/v1/disputes", self.body(user), self.tokens[user]
        )
        if status in (200, 201) and body:
            with self.lock:
                self.to_accept.append((user, body["id"], body["version"]))
        return status

    def action(self) -> int:
        with self.lock:
            job = self.to_accept.pop(0) if self.to_accept else None
        if job is None:
            return self.register()  # nothing to accept yet: the day starts with registrations
        user, case, version = job
        headers = {**self.tokens[user], "If-Match": f'"{version}"'}
        status, _h, _b = phone.http(
            self.port, "POST", f"/api/v1/disputes/{case}/actions/accept", {}, headers
        )
        return status

    def sync_pull(self) -> int:
        user = self.pick(self.workers)
        cursor = self.cursors.get(user)
        path = "/api/v1/sync/changes" + (f"?cursor={cursor}" if cursor else "")
        status, _h, body = phone.http(self.port, "GET", path, None, self.tokens[user])
        if status == 200 and body:
            self.cursors[user] = body.get("cursor")
        return status

    def sync_push(self) -> int:
        user = self.pick(self.workers)
        reg = self.body(user)
        case_id = reg.pop("client_id")
        op = {
            "op_id": str(uuid.uuid4()),
            "kind": "register",
            "case_id": case_id,
            "happened_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
            "payload": reg,
        }
        status, _h, _b = phone.http(
            self.port, "POST", "/api/v1/sync/operations", {"operations": [op]}, self.tokens[user]
        )
        return status

    def tasks(self) -> int:
        user = self.pick(self.workers)
        return phone.http(self.port, "GET", "/api/v1/disputes/tasks", None, self.tokens[user])[0]

    def console(self) -> int:
        t = self.pick(self.townships)
        path = self.pick(
            [
                "/api/v1/console/dashboard",
                "/api/v1/console/lists/overdue",
                f"/api/v1/console/map/cases?area={t}",
            ]
        )
        return phone.http(self.port, "GET", path, None, self.tokens[f"soak_center_{t}"])[0]

    def report(self) -> int:
        t = self.pick(self.townships)
        path = f"/api/v1/reports/monthly/{self.month}/townships/{t}"
        return phone.http(self.port, "GET", path, None, self.tokens[f"soak_center_{t}"])[0]


def run_load(load: Load, seconds: float, drain: float, threads: int, progress) -> dict:
    """Open loop: every request is due at its time whatever the answers; latency counts from
    when it was due (a queue building up shows as latency, not as a slower load)."""
    start = time.perf_counter() + 0.5
    heap = [(start + random.random() / r, kind) for kind, r in RATES.items()]
    heapq.heapify(heap)
    jobs: queue.Queue = queue.Queue()
    results: dict[str, list] = {k: [] for k in RATES}
    codes: dict[str, dict[int, int]] = {k: {} for k in RATES}
    lock = threading.Lock()
    end = start + seconds
    stop_by = end + drain

    def feeder():
        while heap:
            due, kind = heapq.heappop(heap)
            if due >= end:
                continue
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            jobs.put((due, kind))
            heapq.heappush(heap, (due + 1 / RATES[kind], kind))
        for _ in range(threads):
            jobs.put(None)

    def worker():
        while True:
            job = jobs.get()
            if job is None:
                return
            due, kind = job
            if time.perf_counter() > stop_by:
                status = -1  # not sent: the drain time was over
            else:
                try:
                    status = getattr(load, kind)()
                except Exception:
                    status = 0
            ms = (time.perf_counter() - due) * 1000
            with lock:
                results[kind].append(ms)
                codes[kind][status] = codes[kind].get(status, 0) + 1

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    feed = threading.Thread(target=feeder, daemon=True)
    for t in ts:
        t.start()
    feed.start()
    while feed.is_alive() or any(t.is_alive() for t in ts):
        progress()
        time.sleep(1)
        if time.perf_counter() > stop_by + 5:
            break
    elapsed = time.perf_counter() - start
    out = {}
    for kind in RATES:
        ok = sum(n for c, n in codes[kind].items() if 200 <= c < 300)
        out[kind] = {
            **stats(results[kind]),
            "sent": len(results[kind]),
            "per_s": round(len(results[kind]) / min(elapsed, seconds), 2),
            "errors": len(results[kind]) - ok,
            "statuses": codes[kind],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--drain", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=200, help="soak grid workers (one cell each)")
    ap.add_argument("--backlog", type=int, default=3000, help="cases in the county beforehand")
    ap.add_argument("--threads", type=int, default=48)
    args = ap.parse_args()
    hard_limit = args.seconds + args.drain + 600  # setup included; the process ends regardless
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(int(hard_limit))

    url = soak_url()
    print(f"soak database: {url.split('?')[0]}", flush=True)
    ensure_database(url)
    users = ensure_users(url, args.workers)
    port = _free_port()
    conf = os.path.join(ROOT, "deploy", "gunicorn.conf.py")
    env = {**os.environ, **PROD_ENV, "DATABASE_URL": url, "ACCESS_LOG": "", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_REPLICA_URL", None)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", conf, "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while phone.http(port, "GET", "/api/v1/health", timeout=2)[0] != 200:
            if time.time() > deadline or web.poll() is not None:
                raise SystemExit("soak: gunicorn did not start")
            time.sleep(0.5)
        load = Load(port, users, args)
        load.login_all()
        import psycopg

        libpq = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq) as conn:
            have = conn.execute("SELECT count(*) FROM dispute").fetchone()[0]
        if have < args.backlog:
            print(f"backlog: registering {args.backlog - have} cases", flush=True)
            todo = queue.Queue()
            for _ in range(args.backlog - have):
                todo.put(1)

            def fill():
                while True:
                    try:
                        todo.get_nowait()
                    except queue.Empty:
                        return
                    load.sync_push()

            fillers = [threading.Thread(target=fill) for _ in range(6)]
            for t in fillers:
                t.start()
            for t in fillers:
                t.join()
        pg_pid = postmaster_pid(url)
        time.sleep(5)
        mem_start = snapshot(web.pid, pg_pid)
        samples = []
        warm: dict = {}
        last = [time.time()]

        def progress():
            if time.time() - last[0] >= 60:
                last[0] = time.time()
                snap = snapshot(web.pid, pg_pid)
                if not warm:
                    warm.update(snap)  # after a minute of load: pools and caches filled
                samples.append(
                    {
                        "at": round(time.time() - t0),
                        "gunicorn_private_mb": round(
                            sum(
                                v["private_mb"] for k, v in snap.items() if k.startswith("gunicorn")
                            ),
                            1,
                        ),
                        "postgres_private_mb": round(
                            sum(
                                v["private_mb"] for k, v in snap.items() if k.startswith("postgres")
                            ),
                            1,
                        ),
                    }
                )
                print(f"  {samples[-1]}", flush=True)

        print(f"load: {sum(RATES.values()):.1f} requests/s for {args.seconds:.0f} s", flush=True)
        t0 = time.time()
        result = run_load(load, args.seconds, args.drain, args.threads, progress)
        mem_end = snapshot(web.pid, pg_pid)
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "rates": RATES,
        "result": result,
        "memory_start": mem_start,
        "memory_after_1_min": warm,
        "memory_end": mem_end,
        "memory_samples": samples,
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "soak.json"), "w") as fh:
        json.dump(report, fh, indent=1, ensure_ascii=False)
    total = sum(r["sent"] for r in result.values())
    errors = sum(r["errors"] for r in result.values())
    print(f"\n{'kind':<10} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind, r in result.items():
        print(
            f"{kind:<10} {r['per_s']:>7} {r['median_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8} {r['errors']:>7}"
            + (f"  {r['statuses']}" if r["errors"] else "")
        )
    print(f"total {total} requests, {total / args.seconds:.1f}/s, errors {errors}")
    print("\nmemory (private MB) before the load → after 1 min → end:")
    for key in sorted(
        set(mem_start) | set(mem_end), key=lambda k: (k.split(":")[0], int(k.split(":")[1]))
    ):
        a, w, b = mem_start.get(key), warm.get(key), mem_end.get(key)
        print(
            f"  {key:<16} {a['private_mb'] if a else '-':>7} → {w['private_mb'] if w else '-':>7}"
            f" → {b['private_mb'] if b else '-':>7}  {(b or a)['cmd'][:50]}"
        )
    for sample in samples:
        print(f"  at {sample['at']:>4} s: {sample}")


if __name__ == "__main__":
    main()
