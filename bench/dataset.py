"""Province-scale benchmark data: the real county replicated under new codes and shifted geometry
to >= 100,000 grid cells, people for every cell, village and township, and >= 1,000,000 cases over
three years with parties, agreements, visits, escalations, risk assessments, audit events and
reminders in realistic shares (older cases closed but for a few stuck ones).

    make bench-data                      # ARGS="--min-cells 100000 --cases 1000000"

Set-based SQL in chunks (INSERT … SELECT generate_series) with progress bars, never one ORM insert
per row. Cases are numbered `BENCH-…` so they can be told apart (and removed with --reset); the
generated accounts (`bgw<cell>`, `bmd<village>`, `bcs<township>`, `bca<county>`) share the password
in `PASSWORD`.
"""

from __future__ import annotations

import argparse
import json
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
    CASE WHEN reg < now() - interval '120 days' THEN
      -- Older cases are closed, but for a few stuck ones (the overdue a centre chases).
      CASE WHEN abs(h) % 1000 < 600 THEN 'resolved' WHEN abs(h) % 1000 < 780 THEN 'archived'
           WHEN abs(h) % 1000 < 840 THEN 'rejected' WHEN abs(h) % 1000 < 900 THEN 'terminated'
           WHEN abs(h) % 1000 < 950 THEN 'withdrawn' WHEN abs(h) % 1000 < 990 THEN 'referred'
           WHEN abs(h) % 1000 < 995 THEN 'mediating' ELSE 'follow_up' END
    ELSE
      CASE WHEN abs(h) % 1000 < 450 THEN 'resolved' WHEN abs(h) % 1000 < 550 THEN 'archived'
         WHEN abs(h) % 1000 < 630 THEN 'mediating' WHEN abs(h) % 1000 < 660 THEN 'agreed'
         WHEN abs(h) % 1000 < 700 THEN 'follow_up' WHEN abs(h) % 1000 < 730 THEN 'registered'
         WHEN abs(h) % 1000 < 760 THEN 'accepted' WHEN abs(h) % 1000 < 810 THEN 'rejected'
         WHEN abs(h) % 1000 < 870 THEN 'terminated' WHEN abs(h) % 1000 < 920 THEN 'withdrawn'
         WHEN abs(h) % 1000 < 960 THEN 'referred' ELSE 'reopened' END
    END AS status,
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
  CASE WHEN status = 'registered' THEN reg + interval '3 days'
       WHEN status IN ('accepted', 'mediating', 'reopened') THEN reg + interval '31 days'
       WHEN status IN ('agreed', 'follow_up') THEN reg + took / 2 + interval '10 days' END,
  CASE WHEN status IN ('registered') THEN 'acceptance'
       WHEN status IN ('accepted', 'mediating', 'reopened') THEN 'mediation'
       WHEN status IN ('agreed', 'follow_up') THEN 'follow_up_visit' END,
  CASE WHEN status IN ('resolved', 'archived', 'follow_up', 'reopened') THEN 1 ELSE 0 END,
  reg, reg + took
