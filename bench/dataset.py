"""Bulk case generator for benchmarks: N cases over three years on the real county's cells, with
agreements, visits, escalations, audit events and risk assessments in realistic shares.

    python bench/dataset.py --cases 1000000      # (make bench-report runs it when needed)

Set-based SQL in chunks (INSERT … SELECT generate_series), never one ORM insert per row. Cases
are numbered `BENCH-…` so they can be told apart (and removed with --reset).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CELLS = """
DROP TABLE IF EXISTS bench_cell;
CREATE UNLOGGED TABLE bench_cell AS
SELECT row_number() OVER (ORDER BY code) - 1 AS i, code, ST_PointOnSurface(geom) AS pt
FROM grid_cell WHERE valid_to IS NULL;
CREATE UNIQUE INDEX ON bench_cell (i);
ANALYZE bench_cell;
"""

# Shares (per mille) of statuses; the rest of each case follows from its status.
CASES = """
WITH g AS (
  SELECT n, hashint8(n) AS h, abs(hashint8(n * 7919)) AS h2,
         now() - (abs(hashint8(n * 31)) % (1095 * 86400)) * interval '1 second' AS reg
  FROM generate_series(%(start)s::bigint, %(stop)s::bigint) n),
s AS (
  SELECT g.*, c.code AS cell, c.pt,
    CASE WHEN abs(h) % 1000 < 450 THEN 'resolved' WHEN abs(h) % 1000 < 550 THEN 'archived'
         WHEN abs(h) % 1000 < 630 THEN 'mediating' WHEN abs(h) % 1000 < 660 THEN 'agreed'
         WHEN abs(h) % 1000 < 700 THEN 'follow_up' WHEN abs(h) % 1000 < 730 THEN 'registered'
         WHEN abs(h) % 1000 < 760 THEN 'accepted' WHEN abs(h) % 1000 < 810 THEN 'rejected'
         WHEN abs(h) % 1000 < 870 THEN 'terminated' WHEN abs(h) % 1000 < 920 THEN 'withdrawn'
         WHEN abs(h) % 1000 < 960 THEN 'referred' ELSE 'reopened' END AS status,
    CASE WHEN h2 % 100 < 55 THEN 'grid' WHEN h2 % 100 < 80 THEN 'village'
         WHEN h2 % 100 < 95 THEN 'township' ELSE 'county' END AS lvl,
    CASE WHEN h2 % 1000 < 50 THEN 'red' WHEN h2 % 1000 < 150 THEN 'orange'
         WHEN h2 % 1000 < 400 THEN 'yellow' ELSE 'blue' END AS risk,
    (ARRAY['01','02','02','02','03','03','04','04','05','06','07','08','09','10','10','11',
           '12','13','14','20','99'])[1 + (h2 / 7) % 21] AS category,
    (ARRAY['grid_patrol','grid_patrol','grid_patrol','party_application','party_application',
           'police_transfer','court_entrusted','gov_assigned','hotline','other'])[1 + (h2 / 11) % 10]
      AS source,
    (1 + (h2 / 13) % 60) * interval '1 day' AS took
  FROM g JOIN bench_cell c ON c.i = abs(g.h) % (SELECT count(*) FROM bench_cell))
INSERT INTO dispute (id, case_number, content_hash, version, status, handling_level, resolved_level,
  cell_code, village_code, township_code, county_code, location, locate_match, occurred_at,
  registered_at, registered_by, source, category, key_areas, description, people_involved,
  amount, risk_level, risk_score, group_dispute, red_since, accepted_at, mediation_started_at,
  agreed_at, resolved_at, closed_at, recurrence_count, next_due_at, next_due_kind, visits_done,
  created_at, updated_at)
