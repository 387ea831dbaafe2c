"""Response headers a production API needs, CORS from an allow-list, and per-user rate limits.

* Every response: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
  `Referrer-Policy: no-referrer`, and a Content-Security-Policy: `default-src 'none';
  frame-ancestors 'none'` for the API (JSON and files are never rendered as a page), and for the
  offline Swagger UI at /api/docs only what it needs (its own scripts and styles, its inline
  start-up script, data: images, the document from the same origin).
* API responses (`/api/v1/…`: cases, parties, reports, attachments) are `Cache-Control: no-store`
  so that no proxy or shared browser cache keeps personal data; the docs' static files stay
  cacheable.
* `Strict-Transport-Security` when `HSTS_SECONDS` is set (behind TLS only).
* CORS (flask-cors) only for the origins in `CORS_ORIGINS` (comma-separated; empty = no
  cross-origin access, the default): bearer tokens in `Authorization`, never cookies.
* `limited(...)`: flask-limiter limits keyed by the logged-in user (reveals of personal data,
  password changes) or by address (failed logins); documented as 429 by api.openapi.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_cors import CORS
from flask_limiter.util import get_remote_address

from api.extensions import limiter

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
EXPOSED = [
    "ETag",
    "Retry-After",
    "Content-Disposition",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
]


def _user_key() -> str:
    actor = g.get("actor")
    return f"user:{actor.user_id}" if actor is not None else f"ip:{get_remote_address()}"


def limited(config_key: str, *, per: str = "user", deduct_when=None):
    """A rate limit read from config[config_key] ("5 per 15 minutes"), per user or address."""
    key_func = _user_key if per == "user" else get_remote_address

    def decorate(fn):
        wrapped = limiter.limit(
            lambda: current_app.config[config_key], key_func=key_func, deduct_when=deduct_when
        )(fn)
        wrapped._rate_limited = True
        return wrapped

    return decorate


def secure_headers(response):
    """after_request: the headers listed in the module docstring."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    docs = request.path == "/api/docs" or request.path.startswith("/api/docs/")
    headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else API_CSP)
    if request.path.startswith("/api/v1/"):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    hsts = current_app.config["HSTS_SECONDS"]
    if hsts:
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    return response


def register(app) -> None:
    """Install CORS (allow-list from config) and the security headers."""
    CORS(
        app,
        resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}},
        allow_headers=["Authorization", "Content-Type", "If-Match"],
        expose_headers=EXPOSED,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        supports_credentials=False,
        max_age=600,
    )
    app.after_request(secure_headers)
