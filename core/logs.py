"""A request id on every request and log line; JSON lines (python-json-logger) when LOG_FORMAT=json.

The id comes from the reverse proxy (X-Request-ID, deploy/nginx-mediation.conf sets it) when it
looks like one, otherwise it is made here; it is answered in X-Request-ID and carried by every
record logged while the request runs, so one line in nginx's log finds the application's. Each
request also logs one line (logger `mediation.request`): method, endpoint name, status and
duration, never the path or query (they may carry a name or a phone number someone searched for).
The redaction of api/logging.py applies to every record, JSON or not.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid

from flask import g, request

REQUEST_ID = contextvars.ContextVar("request_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = logging.getLogger("mediation.request")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def configure(fmt: str | None = None) -> None:
    """Every root handler carries the request id; JSON lines when LOG_FORMAT=json."""
    fmt = fmt or os.environ.get("LOG_FORMAT", "text")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if fmt == "json":
            handler.setFormatter(json_formatter())


def install(app) -> None:
    """Request ids in, out and on every line; with JSON logs, one summary line per request."""
    summary = os.environ.get("LOG_FORMAT", "text") == "json"

    @app.before_request
    def _begin():
        given = request.headers.get("X-Request-ID", "")
        rid = given if _VALID.match(given) else uuid.uuid4().hex
        g._log_token = REQUEST_ID.set(rid)
        g._log_t0 = time.perf_counter()

    @app.after_request
    def _answer(response):
        rid = REQUEST_ID.get()
        if rid:
            response.headers["X-Request-ID"] = rid
        if rid and summary:
            t0 = g.get("_log_t0")
            log.info(
                "%s %s %s",
                request.method,
                request.endpoint or "unmatched",
                response.status_code,
                extra={
                    "method": request.method,
                    "endpoint": request.endpoint or "unmatched",
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - t0) * 1000, 1) if t0 else None,
                },
            )
        return response

    @app.teardown_request
    def _end(_exc=None):
        token = g.pop("_log_token", None)
        if token is not None:
            REQUEST_ID.reset(token)