SELECT gen_random_uuid(), 'BENCH-' || n, md5(n::text), 3, status,
  CASE WHEN status = 'referred' THEN 'referred' ELSE lvl END,
  CASE WHEN status IN ('resolved', 'archived') THEN lvl END,
  cell, left(cell, 12), left(cell, 9), left(cell, 6), pt, 'exact', reg - interval '2 hours', reg,
  %(user)s, source, category,
  CASE WHEN h2 % 5 = 0 THEN ARRAY['涉农问题'] WHEN h2 % 5 = 1 THEN ARRAY['社会保障与欠薪']
       ELSE ARRAY[]::varchar[] END,
  '基准测试数据', 2 + (h2 / 17) % 40, ((h2 / 19) % 100000)::numeric,
  risk, CASE risk WHEN 'red' THEN 20 WHEN 'orange' THEN 12 WHEN 'yellow' THEN 6 ELSE 2 END,
  (h2 / 23) % 50 = 0, CASE WHEN risk = 'red' THEN reg END,
  CASE WHEN status NOT IN ('registered', 'rejected') THEN reg + interval '1 day' END,
  CASE WHEN status NOT IN ('registered', 'rejected', 'accepted') THEN reg + interval '2 days' END,
  CASE WHEN status IN ('resolved', 'archived', 'agreed', 'follow_up', 'reopened')
       THEN reg + took / 2 END,
  CASE WHEN status IN ('resolved', 'archived') THEN reg + took END,
  CASE WHEN status IN ('resolved', 'archived', 'rejected', 'terminated', 'withdrawn', 'referred')
       THEN reg + took END,
  CASE WHEN status = 'reopened' THEN 1 ELSE 0 END,
  CASE WHEN status IN ('registered', 'accepted', 'mediating', 'agreed', 'follow_up', 'reopened')
       THEN reg + interval '30 days' END,
  CASE WHEN status IN ('registered') THEN 'acceptance'
       WHEN status IN ('accepted', 'mediating', 'reopened') THEN 'mediation'
       WHEN status IN ('agreed', 'follow_up') THEN 'follow_up_visit' END,
  CASE WHEN status IN ('resolved', 'archived', 'follow_up', 'reopened') THEN 1 ELSE 0 END,
  reg, reg + took
