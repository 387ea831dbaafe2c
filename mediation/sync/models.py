"""The change log phones pull from, and the record of every operation phones pushed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

# Entities in the log
CASE = "case"  # a dispute row, or one of its reminders, changed (or it was deleted)
CELL = "cell"  # a grid cell's boundary or attributes changed
ASSIGNMENT = "assignment"  # a grid worker gained or lost a cell (entity_id = user:cell)
SCOPE = "scope"  # a user's roles or areas changed (entity_id = user id): resync from scratch


class SyncChange(db.Model):
    """One entity changed in one transaction (written by triggers, see migration 0008).

    `txid` is the writing transaction's id (pg_current_xact_id, as bigint). A row becomes
    visible when its transaction commits, which can be long after `id` was drawn; pulls therefore
    only serve rows whose transaction is older than every transaction still running
    (txid < xmin of the current snapshot), in (txid, id) order — see mediation/sync/cursor.py.
    """

    __tablename__ = "sync_change"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(64))
    cell_code: Mapped[str | None] = mapped_column(String(15))
    village_code: Mapped[str | None] = mapped_column(String(12))
    township_code: Mapped[str | None] = mapped_column(String(9))
    county_code: Mapped[str | None] = mapped_column(String(6))
    user_id: Mapped[int | None] = mapped_column(Integer)  # case: registered_by; assignment: worker
    geometry_changed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()")
    )

    __table_args__ = (
        # One row per entity per transaction: the triggers insert ON CONFLICT DO NOTHING.
        Index("uq_sync_change_tx_entity", "txid", "entity", "entity_id", unique=True),
        Index("ix_sync_change_position", "txid", "id"),
    )


# Push outcomes
APPLIED = "applied"
ALREADY_APPLIED = "already_applied"
CONFLICT = "conflict"
REJECTED = "rejected"


class SyncOperation(db.Model):
    """An operation a phone made offline, by its client operation id: what it asked (hash),
    what the server answered, when it happened on the device and when it arrived."""

    __tablename__ = "sync_operation"

    op_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict] = mapped_column(JSONB, default=dict)
    device_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sync_operation_user_received", "user_id", "received_at"),)
