"""The console's routes in the authorisation matrix: every route × every role × inside/outside.

`tests/test_authorization_matrix.py` counts these as known routes; `tests/test_console.py` runs
them through a logged-in console session (cookie + CSRF token) instead of a bearer token.
Outcomes differ from the API's only in form: an anonymous GET is redirected to the login page
(302), an anonymous POST is refused (401), a successful form post redirects (302); a POST
without its CSRF token is refused (400) even when logged in (tests/test_console.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
CASE_ROLES = ALL - {"admin"}
REGISTRARS = CASE_ROLES - {"leader"}
VIEWERS = frozenset({"village_admin", "center_staff", "leader", "county_admin"})
COUNTY_ONLY = frozenset({"county_admin"})


@dataclass
class ConsoleRule:
    allowed: frozenset | str  # roles, or "public"
    ok: int
    build: callable  # (ctx, role, where) -> (path, form dict or None)
    outside_ok: frozenset = field(default_factory=lambda: ALL)
    outside_status: int = 404


def _p(path, form=None):
    return lambda ctx, role, where: (path, form)


def _case(suffix="", form=None):
    def build(ctx, role, where):
        return f"/console/cases/{ctx['cases'][where].id}{suffix}", form

    return build


def _action(ctx, role, where):
    from mediation.disputes.models import Dispute

    case = ctx["cases"][where]
    version = ctx["db_session"].get(Dispute, case.id).version
    return (
        f"/console/cases/{case.id}/actions/assess_risk",
        {"likelihood": "2", "severity": "2", "expected_version": str(version)},
    )


def _reveal(ctx, role, where):
    case = ctx["cases"][where]
    return (
        f"/console/cases/{case.id}/parties/{case.parties[0].id}/reveal",
        {"field": "phone", "purpose": "电话回访当事人"},
    )


def _area(path):
    def build(ctx, role, where):
        code = ctx["village"] if where == "in" else ctx["other_village"]
        return f"/console/{path}?area={code}", None

    return build


def _report(suffix, form=None, status="draft"):
    def build(ctx, role, where):
        from tests.test_authorization_matrix import _report as api_report

        path, _ = api_report("", None, status=status)(ctx, role, where)
        report_id = path.rsplit("/", 1)[-1]
        return f"/console/reports/{report_id}{suffix}", form

    return build


def _ack(ctx, role, where):
    from tests.test_authorization_matrix import _ack as api_ack

    path, _ = api_ack(ctx, role, where)
    return path.replace("/api/v1/inbox/", "/console/inbox/"), {}


def _login(ctx, role, where):
    from tests.factories import PASSWORD

    return "/console/login", {"username": ctx["users"][role].username, "password": PASSWORD}


def _register(ctx, role, where):
    from tests.factories import point_in

    cell = ctx["cells"][0] if where == "in" else ctx["other_cells"][0]
    x, y = point_in(ctx["db_session"], cell)
    return "/console/register", {
        "lon": f"{x:.6f}",
        "lat": f"{y:.6f}",
        "occurred_at": "2026-11-30T09:30",
        "category": "02",
        "source": "party_application",
        "description": f"窗口登记 {role}-{where}",
        "party0_name": "王五",
        "party0_phone": "13800138000",
    }


CONSOLE_RULES: dict[tuple[str, str], ConsoleRule] = {
    ("console_web.asset", "GET"): ConsoleRule("public", 200, _p("/console/static/console.css")),
    ("console_web.login", "GET"): ConsoleRule("public", 200, _p("/console/login")),
    ("console_web.login", "POST"): ConsoleRule("public", 302, _login),
    ("console_web.logout", "POST"): ConsoleRule(ALL, 302, _p("/console/logout", {})),
    ("console_web.home", "GET"): ConsoleRule(ALL, 302, _p("/console/")),
    ("console_web.queue", "GET"): ConsoleRule(CASE_ROLES, 200, _p("/console/queue")),
    ("console_web.cases", "GET"): ConsoleRule(CASE_ROLES, 200, _p("/console/cases")),
    ("console_web.channels", "GET"): ConsoleRule(CASE_ROLES, 200, _p("/console/channels")),
    ("console_web.case", "GET"): ConsoleRule(CASE_ROLES, 200, _case(), outside_ok=COUNTY_ONLY),
    ("console_web.case_action", "POST"): ConsoleRule(
        CASE_ROLES, 302, _action, outside_ok=COUNTY_ONLY
    ),
    ("console_web.reveal", "POST"): ConsoleRule(CASE_ROLES, 200, _reveal, outside_ok=COUNTY_ONLY),
    ("console_web.dashboard", "GET"): ConsoleRule(
        VIEWERS, 200, _area("dashboard"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.map", "GET"): ConsoleRule(VIEWERS, 200, _area("map"), outside_ok=COUNTY_ONLY),
    ("console_web.map_areas", "GET"): ConsoleRule(
        VIEWERS, 200, _area("map/areas.json"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.map_cases", "GET"): ConsoleRule(
        VIEWERS, 200, _area("map/cases.json"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.map_hotspots", "GET"): ConsoleRule(
        VIEWERS, 200, _area("map/hotspots.json"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.reports_page", "GET"): ConsoleRule(VIEWERS, 200, _p("/console/reports")),
    ("console_web.screening", "GET"): ConsoleRule(
        VIEWERS, 200, _area("screening"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.report_narrative", "POST"): ConsoleRule(
        frozenset({"village_admin"}),
        302,
        _report("/narrative", {"narrative": "本月入户排查三次"}),
        outside_ok=frozenset(),
    ),
    ("console_web.report_submit", "POST"): ConsoleRule(
        frozenset({"village_admin"}), 302, _report("/submit", {}), outside_ok=frozenset()
    ),
    ("console_web.report_correction", "POST"): ConsoleRule(
        frozenset({"village_admin"}),
        302,
        _report("/correction", {"reason": "补录一件纠纷"}, status="submitted"),
        outside_ok=frozenset(),
    ),
    ("console_web.report_export", "GET"): ConsoleRule(
        VIEWERS, 200, _report("/export.xlsx"), outside_ok=COUNTY_ONLY
    ),
    ("console_web.register", "GET"): ConsoleRule(REGISTRARS, 200, _p("/console/register")),
    ("console_web.register_post", "POST"): ConsoleRule(
        REGISTRARS,
        302,
        _register,
        outside_ok=frozenset({"grid_worker", "county_admin"}),
        outside_status=422,
    ),
    ("console_web.inbox", "GET"): ConsoleRule(ALL, 200, _p("/console/inbox")),
    ("console_web.inbox_ack", "POST"): ConsoleRule(ALL, 302, _ack, outside_ok=frozenset()),
}


def expected(rule: ConsoleRule, role: str | None, where: str, method: str) -> int:
    if rule.allowed == "public":
        return rule.ok
    if role is None:
        return 302 if method == "GET" else 401
    if role not in rule.allowed:
        return 403
    if where == "out" and role not in rule.outside_ok:
        return rule.outside_status
    return rule.ok


CONSOLE_RULES.update(
    {  # issue 21: the risk pages
        ("console_web.risks", "GET"): ConsoleRule(
            VIEWERS, 200, _area("risks"), outside_ok=COUNTY_ONLY
        ),
        ("console_web.risk_signals", "GET"): ConsoleRule(
            VIEWERS, 200, _area("risks/signals"), outside_ok=COUNTY_ONLY
        ),
        ("console_web.risk_item", "GET"): ConsoleRule(
            VIEWERS,
            200,
            lambda ctx, role, where: (f"/console/risks/items/{ctx['items'][where].id}", None),
            outside_ok=COUNTY_ONLY,
        ),
        ("console_web.risk_item_link", "POST"): ConsoleRule(
            frozenset({"center_staff", "county_admin"}),
            302,
            lambda ctx, role, where: (
                f"/console/risks/items/{ctx['items'][where].id}/links",
                {"dispute_id": str(ctx["cases"][where].id)},
            ),
            outside_ok=COUNTY_ONLY,
        ),
    }
)
