"""Use cases for accounts: users, roles, cell assignments, login, token families, access log."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from argon2 import PasswordHasher
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from core import fastsql
from core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from geo.models import Area, GridCell
from geo.scope import code_prefix_clause
from mediation.pii import Vault, mask_phone, normalize_phone
from mediation.users import passwords
from mediation.users.actor import Actor
from mediation.users.enums import (
    ADMIN,
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    ROLE_LABELS,
    SCOPE_LEVELS,
    STAFF_PHONE_REVEAL_ROLES,
)
from mediation.users.models import (
    AccessLog,
    CellAssignment,
    RefreshToken,
    TokenFamily,
    User,
    UserRole,
)

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")


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


# ------------------------------------------------------------------ queries


def get_user(db_session: Session, *, user_id: int, actor: Actor | None = None) -> User:
    """A user by id, inside what the actor may manage (404 otherwise)."""
    stmt = select(User).where(User.id == user_id)
    if actor is not None:
        stmt = stmt.where(manageable_clause(actor))
    user = db_session.scalar(stmt)
    if user is None:
        raise NotFound("未找到该用户", code="user_not_found")
    return user


def manageable_clause(actor: Actor):
    """Users the actor may see in the admin API: all for admins; for county/township staff, users
    whose every role area and current cell lies in their area (and who are not admins)."""
    if actor.has(ADMIN):
        return User.id.is_not(None)
    scope = actor.scope_for(COUNTY_ADMIN, CENTER_STAFF)
    if not scope.codes:
        return User.id.is_(None)
    outside_role = exists().where(
        UserRole.user_id == User.id,
        or_(
            UserRole.role.in_((ADMIN, COUNTY_ADMIN)),
            UserRole.area_code.is_not(None) & ~code_prefix_clause(scope, UserRole.area_code),
        ),
    )
    outside_cell = exists().where(
        CellAssignment.user_id == User.id,
        CellAssignment.valid_to.is_(None),
        ~code_prefix_clause(scope, CellAssignment.cell_code),
    )
    inside = or_(
        exists().where(UserRole.user_id == User.id, code_prefix_clause(scope, UserRole.area_code)),
        exists().where(
            CellAssignment.user_id == User.id,
            CellAssignment.valid_to.is_(None),
            code_prefix_clause(scope, CellAssignment.cell_code),
        ),
    )
    return inside & ~outside_role & ~outside_cell


def list_users(
    db_session: Session, *, actor: Actor, limit: int = 100, after_id: int = 0
) -> list[User]:
    """Users the actor may manage, by id (keyset pagination)."""
    return list(
        db_session.scalars(
            select(User)
            .where(manageable_clause(actor), User.id > after_id)
            .order_by(User.id)
            .limit(limit)
        )
    )


def current_cells(db_session: Session, *, user_id: int, today: date) -> list[CellAssignment]:
    """A grid worker's assignments valid today."""
    return list(
        db_session.scalars(
            select(CellAssignment)
            .where(
                CellAssignment.user_id == user_id,
                CellAssignment.valid_from <= today,
                or_(CellAssignment.valid_to.is_(None), CellAssignment.valid_to > today),
            )
            .order_by(CellAssignment.cell_code)
        )
    )


# ------------------------------------------------------------------ users and roles


def _check_roles(
    db_session: Session, actor: Actor, roles: list[dict]
) -> list[tuple[str, str | None]]:
    fields: dict[str, list[str]] = {}
    out: list[tuple[str, str | None]] = []
    if not roles:
        fields["roles"] = ["至少需要一个角色"]
    for i, r in enumerate(roles):
        role, code = r.get("role"), (r.get("area_code") or None)
        path = f"roles[{i}]"
        if role not in ROLE_LABELS:
            fields.setdefault(f"{path}.role", []).append("未知角色")
            continue
        levels = SCOPE_LEVELS[role]
        if role in (GRID_WORKER, ADMIN):
            if code:
                fields.setdefault(f"{path}.area_code", []).append(
                    "网格员的范围由分配的网格决定，系统管理员不设区域"
                    if role == GRID_WORKER
                    else "系统管理员不设区域"
                )
                continue
        else:
            if not code:
                fields.setdefault(f"{path}.area_code", []).append(
                    f"{ROLE_LABELS[role]}需要指定所辖区域"
                )
                continue
            area = db_session.scalar(select(Area).where(Area.code == code, Area.valid_to.is_(None)))
            if area is None:
                fields.setdefault(f"{path}.area_code", []).append(f"区划 {code} 不存在")
                continue
            if area.level not in levels:
                fields.setdefault(f"{path}.area_code", []).append(
                    f"{ROLE_LABELS[role]}的区域应为："
                    + "、".join(
                        {
                            "village": "村（社区）",
                            "township": "乡镇（街道）",
                            "county": "县（市、区）",
                        }[lv]
                        for lv in levels
                    )
                )
                continue
        if not actor.has(ADMIN):
            if role in (ADMIN, COUNTY_ADMIN) or not (
                code and actor.scope_for(COUNTY_ADMIN).contains_code(code)
            ):
                if role != GRID_WORKER:
                    raise Forbidden("只能在本县范围内设置本县以下的角色", code="role_out_of_scope")
        if (role, code) in out:
            # one row per role and area (a unique key): the same role twice is a mistake
            fields.setdefault(path, []).append("该角色与区域重复")
            continue
        out.append((role, code))
    if fields:
        raise ValidationFailed(fields=fields)
    return out


