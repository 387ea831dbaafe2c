"""Issue 20 end to end through the API: a 12345 order in (signed), dispatched, mediated,
verified, its result delivered back once to a fake partner receiver; bad input and faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import business_date
from tests.channel_helpers import Receiver, post_signed, signed_headers
from tests.factories import bearer, login, role_users

ORDERS = "/api/v1/partner-api/orders"
OCCURRED = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()


@pytest.fixture
def world(app, client, db_session):
    w = role_users(app, db_session)
    w["tokens"] = {r: login(client, u.username)["access_token"] for r, u in w["users"].items()}
    receiver = Receiver(secret="unknown yet")
    r = client.post(
        "/api/v1/partners",
        json={
            "code": "zj12345",
            "name": "诸暨市12345政务服务热线",
            "kind": "hotline",
            "area_code": "330681",
            "result_url": receiver.url,
        },
        headers=bearer(w["tokens"]["county_admin"]),
    )
    assert r.status_code == 201, r.get_json()
    p = r.get_json()
    receiver.secret = p["credential"]["secret"]
    w.update(partner=p, key=p["credential"]["key_id"], secret=receiver.secret, receiver=receiver)
    yield w
    receiver.close()


def order(w, **over):
    today = business_date(datetime.now(UTC))
    body = {
        "reference": "12345-20261203-0001",
        "occurred_at": OCCURRED,
        "deadline": (today + timedelta(days=5)).isoformat(),
        "village_code": w["village"],
        "address": "先进村三组村道旁",
        "category": "02",
        "description": "来电反映邻居堆放杂物堵塞通道",
        "people_involved": 2,
        "parties": [
            {"role": "applicant", "kind": "person", "name": "王五", "phone": "13700137000"},
            {"role": "respondent", "kind": "person", "name": "赵六"},
        ],
    }
    body.update(over)
    return body


def act(client, token, case_id, action, **payload):
    v = client.get(f"/api/v1/disputes/{case_id}", headers=bearer(token)).get_json()["version"]
    r = client.post(
        f"/api/v1/disputes/{case_id}/actions/{action}",
        json=payload,
        headers={**bearer(token), "If-Match": f'"{v}"'},
    )
    assert r.status_code == 200, (action, r.get_json())
    return r.get_json()


def test_a_12345_order_walks_in_dispatched_mediated_verified_and_reported_back_once(
    app, client, db_session, world
):
    from api.auth import vault
    from mediation.channels import results
    from mediation.channels.models import PartnerCall

    w, t = world, world["tokens"]
    r = post_signed(client, w["key"], w["secret"], ORDERS, order(w))
    assert r.status_code == 201, r.get_json()
    receipt = r.get_json()
    assert receipt["located"] is False and receipt["village_code"] == w["village"]
    case_id = receipt["case_id"]
    # a repeat is the same case; a changed repeat is refused with its code
    again = post_signed(client, w["key"], w["secret"], ORDERS, order(w))
    assert again.status_code == 200 and again.get_json()["case_id"] == case_id
    changed = post_signed(client, w["key"], w["secret"], ORDERS, order(w, description="另一件事"))
    assert changed.status_code == 409 and changed.get_json()["code"] == "reference_conflict"

    # the case file says "not located": no coordinates, routed to the village, at the centre
    detail = client.get(f"/api/v1/disputes/{case_id}", headers=bearer(t["center_staff"]))
    body = detail.get_json()
    assert body["handling_level"] == "township" and body["source"] == "hotline"
    assert body["located"] is False and body["address"] == "先进村三组村道旁"
    assert body["location"]["match"] == "not_located" and "lon" not in body["location"]
    panel = client.get(f"/api/v1/disputes/{case_id}/channel", headers=bearer(t["center_staff"]))
    assert panel.get_json()["located"] is False
    assert panel.get_json()["partner_reference"] == "12345-20261203-0001"

    # the centre accepts it (the 12345 deadline binds) and dispatches it to the village mediator
    accepted = act(client, t["center_staff"], case_id, "accept")
    assert accepted["mediation_due_on"] == order(w)["deadline"]
    d = client.post(
        f"/api/v1/disputes/{case_id}/dispatches",
        json={"assignee_user_id": w["users"]["mediator"].id, "due_on": order(w)["deadline"]},
        headers=bearer(t["center_staff"]),
    )
    assert d.status_code == 201, d.get_json()
    inbox = client.get("/api/v1/inbox", headers=bearer(t["mediator"])).get_json()
    assert "dispatch_acceptance" not in [x["kind"] for x in inbox]  # fires at remind_at (sweep)
    pending = client.get("/api/v1/dispatches", headers=bearer(t["mediator"])).get_json()
    assert [x["id"] for x in pending] == [d.get_json()["id"]]
    ok = client.post(
        f"/api/v1/dispatches/{d.get_json()['id']}/accept", json={}, headers=bearer(t["mediator"])
    )
    assert ok.status_code == 200 and ok.get_json()["status"] == "accepted"

    # mediated at the village, agreed, verified by a follow-up visit
    med = t["mediator"]
    assert (
        client.get(f"/api/v1/disputes/{case_id}", headers=bearer(med)).get_json()["handling_level"]
        == "village"
    )
    act(client, med, case_id, "start_mediation", rights_notice="当面告知权利义务")
    act(
        client,
        med,
        case_id,
        "record_session",
        held_at=datetime.now(UTC).isoformat(),
        summary="现场调解",
        mediators="调解员甲",
    )
    act(
        client, med, case_id, "agree", form="oral", terms="当日清理杂物", performed_immediately=True
    )
    done = act(client, med, case_id, "record_visit", method="phone", result="performed")
    assert done["status"] == "resolved"

    # the result goes back through the outbox: the partner is down first, then up; once each
    now = datetime.now(UTC)
    w["receiver"].down = True
    assert results.deliver_results(db_session, now=now, vault=vault()) == (0, 1)
    assert w["receiver"].accepted == {}
    w["receiver"].down = False
    assert results.deliver_results(db_session, now=now + timedelta(hours=2), vault=vault()) == (
        1,
        0,
    )
    assert results.deliver_results(db_session, now=now + timedelta(hours=4), vault=vault()) == (
        0,
        0,
    )
    [sent] = w["receiver"].accepted.values()
    assert w["receiver"].repeats == 0
    assert sent["reference"] == "12345-20261203-0001" and sent["outcome"] == "resolved"
    assert sent["mediator"] == "调解员甲" and sent["date"]
    panel = client.get(f"/api/v1/disputes/{case_id}/channel", headers=bearer(t["center_staff"]))
    [shown] = panel.get_json()["results_sent"]
    assert shown["state"] == "sent" and shown["attempts"] == 2

    # every call was logged, with its reference and answer, and no personal data
    calls = db_session.scalars(select(PartnerCall).order_by(PartnerCall.id)).all()
    assert [(c.status, c.result) for c in calls] == [
        (201, "created"),
        (200, "ok"),
        (409, "reference_conflict"),
    ]
    assert all(c.reference == "12345-20261203-0001" for c in calls)
    listed = client.get(
        f"/api/v1/partners/{w['partner']['id']}/calls", headers=bearer(t["county_admin"])
    )
    assert len(listed.get_json()) == 3 and "王五" not in listed.get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"village_code": "330681109999"}, 422, "unknown_village", "village_code"),
        ({"deadline": "2020-01-01"}, 422, "deadline_in_past", "deadline"),
        ({"deadline": None}, 422, "deadline_required", "deadline"),
        ({"village_code": None}, 422, "location_required", "location"),
        ({"village_code": "330682001001"}, 422, "unknown_village", "village_code"),
    ],
)
def test_bad_orders_are_refused_with_their_code_and_write_nothing(
    client, db_session, world, change, status, code, field
):
    r = post_signed(client, world["key"], world["secret"], ORDERS, order(world, **change))
    assert r.status_code == status, r.get_json()
    assert r.get_json()["code"] == code and field in r.get_json().get("fields", {})
    assert _cases(db_session) == 0


def _cases(db_session):
    from mediation.disputes.models import Dispute

    return db_session.scalar(
        select(func.count()).select_from(Dispute).where(Dispute.partner_id.is_not(None))
    )


def test_an_order_outside_the_partners_scope_is_refused(app, client, db_session, world):
    r = client.post(
        "/api/v1/partners",
        json={"code": "fq110", "name": "枫桥派出所110", "kind": "police", "area_code": "330681109"},
        headers=bearer(world["tokens"]["county_admin"]),
    )
    cred = r.get_json()["credential"]
    out = post_signed(
        client,
        cred["key_id"],
        cred["secret"],
        ORDERS,
        order(world, village_code=world["other_village"]),
    )
    assert out.status_code == 403 and out.get_json()["code"] == "outside_partner_scope"
    assert _cases(db_session) == 0


def test_signature_faults_each_answer_their_code_and_write_nothing(client, db_session, world):
    w = world
    body = b'{"reference": "x"}'
    cases = {
        "signature_missing": {"Content-Type": "application/json"},
        "unknown_credential": signed_headers("pk_nobody", w["secret"], "POST", ORDERS, body),
        "bad_signature": signed_headers(w["key"], w["secret"], "POST", ORDERS, b'{"other": 1}'),
        "timestamp_out_of_window": signed_headers(
            w["key"], w["secret"], "POST", ORDERS, body, ts=int(datetime.now(UTC).timestamp()) - 900
        ),
        "bad_timestamp": {
            **signed_headers(w["key"], w["secret"], "POST", ORDERS, body),
            "X-Partner-Timestamp": "yesterday",
        },
    }
    for code, headers in cases.items():
        r = client.post(ORDERS, data=body, headers=headers)
        assert r.status_code == 401 and r.get_json()["code"] == code, (code, r.get_json())
    # a revoked credential, and an expired one
    revoke = client.post(
        f"/api/v1/partners/credentials/{w['key']}/revoke",
        headers=bearer(w["tokens"]["county_admin"]),
    )
    assert revoke.status_code == 200 and revoke.get_json()["revoked_at"]
    r = post_signed(client, w["key"], w["secret"], ORDERS, order(w))
    assert r.status_code == 401 and r.get_json()["code"] == "credential_revoked"
    fresh = client.post(
        f"/api/v1/partners/{w['partner']['id']}/credentials",
        headers=bearer(w["tokens"]["county_admin"]),
    ).get_json()
    from mediation.channels.models import PartnerCredential

    db_session.get(PartnerCredential, fresh["key_id"]).expires_at = datetime.now(UTC) - timedelta(
        seconds=1
    )
    db_session.flush()
    r = post_signed(client, fresh["key_id"], fresh["secret"], ORDERS, order(w))
    assert r.status_code == 401 and r.get_json()["code"] == "credential_expired"
    assert _cases(db_session) == 0


def test_the_openapi_document_describes_the_partner_endpoint_well_enough_to_implement_it(client):
    """The test client's signer (tests/channel_helpers.py) was written from this text."""
    doc = client.get("/api/openapi.json").get_json()
    [tag] = [t for t in doc["tags"] if t["name"] == "partner_api"]
    text = tag["description"]
    for needed in (
        "X-Partner-Key",
        "X-Partner-Timestamp",
        "X-Partner-Signature",
        "HMAC-SHA256",
        "METHOD\nPATH\nTIMESTAMP\nBODY_SHA256",
        "sha256=",
        "300 秒",
        "reference_conflict",
        "Idempotency-Key",
        "X-Mediation-Signature",
    ):
        assert needed in text, needed
    post = doc["paths"][ORDERS]["post"]
    assert post["security"] == [{"partnerSignature": []}]
    assert {"200", "201", "401", "403", "409", "422"} <= set(post["responses"])
    schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = doc["components"]["schemas"][schema]["properties"]
    for f in ("reference", "deadline", "location", "village_code", "address", "parties"):
        assert props[f].get("description") or f == "parties", f
    assert "partnerSignature" in doc["components"]["securitySchemes"]


