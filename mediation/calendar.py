"""Working days: public holidays and official make-up working days (调休), loaded per year.

A day is a working day when it is a make-up working day, or a weekday that is not a holiday.
For a year whose official notice (国务院办公厅通知) is not loaded, the statutory holidays of
《全国年节及纪念日放假办法》 are computed (lunar dates by `lunar_python`) and nothing else: the
bridging days and 调休 of such a year are not invented. Deadlines counted through such a year are
provisional, and are counted again when the official calendar is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from lunar_python import Lunar, Solar
from sqlalchemy import Date, Integer, String
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import fastsql
from core.clock import BUSINESS_TZ
from core.db import db
from core.errors import ValidationFailed


class CalendarDay(db.Model):
    """A day that differs from the weekday rule: a holiday or a make-up working day."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # holiday / workday
    name: Mapped[str | None] = mapped_column(String(50))
    year: Mapped[int] = mapped_column(Integer, index=True)


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> dict[date, str]:
    """The 13 statutory holiday days of a year (《全国年节及纪念日放假办法》, 2025 revision):
    元旦 1, 春节 4 (除夕 to 初三), 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3."""
    spring = Lunar.fromYmd(year, 1, 1).getSolar()
    first = date(spring.getYear(), spring.getMonth(), spring.getDay())
    qingming = Solar.fromYmd(year, 6, 1).getLunar().getJieQiTable()["清明"]
    days = {date(year, 1, 1): "元旦"}
    for i in range(-1, 3):
        days[first + timedelta(days=i)] = "春节"
    days[date(qingming.getYear(), qingming.getMonth(), qingming.getDay())] = "清明节"
    days[date(year, 5, 1)] = days[date(year, 5, 2)] = "劳动节"
    for (m, d), name in (((5, 5), "端午节"), ((8, 15), "中秋节")):
        s = Lunar.fromYmd(year, m, d).getSolar()
        days[date(s.getYear(), s.getMonth(), s.getDay())] = name
    for d in (1, 2, 3):
        days[date(year, 10, d)] = "国庆节"
    return days


@dataclass(frozen=True)
class WorkCalendar:
    """An in-memory calendar (pure), built from the table."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years_loaded: frozenset[int] = field(default_factory=frozenset)

    def is_official(self, day: date) -> bool:
        """Is the day's year covered by a loaded official notice?"""
        return day.year in self.years_loaded

    def is_working_day(self, day: date) -> bool:
        """Official working day (statutory holidays only, for a year not loaded)?"""
        if not self.is_official(day):
            return day.weekday() < 5 and day not in statutory_holidays(day.year)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def provisional(self, start: date, end: date) -> bool:
        """Does counting from `start` to `end` pass through a year not officially loaded?"""
        return any(y not in self.years_loaded for y in range(start.year, end.year + 1))

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
    registration included, so fastsql."""
    rows = fastsql.fetch(db_session, "SELECT day, kind, year FROM calendar_day")
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


def missing_next_year(years_loaded: frozenset[int] | set[int], today: date, *, warn_from=(11, 1)):
    """The year whose official calendar administrators must load now (from 1 November of the
    year before), or None."""
    nxt = today.year + 1
    if (today.month, today.day) >= warn_from and nxt not in years_loaded:
        return nxt
    return None


def missing_year_message(year: int) -> str:
    """What administrators read while next year's notice is not loaded."""
    return (
        f"{year} 年节假日安排（国务院办公厅通知）尚未导入：跨入 {year} 年的期限暂按法定节假日计算，"
        f"不含调休，标为“暂定”；导入后自动重算（flask calendar load 文件）"
    )


def loaded_years(db_session: Session) -> frozenset[int]:
    """The years whose official calendar is loaded."""
    return frozenset(
        db_session.scalars(db.select(CalendarDay.year).distinct()).all()  # a few rows a year
    )


def calendar_warning(
    db_session: Session, *, now: datetime, years: frozenset[int] | None = None
) -> dict | None:
    """From 1 November, while next year's official holiday notice is not loaded: what to say
    (`years`: the loaded years, when the caller has read them already)."""
    if years is None:
        years = loaded_years(db_session)
    year = missing_next_year(years, now.astimezone(BUSINESS_TZ).date())
    if year is None:
        return None
    return {"year": year, "message": missing_year_message(year)}


def read_file(path: str) -> dict:
    """A calendar JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
