"""Prometheus metrics at /metrics (prometheus_client): requests, latencies, errors, the pool, the
scheduler, the outbox and reminders. Labels are endpoint names, methods and statuses only, never
a path, a query string or anything a user typed, so no personal data can reach a metric.

Under gunicorn every worker counts in its own files (PROMETHEUS_MULTIPROC_DIR, set by
deploy/gunicorn.conf.py) and /metrics, answered by any worker, sums them. The figures read from
the database (scheduler lag, outbox backlog, reminders due) are read at scrape time, once.
/metrics answers only clients in METRICS_ALLOW (loopback by default; the reverse proxy does not
pass it on, deploy/nginx-mediation.conf); anyone else gets 404.
"""

from __future__ import annotations

import ipaddress
import os
import time

from flask import Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, text

REQUESTS = Counter(
    "mediation_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "mediation_http_request_duration_seconds",
    "Time to answer a request, per endpoint",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ERRORS = Counter(
    "mediation_http_errors_total", "Answers 5xx (503: database unavailable)", ["endpoint", "status"]
)
POOL_IN_USE = Gauge(
    "mediation_db_pool_in_use",
    "Database connections checked out of the pool now",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "mediation_db_pool_size", "Connections the pool keeps", ["pool"], multiprocess_mode="livesum"
)
REPLICA_READS = Counter(
    "mediation_replica_reads_total", "Console reads answered from the replica", ["endpoint"]
)

# One statement, four figures: how late the oldest reminder that should have fired is (the
# scheduler's lag), how many are waiting to fire, how many fired and wait for their recipient,
# the outbox backlog (and its oldest), and whether a scheduler holds its lock.
STATE_SQL = text(
    """SELECT
         (SELECT EXTRACT(EPOCH FROM now() - min(remind_at)) FROM reminder
           WHERE state = 'pending' AND remind_at <= now()) AS scheduler_lag,
         (SELECT count(*) FROM reminder WHERE state = 'pending' AND remind_at <= now())
           AS reminders_to_fire,
         (SELECT count(*) FROM reminder WHERE state = 'due') AS reminders_due,
         (SELECT count(*) FROM outbox WHERE state = 'pending') AS outbox_pending,
         (SELECT EXTRACT(EPOCH FROM now() - min(created_at)) FROM outbox WHERE state = 'pending')
           AS outbox_oldest,
         (SELECT count(*) FROM outbox WHERE state = 'dead') AS outbox_dead,
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :lock
            AND granted) AS scheduler_active"""
)


class DatabaseState:
    """Collector: the figures kept in the database, read when /metrics is scraped."""

    def __init__(self, db, lock_key: int) -> None:
        self.db = db
        self.lock_key = lock_key

    def collect(self):
        try:
            row = self.db.session.execute(STATE_SQL, {"lock": self.lock_key}).one()
        except Exception:  # the database is down: /metrics still answers (without these)
            self.db.session.rollback()
            yield GaugeMetricFamily("mediation_database_up", "The database answered", value=0)
            return
        yield GaugeMetricFamily("mediation_database_up", "The database answered", value=1)
        figures = [
            (
                "scheduler_lag_seconds",
                "Age of the oldest reminder that should have fired",
                row.scheduler_lag or 0,
            ),
            ("reminders_to_fire", "Pending reminders whose time has come", row.reminders_to_fire),
            ("reminders_due", "Fired reminders waiting for their recipient", row.reminders_due),
            ("outbox_backlog", "Notifications waiting to be delivered", row.outbox_pending),
            (
                "outbox_oldest_seconds",
                "Age of the oldest undelivered notification",
                row.outbox_oldest or 0,
            ),
            ("outbox_dead", "Notifications given up after all attempts", row.outbox_dead),
            (
                "scheduler_active",
                "1 when a scheduler process holds its lock",
                min(row.scheduler_active, 1),
            ),
        ]
        for name, doc, value in figures:
            yield GaugeMetricFamily(f"mediation_{name}", doc, value=float(value))


def _registries(db, lock_key: int) -> list[CollectorRegistry]:
    """The process's (or, under gunicorn, all workers' summed) metrics, then the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        from prometheus_client import REGISTRY as counted
    state = CollectorRegistry()
    state.register(DatabaseState(db, lock_key))
    return [counted, state]


def _allowed(networks) -> bool:
    try:
        addr = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(addr in net for net in networks)


def watch_pool(engine, name: str) -> None:
    """Count the pool's checked-out connections (checkout/checkin events)."""
    size = getattr(engine.pool, "size", None)
    if callable(size):
        POOL_SIZE.labels(name).set(size())
    gauge = POOL_IN_USE.labels(name)
    event.listen(engine, "checkout", lambda *_a: gauge.inc())
    event.listen(engine, "checkin", lambda *_a: gauge.dec())


def install(app, *, db, lock_key: int, public) -> None:
    """Count every request; serve /metrics (wrapped by `public`, the app's access policy)."""
    networks = [
        ipaddress.ip_network(n.strip()) for n in app.config["METRICS_ALLOW"].split(",") if n.strip()
    ]
    registries = _registries(db, lock_key)

    @app.before_request
    def _start():
        g._metrics_t0 = time.perf_counter()

    @app.after_request
    def _count(response):
        t0 = g.pop("_metrics_t0", None)
        if t0 is None:
            return response
        endpoint = request.endpoint or "unmatched"  # a 404 path is never a label
        status = response.status_code
        REQUESTS.labels(endpoint, request.method, str(status)).inc()
        LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - t0)
        if status >= 500:
            ERRORS.labels(endpoint, str(status)).inc()
        if request.environ.get("mediation.replica_used"):
            REPLICA_READS.labels(endpoint).inc()
        return response

    @public
    def metrics():
        """Prometheus text format; loopback (METRICS_ALLOW) only."""
        if not _allowed(networks):
            abort(404)
        return Response(
            b"".join(generate_latest(r) for r in registries), mimetype=CONTENT_TYPE_LATEST
        )

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    with app.app_context():
        watch_pool(db.engine, "primary")
