"""URL table for login, token refresh, logout and the current user."""

from datetime import UTC, datetime

from flask import current_app, g
from flask.views import MethodView
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token, get_jwt

from api.auth import allow, current_actor, password_hasher, request_now, token_family
from api.inputs import Blueprint
from api.schemas.users import LoginIn, MeOut, PasswordChangeIn, RefreshIn, TokensOut
from api.security import limited
from core.clock import business_date
from core.db import db
from mediation.users import accounts, logins
from mediation.users.actor import Actor, load_actor
from mediation.users.enums import ROLE_LABELS
from mediation.users.models import TokenFamily, User

auth_bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录与会话")
blueprints = [auth_bp]


def me_dict(actor: Actor) -> dict:
    """The logged-in user's profile."""
    roles = [
        {"role": r, "area_code": a, "label": ROLE_LABELS[r]}
        for r, areas in sorted(actor.roles.items())
        for a in (sorted(areas) or [None])
    ]
    return {
        "id": actor.user_id,
        "username": actor.username,
        "display_name": actor.display_name,
        "roles": roles,
        "cells": sorted(actor.cells),
    }


def issue_tokens(user: User, family: TokenFamily) -> dict:
    """A new access + refresh pair in a family; the refresh jti is remembered for rotation."""
    claims = {"fam": family.id}
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims)
    decoded = decode_token(refresh, allow_expired=True)
    logins.record_refresh(
        db.session,
        family_id=family.id,
        jti=decoded["jti"],
        issued_at=datetime.fromtimestamp(decoded["iat"], UTC),
        expires_at=datetime.fromtimestamp(decoded["exp"], UTC),
    )
    actor = load_actor(db.session, user=user, today=business_date(request_now()))
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
        "user": me_dict(actor),
    }


def _failed_login(response) -> bool:
    return response.status_code in (401, 423)


@auth_bp.route("/login")
class Login(MethodView):
    @allow(public=True)
    @limited("LOGIN_RATE_LIMIT", per="ip", deduct_when=_failed_login)
    @auth_bp.arguments(LoginIn)
    @auth_bp.response(200, TokensOut)
    @auth_bp.alt_response(401, description="用户名或密码错误 (invalid_credentials)")
    @auth_bp.alt_response(423, description="连续失败后账号临时锁定 (account_locked)")
    @auth_bp.alt_response(429, description="同一地址失败过多 (too_many_requests)")
    def post(self, data):
        """Log in with username and password; one login = one device's token family."""
        user, family = sign_in(data["username"], data["password"], data["device_name"])
        tokens = issue_tokens(user, family)
        db.session.commit()
        return tokens


def sign_in(username: str, password: str, device_name: str):
    """(user, token family) of a login — the API's and the console's. A wrong password is
    counted, and that count committed, before the error goes up."""
    cfg = current_app.config
    now = request_now()
    try:
        user = logins.authenticate(
            db.session,
            username=username,
            password=password,
            ph=password_hasher(),
            now=now,
            max_failures=cfg["LOGIN_MAX_FAILURES"],
            lock_minutes=cfg["LOGIN_LOCK_MINUTES"],
        )
    except logins.InvalidCredentials:
        db.session.commit()  # keep the failure count
        raise
    return user, logins.start_family(db.session, user=user, device_name=device_name, now=now)


@auth_bp.route("/refresh")
class Refresh(MethodView):
    @allow(refresh=True)
    @auth_bp.arguments(RefreshIn, required=False)
    @auth_bp.response(200, TokensOut)
    @auth_bp.alt_response(401, description="令牌失效或被重复使用 (refresh_token_reused)")
    def post(self, _data):
        """Exchange a refresh token for a new pair; each refresh token works once.

        Send it as `{"refresh_token": "…"}` or in `Authorization: Bearer …` (the header wins)."""
        claims = get_jwt()
        now = request_now()
        try:
            family = logins.use_refresh(
                db.session, jti=claims["jti"], family_id=claims.get("fam"), now=now
            )
        except logins.RefreshReused:
            db.session.commit()  # the family stays revoked
            raise
        user = g.pop("_token_user")
        tokens = issue_tokens(user, family)
        db.session.commit()
        return tokens


@auth_bp.route("/logout")
class Logout(MethodView):
    @allow()
    @auth_bp.response(204)
    def post(self):
        """Log out this device: its tokens stop working at once."""
        logins.revoke_family(
            db.session, family_id=token_family(), now=request_now(), reason="logout"
        )
        db.session.commit()


@auth_bp.route("/logout-all")
class LogoutAll(MethodView):
    @allow()
    @auth_bp.response(204)
    def post(self):
        """Log out every device of the current user (e.g. a phone was lost)."""
        logins.revoke_all_families(
            db.session, user_id=current_actor().user_id, now=request_now(), reason="logout_all"
        )
        db.session.commit()


@auth_bp.route("/me")
class Me(MethodView):
    @allow()
    @auth_bp.response(200, MeOut)
    def get(self):
        """The current user with roles, areas and today's cells."""
        return me_dict(current_actor())


@auth_bp.route("/password")
class Password(MethodView):
    @allow()
    @limited("PASSWORD_RATE_LIMIT", deduct_when=lambda r: r.status_code == 422)
    @auth_bp.arguments(PasswordChangeIn)
    @auth_bp.response(204)
    def post(self, data):
        """Change one's own password; other devices are logged out."""
        accounts.change_own_password(
            db.session,
            actor=current_actor(),
            old=data["old_password"],
            new=data["new_password"],
            ph=password_hasher(),
            now=request_now(),
            keep_family=token_family(),
        )
        db.session.commit()