def create_user(
    db_session: Session,
    *,
    actor: Actor,
    username: str,
    display_name: str,
    password: str,
    roles: list[dict],
    phone: str | None,
    vault: Vault,
    ph: PasswordHasher,
    now: datetime,
) -> User:
    """Create an account with its roles (admins anywhere, county admins inside their county)."""
    if not actor.has(ADMIN, COUNTY_ADMIN):
        raise Forbidden()
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise ValidationFailed(
            "用户名只能包含小写字母、数字、下划线、点和连字符，3–64 位",
            code="invalid_username",
            field="username",
        )
    passwords.check_rules(password, username=username)
    checked = _check_roles(db_session, actor, roles)
    if db_session.scalar(select(User.id).where(User.username == username)):
        raise DomainError("该用户名已被使用", code="username_taken", field="username")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=ph.hash(password),
        password_changed_at=now,
    )
    _set_phone(user, phone, vault)
    user.roles = [UserRole(role=r, area_code=c) for r, c in checked]
    db_session.add(user)
    db_session.flush()
    return user


def _set_phone(user: User, phone: str | None, vault: Vault) -> None:
    if phone:
        try:
            normalized = normalize_phone(phone)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_phone", field="phone") from None
        user.phone_enc = vault.encrypt(normalized)
        user.phone_masked = mask_phone(normalized)
    else:
        user.phone_enc = None
        user.phone_masked = None


def update_user(
    db_session: Session,
    *,
    actor: Actor,
    user_id: int,
    changes: dict,
    vault: Vault,
    ph: PasswordHasher,
    now: datetime,
) -> User:
    """Change name, phone, roles, active flag or password (admin reset) of a manageable user."""
    if not actor.has(ADMIN, COUNTY_ADMIN):
        raise Forbidden()
    user = get_user(db_session, user_id=user_id, actor=actor)
    if "display_name" in changes:
        user.display_name = changes["display_name"].strip()
    if "phone" in changes:
        _set_phone(user, changes["phone"], vault)
    if "roles" in changes:
        checked = _check_roles(db_session, actor, changes["roles"])
        user.roles = [UserRole(role=r, area_code=c) for r, c in checked]
    if "password" in changes:
        passwords.check_rules(changes["password"], username=user.username)
        user.password_hash = ph.hash(changes["password"])
        user.password_changed_at = now
        revoke_all_families(db_session, user_id=user.id, now=now, reason="password_reset")
    if "is_active" in changes:
        user.is_active = bool(changes["is_active"])
        if not user.is_active:
            revoke_all_families(db_session, user_id=user.id, now=now, reason="deactivated")
        user.failed_logins, user.locked_until = 0, None
    db_session.flush()
    return user


def change_own_password(
    db_session: Session,
    *,
    actor: Actor,
    old: str,
    new: str,
    ph: PasswordHasher,
    now: datetime,
    keep_family: str | None,
) -> None:
    """Change one's own password; every other device is logged out."""
    user = db_session.get(User, actor.user_id)
    if not passwords.verify(ph, user.password_hash, old):
        raise ValidationFailed("原密码不正确", code="wrong_password", field="old_password")
    passwords.check_rules(new, username=user.username)
    user.password_hash = ph.hash(new)
    user.password_changed_at = now
    revoke_all_families(
        db_session, user_id=user.id, now=now, reason="password_changed", keep=keep_family
    )
    db_session.flush()


# ------------------------------------------------------------------ cells


def assign_cell(
    db_session: Session, *, actor: Actor, user_id: int, cell_code: str, valid_from: date
) -> CellAssignment:
    """Make a grid worker responsible for a cell from a date; the previous holder's assignment
    closes that day and stays in the history."""
    if not actor.has(ADMIN, COUNTY_ADMIN, CENTER_STAFF):
        raise Forbidden()
    cell = db_session.scalar(
        select(GridCell).where(GridCell.code == cell_code, GridCell.valid_to.is_(None))
    )
    manage_scope = actor.scope_for(COUNTY_ADMIN, CENTER_STAFF)
    if cell is None or not (actor.has(ADMIN) or manage_scope.contains_code(cell_code)):
        raise NotFound("未找到该网格", code="cell_not_found", field="cell_code")
    user = db_session.scalar(select(User).where(User.id == user_id))
    if user is None or not (
        actor.has(ADMIN)
        or (_user_in_scope(user, manage_scope) and _cells_in_scope(db_session, user, manage_scope))
    ):
        raise NotFound("未找到该用户", code="user_not_found")
    if not any(r.role == GRID_WORKER for r in user.roles):
        raise ValidationFailed("只有网格员可以分配网格", code="not_a_grid_worker", field="user_id")
    current = db_session.scalar(
        select(CellAssignment)
        .where(CellAssignment.cell_code == cell_code, CellAssignment.valid_to.is_(None))
        .with_for_update()
    )
    if current is not None:
        if current.user_id == user_id:
            return current
        if current.valid_from > valid_from:
            raise ValidationFailed(
                "生效日期早于现任网格员的开始日期", code="invalid_date", field="valid_from"
            )
        current.valid_to = valid_from
        db_session.flush()
    assignment = CellAssignment(
        user_id=user_id, cell_code=cell_code, valid_from=valid_from, created_by=actor.user_id
    )
    db_session.add(assignment)
    db_session.flush()
    return assignment


