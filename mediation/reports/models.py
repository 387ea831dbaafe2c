"""Monthly reports: a draft per village and month, frozen snapshots once submitted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

DRAFT = "draft"
SUBMITTED = "submitted"


class MonthlyReport(db.Model):
    """One version of a village's report for month `YYYY-MM` (covering the month before it).

    A submitted row never changes again (a database trigger refuses updates and deletes); a
    correction is a new draft with the next version number that keeps the old one.
    """

    __tablename__ = "monthly_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_code: Mapped[str] = mapped_column(String(12))
    month: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    figures: Mapped[dict] = mapped_column(JSONB)
    narrative: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("monthly_report.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_monthly_report_version", "area_code", "month", "version", unique=True),
        Index(
            "uq_monthly_report_one_draft",
            "area_code",
            "month",
            unique=True,
            postgresql_where=text("status = 'draft'"),
        ),
        Index("ix_monthly_report_month", "month", "area_code"),
    )
