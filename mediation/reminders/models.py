"""Reminders (one row per case + kind + deadline + recipient) and the delivery outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

PENDING = "pending"
DUE = "due"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
CANCELLED = "cancelled"
OPEN_STATES = (PENDING, DUE, SENT, ACKNOWLEDGED)
# Predicates of the two partial unique indexes on `key` (ON CONFLICT names them to infer one).
LIVE_CASE_KEY = "dispute_id IS NOT NULL AND state <> 'cancelled'"
NO_CASE_KEY = "dispute_id IS NULL"


class Reminder(db.Model):
    """Something someone must do by `due_at`; fires at `remind_at`; explainable by its key."""

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("dispute.id", ondelete="CASCADE")
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("reminder.id"))
    area_code: Mapped[str] = mapped_column(String(15))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recipient_role: Mapped[str | None] = mapped_column(String(32))
    recipient_area: Mapped[str | None] = mapped_column(String(15))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    remind_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    supervised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # A case's reminder is unique by key among live rows: a case back at a level or deadline
        # it had before gets a new row, the cancelled one stays as history (issue 16, M1).
        # Reminders of no case (digest, monthly report, screening) are made once per key, ever.
        Index(
            "uq_reminder_case_key_live",
            "key",
            unique=True,
            postgresql_where=text(LIVE_CASE_KEY),
        ),
        Index("uq_reminder_key_no_case", "key", unique=True, postgresql_where=text(NO_CASE_KEY)),
        Index("ix_reminder_key", "key"),
        # The sweep's cost follows the number of due rows, not the table: partial indexes.
        Index(
            "ix_reminder_pending_remind_at", "remind_at", postgresql_where=text("state = 'pending'")
        ),
        Index(
            "ix_reminder_unsupervised_due",
            "due_at",
            postgresql_where=text(
                "state IN ('due', 'sent', 'acknowledged') AND supervised_at IS NULL "
                "AND kind NOT IN ('supervision', 'daily_digest')"
            ),
        ),
        Index(
            "ix_reminder_dispute_open",
            "dispute_id",
            postgresql_where=text("state IN ('pending', 'due', 'sent', 'acknowledged')"),
        ),
        Index("ix_reminder_recipient", "recipient_id", "remind_at"),
        Index("ix_reminder_parent", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
        Index("ix_reminder_dispute", "dispute_id"),
        Index("ix_reminder_role_area", "recipient_role", "recipient_area", "remind_at"),
    )


class OutboxMessage(db.Model):
    """A message for the webhook (push gateway / SMS); one per reminder, retried with backoff."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reminder_id: Mapped[int | None] = mapped_column(
        ForeignKey("reminder.id", ondelete="CASCADE"), unique=True
    )
    # A message of no reminder (a case's result going back to a partner system): where it goes
    # (None = the reminder webhook), a key that makes it once per event, and its case.
    destination: Mapped[str | None] = mapped_column(String(40))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("dispute.id", ondelete="CASCADE")
    )
    payload: Mapped[dict] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)  # pending/sent/skipped/dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_outbox_pending", "next_attempt_at", postgresql_where=text("state = 'pending'")),
        Index("ix_outbox_dispute", "dispute_id", postgresql_where=text("dispute_id IS NOT NULL")),
    )
