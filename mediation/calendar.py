"""Working days: public holidays and official make-up working days (调休), loaded per year.

A day is a working day when it is a make-up working day, or a weekday that is not a holiday.
Years that were never loaded fall back to Monday–Friday (and say so through `years_loaded`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Date, Integer, String
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

import prepared
from errors import ValidationFailed
from extensions import db


class CalendarDay(db.Model):
    """A day that differs from the weekday rule: a holiday or a make-up working day."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # holiday / workday
    name: Mapped[str | None] = mapped_column(String(50))
    year: Mapped[int] = mapped_column(Integer, index=True)


@dataclass(frozen=True)
class WorkCalendar:
    """An in-memory calendar (pure), built from the table."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years_loaded: frozenset[int] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        """Official working day?"""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (n ≥ 0; 0 → start itself if working, else next)."""
        day = start
        if n == 0:
            while not self.is_working_day(day):
                day += timedelta(days=1)
            return day
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


def load_calendar(db_session: Session) -> WorkCalendar:
    """The whole calendar table (a few dozen rows a year); read on every deadline computation,
    registration included, so prepared."""
    rows = prepared.fetch(db_session, "SELECT day, kind, year FROM calendar_day")
    return WorkCalendar(
        holidays=frozenset(r.day for r in rows if r.kind == "holiday"),
        workdays=frozenset(r.day for r in rows if r.kind == "workday"),
        years_loaded=frozenset(r.year for r in rows),
    )


def import_year(db_session: Session, *, doc: dict) -> int:
    """Load (or reload) one year's official calendar; returns the number of special days."""
    try:
        year = int(doc["year"])
        holidays = [(date.fromisoformat(h["date"]), h.get("name")) for h in doc["holidays"]]
        workdays = [date.fromisoformat(d) for d in doc["make_up_workdays"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"日历文件格式不对：{exc}", code="invalid_calendar", field="file"
        ) from None
    if any(d.year != year for d, _ in holidays) or any(d.year != year for d in workdays):
        raise ValidationFailed(
            "日历文件中有不属于该年份的日期", code="invalid_calendar", field="file"
        )
    db_session.query(CalendarDay).filter(CalendarDay.year == year).delete()
    rows = [{"day": d, "kind": "holiday", "name": n, "year": year} for d, n in holidays]
    rows += [{"day": d, "kind": "workday", "name": "调休上班", "year": year} for d in workdays]
    if rows:
        db_session.execute(insert(CalendarDay).values(rows))
    db_session.flush()
    return len(rows)


def read_file(path: str) -> dict:
    """A calendar JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
