"""Locate benchmark: through the API (in-process WSGI) next to the same query in raw SQL.

    make bench-locate            # county, then the county replicated to >= 100,000 cells

Uses its own database (`mediation_bench` on the project's cluster, or BENCH_DATABASE_URL) so the
demo database is not touched. Prints median / p95 per lookup, lookups per second and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def flask(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, check=True)


def sample_points(conn, n: int, seed: float = 0.42) -> list[tuple[float, float]]:
    """Points inside random current cells (WGS-84)."""
    conn.execute("SELECT setseed(%s)", (seed,))
    rows = conn.execute(
        """
        WITH c AS (SELECT geom FROM grid_cell WHERE valid_to IS NULL ORDER BY random() LIMIT %s)
        SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 1, 7))).geom p FROM c) s
        """,
        (n,),
    ).fetchall()
    return [(float(x), float(y)) for x, y in rows]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run(label: str, url: str, n: int) -> dict:
    from api import create_app
    from geo import crs
    from geo.locate import CELLS_COVERING

    raw_url = url.replace("+psycopg", "")
    with psycopg.connect(raw_url) as conn:
        pts = sample_points(conn, n)
        cells = conn.execute("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL").fetchone()[0]
        sql = str(CELLS_COVERING).replace(":lon", "%(lon)s").replace(":lat", "%(lat)s")
        conn.execute(sql, {"lon": pts[0][0], "lat": pts[0][1]}).fetchall()  # warm
        raw = []
        t_all = time.perf_counter()
        for x, y in pts:
            t0 = time.perf_counter()
            conn.execute(sql, {"lon": x, "lat": y}, prepare=True).fetchall()
            raw.append(time.perf_counter() - t0)
        raw_rate = len(pts) / (time.perf_counter() - t_all)

    os.environ["DATABASE_URL"] = url
    app = create_app("development")
    client = app.test_client()
    gx, gy = crs.wgs84_to_gcj02([p[0] for p in pts], [p[1] for p in pts])
    queries = [
        f"/api/v1/locate?lon={a:.7f}&lat={b:.7f}&crs=gcj02" for a, b in zip(gx, gy, strict=True)
    ]
    client.get(queries[0])
    api = []
    misses = 0
    for q in queries:
        t0 = time.perf_counter()
        r = client.get(q)
        api.append(time.perf_counter() - t0)
        misses += r.status_code != 200
    result = {
        "dataset": label,
        "cells": cells,
        "lookups": len(pts),
        "raw_median_ms": round(statistics.median(raw) * 1000, 3),
        "raw_p95_ms": round(pct(raw, 95) * 1000, 3),
        "raw_lookups_per_s_one_connection": round(raw_rate),
        "api_median_ms": round(statistics.median(api) * 1000, 3),
        "api_p95_ms": round(pct(api, 95) * 1000, 3),
        "ratio_median_api_to_raw": round(statistics.median(api) / statistics.median(raw), 2),
        "api_errors": misses,
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--min-cells", type=int, default=100_000)
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("BENCH_DATABASE_URL is not set (use `make bench-locate`)")
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app"}
    flask("db", "upgrade", env=env)
    flask("demo", "load", env=env)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("DELETE FROM grid_cell WHERE code LIKE '9%'")
        conn.execute("DELETE FROM area WHERE code LIKE '9%'")
        conn.execute("ANALYZE grid_cell")
    results = [run("county (诸暨市)", url, args.lookups)]
    flask("geo", "replicate", "--min-cells", str(args.min_cells), env=env)
    results.append(run(f"replicated (>= {args.min_cells} cells)", url, args.lookups))
    print()
    cols = [
        "dataset",
        "cells",
        "raw_median_ms",
        "raw_p95_ms",
        "raw_lookups_per_s_one_connection",
        "api_median_ms",
        "api_p95_ms",
        "ratio_median_api_to_raw",
        "api_errors",
    ]
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r[c]) for c in cols))
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "locate.json"), "w") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
