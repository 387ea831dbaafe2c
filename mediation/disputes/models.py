"""Disputes, their parties, sessions, agreements, visits, escalations, risk, events, files."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

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
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import db


class Dispute(db.Model):
    """A dispute case: where, what, who, and where it stands in the flow."""

    __tablename__ = "dispute"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    status: Mapped[str] = mapped_column(String(16))
    handling_level: Mapped[str] = mapped_column(String(16))
    resolved_level: Mapped[str | None] = mapped_column(String(16))
    escalation_target: Mapped[str | None] = mapped_column(String(16))

    cell_code: Mapped[str] = mapped_column(String(15))
    village_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(9))
    county_code: Mapped[str] = mapped_column(String(6))
    # A case that came with an address and a village instead of a point (a partner's work
    # order, a walk-in) is "not located": no location, and cell_code holds the village code.
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    located: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    address: Mapped[str | None] = mapped_column(String(300))
    locate_match: Mapped[str] = mapped_column(String(16))
    locate_distance_m: Mapped[float | None]

    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    device_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    source: Mapped[str] = mapped_column(String(32))
    # How the case came in (app, window, or a partner system) and the partner's own reference
    channel: Mapped[str] = mapped_column(String(16), default="app", server_default="app")
    partner_id: Mapped[int | None]  # partner.id (the foreign key is in migration 0013)
    partner_reference: Mapped[str | None] = mapped_column(String(64))
    external_due_on: Mapped[date | None] = mapped_column(Date)  # the deadline a partner imposes
    category: Mapped[str] = mapped_column(String(8))
    key_areas: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    description: Mapped[str] = mapped_column(Text)
    people_involved: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))

    risk_level: Mapped[str] = mapped_column(String(16))  # a colour, or 'unassessed' (未研判)
    risk_score: Mapped[int] = mapped_column(Integer)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    group_dispute: Mapped[bool] = mapped_column(Boolean, default=False)
    # A township officer's confirmation or lifting of the group flag (risk.CONFIRMED / LIFTED);
    # NULL: the flag follows the count (risk.group_flag).
    group_decision: Mapped[str | None] = mapped_column(String(16))
    red_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the case became ORANGE (registration or reassessment): the township must know in 24 h.
    orange_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An unassessed case (risk_level 'unassessed') is to be assessed by then (reminder).
    risk_assess_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    rights_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rights_notice: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mediation_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mediation_due_on: Mapped[date | None] = mapped_column(Date)
    agreed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_detail: Mapped[dict | None] = mapped_column(JSONB)
    recurrence_count: Mapped[int] = mapped_column(Integer, default=0)

    # What must happen next and by when (drives task lists and overdue; reminders in their module)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_due_kind: Mapped[str | None] = mapped_column(String(32))
    # Counted through a year whose official holiday notice is not loaded (statutory days only)
    next_due_provisional: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    visits_done: Mapped[int] = mapped_column(Integer, default=0)
    last_visit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    parties: Mapped[list[Party]] = relationship(
        back_populates="dispute", cascade="all, delete-orphan", order_by="Party.position"
    )

    __table_args__ = (
        Index("ix_dispute_village_registered", "village_code", "registered_at"),
        Index("ix_dispute_township_registered", "township_code", "registered_at"),
        Index("ix_dispute_county_registered", "county_code", "registered_at"),
        Index(
            "ix_dispute_cell_due",
            "cell_code",
            "next_due_at",
            postgresql_where=text("next_due_at IS NOT NULL"),
        ),
        Index("ix_dispute_due", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
        Index(
            "ix_dispute_due_provisional",
            "next_due_at",
            postgresql_where=text("next_due_provisional"),
        ),
        Index("ix_dispute_registered_by", "registered_by"),
        Index(
            "uq_dispute_partner_reference",
            "partner_id",
            "partner_reference",
            unique=True,
            postgresql_where=text("partner_id IS NOT NULL"),
        ),
        CheckConstraint(
            "(located AND location IS NOT NULL AND length(cell_code) = 15)"
            " OR (NOT located AND location IS NULL AND cell_code = village_code)",
            name="ck_dispute_located_or_village",
        ),
        Index("ix_dispute_location", "location", postgresql_using="gist"),
        # The report's active set: cases of an area not closed before a date (migration 0009).
        *(
            Index(
                f"ix_dispute_{level}_open_since",
                column,
                text("coalesce(closed_at, 'infinity'::timestamptz)"),
            )
            for level, column in (
                ("county", "county_code"),
                ("township", "township_code"),
                ("village", "village_code"),
            )
        ),
    )


class DisputeCategory(db.Model):
    """A dispute category (domain §4): data a deployment can extend. Codes are never reused or
    deleted; a category no longer offered is retired (old cases keep it)."""

    __tablename__ = "dispute_category"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseCounter(db.Model):
    """Last case sequence used per village and year (row-locked: gap-free numbering)."""

    __tablename__ = "case_counter"

    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class Party(db.Model):
    """A party to a dispute; ID number and phone are encrypted, hashed for matching, masked."""

    __tablename__ = "party"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    id_type: Mapped[str | None] = mapped_column(String(32))
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(32))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(24))
    name_phone_hash: Mapped[str | None] = mapped_column(String(64))
    # 受理登记表: sex, ethnicity and address (the address is personal data: encrypted, masked)
    sex: Mapped[str | None] = mapped_column(String(8))
    ethnicity: Mapped[str | None] = mapped_column(String(16))
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_masked: Mapped[str | None] = mapped_column(String(120))

    dispute: Mapped[Dispute] = relationship(back_populates="parties")

    __table_args__ = (
        Index("ix_party_dispute", "dispute_id"),
        Index("ix_party_id_hash", "id_number_hash"),
        Index("ix_party_name_phone_hash", "name_phone_hash"),
    )


class MediationSession(db.Model):
    """One mediation session: who, when, where, what happened."""

    __tablename__ = "mediation_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str | None] = mapped_column(String(200))
    mediators: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agreement(db.Model):
    """A mediation agreement (written or oral; an oral one is recorded by the mediator)."""

    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    form: Mapped[str] = mapped_column(String(16))
    facts: Mapped[str | None] = mapped_column(Text)  # 纠纷主要事实、争议事项 (Art 29)
    terms: Mapped[str] = mapped_column(Text)
    performance_method: Mapped[str | None] = mapped_column(Text)
    performance_place: Mapped[str | None] = mapped_column(String(200))
    performance_deadline: Mapped[date | None] = mapped_column(Date)
    performed_immediately: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    judicial_confirmation_due_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The case's cell (its area codes are prefixes of it; a case never moves), copied so that the
    # report's aggregations read the period's rows of an area by one index range (bench/run.py).
    cell_code: Mapped[str] = mapped_column(String(15))

    __table_args__ = (Index("ix_agreement_cell_created", "cell_code", "created_at"),)


class CourtOutcome(db.Model):
    """What happened to a written agreement at court (司法确认, 人民调解法 Art 33): applied, filed,
    confirmed or refused; one row per step, the last one is where it stands."""

    __tablename__ = "court_outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(16))  # COURT_OUTCOMES
    court: Mapped[str | None] = mapped_column(String(200))
    decided_on: Mapped[date] = mapped_column(Date)  # the day applied / filed / ruled
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The case's cell, for the report's index range (as on the other child rows).
    cell_code: Mapped[str] = mapped_column(String(15))

    __table_args__ = (Index("ix_court_outcome_cell_decided", "cell_code", "decided_on"),)


class FollowUpVisit(db.Model):
    """A follow-up visit (回访): method, result, satisfaction, who and when; decides resolution."""

    __tablename__ = "follow_up_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    method: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(32))
    satisfaction: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    photo_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status_before: Mapped[str] = mapped_column(String(16))
    status_after: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The case's cell (its area codes are prefixes of it; a case never moves), copied so that the
    # report's aggregations read the period's rows of an area by one index range (bench/run.py).
    cell_code: Mapped[str] = mapped_column(String(15))

    __table_args__ = (Index("ix_follow_up_visit_cell_visited", "cell_code", "visited_at"),)


class Escalation(db.Model):
    """A move up (waiting for the receiving level) or down (交办/回退)."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))  # up / down
    from_level: Mapped[str] = mapped_column(String(16))
    to_level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending / accepted / returned / done
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # The case's cell (its area codes are prefixes of it; a case never moves), copied so that the
    # report's aggregations read the period's rows of an area by one index range (bench/run.py).
    cell_code: Mapped[str] = mapped_column(String(15))

    __table_args__ = (
        Index("ix_escalation_cell_requested", "cell_code", "requested_at"),
        Index(
            "ix_escalation_pending",
            "to_level",
            "requested_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class RiskAssessment(db.Model):
    """One risk (re-)assessment; every one is kept."""

    __tablename__ = "risk_assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    likelihood: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    forced_reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    note: Mapped[str | None] = mapped_column(Text)
    assessed_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DisputeEvent(db.Model):
    """Append-only audit event: who, when, what changed (from → to), why. Timeline source."""

    __tablename__ = "dispute_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the phone recorded it (offline actions and registrations); `at` is the server time.
    device_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    changes: Mapped[dict] = mapped_column(JSONB, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    # The case's cell (its area codes are prefixes of it; a case never moves), copied so that the
    # report's aggregations read the period's rows of an area by one index range (bench/run.py).
    cell_code: Mapped[str] = mapped_column(String(15))

    __table_args__ = (
        UniqueConstraint("dispute_id", "seq"),
        Index("ix_dispute_event_at", "at"),
        Index(
            "ix_dispute_event_cell_status_at",
            "cell_code",
            "at",
            postgresql_where=text("to_status IN ('terminated', 'referred', 'reopened')"),
        ),
    )


class DisputeLink(db.Model):
    """A flagged relation found at registration: likely duplicate or recurrence."""

    __tablename__ = "dispute_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispute.id", ondelete="CASCADE"), index=True
    )
    other_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # possible_duplicate / recurrence
    reason: Mapped[str] = mapped_column(String(32))  # same_party / nearby_same_category / …


class Attachment(db.Model):
    """A photo or signed agreement stored outside the database by checksum."""

    __tablename__ = "attachment"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    dispute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("dispute_id", "sha256"),)