FROM s
"""

CHILDREN = [
    """INSERT INTO agreement (dispute_id, form, terms, performance_method, performance_deadline,
         performed_immediately, amount, recorded_by, created_at, cell_code)
       SELECT id, CASE WHEN hashtext(case_number) % 3 = 0 THEN 'oral' ELSE 'written' END, '协议',
         '转账', (agreed_at AT TIME ZONE 'Asia/Shanghai')::date + 10, false, amount, %(user)s,
         agreed_at, cell_code
       FROM dispute WHERE case_number LIKE 'BENCH-%' AND agreed_at IS NOT NULL""",
    """INSERT INTO follow_up_visit (dispute_id, visited_at, method, result, satisfaction,
         visitor_id, status_before, status_after, created_at, cell_code)
       SELECT id, coalesce(resolved_at, agreed_at + interval '12 days'), 'in_person',
         CASE WHEN status IN ('resolved', 'archived') THEN 'performed' ELSE 'not_performed' END,
         CASE WHEN hashtext(case_number) % 10 < 8 THEN 'satisfied' ELSE 'basically' END,
         %(user)s, 'follow_up',
         CASE WHEN status IN ('resolved', 'archived') THEN 'resolved' ELSE 'reopened' END,
         coalesce(resolved_at, agreed_at + interval '12 days'), cell_code
       FROM dispute WHERE case_number LIKE 'BENCH-%'
         AND status IN ('resolved', 'archived', 'follow_up', 'reopened')""",
    """INSERT INTO escalation (dispute_id, direction, from_level, to_level, reason, status,
         requested_by, requested_at, decided_by, decided_at, cell_code)
       SELECT id, 'up', 'village', handling_level, '上报', 'accepted', %(user)s,
         accepted_at + interval '1 day', %(user)s, accepted_at + interval '2 days', cell_code
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
         changes, cell_code)
       SELECT id, 1, 'register', %(user)s, registered_at, NULL, 'registered', '{}'::jsonb, cell_code
       FROM dispute WHERE case_number LIKE 'BENCH-%'
       UNION ALL
       SELECT id, 2, 'accept', %(user)s, accepted_at, 'registered', 'accepted', '{}'::jsonb, cell_code
       FROM dispute WHERE case_number LIKE 'BENCH-%' AND accepted_at IS NOT NULL
       UNION ALL
       SELECT id, 3,
         CASE status WHEN 'terminated' THEN 'terminate' WHEN 'referred' THEN 'refer'
           WHEN 'withdrawn' THEN 'withdraw' WHEN 'reopened' THEN 'record_visit' ELSE 'reject' END,
         %(user)s, coalesce(closed_at, registered_at + interval '20 days'),
         'mediating', status, '{}'::jsonb, cell_code
       FROM dispute WHERE case_number LIKE 'BENCH-%'
         AND status IN ('terminated', 'referred', 'withdrawn', 'reopened', 'rejected')""",
]


PARTIES = """
INSERT INTO party (dispute_id, position, role, kind, name, id_type, id_number_hash,
                   id_number_masked, phone_hash, phone_masked, name_phone_hash)
SELECT d.id, p, CASE p WHEN 1 THEN 'applicant' ELSE 'respondent' END, 'person',
  (ARRAY['张', '王', '李', '赵', '陈', '杨', '周', '吴'])[1 + abs(hashtext(d.case_number || p)) % 8]
    || '某' || p,
  'resident_id', md5(d.case_number || p || 'id'),
  '330681********' || lpad((abs(hashtext(d.case_number || p)) % 1000)::text, 3, '0') || 'X',
  md5(d.case_number || p || 'phone'),
  '138****' || lpad((abs(hashtext(d.case_number || p || 'm')) % 10000)::text, 4, '0'),
  md5(d.case_number || p || 'np')
