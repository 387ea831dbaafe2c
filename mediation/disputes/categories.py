"""Dispute categories as data (domain §4: "keep categories as data so a deployment can add its
own"): the `dispute_category` table, seeded with the codes of the 人民调解 statistics bulletins.
Codes are never reused or deleted (a database trigger refuses both); a category no longer offered
is retired — old cases keep it and its label, new registrations may not use it."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import fastsql
from core.errors import Conflict, NotFound, ValidationFailed
from mediation.disputes.enums import CATEGORIES
from mediation.disputes.models import DisputeCategory

CODE = re.compile(r"^\d{2,8}$")


def check_category(db_session: Session, code: str) -> str:
    """A new case's category must be one in use (read on every registration: prepared); its
    label."""
    row = fastsql.fetch_one(
        db_session,
        "SELECT label, retired_at FROM dispute_category WHERE code = %(c)s",
        {"c": code},
    )
    if row is None or row.retired_at is not None:
        raise ValidationFailed(
            "纠纷类别不存在或已停用，请重新选择", code="unknown_category", field="category"
        )
    return row.label


def list_categories(db_session: Session, *, include_retired: bool = True) -> list[DisputeCategory]:
    """Every category in display order (retired ones last within their place)."""
    stmt = select(DisputeCategory).order_by(DisputeCategory.position, DisputeCategory.code)
    if not include_retired:
        stmt = stmt.where(DisputeCategory.retired_at.is_(None))
    return list(db_session.scalars(stmt))


def category_labels(db_session: Session) -> dict[str, str]:
    """code → label of every category, retired ones included (old cases keep their label)."""
    rows = db_session.execute(
        select(DisputeCategory.code, DisputeCategory.label).order_by(
            DisputeCategory.position, DisputeCategory.code
        )
    )
    return {code: label for code, label in rows} or dict(CATEGORIES)


def add_category(db_session: Session, *, code: str, label: str, now: datetime) -> DisputeCategory:
    """A deployment's own category; its code must be new (never one used before, even retired)."""
    if not CODE.match(code or ""):
        raise ValidationFailed(
            "类别代码应为 2 到 8 位数字", code="invalid_category_code", field="code"
        )
    if db_session.get(DisputeCategory, code) is not None:
        raise Conflict(
            "该类别代码已使用过（含已停用的类别），代码不能重复使用",
            code="category_code_taken",
            field="code",
        )
    last = db_session.scalar(select(func.max(DisputeCategory.position))) or 0
    row = DisputeCategory(code=code, label=_label(label), position=last + 1, created_at=now)
    db_session.add(row)
    db_session.flush()
    return row


def update_category(
    db_session: Session,
    *,
    code: str,
    label: str | None = None,
    retired: bool | None = None,
    now: datetime,
) -> DisputeCategory:
    """Rename a category, retire it (no new cases) or bring a retired one back."""
    row = db_session.get(DisputeCategory, code, with_for_update=True)
    if row is None:
        raise NotFound("未找到该纠纷类别", code="category_not_found")
    if label is not None:
        row.label = _label(label)
    if retired is True and row.retired_at is None:
        row.retired_at = now
    elif retired is False:
        row.retired_at = None
    db_session.flush()
    return row


def _label(label: str) -> str:
    text = (label or "").strip()
    if not text or len(text) > 50:
        raise ValidationFailed(
            "类别名称不能为空，最多 50 个字", code="invalid_category_label", field="label"
        )
    return text
