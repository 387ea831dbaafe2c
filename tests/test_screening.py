"""Screening rounds, zero reports, campaigns, coverage, reminders and the figures for the report.

The month test walks December 2026 in one village with an explicit `now`; every expected number
is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from api.schemas.disputes import DisputeIn
from api.schemas.screening import CampaignIn, RoundIn
from mediation import scheduler
from mediation.calendar import load_calendar
from mediation.disputes import registration
from mediation.disputes import settings as case_settings
from mediation.disputes.deadlines import Limits
from mediation.pii import vault_for
from mediation.reminders import service as reminders
from mediation.reminders.models import Reminder
from mediation.screening import campaigns, coverage, metrics, rounds
from mediation.screening import scheduled as screening_jobs
from mediation.screening.enums import KEY_AREAS
from mediation.screening.models import ScreeningCampaign, ScreeningRound
from mediation.users.actor import load_actor
from tests.factories import TOWNSHIP, Api, dispute_payload, role_users

SH = ZoneInfo("Asia/Shanghai")


def at(y, m, d, h=9, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    ctx = role_users(app, db_session)
    settings = case_settings.Settings(
        limits=Limits(calendar=load_calendar(db_session)), locate_tolerance_m=150
    )
    actors = {
        k: load_actor(db_session, user=u, today=date(2026, 12, 1))
        for k, u in {**ctx["users"], **ctx["targets"]}.items()
    }
    from api.disputes import store

    def register(who, cell, now, key_areas):
        with app.test_request_context():
            data = DisputeIn().load(
                dispute_payload(
                    db_session,
                    cell,
                    key_areas=key_areas,
                    occurred_at=(now - timedelta(hours=2)).isoformat(),
                )
            )
            d, _, _ = registration.register_dispute(
                db_session,
                actor=actors[who],
                data=data,
                photos=[],
                now=now,
                settings=settings,
                vault=vault_for(app.config["PII_KEY"]),
                store=store(),
            )
        return d

    def record(who, cell, screened_at, now=None, found=(), **over):
        body = {
            "client_id": str(uuid.uuid4()),
            "cell_code": cell,
            "screened_at": screened_at.isoformat(),
            "households_visited": 40,
            "key_areas": list(KEY_AREAS),
            "zero_report": not found,
            "dispute_ids": [str(d.id) for d in found],
            **over,
        }
        with app.test_request_context():
            rnd, _ = rounds.record_round(
                db_session,
                actor=actors[who],
                data=RoundIn().load(body),
                photos=[],
                now=now or screened_at + timedelta(hours=1),
                store=store(),
            )
        return rnd

    return {**ctx, "actors": actors, "register": register, "record": record}


def open_reminders(db_session, **where):
    stmt = select(Reminder).where(
        Reminder.state.in_(("pending", "due", "sent", "acknowledged")),
        *[getattr(Reminder, k) == v for k, v in where.items()],
    )
    return db_session.scalars(stmt.order_by(Reminder.area_code, Reminder.id)).all()


def test_a_month_of_screening_in_a_village(app, db_session, world):
    c = world["cells"]
    n = len(
        c
    )  # cells of the village; c[0], c[1] are t_gw's, c[2], c[3] t_gw_in's, the rest no one's
    assert n >= 5
    gw, gw2 = world["users"]["grid_worker"], world["targets"]["gw_in"]
    village = world["village"]
    townships = db_session.scalar(
        text("SELECT count(*) FROM area WHERE level = 'township' AND valid_to IS NULL")
    )

    # 1 December: the monthly routine campaigns appear, once per township
    assert campaigns.ensure_monthly_campaigns(db_session, now=at(2026, 12, 1, 7)) == townships
    assert campaigns.ensure_monthly_campaigns(db_session, now=at(2026, 12, 1, 8)) == 0
    routine = db_session.scalar(
        select(ScreeningCampaign).where(
            ScreeningCampaign.area_code == TOWNSHIP, ScreeningCampaign.month == "2026-12"
        )
    )
    assert (routine.kind, routine.starts_on, routine.ends_on, routine.due_on) == (
        "routine",
        date(2026, 12, 1),
        date(2026, 12, 31),
        date(2026, 12, 31),
    )
    assert routine.key_areas == list(KEY_AREAS)
    # … and the township centre launches a 专项排查 for the village, 4–15 December
    special = campaigns.launch_campaign(
        db_session,
        actor=world["actors"]["center_staff"],
        data=CampaignIn().load(
            {
                "title": "春节前 征地拆迁 欠薪 专项排查",
                "area_code": village,
                "starts_on": "2026-12-04",
                "ends_on": "2026-12-15",
                "key_areas": ["征地拆迁", "社会保障与欠薪"],
            }
        ),
        now=at(2026, 12, 1, 10),
    )
    assert special.due_on == date(2026, 12, 15)

    # The rounds of the month
    world["record"]("gw_in", c[3], at(2026, 11, 30, 23, 30), now=at(2026, 12, 1, 8))  # November
    d1 = world["register"]("grid_worker", c[0], at(2026, 12, 3, 9), ["涉农问题"])
    d2 = world["register"]("grid_worker", c[0], at(2026, 12, 3, 10), ["征地拆迁", "涉农问题"])
    world["record"]("grid_worker", c[0], at(2026, 12, 3, 11), found=[d1, d2])
    world["record"]("grid_worker", c[1], at(2026, 12, 5))  # 零报告
    d3 = world["register"]("gw_in", c[2], at(2026, 12, 10, 9), ["社会保障与欠薪"])
    world["record"]("gw_in", c[2], at(2026, 12, 10, 11), found=[d3])

    # 12 December, three days before the special's due date: c[1] and c[2] were screened in its
    # window; c[0] only on the 3rd (before it), c[3] only in November, c[4:] never → n - 2
    assert screening_jobs.late_cell_reminders(db_session, now=at(2026, 12, 12, 8)) == n - 2
    assert screening_jobs.late_cell_reminders(db_session, now=at(2026, 12, 12, 9)) == 0  # once
    due = open_reminders(db_session, kind="screening_due")
    assert [r.area_code for r in due] == [c[0], c[3], *c[4:]]
    by_cell = {r.area_code: r for r in due}
    assert by_cell[c[0]].recipient_id == gw.id and by_cell[c[3]].recipient_id == gw2.id
    assert all((r.recipient_role, r.recipient_area) == ("village_admin", village) for r in due[2:])
    assert by_cell[c[0]].due_at == datetime(2026, 12, 15, 23, 59, 59, tzinfo=SH)
    assert by_cell[c[0]].remind_at == datetime(2026, 12, 12, 23, 59, 59, tzinfo=SH)
    assert by_cell[c[0]].body["campaign_id"] == str(special.id)

    # 14 December: t_gw walks c[0] again and finds nothing; his reminder goes at once
    world["record"]("grid_worker", c[0], at(2026, 12, 14, 15))  # 零报告
    assert by_cell[c[0]].state == "cancelled" and by_cell[c[0]].cancel_reason == "screened"

    # 16 December: the n - 3 remaining reminders fire (with the new cases' own reminders);
    # supervision waits 24 h after the due date, then goes to the village and the township
    reminders.sweep(db_session, now=at(2026, 12, 16, 9), webhook=False)
    assert [r.state for r in open_reminders(db_session, kind="screening_due")] == ["due"] * (n - 3)
    delay = timedelta(hours=24)

    def screening_supervision():
        return [
            r
            for r in open_reminders(db_session, kind="supervision")
            if r.body.get("overdue_kind") == "screening_due"
        ]

    scheduler.supervise(db_session, now=at(2026, 12, 16, 9), delay=delay)
    assert screening_supervision() == []
    scheduler.supervise(db_session, now=at(2026, 12, 17, 8), delay=delay)
    assert len(screening_supervision()) == 2 * (n - 3)
    scheduler.supervise(db_session, now=at(2026, 12, 17, 9), delay=delay)
    assert len(screening_supervision()) == 2 * (n - 3)  # once
    sup = [r for r in screening_supervision() if r.area_code == c[3]]
    assert {(r.recipient_role, r.recipient_area) for r in sup} == {
        ("village_admin", village),
        ("center_staff", TOWNSHIP),
    }
    assert {r.parent_id for r in sup} == {by_cell[c[3]].id}
    assert sup[0].body["campaign_id"] == str(special.id)

    # 17 December: t_gw_in syncs a round of c[3] walked on the 15th (零报告): reminder and
    # supervision are cancelled together
    world["record"]("gw_in", c[3], at(2026, 12, 15, 16), now=at(2026, 12, 17, 10))
    assert by_cell[c[3]].state == "cancelled"
    assert all(r.state == "cancelled" for r in sup)
    assert len(open_reminders(db_session, kind="screening_due")) == n - 4
    assert len(screening_supervision()) == 2 * (n - 4)

    # Coverage of the special campaign (4–15 Dec) seen by the centre on the 17th:
    # screened c[0] (14th), c[1] (5th), c[2] (10th), c[3] (15th); c[4:] overdue
    center = world["actors"]["center_staff"]
    cov = coverage.campaign_coverage(
        db_session, actor=center, campaign_id=special.id, now=at(2026, 12, 17, 11)
    )
    states = {x["code"]: x["state"] for x in cov["cells"]}
    assert states == {
        **{x: "screened" for x in c[:4]},
        **{x: "overdue" for x in c[4:]},
    }
    assert cov["totals"] == {
        "rounds": 4,  # 14th, 5th, 10th, 15th
        "zero_reports": 3,  # all but c[2]'s
        "found": 1,  # d3
        "cells_total": n,
        "cells_screened": 4,
        "cells_missing": n - 4,
        "coverage": round(4 / n, 4),
        "found_by_key_area": {"社会保障与欠薪": 1},
    }
    row = {x["code"]: x for x in cov["cells"]}
    assert row[c[0]]["last_screened_at"] == at(2026, 12, 14, 15)
    assert row[c[0]]["last_zero_report"] is True and row[c[0]]["worker_id"] == gw.id
    assert row[c[4]]["worker_id"] is None and row[c[4]]["rounds"] == 0

    # 29 December: the routine campaign is due on the 31st; every current cell of the county
    # without a December round owes one — all but c[0..3] (special's c[4:] already have theirs,
    # under the special's key, so they get a second one for the routine campaign)
    county_cells = db_session.scalar(
        text("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL AND code LIKE '330681%'")
    )
    assert (
        screening_jobs.late_cell_reminders(db_session, now=at(2026, 12, 29, 7)) == county_cells - 4
    )

    # A round in the first minutes of January counts for January, not December
    world["record"]("grid_worker", c[1], at(2027, 1, 1, 0, 5), now=at(2027, 1, 1, 1))

    # The figures for the December report (Asia/Shanghai month):
    # rounds: c0 ×2, c1, c2, c3 (15th) = 5; zero: c0 14th, c1, c3 = 3; found: d1, d2, d3 = 3;
    # screened cells: c0..c3 = 4 of n; by key area: 涉农问题 d1 d2, 征地拆迁 d2, 欠薪 d3
    start, end = at(2026, 12, 1, 0), at(2027, 1, 1, 0)
    by_village = metrics.screening_figures(
        db_session, level="village", prefix=TOWNSHIP, start=start, end=end
    )
    assert by_village[village] == metrics.ScreeningFigures(
        rounds=5,
        zero_reports=3,
        found=3,
        cells_total=n,
        cells_screened=4,
        coverage=4 / n,
        found_by_key_area={"涉农问题": 2, "征地拆迁": 1, "社会保障与欠薪": 1},
    )
    # every village of the township appears, those without rounds with their cells and zeros
    villages = db_session.scalar(
        text(
            "SELECT count(*) FROM area WHERE level = 'village' AND valid_to IS NULL AND code LIKE :t"
        ),
        {"t": TOWNSHIP + "%"},
    )
    assert len(by_village) == villages
    quiet = [f for code, f in by_village.items() if code != village]
    assert all(f.rounds == 0 and f.coverage in (0.0, None) for f in quiet)
    township = metrics.screening_figures(
        db_session, level="township", prefix="330681", start=start, end=end
    )[TOWNSHIP]
    assert (township.rounds, township.found, township.cells_screened) == (5, 3, 4)
    assert township == metrics.combine(by_village.values())
    by_cell = metrics.screening_figures(
        db_session, level="cell", prefix=village, start=start, end=end
    )
    assert by_cell[c[0]] == metrics.ScreeningFigures(
        2, 1, 2, 1, 1, 1.0, {"涉农问题": 2, "征地拆迁": 1}
    )
    assert by_cell[c[3]] == metrics.ScreeningFigures(1, 1, 0, 1, 1, 1.0, {})
    assert by_cell[c[4]] == metrics.ScreeningFigures(0, 0, 0, 1, 0, 0.0, {})
    january = metrics.screening_figures(
        db_session, level="village", prefix=village, start=end, end=at(2027, 2, 1, 0)
    )[village]
    assert (january.rounds, january.cells_screened) == (1, 1)
    november = metrics.screening_figures(
        db_session, level="cell", prefix=village, start=at(2026, 11, 1, 0), end=start
    )
    assert november[c[3]].rounds == 1 and november[c[0]].rounds == 0

    # The routine campaign seen by the village head: only the village's cells, same totals
    cov = coverage.campaign_coverage(
        db_session,
        actor=world["actors"]["village_admin"],
        campaign_id=routine.id,
        now=at(2026, 12, 29, 9),
    )
    assert [x["code"] for x in cov["cells"]] == c
    assert {x["state"] for x in cov["cells"][4:]} == {"missing"}
    assert cov["totals"]["rounds"] == 5 and cov["totals"]["cells_screened"] == 4


def test_monthly_coverage_endpoint(client, db_session, world):
    c = world["cells"]
    now = datetime.now(UTC)
    world["record"]("grid_worker", c[0], now - timedelta(hours=1), now=now)
    month = now.astimezone(SH).strftime("%Y-%m")
    vil = Api(client, "t_vil")
    body = client.get(
        f"/api/v1/screening/coverage?area={world['village']}&month={month}", headers=vil.h()
    ).get_json()
    assert body["level"] == "cell" and [i["code"] for i in body["items"]] == c
    assert body["totals"]["rounds"] == 1 and body["totals"]["zero_reports"] == 1
    assert body["totals"]["cells_total"] == len(c) and body["totals"]["cells_screened"] == 1
    center = Api(client, "t_center")
    body = client.get(
        f"/api/v1/screening/coverage?area={TOWNSHIP}&month={month}", headers=center.h()
    ).get_json()
    assert body["level"] == "village"
    mine = next(i for i in body["items"] if i["code"] == world["village"])
    assert mine["rounds"] == 1 and mine["name"]
    # a village head cannot look at the township's figures, nor a bad month
    r = client.get(f"/api/v1/screening/coverage?area={TOWNSHIP}&month={month}", headers=vil.h())
    assert r.status_code == 404 and r.get_json()["code"] == "area_not_found"
    r = client.get(f"/api/v1/screening/coverage?area={TOWNSHIP}&month=2026-13", headers=center.h())
    assert r.status_code == 422 and "month" in r.get_json()["fields"]


# ------------------------------------------------------------------ API: recording a round


def round_body(cell, **over):
    body = {
        "client_id": str(uuid.uuid4()),
        "cell_code": cell,
        "screened_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "households_visited": 35,
        "key_areas": ["涉农问题", "征地拆迁"],
        "zero_report": True,
        "notes": "走访 35 户，未发现矛盾纠纷",
    }
    body.update(over)
    return body


def post_round(client, api, body):
    return client.post("/api/v1/screening/rounds", json=body, headers=api.h())


def test_a_round_outside_my_cells_is_refused(client, db_session, world):
    gw = Api(client, "t_gw")
    for cell in (world["cells"][2], world["other_cells"][0]):  # a colleague's, another township's
        r = post_round(client, gw, round_body(cell))
        assert r.status_code == 422
        body = r.get_json()
        assert body["code"] == "outside_your_cells"
        assert body["fields"]["cell_code"] == ["只能为自己负责的网格记录排查"]
    assert db_session.scalar(select(func.count()).select_from(ScreeningRound)) == 0
    # and nobody sees a round outside their area
    rnd = post_round(client, Api(client, "t_gw_out"), round_body(world["other_cells"][0]))
    assert rnd.status_code == 201
    r = client.get(f"/api/v1/screening/rounds/{rnd.get_json()['id']}", headers=gw.h())
    assert r.status_code == 404 and r.get_json()["code"] == "round_not_found"


def test_a_retry_records_the_round_once(client, db_session, world):
    gw = Api(client, "t_gw")
    body = round_body(world["cells"][0])
    first = post_round(client, gw, body)
    assert first.status_code == 201, first.get_json()
    again = post_round(client, gw, body)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert db_session.scalar(select(func.count()).select_from(ScreeningRound)) == 1
    changed = post_round(client, gw, {**body, "households_visited": 36})
    assert changed.status_code == 409 and changed.get_json()["code"] == "client_id_conflict"
    assert "client_id" in changed.get_json()["fields"]
    other = post_round(client, Api(client, "t_gw_in"), {**body, "cell_code": world["cells"][2]})
    assert other.status_code == 409 and other.get_json()["code"] == "client_id_taken"
    # the same instant written in another offset is the same content
    same = datetime.fromisoformat(body["screened_at"]).astimezone(SH).isoformat()
    assert post_round(client, gw, {**body, "screened_at": same}).status_code == 200
    listed = client.get(
        f"/api/v1/screening/rounds?area={world['village']}", headers=Api(client, "t_vil").h()
    ).get_json()
    assert listed["total"] == 1 and listed["items"][0]["zero_report"] is True


def test_validation_errors_name_the_field_in_chinese(app, client, db_session, world):
    gw = Api(client, "t_gw")
    cell = world["cells"][0]
    now = datetime.now(UTC)

    def refused(status, code, field, **over):
        r = post_round(client, gw, round_body(cell, **over))
        body = r.get_json()
        assert (r.status_code, body["code"]) == (status, code), body
        assert field in body["fields"], body
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in body["fields"][field])
        return body

    d = gw.register(dispute_payload(db_session, cell)).get_json()
    refused(422, "zero_report_with_findings", "dispute_ids", dispute_ids=[d["id"]])
    refused(422, "findings_required", "dispute_ids", zero_report=False)
    refused(422, "invalid_date", "screened_at", screened_at=(now + timedelta(hours=1)).isoformat())
    early = at(2020, 1, 1).isoformat()
    refused(422, "screened_too_early", "screened_at", screened_at=early)
    refused(422, "validation_error", "households_visited", households_visited=-1)
    refused(422, "validation_error", "key_areas[0]", key_areas=["不存在的领域"])
    refused(422, "validation_error", "screened_at", screened_at="2026-12-01T09:00:00")  # no tz
    refused(
        422,
        "dispute_not_found",
        "dispute_ids",
        zero_report=False,
        dispute_ids=[str(uuid.uuid4())],
    )
    # a case of the other township is not visible; one of another village is refused by name
    out = Api(client, "t_gw_out").register(dispute_payload(db_session, world["other_cells"][0]))
    refused(
        422,
        "dispute_not_found",
        "dispute_ids",
        zero_report=False,
        dispute_ids=[out.get_json()["id"]],
    )
    refused(
        422,
        "invalid_track",
        "track.type",
        track={"type": "Polygon", "coordinates": [], "crs": "gcj02"},
    )
    refused(
        422,
        refused_crs_code(),
        "track.crs",
        track={"type": "MultiPoint", "coordinates": [[120.2, 29.7]], "crs": "mars"},
    )
    # found once: a dispute cannot count for two rounds
    ok = post_round(client, gw, round_body(cell, zero_report=False, dispute_ids=[d["id"]]))
    assert ok.status_code == 201 and ok.get_json()["found_count"] == 1
    assert ok.get_json()["disputes"][0]["case_number"] == d["case_number"]
    refused(409, "dispute_already_found", "dispute_ids", zero_report=False, dispute_ids=[d["id"]])


def refused_crs_code():
    from geo.crs import unknown_system

    return unknown_system("mars").code


def test_a_round_in_another_village_of_the_worker(app, client, db_session, world):
    """A worker with cells in two villages cannot count a case of one for a round of the other."""
    from tests.factories import make_user

    other_village_cell = world["other_cells"][1]
    make_user(
        app,
        db_session,
        "t_gw_two",
        [{"role": "grid_worker"}],
        [world["cells"][4], other_village_cell],
    )
    two = Api(client, "t_gw_two")
    d = two.register(dispute_payload(db_session, world["cells"][4])).get_json()
    r = post_round(
        client, two, round_body(other_village_cell, zero_report=False, dispute_ids=[d["id"]])
    )
    assert r.status_code == 422 and r.get_json()["code"] == "dispute_other_village"
    assert r.get_json()["details"]["case_numbers"] == [d["case_number"]]


def test_track_and_photos_are_kept(client, db_session, world):
    from geo import crs
    from tests.factories import point_in

    gw = Api(client, "t_gw")
    x, y = point_in(db_session, world["cells"][0])
    gx, gy = (float(v) for v in crs.wgs84_to_gcj02(x, y))
    png = b"\x89PNG\r\n\x1a\n" + b"screening" * 20
    body = round_body(
        world["cells"][0],
        track={"type": "LineString", "coordinates": [[gx, gy], [gx + 0.001, gy]], "crs": "gcj02"},
        photos=[{"filename": "walk.png", "content_base64": base64.b64encode(png).decode()}],
    )
    r = post_round(client, gw, body)
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert out["track"]["type"] == "LineString" and out["track"]["crs"] == "wgs84"
    lon, lat = out["track"]["coordinates"][0]
    assert abs(lon - x) < 1e-6 and abs(lat - y) < 1e-6  # stored in WGS-84
    assert [p["filename"] for p in out["photos"]] == ["walk.png"]
    assert post_round(client, gw, body).status_code == 200  # same photo, same content
    bad = {**body, "client_id": str(uuid.uuid4())}
    bad["photos"] = [{"filename": "x.gif", "content_base64": base64.b64encode(b"GIF89a").decode()}]
    r = post_round(client, gw, bad)
    assert r.status_code == 422 and "photos[0]" in r.get_json()["fields"]


# ------------------------------------------------------------------ campaigns


def campaign_body(area, **over):
    today = datetime.now(SH).date()
    body = {
        "title": "春节前 征地拆迁 欠薪 专项排查",
        "area_code": area,
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=14)).isoformat(),
        "key_areas": ["征地拆迁", "社会保障与欠薪"],
    }
    body.update(over)
    return body


def test_who_may_launch_a_campaign_and_where(client, db_session, world):
    center, county = Api(client, "t_center"), Api(client, "t_county")

    def launch(api, body):
        return client.post("/api/v1/screening/campaigns", json=body, headers=api.h())

    r = launch(center, campaign_body(TOWNSHIP))
    assert r.status_code == 201 and r.get_json()["kind"] == "special"
    assert r.get_json()["due_on"] == r.get_json()["ends_on"]
    assert launch(center, campaign_body(world["village"])).status_code == 201
    r = launch(center, campaign_body(world["other_village"]))
    assert r.status_code == 422 and r.get_json()["code"] == "outside_your_area"
    assert "area_code" in r.get_json()["fields"]
    assert launch(county, campaign_body(world["other_village"])).status_code == 201
    assert launch(county, campaign_body("330681")).status_code == 201
    for role in ("t_gw", "t_vil", "t_med", "t_leader"):
        assert launch(Api(client, role), campaign_body(world["village"])).status_code == 403
    r = launch(center, campaign_body("330681999999"))
    assert r.status_code == 422 and r.get_json()["code"] == "area_not_found"
    today = datetime.now(SH).date()
    r = launch(center, campaign_body(TOWNSHIP, due_on=(today + timedelta(days=30)).isoformat()))
    assert (r.status_code, r.get_json()["code"]) == (422, "invalid_date")
    assert "due_on" in r.get_json()["fields"]
    r = launch(center, campaign_body(TOWNSHIP, ends_on=(today - timedelta(days=1)).isoformat()))
    assert r.status_code == 422 and "ends_on" in r.get_json()["fields"]
    # the village sees its township's and its own campaigns; the other township's it does not
    listed = client.get("/api/v1/screening/campaigns", headers=Api(client, "t_vil").h())
    areas = sorted(x["area_code"] for x in listed.get_json())
    assert areas == sorted(["330681", TOWNSHIP, world["village"]])


def test_monthly_campaigns_are_created_once_per_township(db_session):
    n = campaigns.ensure_monthly_campaigns(db_session, now=at(2027, 2, 3))
    assert n > 0
    assert campaigns.ensure_monthly_campaigns(db_session, now=at(2027, 2, 20)) == 0
    assert campaigns.ensure_monthly_campaigns(db_session, now=at(2027, 2, 20), month="2027-03") == n
    feb = db_session.scalars(
        select(ScreeningCampaign).where(ScreeningCampaign.month == "2027-02")
    ).all()
    assert len(feb) == n and {(c.starts_on, c.due_on) for c in feb} == {
        (date(2027, 2, 1), date(2027, 2, 28))
    }
    assert {c.title for c in feb} == {"2027年2月例行矛盾纠纷排查"}


def test_the_scheduler_job_runs_both_steps(app, db_session):
    from mediation.scheduler import jobs

    with app.app_context():
        result = jobs(app)["screening"](at(2027, 3, 29, 7))
    assert result["campaigns"] > 0 and result["reminders"] > 0
    with app.app_context():
        again = jobs(app)["screening"](at(2027, 3, 29, 8))
    assert again == {"campaigns": 0, "reminders": 0}
