"""The access log: every reveal of personal data and every export, with its purpose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from mediation.pii import Vault
from mediation.users.accounts import get_user, manageable_clause
from mediation.users.actor import Actor
from mediation.users.enums import (
    ACCESS_REVEAL,
    ADMIN,
    COUNTY_ADMIN,
    STAFF_PHONE_REVEAL_ROLES,
)
from mediation.users.models import (
    AccessLog,
    User,
)


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
        action=ACCESS_REVEAL,
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
