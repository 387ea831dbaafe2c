"""Issue 19 (part B): the monthly report's cut-off (the whole due day; a due day that is not a
working day moves on when the deployment says so), 调解成功率 on one cohort, and the court's
outcomes of 司法确认 counted once per case."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mediation.calendar import load_calendar
from mediation.disputes import deadlines
from mediation.reminders.models import Reminder
from mediation.reports import aggregates, metrics, months, township_view
from mediation.reports.scheduled import monthly_report_reminders
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")
OCTOBER = metrics.month_period("2026-10")
WRITTEN = {
    "form": "written",
    "facts": "排水沟堵塞",
    "terms": "共同清理",
    "performance_method": "共同出工",
    "performance_place": "先进村",
    "performance_deadline": date(2026, 10, 30),
}


def at(m, d, h=9, y=2026):
    return datetime(y, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 11, 1))


# ------------------------------------------------------------------ item 4: the cut-off


def test_report_submitted_on_the_due_day_is_on_time_until_its_last_second(db_session):
    settings = months.ReportSettings(calendar=load_calendar(db_session))
    due = months.due_at("2026-11", settings)  # Wednesday 18 November
    assert due.astimezone(SH).date() == date(2026, 11, 18)
    assert deadlines.on_time(datetime(2026, 11, 18, 23, 59, 59, 900000, tzinfo=SH), due)
    assert not deadlines.on_time(datetime(2026, 11, 19, 0, 0, tzinfo=SH), due)
    assert township_view.village_status(None, at(11, 18, 23), due) == "pending"
    assert township_view.village_status(None, at(11, 19, 0), due) == "missing"


def test_report_due_day_on_a_holiday_moves_to_the_next_working_day_by_default(db_session):
    settings = months.ReportSettings(calendar=load_calendar(db_session))
    assert (
        settings.due_next_working_day is True
    )  # the default (README: REPORT_DUE_NEXT_WORKING_DAY)
    # 18 October 2026 is a Sunday: due by the end of Monday the 19th
    assert months.due_at("2026-10", settings) == deadlines.end_of(date(2026, 10, 19))
    assert deadlines.report_due_label(months.due_at("2026-10", settings)) == (
        "2026年10月19日（含）前报送"
    )


def test_report_due_day_stays_when_the_township_says_so(db_session):
    settings = months.ReportSettings(calendar=load_calendar(db_session), due_next_working_day=False)
    assert months.due_at("2026-10", settings) == deadlines.end_of(date(2026, 10, 18))
    assert months.due_at("2026-11", replace(settings, due_day=20)) == deadlines.end_of(
        date(2026, 11, 20)
    )


def test_every_report_message_prints_the_one_computed_due_date(app, db_session):
    settings = months.settings_from_config(app.config, load_calendar(db_session))
    monthly_report_reminders(db_session, now=at(10, 1, 6), settings=settings)
    r = db_session.scalar(
        select(Reminder).where(Reminder.kind == "monthly_report").order_by(Reminder.id).limit(1)
    )
    due = months.due_at("2026-10", settings)
    assert r.due_at == due and deadlines.report_due_label(due) in r.title
    assert "10月19日" in r.title  # the moved day, not the 18th


# ------------------------------------------------------------------ item 6: 调解成功率


def _mediating(world, when):
    d = world["register"](when)
    d = world["act"]("mediator", d, "accept", when.replace(hour=10))
    return world["act"](
        "mediator", d, "start_mediation", when.replace(hour=11), rights_notice="书面告知"
    )


def test_success_rate_is_agreements_among_mediations_ended_and_never_exceeds_100(world, db_session):
    act = world["act"]
    # accepted in September, agreed in October: the old figure (agreements ÷ acceptances) was 200 %
    a = act("mediator", _mediating(world, at(9, 20)), "agree", at(10, 5), **WRITTEN)
    b = act("mediator", _mediating(world, at(9, 21)), "agree", at(10, 6), form="oral", terms="道歉")
    _mediating(world, at(10, 8))  # accepted in October, still mediating: not in the cohort
    c = act(
        "mediator",
        _mediating(world, at(10, 9)),
        "terminate",
        at(10, 20),
        reason="分歧大",
        routes=["litigation"],
    )
    # agreed, then sued: ends once, as the agreement
    act("grid_worker", a, "record_visit", at(10, 31), method="phone", result="sued")
    row = aggregates.area_row(db_session, code=world["village"], period=OCTOBER)
    assert (row["accepted"], row["agreements_written"], row["agreements_oral"]) == (2, 1, 1)
    assert (row["mediation_ended"], row["mediation_succeeded"], row["terminated"]) == (3, 2, 1)
    assert metrics.rates(row)["success_rate"] == 0.6667  # 2 ÷ 3, never above 1
    assert "不超过 100%" in metrics.DEFINITIONS["success_rate"]["definition"]
    assert b.status == "agreed" and c.status == "terminated"


# ------------------------------------------------------------------ item 7: 司法确认


def test_judicial_confirmation_columns_count_court_outcomes_once_per_case(world, db_session):
    act = world["act"]
    d = act("mediator", _mediating(world, at(10, 1)), "agree", at(10, 2), **WRITTEN)
    d = act(
        "grid_worker", d, "record_visit", at(10, 5), method="phone", result="judicial_confirmation"
    )
    d = act("mediator", d, "record_court_outcome", at(10, 6), court_outcome="applied")  # again
    d = act("mediator", d, "record_court_outcome", at(10, 9), court_outcome="filed")
    d = act(
        "mediator",
        d,
        "record_court_outcome",
        at(10, 20),
        court_outcome="confirmed",
        court="诸暨市人民法院",
    )
    e = act("mediator", _mediating(world, at(10, 1)), "agree", at(10, 2), **WRITTEN)
    e = act("mediator", e, "record_court_outcome", at(10, 12), court_outcome="applied")
    act("mediator", e, "record_court_outcome", at(11, 2), court_outcome="refused")  # November
    row = aggregates.area_row(db_session, code=world["village"], period=OCTOBER)
    assert (
        row["judicial_applications"],
        row["judicial_confirmations"],
        row["judicial_refused"],
    ) == (2, 1, 0)
    november = aggregates.area_row(
        db_session, code=world["village"], period=metrics.month_period("2026-11")
    )
    assert november["judicial_refused"] == 1 and november["judicial_applications"] == 0


def test_the_workbook_states_each_figures_definition_beside_it(app, db_session, world):
    from io import BytesIO

    from openpyxl import load_workbook

    from mediation.reports.workbook import report_workbook

    settings = months.settings_from_config(app.config, load_calendar(db_session))
    compiled = township_view.compile_township(
        db_session,
        actor=world["actors"]["center_staff"],
        township="330681109",
        month="2026-11",
        now=at(11, 20),
        settings=settings,
    )
    ws = load_workbook(BytesIO(report_workbook(compiled)))["指标说明"]
    rows = {r[1]: r[2] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["调解成功率"] == metrics.DEFINITIONS["success_rate"]["definition"]
    assert "每案计一次" in rows["司法确认"]
