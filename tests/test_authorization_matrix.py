"""Every endpoint × every role × inside/outside the user's area, generated from the URL map.

A route that is not in RULES fails `test_every_route_has_a_rule`, so a new endpoint cannot ship
without its authorisation being stated and tested. The whole test runs in one transaction
rolled back at the end of the test; requests are built so that their order does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from tests.factories import OTHER_TOWNSHIP, PASSWORD, TOWNSHIP, bearer, point_in, role_users

ROLES = [
    "grid_worker",
    "mediator",
    "village_admin",
    "center_staff",
    "leader",
    "county_admin",
    "admin",
]
ALL = frozenset(ROLES)
MANAGERS = frozenset({"admin", "county_admin"})
STAFF = frozenset({"admin", "county_admin", "center_staff"})
WIDE = frozenset({"admin", "county_admin"})  # see the other township too


@dataclass
class Rule:
    """Who may call, what success looks like, and how to build inside/outside requests."""

    allowed: frozenset | str  # a set of roles, "public" or "refresh"
    ok: int
    build: callable  # (ctx, role, where) -> (path, json or None)
    outside_ok: frozenset = field(default_factory=lambda: ALL)  # roles for whom outside is ok too
    outside_status: int = 404  # what the others get outside their area


def _p(path):
    return lambda ctx, role, where: (path, None)


def _user_target(suffix="", body=None):
    def build(ctx, role, where):
        target = ctx["targets"]["gw_in" if where == "in" else "gw_out"]
        return f"/api/v1/users/{target.id}{suffix}", body

    return build


def _assign(ctx, role, where):
    target = ctx["targets"]["gw_in" if where == "in" else "gw_out"]
    cell = ctx["cells"][4] if where == "in" else ctx["other_cells"][1]
    return f"/api/v1/users/{target.id}/cells", {"cell_code": cell}


def _end_assignment(ctx, role, where):
    from datetime import date

    from mediation.users.accounts import assign_cell
    from mediation.users.actor import system_actor

    target = ctx["targets"]["gw_in" if where == "in" else "gw_out"]
    cell = ctx["cells"][2] if where == "in" else ctx["other_cells"][0]
    # An earlier role may have ended it: give the worker the cell again first.
    assign_cell(
        ctx["db_session"],
        actor=system_actor(),
        user_id=target.id,
        cell_code=cell,
        valid_from=date(2026, 1, 1),
    )
    return f"/api/v1/users/{target.id}/cells/{cell}", {}


def _area(suffix=""):
    def build(ctx, role, where):
        code = ctx["village"] if where == "in" else ctx["other_village"]
        return f"/api/v1/areas/{code}{suffix}", None

    return build


def _cell(ctx, role, where):
    return f"/api/v1/cells/{ctx['cells'][0] if where == 'in' else ctx['other_cells'][0]}", None


def _locate(ctx, role, where):
    x, y = ctx["points"][where]
    return f"/api/v1/locate?lon={x}&lat={y}&crs=wgs84", None


def _login(ctx, role, where):
    return "/api/v1/auth/login", {"username": ctx["users"][role].username, "password": PASSWORD}


def _create_user(ctx, role, where):
    area = ctx["village"] if where == "in" else ctx["other_village"]
    return "/api/v1/users", {
        "username": f"m_{role}_{where}",
        "display_name": "新调解员",
        "password": "Strong#Passw0rd",
        "roles": [{"role": "mediator", "area_code": area}],
    }


CASE_ROLES = ALL - {"admin"}
REGISTRARS = CASE_ROLES - {"leader"}


def _register(ctx, role, where):
    from tests.factories import dispute_payload

    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    return "/api/v1/disputes", dispute_payload(
        ctx["db_session"], cell, description=f"{role}-{where}"
    )


def _case(suffix="", body=None):
    def build(ctx, role, where):
        return f"/api/v1/disputes/{ctx['cases'][where].id}{suffix}", body

    return build


def _action(ctx, role, where):
    from mediation.disputes.models import Dispute

    case = ctx["cases"][where]
    version = ctx["db_session"].get(Dispute, case.id).version
    return (
        f"/api/v1/disputes/{case.id}/actions/assess_risk",
        {"likelihood": 2, "severity": 2, "expected_version": version},
    )


_new_codes = iter(range(5000, 9999))


def _new_category(ctx, role, where):
    return "/api/v1/categories", {"code": str(next(_new_codes)), "label": "测试类别"}


def _reveal(ctx, role, where):
    case = ctx["cases"][where]
    return (
        f"/api/v1/disputes/{case.id}/parties/{case.parties[0].id}/reveal",
        {"field": "phone", "purpose": "电话回访当事人"},
    )


def _upload(ctx, role, where):
    import io

    case = ctx["cases"][where]
    png = b"\x89PNG\r\n\x1a\n" + f"{role}-{where}".encode() * 10
    return f"/api/v1/disputes/{case.id}/attachments", {
        "__multipart__": {"kind": "photo", "file": (io.BytesIO(png), "a.png")}
    }


def _download(ctx, role, where):
    case, att = ctx["cases"][where], ctx["attachments"][where]
    return f"/api/v1/disputes/{case.id}/attachments/{att.id}", None


def _ack(ctx, role, where):
    """A fired reminder addressed to this role's user (or, for 'out', to somebody else)."""
    from datetime import UTC, datetime

    from mediation.reminders.models import Reminder

    user = ctx["users"][role] if where == "in" else ctx["targets"]["gw_out"]
    now = datetime.now(UTC)
    r = Reminder(
        key=f"test:{role}:{where}:{now.timestamp()}",
        kind="acceptance",
        area_code=ctx["village"],
        recipient_id=user.id,
        due_at=now,
        remind_at=now,
        state="due",
        title="t",
        body={},
        created_at=now,
        fired_at=now,
    )
    ctx["db_session"].add(r)
    ctx["db_session"].flush()
    return f"/api/v1/inbox/{r.id}/ack", None


