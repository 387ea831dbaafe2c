"""Twenty concurrent pushes of one partner order make one case: the database's uniqueness on
(partner, reference) decides, not a lock in Python. Committed data, one thread per request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.channel_helpers import signed_headers
from tests.test_concurrency import _run

ORDERS = "/api/v1/partner-api/orders"


@pytest.fixture
def partner(app, committed):
    from core.clock import utcnow
    from core.db import db
    from mediation.channels import partners
    from mediation.pii import vault_for
    from mediation.users.actor import Actor

    county = Actor(user_id=None, username="t", display_name="t", roles={"county_admin": {"330681"}})
    with app.app_context():
        p = partners.create_partner(
            db.session,
            actor=county,
            code="c_zj12345",
            name="12345",
            kind="hotline",
            area_code="330681",
            result_url=None,
            now=utcnow(),
        )
        cred, secret = partners.issue_credential(
            db.session,
            actor=county,
            partner_id=p.id,
            now=utcnow(),
            vault=vault_for(app.config["PII_KEY"]),
        )
        db.session.commit()
        ids = {"partner_id": p.id, "user_id": p.user_id, "key": cred.key_id, "secret": secret}
    yield {**committed, **ids}
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only"))
        conn.execute(text("DELETE FROM dispute WHERE partner_id = :p"), {"p": ids["partner_id"]})
        conn.execute(text("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only"))
        conn.execute(
            text("DELETE FROM partner_call WHERE partner_id = :p"), {"p": ids["partner_id"]}
        )
        conn.execute(
            text("DELETE FROM partner_credential WHERE partner_id = :p"), {"p": ids["partner_id"]}
        )
        conn.execute(text("DELETE FROM partner WHERE id = :p"), {"p": ids["partner_id"]})
        conn.execute(text("DELETE FROM user_account WHERE id = :u"), {"u": ids["user_id"]})


def test_twenty_concurrent_pushes_of_one_order_make_one_case(app, partner):
    from core.db import db

    today = datetime.now(UTC).date()
    body = json.dumps(
        {
            "reference": "12345-RACE-0001",
            "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "deadline": (today + timedelta(days=5)).isoformat(),
            "village_code": partner["village"],
            "address": "店口镇某村",
            "category": "04",
            "description": "来电反映欠款纠纷",
            "parties": [{"role": "applicant", "kind": "person", "name": "钱七"}],
        },
        ensure_ascii=False,
    ).encode()

    def push(_):
        headers = signed_headers(partner["key"], partner["secret"], "POST", ORDERS, body)
        r = app.test_client().post(ORDERS, data=body, headers=headers)
        return r.status_code, (r.get_json() or {}).get("case_id")

    results = _run(20, push)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 19, results
    assert len({i for _, i in results}) == 1
    with app.app_context():
        n = db.session.scalar(
            text("SELECT count(*) FROM dispute WHERE partner_id = :p"), {"p": partner["partner_id"]}
        )
        calls = db.session.execute(
            text("SELECT status, count(*) FROM partner_call WHERE partner_id = :p GROUP BY 1"),
            {"p": partner["partner_id"]},
        ).all()
        numbers = db.session.scalar(
            text("SELECT last_seq FROM case_counter WHERE village_code = :v"),
            {"v": partner["village"]},
        )
    assert n == 1
    assert dict(calls) == {201: 1, 200: 19}  # every call logged, once
    assert numbers == 1  # the losers' case numbers rolled back with them: no gap