def end_cell_assignment(
    db_session: Session, *, actor: Actor, user_id: int, cell_code: str, valid_to: date
) -> CellAssignment:
    """Close a grid worker's current assignment of a cell (history is kept)."""
    if not actor.has(ADMIN, COUNTY_ADMIN, CENTER_STAFF):
        raise Forbidden()
    manage_scope = actor.scope_for(COUNTY_ADMIN, CENTER_STAFF)
    if not (actor.has(ADMIN) or manage_scope.contains_code(cell_code)):
        raise NotFound("未找到该网格分配", code="assignment_not_found")
    current = db_session.scalar(
        select(CellAssignment).where(
            CellAssignment.cell_code == cell_code,
            CellAssignment.user_id == user_id,
            CellAssignment.valid_to.is_(None),
        )
    )
    if current is None:
        raise NotFound("未找到该网格分配", code="assignment_not_found")
    current.valid_to = max(valid_to, current.valid_from)
    db_session.flush()
    return current


def _cells_in_scope(db_session: Session, user: User, scope) -> bool:
    """Every cell the user holds now lies in the scope (a worker of another township is not
    ours to assign, as manageable_clause says for the admin API)."""
    held = db_session.scalars(
        select(CellAssignment.cell_code).where(
            CellAssignment.user_id == user.id, CellAssignment.valid_to.is_(None)
        )
    )
    return all(scope.contains_code(code) for code in held)


def _user_in_scope(user: User, scope) -> bool:
    areas = [r.area_code for r in user.roles if r.area_code]
    if any(r.role in (ADMIN, COUNTY_ADMIN) for r in user.roles):
        return False
    return all(scope.contains_code(a) for a in areas)


# ------------------------------------------------------------------ login and tokens


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


# ------------------------------------------------------------------ access log


def log_access(
    db_session: Session,
    *,
    actor: Actor,
    action: str,
    record_type: str,
    record_id: str,
    field: str | None,
    purpose: str,
    ip: str | None,
    now: datetime,
) -> AccessLog:
    """Append who saw or exported what, when and why."""
    entry = AccessLog(
        user_id=actor.user_id,
        action=action,
        record_type=record_type,
        record_id=str(record_id),
        field=field,
        purpose=purpose,
        ip=ip,
        created_at=now,
    )
    db_session.add(entry)
    db_session.flush()
    return entry


def require_purpose(purpose: str | None) -> str:
    """A reveal or export must say why (at least a few characters)."""
    purpose = (purpose or "").strip()
    if len(purpose) < 4:
        raise ValidationFailed(
            "请填写查看原因（至少 4 个字）", code="purpose_required", field="purpose"
        )
    return purpose


def reveal_user_phone(
    db_session: Session,
    *,
    actor: Actor,
    user_id: int,
    purpose: str,
    vault: Vault,
    ip: str | None,
    now: datetime,
) -> str | None:
    """A staff member's full phone number, logged."""
    if not actor.has(*STAFF_PHONE_REVEAL_ROLES):
        raise Forbidden("您的角色不能查看完整电话号码", code="reveal_forbidden")
    purpose = require_purpose(purpose)
    user = get_user(db_session, user_id=user_id, actor=actor)
    log_access(
        db_session,
        actor=actor,
        action="reveal",
        record_type="user",
        record_id=str(user.id),
        field="phone",
        purpose=purpose,
        ip=ip,
        now=now,
    )
    return vault.decrypt(user.phone_enc) if user.phone_enc else None


def list_access_log(
    db_session: Session, *, actor: Actor, limit: int = 100, before_id: int | None = None
):
    """The access log, newest first (admins and county admins)."""
    if not actor.has(ADMIN, COUNTY_ADMIN):
        raise Forbidden()
    stmt = select(AccessLog).order_by(AccessLog.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AccessLog.id < before_id)
    if not actor.has(ADMIN):
        stmt = stmt.join(User, User.id == AccessLog.user_id).where(
            manageable_clause(actor) | (User.id == actor.user_id)
        )
    return list(db_session.scalars(stmt))
