"""Reminder sweep benchmark: the same number of due rows with 100,000 and with 10,000,000 non-due
rows in the table. The sweep's cost should follow the due rows (partial index), so the ratio
should be close to 1.

    make bench-sweep            # ARGS="--due 2000 --big 10000000"

Runs in its own database (BENCH_DATABASE_URL), in a table state it builds and removes itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FILL = """
INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at, remind_at, state,
                      title, body, created_at, fired_at)
SELECT 'bench:bg:' || g, 'acceptance', '330681109', 'center_staff', '330681109',
       now() + interval '30 days', now() + (1 + g %% 1000) * interval '1 hour',
       (ARRAY['pending', 'sent', 'acknowledged', 'cancelled'])[1 + g %% 4], 'bench', '{}'::jsonb, now(),
       CASE WHEN g %% 4 IN (1, 2) THEN now() END
FROM generate_series(%(start)s, %(stop)s) g
"""
DUE = """
INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at, remind_at, state,
                      title, body, created_at)
SELECT 'bench:due:' || %(round)s || ':' || g, 'acceptance', '330681109', 'center_staff', '330681109',
       now(), now() - interval '1 minute', 'pending', 'bench', '{}'::jsonb, now()
FROM generate_series(1, %(n)s) g
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--due", type=int, default=2000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (use `make bench-sweep`)")
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True)

    import psycopg

    from api import create_app
    from extensions import db
    from mediation.reminders import service

    raw = url.replace("+psycopg", "")
    os.environ["DATABASE_URL"] = url
    app = create_app("development")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("DELETE FROM reminder WHERE key LIKE 'bench:%'")
    results = []
    filled = 0
    for label, size in (("small", args.small), ("big", args.big)):
        t0 = time.perf_counter()
        with psycopg.connect(raw, autocommit=True) as conn:
            step = 1_000_000
            while filled < size:
                stop = min(size, filled + step)
                conn.execute(FILL, {"start": filled + 1, "stop": stop})
                filled = stop
                print(f"  {label}: {filled:,} background rows", file=sys.stderr)
            conn.execute("VACUUM ANALYZE reminder")
        fill_s = time.perf_counter() - t0
        times = []
        for r in range(args.rounds):
            with psycopg.connect(raw, autocommit=True) as conn:
                conn.execute(DUE, {"round": f"{label}{r}", "n": args.due})
                conn.execute("ANALYZE reminder")
            with app.app_context():
                t = time.perf_counter()
                fired = service.sweep(db.session, now=datetime.now(UTC), webhook=False)
                times.append(time.perf_counter() - t)
                db.session.remove()
            assert fired == args.due, (fired, args.due)
        results.append(
            {
                "table_rows": size,
                "due_rows": args.due,
                "fill_seconds": round(fill_s, 1),
                "sweep_median_s": round(statistics.median(times), 4),
                "sweep_min_s": round(min(times), 4),
            }
        )
    ratio = results[1]["sweep_median_s"] / results[0]["sweep_median_s"]
    print()
    print("table rows | due rows | sweep median (s) | sweep min (s)")
    for r in results:
        print(
            f"{r['table_rows']:,} | {r['due_rows']:,} | {r['sweep_median_s']} | {r['sweep_min_s']}"
        )
    print(f"ratio big/small: {ratio:.2f}")
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "sweep.json"), "w") as fh:
        json.dump({"results": results, "ratio": round(ratio, 2)}, fh, indent=1)
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("DELETE FROM reminder WHERE key LIKE 'bench:%'")


if __name__ == "__main__":
    main()
