"""Next year's working days before its official notice is out (issue 15).

Acceptance deadlines already fall in January 2027 on 2 December 2026, and no 2027 notice is loaded.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import api.auth
from mediation.calendar import WorkCalendar, calendar_warning, load_calendar, statutory_holidays
from mediation.disputes.holidays import load_official_calendar
from mediation.disputes.scheduled import daily_digest
from mediation.reminders import service as reminders
from mediation.reminders.models import Reminder
from tests.factories import bearer, case_world, login

SH = ZoneInfo("Asia/Shanghai")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def at(y, m, d, h=9, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def test_statutory_holidays_lie_within_the_official_2026_notice():
    with open(os.path.join(ROOT, "data", "calendar", "cn-2026.json"), encoding="utf-8") as fh:
        official = {date.fromisoformat(h["date"]) for h in json.load(fh)["holidays"]}
    computed = statutory_holidays(2026)
    assert len(computed) == 13  # 《全国年节及纪念日放假办法》: 1 + 4 + 1 + 2 + 1 + 1 + 3
    assert set(computed) <= official  # the notice adds bridging days, never removes a statutory one


def test_statutory_holidays_of_2027_from_the_lunar_calendar():
    days = statutory_holidays(2027)
    expected = {
        date(2027, 1, 1): "元旦",
        date(2027, 2, 5): "春节",  # 除夕
        date(2027, 2, 6): "春节",  # 正月初一
        date(2027, 2, 7): "春节",
        date(2027, 2, 8): "春节",  # 初三
        date(2027, 4, 5): "清明节",
        date(2027, 5, 1): "劳动节",
        date(2027, 5, 2): "劳动节",
        date(2027, 6, 9): "端午节",
        date(2027, 9, 15): "中秋节",
        date(2027, 10, 1): "国庆节",
        date(2027, 10, 2): "国庆节",
        date(2027, 10, 3): "国庆节",
    }
    assert days == expected


def test_a_year_without_its_notice_gets_no_invented_make_up_workdays():
    cal = WorkCalendar(years_loaded=frozenset({2026}))
    assert not cal.is_working_day(date(2027, 1, 1))  # statutory holiday, a Friday
    assert cal.is_working_day(date(2027, 1, 4))
    # A weekend stays a weekend: only the official notice can make a Saturday a working day
    saturdays = [date(2027, 1, 2) + timedelta(weeks=w) for w in range(53)]
    assert not any(cal.is_working_day(d) for d in saturdays if d.year == 2027)
    # and a bridging day the notice would add (2 January) is not invented either
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday anyway
    assert cal.provisional(date(2026, 12, 30), date(2027, 1, 5))
    assert not cal.provisional(date(2026, 12, 1), date(2026, 12, 4))


def test_deadline_from_30_december_2026_skips_1_january_2027_and_is_provisional(
    client, db_session, world
):
    d = world["register"](at(2026, 12, 30, 10))
    # 3 working days from Wednesday 30 December: Thu 31, (Fri 1 January is 元旦), Mon 4, Tue 5
    assert d.next_due_kind == "acceptance"
    assert d.next_due_at == datetime(2027, 1, 5, 23, 59, 59, tzinfo=SH)
    assert d.next_due_provisional is True
    [r] = db_session.scalars(select(Reminder).where(Reminder.dispute_id == d.id)).all()
    assert r.due_at == d.next_due_at
    h = bearer(login(client, world["users"]["grid_worker"].username)["access_token"])
    body = client.get(f"/api/v1/disputes/{d.id}", headers=h).get_json()
    assert body["next_due_provisional"] is True
    listed = client.get("/api/v1/disputes", headers=h).get_json()["items"]
    assert [x["next_due_provisional"] for x in listed if x["id"] == str(d.id)] == [True]


def test_a_deadline_inside_a_loaded_year_is_not_provisional(db_session, world):
    d = world["register"](at(2026, 12, 1, 10))
    assert d.next_due_at == datetime(2026, 12, 4, 23, 59, 59, tzinfo=SH)
    assert d.next_due_provisional is False


def test_loading_the_official_calendar_recounts_open_provisional_deadlines(app, db_session, world):
    d = world["register"](at(2026, 12, 30, 10))
    old_due = d.next_due_at
    # An official notice (made up for the test) that also gives Monday 4 January off
    doc = {
        "year": 2027,
        "holidays": [
            {"date": "2027-01-01", "name": "元旦"},
            {"date": "2027-01-02", "name": "元旦"},
            {"date": "2027-01-03", "name": "元旦"},
            {"date": "2027-01-04", "name": "元旦"},
        ],
        "make_up_workdays": [],
    }
    result = load_official_calendar(
        db_session, doc=doc, limits_config=app.config, now=at(2026, 12, 31, 9)
    )
    assert result["deadlines_recounted"] >= 1
    db_session.refresh(d)
    assert d.next_due_at == datetime(2027, 1, 6, 23, 59, 59, tzinfo=SH)  # Thu 31, Tue 5, Wed 6
    assert d.next_due_provisional is False
    rows = db_session.scalars(
        select(Reminder).where(Reminder.dispute_id == d.id).order_by(Reminder.id)
    ).all()
    assert [(r.due_at, r.state, r.cancel_reason) for r in rows] == [
        (old_due, "cancelled", "calendar_loaded"),
        (d.next_due_at, "pending", None),
    ]
    assert 2027 in load_calendar(db_session).years_loaded


@pytest.mark.parametrize(
    ("now", "missing"),
    [(datetime(2026, 10, 31, 12, tzinfo=UTC), None), (datetime(2026, 11, 1, 1, tzinfo=UTC), 2027)],
    ids=["31-october", "1-november-shanghai"],
)
def test_health_warns_from_1_november_while_next_year_is_not_loaded(
    client, monkeypatch, now, missing
):
    monkeypatch.setattr(api.auth, "utcnow", lambda: now)
    body = client.get("/api/v1/health").get_json()
    assert body["status"] == "ok"  # a warning, not an outage
    assert 2026 in body["calendar"]["years_loaded"]
    assert body["calendar"]["missing_year"] == missing
    if missing:
        assert "2027 年节假日安排" in body["calendar"]["warning"]
    else:
        assert body["calendar"]["warning"] is None


def test_admin_inbox_and_daily_digest_warn_of_the_missing_calendar(app, client, db_session, world):
    assert calendar_warning(db_session, now=at(2026, 10, 31)) is None
    daily_digest(db_session, now=at(2026, 11, 2, 8))
    daily_digest(db_session, now=at(2026, 11, 3, 8))  # once per year, not per day
    [warn] = db_session.scalars(select(Reminder).where(Reminder.kind == "calendar_missing")).all()
    assert (warn.recipient_role, warn.body["year"]) == ("admin", 2027)
    digest = db_session.scalar(
        select(Reminder).where(
            Reminder.kind == "daily_digest", Reminder.recipient_area == "330681109"
        )
    )
    assert digest.body["calendar_warning"]["year"] == 2027
    reminders.sweep(db_session, now=at(2026, 11, 3, 9), webhook=False)
    admin = bearer(login(client, world["users"]["admin"].username)["access_token"])
    items = client.get("/api/v1/inbox", headers=admin).get_json()
    assert [i["kind"] for i in items if i["kind"] == "calendar_missing"] == ["calendar_missing"]
    # Loading the official notice withdraws the warning
    load_official_calendar(
        db_session,
        doc={
            "year": 2027,
            "holidays": [{"date": "2027-01-01", "name": "元旦"}],
            "make_up_workdays": [],
        },
        limits_config=app.config,
        now=at(2026, 11, 10),
    )
    db_session.refresh(warn)
    assert warn.state == "cancelled"
    assert calendar_warning(db_session, now=at(2026, 11, 11)) is None