VIEWERS = frozenset({"village_admin", "center_staff", "leader", "county_admin"})
COUNTY_ONLY = frozenset({"county_admin"})
_MONTHS = iter(range(10_000))


def _console(path):
    def build(ctx, role, where):
        code = ctx["village"] if where == "in" else ctx["other_village"]
        return f"/api/v1/console/{path}{'&' if '?' in path else '?'}area={code}", None

    return build


def _township_report(ctx, role, where):
    code = (ctx["village"] if where == "in" else ctx["other_village"])[:9]
    return f"/api/v1/reports/monthly/2026-11/townships/{code}", None


def _drafts(ctx, role, where):
    code = ctx["village"] if where == "in" else ctx["other_village"]
    return "/api/v1/reports/monthly/2026-11/drafts", {"area": code}


def _versions(ctx, role, where):
    code = ctx["village"] if where == "in" else ctx["other_village"]
    return f"/api/v1/reports/monthly/2026-11/villages/{code}", None


def _report(suffix="", body=None, status="draft"):
    """A fresh report row (its own month, so builders never collide)."""

    def build(ctx, role, where):
        from datetime import UTC, datetime

        from mediation.reports import figures, metrics
        from mediation.reports.models import MonthlyReport

        n = next(_MONTHS)
        now = datetime.now(UTC)
        r = MonthlyReport(
            area_code=ctx["village"] if where == "in" else ctx["other_village"],
            # past months: a report is refreshed/submitted only once its period is over (M3)
            month=f"{2000 + n // 12:04d}-{n % 12 + 1:02d}",
            version=1,
            status=status,
            figures=figures.snapshot(
                metrics.empty_row(),
                figures.empty_screening(),
                [],
                metrics.month_period("2026-10"),
            ),
            narrative="本月开展排查三次",
            due_at=now,
            generated_at=now,
            submitted_at=now if status == "submitted" else None,
            on_time=True if status == "submitted" else None,
        )
        ctx["db_session"].add(r)
        ctx["db_session"].flush()
        return f"/api/v1/reports/monthly/reports/{r.id}{suffix}", body

    return build


def _round_payload(cell, **over):
    import uuid
    from datetime import UTC, datetime, timedelta

    body = {
        "client_id": str(uuid.uuid4()),
        "cell_code": cell,
        "screened_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "households_visited": 12,
        "key_areas": ["涉农问题"],
        "zero_report": True,
    }
    body.update(over)
    return body


def _record_round(ctx, role, where):
    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    return "/api/v1/screening/rounds", _round_payload(cell)


def _round(ctx, role, where):
    return f"/api/v1/screening/rounds/{ctx['rounds'][where].id}", None


def _launch(ctx, role, where):
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    area = ctx["village"] if where == "in" else ctx["other_village"]
    return "/api/v1/screening/campaigns", {
        "title": "春节前 征地拆迁 欠薪 专项排查",
        "area_code": area,
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=10)).isoformat(),
        "key_areas": ["征地拆迁", "社会保障与欠薪"],
    }


def _campaign_coverage(ctx, role, where):
    return f"/api/v1/screening/campaigns/{ctx['campaigns'][where].id}/coverage", None


def _monthly_coverage(ctx, role, where):
    from datetime import UTC, datetime

    month = datetime.now(UTC).strftime("%Y-%m")
    if where == "out":
        area = ctx["other_village"]
    else:
        area = ctx["cells"][0] if role == "grid_worker" else ctx["village"]
    return f"/api/v1/screening/coverage?area={area}&month={month}", None


def _push(ctx, role, where):
    import uuid

    case = ctx["cases"][where]
    op = {
        "op_id": str(uuid.uuid4()),
        "kind": "record_visit",
        "case_id": str(case.id),
        "base_version": 1,
        "payload": {"method": "phone", "result": "performed"},
    }
    return "/api/v1/sync/operations", {"operations": [op]}


def _photo_put(ctx, role, where):
    import hashlib
    import io
    import uuid

    png = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 4
    return f"/api/v1/sync/photos/{hashlib.sha256(png).hexdigest()}", {
        "__multipart__": {"file": (io.BytesIO(png), "a.png")}
    }


