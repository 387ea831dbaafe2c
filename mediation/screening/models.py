"""Screening campaigns, screening rounds, the disputes a round found and its photos."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db


class ScreeningCampaign(db.Model):
    """A screening every cell of an area owes in a window: the monthly routine one or a 专项排查."""

    __tablename__ = "screening_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    area_code: Mapped[str] = mapped_column(String(12))
    key_areas: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    month: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM, routine campaigns only
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("starts_on <= ends_on", name="window"),
        CheckConstraint("starts_on <= due_on", name="due_in_window"),
        CheckConstraint("kind <> 'routine' OR month IS NOT NULL", name="routine_month"),
        Index(
            "uq_screening_campaign_routine",
            "area_code",
            "month",
            unique=True,
            postgresql_where=text("kind = 'routine'"),
        ),
        Index("ix_screening_campaign_due", "due_on"),
        Index("ix_screening_campaign_area", "area_code"),
    )


class ScreeningRound(db.Model):
    """One walk of a cell by its grid worker: what was covered and what was found (or 零报告).

    The id is the phone's client id (idempotent retries). A round counts for every campaign
    whose area contains its cell and whose window contains `screened_at` (computed at query time).
    """

    __tablename__ = "screening_round"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    cell_code: Mapped[str] = mapped_column(String(15))
    village_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(9))
    county_code: Mapped[str] = mapped_column(String(6))
    worker_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    screened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    households_visited: Mapped[int] = mapped_column(Integer)
    key_areas: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    zero_report: Mapped[bool] = mapped_column(Boolean)
    found_count: Mapped[int] = mapped_column(Integer)  # number of linked disputes, set once
    # number of risk signals (issue 21) recorded during the round, set once
    signal_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    notes: Mapped[str | None] = mapped_column(Text)
    track = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=True)

    __table_args__ = (
        CheckConstraint("households_visited >= 0", name="households"),
        # A round either found something or is an explicit zero report, never both or neither.
        CheckConstraint("zero_report = (found_count = 0 AND signal_count = 0)", name="zero_report"),
        Index("ix_screening_round_cell_at", "cell_code", "screened_at"),
        Index("ix_screening_round_village_at", "village_code", "screened_at"),
        Index("ix_screening_round_township_at", "township_code", "screened_at"),
        Index("ix_screening_round_county_at", "county_code", "screened_at"),
        Index("ix_screening_round_worker", "worker_id", "screened_at"),
    )


class ScreeningRoundDispute(db.Model):
    """A dispute found (and registered) during a round; a dispute is found by one round only."""

    __tablename__ = "screening_round_dispute"

    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("screening_round.id", ondelete="CASCADE"), primary_key=True
    )
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (UniqueConstraint("dispute_id", name="uq_screening_round_dispute_dispute"),)


class ScreeningPhoto(db.Model):
    """A photo taken on a round, stored by checksum in the same file store as attachments."""

    __tablename__ = "screening_photo"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("screening_round.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("round_id", "sha256"),)