def test_a_case_referred_to_a_court_stays_on_the_centres_lists_until_the_courts_result(
    app, client, db_session, world
):
    from api.auth import vault
    from mediation.channels import results

    w, t = world, world["tokens"]
    court = client.post(
        "/api/v1/partners",
        json={"code": "zjcourt", "name": "诸暨市人民法院", "kind": "court", "area_code": "330681"},
        headers=bearer(t["county_admin"]),
    ).get_json()["credential"]
    case_id = post_signed(client, w["key"], w["secret"], ORDERS, order(w)).get_json()["case_id"]
    act(client, t["center_staff"], case_id, "accept")
    referred = act(
        client,
        t["center_staff"],
        case_id,
        "refer",
        target="court",
        organisation="诸暨市人民法院枫桥人民法庭",
        reason="涉及确权，转诉前调解",
    )
    assert referred["status"] == "referred" and referred["handling_level"] == "referred"
    assert referred["next_due_kind"] == "referral_result"  # supervised, not an exit

    def open_referrals():
        r = client.get("/api/v1/referrals", headers=bearer(t["center_staff"]))
        return [x["dispute_id"] for x in r.get_json()]

    listed = client.get("/api/v1/disputes?status=referred", headers=bearer(t["center_staff"]))
    assert case_id in [x["id"] for x in listed.get_json()["items"]]
    assert open_referrals() == [case_id]
    # another partner cannot answer for the court; the court can, once
    path = f"/api/v1/partner-api/cases/{referred['case_number']}/referral-result"
    result = {
        "outcome": "resolved",
        "result_on": business_date(datetime.now(UTC)).isoformat(),
        "summary": "诉前调解成功，双方达成协议",
        "mediator": "特邀调解员丙",
    }
    wrong = post_signed(client, w["key"], w["secret"], path, result)
    assert wrong.status_code == 404 and wrong.get_json()["code"] == "referral_not_found"
    assert open_referrals() == [case_id]
    ok = post_signed(client, court["key_id"], court["secret"], path, result)
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json() == {
        "case_number": referred["case_number"],
        "status": "resolved",
        "resolved_level": "referred",
    }
    again = post_signed(client, court["key_id"], court["secret"], path, result)
    assert again.status_code == 200
    other = post_signed(
        client, court["key_id"], court["secret"], path, {**result, "outcome": "returned"}
    )
    assert other.status_code == 409 and other.get_json()["code"] == "result_conflict"
    assert open_referrals() == []
    panel = client.get(f"/api/v1/disputes/{case_id}/channel", headers=bearer(t["center_staff"]))
    [ref] = panel.get_json()["referrals"]
    assert ref["status"] == "closed" and ref["recorded_via"] == "partner"
    # the 12345 platform hears of the referral and of the court's result, once each
    assert results.deliver_results(db_session, now=datetime.now(UTC), vault=vault()) == (2, 0)
    sent = sorted(w["receiver"].accepted.values(), key=lambda m: m["outcome"])
    assert [m["outcome"] for m in sent] == ["referred", "resolved"]
    assert sent[0]["referred_to"] == "court" and sent[1]["mediator"] == "特邀调解员丙"