RULES: dict[tuple[str, str], Rule] = {
    ("console.Dashboard", "GET"): Rule(VIEWERS, 200, _console("dashboard"), outside_ok=COUNTY_ONLY),
    ("console.SupervisionList", "GET"): Rule(
        VIEWERS, 200, _console("lists/overdue"), outside_ok=COUNTY_ONLY
    ),
    ("console.MapAreas", "GET"): Rule(VIEWERS, 200, _console("map/areas"), outside_ok=COUNTY_ONLY),
    ("console.MapCases", "GET"): Rule(VIEWERS, 200, _console("map/cases"), outside_ok=COUNTY_ONLY),
    ("console.MapHotspots", "GET"): Rule(
        VIEWERS, 200, _console("map/hotspots"), outside_ok=COUNTY_ONLY
    ),
    ("reports.Drafts", "POST"): Rule(
        frozenset({"village_admin", "center_staff", "county_admin"}),
        200,
        _drafts,
        outside_ok=COUNTY_ONLY,
    ),
    ("reports.VillageVersions", "GET"): Rule(VIEWERS, 200, _versions, outside_ok=COUNTY_ONLY),
    ("reports.TownshipReport", "GET"): Rule(
        frozenset({"center_staff", "leader", "county_admin"}),
        200,
        _township_report,
        outside_ok=COUNTY_ONLY,
    ),
    ("reports.Report", "GET"): Rule(VIEWERS, 200, _report(), outside_ok=COUNTY_ONLY),
    ("reports.Report", "PATCH"): Rule(
        frozenset({"village_admin"}),
        200,
        _report("", {"narrative": "已入户排查"}),
        outside_ok=frozenset(),
    ),
    ("reports.Refresh", "POST"): Rule(
        frozenset({"village_admin"}), 200, _report("/refresh"), outside_ok=frozenset()
    ),
    ("reports.Submit", "POST"): Rule(
        frozenset({"village_admin"}), 200, _report("/submit", {}), outside_ok=frozenset()
    ),
    ("reports.Corrections", "POST"): Rule(
        frozenset({"village_admin"}),
        201,
        _report("/corrections", {"reason": "补录一件纠纷"}, status="submitted"),
        outside_ok=frozenset(),
    ),
    ("reports.ReportExport", "GET"): Rule(
        VIEWERS, 200, _report("/export?format=xlsx"), outside_ok=COUNTY_ONLY
    ),
    ("inbox.Inbox", "GET"): Rule(ALL, 200, _p("/api/v1/inbox")),
    ("categories.Categories", "GET"): Rule(ALL, 200, _p("/api/v1/categories")),
    ("categories.Categories", "POST"): Rule(frozenset({"admin"}), 201, _new_category),
    ("categories.Category", "PATCH"): Rule(
        frozenset({"admin"}),
        200,
        lambda ctx, role, where: ("/api/v1/categories/99", {"label": "其他"}),
    ),
    ("inbox.UnreadCount", "GET"): Rule(ALL, 200, _p("/api/v1/inbox/unread-count")),
    ("inbox.Acknowledge", "POST"): Rule(ALL, 200, _ack, outside_ok=frozenset()),
    ("disputes.Disputes", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/disputes")),
    ("disputes.Disputes", "POST"): Rule(
        REGISTRARS,
        201,
        _register,
        outside_ok=frozenset({"grid_worker", "county_admin"}),
        outside_status=422,
    ),
    ("disputes.Tasks", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/disputes/tasks")),
    ("disputes.DisputeDetail", "GET"): Rule(
        CASE_ROLES, 200, _case(), outside_ok=frozenset({"county_admin"})
    ),
    ("disputes.Timeline", "GET"): Rule(
        CASE_ROLES, 200, _case("/timeline"), outside_ok=frozenset({"county_admin"})
    ),
    ("disputes.Action", "POST"): Rule(
        CASE_ROLES, 200, _action, outside_ok=frozenset({"county_admin"})
    ),
    ("disputes.PartyReveal", "POST"): Rule(
        CASE_ROLES, 200, _reveal, outside_ok=frozenset({"county_admin"})
    ),
    ("disputes.Attachments", "POST"): Rule(
        REGISTRARS, 201, _upload, outside_ok=frozenset({"county_admin"})
    ),
    ("disputes.AttachmentFile", "GET"): Rule(
        CASE_ROLES, 200, _download, outside_ok=frozenset({"county_admin"})
    ),
    ("papers.Paper", "GET"): Rule(
        CASE_ROLES, 200, _case("/papers/application"), outside_ok=frozenset({"county_admin"})
    ),
    ("screening.Rounds", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/screening/rounds")),
    ("screening.Rounds", "POST"): Rule(
        frozenset({"grid_worker"}),
        201,
        _record_round,
        outside_ok=frozenset(),
        outside_status=422,
    ),
    ("screening.RoundDetail", "GET"): Rule(
        CASE_ROLES, 200, _round, outside_ok=frozenset({"county_admin"})
    ),
    ("screening.Campaigns", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/screening/campaigns")),
    ("screening.Campaigns", "POST"): Rule(
        frozenset({"center_staff", "county_admin"}),
        201,
        _launch,
        outside_ok=frozenset({"county_admin"}),
        outside_status=422,
    ),
    ("screening.CampaignCoverage", "GET"): Rule(
        CASE_ROLES, 200, _campaign_coverage, outside_ok=frozenset({"county_admin"})
    ),
    ("screening.MonthlyCoverage", "GET"): Rule(
        CASE_ROLES, 200, _monthly_coverage, outside_ok=frozenset({"county_admin"})
    ),
    ("sync.Changes", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/sync/changes")),
    # Operations answer per operation: outside the area each one is rejected (case_unknown)
    ("sync.Operations", "POST"): Rule(CASE_ROLES, 200, _push),
    ("sync.Photo", "PUT"): Rule(REGISTRARS, 201, _photo_put),
    ("health.Health", "GET"): Rule("public", 200, _p("/api/v1/health")),
    ("metrics", "GET"): Rule("public", 200, _p("/metrics")),  # loopback only (core/metrics.py)
    ("api-docs.openapi_json", "GET"): Rule("public", 200, _p("/api/openapi.json")),
    ("api-docs.openapi_swagger_ui", "GET"): Rule("public", 200, _p("/api/docs")),
    ("swagger_ui_asset", "GET"): Rule("public", 200, _p("/api/docs/static/swagger-ui.css")),
    ("auth.Login", "POST"): Rule("public", 200, _login),
    ("auth.Refresh", "POST"): Rule("refresh", 200, _p("/api/v1/auth/refresh")),
    ("auth.Logout", "POST"): Rule(ALL, 204, _p("/api/v1/auth/logout")),
    ("auth.LogoutAll", "POST"): Rule(ALL, 204, _p("/api/v1/auth/logout-all")),
    ("auth.Me", "GET"): Rule(ALL, 200, _p("/api/v1/auth/me")),
    ("auth.Password", "POST"): Rule(
        ALL,
        422,
        lambda c, r, w: ("/api/v1/auth/password", {"old_password": "wrong", "new_password": "x"}),
    ),
    ("users.Users", "GET"): Rule(STAFF, 200, _p("/api/v1/users")),
    ("users.Users", "POST"): Rule(MANAGERS, 201, _create_user),
    ("users.UserDetail", "GET"): Rule(STAFF, 200, _user_target(), outside_ok=WIDE),
    ("users.UserDetail", "PATCH"): Rule(
        MANAGERS, 200, _user_target("", {"display_name": "改名"}), outside_ok=WIDE
    ),
    ("users.UserCells", "GET"): Rule(STAFF, 200, _user_target("/cells"), outside_ok=WIDE),
    ("users.UserCells", "POST"): Rule(STAFF, 201, _assign, outside_ok=WIDE),
    ("users.UserCell", "DELETE"): Rule(STAFF, 200, _end_assignment, outside_ok=WIDE),
    ("users.UserReveal", "POST"): Rule(
        STAFF,
        200,
        _user_target("/reveal", {"field": "phone", "purpose": "核实联系方式"}),
        outside_ok=WIDE,
    ),
    ("users.AccessLogList", "GET"): Rule(MANAGERS, 200, _p("/api/v1/access-log")),
    ("geo.Locate", "GET"): Rule(ALL, 200, _locate),
    ("geo.AreaRoots", "GET"): Rule(ALL, 200, _p("/api/v1/areas")),
    ("geo.AreaDetail", "GET"): Rule(ALL, 200, _area(), outside_ok=WIDE),
    ("geo.AreaChildren", "GET"): Rule(ALL, 200, _area("/children"), outside_ok=WIDE),
    ("geo.AreaCells", "GET"): Rule(ALL, 200, _area("/cells"), outside_ok=WIDE),
    ("geo.CellDetail", "GET"): Rule(ALL, 200, _cell, outside_ok=WIDE),
}


# ------------------------------------------------------------------ issue 20: channels

PARTNER_SIGNED = "partner"  # signed by a partner's credential: a user's token never gets in
ASSIGNEES = frozenset({"mediator", "village_admin", "center_staff", "county_admin"})
UNITS = frozenset({"village_admin", "center_staff", "county_admin"})
BODY_VIEWERS = frozenset({"mediator", "village_admin", "center_staff", "leader", "county_admin"})
OTHER_COUNTY = "330682"


def _partner_row(ctx, where):
    """A partner of the users' county (in) or of another county (out), with a credential."""
    from datetime import UTC, datetime, timedelta

    from mediation.channels.models import Partner, PartnerCredential
    from mediation.users.models import User

    db, n = ctx["db_session"], next(_MONTHS)
    user = User(username=f"partner:m{n}", display_name="p", password_hash="!", is_active=False)
    db.add(user)
    db.flush()
    now = datetime.now(UTC)
    p = Partner(
        code=f"m{n}",
        name="12345",
        kind="hotline",
        area_code=COUNTY_CODE if where == "in" else OTHER_COUNTY,
        user_id=user.id,
        active=True,
        created_at=now,
    )
    db.add(p)
    db.flush()
    cred = PartnerCredential(
        key_id=f"pk_m{n}",
        partner_id=p.id,
        secret_enc=b"x" * 40,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    db.add(cred)
    db.flush()
    return p, cred


COUNTY_CODE = "330681"


def _partner_path(suffix):
    def build(ctx, role, where):
        p, cred = _partner_row(ctx, where)
        return suffix.format(id=p.id, key=cred.key_id), {}

    return build


def _new_partner(ctx, role, where):
    n = next(_MONTHS)
    area = ctx["village"][:9] if where == "in" else OTHER_COUNTY
    return "/api/v1/partners", {
        "code": f"np{n}",
        "name": "110",
        "kind": "police",
        "area_code": area,
    }


def _order(ctx, role, where):
    return "/api/v1/partner-api/orders", {"reference": f"r-{role}-{where}"}


def _partner_result(ctx, role, where):
    case = ctx["cases"][where]
    return f"/api/v1/partner-api/cases/{case.case_number}/referral-result", {"outcome": "resolved"}


def _body(ctx, where):
    from datetime import UTC, datetime

    from mediation.channels.models import MediationBody

    b = MediationBody(
        name=f"调委会{next(_MONTHS)}",
        kind="traffic",
        area_code=ctx["village"][:9],
        level="township",
        member_ids=[],
        active=True,
        created_at=datetime.now(UTC),
    )
    ctx["db_session"].add(b)
    ctx["db_session"].flush()
    return b


def _new_body(ctx, role, where):
    area = ctx["village"][:9] if where == "in" else OTHER_COUNTY + "001"
    return "/api/v1/mediation-bodies", {
        "name": f"交通调委会{role}",
        "kind": "traffic",
        "area_code": area,
    }


def _clear_pending(ctx, case):
    from sqlalchemy import text

    ctx["db_session"].execute(
        text(
            "UPDATE dispatch SET status = 'returned' WHERE dispute_id = :d AND status = 'pending'"
        ),
        {"d": case.id},
    )


def _dispatch(ctx, role, where):
    case = ctx["cases"][where]
    _clear_pending(ctx, case)
    return f"/api/v1/disputes/{case.id}/dispatches", {
        "body_id": _body(ctx, where).id,
        "due_on": "2999-01-01",
    }


def _decide_dispatch(verb):
    def build(ctx, role, where):
        from datetime import UTC, datetime

        from mediation.channels.models import Dispatch

        case = ctx["cases"]["in"]
        _clear_pending(ctx, case)
        user = ctx["users"][role] if where == "in" else ctx["targets"]["gw_out"]
        now = datetime.now(UTC)
        d = Dispatch(
            dispute_id=case.id,
            assignee_user_id=user.id,
            due_on=now.date(),
            accept_due_at=now,
            status="pending",
            requested_by=ctx["users"]["center_staff"].id,
            requested_at=now,
        )
        ctx["db_session"].add(d)
        ctx["db_session"].flush()
        return f"/api/v1/dispatches/{d.id}/{verb}", {"reason": "不属本人专长"}

    return build


# ------------------------------------------------------------------ risks (issue 21)

RISK_READERS = CASE_ROLES
RISK_REGISTRARS = frozenset({"center_staff", "county_admin"})
SIGNAL_WRITERS = frozenset(
    {"grid_worker", "mediator", "village_admin", "center_staff", "county_admin"}
)
SIGNAL_RECORDERS = frozenset({"grid_worker", "mediator", "village_admin", "center_staff"})
MEETING_READERS = frozenset({"center_staff", "leader", "county_admin"})


def _risk_actor(ctx, who):
    from datetime import UTC, datetime

    from core.clock import business_date
    from mediation.users.actor import load_actor

    user = ctx["users"].get(who) or ctx["targets"][who]
    return load_actor(ctx["db_session"], user=user, today=business_date(datetime.now(UTC)))


def _zone(ctx, cell):
    import json

    from sqlalchemy import text

    raw = ctx["db_session"].scalar(
        text(
            """SELECT ST_AsGeoJSON(ST_Buffer(ST_Intersection(g.geom, t.geom), -0.0005), 7)
               FROM grid_cell g JOIN area t ON t.code = left(g.village_code, 9)
                 AND t.valid_to IS NULL WHERE g.code = :c AND g.valid_to IS NULL"""
        ),
        {"c": cell},
    )
    return {**json.loads(raw), "crs": "wgs84"}


def _item_body(ctx, where):
    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    return {
        "township_code": cell[:9],
        "kind": "project",
        "title": "村道拓宽",
        "subject": "拓宽村道",
        "decision_maker": "镇党委会议",
        "key_areas": ["征地拆迁"],
        "geometry": _zone(ctx, cell),
    }


def _signal_body(ctx, where):
    import uuid
    from datetime import UTC, datetime, timedelta

    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    x, y = point_in(ctx["db_session"], cell)
    return {
        "client_id": str(uuid.uuid4()),
        "location": {"lon": x, "lat": y, "crs": "wgs84"},
        "key_area": "征地拆迁",
        "description": "施工占道，村民有意见",
        "observed_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }


def _fresh_signal(ctx, where):
    from datetime import UTC, datetime

    from api.disputes import settings
    from api.schemas.risks import SignalIn
    from mediation.risks import signals

    who = "grid_worker" if where == "in" else "gw_out"
    s, _ = signals.record_signal(
        ctx["db_session"],
        actor=_risk_actor(ctx, who),
        data=SignalIn().load(_signal_body(ctx, where)),
        now=datetime.now(UTC),
        settings=settings(),
    )
    return s


def _fresh_case(ctx, where):
    from datetime import UTC, datetime

    from api.disputes import settings, store
    from api.schemas.disputes import DisputeIn
    from mediation.disputes.registration import register_dispute
    from mediation.pii import vault_for
    from tests.factories import dispute_payload

    who = "grid_worker" if where == "in" else "gw_out"
    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    d, _, _ = register_dispute(
        ctx["db_session"],
        actor=_risk_actor(ctx, who),
        data=DisputeIn().load(dispute_payload(ctx["db_session"], cell)),
        photos=[],
        now=datetime.now(UTC),
        settings=settings(),
        vault=vault_for(ctx["app"].config["PII_KEY"]),
        store=store(),
    )
    return d


def _item_path(suffix="", body=None):
    def build(ctx, role, where):
        return f"/api/v1/risks/items/{ctx['items'][where].id}{suffix}", body

    return build


def _order_supervision(ctx, role, where):
    case = ctx["cases"][where]
    return f"/api/v1/disputes/{case.id}/supervision-orders", {
        "instruction": "请三日内化解并报告",
        "due_on": "2999-01-01",
    }


def _answer(ctx, role, where):
    from datetime import UTC, datetime

    from mediation.channels.models import SupervisionOrder

    areas = {
        "village_admin": ctx["village"],
        "center_staff": ctx["village"][:9],
        "county_admin": COUNTY_CODE,
    }
    unit_role = role if role in areas else "center_staff"
    area = areas[unit_role] if where == "in" else ctx["other_village"]
    o = SupervisionOrder(
        dispute_id=ctx["cases"]["in"].id,
        kind="listed",
        instruction="督办",
        due_on=datetime.now(UTC).date(),
        unit_role=unit_role,
        unit_area=area,
        ordered_by=ctx["users"]["leader"].id,
        ordered_at=datetime.now(UTC),
    )
    ctx["db_session"].add(o)
    ctx["db_session"].flush()
    return f"/api/v1/supervision-orders/{o.id}/answer", {"answer": "已约谈双方，正在调解"}


def _progress(ctx, role, where):
    from mediation.disputes.models import Dispute

    case = ctx["db_session"].get(Dispute, ctx["cases"][where].id)
    case.risk_level, case.leader_id = "red", ctx["users"]["leader"].id
    ctx["db_session"].flush()
    return f"/api/v1/disputes/{case.id}/leader-progress", {"note": "已走访双方"}


CHANNEL_RULES: dict[tuple[str, str], Rule] = {
    ("partner_api.Orders", "POST"): Rule(PARTNER_SIGNED, 401, _order),
    ("partner_api.ReferralResult", "POST"): Rule(PARTNER_SIGNED, 401, _partner_result),
    ("partners.Partners", "GET"): Rule(COUNTY_ONLY, 200, _p("/api/v1/partners")),
    ("partners.Partners", "POST"): Rule(COUNTY_ONLY, 201, _new_partner, outside_ok=frozenset()),
    ("partners.Credentials", "POST"): Rule(
        COUNTY_ONLY, 201, _partner_path("/api/v1/partners/{id}/credentials"), outside_ok=frozenset()
    ),
    ("partners.Revoke", "POST"): Rule(
        COUNTY_ONLY,
        200,
        _partner_path("/api/v1/partners/credentials/{key}/revoke"),
        outside_ok=frozenset(),
    ),
    ("partners.Calls", "GET"): Rule(
        COUNTY_ONLY, 200, _partner_path("/api/v1/partners/{id}/calls"), outside_ok=frozenset()
    ),
    ("channels.Bodies", "GET"): Rule(BODY_VIEWERS, 200, _p("/api/v1/mediation-bodies")),
    ("channels.Bodies", "POST"): Rule(COUNTY_ONLY, 201, _new_body, outside_ok=frozenset()),
    ("channels.Dispatches", "POST"): Rule(
        frozenset({"center_staff", "county_admin"}), 201, _dispatch, outside_ok=COUNTY_ONLY
    ),
    ("channels.DispatchList", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/dispatches")),
    ("channels.AcceptDispatch", "POST"): Rule(
        ASSIGNEES, 200, _decide_dispatch("accept"), outside_ok=frozenset()
    ),
    ("channels.ReturnDispatch", "POST"): Rule(
        ASSIGNEES, 200, _decide_dispatch("return"), outside_ok=frozenset()
    ),
    ("channels.SupervisionOrders", "POST"): Rule(
        frozenset({"leader", "county_admin"}), 201, _order_supervision, outside_ok=COUNTY_ONLY
    ),
    ("channels.SupervisionList", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/supervision-orders")),
    ("channels.AnswerSupervision", "POST"): Rule(UNITS, 200, _answer, outside_ok=frozenset()),
    ("channels.LeaderProgress", "POST"): Rule(
        frozenset({"leader"}), 201, _progress, outside_ok=frozenset()
    ),
    ("channels.Referrals", "GET"): Rule(CASE_ROLES, 200, _p("/api/v1/referrals")),
    ("channels.CasePanel", "GET"): Rule(
        CASE_ROLES, 200, _case("/channel"), outside_ok=frozenset({"county_admin"})
    ),
}
RULES.update(CHANNEL_RULES)


def _post_item(ctx, role, where):
    return "/api/v1/risks/items", _item_body(ctx, where)


def _link(ctx, role, where):
    item, case = ctx["items"][where], ctx["cases"][where]
    return f"/api/v1/risks/items/{item.id}/links", {"dispute_id": str(case.id)}


def _post_signal(ctx, role, where):
    return "/api/v1/risks/signals", _signal_body(ctx, where)


def _signal_path(suffix="", body=None, fresh=False):
    def build(ctx, role, where):
        s = _fresh_signal(ctx, where) if fresh else ctx["signals"][where]
        return f"/api/v1/risks/signals/{s.id}{suffix}", body

    return build


def _convert(ctx, role, where):
    with ctx["app"].test_request_context():
        s, d = _fresh_signal(ctx, where), _fresh_case(ctx, where)
    return f"/api/v1/risks/signals/{s.id}/convert", {"dispute_id": str(d.id)}


def _attach(ctx, role, where):
    s = _fresh_signal(ctx, where)
    return f"/api/v1/risks/signals/{s.id}/attach", {"item_id": ctx["items"][where].id}


def _meeting_body(ctx, where, responsible_id=None):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    body = {
        "township_code": TOWNSHIP if where == "in" else OTHER_TOWNSHIP,
        "kind": "routine",
        "title": "例行研判",
        "held_at": (now - timedelta(hours=1)).isoformat(),
        "summary": "研判本周矛盾纠纷和风险隐患",
    }
    if responsible_id:
        body["decisions"] = [
            {
                "content": "落实化解措施",
                "responsible_id": responsible_id,
                "due_on": (now + timedelta(days=3)).date().isoformat(),
            }
        ]
    return body


def _post_meeting(ctx, role, where):
    return "/api/v1/risks/meetings", _meeting_body(ctx, where)


def _meeting_path(ctx, role, where):
    return f"/api/v1/risks/meetings/{ctx['meetings'][where].id}", None


def _complete(ctx, role, where):
    """A fresh decision whose person responsible is this role's user (inside), or the other
    township's grid worker (outside)."""
    from datetime import UTC, datetime

    from api.schemas.risks import MeetingIn
    from mediation.risks import meetings
    from mediation.risks.models import MeetingDecision

    user = ctx["users"][role] if where == "in" else ctx["targets"]["gw_out"]
    recorder = _risk_actor(ctx, "center_staff" if where == "in" else "county_admin")
    if role == "admin":
        user = ctx["users"]["center_staff"] if where == "in" else user
    m = meetings.record_meeting(
        ctx["db_session"],
        actor=recorder,
        data=MeetingIn().load(_meeting_body(ctx, where, responsible_id=user.id)),
        now=datetime.now(UTC),
    )
    d = ctx["db_session"].query(MeetingDecision).filter_by(meeting_id=m.id).one()
    return f"/api/v1/risks/decisions/{d.id}/complete", {"note": "已落实"}


def _risks(app, db_session, c):
    """An assessed, decided item, an open signal and a meeting in each township."""
    from datetime import UTC, datetime

    from api.disputes import settings
    from api.schemas.risks import ItemIn, MeetingIn
    from mediation.risks import meetings, register

    now = datetime.now(UTC)
    items, sigs, meets = {}, {}, {}
    with app.test_request_context():
        for where in ("in", "out"):
            actor = _risk_actor(c, "center_staff" if where == "in" else "county_admin")
            item = register.register_item(
                db_session, actor=actor, data=ItemIn().load(_item_body(c, where)), now=now
            )
            register.assess_item(
                db_session,
                actor=actor,
                item_id=item.id,
                data={"rating": "low", "risk_points": ["个别群众有意见"]},
                now=now,
                settings=settings(),
            )
            register.decide_item(
                db_session, actor=actor, item_id=item.id, data={"decision": "proceed"}, now=now
            )
            items[where] = item
            sigs[where] = _fresh_signal(c, where)
            meets[where] = meetings.record_meeting(
                db_session, actor=actor, data=MeetingIn().load(_meeting_body(c, where)), now=now
            )
    return items, sigs, meets


RULES.update(
    {
        ("risks.Items", "GET"): Rule(RISK_READERS, 200, _p("/api/v1/risks/items")),
        ("risks.Items", "POST"): Rule(
            RISK_REGISTRARS, 201, _post_item, outside_ok=COUNTY_ONLY, outside_status=422
        ),
        ("risks.ItemDetail", "GET"): Rule(RISK_READERS, 200, _item_path(), outside_ok=COUNTY_ONLY),
        ("risks.ItemAssessment", "POST"): Rule(
            RISK_REGISTRARS,
            200,
            _item_path("/assessment", {"rating": "low", "risk_points": ["群众有意见"]}),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.ItemDecision", "POST"): Rule(
            RISK_REGISTRARS,
            200,
            _item_path("/decision", {"decision": "proceed"}),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.ItemChecks", "POST"): Rule(
            RISK_REGISTRARS,
            201,
            _item_path("/checks", {"result": "on_track", "note": "措施落实"}),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.ItemOffers", "GET"): Rule(
            RISK_REGISTRARS | {"leader"}, 200, _item_path("/offers"), outside_ok=COUNTY_ONLY
        ),
        ("risks.ItemLinks", "POST"): Rule(RISK_REGISTRARS, 200, _link, outside_ok=COUNTY_ONLY),
        ("risks.Signals", "GET"): Rule(RISK_READERS, 200, _p("/api/v1/risks/signals")),
        ("risks.Signals", "POST"): Rule(
            SIGNAL_RECORDERS, 201, _post_signal, outside_ok=frozenset(), outside_status=422
        ),
        ("risks.SignalDetail", "GET"): Rule(
            RISK_READERS, 200, _signal_path(), outside_ok=COUNTY_ONLY
        ),
        ("risks.SignalAssessment", "POST"): Rule(
            SIGNAL_WRITERS,
            200,
            _signal_path("/assessment", {"likelihood": 2, "severity": 3}),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.SignalFollowUps", "POST"): Rule(
            SIGNAL_WRITERS,
            200,
            _signal_path("/follow-ups", {"note": "已走访"}),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.SignalClose", "POST"): Rule(
            SIGNAL_WRITERS,
            200,
            _signal_path("/close", {"note": "隐患已消除"}, fresh=True),
            outside_ok=COUNTY_ONLY,
        ),
        ("risks.SignalConvert", "POST"): Rule(
            SIGNAL_WRITERS, 200, _convert, outside_ok=COUNTY_ONLY
        ),
        ("risks.SignalAttach", "POST"): Rule(SIGNAL_WRITERS, 200, _attach, outside_ok=COUNTY_ONLY),
        ("risks.Meetings", "GET"): Rule(MEETING_READERS, 200, _p("/api/v1/risks/meetings")),
        ("risks.Meetings", "POST"): Rule(
            RISK_REGISTRARS, 201, _post_meeting, outside_ok=COUNTY_ONLY, outside_status=422
        ),
        ("risks.MeetingDetail", "GET"): Rule(
            MEETING_READERS, 200, _meeting_path, outside_ok=COUNTY_ONLY
        ),
        ("risks.DecisionComplete", "POST"): Rule(
            RISK_READERS, 200, _complete, outside_ok=COUNTY_ONLY
        ),
    }
)


def routes(app) -> set[tuple[str, str]]:
    """(endpoint, method) for every route of the app."""
    out = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add((rule.endpoint, method))
    return out


def test_every_route_has_a_rule(app):
    from tests.console_matrix import CONSOLE_RULES  # the console's pages: tests/test_console.py

    known = set(RULES) | set(CONSOLE_RULES)
    missing = routes(app) - known
    assert not missing, f"routes without an authorisation rule in this test: {sorted(missing)}"
    stale = known - routes(app)
    assert not stale, f"rules for routes that no longer exist: {sorted(stale)}"


def test_every_view_method_declares_a_policy(app):
    from api.auth import PUBLIC_BLUEPRINTS, PUBLIC_ENDPOINTS, policy_for

    for endpoint, method in routes(app):
        if endpoint in PUBLIC_ENDPOINTS or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS:
            continue
        assert policy_for(app.view_functions[endpoint], method) is not None, (endpoint, method)


@pytest.fixture
def ctx(app, db_session):
    c = role_users(app, db_session)
    c["db_session"] = db_session
    c["cases"], c["attachments"] = _cases(app, db_session, c)
    c["rounds"], c["campaigns"] = _screening(app, db_session, c)
    c["app"] = app
    c["items"], c["signals"], c["meetings"] = _risks(app, db_session, c)
    c["points"] = {
        "in": point_in(db_session, c["cells"][0]),
        "out": point_in(db_session, c["other_cells"][0]),
    }
    return c


def _cases(app, db_session, c):
    """One case inside the users' village and one in the other township, each with a photo."""
    from datetime import UTC, datetime

    from api.disputes import settings, store
    from core.clock import business_date
    from mediation.attachments import PHOTO_TYPES, check
    from mediation.disputes.files import add_attachment
    from mediation.disputes.registration import register_dispute
    from mediation.pii import vault_for
    from mediation.users.actor import load_actor
    from tests.factories import dispute_payload

    cases, atts = {}, {}
    now = datetime.now(UTC)
    with app.test_request_context():
        for where, user, cell in (
            ("in", c["users"]["grid_worker"], c["cells"][0]),
            ("out", c["targets"]["gw_out"], c["other_cells"][0]),
        ):
            actor = load_actor(db_session, user=user, today=business_date(now))
            from api.schemas.disputes import DisputeIn

            data = DisputeIn().load(dispute_payload(db_session, cell, description=f"case {where}"))
            case, _, _ = register_dispute(
                db_session,
                actor=actor,
                data=data,
                photos=[],
                now=now,
                settings=settings(),
                vault=vault_for(app.config["PII_KEY"]),
                store=store(),
            )
            png = check(
                b"\x89PNG\r\n\x1a\n" + where.encode() * 20,
                filename="p.png",
                allowed=PHOTO_TYPES,
                max_bytes=10**6,
                field="file",
            )
            atts[where], _ = add_attachment(
                db_session,
                actor=actor,
                dispute_id=case.id,
                checked=png,
                kind="photo",
                now=now,
                store=store(),
            )
            cases[where] = case
    return cases, atts


def _screening(app, db_session, c):
    """A zero-report round in the users' village and one in the other township; this month's
    routine campaigns of both townships."""
    from datetime import UTC, datetime

    from api.schemas.screening import RoundIn
    from api.screening import store
    from core.clock import business_date
    from mediation.screening import campaigns as screening_campaigns
    from mediation.screening import rounds as screening_rounds
    from mediation.screening.models import ScreeningCampaign
    from mediation.users.actor import load_actor
    from tests.factories import OTHER_TOWNSHIP, TOWNSHIP

    now = datetime.now(UTC)
    rounds = {}
    for where, user, cell in (
        ("in", c["users"]["grid_worker"], c["cells"][0]),
        ("out", c["targets"]["gw_out"], c["other_cells"][0]),
    ):
        actor = load_actor(db_session, user=user, today=business_date(now))
        rounds[where], _ = screening_rounds.record_round(
            db_session,
            actor=actor,
            data=RoundIn().load(_round_payload(cell)),
            photos=[],
            now=now,
            store=store(),
        )
    screening_campaigns.ensure_monthly_campaigns(db_session, now=now)
    month = business_date(now).strftime("%Y-%m")
    campaigns = {
        where: db_session.query(ScreeningCampaign)
        .filter_by(kind="routine", month=month, area_code=code)
        .one()
        for where, code in (("in", TOWNSHIP), ("out", OTHER_TOWNSHIP))
    }
    return rounds, campaigns


def _call(client, method, path, body, headers):
    if body and "__multipart__" in body:
        return client.open(
            path,
            method=method,
            data=body["__multipart__"],
            headers=headers,
            content_type="multipart/form-data",
        )
    return client.open(path, method=method, json=body, headers=headers)


def _expected(rule: Rule, role: str | None, where: str) -> int:
    if rule.allowed == "public":
        return rule.ok
    if rule.allowed == PARTNER_SIGNED:
        return 401  # without a partner's signature (tests/test_channels.py signs them)
    if role is None:
        return 401
    if rule.allowed == "refresh":
        return rule.ok
    if role not in rule.allowed:
        return 403
    if where == "out" and role not in rule.outside_ok:
        return rule.outside_status
    return rule.ok


@pytest.mark.parametrize("key", sorted(RULES), ids=lambda k: f"{k[1]} {k[0]}")
def test_matrix(app, client, db_session: Session, ctx, key):
    endpoint, method = key
    rule = RULES[key]
    failures = []
    for role in [None, *ROLES]:
        for where in ("in", "out"):
            headers = {}
            if role is not None:
                tokens = client.post(
                    "/api/v1/auth/login",
                    json={"username": ctx["users"][role].username, "password": PASSWORD},
                ).get_json()
                token = tokens["refresh_token" if rule.allowed == "refresh" else "access_token"]
                headers = bearer(token)
            path, body = rule.build(ctx, role or "admin", where)
            r = _call(client, method, path, body, headers)
            want = _expected(rule, role, where)
            if r.status_code != want:
                failures.append(
                    (role, where, path, want, r.status_code, r.get_data(as_text=True)[:200])
                )
            if r.status_code >= 400 and r.is_json:
                assert {"code", "message"} <= set(r.get_json()), r.get_json()
    assert not failures, "\n".join(map(str, failures))
