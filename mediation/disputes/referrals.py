"""移送 as a loop, not an exit: the referral row, its targets and outcomes, and where a case
resolved by the receiving body counts in the Fengqiao measures."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import db
from mediation.disputes.enums import (
    COUNTY,
    REFERRAL_OUTCOMES,
    REFERRAL_TARGETS,
    REFERRED_OUT,
    TOWNSHIP,
    VILLAGE,
)

TARGETS = REFERRAL_TARGETS
OUTCOMES = REFERRAL_OUTCOMES
DEFAULT_DAYS = 30  # a referral without a deadline of its own is followed up within 30 days
OPEN, CLOSED, RETURNED = "open", "closed", "returned"


class Referral(db.Model):
    """One referral of a case: open until the receiving body's result is recorded (by its partner
    system or by the centre)."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    body_id: Mapped[int | None]  # mediation_body.id (foreign key in migration 0013)
    organisation: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    from_level: Mapped[str] = mapped_column(String(16))
    referred_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    referred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # open / closed / returned
    outcome: Mapped[str | None] = mapped_column(String(16))
    result_on: Mapped[date | None] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text)
    mediator: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_via: Mapped[str | None] = mapped_column(String(16))  # centre / partner
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def open_referral(db_session: Session, dispute_id) -> Referral | None:
    """The case's referral waiting for its result."""
    return db_session.scalar(
        select(Referral).where(Referral.dispute_id == dispute_id, Referral.status == OPEN)
    )


def resolved_level_of(target: str, body_level: str | None) -> str:
    """Where a case the receiving body resolved counts (就地化解率, 不出镇率): at the body's own
    level when it is one of ours (a township's 行业性 committee counts as the township), else
    outside the township (court, police, 信访, a department): `referred`."""
    if target == "committee" and body_level in (VILLAGE, TOWNSHIP, COUNTY):
        return body_level
    return REFERRED_OUT
