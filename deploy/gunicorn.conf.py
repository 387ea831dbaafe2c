"""Gunicorn settings for production, used by scripts/serve.sh and by the fault tests.

Threaded workers (gthread): a request waiting on the database or on a phone's upload holds one
thread, not a whole process. The worker class (deploy.server.GuardedThreadWorker) also reads request
heads in its event loop, so a client trickling its headers holds no thread, and cuts off a body
that arrives slower than a minimum rate (see deploy/server.py).
"""

import os
import tempfile

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))  # the pool keeps as many (core/config.py)
worker_class = "deploy.server.GuardedThreadWorker"
# gthread workers heartbeat from their event loop: this only catches a stuck process.
timeout = 60
graceful_timeout = 20
keepalive = 5  # idle kept-alive connections wait in the event loop, holding no thread
worker_connections = 1000
# Request head limits (gunicorn's defaults, stated): longer lines → 414, more fields → 431.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("ACCESS_LOG", "-") or None  # "" turns it off
control_socket_disable = True  # nothing uses it; several instances would share its path

# Prometheus (core/metrics.py): each worker writes its counters to files in this folder and
# /metrics sums them. A folder of its own per start (a stale one would count dead workers);
# a systemd unit may set it (RuntimeDirectory=, deploy/systemd/mediation-api.service).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mediation-metrics-")
else:
    _dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(_dir, exist_ok=True)
    for _name in os.listdir(_dir):
        if _name.endswith(".db"):  # the counters of a previous start
            os.remove(os.path.join(_dir, _name))


def child_exit(_server, worker):
    """A worker is gone: its live gauges (pool in use) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Once the worker has loaded the app: move everything loaded so far (the app, SQLAlchemy's
    mappers and metadata, marshmallow schemas) out of the garbage collector's reach, so that its
    full collections, which pause every thread of the worker, stay short; and hand the GIL
    between threads more often (tail latency; bench/run.py, scenario register)."""
    import gc

    gc.collect()
    gc.freeze()
    # A thread busy in Python keeps the GIL up to this long before a waiting thread runs: at the
    # default 5 ms, a request that is ready waits behind several such slices when the worker's
    # threads are busy. 1 ms: registration p99 at 100 requests/s 37–57 → 33–34 ms, p95 27–38 →
    # 25 ms on 2 cores (bench/run.py, scenario register), CPU per request no higher.
    import sys

    sys.setswitchinterval(float(os.environ.get("GIL_SWITCH_INTERVAL", "0.001")))
