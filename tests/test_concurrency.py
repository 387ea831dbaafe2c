"""Real concurrency on committed data: idempotent registration races, one winner per transition,
gap-free case numbers. Each request runs in its own thread, session and connection."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import text

from tests.factories import bearer, dispute_payload, login


def _run(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_twenty_concurrent_registrations_with_one_client_id_make_one_case(app, committed):
    from core.db import db

    client = app.test_client()
    token = login(client, "c_gw")["access_token"]
    with app.app_context():
        payload = dispute_payload(db.session, committed["cells"][0], client_id=str(uuid.uuid4()))

    def register(_):
        r = app.test_client().post("/api/v1/disputes", json=payload, headers=bearer(token))
        return r.status_code, r.get_json().get("id")

    results = _run(20, register)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 19, statuses
    assert {i for _, i in results} == {payload["client_id"]}
    with app.app_context():
        n = db.session.scalar(
            text("SELECT count(*) FROM dispute WHERE id = :i"), {"i": payload["client_id"]}
        )
        events = db.session.scalar(
            text("SELECT count(*) FROM dispute_event WHERE dispute_id = :i"),
            {"i": payload["client_id"]},
        )
    assert n == 1 and events == 1


def test_two_concurrent_transitions_exactly_one_wins(app, committed):
    from core.db import db

    client = app.test_client()
    gw = bearer(login(client, "c_gw")["access_token"])
    med = bearer(login(client, "c_med")["access_token"])
    with app.app_context():
        payload = dispute_payload(db.session, committed["cells"][0])
    case = client.post("/api/v1/disputes", json=payload, headers=gw).get_json()

    def accept(i):
        body = {"ground": "not_civil_dispute"} if i else {}
        action = "reject" if i else "accept"
        r = app.test_client().post(
            f"/api/v1/disputes/{case['id']}/actions/{action}",
            json=body,
            headers={**med, "If-Match": '"1"'},
        )
        return r.status_code, r.get_json().get("code")

    results = _run(2, accept)
    assert sorted(s for s, _ in results) == [200, 409], results
    assert [c for s, c in results if s == 409] == ["version_conflict"]
    final = client.get(f"/api/v1/disputes/{case['id']}", headers=med).get_json()
    assert final["version"] == 2 and len(final["timeline"]) == 2


def test_concurrent_registrations_get_gap_free_numbers(app, committed):
    from core.db import db

    token = login(app.test_client(), "c_gw")["access_token"]
    with app.app_context():
        payloads = [
            dispute_payload(db.session, committed["cells"][0], description=f"并发登记{i}")
            for i in range(10)
        ]

    def register(i):
        r = app.test_client().post("/api/v1/disputes", json=payloads[i], headers=bearer(token))
        return r.status_code, r.get_json().get("case_number")

    results = _run(10, register)
    assert all(s == 201 for s, _ in results), results
    seqs = sorted(int(n.rsplit("-", 1)[1]) for _, n in results)
    assert seqs == list(range(seqs[0], seqs[0] + 10))
