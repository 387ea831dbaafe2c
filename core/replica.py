"""Reads that may go to a streaming replica (DATABASE_REPLICA_URL), and when they must not.

A request is served from the replica only when all of these hold:

* it is a GET/HEAD to one of the read-only endpoints the app names (console dashboards, map
  layers, lists, report drafts: api/__init__.py REPLICA_ENDPOINTS), never a write, never the phone's
  task list or sync pull (those read their own writes);
* the caller has not written anything in the last REPLICA_STICKY_SECONDS ("read your own write").
  A successful write answers with a `db_primary_until` cookie (a browser console sends it back to
  whichever worker serves it next) and is also remembered in this process by the caller's
  credentials (for clients that keep no cookies). A forged cookie only sends its owner to the
  primary: it grants nothing;
* the replica answered the lag check in the last REPLICA_CHECK_SECONDS with a replay lag of at
  most REPLICA_MAX_LAG_SECONDS. A replica that lags, is down or is not a replica is skipped for
  one check period; nothing fails because of it.

If the replica fails during a request (stopped, a query cancelled by recovery), the request is
answered again from the primary (ReplicaFallback, a WSGI wrapper: only GET/HEAD are routed, so a
second run is safe) and the replica is skipped until the next check. Replica connections are
read-only (`default_transaction_read_only`), so a routed view that tried to write would fail in
the tests instead of writing somewhere unexpected.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from flask import current_app, request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Seconds the replica is behind: 0 when it has replayed all it received while streaming (an idle
# primary sends nothing, so the last replayed transaction may be old without any lag); otherwise
# the age of the last replayed transaction. Not in recovery at all (a promoted node, or a test
# pointing the replica URL at the primary): 0 and `standby` false.
LAG_SQL = text(
    """SELECT pg_is_in_recovery() AS standby,
              CASE WHEN NOT pg_is_in_recovery() THEN 0
                   WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                        AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                   THEN 0
                   ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()),
                                 1e9)
              END AS lag"""
)
COOKIE = "db_primary_until"
ENVIRON_USED = "mediation.replica_used"
ENVIRON_PRIMARY = "mediation.force_primary"
SAFE = ("GET", "HEAD")


class ReplicaRouter:
    """The replica's engine, its cached health and the per-caller stickiness after writes."""

    def __init__(
        self,
        url: str,
        *,
        engine_options: dict | None = None,
        max_lag_s: float = 10.0,
        check_every_s: float = 1.0,
        sticky_s: float = 15.0,
        clock=time.monotonic,
        lag_probe=None,
    ) -> None:
        self.url = url
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self.sticky_s = sticky_s
        self.clock = clock
        options = dict(engine_options or {})
        connect_args = dict(options.pop("connect_args", {}))
        extra = "-c default_transaction_read_only=on"
        connect_args["options"] = f"{connect_args.get('options', '')} {extra}".strip()
        connect_args.setdefault("connect_timeout", 2)
        self._engine_options = {**options, "connect_args": connect_args}
        self._engine: Engine | None = None
        self._lag_probe = lag_probe or self._probe
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._usable = False
        self.last_lag: float | None = None
        self._writers: dict[str, float] = {}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = create_engine(self.url, **self._engine_options)
        return self._engine

    # ---------------------------------------------------------------- health
    def _probe(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(LAG_SQL).one().lag)

    def usable(self) -> bool:
        """True when the replica answered its last check (at most check_every_s ago) in bound."""
        now = self.clock()
        if now - self._checked_at < self.check_every_s:
            return self._usable
        if not self._lock.acquire(blocking=False):
            return self._usable  # another thread is checking: use the last answer
        try:
            try:
                lag = self._lag_probe()
            except Exception as error:  # any failure: skip the replica, never fail the request
                log.warning("replica skipped: %s", type(error).__name__)
                lag = None
            self.last_lag = lag
            self._usable = lag is not None and lag <= self.max_lag_s
            if lag is not None and not self._usable:
                log.warning("replica skipped: %.1f s behind (bound %.1f s)", lag, self.max_lag_s)
            self._checked_at = self.clock()
        finally:
            self._lock.release()
        return self._usable

    def mark_down(self) -> None:
        """The replica failed a request: skip it until the next check."""
        self._usable = False
        self._checked_at = self.clock()
        if self._engine is not None:
            self._engine.dispose()

    # ---------------------------------------------------------------- read your own write
    def wrote(self, caller: str | None) -> float:
        """Remember a write by `caller`; returns until when (wall clock) it reads the primary."""
        until = time.time() + self.sticky_s
        if caller:
            self._writers[caller] = self.clock() + self.sticky_s
            if len(self._writers) > 10_000:  # bounded: drop the expired ones
                now = self.clock()
                self._writers = {k: v for k, v in self._writers.items() if v > now}
        return until

    def sticky(self, caller: str | None, cookie: str | None = None) -> bool:
        """True while `caller` is inside the window after its own write."""
        if cookie:
            try:
                if float(cookie) > time.time():
                    return True
            except ValueError:
                pass
        return bool(caller) and self._writers.get(caller, float("-inf")) > self.clock()


