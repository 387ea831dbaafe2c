"""Issue 16 (flow): times users supply are checked, the report period must be over, missed
scheduled runs are caught up, the RED alert's recipients, the agreement's missing fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.errors import http_status
from core.errors import DomainError
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")


def at(m, d, h=9, y=2026):
    return datetime(y, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def _mediating(world, now):
    d = world["register"](now)
    d = world["act"]("mediator", d, "accept", now + timedelta(hours=1))
    return world["act"](
        "mediator", d, "start_mediation", now + timedelta(hours=2), rights_notice="书面告知"
    )


def test_minor_m2_agree_with_a_method_but_no_deadline_names_only_the_deadline(world):
    d = _mediating(world, at(12, 1))
    with pytest.raises(DomainError) as exc:
        world["act"](
            "mediator",
            d,
            "agree",
            at(12, 2),
            form="written",
            facts="两户因排水沟堵塞发生争执",
            performance_place="先进村",
            terms="赔偿",
            performance_method="转账",
        )
    assert exc.value.code == "agreement_incomplete"
    assert set(exc.value.fields) == {"performance_deadline"}
    with pytest.raises(DomainError) as exc:
        world["act"](
            "mediator",
            d,
            "agree",
            at(12, 2),
            form="written",
            facts="两户因排水沟堵塞发生争执",
            performance_place="先进村",
            terms="赔偿",
            performance_deadline=date(2026, 12, 20),
        )
    assert set(exc.value.fields) == {"performance_method"}


# ------------------------------------------------------------------ M2: times users supply


def _agreed(world, now):
    d = _mediating(world, now)
    return world["act"](
        "mediator",
        d,
        "agree",
        now + timedelta(hours=3),
        form="oral",
        terms="当场赔偿",
        performed_immediately=True,
    )


def _refused(world, d, role, action, now, code, field, **payload):
    with pytest.raises(DomainError) as exc:
        world["act"](role, d, action, now, **payload)
    assert (exc.value.code, http_status(exc.value), list(exc.value.fields)) == (code, 422, [field])
    assert all("\u4e00" <= ch <= "\u9fff" for ch in exc.value.message[:2])  # Chinese
    return exc.value


def test_m2_visit_in_the_future_is_refused(db_session, world):
    now = at(12, 10)
    d = _agreed(world, at(12, 1))
    visit = {"method": "phone", "result": "performed", "satisfaction": "satisfied"}
    _refused(
        world, d, "grid_worker", "record_visit", now, "time_in_future", "visited_at",
        visited_at=now + timedelta(hours=1), **visit,
    )  # fmt: skip
    db_session.refresh(d)
    assert (d.status, d.resolved_at, d.visits_done) == ("agreed", None, 0)  # nothing written
    # a phone clock a little ahead is fine (CLOCK_SKEW_SECONDS)
    d = world["act"](
        "grid_worker", d, "record_visit", now, visited_at=now + timedelta(minutes=2), **visit
    )
    assert d.status == "resolved" and d.resolved_at == now + timedelta(minutes=2)


def test_m2_visit_before_the_agreement_is_refused(db_session, world):
    d = _agreed(world, at(12, 1))
    _refused(
        world, d, "grid_worker", "record_visit", at(12, 10), "before_agreement", "visited_at",
        visited_at=at(11, 1), method="phone", result="performed",
    )  # fmt: skip
    db_session.refresh(d)
    assert d.status == "agreed" and d.resolved_at is None


def test_m2_visit_before_the_last_visit_is_refused(db_session, world):
    d = _agreed(world, at(12, 1))
    d = world["act"](
        "grid_worker", d, "record_visit", at(12, 10), visited_at=at(12, 9), method="phone",
        result="performed", satisfaction="satisfied",
    )  # fmt: skip
    assert d.status == "resolved"
    _refused(
        world, d, "grid_worker", "record_visit", at(12, 11), "before_last_visit", "visited_at",
        visited_at=at(12, 8), method="phone", result="partly",
    )  # fmt: skip
    db_session.refresh(d)
    assert d.status == "resolved" and d.recurrence_count == 0  # not reopened by an older visit


def test_m2_session_and_rights_notice_times_are_checked(db_session, world):
    d = world["register"](at(12, 1))
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    _refused(
        world, d, "mediator", "start_mediation", at(12, 2), "time_in_future", "notified_at",
        rights_notice="书面告知", notified_at=at(12, 3),
    )  # fmt: skip
    d = world["act"]("mediator", d, "start_mediation", at(12, 2), rights_notice="书面告知")
    _refused(
        world, d, "mediator", "record_session", at(12, 3), "time_in_future", "held_at",
        held_at=at(12, 4), summary="调解",
    )  # fmt: skip
    _refused(
        world, d, "mediator", "record_session", at(12, 3), "before_registration", "held_at",
        held_at=at(11, 20), summary="调解",
    )  # fmt: skip


def test_m2_registration_in_the_future_is_refused(world):
    with pytest.raises(DomainError) as exc:
        world["register"](at(12, 1), occurred_at=at(12, 2).isoformat())
    assert (exc.value.code, list(exc.value.fields)) == ("time_in_future", ["occurred_at"])


def test_m2_visit_api_answers_422_with_code_message_and_field(app, client, db_session):
    from datetime import UTC

    from tests.factories import Api, dispute_payload, role_users

    ctx = role_users(app, db_session)
    gw, med = Api(client, "t_gw"), Api(client, "t_med")
    r = gw.register(dispute_payload(db_session, ctx["cells"][0]))
    case = r.get_json()["id"]
    assert med.act(case, "accept").status_code == 200
    assert med.act(case, "start_mediation", rights_notice="书面告知").status_code == 200
    r = med.act(case, "agree", form="oral", terms="当场赔偿", performed_immediately=True)
    assert r.status_code == 200, r.get_json()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = gw.act(case, "record_visit", method="phone", result="performed", visited_at=future)
    body = r.get_json()
    assert r.status_code == 422 and body["code"] == "time_in_future", body
    assert "visited_at" in body["fields"] and "回访时间" in body["message"]
    assert gw.get(case).get_json()["status"] == "agreed"


def test_m2_offline_operation_dated_in_the_future_is_rejected(app, client, db_session):
    import uuid
    from datetime import UTC

    from tests.factories import Api, dispute_payload, role_users

    ctx = role_users(app, db_session)
    gw = Api(client, "t_gw")
    payload = dispute_payload(db_session, ctx["cells"][0])
    op = {
        "op_id": str(uuid.uuid4()),
        "kind": "register",
        "case_id": str(uuid.uuid4()),
        "happened_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "payload": payload,
    }
    r = client.post("/api/v1/sync/operations", json={"operations": [op]}, headers=gw.h())
    assert r.status_code == 200, r.get_json()
    [answer] = r.get_json()["results"]
    assert answer["status"] == "rejected" and answer["error"]["code"] == "time_in_future"
    assert "happened_at" in answer["error"]["fields"]


def test_m2_screening_round_skew_is_a_setting(app, db_session):
    from mediation.screening import rounds
    from mediation.times import DEFAULT_CLOCK_SKEW

    assert app.config["CLOCK_SKEW_SECONDS"] == DEFAULT_CLOCK_SKEW.total_seconds() == 300
    now = at(12, 10)
    rounds._check_when(now + timedelta(minutes=4), now, DEFAULT_CLOCK_SKEW)
    with pytest.raises(DomainError) as exc:
        rounds._check_when(now + timedelta(minutes=6), now, DEFAULT_CLOCK_SKEW)
    assert exc.value.code == "invalid_date" and list(exc.value.fields) == ["screened_at"]
    rounds._check_when(now + timedelta(minutes=6), now, timedelta(minutes=10))


# ------------------------------------------------------------------ M3: the report period


def _next_month(now: datetime) -> str:
    local = now.astimezone(SH)
    return f"{local.year + (local.month == 12)}-{local.month % 12 + 1:02d}"


def test_m3_report_cannot_be_drafted_or_submitted_before_its_period_ends(app, db_session, world):
    from mediation.reports import drafting, months
    from mediation.reports.models import MonthlyReport

    settings = months.ReportSettings()
    village = world["village"]
    # On 2 December the 2027-01 report (period: December) is refused …
    with pytest.raises(DomainError) as exc:
        drafting.generate_drafts(
            db_session, month="2027-01", now=at(12, 2), settings=settings, within=village
        )
    assert (exc.value.code, http_status(exc.value), list(exc.value.fields)) == (
        "report_period_not_over",
        422,
        ["month"],
    )
    assert not db_session.query(MonthlyReport).filter_by(month="2027-01").count()
    # … from 1 January 00:00 (Asia/Shanghai) it is drafted
    n = drafting.generate_drafts(
        db_session, month="2027-01", now=at(1, 1, 0, y=2027), settings=settings, within=village
    )
    assert n == 1
    draft = db_session.query(MonthlyReport).filter_by(month="2027-01", area_code=village).one()
    drafting.edit_draft(
        db_session, actor=world["actors"]["village_admin"], report_id=draft.id,
        narrative="本月入户排查", remarks=None,
    )  # fmt: skip
    # a draft made early (before this rule) cannot be submitted "on time" with part of the data
    with pytest.raises(DomainError) as exc:
        drafting.submit(
            db_session, actor=world["actors"]["village_admin"], report_id=draft.id, now=at(12, 20)
        )
    assert exc.value.code == "report_period_not_over"
    db_session.refresh(draft)
    assert draft.status == "draft"


def test_m3_drafts_api_refuses_a_month_not_over(app, client, db_session):
    from core.clock import utcnow
    from tests.factories import bearer, login, role_users

    ctx = role_users(app, db_session)
    token = login(client, "t_center")["access_token"]
    month = _next_month(utcnow())
    r = client.post(
        f"/api/v1/reports/monthly/{month}/drafts",
        json={"area": ctx["village"]},
        headers=bearer(token),
    )
    body = r.get_json()
    assert r.status_code == 422 and body["code"] == "report_period_not_over", body
    assert "month" in body["fields"] and "结束" in body["message"]


# ------------------------------------------------------------------ M4: missed runs


def test_m4_village_head_drafts_their_own_village_report(app, client, db_session):
    from core.clock import utcnow
    from mediation.reports.months import report_month_of
    from tests.factories import bearer, login, role_users

    ctx = role_users(app, db_session)
    token = login(client, "t_vil")["access_token"]
    url = f"/api/v1/reports/monthly/{report_month_of(utcnow())}/drafts"
    r = client.post(url, json={"area": ctx["village"]}, headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["drafts"] == 1
    r = client.post(url, json={"area": ctx["other_village"]}, headers=bearer(token))
    assert r.status_code == 404  # only their own village
    r = client.post(url, json={"area": ctx["village"][:9]}, headers=bearer(token))
    assert r.status_code == 404  # not the whole township


def test_m4_scheduler_catches_up_every_missed_job_once(app, db_session):
    from sqlalchemy import func, select, text

    from mediation import scheduler
    from mediation.reminders.models import Reminder
    from mediation.reports.models import MonthlyReport
    from mediation.screening.models import ScreeningCampaign

    def counts():
        villages = db_session.scalar(
            text("SELECT count(*) FROM area WHERE level = 'village' AND valid_to IS NULL")
        )
        return {
            "villages": villages,
            "drafts": db_session.scalar(
                select(func.count()).where(MonthlyReport.month == "2026-12")
            ),
            "digests": db_session.scalar(
                select(func.count()).where(Reminder.key.like("digest:%:2026-12-02"))
            ),
            "report_reminders": db_session.scalar(
                select(func.count()).where(Reminder.key.like("village:%:monthly_report:2026-12"))
            ),
            "campaigns": db_session.scalar(
                select(func.count()).where(
                    ScreeningCampaign.kind == "routine",
                    ScreeningCampaign.starts_on == date(2026, 12, 1),
                )
            ),
        }

    # The scheduler was down from 30 November until 2 December 10:00.
    now = at(12, 2, 10)
    ran = scheduler.catch_up(app, now=now)
    assert ran == {
        "digest": at(12, 2, 8),
        "monthly_report": at(12, 1, 6),
        "report_drafts": at(12, 1, 2),
        "screening": at(12, 2, 7),
    }
    first = counts()
    townships = db_session.scalar(
        text("SELECT count(*) FROM area WHERE level = 'township' AND valid_to IS NULL")
    )
    assert first["drafts"] == first["report_reminders"] == first["villages"] > 0
    assert first["digests"] == first["campaigns"] == townships
    draft = db_session.scalars(
        select(MonthlyReport).where(MonthlyReport.month == "2026-12")
    ).first()
    draft.narrative = "村里正在写"
    generated = draft.generated_at
    db_session.flush()

    # Restarted again an hour later: nothing is made twice, the draft being written is kept.
    assert scheduler.catch_up(app, now=now + timedelta(hours=1)) == ran
    assert counts() == first
    db_session.refresh(draft)
    assert (draft.narrative, draft.generated_at) == ("村里正在写", generated)


def test_m4_cron_jobs_have_no_misfire_limit(app):
    import inspect

    from mediation import scheduler

    source = inspect.getsource(scheduler.run_forever)
    assert '"misfire_grace_time": None' in source and 'run_job(app, "catch_up")' in source
    assert app.config["SCHEDULER_CATCH_UP"] is True


# ------------------------------------------------------------------ m14: who is told of RED


def test_minor_m14_red_case_reaches_the_township_and_the_county_when_configured(
    app, db_session, world
):
    import dataclasses

    from sqlalchemy import select

    from mediation.reminders import service as reminders
    from mediation.reminders.models import Reminder
    from mediation.users.actor import load_actor
    from tests.factories import make_user

    red = {"likelihood": 1, "severity": 1, "flags": ["death"]}

    def alerted(d):
        return sorted(
            (r.recipient_role, r.recipient_area)
            for r in db_session.scalars(
                select(Reminder).where(Reminder.dispute_id == d.id, Reminder.kind == "red_case")
            )
        )

    d = world["register"](at(12, 1, 15), risk=red)
    assert alerted(d) == [("center_staff", d.township_code)]  # default: the township at once

    with_county = dataclasses.replace(world["settings"], red_alert_levels=("township", "county"))
    d2 = world["register"](at(12, 1, 15), settings_=with_county, risk=red)
    assert alerted(d2) == [("center_staff", d2.township_code), ("county_admin", d2.county_code)]
    # … and the county centre finds it in its inbox once the sweep has fired it (the same hour)
    reminders.sweep(db_session, now=at(12, 1, 15), webhook=False)
    county = make_user(app, db_session, "t_m14_county", [{"role": "county_admin", "area_code": d2.county_code}])  # fmt: skip
    inbox = reminders.inbox(
        db_session,
        actor=load_actor(db_session, user=county, today=date(2026, 12, 1)),
        limit=50,
        before_id=None,
        unread_only=True,
    )
    assert [(r.kind, r.dispute_id) for r in inbox] == [("red_case", d2.id)]


def test_minor_m14_red_alert_levels_is_a_setting(app, monkeypatch):
    from api.disputes import settings
    from core.config import get_config

    assert app.config["RED_ALERT_LEVELS"] == ["township"]
    monkeypatch.setenv("RED_ALERT_LEVELS", "township,county")
    assert get_config("testing").RED_ALERT_LEVELS == ["township", "county"]
    for bad in ("county", "township,province"):
        monkeypatch.setenv("RED_ALERT_LEVELS", bad)
        with pytest.raises(ValueError):
            get_config("testing")
    monkeypatch.setitem(app.config, "RED_ALERT_LEVELS", ["township", "county"])
    with app.test_request_context():
        from core.db import db

        assert settings().red_alert_levels == ("township", "county")
        db.session.remove()
