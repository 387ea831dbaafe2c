"""B1: supervision-list exports on a database that really commits (no test savepoint hides a
commit that closes the server-side cursor): the whole file, and an access-log row only for an
export that was produced."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests.factories import bearer, dispute_payload, login, make_user

TOWNSHIP = "330681104"  # 店口镇, as in the `committed` fixture


@pytest.fixture
def exporting(app, committed):
    """The committed world plus a township centre user, and two open RED cases registered for
    real through the API; the centre user and their access-log rows are removed afterwards."""
    from core.db import db

    with app.app_context():
        make_user(app, db.session, "c_center", [{"role": "center_staff", "area_code": TOWNSHIP}])
        db.session.commit()
    client = app.test_client()
    gw = login(client, "c_gw")["access_token"]
    with app.app_context():
        payloads = [
            dispute_payload(
                db.session,
                committed["cells"][0],
                description=f"=导出测试{i}",
                risk={"likelihood": 1, "severity": 1, "flags": ["death"]},
            )
            for i in range(2)
        ]
        db.session.remove()
    numbers = []
    for p in payloads:
        r = client.post("/api/v1/disputes", json=p, headers=bearer(gw))
        assert r.status_code == 201, r.get_json()
        numbers.append(r.get_json()["case_number"])
    token = login(client, "c_center")["access_token"]
    yield {"client": client, "token": token, "numbers": numbers, "village": committed["village"]}
    with db.engine.begin() as conn:
        # The access log is append-only; the test lifts that for its own cleanup only.
        conn.execute(text("ALTER TABLE access_log DISABLE TRIGGER access_log_append_only"))
        conn.execute(
            text(
                "DELETE FROM access_log WHERE user_id IN "
                "(SELECT id FROM user_account WHERE username = 'c_center')"
            )
        )
        conn.execute(text("ALTER TABLE access_log ENABLE TRIGGER access_log_append_only"))
        conn.execute(text("DELETE FROM user_account WHERE username = 'c_center'"))


def _exports_logged(app) -> list[tuple[str, str]]:
    from core.db import db

    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT a.record_type, a.field FROM access_log a JOIN user_account u "
                "ON u.id = a.user_id WHERE u.username = 'c_center' AND a.action = 'export' "
                "ORDER BY a.id"
            )
        ).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_b1_high_risk_export_with_rows_streams_whole_file(app, exporting):
    client, h = exporting["client"], bearer(exporting["token"])
    url = f"/api/v1/console/lists/high_risk?area={TOWNSHIP}&purpose=督办红色案件"

    r = client.get(url + "&format=xlsx", headers=h)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    ws = load_workbook(io.BytesIO(r.data)).active
    listed = {row[0] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert set(exporting["numbers"]) <= listed

    r = client.get(url + "&format=csv", headers=h)
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "案件编号"
    assert set(exporting["numbers"]) <= {row[0] for row in rows[1:]}
    assert body.endswith("\r\n")  # the last row is complete

    assert _exports_logged(app) == [("list:high_risk", "xlsx"), ("list:high_risk", "csv")]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_b1_failed_export_writes_no_access_log_row(app, exporting, monkeypatch, fmt):
    from mediation.reports import console

    real, calls = console._list_row, []

    def broken(kind, r, names, now):  # the first row is fine, the second breaks
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("row builder broke half-way")
        return real(kind, r, names, now)

    monkeypatch.setattr(console, "_list_row", broken)
    r = exporting["client"].get(
        f"/api/v1/console/lists/high_risk?area={TOWNSHIP}&format={fmt}&purpose=督办红色案件",
        headers=bearer(exporting["token"]),
    )
    assert r.status_code == 500
    assert "案件编号" not in r.get_data(as_text=True)  # no half file
    assert _exports_logged(app) == []
