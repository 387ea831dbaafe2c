"""Issue 16, offline sync: pages hold exactly `limit` entries (m11), the point and the device time
travel with the case (m6, m7). Committed data, as in tests/test_sync.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.test_sync import Phone, _cases, _register, world  # noqa: F401 - the fixture


def _key(e):
    return (e["type"], e["op"], str(e["id"]))


def test_m11_sync_pages_hold_exactly_limit_entries(app, world):  # noqa: F811
    from core.db import db
    from mediation.users.accounts import assign_cell
    from mediation.users.actor import system_actor

    client = app.test_client()
    ids = [
        _register(app, client, "s_gw2", world["cells"][2], description=f"分页{i}")["id"]
        for i in range(3)
    ]
    ids += [_register(app, client, "s_gw", world["cells"][0])["id"]]
    # first sync: two cells and four cases, two at a time
    phone = Phone(client, "s_gw")
    first = phone.page(limit=2)
    assert first["reset"] is True and len(first["changes"]) == 2 and first["has_more"]
    phone.cursor = first["cursor"]
    entries, pages = phone.pull(limit=2)
    entries = first["changes"] + entries
    assert all(len(p["changes"]) <= 2 for p in pages)
    assert [len(p["changes"]) for p in pages[:-1]] == [2] * (len(pages) - 1)
    whole = Phone(client, "s_gw").pull(limit=500)[0]
    assert sorted(map(_key, entries)) == sorted(map(_key, whole))
    assert {e["id"] for e in _cases(entries)} == {ids[3]}  # gw sees their own cell's case

    # a cell gained brings its boundary and its three cases in one log row: still 2 per page
    with app.app_context():
        assign_cell(
            db.session,
            actor=system_actor(),
            user_id=world["gw_id"],
            cell_code=world["cells"][2],
            valid_from=date.today() - timedelta(days=1),
        )
        db.session.commit()
    reference = Phone(client, "s_gw")
    reference.cursor = phone.cursor
    expected, _ = reference.pull(limit=500)
    got, pages = phone.pull(limit=1)
    assert all(len(p["changes"]) <= 1 for p in pages) and len(pages) >= 4
    assert [_key(e) for e in got] == [_key(e) for e in expected]
    assert {e["id"] for e in _cases(got)} >= set(ids[:3])
    again, _ = phone.pull(limit=1)
    assert again == []


def test_m6_sync_summaries_carry_the_point(app, world):  # noqa: F811
    client = app.test_client()
    case = _register(app, client, "s_gw", world["cells"][0])
    entries, _ = Phone(client, "s_gw").pull()
    (mine,) = [e for e in _cases(entries) if e["id"] == case["id"]]
    assert mine["data"]["location"] == {
        "lon": case["location"]["lon"],
        "lat": case["location"]["lat"],
        "crs": "wgs84",
    }


def test_m7_offline_action_shows_device_and_server_time(app, world):  # noqa: F811
    import uuid

    client = app.test_client()
    case = _register(app, client, "s_gw", world["cells"][0])
    phone = Phone(client, "s_med")
    device = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    (result,) = phone.push(
        [
            {
                "op_id": str(uuid.uuid4()),
                "kind": "transition",
                "action": "accept",
                "case_id": case["id"],
                "base_version": 1,
                "happened_at": device.isoformat(),
                "payload": {},
            }
        ]
    )
    assert result["status"] == "applied", result
    events = client.get(f"/api/v1/disputes/{case['id']}/timeline", headers=phone.h).get_json()
    accept = events[-1]
    assert accept["action"] == "accept"
    assert datetime.fromisoformat(accept["device_at"]) == device
    assert datetime.fromisoformat(accept["at"]) > device + timedelta(hours=2)


def test_m4_offline_registration_outside_own_cells_is_flagged(app, world):  # noqa: F811
    import uuid

    from core.db import db
    from tests.factories import dispute_payload

    client = app.test_client()
    phone = Phone(client, "s_gw")
    with app.app_context():
        elsewhere = dispute_payload(db.session, world["cells"][2])  # s_gw2's cell
        own = dispute_payload(db.session, world["cells"][0])
    results = phone.push(
        [
            {"op_id": str(uuid.uuid4()), "kind": "register", "case_id": str(uuid.uuid4()),
             "payload": payload}
            for payload in (elsewhere, own)
        ]
    )  # fmt: skip
    assert [r["status"] for r in results] == ["applied", "applied"], results
    flag = results[0]["result"]["outside_own_cells"]
    assert flag["nearest_own_cell"] in world["cells"][:2] and flag["distance_m"] > 0
    assert results[1]["result"]["outside_own_cells"] is None
