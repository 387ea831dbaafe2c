"""Every invalid registration gets a field-level error and leaves nothing behind; a random walk
through the flow never reaches `resolved` without a confirming visit."""

from __future__ import annotations

import base64
import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from mediation.disputes.models import Attachment, Dispute
from tests.factories import Api, dispute_payload, resident_id, role_users

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture
def ctx(app, db_session):
    return role_users(app, db_session)


def _files(app):
    root = app.config["ATTACHMENT_DIR"]
    return sum(len(f) for _, _, f in os.walk(root)) if os.path.isdir(root) else 0


def _bad(case, payload, ctx):
    party = payload["parties"][0]
    if case == "bad_id_checksum":
        party["id_number"] = resident_id()[:-1] + ("0" if resident_id()[-1] != "0" else "1")
        return "parties[0].id_number"
    if case == "impossible_birth_date":
        party["id_number"] = resident_id("33068119900230123")
        return "parties[0].id_number"
    if case == "impossible_date":
        payload["occurred_at"] = "2026-02-30T10:00:00+08:00"
        return "occurred_at"
    if case == "future_date":
        payload["occurred_at"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        return "occurred_at"
    if case == "before_1900":
        payload["occurred_at"] = "1899-12-31T10:00:00+08:00"
        return "occurred_at"
    if case == "naive_date":
        payload["occurred_at"] = "2026-11-01T10:00:00"
        return "occurred_at"
    if case == "unknown_category":
        payload["category"] = "77"
        return "category"
    if case == "unknown_key_area":
        payload["key_areas"] = ["不存在的领域"]
        return "key_areas[0]"
    if case == "outside_coverage":
        payload["location"] = {"lon": 116.39, "lat": 39.91, "crs": "gcj02"}
        return "location"
    if case == "swapped_coordinates":
        loc = payload["location"]
        payload["location"] = {"lon": loc["lat"], "lat": loc["lon"], "crs": "gcj02"}
        return "location.lon"
    if case == "unknown_crs":
        payload["location"]["crs"] = "xian80"
        return "location.crs"
    if case == "bad_phone":
        party["phone"] = "12345"
        return "parties[0].phone"
    if case == "no_parties":
        payload["parties"] = []
        return "parties"
    if case == "control_characters":
        payload["description"] = "正常\x00文字"
        return "description"
    if case == "oversize_photo":
        payload["photos"] = [
            {
                "filename": "big.png",
                "content_base64": base64.b64encode(PNG + b"\x00" * (6 * 1024 * 1024)).decode(),
            }
        ]
        return "photos[0]"
    if case == "wrong_file_type":
        payload["photos"] = [
            {
                "filename": "photo.jpg",
                "content_base64": base64.b64encode(b"MZ\x90\x00 this is an exe").decode(),
            }
        ]
        return "photos[0]"
    if case == "photo_then_bad_id":  # a good photo with a bad ID: the photo must not stay either
        payload["photos"] = [
            {"filename": "ok.png", "content_base64": base64.b64encode(PNG + b"x").decode()}
        ]
        party["id_number"] = "330681199001011230"
        return "parties[0].id_number"
    raise AssertionError(case)


CASES = [
    "bad_id_checksum",
    "impossible_birth_date",
    "impossible_date",
    "future_date",
    "before_1900",
    "naive_date",
    "unknown_category",
    "unknown_key_area",
    "outside_coverage",
    "swapped_coordinates",
    "unknown_crs",
    "bad_phone",
    "no_parties",
    "control_characters",
    "oversize_photo",
    "wrong_file_type",
    "photo_then_bad_id",
]


@pytest.mark.parametrize("case", CASES)
def test_invalid_registration_is_refused_with_field_and_leaves_nothing(
    app, client, db_session, ctx, case
):
    gw = Api(client, "t_gw")
    payload = dispute_payload(db_session, ctx["cells"][0])
    field = _bad(case, payload, ctx)
    before = (
        db_session.scalar(select(func.count()).select_from(Dispute)),
        db_session.scalar(select(func.count()).select_from(Attachment)),
        _files(app),
        db_session.scalar(text("SELECT coalesce(sum(last_seq), 0) FROM case_counter")),
    )
    r = gw.register(payload)
    assert r.status_code in (400, 409, 422), (case, r.status_code, r.get_json())
    body = r.get_json()
    assert body["code"] and body["message"]
    assert any(k == field or k.endswith(field) for k in body.get("fields", {})), (case, body)
    for messages in body["fields"].values():
        assert all(isinstance(m, str) and m for m in messages)
    after = (
        db_session.scalar(select(func.count()).select_from(Dispute)),
        db_session.scalar(select(func.count()).select_from(Attachment)),
        _files(app),
        db_session.scalar(text("SELECT coalesce(sum(last_seq), 0) FROM case_counter")),
    )
    assert after == before, case


def test_valid_photo_is_stored_by_checksum(app, client, db_session, ctx):
    gw = Api(client, "t_gw")
    payload = dispute_payload(
        db_session,
        ctx["cells"][0],
        photos=[
            {
                "filename": "../../etc/passwd.png",
                "content_base64": base64.b64encode(PNG + b"ok").decode(),
            }
        ],
    )
    r = gw.register(payload)
    assert r.status_code == 201, r.get_json()
    att = r.get_json()["attachments"][0]
    assert att["filename"] == "passwd.png" and att["content_type"] == "image/png"
    got = client.get(
        f"/api/v1/disputes/{r.get_json()['id']}/attachments/{att['id']}", headers=gw.h()
    )
    assert got.status_code == 200 and got.data == PNG + b"ok"


ACTIONS = {
    "accept": {},
    "reject": {"ground": "not_civil_dispute", "reason": "不属于调解范围"},
    "start_mediation": {"rights_notice": "告知"},
    "record_session": {"held_at": "NOW", "summary": "调解"},
    "escalate": {"to_level": "township", "reason": "上报"},
    "accept_escalation": {},
    "return_escalation": {"reason": "退回"},
    "return_down": {"to_level": "village", "reason": "交办"},
    "agree": {"form": "oral", "terms": "口头协议", "performed_immediately": True},
    "terminate": {"reason": "一方拒绝", "routes": ["litigation"]},
    "refer": {"target": "court", "reason": "移送"},
    "withdraw": {"reason": "撤回"},
    "record_visit": {"method": "phone", "result": "RANDOM"},
    "assess_risk": {"likelihood": 2, "severity": 2},
    "archive": {},
}


def test_random_walks_never_resolve_without_a_confirming_visit(client, db_session, ctx):
    rng = random.Random(7)
    people = {u: Api(client, u) for u in ("t_gw", "t_med", "t_vil", "t_center", "t_county")}
    results = [
        "performed",
        "partly",
        "not_performed",
        "retracted",
        "judicial_confirmation",
        "recurred",
        "sued",
    ]
    moves = 0
    for walk in range(16):
        case = (
            people["t_gw"]
            .register(
                dispute_payload(db_session, ctx["cells"][walk % 2], description=f"随机{walk}")
            )
            .get_json()
        )
        for _ in range(18):
            action = rng.choice(list(ACTIONS))
            payload = dict(ACTIONS[action])
            if payload.get("held_at") == "NOW":
                payload["held_at"] = datetime.now(UTC).isoformat()
            if payload.get("result") == "RANDOM":
                payload["result"] = rng.choice(results)
            who = people[rng.choice(list(people))]
            r = who.act(case["id"], action, **payload)
            assert r.status_code < 500, r.get_json()
            moves += r.status_code == 200
            d = db_session.get(Dispute, case["id"])
            db_session.refresh(d)
            confirming = db_session.scalar(
                text(
                    "SELECT count(*) FROM follow_up_visit WHERE dispute_id = :i AND result = 'performed' "
                    "AND status_after = 'resolved'"
                ),
                {"i": case["id"]},
            )
            if d.status == "resolved" or d.resolved_at is not None:
                assert confirming >= 1 and d.resolved_at is not None, (walk, action)
    assert moves > 30  # the walks did move cases along
