"""Parties' sex, ethnicity and address (受理登记表): checked, the address encrypted and masked,
revealed only through the logged path; supervision lists exported only with an access-log row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from mediation.disputes.models import Party
from mediation.pii import mask_address
from tests.factories import Api, dispute_payload, role_users

ADDRESS = "浙江省诸暨市枫桥镇先进村3组12号"


@pytest.fixture
def ctx(app, db_session):
    return role_users(app, db_session)


@pytest.fixture
def gw(client, ctx):
    return Api(client, "t_gw")


def _payload(db_session, ctx, **first):
    payload = dispute_payload(db_session, ctx["cells"][0])
    payload["parties"][0].update(first)
    return payload


def test_party_address_is_encrypted_masked_and_revealed_only_with_a_logged_purpose(
    gw, ctx, db_session
):
    r = gw.register(_payload(db_session, ctx, sex="male", ethnicity="汉族", address=ADDRESS))
    assert r.status_code == 201, r.get_json()
    p = r.get_json()["parties"][0]
    assert (p["sex"], p["ethnicity"], p["address"]) == ("male", "汉族", "浙江省诸暨市枫桥镇****")
    stored = db_session.scalar(select(Party).where(Party.id == p["id"]))
    assert ADDRESS.encode() not in bytes(stored.address_enc)  # encrypted at rest
    listed = gw.client.get("/api/v1/disputes", headers=gw.h()).get_json()
    assert ADDRESS not in str(listed)
    url = f"/api/v1/disputes/{r.get_json()['id']}/parties/{p['id']}/reveal"
    shown = gw.client.post(
        url, json={"field": "address", "purpose": "上门回访核对住址"}, headers=gw.h()
    )
    assert shown.status_code == 200 and shown.get_json()["value"] == ADDRESS
    logged = db_session.execute(
        text("SELECT field, purpose FROM access_log WHERE action = 'reveal' AND record_id = :r"),
        {"r": str(p["id"])},
    ).all()
    assert [tuple(x) for x in logged] == [("address", "上门回访核对住址")]


def test_party_sex_must_agree_with_the_resident_id_and_ethnicity_is_one_of_the_56(
    gw, ctx, db_session
):
    r = gw.register(_payload(db_session, ctx, sex="female"))  # the test ID is a man's
    assert r.status_code == 422 and "parties[0].sex" in str(r.get_json()["fields"])
    r = gw.register(_payload(db_session, ctx, ethnicity="火星族"))
    assert r.status_code == 422 and "ethnicity" in str(r.get_json()["fields"])


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (ADDRESS, "浙江省诸暨市枫桥镇****"),
        ("先进村3组12号", "先进村****"),
        ("暨阳街道东二路8号", "暨阳街道****"),
    ],
)
def test_party_address_is_masked_down_to_the_township(raw, masked):
    assert mask_address(raw) == masked


def test_export_of_a_supervision_list_writes_the_access_log(client, ctx, db_session):
    center = Api(client, "t_center")
    before = db_session.scalar(text("SELECT count(*) FROM access_log WHERE action = 'export'"))
    json_list = client.get("/api/v1/console/lists/escalations?area=330681109", headers=center.h())
    assert json_list.status_code == 200
    assert (
        db_session.scalar(text("SELECT count(*) FROM access_log WHERE action = 'export'")) == before
    )
    for fmt in ("csv", "xlsx"):
        r = client.get(
            f"/api/v1/console/lists/high_risk?area=330681109&format={fmt}&purpose=月度督办",
            headers=center.h(),
        )
        assert r.status_code == 200, r.get_data(as_text=True)[:200]
    rows = db_session.execute(
        text(
            "SELECT record_type, record_id, field, purpose FROM access_log "
            "WHERE action = 'export' ORDER BY id DESC LIMIT 2"
        )
    ).all()
    assert [tuple(x) for x in rows] == [
        ("list:high_risk", "330681109", "xlsx", "月度督办"),
        ("list:high_risk", "330681109", "csv", "月度督办"),
    ]
