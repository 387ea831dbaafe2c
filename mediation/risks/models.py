"""稳评 items with their checks and linked disputes, risk signals, 研判 meetings and decisions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db


class StabilityItem(db.Model):
    """A major project, policy or event of a township under 社会稳定风险评估 (稳评)."""

    __tablename__ = "stability_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9))
    county_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)  # what is decided
    decision_maker: Mapped[str] = mapped_column(String(200))  # by whom (决策主体)
    key_areas: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    village_codes: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=list)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    responsible_unit: Mapped[str | None] = mapped_column(String(200))
    rating: Mapped[str | None] = mapped_column(String(8))
    risk_points: Mapped[list] = mapped_column(JSONB, default=list)
    measures: Mapped[list] = mapped_column(JSONB, default=list)
    assessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assessed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision: Mapped[str | None] = mapped_column(String(32))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("decision IS NULL OR rating IS NOT NULL", name="assessed_before_decision"),
        Index("ix_stability_item_township", "township_code", "created_at"),
        Index("ix_stability_item_geom", "geom", postgresql_using="gist"),
    )


class StabilityCheck(db.Model):
    """A follow-up check of an item after its decision (跟踪回访)."""

    __tablename__ = "stability_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("stability_item.id", ondelete="CASCADE"), index=True
    )
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    checked_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StabilityLink(db.Model):
    """A dispute that arose from an item (offered by place + key area, confirmed by a person)."""

    __tablename__ = "stability_link"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("stability_item.id", ondelete="CASCADE"), primary_key=True
    )
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), primary_key=True, unique=True
    )
    offered: Mapped[bool] = mapped_column(Boolean)  # it was among the offered disputes
    linked_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskSignal(db.Model):
    """A risk seen before it is a dispute (隐患): a situation at a place, in one key area.

    The id is the phone's client id (idempotent retries, online or through the sync push).
    It describes a situation, never a person: no names, ID numbers or phones (domain §6)."""

    __tablename__ = "risk_signal"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    cell_code: Mapped[str] = mapped_column(String(15))
    village_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(9))
    county_code: Mapped[str] = mapped_column(String(6))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    key_area: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    device_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    likelihood: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str | None] = mapped_column(String(8))
    assessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assessed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    follow_ups: Mapped[list] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    close_note: Mapped[str | None] = mapped_column(Text)
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dispute.id", ondelete="SET NULL")
    )
    item_id: Mapped[int | None] = mapped_column(ForeignKey("stability_item.id"))
    round_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("screening_round.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_when_not_open"),
        CheckConstraint("status <> 'converted' OR dispute_id IS NOT NULL", name="converted_case"),
        CheckConstraint("status <> 'attached' OR item_id IS NOT NULL", name="attached_item"),
        Index("ix_risk_signal_village_at", "village_code", "observed_at"),
        Index("ix_risk_signal_township_at", "township_code", "observed_at"),
        Index("ix_risk_signal_county_at", "county_code", "observed_at"),
        Index("ix_risk_signal_cell_at", "cell_code", "observed_at"),
        Index("ix_risk_signal_reporter", "reporter_id"),
        Index(
            "ix_risk_signal_dispute",
            "dispute_id",
            unique=True,
            postgresql_where=text("dispute_id IS NOT NULL"),
        ),
    )


class ReviewMeeting(db.Model):
    """A 研判 meeting of the township centre: routine, at key dates, or special."""

    __tablename__ = "review_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9))
    county_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attendees: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    dispute_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    signal_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    item_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_review_meeting_township", "township_code", "held_at"),)


class MeetingDecision(db.Model):
    """A decision of a meeting: what, who is responsible, by when; supervised as a reminder."""

    __tablename__ = "meeting_decision"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("review_meeting.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    responsible_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    done_note: Mapped[str | None] = mapped_column(Text)