# ------------------------------------------------------------------ wiring into a Flask app
def caller_key() -> str | None:
    """Who is asking, without a database lookup: a hash of the bearer token or console cookie."""
    credential = request.headers.get("Authorization") or request.cookies.get(
        current_app.config.get("SESSION_COOKIE_NAME", "session")
    )
    if not credential:
        return None
    return hashlib.sha256(credential.encode()).hexdigest()[:32]


def install(app, *, db, endpoints: set[str]) -> ReplicaRouter | None:
    """Route `endpoints` (GET/HEAD) to DATABASE_REPLICA_URL when set; mark writes sticky."""
    url = app.config.get("DATABASE_REPLICA_URL")
    if not url:
        return None
    router = ReplicaRouter(
        url,
        engine_options=app.config.get("SQLALCHEMY_ENGINE_OPTIONS"),
        max_lag_s=app.config["REPLICA_MAX_LAG_SECONDS"],
        check_every_s=app.config["REPLICA_CHECK_SECONDS"],
        sticky_s=app.config["REPLICA_STICKY_SECONDS"],
    )
    app.extensions["replica"] = router

    def choose():
        if (
            request.method in SAFE
            and request.endpoint in endpoints
            and not request.environ.get(ENVIRON_PRIMARY)
            and not router.sticky(caller_key(), request.cookies.get(COOKIE))
            and router.usable()
        ):
            db.session.info["read_engine"] = router.engine
            request.environ[ENVIRON_USED] = True

    def remember(response):
        if request.method not in SAFE and response.status_code < 400:
            until = router.wrote(caller_key())
            response.set_cookie(
                COOKIE,
                f"{until:.0f}",
                max_age=int(router.sticky_s) + 1,
                httponly=True,
                samesite="Lax",
            )
        return response

    # First of all before_request functions: the token check must read where the view reads.
    app.before_request_funcs.setdefault(None, []).insert(0, choose)
    app.after_request(remember)
    app.wsgi_app = ReplicaFallback(app.wsgi_app, router)
    return router


class ReplicaFallback:
    """WSGI wrapper: a routed request that failed on the replica (503) is answered again from the
    primary, and the replica is skipped until its next check."""

    def __init__(self, wsgi_app, router: ReplicaRouter) -> None:
        self.wsgi_app = wsgi_app
        self.router = router

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") not in SAFE:
            return self.wsgi_app(environ, start_response)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["args"] = (status, headers, exc_info)
            return lambda _data: None  # never used by Flask (it returns an iterable)

        body = self.wsgi_app(environ, capture)
        status = captured.get("args", ("",))[0]
        if environ.get(ENVIRON_USED) and status.startswith("503"):
            if hasattr(body, "close"):
                body.close()
            log.warning("replica failed during a request; answered from the primary")
            self.router.mark_down()
            environ.pop(ENVIRON_USED, None)
            environ[ENVIRON_PRIMARY] = True
            return self.wsgi_app(environ, start_response)
        start_response(*captured["args"])
        return body
