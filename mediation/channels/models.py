"""Partners and their credentials and call log, mediation bodies, dispatch, 挂牌督办, 包案
progress (referrals are part of the case flow: mediation/disputes/referrals.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

CASE_FK = "dispute.id"


class Partner(db.Model):
    """A partner system (12345 platform, 信访 system, 110, a court) scoped to a county or township;
    its orders are registered by its own service account (`user_id`)."""

    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(12))
    result_url: Mapped[str | None] = mapped_column(String(500))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PartnerCredential(db.Model):
    """A key id and its HMAC secret (encrypted: the server recomputes signatures), revocable."""

    __tablename__ = "partner_credential"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"))
    secret_enc: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PartnerCall(db.Model):
    """One call of a partner: who, what, the answer — never the parties or the description."""

    __tablename__ = "partner_call"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"))
    key_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(40))
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class MediationBody(db.Model):
    """A 人民调解委员会 (village, township) or 行业性专业性 committee, a court, a police station …,
    with its mediators (user ids); kept by the county."""

    __tablename__ = "mediation_body"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24))
    area_code: Mapped[str] = mapped_column(String(12))
    level: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"))
    member_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Dispatch(db.Model):
    """派单: the centre gives a case to a named mediator or a body with a deadline; the assignee
    accepts or returns it (with a reason) before `accept_due_at`."""

    __tablename__ = "dispatch"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CASE_FK, ondelete="CASCADE"))
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body_id: Mapped[int | None] = mapped_column(ForeignKey("mediation_body.id"))
    due_on: Mapped[date] = mapped_column(Date)
    accept_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # pending / accepted / returned
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class SupervisionOrder(db.Model):
    """挂牌督办 or 领导批示: an instruction with a deadline to the supervised unit, open until answered."""

    __tablename__ = "supervision_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CASE_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # listed (挂牌督办) / instruction (领导批示)
    instruction: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    unit_role: Mapped[str] = mapped_column(String(32))
    unit_area: Mapped[str] = mapped_column(String(15))
    ordered_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LeaderProgress(db.Model):
    """A 包案领导's progress entry on their RED case, or the 销号 (sign-off) that ends it."""

    __tablename__ = "leader_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(CASE_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # progress / sign_off
    note: Mapped[str] = mapped_column(Text)
    leader_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
