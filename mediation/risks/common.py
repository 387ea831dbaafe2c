"""Checks shared by the risk use cases: key areas, the township, a responsible person, text
without personal data."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from mediation.disputes.enums import KEY_AREAS
from mediation.users.actor import Actor
from mediation.users.models import CellAssignment, User

# A resident ID number or a mobile phone in free text (domain §5): a signal or a meeting record
# describes situations; personal data belongs to a dispute's parties, encrypted (domain §6).
_PERSONAL = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15}|1[3-9]\d{9})(?!\d)")


def check_key_areas(values, *, field: str = "key_areas", required: bool = True) -> list[str]:
    """Known key areas (the fifteen 重点领域), in their canonical order."""
    values = list(values or [])
    unknown = [v for v in values if v not in KEY_AREAS]
    if unknown:
        raise ValidationFailed(
            f"未知的重点领域：{'、'.join(map(str, unknown))}（应为十五个重点领域之一）",
            code="unknown_key_area",
            field=field,
        )
    if required and not values:
        raise ValidationFailed("请选择重点领域", code="key_area_required", field=field)
    return [k for k in KEY_AREAS if k in values]


def check_township(actor: Actor, code: str, *, field: str = "township_code") -> str:
    """A township (9-digit code) inside the actor's area."""
    if not isinstance(code, str) or len(code) != 9 or not code.isdigit():
        raise ValidationFailed("请填写 9 位乡镇（街道）代码", code="invalid_area", field=field)
    if not actor.case_scope.contains_code(code):
        raise ValidationFailed(
            "只能为本人辖区内的乡镇（街道）登记", code="outside_your_area", field=field
        )
    return code


def check_person(db_session: Session, user_id: int | None, township: str, *, field: str):
    """An active user holding a role in (or over) the township, or a grid worker who has (or
    had) a cell there; None when not given."""
    if user_id is None:
        return None
    user = db_session.scalar(select(User).where(User.id == user_id, User.is_active.is_(True)))
    ok = user is not None and (
        any(
            r.area_code and (township.startswith(r.area_code) or r.area_code.startswith(township))
            for r in user.roles
        )
        or db_session.scalar(
            select(CellAssignment.id)
            .where(
                CellAssignment.user_id == user.id,
                CellAssignment.cell_code.startswith(township, autoescape=True),
                CellAssignment.valid_to.is_(None),
            )
            .limit(1)
        )
        is not None
    )
    if not ok:
        raise ValidationFailed(
            "责任人应为本乡镇（街道）或其上级、下级的在岗工作人员",
            code="invalid_responsible",
            field=field,
        )
    return user


def check_no_personal_data(value: str | None, *, field: str) -> str | None:
    """Free text without ID numbers or phone numbers (refused, not silently cut)."""
    if value and _PERSONAL.search(value):
        raise ValidationFailed(
            "请勿在此填写身份证号或手机号：隐患和研判记录只描述情况，当事人信息请在矛盾纠纷登记中填写",
            code="personal_data_in_text",
            field=field,
        )
    return value.strip() if isinstance(value, str) else value