FROM s
"""

CHILDREN = [
    """INSERT INTO agreement (dispute_id, form, terms, performance_method, performance_deadline,
         performed_immediately, amount, recorded_by, created_at)
       SELECT id, CASE WHEN hashtext(case_number) % 3 = 0 THEN 'oral' ELSE 'written' END, '协议',
         '转账', (agreed_at AT TIME ZONE 'Asia/Shanghai')::date + 10, false, amount, %(user)s,
         agreed_at
       FROM dispute WHERE case_number LIKE 'BENCH-%' AND agreed_at IS NOT NULL""",
    """INSERT INTO follow_up_visit (dispute_id, visited_at, method, result, satisfaction,
         visitor_id, status_before, status_after, created_at)
       SELECT id, coalesce(resolved_at, agreed_at + interval '12 days'), 'in_person',
         CASE WHEN status IN ('resolved', 'archived') THEN 'performed' ELSE 'not_performed' END,
         CASE WHEN hashtext(case_number) % 10 < 8 THEN 'satisfied' ELSE 'basically' END,
         %(user)s, 'follow_up',
         CASE WHEN status IN ('resolved', 'archived') THEN 'resolved' ELSE 'reopened' END,
         coalesce(resolved_at, agreed_at + interval '12 days')
       FROM dispute WHERE case_number LIKE 'BENCH-%'
         AND status IN ('resolved', 'archived', 'follow_up', 'reopened')""",
    """INSERT INTO escalation (dispute_id, direction, from_level, to_level, reason, status,
         requested_by, requested_at, decided_by, decided_at)
       SELECT id, 'up', 'village', handling_level, '上报', 'accepted', %(user)s,
         accepted_at + interval '1 day', %(user)s, accepted_at + interval '2 days'
       FROM dispute WHERE case_number LIKE 'BENCH-%' AND handling_level IN ('township', 'county')
         AND accepted_at IS NOT NULL""",
    """INSERT INTO risk_assessment (dispute_id, likelihood, severity, score, level,
         forced_reasons, assessed_by, assessed_at)
       SELECT id, 2, 2, risk_score, risk_level,
         CASE WHEN risk_level = 'red' AND hashtext(case_number) % 2 = 0 THEN ARRAY['violence_threat']
              WHEN risk_level = 'red' THEN ARRAY['collective_petition'] ELSE ARRAY[]::varchar[] END,
         %(user)s, registered_at
       FROM dispute WHERE case_number LIKE 'BENCH-%'""",
    """INSERT INTO dispute_event (dispute_id, seq, action, actor_id, at, from_status, to_status,
         changes)
       SELECT id, 1, 'register', %(user)s, registered_at, NULL, 'registered', '{}'::jsonb
       FROM dispute WHERE case_number LIKE 'BENCH-%'
       UNION ALL
       SELECT id, 2, 'accept', %(user)s, accepted_at, 'registered', 'accepted', '{}'::jsonb
       FROM dispute WHERE case_number LIKE 'BENCH-%' AND accepted_at IS NOT NULL
       UNION ALL
       SELECT id, 3,
         CASE status WHEN 'terminated' THEN 'terminate' WHEN 'referred' THEN 'refer'
           WHEN 'withdrawn' THEN 'withdraw' WHEN 'reopened' THEN 'record_visit' ELSE 'reject' END,
         %(user)s, coalesce(closed_at, registered_at + interval '20 days'),
         'mediating', status, '{}'::jsonb
       FROM dispute WHERE case_number LIKE 'BENCH-%'
         AND status IN ('terminated', 'referred', 'withdrawn', 'reopened', 'rejected')""",
]


def _sql(sql: str) -> str:
    """Escape the modulo signs for psycopg, keep the %(name)s placeholders."""
    return sql.replace("%", "%%").replace("%%(", "%(")


def bench_user(conn) -> int:
    """The account the generated rows are recorded by."""
    row = conn.execute("SELECT id FROM user_account WHERE username = 'bench'").fetchone()
    if row:
        return row[0]
    return conn.execute(
        """INSERT INTO user_account (username, display_name, password_hash, is_active,
             created_at, updated_at, failed_logins, password_changed_at)
           VALUES ('bench', '基准测试', 'x', false, now(), now(), 0, now()) RETURNING id"""
    ).fetchone()[0]


def existing(conn) -> int:
    """How many generated cases the database holds."""
    return conn.execute("SELECT count(*) FROM dispute WHERE case_number LIKE 'BENCH-%'").fetchone()[
        0
    ]


def ensure_cases(url: str, n: int, *, chunk: int = 100_000, reset: bool = False) -> dict:
    """Make the database hold exactly-or-more `n` generated cases (county loaded first)."""
    import click
    import psycopg

    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"}
    raw = url.replace("+psycopg", "")
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(raw, autocommit=True) as conn:
        loaded = conn.execute("SELECT EXISTS (SELECT 1 FROM grid_cell)").fetchone()[0]
    if not loaded:
        subprocess.run(
            [sys.executable, "-m", "flask", "demo", "load"], cwd=ROOT, env=env, check=True
        )
    with psycopg.connect(raw, autocommit=True) as conn:
        if reset:
            conn.execute("ALTER TABLE dispute_event DISABLE TRIGGER USER")
            conn.execute("DELETE FROM dispute WHERE case_number LIKE 'BENCH-%'")
            conn.execute("ALTER TABLE dispute_event ENABLE TRIGGER USER")
        have = existing(conn)
        if have >= n:
            return {"cases": have, "generated": 0, "seconds": 0.0}
        if have:
            conn.execute("ALTER TABLE dispute_event DISABLE TRIGGER USER")
            conn.execute("DELETE FROM dispute WHERE case_number LIKE 'BENCH-%'")
            conn.execute("ALTER TABLE dispute_event ENABLE TRIGGER USER")
        user = bench_user(conn)
        t0 = time.perf_counter()
        conn.execute(CELLS)
        with click.progressbar(
            range(0, n, chunk), label=f"生成 {n:,} 件案件", file=sys.stderr
        ) as bar:
            for start in bar:
                conn.execute(
                    _sql(CASES), {"start": start + 1, "stop": min(n, start + chunk), "user": user}
                )
        with click.progressbar(
            CHILDREN, label="协议、回访、上报、研判、事件", file=sys.stderr
        ) as bar:
            for sql in bar:
                conn.execute(_sql(sql), {"user": user})
        conn.execute("DROP TABLE bench_cell")
        for table in (
            "dispute",
            "agreement",
            "follow_up_visit",
            "escalation",
            "risk_assessment",
            "dispute_event",
        ):
            conn.execute(f"VACUUM ANALYZE {table}")
        return {"cases": existing(conn), "generated": n, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--reset", action="store_true", help="remove generated cases first")
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (run through scripts/dev.sh bench dataset)")
    print(ensure_cases(url, args.cases, reset=args.reset))


if __name__ == "__main__":
    main()
