"""Every endpoint × every role × inside/outside the user's area, generated from the URL map.

A route that is not in RULES fails `test_every_route_has_a_rule`, so a new endpoint cannot ship
without its authorisation being stated and tested. The whole test runs in one transaction
rolled back at the end of the test; requests are built so that their order does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, point_in, role_users

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

        from mediation.reports import metrics, service
        from mediation.reports.models import MonthlyReport

        n = next(_MONTHS)
        now = datetime.now(UTC)
        r = MonthlyReport(
            area_code=ctx["village"] if where == "in" else ctx["other_village"],
            # past months: a report is refreshed/submitted only once its period is over (M3)
            month=f"{2000 + n // 12:04d}-{n % 12 + 1:02d}",
            version=1,
            status=status,
            figures=service.snapshot(
                metrics.empty_row(),
                service.empty_screening(),
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
