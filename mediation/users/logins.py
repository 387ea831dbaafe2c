"""Login with lockout, token families (one per device) and the per-request token check."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import fastsql
from core.errors import DomainError
from mediation.users import passwords
from mediation.users.models import (
    RefreshToken,
    TokenFamily,
    User,
)


class InvalidCredentials(DomainError):
    """Wrong username or password (never says which)."""

    code = "invalid_credentials"
    message = "用户名或密码错误"


class AccountLocked(DomainError):
    """Too many failed logins in a row."""

    code = "account_locked"
    message = "连续登录失败次数过多，账号已临时锁定，请稍后再试或联系管理员"


class RefreshReused(DomainError):
    """A refresh token was presented twice: the whole family is revoked."""

    code = "refresh_token_reused"
    message = "登录凭证被重复使用，为安全起见已退出该设备上的登录，请重新登录"


class TokenRevoked(DomainError):
    """The token's login was ended (logout, reuse, deactivation)."""

    code = "token_revoked"
    message = "登录已失效，请重新登录"


def authenticate(
    db_session: Session,
    *,
    username: str,
    password: str,
    ph: PasswordHasher,
    now: datetime,
    max_failures: int,
    lock_minutes: int,
) -> User:
    """Check a password; count failures in the database (shared by every server process) and
    lock the account for a while after `max_failures` in a row."""
    user = db_session.scalar(
        select(User).where(User.username == (username or "").strip().lower()).with_for_update()
    )
    if user is None or not user.is_active:
        # Same work and answer as a wrong password, so usernames cannot be probed by timing.
        passwords.verify(ph, _dummy_hash(ph), password or "")
        raise InvalidCredentials()
    if user.locked_until and user.locked_until > now:
        raise AccountLocked(details={"locked_until": user.locked_until.isoformat()})
    if not passwords.verify(ph, user.password_hash, password or ""):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
        raise InvalidCredentials()
    user.failed_logins, user.locked_until = 0, None
    if ph.check_needs_rehash(user.password_hash):
        user.password_hash = ph.hash(password)
    return user


@lru_cache(maxsize=4)
def _dummy_hash(ph: PasswordHasher) -> str:
    """A hash of a random password, per hasher, so unknown users cost a real verification."""
    return ph.hash("not-a-real-password-" + uuid.uuid4().hex)


def start_family(
    db_session: Session, *, user: User, device_name: str | None, now: datetime
) -> TokenFamily:
    """A new login on one device."""
    family = TokenFamily(
        id=str(uuid.uuid4()),
        user_id=user.id,
        device_name=device_name,
        created_at=now,
        last_used_at=now,
    )
    db_session.add(family)
    db_session.flush()
    return family


def record_refresh(
    db_session: Session, *, family_id: str, jti: str, issued_at: datetime, expires_at: datetime
) -> None:
    """Remember an issued refresh token so that a second use can be detected."""
    db_session.add(
        RefreshToken(jti=jti, family_id=family_id, issued_at=issued_at, expires_at=expires_at)
    )
    db_session.flush()


def use_refresh(db_session: Session, *, jti: str, family_id: str, now: datetime) -> TokenFamily:
    """Consume a refresh token once; a reused one revokes its whole family (and is refused)."""
    token = db_session.scalar(select(RefreshToken).where(RefreshToken.jti == jti).with_for_update())
    family = db_session.get(TokenFamily, family_id, with_for_update=True)
    if token is None or family is None or token.family_id != family_id:
        raise TokenRevoked()
    if family.revoked_at is not None:
        raise TokenRevoked()
    if token.used_at is not None:
        family.revoked_at, family.revoked_reason = now, "refresh_reused"
        raise RefreshReused()
    token.used_at = now
    family.last_used_at = now
    db_session.flush()
    return family


def revoke_family(db_session: Session, *, family_id: str, now: datetime, reason: str) -> None:
    """End one device's login at once (its access tokens are refused from the next request)."""
    db_session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def revoke_all_families(
    db_session: Session, *, user_id: int, now: datetime, reason: str, keep: str | None = None
) -> int:
    """End every login of a user (optionally keeping the current device)."""
    stmt = update(TokenFamily).where(
        TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None)
    )
    if keep:
        stmt = stmt.where(TokenFamily.id != keep)
    return db_session.execute(stmt.values(revoked_at=now, revoked_reason=reason)).rowcount


class TokenRole(NamedTuple):
    role: str
    area_code: str | None


class TokenUser(NamedTuple):
    """The user behind a live token: what building the Actor needs, nothing more."""

    id: int
    username: str
    display_name: str
    roles: tuple[TokenRole, ...]


SQL_LOGIN_ACCOUNT = """
    SELECT u.id, u.username, u.display_name, u.is_active, f.revoked_at,
           ARRAY(SELECT r.role FROM user_role r WHERE r.user_id = u.id ORDER BY r.id) AS roles,
           ARRAY(SELECT r.area_code FROM user_role r WHERE r.user_id = u.id ORDER BY r.id)
             AS role_areas,
           ARRAY(SELECT a.cell_code FROM cell_assignment a
                 WHERE a.user_id = u.id AND a.valid_from <= %(today)s
                   AND (a.valid_to IS NULL OR a.valid_to > %(today)s)) AS cells
    FROM user_account u JOIN token_family f ON f.user_id = u.id
    WHERE u.id = %(user_id)s AND f.id = %(family_id)s"""


def token_user(
    db_session: Session, *, user_id: int, family_id: str, today: date
) -> tuple[TokenUser, frozenset[str]] | None:
    """The user of a token whose family is still live and whose account is active, with their
    roles and the cells assigned to them today — one prepared statement on every request (it is
    the costliest part of a request's own overhead; bench/run.py --profile-register) — else
    None."""
    row = fastsql.fetch_one(
        db_session, SQL_LOGIN_ACCOUNT, {"user_id": user_id, "family_id": family_id, "today": today}
    )
    if row is None or row.revoked_at is not None or not row.is_active:
        return None
    roles = tuple(TokenRole(r, a) for r, a in zip(row.roles, row.role_areas, strict=True))
    return TokenUser(row.id, row.username, row.display_name, roles), frozenset(row.cells)