FROM dispute d CROSS JOIN generate_series(1, 2) p
WHERE d.case_number LIKE 'BENCH-%'
"""

# People: a grid worker for every cell that has none, a mediator per village, centre staff per
# township, a county centre per county; all with the same (known) password.
PEOPLE = [
    """INSERT INTO user_account (username, display_name, password_hash, is_active, created_at,
         updated_at, failed_logins, password_changed_at)
       SELECT 'bgw' || c.code, '网格员' || right(c.code, 6), %(hash)s, true, now(), now(), 0, now()
       FROM bench_cell c
       WHERE NOT EXISTS (SELECT 1 FROM cell_assignment a
                         WHERE a.cell_code = c.code AND a.valid_to IS NULL)
       ON CONFLICT (username) DO NOTHING""",
    """INSERT INTO user_role (user_id, role, area_code)
       SELECT u.id, 'grid_worker', NULL FROM user_account u
       WHERE u.username LIKE 'bgw%' AND NOT EXISTS (SELECT 1 FROM user_role r
                                                    WHERE r.user_id = u.id)""",
    """INSERT INTO cell_assignment (user_id, cell_code, valid_from, created_at)
       SELECT u.id, substr(u.username, 4), current_date - 400, now() FROM user_account u
       WHERE u.username LIKE 'bgw%' AND NOT EXISTS (SELECT 1 FROM cell_assignment a
                                                    WHERE a.user_id = u.id)""",
    """INSERT INTO user_account (username, display_name, password_hash, is_active, created_at,
         updated_at, failed_logins, password_changed_at)
       SELECT v.prefix || a.code, v.label || a.code, %(hash)s, true, now(), now(), 0, now()
       FROM area a JOIN (VALUES ('village', 'bmd', '调解员'), ('township', 'bcs', '综治中心'),
                                ('county', 'bca', '县综治中心')) v(level, prefix, label)
         ON v.level = a.level
       WHERE a.valid_to IS NULL
       ON CONFLICT (username) DO NOTHING""",
    """INSERT INTO user_role (user_id, role, area_code)
       SELECT u.id, CASE left(u.username, 3) WHEN 'bmd' THEN 'mediator'
                      WHEN 'bcs' THEN 'center_staff' ELSE 'county_admin' END, substr(u.username, 4)
       FROM user_account u
       WHERE left(u.username, 3) IN ('bmd', 'bcs', 'bca')
         AND NOT EXISTS (SELECT 1 FROM user_role r WHERE r.user_id = u.id)""",
]

WORKERS = """
DROP TABLE IF EXISTS bench_worker;
CREATE UNLOGGED TABLE bench_worker AS
SELECT cell_code, user_id FROM cell_assignment WHERE valid_to IS NULL;
CREATE UNIQUE INDEX ON bench_worker (cell_code);
ANALYZE bench_worker;
"""

# Reminders as the planner leaves them: open cases have their next deadline's reminder (fired and
# sent once its time has come, some acknowledged); closed cases keep the history of an
# acceptance reminder (cancelled by the acceptance) and a mediation reminder (acknowledged).
REMINDERS = [
    """INSERT INTO reminder (key, kind, dispute_id, area_code, recipient_id, recipient_role,
         recipient_area, due_at, remind_at, state, title, body, created_at, fired_at, sent_at,
         acknowledged_at)
       SELECT 'case:' || d.id || ':' || d.next_due_kind || ':' || d.next_due_at, d.next_due_kind,
         d.id, d.cell_code, r.user_id, r.role, r.area, d.next_due_at,
         d.next_due_at - interval '1 day',
         CASE WHEN d.next_due_at - interval '1 day' > now() THEN 'pending'
              WHEN abs(hashtext(d.case_number)) % 3 = 0 THEN 'acknowledged' ELSE 'sent' END,
         '提醒', '{}'::jsonb, d.registered_at,
         CASE WHEN d.next_due_at - interval '1 day' <= now() THEN d.next_due_at - interval '1 day' END,
         CASE WHEN d.next_due_at - interval '1 day' <= now() THEN d.next_due_at - interval '1 day' END,
         CASE WHEN d.next_due_at - interval '1 day' <= now() AND abs(hashtext(d.case_number)) % 3 = 0
              THEN d.next_due_at END
       FROM dispute d
       LEFT JOIN bench_worker w ON w.cell_code = d.cell_code
       CROSS JOIN LATERAL (
         SELECT CASE WHEN (d.next_due_kind = 'follow_up_visit' OR d.handling_level = 'grid')
                          AND w.user_id IS NOT NULL THEN w.user_id END AS user_id,
                CASE WHEN (d.next_due_kind = 'follow_up_visit' OR d.handling_level = 'grid')
                          AND w.user_id IS NOT NULL THEN NULL
                     WHEN d.handling_level IN ('grid', 'village', 'referred') THEN 'mediator'
                     WHEN d.handling_level = 'township' THEN 'center_staff'
                     ELSE 'county_admin' END AS role,
                CASE WHEN (d.next_due_kind = 'follow_up_visit' OR d.handling_level = 'grid')
                          AND w.user_id IS NOT NULL THEN NULL
                     WHEN d.handling_level IN ('grid', 'village', 'referred') THEN d.village_code
                     WHEN d.handling_level = 'township' THEN d.township_code
                     ELSE d.county_code END AS area) r
       WHERE d.case_number LIKE 'BENCH-%%' AND d.next_due_at IS NOT NULL""",
    """INSERT INTO reminder (key, kind, dispute_id, area_code, recipient_role, recipient_area,
         due_at, remind_at, state, title, body, created_at, fired_at, sent_at, acknowledged_at,
         cancelled_at, cancel_reason)
       SELECT 'case:' || d.id || ':' || k.kind || ':' || k.due, k.kind, d.id, d.cell_code,
         'mediator', d.village_code, k.due, k.due - interval '1 day', k.state, '提醒', '{}'::jsonb,
         d.registered_at,
         CASE WHEN k.state = 'acknowledged' THEN k.due - interval '1 day' END,
         CASE WHEN k.state = 'acknowledged' THEN k.due - interval '1 day' END,
         CASE WHEN k.state = 'acknowledged' THEN k.due END,
         CASE WHEN k.state = 'cancelled' THEN d.accepted_at END,
         CASE WHEN k.state = 'cancelled' THEN 'accepted' END
       FROM dispute d CROSS JOIN LATERAL (VALUES
         ('acceptance', d.registered_at + interval '3 days', 'cancelled'),
         ('mediation', d.registered_at + interval '31 days', 'acknowledged')) k(kind, due, state)
       WHERE d.case_number LIKE 'BENCH-%%' AND d.closed_at IS NOT NULL
         AND d.accepted_at IS NOT NULL""",
]

TABLES = (
    "dispute",
    "party",
    "agreement",
    "follow_up_visit",
    "escalation",
    "risk_assessment",
    "dispute_event",
    "reminder",
    "sync_change",
    "user_account",
    "user_role",
    "cell_assignment",
)

PASSWORD = "Bench#2026-pass"  # noqa: S105 - the generated benchmark accounts' password


def _sql(sql: str) -> str:
    """Escape the modulo signs for psycopg, keep the %(name)s placeholders."""
    return sql.replace("%%", "%").replace("%", "%%").replace("%%(", "%(")


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


def _flask(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"}
    subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, check=True)


def drop_cases(conn, where: str, params: dict | None = None) -> None:
    """Delete the cases matching `where` with their reminders (the audit events go with the case;
    their append-only trigger is lifted for the moment, on a benchmark database only)."""
    conn.execute("ALTER TABLE dispute_event DISABLE TRIGGER USER")
    try:
        conn.execute(
            f"DELETE FROM reminder WHERE dispute_id IN (SELECT id FROM dispute WHERE {where})",
            params,
        )
        conn.execute(f"DELETE FROM dispute WHERE {where}", params)
    finally:
        conn.execute("ALTER TABLE dispute_event ENABLE TRIGGER USER")


def _drop_generated(conn) -> None:
    drop_cases(conn, "case_number LIKE 'BENCH-%%'", {})


def _password_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)


def ensure_province(
    url: str,
    *,
    min_cells: int = 100_000,
    cases: int = 1_000_000,
    chunk: int = 100_000,
    reset: bool = False,
) -> dict:
    """Make the database a province: the real county replicated to >= `min_cells` grid cells,
    people for every cell, village and township, and >= `cases` cases over three years."""
    import click
    import psycopg

    raw = url.replace("+psycopg", "")
    _flask(url, "db", "upgrade")
    with psycopg.connect(raw, autocommit=True) as conn:
        loaded = conn.execute("SELECT EXISTS (SELECT 1 FROM grid_cell)").fetchone()[0]
    if not loaded:
        _flask(url, "demo", "load")
    t0 = time.perf_counter()
    _flask(url, "geo", "replicate", "--min-cells", str(min_cells))
    with psycopg.connect(raw, autocommit=True) as conn:
        cells = conn.execute("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL").fetchone()[0]
        if reset:
            _drop_generated(conn)
        have = existing(conn)
        if have >= cases:
            return {"cells": cells, "cases": have, "generated": 0, "seconds": 0.0}
        if have:
            _drop_generated(conn)
        user = bench_user(conn)
        conn.execute(CELLS)
        with click.progressbar(
            PEOPLE, label="网格员、调解员、综治中心账号", file=sys.stderr
        ) as bar:
            for sql in bar:
                conn.execute(_sql(sql), {"hash": _password_hash()})
        conn.execute(WORKERS)
        with click.progressbar(
            range(0, cases, chunk), label=f"生成 {cases:,} 件案件", file=sys.stderr
        ) as bar:
            for start in bar:
                conn.execute(
                    _sql(CASES),
                    {"start": start + 1, "stop": min(cases, start + chunk), "user": user},
                )
        steps = [*CHILDREN, PARTIES, *REMINDERS]
        with click.progressbar(
            steps, label="当事人、协议、回访、上报、研判、事件、提醒", file=sys.stderr
        ) as bar:
            for sql in bar:
                conn.execute(_sql(sql), {"user": user})
        conn.execute("DROP TABLE bench_cell")
        conn.execute("DROP TABLE bench_worker")
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        return {
            "cells": cells,
            "cases": existing(conn),
            "generated": cases,
            "seconds": round(time.perf_counter() - t0, 1),
        }


def counts(url: str) -> dict:
    """Row counts of the tables a benchmark reads (estimates are enough)."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)",
            (list(TABLES),),
        ).fetchall()
    return {name: n for name, n in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-cells", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--reset", action="store_true", help="remove generated cases first")
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (run `make bench-data`)")
    made = ensure_province(url, min_cells=args.min_cells, cases=args.cases, reset=args.reset)
    print(json.dumps({**made, "rows": counts(url)}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
