"""The console's side of issue 20: a walk-in with only the village chosen is "not located" (no
point made up), and the 派单·移送·督办 page and the case's panel show an open referral."""

from __future__ import annotations

import re

from tests.factories import make_user
from tests.test_console import console_login

TOWNSHIP = "330681109"


def test_a_walk_in_with_only_the_village_is_not_located_and_a_referral_shows_on_the_lists(
    app, client, db_session
):
    from tests.factories import village_with_cells

    village = village_with_cells(db_session)
    make_user(app, db_session, "t_cc", [{"role": "center_staff", "area_code": TOWNSHIP}])
    _, token = console_login(client, "t_cc")
    r = client.post(
        "/console/register",
        data={
            "csrf_token": token,
            "village": village,
            "address": "三组村道旁",
            "occurred_at": "2026-12-01T09:30",
            "category": "02",
            "description": "两户因围墙发生争执",
            "party0_name": "张三",
            "party1_name": "李四",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    case_path = r.headers["Location"]
    case_id = case_path.rstrip("/").rsplit("/", 1)[1]
    from mediation.disputes.models import Dispute

    d = db_session.get(Dispute, case_id)
    assert (d.located, d.location, d.cell_code, d.channel) == (False, None, village, "window")
    page = client.get(case_path).get_data(as_text=True)
    assert "未定位" in page and "三组村道旁" in page and "综治中心窗口" in page
    listed = client.get(f"/console/cases?area={village}").get_data(as_text=True)
    assert "未定位" in listed
    # refer it to the court through the case file's own action form
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        f"{case_path}/actions/refer",
        data={
            "csrf_token": token,
            "expected_version": str(d.version),
            "target": "court",
            "reason": "涉及确权，转诉前调解",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    lists = client.get("/console/channels").get_data(as_text=True)
    assert d.case_number in lists and "人民法院（诉前调解）" in lists
    page = client.get(case_path).get_data(as_text=True)
    assert "待接收方反馈" in page
