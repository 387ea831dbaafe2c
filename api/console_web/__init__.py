"""The township centre's console at /console/: server-rendered pages (Jinja) over the same use
cases the API calls.

* Login with the API's accounts and lockout (`mediation.users.logins.authenticate`); a login is a
  token family like a device's, kept in Flask's signed session cookie (HttpOnly, SameSite=Lax,
  path /console) and checked in the database on every request, so logout (or a password reset)
  ends it at once.
* Every view declares its roles with the API's `@allow`; the app's JWT check leaves this
  blueprint to its own session check (`api.auth.SESSION_BLUEPRINTS`).
* Every POST carries Flask-WTF's CSRF token (form field `csrf_token` or header `X-CSRFToken`).
* Pages get a Content-Security-Policy without inline scripts: page data travels in
  `<script type="application/json">` blocks read by the static scripts under static/.
* Not in the OpenAPI document: registered on the Flask app, not on flask-smorest's Api.
"""

from __future__ import annotations

import os
from datetime import timedelta


def register(app) -> None:
    """Mount the console on the app (outside flask-smorest: not in the OpenAPI document)."""
    from api.console_web import channels, risks, views  # noqa: F401  (the URL table)
    from api.console_web.core import bp

    app.config.setdefault("CONSOLE_TILE_URL", os.environ.get("CONSOLE_TILE_URL", ""))
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("HSTS_SECONDS"):  # behind TLS: the session cookie never travels in clear
        app.config["SESSION_COOKIE_SECURE"] = True
    # A console login lasts a working day (CONSOLE_SESSION_HOURS), not Flask's 31 days.
    hours = int(os.environ.get("CONSOLE_SESSION_HOURS", "8"))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", hours * 3600)
    if app.config.get("SESSION_COOKIE_PATH") is None:
        app.config["SESSION_COOKIE_PATH"] = "/console"
    if app.config.get("SESSION_COOKIE_NAME") == "session":
        app.config["SESSION_COOKIE_NAME"] = "console_session"
    app.register_blueprint(bp)
