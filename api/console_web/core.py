"""The console's blueprint and what every page shares: the session → actor check, CSRF, the
Content-Security-Policy, error pages, gzip'd JSON and the template filters (see the package
docstring)."""

from __future__ import annotations

import gzip
import json
import os

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from api.auth import policy_for, request_now
from api.errors import http_status
from core.clock import BUSINESS_TZ, business_date
from core.db import db
from core.errors import DomainError
from mediation.users import logins
from mediation.users.actor import Actor, load_actor
from mediation.users.enums import ROLE_LABELS

HERE = os.path.dirname(__file__)
STATIC = os.path.join(HERE, "static")

bp = Blueprint("console_web", __name__, url_prefix="/console", template_folder="templates")


def page_csp() -> str:
    """The console's policy: only this origin (plus the optional tile server for images)."""
    tiles = current_app.config.get("CONSOLE_TILE_URL") or ""
    img = "'self' data:"
    if tiles.startswith(("http://", "https://")):
        origin = "/".join(tiles.split("/")[:3])
        img += f" {origin}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


# ------------------------------------------------------------------ session → actor


def console_actor() -> Actor:
    """The logged-in actor of this console request."""
    return g.actor


def _session_actor() -> Actor | None:
    uid, fam = session.get("uid"), session.get("fam")
    if not uid or not fam:
        return None
    found = logins.token_user(
        db.session, user_id=int(uid), family_id=fam, today=business_date(request_now())
    )
    if found is None:
        session.clear()
        return None
    user, cells = found
    return load_actor(db.session, user=user, today=business_date(request_now()), cells=cells)


class CsrfRefused(DomainError):
    code = "csrf_failed"
    message = "页面已过期或缺少安全校验（CSRF 令牌），请刷新页面后重试"


@bp.before_request
def _authenticate():
    """Policy of the view (the API's @allow), the session's actor, then CSRF on every POST."""
    # Flask-WTF caches the token in `g`; a request must never reuse another session's token
    # (in tests, requests share one app context and so one `g`).
    g.pop("csrf_token", None)
    g.pop("actor", None)
    view = current_app.view_functions.get(request.endpoint)
    policy = policy_for(view, request.method)
    if policy is None:
        return error_page(403, "该页面未配置访问权限")
    if not policy.public:
        actor = _session_actor()
        if actor is None:
            if request.method == "GET":
                return redirect(url_for("console_web.login", next=request.full_path.rstrip("?")))
            return error_page(401, "登录已失效，请重新登录")
        g.actor = actor
        if not actor.has(*policy.roles):
            return error_page(403, "您的角色不能使用此页面")
    if request.method == "POST":
        token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
        try:
            validate_csrf(token)
        except ValidationError:
            raise CsrfRefused() from None
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = page_csp()
    if request.endpoint != "console_web.asset":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    return error_page(http_status(error), error.message, code=error.code)


def error_page(status: int, message: str, code: str | None = None):
    """An error as a page of the console (Chinese message, the same stable code as the API)."""
    if request.accept_mimetypes.best == "application/json" or request.path.endswith(".json"):
        return Response(
            json.dumps({"code": code or str(status), "message": message}, ensure_ascii=False),
            status=status,
            mimetype="application/json",
        )
    titles = {400: "请求无效", 401: "请先登录", 403: "无权访问", 404: "未找到", 409: "操作冲突"}
    body = render_template(
        "console/error.html",
        status=status,
        title=titles.get(status, "无法完成操作"),
        message=message,
        code=code,
    )
    return body, status


def gzip_json(payload: dict) -> Response:
    """JSON, gzip-compressed when the browser accepts it (map layers)."""
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    response = Response(raw, mimetype="application/json")
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(raw, compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    return response


# ------------------------------------------------------------------ templates


@bp.app_template_filter("local")
def _local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        from datetime import datetime

        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if hasattr(value, "astimezone") and getattr(value, "tzinfo", None) is not None:
        return value.astimezone(BUSINESS_TZ).strftime(fmt)
    return value.strftime(fmt if hasattr(value, "hour") else "%Y-%m-%d")


@bp.app_template_filter("pct")
def _pct(value) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


@bp.context_processor
def _context():
    actor = g.get("actor")
    return {
        "csrf_token": generate_csrf,
        "me": actor,
        "role_labels": ROLE_LABELS,
        "tile_url": current_app.config.get("CONSOLE_TILE_URL") or "",
    }
