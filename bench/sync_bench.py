"""Sync pull benchmark: a phone pulls 100 changes while the database holds 1,000,000 cases (and
the change log the triggers wrote for them), with changes of other villages interleaved.

    make bench-sync             # ARGS="--cases 1000000 --rounds 20 --noise 5000"

Runs in its own database (BENCH_DATABASE_URL). Cases are made with set-based SQL
(INSERT … SELECT generate_series) when fewer exist, and kept for the next run.
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

VILLAGES = 1000  # 1,000 villages × 10 cells; a village holds 1/1000 of the cases
USER = """
INSERT INTO user_account (username, display_name, password_hash)
VALUES ('bench_sync', 'bench', 'x') ON CONFLICT (username) DO NOTHING
"""
FILL = """
INSERT INTO dispute (id, case_number, content_hash, version, status, handling_level, cell_code,
                     village_code, township_code, county_code, location, locate_match,
                     occurred_at, registered_at, registered_by, source, category, key_areas,
                     description, people_involved, risk_level, risk_score, group_dispute,
                     recurrence_count, visits_done)
SELECT gen_random_uuid(), 'B-' || g, 'bench', 1, 'registered', 'village',
       v || lpad((1 + g %% 10)::text, 3, '0'), v, left(v, 9), left(v, 6),
       ST_SetSRID(ST_MakePoint(120.2 + (g %% 1000) * 0.0005, 29.6 + (g / 1000 %% 1000) * 0.0005), 4326),
       'inside', now() - interval '3 days', now() - interval '2 days', %(user)s, 'grid_patrol',
       '02', '{}', '基准测试案件', 2, 'blue', 2, false, 0, 0
FROM (SELECT g, '330681' || lpad((100 + (g / 10 %% %(villages)s) / 50)::text, 3, '0')
                 || lpad((200 + (g / 10 %% %(villages)s) %% 50)::text, 3, '0') AS v
      FROM generate_series(%(start)s, %(stop)s) g) s
"""
# One transaction: 100 changes in the phone's village (the ones it must get), `noise` elsewhere.
CHANGE = """
UPDATE dispute SET version = version + 1, updated_at = now()
WHERE id IN (SELECT id FROM dispute WHERE village_code = %(v)s ORDER BY random() LIMIT %(n)s)
"""
NOISE = """
UPDATE dispute SET version = version + 1, updated_at = now()
WHERE id IN (SELECT id FROM dispute WHERE village_code <> %(v)s
             AND case_number LIKE 'B-%%' LIMIT %(n)s)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--noise", type=int, default=5000)
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (use `make bench-sync`)")
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"}
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True)

    import psycopg

    from api import create_app
    from extensions import db
    from mediation.sync import cursor as cursors
    from mediation.sync import service
    from mediation.users.actor import Actor

    raw = url.replace("+psycopg", "")
    os.environ["DATABASE_URL"] = url
    app = create_app("development")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(USER)
        user = conn.execute("SELECT id FROM user_account WHERE username = 'bench_sync'").fetchone()[
            0
        ]
        have = conn.execute("SELECT count(*) FROM dispute").fetchone()[0]
        t0 = time.perf_counter()
        step = 100_000
        while have < args.cases:
            stop = min(args.cases, have + step)
            conn.execute(
                FILL, {"start": have + 1, "stop": stop, "user": user, "villages": VILLAGES}
            )
            have = stop
            print(f"  {have:,} cases", file=sys.stderr)
        fill_s = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE dispute")
        conn.execute("VACUUM ANALYZE sync_change")
        village = conn.execute(
            "SELECT village_code FROM dispute WHERE case_number LIKE 'B-%' LIMIT 1"
        ).fetchone()[0]
        in_village = conn.execute(
            "SELECT count(*) FROM dispute WHERE village_code = %s", (village,)
        ).fetchone()[0]
        log_rows = conn.execute("SELECT count(*) FROM sync_change").fetchone()[0]

    # A village mediator who is not the registrant (registered_by would make every case visible).
    actor = Actor(
        user_id=user + 10**6,
        username="bench_mediator",
        display_name="bench",
        roles={"mediator": frozenset({village})},
    )
    now = datetime.now(UTC)

    def pull(cursor, limit=100):
        with app.app_context():
            t = time.perf_counter()
            page = service.pull_changes(
                db.session, actor=actor, cursor=cursor, limit=limit, now=now, config={}
            )
            elapsed = time.perf_counter() - t
            db.session.remove()
        return page, elapsed

    first_times = []
    for _ in range(args.rounds):
        page, elapsed = pull(None)
        assert len(page["changes"]) == min(100, in_village)
        first_times.append(elapsed)

    times = []
    for _ in range(args.rounds):
        with app.app_context():
            start = cursors.encode(
                cursors.Position(service.horizon(db.session) - 1, cursors.MAX_ID)
            )
            db.session.remove()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(NOISE, {"v": village, "n": args.noise // 2})
            conn.execute(CHANGE, {"v": village, "n": 100})
            conn.execute(NOISE, {"v": village, "n": args.noise // 2})
        page, elapsed = pull(start)
        assert len(page["changes"]) == 100, len(page["changes"])
        times.append(elapsed)

    def p95(xs):
        return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]

    result = {
        "cases": have,
        "change_log_rows": log_rows,
        "cases_in_village": in_village,
        "noise_changes_per_round": args.noise,
        "fill_seconds": round(fill_s, 1),
        "incremental_100_median_ms": round(statistics.median(times) * 1000, 1),
        "incremental_100_p95_ms": round(p95(times) * 1000, 1),
        "first_page_100_median_ms": round(statistics.median(first_times) * 1000, 1),
        "first_page_100_p95_ms": round(p95(first_times) * 1000, 1),
    }
    print()
    print(
        f"{have:,} cases, {log_rows:,} change-log rows, {in_village:,} in the phone's village, "
        f"{args.noise:,} changes elsewhere per round"
    )
    print("pull of 100 changes      | median (ms) | p95 (ms)")
    print(
        f"incremental (from log)   | {result['incremental_100_median_ms']} | "
        f"{result['incremental_100_p95_ms']}"
    )
    print(
        f"first sync, first page   | {result['first_page_100_median_ms']} | "
        f"{result['first_page_100_p95_ms']}"
    )
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "sync.json"), "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
