"""Accounts, their roles over areas and a grid worker's cells, managed within the manager's area."""

from __future__ import annotations

import re
from datetime import date, datetime

from argon2 import PasswordHasher
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

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
)
from mediation.users.logins import revoke_all_families
from mediation.users.models import (
    CellAssignment,
    User,
    UserRole,
)

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")


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
