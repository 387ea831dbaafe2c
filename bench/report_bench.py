"""Monthly report benchmark with 1,000,000 cases: the township and the county report through the
product's code next to one raw SQL statement computing the same totals; plus the streamed XLSX
export's peak memory at growing row counts.

    make bench-report            # ARGS="--cases 1000000 --rounds 5 --export-rows 10000,100000"

Runs in the bench database (BENCH_DATABASE_URL); generates the cases once (bench/dataset.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, "bench", "results")


def raw_statement(parent: str, level: str) -> str:
    """One statement: every grouped aggregation of the report as CTEs joined on the area."""
    from mediation.reports import metrics

    queries = metrics._queries(metrics.GROUP_COLUMN[level], metrics._where(parent))
    ctes = [f"{name} AS ({sql})" for name, sql in queries.items()]
    scalar = ["cases", "agreements", "visits", "visits_due", "escalations", "events"]
    breakdown = ["by_source", "by_category"]
    joins = " ".join(f"FULL JOIN {n} USING (area)" for n in scalar[1:])
    extra = ", ".join(
        f"(SELECT jsonb_object_agg(key, n) FROM {b} WHERE {b}.area = cases.area) AS {b}_json"
        for b in breakdown
    )
    sql = f"WITH {', '.join(ctes)} SELECT *, {extra} FROM cases {joins}"
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)  # psycopg placeholders


def timed(fn, rounds: int) -> list[float]:
    """Wall times in milliseconds."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(times: list[float]) -> dict:
    """Median and p95 (ms)."""
    s = sorted(times)
    return {
        "median_ms": round(statistics.median(s), 1),
        "p95_ms": round(s[min(len(s) - 1, round(0.95 * (len(s) - 1)))], 1),
    }


def export_child(rows: int) -> None:
    """Child process: stream `rows` rows of the county's overdue list into an XLSX; print the
    peak RSS."""
    from api import create_app
    from clock import utcnow
    from extensions import db
    from geo.scope import AreaScope
    from mediation.reports import console, exports

    app = create_app("development")
    with app.app_context():
        county = db.session.execute(
            db.text("SELECT code FROM area WHERE level = 'county' AND valid_to IS NULL LIMIT 1")
        ).scalar()
        t0 = time.perf_counter()
        it = console.supervision_rows(
            db.session,
            kind="overdue",
            scope=AreaScope(frozenset({county})),
            area=county,
            sort="due",
            now=utcnow(),
            limit=rows,
        )
        out = exports.xlsx_list(console.LIST_COLUMNS["overdue"], it, title="逾期案件")
        size = len(out.read())
        elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": round(elapsed, 2),
                "xlsx_bytes": size,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--export-rows", default="10000,100000")
    ap.add_argument("--export-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (use `make bench-report`)")
    os.environ["DATABASE_URL"] = url
    if args.export_child:
        export_child(args.export_child)
        return

    import psycopg

    from bench.dataset import ensure_cases

    made = ensure_cases(url, args.cases)
    print(f"cases in the database: {made['cases']:,}", file=sys.stderr)

    from api import create_app
    from clock import utcnow
    from extensions import db
    from mediation.reports import metrics, service

    app = create_app("development")
    settings = service.ReportSettings()
    now = utcnow()
    month = service.report_month_of(now)
    period = service.covered_period(month)
    raw = url.replace("+psycopg", "")
    rows = []
    with app.app_context(), psycopg.connect(raw) as conn:
        township, county = db.session.execute(
            db.text(
                """SELECT d.township_code, d.county_code FROM dispute d
                   WHERE d.case_number LIKE 'BENCH-%' GROUP BY 1, 2 ORDER BY count(*) DESC
                   LIMIT 1"""
            )
        ).one()
        params = {
            "prefix": None,
            "start": period.start_at,
            "end": period.end_at,
            "end_day": period.end,
            "first_visit_days": settings.first_visit_days,
        }
        for label, parent, level, fn in (
            (
                "township report (villages + screening + RED/ORANGE list)",
                township,
                "village",
                lambda t=township: service.village_figures(
                    db.session, township=t, month=month, settings=settings
                ),
            ),
            (
                "county report (townships + screening)",
                county,
                "township",
                lambda c=county: (
                    metrics.area_rows(db.session, parent=c, level="township", period=period),
                    service._screening(db.session, parent=c, level="township", period=period),
                ),
            ),
        ):
            sql = raw_statement(parent, level)
            p = {**params, "prefix": parent}
            fn()  # warm
            conn.execute(sql, p).fetchall()
            product = summary(timed(fn, args.rounds))
            baseline = summary(timed(lambda s=sql, q=p: conn.execute(s, q).fetchall(), args.rounds))
            rows.append(
                {
                    "scenario": label,
                    "area": parent,
                    "product": product,
                    "raw_sql": baseline,
                    "ratio": round(product["median_ms"] / baseline["median_ms"], 2),
                }
            )
            db.session.rollback()
    exports_ = []
    for n in [int(x) for x in args.export_rows.split(",") if x]:
        out = subprocess.run(
            [sys.executable, __file__, "--export-child", str(n)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        exports_.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(
        f"\nmonthly report {month} (period {period.start} … {period.end}), "
        f"{made['cases']:,} cases, {os.cpu_count()} cores"
    )
    print(f"{'scenario':58} {'product med/p95 ms':>20} {'raw SQL med/p95 ms':>20} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['scenario']:58} {r['product']['median_ms']:>9}/{r['product']['p95_ms']:<10}"
            f" {r['raw_sql']['median_ms']:>9}/{r['raw_sql']['p95_ms']:<10} {r['ratio']:>6}"
        )
    print("\nstreamed XLSX export of the county's overdue list:")
    for e in exports_:
        print(f"  {e['rows']:>8,} rows  {e['seconds']:>6} s  peak RSS {e['peak_rss_mb']} MB")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"report-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(
            {"cases": made["cases"], "reports": rows, "exports": exports_}, f, indent=2, default=str
        )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
