"""Offline sync: the change stream and its cursor, idempotent operation batches, photos.

The pull only serves changes of transactions that have ended, so most tests here work on
committed data (own village in 璜山镇, removed afterwards) like tests/test_concurrency.py.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from mediation.sync import cursor as cursors
from tests.factories import bearer, cells_of, dispute_payload, login, make_user, village_with_cells

TOWNSHIP = "330681110"  # 璜山镇: no other test writes there
USERS = ("s_gw", "s_gw2", "s_med", "s_center")


# ------------------------------------------------------------------ pure: the cursor


def test_cursor_round_trip_and_garbage():
    pos = cursors.Position(123456789, 42)
    assert cursors.decode(cursors.encode(pos)) == pos
    boot = cursors.Bootstrap(99, uuid.uuid4())
    assert cursors.decode(cursors.encode(boot)) == boot
    assert cursors.decode(cursors.encode(cursors.Bootstrap(7))) == cursors.Bootstrap(7)
    assert boot.position == cursors.Position(98, cursors.MAX_ID)
    import base64

    from core.errors import ValidationFailed

    forged = [
        base64.urlsafe_b64encode(raw.encode()).decode()
        for raw in ("s1:a:b", "s1:99999999999999999999:1", "s1:9223372036854775808:1", "b1:0:")
    ]
    for bad in ("", "x", "!!!", "czE6MTox&a=1", *forged):
        with pytest.raises(ValidationFailed) as e:
            cursors.decode(bad)
        assert e.value.code == "invalid_cursor"


def test_bad_cursor_is_a_clear_422(app, client, db_session):
    village = village_with_cells(db_session, TOWNSHIP)
    make_user(app, db_session, "t_sync_med", [{"role": "mediator", "area_code": village}])
    h = bearer(login(client, "t_sync_med")["access_token"])
    r = client.get("/api/v1/sync/changes?cursor=not-a-cursor", headers=h)
    assert r.status_code == 422
    assert r.get_json()["code"] == "invalid_cursor"
    assert "cursor" in r.get_json()["fields"]


def test_protocol_is_documented_in_openapi(client):
    spec = client.get("/api/openapi.json").get_json()
    tag = next(t for t in spec["tags"] if t["name"] == "sync")
    for words in ("invalid_cursor", "already_applied", "conflict", "op_id", "示例"):
        assert words in tag["description"]
    assert "/api/v1/sync/changes" in spec["paths"]
    assert "/api/v1/sync/operations" in spec["paths"]


# ------------------------------------------------------------------ committed fixtures


@pytest.fixture
def world(app):
    """A grid worker (two cells), a second grid worker, the village mediator and the township
    centre, committed; everything made in the village is removed afterwards."""
    from core.db import db

    with app.app_context():
        village = village_with_cells(db.session, TOWNSHIP)
        cells = cells_of(db.session, village)
        gw = make_user(app, db.session, "s_gw", [{"role": "grid_worker"}], cells[:2])
        gw2 = make_user(app, db.session, "s_gw2", [{"role": "grid_worker"}], cells[2:3])
        med = make_user(app, db.session, "s_med", [{"role": "mediator", "area_code": village}])
        make_user(app, db.session, "s_center", [{"role": "center_staff", "area_code": TOWNSHIP}])
        db.session.commit()
        yield {
            "village": village,
            "cells": cells,
            "gw_id": gw.id,
            "gw2_id": gw2.id,
            "med_id": med.id,
        }
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            user_ids = list(
                conn.execute(
                    text("SELECT id FROM user_account WHERE username = ANY(:u)"), {"u": list(USERS)}
                ).scalars()
            )
            conn.execute(
                text("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only")
            )
            conn.execute(text("DELETE FROM dispute WHERE village_code = :v"), {"v": village})
            conn.execute(text("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only"))
            conn.execute(text("DELETE FROM case_counter WHERE village_code = :v"), {"v": village})
            conn.execute(
                text("DELETE FROM user_account WHERE username = ANY(:u)"), {"u": list(USERS)}
            )
            conn.execute(
                text(
                    "DELETE FROM sync_change WHERE village_code = :v OR cell_code LIKE :p "
                    "OR (entity = 'scope' AND user_id = ANY(:ids))"
                ),
                {"v": village, "p": village + "%", "ids": user_ids},
            )


class Phone:
    """A logged-in phone speaking the sync protocol."""

    def __init__(self, client, username):
        self.client = client
        self.h = bearer(login(client, username)["access_token"])
        self.cursor = None

    def page(self, limit=100):
        url = f"/api/v1/sync/changes?limit={limit}"
        if self.cursor:
            url += "&cursor=" + self.cursor
        r = self.client.get(url, headers=self.h)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def pull(self, limit=100):
        """Pull until has_more is false; returns every entry and the pages."""
        entries, pages = [], []
        while True:
            body = self.page(limit)
            pages.append(body)
            entries.extend(body["changes"])
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return entries, pages

    def push(self, ops):
        r = self.client.post("/api/v1/sync/operations", json={"operations": ops}, headers=self.h)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["results"]


def _register(app, client, username, cell, **kw):
    with app.app_context():
        from core.db import db

        payload = dispute_payload(db.session, cell, **kw)
    h = bearer(login(client, username)["access_token"])
    r = client.post("/api/v1/disputes", json=payload, headers=h)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _act(client, username, case_id, action, version, **payload):
    h = bearer(login(client, username)["access_token"])
    r = client.post(
        f"/api/v1/disputes/{case_id}/actions/{action}",
        json=payload,
        headers={**h, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _cases(entries, op="upsert"):
    return [e for e in entries if e["type"] == "case" and e["op"] == op]


# ------------------------------------------------------------------ pull


def test_first_sync_then_incremental_pull(app, world):
    client = app.test_client()
    case = _register(app, client, "s_gw", world["cells"][0])
    phone = Phone(client, "s_gw")
    first = phone.page()
    assert first["reset"] is True and first["has_more"] is False
    assert first["enumerations"]["categories"]["02"] == "邻里"
    assert "deadlines" in first["config"]
    cells = [e for e in first["changes"] if e["type"] == "cell"]
    assert sorted(c["id"] for c in cells) == world["cells"][:2]
    assert all(c["data"]["geometry"]["type"] == "MultiPolygon" for c in cells)
    [mine] = _cases(first["changes"])
    assert mine["id"] == case["id"] and mine["data"]["version"] == 1
    assert "parties" not in mine["data"]  # no personal data in the stream
    assert [r["kind"] for r in mine["data"]["reminders"]] == ["acceptance"]
    phone.cursor = first["cursor"]

    _act(client, "s_med", case["id"], "accept", 1)
    entries, _ = phone.pull()
    [changed] = _cases(entries)
    assert changed["data"]["version"] == 2 and changed["data"]["status"] == "accepted"
    assert "reset" not in entries and all(e["type"] == "case" for e in entries)
    again, pages = phone.pull()
    assert again == [] and pages[0]["reset"] is False and "enumerations" not in pages[0]


def test_paging_first_and_incremental(app, world):
    client = app.test_client()
    ids = [
        _register(app, client, "s_gw", world["cells"][1], description=f"分页{i}")["id"]
        for i in range(7)
    ]
    phone = Phone(client, "s_med")
    entries, pages = phone.pull(limit=3)
    assert [len(_cases(p["changes"])) for p in pages] == [3, 3, 1]
    assert sorted(e["id"] for e in _cases(entries)) == sorted(ids)
    for case_id in ids[:5]:
        _act(client, "s_med", case_id, "accept", 1)
    entries, pages = phone.pull(limit=2)
    assert [len(p["changes"]) for p in pages] == [2, 2, 1]
    assert [e["id"] for e in entries] == ids[:5]  # commit order, each once


def test_cell_reassignment_sends_tombstones_and_the_new_holder_gets_the_cell(app, world):
    from core.db import db
    from mediation.users.accounts import assign_cell
    from mediation.users.actor import system_actor

    client = app.test_client()
    cell = world["cells"][0]
    case = _register(app, client, "s_gw", cell)
    old, new = Phone(client, "s_gw"), Phone(client, "s_gw2")
    old.pull()
    new.pull()
    with app.app_context():
        today = datetime.now(UTC).astimezone().date()
        assign_cell(
            db.session,
            actor=system_actor(),
            user_id=world["gw2_id"],
            cell_code=cell,
            valid_from=min(today, date.today()) - timedelta(days=1),
        )
        db.session.commit()
    gone, _ = old.pull()
    assert {"type": "cell", "op": "delete", "id": cell, "reason": "out_of_scope"} in gone
    # The old holder registered the case, so they still see it; a case registered by somebody
    # else in that cell is taken away.
    assert case["id"] not in [e["id"] for e in _cases(gone, "delete")]
    got, _ = new.pull()
    [cell_entry] = [e for e in got if e["type"] == "cell"]
    assert cell_entry["id"] == cell and "geometry" in cell_entry["data"]
    assert case["id"] in [e["id"] for e in _cases(got)]


def test_a_case_taken_away_with_its_cell_is_a_tombstone(app, world):
    from core.db import db
    from mediation.users.accounts import end_cell_assignment
    from mediation.users.actor import system_actor

    client = app.test_client()
    cell = world["cells"][1]
    case = _register(app, client, "s_med", cell)  # registered by the mediator
    gw = Phone(client, "s_gw")
    first, _ = gw.pull()
    assert case["id"] in [e["id"] for e in _cases(first)]
    with app.app_context():
        end_cell_assignment(
            db.session,
            actor=system_actor(),
            user_id=world["gw_id"],
            cell_code=cell,
            valid_to=date(2026, 1, 1),
        )
        db.session.commit()
    gone, _ = gw.pull()
    assert {"type": "case", "op": "delete", "id": case["id"], "reason": "out_of_scope"} in gone
    # A deleted case is a tombstone too.
    med = Phone(client, "s_med")
    med.pull()
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only"))
        conn.execute(text("DELETE FROM dispute WHERE id = :i"), {"i": case["id"]})
        conn.execute(text("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only"))
    deleted, _ = med.pull()
    assert deleted == [{"type": "case", "op": "delete", "id": case["id"], "reason": "deleted"}]


def test_a_change_of_roles_asks_the_phone_to_sync_again(app, world):
    from core.db import db

    client = app.test_client()
    phone = Phone(client, "s_med")
    phone.pull()
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE user_role SET area_code = :t WHERE user_id = :u"),
            {"t": TOWNSHIP, "u": world["med_id"]},
        )
    entries, _ = phone.pull()
    assert entries == [
        {"type": "scope", "op": "resync", "id": str(world["med_id"]), "reason": "roles_changed"}
    ]


def test_a_change_waits_for_older_transactions_still_running(app, world):
    """A transaction that took its txid first but commits last is not skipped."""
    from core.db import db

    client = app.test_client()
    case = _register(app, client, "s_gw", world["cells"][0])
    phone = Phone(client, "s_med")
    phone.pull()
    with db.engine.connect() as slow:
        tx = slow.begin()
        slow.execute(
            text("UPDATE dispute SET description = description || '。' WHERE id = :i"),
            {"i": case["id"]},
        )  # older txid, not committed yet
        later = _register(app, client, "s_gw", world["cells"][0], description="后来者")
        seen, _ = phone.pull()
        assert seen == []  # held back: an older transaction is still running
        tx.commit()
    seen, _ = phone.pull()
    assert [e["id"] for e in _cases(seen)] == [case["id"], later["id"]]


# ------------------------------------------------------------------ push


def _op(kind, case_id=None, base=None, happened=None, payload=None, **kw):
    return {
        "op_id": str(uuid.uuid4()),
        "kind": kind,
        "case_id": case_id,
        "base_version": base,
        "happened_at": (happened or datetime.now(UTC)).isoformat(),
        "payload": payload or {},
        **kw,
    }


def _png(seed: str) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + hashlib.sha256(seed.encode()).digest() * 8


def test_push_semantics_replay_reuse_unknown_case_and_validation(app, world):
    client = app.test_client()
    phone = Phone(client, "s_gw")
    case_id = str(uuid.uuid4())
    with app.app_context():
        from core.db import db

        reg_payload = dispute_payload(db.session, world["cells"][0])
    accept = _op("transition", case_id, 1, action="accept")
    bad = _op("record_session", case_id, 2, payload={"held_at": "昨天", "summary": "x"})
    # The case does not exist yet: retryable, not recorded.
    [early] = phone.push([accept])
    assert early["status"] == "rejected" and early["error"]["code"] == "case_unknown"
    assert early["error"]["retryable"] is True
    register = _op("register", case_id, payload=reg_payload)
    results = phone.push([register, accept, bad])
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[0]["result"]["version"] == 1 and results[1]["result"]["version"] == 2
    assert results[2]["error"]["code"] == "validation_error"
    assert "payload.held_at" in results[2]["error"]["fields"]
    again = phone.push([register, accept, bad])
    assert [r["status"] for r in again] == ["already_applied", "already_applied", "rejected"]
    assert again[0]["result"] == results[0]["result"]
    assert again[0]["received_at"] == results[0]["received_at"]
    reused = phone.push(
        [{**accept, "action": "reject", "payload": {"ground": "not_civil_dispute"}}]
    )
    assert reused[0]["status"] == "rejected"
    assert reused[0]["error"]["code"] == "operation_id_reused"
    other = Phone(client, "s_gw2")
    stolen = other.push([register])
    assert stolen[0]["error"]["code"] == "operation_id_reused"


def test_photos_upload_by_checksum_and_attach(app, world):
    client = app.test_client()
    phone = Phone(client, "s_gw")
    png = _png(f"photo-attach-{uuid.uuid4()}")  # the file store outlives test runs
    sha = hashlib.sha256(png).hexdigest()
    case = _register(app, client, "s_gw", world["cells"][0])
    attach = _op("attach_photo", case["id"], payload={"sha256": sha, "filename": "现场.png"})
    [missing] = phone.push([attach])
    assert missing["error"]["code"] == "photo_not_uploaded" and missing["error"]["retryable"]

    def put(data):
        return client.put(
            f"/api/v1/sync/photos/{sha}",
            data={"file": (io.BytesIO(data), "a.png")},
            headers=phone.h,
            content_type="multipart/form-data",
        )

    r = put(png[:-5])  # cut off in transit
    assert r.status_code == 422 and r.get_json()["code"] == "checksum_mismatch"
    first, second = put(png), put(png)
    assert first.status_code in (200, 201) and second.status_code == 200
    assert second.get_json()["stored"] == "existing"
    [done] = phone.push([attach])
    assert done["status"] == "applied" and done["result"]["sha256"] == sha
    [again] = phone.push([attach])
    assert again["status"] == "already_applied"
    detail = client.get(f"/api/v1/disputes/{case['id']}", headers=phone.h).get_json()
    assert [a["sha256"] for a in detail["attachments"]] == [sha]


# ------------------------------------------------------------------ a day offline


class LossyNetwork:
    """Every request reaches the server; half of the responses are lost on the way back."""

    def __init__(self, client, seed=7):
        self.client = client
        self.rng = random.Random(seed)
        self.sent = 0
        self.lost = 0

    def send(self, method, url, **kw):
        self.sent += 1
        response = self.client.open(url, method=method, **kw)
        if self.rng.random() < 0.5:
            self.lost += 1
            return None
        return response

    def until_answered(self, method, url, make=dict, **kw):
        for _ in range(60):
            r = self.send(method, url, **kw, **make())
            if r is not None:
                return r
        raise AssertionError("never answered")


def _prepare_agreed_case(app, client, cell):
    case = _register(app, client, "s_gw", cell, description="待回访")
    _act(client, "s_med", case["id"], "accept", 1)
    _act(client, "s_med", case["id"], "start_mediation", 2, rights_notice="口头告知")
    body = _act(
        client,
        "s_med",
        case["id"],
        "agree",
        3,
        form="oral",
        terms="赔偿200元",
        performed_immediately=True,
    )
    assert body["status"] == "agreed" and body["version"] == 4
    return case["id"]


def test_a_day_offline_over_a_lossy_network(app, world):
    from core.db import db

    client = app.test_client()
    cells = world["cells"]
    changed_meanwhile = _prepare_agreed_case(app, client, cells[0])
    untouched = _prepare_agreed_case(app, client, cells[1])
    with app.app_context():
        # Agreed yesterday: today's visits (device times) come after the agreement, as a
        # visit must (issue 16, M2).
        db.session.execute(
            text(
                "UPDATE dispute SET agreed_at = agreed_at - interval '1 day' WHERE id IN (:a, :b)"
            ),
            {"a": changed_meanwhile, "b": untouched},
        )
        db.session.commit()
        db.session.remove()
    phone = Phone(client, "s_gw")
    morning, _ = phone.pull()
    versions = {e["id"]: e["data"]["version"] for e in _cases(morning)}
    assert versions == {changed_meanwhile: 4, untouched: 4}

    # --- offline: fifty operations with device times over the day
    start = datetime.now(UTC) - timedelta(hours=9)
    clock = iter(start + timedelta(minutes=10 * i) for i in range(100))
    ops, photos = [], {}
    with app.app_context():
        payloads = [
            dispute_payload(
                db.session,
                cells[i % 2],
                description=f"离线登记{i}",
                occurred_at=(start - timedelta(hours=1)).isoformat(),
            )
            for i in range(20)
        ]
    new_cases = [str(uuid.uuid4()) for _ in range(20)]
    for i, case_id in enumerate(new_cases):
        ops.append(_op("register", case_id, happened=next(clock), payload=payloads[i]))
        version = 1
        if i < 10:
            png = _png(f"offline-{i}")
            sha = hashlib.sha256(png).hexdigest()
            photos[sha] = png
            ops.append(_op("attach_photo", case_id, happened=next(clock), payload={"sha256": sha}))
        if i < 8:
            ops.append(_op("transition", case_id, version, next(clock), action="accept"))
            version += 1
        if i < 6:
            ops.append(
                _op(
                    "transition",
                    case_id,
                    version,
                    next(clock),
                    {"rights_notice": "当面告知权利义务"},
                    action="start_mediation",
                )
            )
            version += 1
        if i < 4:
            held = next(clock)
            ops.append(
                _op(
                    "record_session",
                    case_id,
                    version,
                    held,
                    {"held_at": held.isoformat(), "summary": "双方陈述，初步沟通"},
                )
            )
    visit = {"method": "in_person", "result": "performed", "satisfaction": "satisfied"}
    visit_times = {}
    for case_id in (changed_meanwhile, untouched):
        visit_times[case_id] = next(clock)
        ops.append(_op("record_visit", case_id, 4, visit_times[case_id], dict(visit)))
    assert len(ops) == 50

    # --- meanwhile the mediator changes one of the cases
    _act(client, "s_med", changed_meanwhile, "assess_risk", 4, likelihood=2, severity=3)

    # --- back in signal: photos, then the operations in batches of ten, every lost response
    # retried with the same content until one gets through
    net = LossyNetwork(client)
    for sha, png in photos.items():
        r = net.until_answered(
            "PUT",
            f"/api/v1/sync/photos/{sha}",
            make=lambda png=png: {"data": {"file": (io.BytesIO(png), "p.png")}},
            headers=phone.h,
            content_type="multipart/form-data",
        )
        assert r.status_code in (200, 201)
    answers = {}
    for b in range(0, 50, 10):
        r = net.until_answered(
            "POST", "/api/v1/sync/operations", json={"operations": ops[b : b + 10]}, headers=phone.h
        )
        assert r.status_code == 200
        for result in r.get_json()["results"]:
            answers[result["op_id"]] = result
    assert net.lost > 0 and net.sent > 15 + 5  # the network really did drop responses

    statuses = [answers[o["op_id"]]["status"] for o in ops]
    assert statuses.count("conflict") == 1
    assert set(statuses) <= {"applied", "already_applied", "conflict"}
    [conflict] = [a for a in answers.values() if a["status"] == "conflict"]
    assert conflict["case_id"] == changed_meanwhile
    assert conflict["error"]["code"] == "version_conflict"
    assert conflict["server"]["version"] == 5 and conflict["server"]["risk_level"] is not None

    # --- the server holds exactly the right records
    q = lambda sql, **p: db.session.execute(text(sql), p).scalar()  # noqa: E731
    with app.app_context():
        v = world["village"]
        assert q("SELECT count(*) FROM dispute WHERE village_code = :v", v=v) == 22
        assert q("SELECT count(*) FROM dispute WHERE id = ANY(:ids)", ids=new_cases) == 20
        assert (
            q(
                "SELECT count(*) FROM attachment a JOIN dispute d ON d.id = a.dispute_id "
                "WHERE d.village_code = :v",
                v=v,
            )
            == 10
        )
        assert (
            q(
                "SELECT count(*) FROM mediation_session s JOIN dispute d ON d.id = s.dispute_id "
                "WHERE d.village_code = :v",
                v=v,
            )
            == 4
        )
        assert q("SELECT count(*) FROM follow_up_visit WHERE dispute_id = :i", i=untouched) == 1
        assert (
            q("SELECT count(*) FROM follow_up_visit WHERE dispute_id = :i", i=changed_meanwhile)
            == 0
        )
        statuses_on_server = dict(
            db.session.execute(
                text("SELECT status, count(*) FROM dispute WHERE id = ANY(:ids) GROUP BY 1"),
                {"ids": new_cases},
            ).all()
        )
        assert statuses_on_server == {"registered": 12, "accepted": 2, "mediating": 6}
        # event counts: one per applied change, nothing twice
        assert (
            q("SELECT count(*) FROM dispute_event WHERE dispute_id = ANY(:ids)", ids=new_cases)
            == 20 + 8 + 6 + 4
        )
        assert q("SELECT count(*) FROM sync_operation WHERE user_id = :u", u=world["gw_id"]) == 50
        # device time (when it happened) and server time (when it arrived) are both kept
        rows = db.session.execute(
            text(
                "SELECT op_id::text, device_time, received_at FROM sync_operation "
                "WHERE user_id = :u"
            ),
            {"u": world["gw_id"]},
        ).all()
        by_op = {r.op_id: r for r in rows}
        for o in ops:
            row = by_op[o["op_id"]]
            assert row.device_time == datetime.fromisoformat(o["happened_at"])
            assert row.received_at > row.device_time
        first = db.session.execute(
            text("SELECT device_recorded_at, registered_at FROM dispute WHERE id = :i"),
            {"i": new_cases[0]},
        ).one()
        assert first.device_recorded_at == datetime.fromisoformat(ops[0]["happened_at"])
        assert first.registered_at > first.device_recorded_at
        visited = db.session.execute(
            text("SELECT visited_at, created_at FROM follow_up_visit WHERE dispute_id = :i"),
            {"i": untouched},
        ).one()
        assert visited.visited_at == visit_times[untouched]
        assert visited.created_at > visited.visited_at

    # --- and the evening pull brings the phone up to date, each case in its final state
    evening, _ = phone.pull()
    latest = {e["id"]: e["data"]["version"] for e in _cases(evening)}
    assert set(latest) == set(new_cases) | {changed_meanwhile, untouched}
    assert latest[changed_meanwhile] == 5 and latest[untouched] == 5


# ------------------------------------------------------------------ concurrency


def test_eight_concurrent_writers_and_a_puller_every_change_exactly_once(app, world):
    """Writers hold their transactions open for random times, so txids commit out of order;
    a puller loops meanwhile. Each committed transaction touching a case is served exactly once."""
    from api.disputes import settings
    from api.schemas.disputes import DisputeIn
    from core.clock import business_date
    from core.db import db
    from mediation.disputes.flow import act
    from mediation.disputes.registration import register_dispute
    from mediation.pii import vault_for
    from mediation.sync.pull import pull_changes
    from mediation.users.actor import load_actor
    from mediation.users.models import User

    writers, per_writer = 8, 6
    cells = world["cells"][:2]
    with app.app_context():
        payloads = [
            DisputeIn().load(dispute_payload(db.session, cells[i % 2], description=f"并发{i}"))
            for i in range(writers)
        ]

    def actor_for(username):
        user = db.session.scalar(db.select(User).where(User.username == username))
        return load_actor(db.session, user=user, today=business_date(datetime.now(UTC)))

    done = threading.Event()
    seen: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    committed: list[str] = []
    lock = threading.Lock()

    def puller():
        try:
            with app.app_context():
                actor = actor_for("s_med")
                cursor = None
                quiet = 0
                while quiet < 3:
                    finished = done.is_set()
                    page = pull_changes(
                        db.session,
                        actor=actor,
                        cursor=cursor,
                        limit=4,
                        now=datetime.now(UTC),
                        config={},
                    )
                    db.session.rollback()
                    cursor = page["cursor"]
                    for e in page["changes"]:
                        if e["type"] == "case":
                            seen.append((str(e["id"]), e["op"]))
                    if finished and not page["changes"] and not page["has_more"]:
                        quiet += 1
                    time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)

    def writer(i):
        rng = random.Random(i)
        try:
            with app.app_context():
                actor = actor_for("s_med")
                cfg = settings()
                vault = vault_for(app.config["PII_KEY"])
                barrier.wait()
                case, _, _ = register_dispute(
                    db.session,
                    actor=actor,
                    data=dict(payloads[i]),
                    photos=[],
                    now=datetime.now(UTC),
                    settings=cfg,
                    vault=vault,
                    store=None,
                )
                time.sleep(rng.random() * 0.03)  # hold the transaction: commit out of order
                db.session.commit()
                case_id = case.id
                with lock:
                    committed.append(str(case_id))
                for k in range(per_writer - 1):
                    act(
                        db.session,
                        actor=actor,
                        dispute_id=case_id,
                        action="assess_risk",
                        payload={"likelihood": 1 + k % 5, "severity": 2},
                        expected_version=k + 1,
                        now=datetime.now(UTC),
                        settings=cfg,
                    )
                    time.sleep(rng.random() * 0.03)
                    db.session.commit()
                    with lock:
                        committed.append(str(case_id))
        except BaseException as exc:
            errors.append(exc)

    barrier = threading.Barrier(writers)
    # The puller starts with a first sync before any writer has written.
    pull_thread = threading.Thread(target=puller)
    pull_thread.start()
    time.sleep(0.2)
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    pull_thread.join(120)
    assert not errors, errors
    assert len(committed) == writers * per_writer
    assert all(op == "upsert" for _, op in seen)
    counts: dict[str, int] = {}
    for case_id, _ in seen:
        counts[case_id] = counts.get(case_id, 0) + 1
    expected = {case_id: committed.count(case_id) for case_id in set(committed)}
    assert counts == expected  # every committed change once, none twice, none missed
    assert sum(counts.values()) == writers * per_writer


def test_one_broken_operation_never_fails_the_batch(app, client, db_session, monkeypatch):
    from mediation.sync import push

    village = village_with_cells(db_session, TOWNSHIP)
    cell = cells_of(db_session, village)[0]
    make_user(app, db_session, "t_sync_gw", [{"role": "grid_worker"}], [cell])
    phone = Phone(client, "t_sync_gw")
    case_id = str(uuid.uuid4())

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(push, "_attach", broken)
    results = phone.push(
        [
            _op("register", case_id, payload=dispute_payload(db_session, cell)),
            _op("attach_photo", case_id, payload={"sha256": "0" * 64}),
            _op("transition", case_id, 1, action="accept"),
        ]
    )
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["error"]["code"] == "server_error" and results[1]["error"]["retryable"]
    assert results[2]["result"]["status"] == "accepted"
