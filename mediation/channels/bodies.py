"""The registry of mediation bodies a county keeps: village and township 人民调解委员会,
行业性专业性 committees (labour, medical, traffic, property, family), courts, police stations,
信访 and departments, each with its mediators and, when it has one, its partner system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from mediation.channels.enums import BODY_KINDS
from mediation.channels.models import MediationBody, Partner
from mediation.disputes.enums import LEVEL_BY_CODE_LENGTH
from mediation.users.actor import Actor
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN, MEDIATOR
from mediation.users.models import User, UserRole


def create_body(
    db_session: Session,
    *,
    actor: Actor,
    name: str,
    kind: str,
    area_code: str,
    member_ids: list[int],
    partner_id: int | None,
    now: datetime,
) -> MediationBody:
    """Add a body to the county's registry; its members must be mediators of the county."""
    if kind not in BODY_KINDS:
        raise ValidationFailed("调解组织类型不正确", code="invalid_body_kind", field="kind")
    if len(area_code) not in (6, 9, 12):
        raise ValidationFailed("所在区域代码不正确", code="invalid_area", field="area_code")
    if not actor.scope_for(COUNTY_ADMIN).contains_code(area_code):
        raise NotFound("未找到该区域", code="area_not_found", field="area_code")
    county = area_code[:6]
    ok = set(
        db_session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.id.in_(member_ids or [0]),
                User.is_active.is_(True),
                UserRole.role == MEDIATOR,
                UserRole.area_code.startswith(county),
            )
        )
    )
    if set(member_ids) - ok:
        raise ValidationFailed(
            "调解员须为本县在职的人民调解员", code="invalid_member", field="member_ids"
        )
    if partner_id is not None:
        partner = db_session.get(Partner, partner_id)
        if partner is None or not partner.area_code.startswith(county):
            raise ValidationFailed(
                "合作方不存在或不在本县", code="partner_not_found", field="partner_id"
            )
    body = MediationBody(
        name=name.strip(),
        kind=kind,
        area_code=area_code,
        level=LEVEL_BY_CODE_LENGTH[len(area_code)],
        partner_id=partner_id,
        member_ids=sorted(set(member_ids)),
        active=True,
        created_at=now,
    )
    try:
        with db_session.begin_nested():
            db_session.add(body)
            db_session.flush()
    except IntegrityError:
        raise Conflict("该区域已有同名调解组织", code="body_name_taken", field="name") from None
    return body


def list_bodies(db_session: Session, *, actor: Actor) -> list[MediationBody]:
    """The bodies of the actor's county (centres and counties choose from them when dispatching
    or referring)."""
    codes = actor.scope_for(CENTER_STAFF, COUNTY_ADMIN, MEDIATOR).codes
    counties = sorted({c[:6] for c in codes})
    if not counties:
        return []
    rows = db_session.scalars(
        select(MediationBody)
        .where(MediationBody.active.is_(True))
        .order_by(MediationBody.area_code, MediationBody.name)
    ).all()
    return [b for b in rows if b.area_code[:6] in counties]
