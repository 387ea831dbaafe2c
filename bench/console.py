"""The console's pages on the demo county: p50/p95 HTML time per page, and what the whole-county
village choropleth weighs (raw and gzip).

    scripts/dev.sh bench console                 # 30 requests per page, 300 seeded cases
    scripts/dev.sh bench console --requests 60 --cases 1000 --keep
    scripts/dev.sh bench console --bench-data     # the province of `make bench-data`

Runs in process (Flask test client, no network) against DATABASE_URL — the demo database that
`make run` loads (诸暨市 and the demo accounts). The demo has no cases, so the script registers
`--cases` of them through the API as the county centre (30 % in 枫桥镇, a tenth assessed RED),
and removes them afterwards unless `--keep`. Target (issue 18): every page ≤ 200 ms at p95 on
this machine; the county choropleth ≤ 500 KB transferred.

With `--bench-data` it reads BENCH_DATABASE_URL instead (the province of `make bench-data`:
1,000,000 cases; nothing is seeded or removed) in the production configuration, and times the
console's dashboard pages — the busiest township's (as its centre staff, `bcs<township>`) and
its county's (`bca<county>`) — and the township's screening coverage page. Target (issue 18): a
township's dashboard ≤ 1 s with 1,000,000 cases in the database.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mediation.demo import DEMO_PASSWORD as PASSWORD  # noqa: E402

COUNTY, TOWNSHIP = "330681", "330681109"
MARK = "〔console-bench〕"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _app():
    os.environ.setdefault("RATELIMIT_ENABLED", "0")
    from api import create_app

    return create_app("development")


def _console_client(
    app, username: str, password: str = PASSWORD, base_url: str = "http://localhost"
):
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = base_url.split("://", 1)[1]
    client.environ_base["wsgi.url_scheme"] = base_url.split("://", 1)[0]
    token = CSRF.search(client.get("/console/login").get_data(as_text=True)).group(1)
    r = client.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": token}
    )
    if r.status_code != 302:
        sys.exit(f"登录失败（{username}）：请先运行 make run 或 flask demo load 载入演示账号")
    return client


def _seed(app, n: int) -> list[str]:
    from sqlalchemy import text

    from core.db import db

    api = app.test_client()
    r = api.post("/api/v1/auth/login", json={"username": "county_zj", "password": PASSWORD})
    if r.status_code != 200:
        sys.exit("登录失败（county_zj）：请先运行 make run 或 flask demo load 载入演示账号")
    headers = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
    with app.app_context():
        points = db.session.execute(
            text("""SELECT code, ST_X(p) AS x, ST_Y(p) AS y FROM (
                      SELECT code, ST_PointOnSurface(geom) AS p FROM grid_cell
                      WHERE valid_to IS NULL) s ORDER BY code""")
        ).all()
    near = [p for p in points if p.code.startswith(TOWNSHIP)]
    rng = random.Random(18)
    ids = []
    now = datetime.now(UTC)
    for i in range(n):
        p = rng.choice(near if i % 10 < 3 else points)
        body = {
            "client_id": str(uuid.uuid4()),
            "location": {"lon": p.x, "lat": p.y, "crs": "wgs84"},
            "occurred_at": (now - timedelta(days=rng.randint(0, 150), hours=1)).isoformat(),
            "category": rng.choice(["01", "02", "03", "04", "06", "07", "10"]),
            "key_areas": rng.sample(["涉农问题", "征地拆迁", "社会保障与欠薪"], k=1),
            "source": "grid_patrol",
            "description": f"{MARK}第{i + 1}件：两户因排水沟堵塞发生争执",
            "people_involved": rng.randint(2, 8),
            "parties": [
                {"role": "applicant", "kind": "person", "name": "张三", "phone": "13800138000"},
                {"role": "respondent", "kind": "person", "name": "李四"},
            ],
        }
        r = api.post("/api/v1/disputes", json=body, headers=headers)
        if r.status_code != 201:
            sys.exit(f"登记失败：{r.status_code} {r.get_data(as_text=True)[:300]}")
        case = r.get_json()
        ids.append(case["id"])
        if i % 10 == 0:
            api.post(
                f"/api/v1/disputes/{case['id']}/actions/assess_risk",
                json={"likelihood": 5, "severity": 4, "expected_version": case["version"]},
                headers=headers,
            )
    return ids


def _remove(app) -> int:
    from sqlalchemy import text

    from core.db import db

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only"))
        n = conn.execute(
            text("DELETE FROM dispute WHERE description LIKE :m"), {"m": f"{MARK}%"}
        ).rowcount
        conn.execute(text("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only"))
    return n


def _time(client, path: str, n: int) -> tuple[list[float], int, int]:
    r = client.get(path)  # warm-up (and the status check)
    status, size = r.status_code, len(r.get_data())
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        r.get_data()
        times.append((time.perf_counter() - t0) * 1000)
    return times, status, size


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def _report(pages, requests: int, target_ms: float) -> dict[str, float]:
    print(f"\n{'page':<44} {'status':>6} {'KB':>8} {'p50 ms':>8} {'p95 ms':>8}")
    p95s = {}
    for name, client, path in pages:
        times, status, size = _time(client, path, requests)
        p95s[name] = _p95(times)
        print(
            f"{name:<44} {status:>6} {size / 1024:>8.1f} "
            f"{statistics.median(times):>8.1f} {p95s[name]:>8.1f}"
        )
    print(f"\nworst p95: {max(p95s.values()):.1f} ms (target ≤ {target_ms:.0f} ms)")
    return p95s


def bench_dashboards(requests: int) -> None:
    """The console's dashboards on the province of `make bench-data` (see the module docstring)."""
    if not os.environ.get("BENCH_DATABASE_URL"):
        sys.exit("BENCH_DATABASE_URL is not set (run `scripts/dev.sh bench console --bench-data`)")
    from bench.dataset import PASSWORD as BENCH_PASSWORD
    from bench.run import PROD_ENV

    os.environ.update(PROD_ENV)
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    from sqlalchemy import text

    from api import create_app
    from core.db import db

    app = create_app("production")
    with app.app_context():
        cases = db.session.scalar(text("SELECT count(*) FROM dispute"))
        township = db.session.scalar(
            text(
                """SELECT township_code FROM dispute
                   WHERE registered_at > now() - interval '90 days'
                     AND case_number LIKE 'BENCH-%'
                   GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
            )
        )
        in_township = db.session.scalar(
            text("SELECT count(*) FROM dispute WHERE township_code = :t"), {"t": township}
        )
        db.session.remove()
    if township is None:
        sys.exit("no benchmark cases: run `make bench-data` first")
    print(f"{cases:,} cases in the database; township {township}: {in_township:,} cases")
    from core.clock import BUSINESS_TZ

    today = datetime.now(UTC).astimezone(BUSINESS_TZ).date()
    year_ago = (today - timedelta(days=364)).isoformat()
    # production: the session cookie is Secure, so the client speaks https
    centre = _console_client(app, f"bcs{township}", BENCH_PASSWORD, "https://localhost")
    county = _console_client(app, f"bca{township[:6]}", BENCH_PASSWORD, "https://localhost")
    pages = [
        (f"统计 dashboard township (bcs{township})", centre, "/console/dashboard"),
        (f"统计 dashboard county (bca{township[:6]})", county, "/console/dashboard"),
        (
            f"统计 township, last 12 months (bcs{township})",
            centre,
            f"/console/dashboard?from={year_ago}",
        ),
        (
            f"统计 county, last 12 months (bca{township[:6]})",
            county,
            f"/console/dashboard?from={year_ago}",
        ),
        (f"排查覆盖 screening township (bcs{township})", centre, "/console/screening"),
        (f"排查覆盖 screening county (bca{township[:6]})", county, "/console/screening"),
    ]
    p95s = _report(pages, requests, 1000.0)
    township_p95 = max(p95s[name] for name, client, _ in pages if client is centre)
    verdict = "met" if township_p95 <= 1000 else "NOT met"
    print(
        f"township pages at {cases:,} cases: p95 ≤ {township_p95:.1f} ms "
        f"(target ≤ 1000 ms: {verdict})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=30, help="timed requests per page")
    ap.add_argument("--cases", type=int, default=300, help="cases to seed in the demo county")
    ap.add_argument("--keep", action="store_true", help="keep the seeded cases")
    ap.add_argument(
        "--bench-data",
        action="store_true",
        help="time the dashboards on the province of `make bench-data` (BENCH_DATABASE_URL)",
    )
    args = ap.parse_args()
    if args.bench_data:
        bench_dashboards(args.requests)
        return
    app = _app()
    removed = _remove(app)  # a previous run's leftovers
    t0 = time.perf_counter()
    ids = _seed(app, args.cases)
    print(
        f"seeded {len(ids)} cases in {time.perf_counter() - t0:.1f} s"
        + (f" (removed {removed} left over)" if removed else "")
    )
    centre = _console_client(app, "center_fq")
    leader = _console_client(app, "leader_fq")
    village = _console_client(app, "village_fq")
    county = _console_client(app, "county_zj")
    pages = [
        ("队列 queue (center_fq)", centre, "/console/queue"),
        ("案件列表 cases (center_fq)", centre, "/console/cases"),
        ("案件列表 filtered (center_fq)", centre, "/console/cases?risk_level=red&overdue=false"),
        ("案件 case file (center_fq)", centre, "/console/cases/{case}"),
        ("统计 dashboard township (leader_fq)", leader, "/console/dashboard"),
        ("统计 dashboard county (county_zj)", county, "/console/dashboard"),
        ("地图 map page (leader_fq)", leader, "/console/map"),
        ("地图 villages json township", leader, "/console/map/areas.json"),
        ("地图 cases json township", leader, "/console/map/cases.json"),
        ("月报 reports village (village_fq)", village, "/console/reports"),
        ("月报 reports township (center_fq)", centre, "/console/reports"),
        ("排查覆盖 screening township (center_fq)", centre, "/console/screening"),
        ("排查覆盖 screening village (village_fq)", village, "/console/screening"),
        ("提醒 inbox (center_fq)", centre, "/console/inbox"),
    ]
    township_case = next(
        (i for i in ids if centre.get(f"/console/cases/{i}").status_code == 200), ids[0]
    )
    print(f"\n{'page':<40} {'status':>6} {'KB':>8} {'p50 ms':>8} {'p95 ms':>8}")
    worst = 0.0
    for name, client, path in pages:
        times, status, size = _time(client, path.format(case=township_case), args.requests)
        p95 = _p95(times)
        worst = max(worst, p95)
        print(
            f"{name:<40} {status:>6} {size / 1024:>8.1f} "
            f"{statistics.median(times):>8.1f} {p95:>8.1f}"
        )
    print(f"\nworst p95: {worst:.1f} ms (target ≤ 200 ms)")
    for label, client, path in (
        ("whole county (518 villages)", county, f"/console/map/areas.json?area={COUNTY}"),
        ("枫桥镇 (villages)", leader, "/console/map/areas.json"),
    ):
        r = client.get(path, headers={"Accept-Encoding": "gzip"})
        body = r.get_data()
        gz = len(body) if r.headers.get("Content-Encoding") == "gzip" else len(gzip.compress(body))
        raw = (
            len(gzip.decompress(body)) if r.headers.get("Content-Encoding") == "gzip" else len(body)
        )
        print(
            f"choropleth {label}: {raw / 1024:.0f} KB raw, {gz / 1024:.0f} KB gzip"
            + (" (target ≤ 500 KB)" if "county" in label else "")
        )
    if not args.keep:
        print(f"removed {_remove(app)} seeded cases")


if __name__ == "__main__":
    main()
