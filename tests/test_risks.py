"""Issue 21: a road project walked through the 稳评 register, a signal raised offline and turned
into a dispute, the project's risk passed on to its cases, a 研判 decision supervised to its
deadline — and every risk figure of the township's month counted by hand."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from mediation.disputes.models import DisputeEvent
from mediation.reminders import service as reminders
from mediation.reminders.models import Reminder
from mediation.reports import console, metrics
from mediation.reports import months as report_months
from mediation.reports import township_view as service
from mediation.risks import meetings, propagation, register, signals
from mediation.risks.models import RiskSignal
from tests.factories import OTHER_TOWNSHIP, TOWNSHIP, case_world, point_in

SH = ZoneInfo("Asia/Shanghai")
OCTOBER = metrics.month_period("2026-10")


def at(m, d, h=9):
    return datetime(2026, m, d, h, tzinfo=SH)


def zone_of(db_session, cell: str, crs: str = "wgs84") -> dict:
    """A polygon safely inside a cell (and its township): the cell shrunk by ~50 m."""
    raw = db_session.scalar(
        text(
            """SELECT ST_AsGeoJSON(ST_Buffer(ST_Intersection(g.geom, t.geom), -0.0005), 7)
               FROM grid_cell g JOIN area t ON t.code = left(g.village_code, 9)
                 AND t.valid_to IS NULL
               WHERE g.code = :c AND g.valid_to IS NULL"""
        ),
        {"c": cell},
    )
    return {**json.loads(raw), "crs": crs}


def item_data(db_session, cell, **over) -> dict:
    data = {
        "township_code": cell[:9],
        "kind": "project",
        "title": "环村公路拓宽工程",
        "subject": "拓宽村道并征收沿线农田约 30 亩",
        "decision_maker": "镇党委会议",
        "key_areas": ["征地拆迁", "交通运输"],
        "geometry": zone_of(db_session, cell),
        "responsible_unit": "镇交通办",
    }
    data.update(over)
    return data


def signal_data(db_session, cell, when, key_area="征地拆迁", **over) -> dict:
    x, y = point_in(db_session, cell)
    data = {
        "client_id": uuid.uuid4(),
        "location": {"lon": x, "lat": y, "crs": "wgs84"},
        "key_area": key_area,
        "description": "施工车辆夜间占道，沿线村民有意见",
        "observed_at": when,
        "source": "grid_patrol",
    }
    data.update(over)
    return data


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 10, 1))


def test_walk_a_road_project_through_the_month(app, db_session, world):
    from api.disputes import store
    from api.schemas.screening import RoundIn
    from api.sync import load_payload
    from mediation.pii import vault_for
    from mediation.risks import rounds as risk_rounds
    from mediation.screening import campaigns
    from mediation.sync import push as sync
    from tests.factories import dispute_payload

    a, s = world["actors"], world["settings"]
    staff, gw = a["center_staff"], a["grid_worker"]
    cells, village = world["cells"], world["village"]

    # 专项行动 for the village, launched on the 1st
    campaign = campaigns.launch_campaign(
        db_session,
        actor=staff,
        data={
            "title": "公路工程沿线专项排查",
            "area_code": village,
            "starts_on": date(2026, 10, 1),
            "ends_on": date(2026, 10, 31),
            "key_areas": ["征地拆迁", "交通运输"],
        },
        now=at(10, 1),
    )

    # 1. registered, assessed medium with three measures, decided
    item = register.register_item(
        db_session, actor=staff, data=item_data(db_session, cells[0]), now=at(10, 2)
    )
    assert village in item.village_codes and all(v.startswith(TOWNSHIP) for v in item.village_codes)
    out = register.assess_item(
        db_session,
        actor=staff,
        item_id=item.id,
        data={
            "rating": "medium",
            "risk_points": ["征地补偿标准争议", "施工扰民"],
            "measures": ["补偿标准公示并逐户解释", "夜间 22 时后停止施工", "设立村级调解联络员"],
        },
        now=at(10, 3),
        settings=s,
    )
    assert out["raised"] == []  # nothing linked yet
    register.decide_item(
        db_session,
        actor=staff,
        item_id=item.id,
        data={"decision": "proceed_with_measures"},
        now=at(10, 4),
    )

    # 2. two neighbour disputes in its villages, offered by place + key area, linked by a person
    n1 = world["register"](at(10, 6), cell=cells[0], category="02", key_areas=["征地拆迁"])
    n2 = world["register"](at(10, 8), cell=cells[1], category="02", key_areas=["征地拆迁"])
    other = world["register"](at(10, 8, 10), cell=cells[1], key_areas=["教育"])  # not offered
    assert n1.risk_level == n2.risk_level == "blue"
    offered = {r["id"] for r in register.offered_disputes(db_session, actor=staff, item_id=item.id)}
    assert {n1.id, n2.id} <= offered and other.id not in offered

    first = register.link_dispute(
        db_session, actor=staff, item_id=item.id, dispute_id=n1.id, now=at(10, 9), settings=s
    )
    # medium → YELLOW floor: n1 raised
    assert [(r["case_number"], r["from"], r["to"]) for r in first["raised"]] == [
        (n1.case_number, "blue", "yellow")
    ]
    second = register.link_dispute(
        db_session, actor=staff, item_id=item.id, dispute_id=n2.id, now=at(10, 10), settings=s
    )
    # two open linked cases: one level up → ORANGE for both
    assert sorted((r["from"], r["to"]) for r in second["raised"]) == [
        ("blue", "orange"),
        ("yellow", "orange"),
    ]
    db_session.refresh(n1)
    db_session.refresh(n2)
    assert n1.risk_level == n2.risk_level == "orange"
    reasons = db_session.scalars(
        select(DisputeEvent.reason).where(
            DisputeEvent.dispute_id == n1.id, DisputeEvent.action == "assess_risk"
        )
    ).all()
    assert len(reasons) == 2 and all("环村公路拓宽工程" in r and "风险传导" in r for r in reasons)
    # linking again is idempotent and raises nothing more
    again = register.link_dispute(
        db_session, actor=staff, item_id=item.id, dispute_id=n1.id, now=at(10, 10), settings=s
    )
    assert again["raised"] == []

    # 3. a signal raised offline by the grid worker, turned into a dispute in the same batch
    sig_id, case_id = uuid.uuid4(), uuid.uuid4()
    sig_payload = json.loads(
        json.dumps(signal_data(db_session, cells[0], at(10, 11), "交通运输"), default=str)
    )
    sig_payload["client_id"] = str(sig_id)
    reg_payload = dispute_payload(
        db_session, cells[0], occurred_at=at(10, 11, 8).isoformat(), key_areas=["交通运输"]
    )
    ops = [
        {
            "op_id": str(uuid.uuid4()),
            "kind": "record_signal",
            "happened_at": at(10, 11, 8),
            "payload": sig_payload,
        },
        {
            "op_id": str(uuid.uuid4()),
            "kind": "register",
            "case_id": case_id,
            "happened_at": at(10, 11, 9),
            "payload": reg_payload,
        },
        {
            "op_id": str(uuid.uuid4()),
            "kind": "convert_signal",
            "happened_at": at(10, 11, 9),
            "payload": {"signal_id": str(sig_id), "dispute_id": str(case_id)},
        },
    ]

    def push():
        with app.test_request_context():
            return sync.push_operations(
                db_session,
                actor=gw,
                operations=ops,
                load=load_payload,
                now=at(10, 12),
                settings=s,
                vault=vault_for(app.config["PII_KEY"]),
                store=store(),
            )

    first_push = push()
    assert [r["status"] for r in first_push] == ["applied"] * 3, first_push
    assert [r["status"] for r in push()] == ["already_applied"] * 3  # the resend changes nothing
    s1 = db_session.get(RiskSignal, sig_id)
    assert (s1.status, s1.dispute_id, s1.device_recorded_at) == (
        "converted",
        case_id,
        at(10, 11, 8),
    )
    assert db_session.scalar(select(func_count()).where(RiskSignal.id == sig_id)) == 1

    # 4. more signals: one closed, one attached to the project, one found on a screening round
    s2, _ = signals.record_signal(
        db_session,
        actor=gw,
        data=signal_data(db_session, cells[1], at(10, 14)),
        now=at(10, 14),
        settings=s,
    )
    signals.assess_signal(
        db_session,
        actor=staff,
        signal_id=s2.id,
        data={"likelihood": 3, "severity": 2},
        now=at(10, 15),
    )
    assert (s2.score, s2.level) == (6, "yellow")
    signals.follow_up(
        db_session, actor=gw, signal_id=s2.id, data={"note": "已与施工方沟通"}, now=at(10, 16)
    )
    signals.close_signal(
        db_session,
        actor=gw,
        signal_id=s2.id,
        data={"note": "施工方调整作业时间，隐患消除"},
        now=at(10, 20),
    )
    s3, _ = signals.record_signal(
        db_session,
        actor=gw,
        data=signal_data(db_session, cells[0], at(10, 24)),
        now=at(10, 24),
        settings=s,
    )
    signals.attach_signal(db_session, actor=staff, signal_id=s3.id, item_id=item.id, now=at(10, 26))
    s4, _ = signals.record_signal(
        db_session,
        actor=gw,
        data=signal_data(db_session, cells[0], at(10, 28), "涉农问题"),
        now=at(10, 28),
        settings=s,
    )
    round_body = RoundIn().load(
        {
            "client_id": str(uuid.uuid4()),
            "cell_code": cells[0],
            "screened_at": at(10, 28, 11).isoformat(),
            "households_visited": 18,
            "key_areas": ["涉农问题"],
            "zero_report": False,
            "signal_ids": [str(s4.id)],
        }
    )
    with app.test_request_context():
        rnd, created = risk_rounds.record_round(
            db_session, actor=gw, data=round_body, photos=[], now=at(10, 28, 12), store=store()
        )
    assert created and (rnd.zero_report, rnd.found_count, rnd.signal_count) == (False, 0, 1)
    assert s4.round_id == rnd.id

    # 5. a 研判 meeting; its decision supervised to its deadline, then carried out
    leader = world["users"]["leader"]
    meeting = meetings.record_meeting(
        db_session,
        actor=staff,
        data={
            "township_code": TOWNSHIP,
            "kind": "special",
            "title": "环村公路工程专题研判",
            "held_at": at(10, 15, 14),
            "summary": "两起相邻纠纷与工程相关，需落实夜间限行",
            "dispute_ids": [n1.id, n2.id],
            "signal_ids": [sig_id],
            "item_ids": [item.id],
            "decisions": [
                {
                    "content": "落实施工车辆夜间限行",
                    "responsible_id": leader.id,
                    "due_on": date(2026, 10, 20),
                }
            ],
        },
        now=at(10, 15, 16),
    )
    decision = meetings.meeting_row(db_session, meeting, at(10, 15, 16))["decisions"][0]
    key = meetings.decision_key(decision["id"])
    r = db_session.scalar(select(Reminder).where(Reminder.key == key))
    assert (r.recipient_id, r.due_at) == (leader.id, datetime(2026, 10, 20, 23, 59, 59, tzinfo=SH))
    reminders.sweep(db_session, now=at(10, 20, 8), webhook=False)
    db_session.refresh(r)
    assert r.state == "due"
    from mediation.scheduler import supervise

    supervise(db_session, now=at(10, 22), delay=timedelta(hours=24))
    sup = db_session.scalars(select(Reminder).where(Reminder.parent_id == r.id)).all()
    assert sorted((x.recipient_role, x.recipient_area) for x in sup) == [
        ("center_staff", TOWNSHIP),
        ("leader", TOWNSHIP),
    ]
    done = meetings.complete_decision(
        db_session,
        actor=a["leader"],
        decision_id=decision["id"],
        data={"note": "已设限行岗"},
        now=at(10, 23),
    )
    assert done.state == "done"
    for x in [r, *sup]:
        db_session.refresh(x)
    assert {x.state for x in [r, *sup]} == {"cancelled"}

    register.record_check(
        db_session,
        actor=staff,
        item_id=item.id,
        data={"result": "on_track", "note": "措施落实"},
        now=at(10, 25),
    )

    # 6. the register shows what the project produced
    row = next(
        i
        for i in register.list_items(db_session, actor=staff, filters={})["items"]
        if i["id"] == item.id
    )
    assert (row["disputes"], row["disputes_open"], row["floor"], row["stage"]) == (
        2,
        2,
        "orange",
        "decided",
    )

    # 7. the township's month (report 2026-11 covers October), counted by hand
    compiled = service.compile_township(
        db_session,
        actor=staff,
        township=TOWNSHIP,
        month="2026-11",
        now=at(11, 5),
        settings=report_months.ReportSettings(),
    )
    hand_signals = {
        "signals_found": 4,  # s1 交通运输, s2 征地拆迁, s3 征地拆迁, s4 涉农问题
        "signals_closed": 3,  # s1 converted, s2 closed, s3 attached
        "signals_converted": 1,
        "signals_attached": 1,
        "signals_open_end": 1,  # s4
        "found_by_key_area": {"征地拆迁": 2, "交通运输": 1, "涉农问题": 1},
        "closed_by_key_area": {"征地拆迁": 2, "交通运输": 1},
    }
    cells_total = len(cells)
    hand_total = {
        **hand_signals,
        "items_registered": 1,
        "items_assessed": 1,
        "items_assessed_by_rating": {"high": 0, "medium": 1, "low": 0},
        "items_decided": 1,
        "disputes_linked": 2,
        "special_actions": [
            {
                "campaign_id": campaign.id,
                "title": "公路工程沿线专项排查",
                "starts_on": "2026-10-01",
                "ends_on": "2026-10-31",
                "due_on": "2026-10-31",
                "key_areas": ["征地拆迁", "交通运输"],
                "cells_total": cells_total,
                "cells_screened": 1,  # the round of 10-28 in cells[0]
                "coverage": round(1 / cells_total, 4),
                "signals_found": 3,  # s1, s2, s3 (s4 is 涉农问题, not this action's)
            }
        ],
    }
    risks = dict(compiled["total"]["risks"])
    assert set(risks.pop("definitions")) >= {"signals_found", "items_assessed", "special_actions"}
    assert risks == hand_total
    mine = next(v for v in compiled["villages"] if v["code"] == village)
    assert mine["figures"]["risks"] == hand_signals
    others = [
        v["figures"]["risks"]["signals_found"] for v in compiled["villages"] if v["code"] != village
    ]
    assert sum(others) == 0
    # the dispute columns of the same month, by hand: n1, n2, other and the converted case
    row = compiled["total"]["row"]
    assert (row["new_registered"], row["new_grid_patrol"], row["orange"], row["red"]) == (
        4,
        4,
        2,
        0,
    )
    assert row["in_progress"] == 4

    # 8. the dashboard's block for the township says the same
    dash = console.dashboard(
        db_session, scope=staff.case_scope, area=TOWNSHIP, period=OCTOBER, now=at(11, 1)
    )
    block = dict(dash["risks"])
    block.pop("definitions")
    assert block == hand_total

    # 9. the township workbook carries them on its 风险防范 sheet, with their definitions
    import io

    from openpyxl import load_workbook

    from mediation.reports import workbook as exports

    ws = load_workbook(io.BytesIO(exports.report_workbook(compiled)))["风险防范"]
    rows = {r[0]: r[1:] for r in ws.iter_rows(values_only=True) if r and r[0]}
    assert rows["征地拆迁"][:2] == (2, 2) and rows["交通运输"][:2] == (1, 1)
    assert rows["涉农问题"][:2] == (1, 0) and rows["教育"][:2] == (0, 0)
    assert rows["开展稳评"][0] == 1 and "风险评估" in rows["开展稳评"][1]
    assert rows["其中：中风险"][0] == 1 and rows["稳评事项关联矛盾纠纷"][0] == 2
    assert rows["公路工程沿线专项排查"][1] == f"1 / {cells_total}"


def func_count():
    from sqlalchemy import func

    return func.count()


def test_floor_rule_pair_by_pair():
    assert propagation.floor_for(None, 0) is None
    assert propagation.floor_for("low", 1) is None
    assert propagation.floor_for("low", 2) == "yellow"
    assert propagation.floor_for("medium", 1) == "yellow"
    assert propagation.floor_for("medium", 2) == "orange"
    assert propagation.floor_for("high", 1) == "orange"
    assert propagation.floor_for("high", 5) == "orange"  # capped: RED stays a person's call
    assert propagation.raised_scores(1, 1, "yellow") == (3, 2)
    assert propagation.raised_scores(3, 2, "orange") == (4, 3)


def test_high_rating_raises_cases_already_linked(db_session, world):
    a, s = world["actors"], world["settings"]
    staff, cells = a["center_staff"], world["cells"]
    item = register.register_item(
        db_session,
        actor=staff,
        data=item_data(db_session, cells[0], geometry=None, village_codes=[world["village"]]),
        now=at(10, 2),
    )
    d = world["register"](at(10, 6), cell=cells[0], key_areas=["征地拆迁"])
    register.link_dispute(
        db_session, actor=staff, item_id=item.id, dispute_id=d.id, now=at(10, 7), settings=s
    )
    assert d.risk_level == "blue"  # not assessed yet: no floor
    out = register.assess_item(
        db_session,
        actor=staff,
        item_id=item.id,
        data={"rating": "high", "risk_points": ["群众反映强烈"], "measures": ["暂缓征收"]},
        now=at(10, 8),
        settings=s,
    )
    assert [x["to"] for x in out["raised"]] == ["orange"]
    with pytest.raises(Exception) as exc:
        register.decide_item(
            db_session, actor=staff, item_id=item.id, data={"decision": "proceed"}, now=at(10, 9)
        )
    assert exc.value.code == "high_risk_needs_measures"


# ------------------------------------------------------------------ bad input, over HTTP


def _staff(client, app, db_session, role="center_staff"):
    from tests.factories import Api, role_users

    ctx = role_users(app, db_session)
    return ctx, Api(client, ctx["users"][role].username)


def _post(api, path, body):
    return api.client.post(f"/api/v1/risks{path}", json=body, headers=api.h())


def _jsonable(d):
    return json.loads(json.dumps(d, default=str))


def test_bad_input_gets_a_clear_error(app, client, db_session):
    ctx, api = _staff(client, app, db_session)
    cells, other = ctx["cells"], ctx["other_cells"]
    # a polygon outside the township
    r = _post(
        api,
        "/items",
        _jsonable(item_data(db_session, cells[0], geometry=zone_of(db_session, other[0]))),
    )
    body = r.get_json()
    assert r.status_code == 422 and body["code"] == "zone_outside_township", body
    assert "geometry" in body["fields"] and "乡镇" in body["message"]
    # an unknown key area
    r = _post(
        api, "/items", _jsonable(item_data(db_session, cells[0], key_areas=["征地拆迁", "外星人"]))
    )
    assert r.status_code == 422 and r.get_json()["code"] == "unknown_key_area"
    assert "key_areas" in r.get_json()["fields"]
    # villages of another township
    r = _post(
        api,
        "/items",
        _jsonable(
            item_data(db_session, cells[0], geometry=None, village_codes=[ctx["other_village"]])
        ),
    )
    assert r.status_code == 422 and r.get_json()["code"] == "link_other_township"
    # a broken polygon, an unknown crs
    bad = {"type": "Polygon", "coordinates": [[[120.1, 29.8], [120.1, 29.8]]], "crs": "wgs84"}
    r = _post(api, "/items", _jsonable(item_data(db_session, cells[0], geometry=bad)))
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_geometry"
    r = _post(
        api,
        "/items",
        _jsonable(
            item_data(
                db_session, cells[0], geometry={**zone_of(db_session, cells[0]), "crs": "utm"}
            )
        ),
    )
    assert r.status_code == 422 and r.get_json()["code"] == "unknown_crs"
    # a signal in an unknown key area, a signal carrying a phone number
    gw = type(api)(client, ctx["users"]["grid_worker"].username)
    now = datetime.now(SH)
    sig = _jsonable(signal_data(db_session, cells[0], now - timedelta(hours=1), "不存在的领域"))
    r = _post(gw, "/signals", sig)
    assert r.status_code == 422 and r.get_json()["code"] == "unknown_key_area"
    sig = _jsonable(
        signal_data(
            db_session, cells[0], now - timedelta(hours=1), description="李四 13800138000 扬言上访"
        )
    )
    r = _post(gw, "/signals", sig)
    assert r.status_code == 422 and r.get_json()["code"] == "personal_data_in_text"
    assert db_session.scalar(text("SELECT count(*) FROM risk_signal")) == 0  # nothing half-written
    assert db_session.scalar(text("SELECT count(*) FROM stability_item")) == 0


def test_links_across_townships_are_refused(app, client, db_session):
    """The county centre sees both townships; a link between them is still refused."""
    from tests.factories import Api

    ctx, staff = _staff(client, app, db_session)
    county = Api(client, ctx["users"]["county_admin"].username)
    r = _post(staff, "/items", _jsonable(item_data(db_session, ctx["cells"][0])))
    assert r.status_code == 201, r.get_json()
    item = r.get_json()
    assert item["stage"] == "registered" and item["disputes"] == 0
    from tests.factories import dispute_payload

    gw_out = Api(client, ctx["targets"]["gw_out"].username)
    r = gw_out.register(dispute_payload(db_session, ctx["other_cells"][0]))
    assert r.status_code == 201
    far = r.get_json()["id"]
    r = _post(county, f"/items/{item['id']}/links", {"dispute_id": far})
    assert r.status_code == 422 and r.get_json()["code"] == "link_other_township"
    assert (
        r.get_json()["fields"] == {"dispute_id": [r.get_json()["message"]]}
        or "dispute_id" in r.get_json()["fields"]
    )
    # the township centre does not even see the other township's case
    r = _post(staff, f"/items/{item['id']}/links", {"dispute_id": far})
    assert r.status_code == 404
    # a signal of 枫桥 turned into a case of 山下湖
    gw = Api(client, ctx["users"]["grid_worker"].username)
    sig = _jsonable(signal_data(db_session, ctx["cells"][0], datetime.now(SH) - timedelta(hours=1)))
    r = _post(gw, "/signals", sig)
    assert r.status_code == 201, r.get_json()
    r = _post(county, f"/signals/{sig['client_id']}/convert", {"dispute_id": far})
    assert r.status_code == 422 and r.get_json()["code"] == "link_other_township"
    # a meeting of 枫桥 reviewing a case of 山下湖
    r = _post(
        county,
        "/meetings",
        {
            "township_code": TOWNSHIP,
            "kind": "routine",
            "title": "例行研判",
            "held_at": (datetime.now(SH) - timedelta(hours=1)).isoformat(),
            "summary": "例行研判",
            "dispute_ids": [far],
        },
    )
    assert r.status_code == 422 and r.get_json()["code"] == "link_other_township"
    assert db_session.scalar(text("SELECT count(*) FROM stability_link")) == 0
    assert OTHER_TOWNSHIP != TOWNSHIP


def test_signal_is_idempotent_by_client_id(app, client, db_session):
    from tests.factories import Api

    ctx, _ = _staff(client, app, db_session)
    gw = Api(client, ctx["users"]["grid_worker"].username)
    sig = _jsonable(signal_data(db_session, ctx["cells"][0], datetime.now(SH) - timedelta(hours=1)))
    first = _post(gw, "/signals", sig)
    assert first.status_code == 201
    again = _post(gw, "/signals", sig)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    changed = {**sig, "description": "另一件事"}
    r = _post(gw, "/signals", changed)
    assert r.status_code == 409 and r.get_json()["code"] == "client_id_conflict"
    # a zero report cannot carry a signal
    from tests.test_authorization_matrix import _round_payload

    body = _round_payload(ctx["cells"][0], signal_ids=[sig["client_id"]])
    r = gw.client.post("/api/v1/screening/rounds", json=body, headers=gw.h())
    assert r.status_code == 422 and r.get_json()["code"] == "zero_report_with_findings"
    # a round elsewhere cannot claim it
    body = _round_payload(ctx["cells"][1], zero_report=False, signal_ids=[sig["client_id"]])
    r = gw.client.post("/api/v1/screening/rounds", json=body, headers=gw.h())
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["zero_report"] is False
    listed = gw.client.get("/api/v1/risks/signals", headers=gw.h()).get_json()
    assert listed["total"] == 1 and listed["items"][0]["round_id"] == body["client_id"]


def test_a_bad_offline_signal_is_rejected_with_its_code(app, db_session, world):
    from api.disputes import store
    from api.sync import load_payload
    from mediation.pii import vault_for
    from mediation.sync import push as sync

    body = json.loads(
        json.dumps(signal_data(db_session, world["cells"][0], at(10, 11), "外星人"), default=str)
    )
    op = {"op_id": str(uuid.uuid4()), "kind": "record_signal", "payload": body}
    with app.test_request_context():
        out = sync.push_operations(
            db_session,
            actor=world["actors"]["grid_worker"],
            operations=[op, {**op, "op_id": str(uuid.uuid4()), "payload": {"key_area": "教育"}}],
            load=load_payload,
            now=at(10, 12),
            settings=world["settings"],
            vault=vault_for(app.config["PII_KEY"]),
            store=store(),
        )
    assert [r["status"] for r in out] == ["rejected", "rejected"]
    assert out[0]["error"]["code"] == "unknown_key_area" and not out[0]["error"]["retryable"]
    assert "payload.location" in out[1]["error"]["fields"]
    assert db_session.scalar(text("SELECT count(*) FROM risk_signal")) == 0


def test_only_the_person_responsible_or_the_centre_reports_a_decision_done(db_session, world):
    from core.errors import NotFound

    a = world["actors"]
    m = meetings.record_meeting(
        db_session,
        actor=a["center_staff"],
        data={
            "township_code": TOWNSHIP,
            "kind": "routine",
            "title": "例行研判",
            "held_at": at(10, 5),
            "summary": "研判本周情况",
            "decisions": [
                {
                    "content": "入户走访",
                    "responsible_id": world["users"]["grid_worker"].id,
                    "due_on": date(2026, 10, 9),
                }
            ],
        },
        now=at(10, 5, 12),
    )
    decision = meetings.meeting_row(db_session, m, at(10, 5))["decisions"][0]
    with pytest.raises(NotFound) as exc:  # the village's mediator does not see township meetings
        meetings.complete_decision(
            db_session,
            actor=a["mediator"],
            decision_id=decision["id"],
            data={"note": "已走访"},
            now=at(10, 6),
        )
    assert exc.value.code == "decision_not_found"
    done = meetings.complete_decision(
        db_session,
        actor=a["grid_worker"],
        decision_id=decision["id"],
        data={"note": "已走访"},
        now=at(10, 6),
    )
    assert done.state == "done" and done.done_by == world["users"]["grid_worker"].id


def test_a_red_linked_case_is_never_lowered(db_session, world):
    a, s = world["actors"], world["settings"]
    staff = a["center_staff"]
    item = register.register_item(
        db_session, actor=staff, data=item_data(db_session, world["cells"][0]), now=at(10, 2)
    )
    red = world["register"](at(10, 3), key_areas=["征地拆迁"], risk={"flags": ["violence_threat"]})
    blue = world["register"](at(10, 3, 10), key_areas=["征地拆迁"])
    for d in (red, blue):
        register.link_dispute(
            db_session, actor=staff, item_id=item.id, dispute_id=d.id, now=at(10, 4), settings=s
        )
    register.assess_item(
        db_session,
        actor=staff,
        item_id=item.id,
        data={"rating": "low", "risk_points": ["个别农户有意见"]},
        now=at(10, 5),
        settings=s,
    )
    db_session.refresh(red)
    db_session.refresh(blue)
    assert (red.risk_level, blue.risk_level) == ("red", "yellow")  # low + two open → YELLOW


def test_a_village_sees_the_items_touching_it(db_session, world):
    a = world["actors"]
    item = register.register_item(
        db_session,
        actor=a["center_staff"],
        data=item_data(db_session, world["cells"][0]),
        now=at(10, 2),
    )
    far = register.register_item(
        db_session,
        actor=a["center_staff"],
        data=item_data(
            db_session,
            world["cells"][0],
            title="镇区污水管网",
            geometry=None,
            village_codes=[
                v
                for v in db_session.scalars(
                    text(
                        "SELECT code FROM area WHERE parent_code = :t AND level = 'village' "
                        "AND valid_to IS NULL AND code <> :v ORDER BY code LIMIT 1"
                    ),
                    {"t": TOWNSHIP, "v": world["village"]},
                )
            ],
        ),
        now=at(10, 2),
    )
    seen = {
        i["id"]
        for i in register.list_items(db_session, actor=a["village_admin"], filters={})["items"]
    }
    assert item.id in seen and far.id not in seen
    by_area = register.list_items(
        db_session, actor=a["center_staff"], filters={"area": world["village"]}
    )["items"]
    assert [i["id"] for i in by_area] == [item.id]
