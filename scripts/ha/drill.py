"""The restore drill: pgBackRest restores the HA deployment's backups to a new cluster at a chosen
time, and the restored database must answer the figures the source answered at that time.

Without --target (what `make restore-drill` and the HA test do):

1. registers a few drill cases through the API (the phone's path) and takes an incremental
   backup, as the nightly job does;
2. notes the time T and the figures at T: case counts by status and the county's monthly-report
   row (mediation/reports/metrics.area_row, the report's own definitions);
3. makes the mistake: one UPDATE marks every drill case withdrawn and wipes its category and
   amount;
4. restores the backup + archived WAL to a new cluster (.ha/drill, its own port) at T, starts it,
   and compares its figures with those noted at T: they must be equal (and differ from now);
5. copies the lost values of the drill cases back from the restored cluster into the live one
   (the repair a county would do), then stops the restored cluster.

With --target TIME it restores to that time, starts the copy and prints its figures (a county
checks them against the report it printed then); the live database is not touched.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import phone  # noqa: E402

ROOT = cluster.ROOT
sys.path.insert(0, ROOT)
COUNTY = "330681"
MARKER = "恢复演练"


def drill_url() -> str:
    return (
        f"postgresql+psycopg://{cluster.SUPERUSER}@/{cluster.DB}"
        f"?host=127.0.0.1&port={cluster.DRILL_PORT}"
    )


def primary_dsn() -> str:
    return cluster.node_dsn(cluster.leader())


def figures(url: str, month: str) -> dict:
    """Case counts and the county's monthly-report row, computed by the product's own code."""
    from sqlalchemy import text

    from api import create_app
    from core.db import db
    from mediation.reports.metrics import area_row, month_period

    app = create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=url,
        DATABASE_REPLICA_URL="",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1},
    )
    with app.app_context():
        # One snapshot for every figure, and its time (what a restore to `at` must answer).
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        at = db.session.execute(text("SELECT now()")).scalar()
        by_status = dict(
            db.session.execute(text("SELECT status, count(*) FROM dispute GROUP BY status")).all()
        )
        by_category = dict(
            db.session.execute(
                text("SELECT category, count(*) FROM dispute GROUP BY category")
            ).all()
        )
        amount = db.session.execute(text("SELECT coalesce(sum(amount), 0) FROM dispute")).scalar()
        row = area_row(db.session, code=COUNTY, period=month_period(month))
        db.session.remove()
        db.engine.dispose()
    return json.loads(
        json.dumps(
            {
                "cases": sum(by_status.values()),
                "by_status": by_status,
                "by_category": by_category,
                "amount": amount,
                "report": row,
                "at": pg_time(at),
            },
            default=str,
            sort_keys=True,
        )
    )


def seed(n: int = 12) -> None:
    """A few drill cases registered through the API by the demo grid worker."""
    headers = phone.login(cluster.API_PORT, "gw_fq")
    points = phone.cell_points(primary_dsn(), "gw_fq", n)
    rng = random.Random()
    for point in points[:n]:
        body = phone.registration(rng, point, MARKER)
        status = phone.register_until_answered(
            cluster.API_PORT, headers, body, give_up=time.time() + 60
        )
        if status not in (200, 201):
            raise SystemExit(f"drill: a drill registration was refused ({status})")


def pg_time(at: datetime) -> str:
    """A time as pgBackRest's --target takes it (`2026-12-03 09:02:36.896816+00`)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def restore(target: str) -> float:
    """Restore to .ha/drill at `target` and start it on DRILL_PORT; seconds it took."""
    stop_restored()
    base = cluster.path("drill")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.join(base, "run"))
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", base], check=True)
    data = os.path.join(base, "data")
    t0 = time.time()
    cluster.pgbackrest(
        cluster.leader(),
        f"--pg1-path={data}",
        "--type=time",
        f"--target={target}",
        "--target-action=promote",
        "restore",
    )
    options = " ".join(
        [
            f"-c port={cluster.DRILL_PORT}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={base}/run",
            f"-c hba_file={data}/pg_hba.conf",
            f"-c ident_file={data}/pg_ident.conf",
            "-c archive_mode=off",
            "-c synchronous_standby_names=",
            "-c primary_conninfo=",
            "-c primary_slot_name=",
            "-c shared_buffers=128MB",
        ]
    )
    subprocess.run(
        cluster.as_pg(
            [
                f"{cluster.PGBIN}/pg_ctl",
                "-D",
                data,
                "-l",
                os.path.join(base, "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "300",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    import psycopg

    dsn = f"host=127.0.0.1 port={cluster.DRILL_PORT} user={cluster.SUPERUSER} dbname=postgres"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with psycopg.connect(dsn) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return time.time() - t0
        except psycopg.Error:
            pass
        time.sleep(0.5)
    raise SystemExit("drill: the restored cluster did not finish recovery in 5 minutes")


def stop_restored() -> None:
    data = cluster.path("drill", "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(
            cluster.as_pg([f"{cluster.PGBIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )


def drill(args) -> dict:
    import psycopg

    month = datetime.now(UTC).strftime("%Y-%m")
    if args.target:
        took = restore(args.target)
        result = {"target": args.target, "restore_seconds": round(took, 1)}
        result["restored"] = figures(drill_url(), month)
        result["restored"].pop("at")
        stop_restored()
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return result

    seed()
    cluster.backup_now("incr")
    time.sleep(1.5)
    with psycopg.connect(primary_dsn()) as conn:
        mark = conn.execute("SELECT now()").fetchone()[0]
    before = figures(cluster.database_url(), month)
    time.sleep(1.5)
    with psycopg.connect(primary_dsn()) as conn:
        changed = conn.execute(
            "UPDATE dispute SET status = 'withdrawn', category = '99', amount = 0 "
            "WHERE description LIKE %s",
            (f"%{MARKER}%",),
        ).rowcount
    after = figures(cluster.database_url(), month)
    # Archive the WAL holding the mistake's predecessors (check switches the segment and waits).
    cluster.pgbackrest(cluster.leader(), "check")
    took = restore(pg_time(mark))
    restored = figures(drill_url(), month)
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.DRILL_PORT} user={cluster.SUPERUSER} dbname={cluster.DB}"
    ) as src:
        rows = src.execute(
            "SELECT id, status, category, amount FROM dispute WHERE description LIKE %s",
            (f"%{MARKER}%",),
        ).fetchall()
    with psycopg.connect(primary_dsn()) as dst:
        with dst.cursor() as cur:
            cur.executemany(
                "UPDATE dispute SET status = %s, category = %s, amount = %s WHERE id = %s",
                [(st, c, a, i) for i, st, c, a in rows],
            )
    repaired = figures(cluster.database_url(), month)
    stop_restored()
    before.pop("at")
    restored.pop("at")
    repaired.pop("at")
    result = {
        "target": pg_time(mark),
        "mistake_rows": changed,
        "restore_seconds": round(took, 1),
        "cases_at_target": before["cases"],
        "restored_equals_target": restored == before,
        "mistake_changed_figures": after != before,
        "rows_copied_back": len(rows),
        "repaired_equals_target": repaired == before,
        "before": before,
        "restored": restored,
    }
    print(
        json.dumps({k: v for k, v in result.items() if k not in ("before", "restored")}, indent=2)
    )
    if not result["restored_equals_target"]:
        print(json.dumps({"before": before, "restored": restored}, ensure_ascii=False, indent=1))
        raise SystemExit("drill FAILED: the restored figures differ from the source at the target")
    return result


def main() -> None:
    """`drill.py figures URL` prints the figures now (the nightly job keeps them);
    `drill.py compare FILE URL` checks a restored database against such a file."""
    command, *rest = sys.argv[1:]
    if command == "figures":
        month = datetime.now(UTC).strftime("%Y-%m")
        print(json.dumps({**figures(rest[0], month), "month": month}, ensure_ascii=False))
    elif command == "compare":
        with open(rest[0]) as fh:
            kept = json.load(fh)
        at, month = kept.pop("at"), kept.pop("month")
        now = figures(rest[1], month)
        now.pop("at")
        if now != kept:
            print(json.dumps({"kept": kept, "restored": now}, ensure_ascii=False, indent=1))
            raise SystemExit(f"drill FAILED: the database restored to {at} differs")
        print(f"drill ok: restored to {at}, {now['cases']} cases, figures equal")
    else:
        raise SystemExit("usage: drill.py figures URL | drill.py compare FILE URL")


if __name__ == "__main__":
    main()
