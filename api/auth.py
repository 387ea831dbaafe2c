"""Authentication and authorisation at the HTTP edge: JWT loaders, per-endpoint role policies.

Every view method declares who may call it with @allow(...). A request to a method without a
policy is refused (deny by default), and tests check that every route has one. Area scoping is not
done here: the use cases filter inside their queries, so out-of-scope records answer 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from api.errors import error_response
from api.extensions import jwt
from core.clock import business_date, utcnow
from core.db import db
from core.errors import Forbidden
from mediation.pii import vault_for
from mediation.users import logins, passwords
from mediation.users.actor import Actor, load_actor
from mediation.users.enums import ROLES

PUBLIC_ENDPOINTS = {"static", "swagger_ui_asset"}
PUBLIC_BLUEPRINTS = {"api-docs"}
# Blueprints that check a session cookie themselves, against the same @allow policies (the console).
SESSION_BLUEPRINTS = {"console_web"}
ANY_ROLE = frozenset(ROLES)


@dataclass(frozen=True)
class Policy:
    """Who may call a view method: nobody logged in (public), a refresh token, or these roles."""

    roles: frozenset[str]
    public: bool = False
    refresh: bool = False


def allow(*roles: str, public: bool = False, refresh: bool = False):
    """Attach a policy to a view method: @allow(MEDIATOR, VILLAGE_ADMIN) or @allow(public=True)."""
    policy = Policy(frozenset(roles) if roles else ANY_ROLE, public=public, refresh=refresh)

    def decorate(fn):
        fn._policy = policy
        return fn

    return decorate


def policy_for(view_function, method: str) -> Policy | None:
    """The policy of the method a request will reach (None when it has none)."""
    cls = getattr(view_function, "view_class", None)
    target = getattr(cls, method.lower(), None) if cls is not None else view_function
    if target is None and method == "HEAD" and cls is not None:
        target = getattr(cls, "get", None)
    return getattr(target, "_policy", None)


def current_actor() -> Actor:
    """The authenticated actor of this request (set by enforce_policy)."""
    return g.actor


def request_now():
    """The request's `now`, read once at the edge."""
    if "now" not in g:
        g.now = utcnow()
    return g.now


def vault():
    """The personal-data vault for this deployment's key."""
    return vault_for(current_app.config["PII_KEY"])


def password_hasher():
    """Argon2id with the configured cost."""
    return passwords.hasher_for(current_app.config)


def enforce_policy():
    """before_request: public, refresh-only, or a logged-in user holding one of the roles."""
    if request.endpoint is None or request.method == "OPTIONS":
        return None
    if request.endpoint in PUBLIC_ENDPOINTS or request.blueprint in PUBLIC_BLUEPRINTS:
        return None
    if request.blueprint in SESSION_BLUEPRINTS:
        return None
    view = current_app.view_functions.get(request.endpoint)
    policy = policy_for(view, request.method)
    if policy is None:
        current_app.logger.error("no access policy for %s %s", request.method, request.endpoint)
        raise Forbidden("该接口未配置访问权限", code="no_policy")
    if policy.public:
        return None
    if policy.refresh:
        _refresh_token_from_body()
    verify_jwt_in_request(refresh=policy.refresh)
    if policy.refresh:
        return None
    user = g.pop("_token_user")
    actor = load_actor(
        db.session, user=user, today=business_date(request_now()), cells=g.pop("_token_cells")
    )
    if not actor.has(*policy.roles):
        raise Forbidden()
    g.actor = actor
    return None


def _refresh_token_from_body() -> None:
    """A refresh token sent as `{"refresh_token": …}` counts as if it came in the header (the
    header wins). The body is read here only when it is small JSON; the view's schema checks it
    again, so whatever is wrong with it gets the usual answer."""
    if request.headers.get("Authorization") or not request.is_json:
        return
    if not 0 < (request.content_length or 0) <= current_app.config["MAX_JSON_BYTES"]:
        return
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if isinstance(token, str) and token and token.isascii() and token.isprintable():
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"


def _jwt_error(status: int, code: str, message: str):
    return error_response(status, code, message, headers={"WWW-Authenticate": "Bearer"})


def register(app) -> None:
    """Install the JWT callbacks and the policy check."""
    app.before_request(enforce_policy)

    @jwt.token_in_blocklist_loader
    def _revoked(_header, payload) -> bool:
        fam = payload.get("fam")
        try:
            user_id = int(payload.get("sub"))
        except (TypeError, ValueError):
            return True
        if not fam:
            return True
        found = logins.token_user(
            db.session, user_id=user_id, family_id=fam, today=business_date(request_now())
        )
        g._token_user, g._token_cells = found or (None, None)
        return found is None

    @jwt.user_lookup_loader
    def _lookup(_header, payload):
        return g.get("_token_user")

    @jwt.unauthorized_loader
    def _missing(_reason):
        return _jwt_error(401, "unauthorized", "请先登录")

    @jwt.invalid_token_loader
    def _invalid(_reason):
        return _jwt_error(401, "invalid_token", "登录凭证无效，请重新登录")

    @jwt.expired_token_loader
    def _expired(_header, _payload):
        return _jwt_error(401, "token_expired", "登录已过期，请重新登录")

    @jwt.revoked_token_loader
    def _revoked_response(_header, _payload):
        return _jwt_error(401, "token_revoked", "登录已失效，请重新登录")

    @jwt.user_lookup_error_loader
    def _lookup_error(_header, _payload):
        return _jwt_error(401, "token_revoked", "登录已失效，请重新登录")

    @jwt.token_verification_failed_loader
    def _verification_failed(_header, _payload):
        return _jwt_error(401, "invalid_token", "登录凭证无效，请重新登录")


def token_family() -> str | None:
    """The family id of the presented token."""
    return get_jwt().get("fam")
