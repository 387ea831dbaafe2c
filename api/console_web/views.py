"""The console's URL table. Every page calls the use cases the API's views call."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, datetime
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
)
from flask import url_for as _url_for
from flask_wtf.csrf import generate_csrf
from marshmallow import ValidationError

import api.maps as maps
from api.auth import allow, request_now
from api.console import (
    TOWNSHIP_VIEWERS,
    VIEWERS,
    XLSX,
    dashboard_figures,
    log_export,
    report_settings,
)
from api.console_web.core import STATIC, bp, console_actor, error_page, gzip_json
from api.console_web.forms import fields_of, list_query, payload_from_form, walk_in_payload
from api.disputes import CASE_ROLES, REGISTRARS, act, register, reveal_party
from api.errors import flatten, http_status
from api.schemas.disputes import WalkInIn
from api.security import limited
from api.sessions import sign_in
from core.clock import BUSINESS_TZ
from core.db import db
from core.errors import DomainError, NotFound, ValidationFailed
from geo import pick
from geo.scope import AreaScope, sql_params
from mediation.channels import panel as channel_panel
from mediation.disputes import access, queries
from mediation.disputes import maps as layers
from mediation.disputes.available import available_actions, blocked_by_leader
from mediation.disputes.categories import category_labels, list_categories
from mediation.disputes.enums import (
    CATEGORIES,
    KEY_AREA_LABELS,
    LEVEL_LABELS,
    PARTY_ROLES,
    REFERRAL_OUTCOMES,
    REFERRAL_TARGETS,
    RISK_LABELS,
    SOURCES,
    STATUS_LABELS,
    VISIT_RESULTS,
)
from mediation.disputes.workflow import TRANSITIONS
from mediation.reminders import service as reminders
from mediation.reports import console, drafting, months, township_view, workbook
from mediation.reports import metrics as report_metrics
from mediation.screening import campaigns as screening_campaigns
from mediation.screening import coverage as screening_coverage
from mediation.screening.enums import CAMPAIGN_KINDS
from mediation.users import logins
from mediation.users.enums import (
    ADMIN,
    CENTER_STAFF,
    COUNTY_ADMIN,
    LEADER,
    MEDIATOR,
    REVEAL_ROLES,
    VILLAGE_ADMIN,
)
from mediation.users.models import User, UserRole

ANYONE = ()  # @allow() = every role
SIMPLIFY_M = {"village": 30.0, "cell": 8.0}
OPEN_ON_MAP = ["registered", "accepted", "mediating", "agreed", "follow_up", "reopened"]


def url_for(endpoint: str, **values) -> str:
    return _url_for(endpoint if "." in endpoint else f"console_web.{endpoint}", **values)


# ------------------------------------------------------------------ assets, login, logout


@bp.get("/static/<path:filename>", endpoint="asset")
@allow(public=True)
def asset(filename: str):
    """The console's own scripts, styles and the vendored libraries (with their licences)."""
    from flask import send_from_directory

    return send_from_directory(STATIC, filename, max_age=86400)


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return url_for("home")
    return target


def _failed_login(response) -> bool:
    return response.status_code in (401, 423)


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
@allow(public=True)
@limited("LOGIN_RATE_LIMIT", per="ip", deduct_when=_failed_login)
def login():
    """Log in with the same accounts and lockout as the API."""
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "")
    try:
        user, family = sign_in(username, request.form.get("password", ""), "综治中心工作台")
    except DomainError as e:
        db.session.commit()  # keep the failure count
        return _login_page(error=e.message, username=username), http_status(e)
    db.session.commit()
    _start_session(user.id, family.id)
    return redirect(_safe_next(request.form.get("next")))


def _login_page(**values) -> str:
    return render_template("console/login.html", next=request.form.get("next", ""), **values)


def _start_session(uid: int, family_id: int) -> None:
    session.clear()
    session.permanent = True
    session["uid"], session["fam"] = uid, family_id
    g.pop("csrf_token", None)
    generate_csrf()  # a fresh token for the new session


@bp.post("/logout", endpoint="logout")
@allow()
def logout():
    """End this console session (the token family is revoked in the database)."""
    logins.revoke_family(
        db.session, family_id=session.get("fam"), now=request_now(), reason="logout"
    )
    db.session.commit()
    session.clear()
    return redirect(url_for("login"))


@bp.get("/", endpoint="home")
@allow()
def home():
    """Each role's first page."""
    actor = console_actor()
    if actor.has(CENTER_STAFF):
        return redirect(url_for("queue"))
    if actor.has(LEADER, COUNTY_ADMIN):
        return redirect(url_for("dashboard"))
    if actor.has(VILLAGE_ADMIN):
        return redirect(url_for("reports_page"))
    if actor.has(*CASE_ROLES):
        return redirect(url_for("cases"))
    return redirect(url_for("inbox"))


# ------------------------------------------------------------------ queue and lists


def _my_level() -> str:
    actor = console_actor()
    if actor.has(COUNTY_ADMIN):
        return "county"
    if actor.has(CENTER_STAFF) or (actor.has(MEDIATOR) and _scope_len() == 9):
        return "township"
    return "village"


def _scope_len() -> int:
    codes = console_actor().case_scope.codes
    return min((len(c) for c in codes), default=12)


@bp.get("/queue", endpoint="queue")
@allow(*CASE_ROLES)
def queue():
    """New and escalated cases waiting for this level: accept, dispatch or send back."""
    actor, level = console_actor(), _my_level()
    lists = _queue_lists(actor, level, console.default_area(actor.case_scope), request_now())
    return render_template(
        "console/queue.html", **lists, level_label=LEVEL_LABELS.get(level, level)
    )


def _queue_lists(actor, level: str, area: str, now) -> dict[str, list[dict]]:
    """New cases at my level; for the supervising roles also escalations waiting for my level,
    open RED/ORANGE cases and overdue ones (the API's supervision lists)."""

    def supervised(kind: str, sort: str, limit: int) -> list[dict]:
        return list(
            console.supervision_rows(
                db.session,
                kind=kind,
                scope=actor.case_scope,
                area=area,
                sort=sort,
                now=now,
                limit=limit,
            )
        )

    escalations = []
    if actor.has(*VIEWERS) and len(area) < 15:
        escalations = [
            e
            for e in supervised("escalations", "waiting", 200)
            if e["to_level"] == LEVEL_LABELS.get(level)
        ]
    levels = [level] if level != "village" else ["village", "grid"]
    new = queries.list_disputes(
        db.session,
        actor=actor,
        filters={"status": ["registered"], "handling_level": levels},
        now=now,
        limit=100,
        cursor=None,
    )
    overdue, high_risk = [], []
    if actor.has(*VIEWERS):
        high_risk = supervised("high_risk", "risk", 50)
        overdue = supervised("overdue", "due", 20)
    return {
        "escalations": escalations,
        "new": new["items"],
        "overdue": overdue,
        "high_risk": high_risk,
    }


CASE_LABELS = {
    "statuses": STATUS_LABELS,
    "levels": LEVEL_LABELS,
    "risks": RISK_LABELS,
    "categories": CATEGORIES,
    "key_areas": KEY_AREA_LABELS,
}


@bp.get("/cases", endpoint="cases")
@allow(*CASE_ROLES)
def cases():
    """Cases of my area with filters, newest first, keyset paging (the API's list query)."""
    query, errors = list_query(request.args, limit=30)
    page = queries.list_disputes(db.session, actor=console_actor(), now=request_now(), **query)
    keep = [(k, v) for k, vs in request.args.lists() if k != "cursor" for v in vs if v]
    return render_template(
        "console/cases.html",
        page=page,
        errors=errors,
        chosen=request.args,
        keep=keep,
        **CASE_LABELS | {"categories": category_labels(db.session)},
    )


# ------------------------------------------------------------------ case file


def _leaders(dispute) -> dict[str, str]:
    """包案领导 who cover the case's township or county (for the assign-leader form)."""
    rows = db.session.execute(
        db.select(User.id, User.display_name, UserRole.area_code)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            UserRole.role == LEADER,
            User.is_active.is_(True),
            UserRole.area_code.in_([dispute.township_code, dispute.county_code]),
        )
        .order_by(User.display_name)
    ).all()
    return {str(r.id): r.display_name for r in rows}


def _case_page(
    dispute_id,
    *,
    status=200,
    open_action=None,
    errors=None,
    message=None,
    values=None,
    revealed=None,
):
    actor, now = console_actor(), request_now()
    case = queries.detail(db.session, actor=actor, dispute_id=dispute_id, now=now)
    dispute = access.get_dispute(db.session, actor=actor, dispute_id=dispute_id)
    leaders = _leaders(dispute)
    parties = {str(p.id): f"{PARTY_ROLES[p.role]} {p.name}" for p in dispute.parties}
    actions = [
        (t, fields_of(t, level=dispute.handling_level, leaders=leaders, parties=parties))
        for t in available_actions(actor, dispute)
    ]
    can_reveal = {f: actor.has(*roles) for f, roles in REVEAL_ROLES.items()}
    names = dict(
        db.session.execute(
            db.text("SELECT code, name FROM area WHERE code = ANY(:c) AND valid_to IS NULL"),
            {"c": [case["village_code"], case["township_code"]]},
        ).all()
    )
    body = render_template(
        "console/case.html",
        case=case,
        actions=actions,
        blocked=blocked_by_leader(actor, dispute),
        open_action=open_action,
        errors=errors or {},
        message=message,
        values=values or {},
        revealed=revealed,
        can_reveal=can_reveal,
        names=names,
        statuses=STATUS_LABELS,
        levels=LEVEL_LABELS,
        party_roles=PARTY_ROLES,
        visit_results=VISIT_RESULTS,
        action_labels={k: t.label for k, t in TRANSITIONS.items()},
        leaders=leaders,
        point=json.dumps(
            {
                "lon": case["location"]["lon"],
                "lat": case["location"]["lat"],
                "risk": case["risk_level"],
            }
            if "lon" in case["location"]
            else None
        ),
        channel=channel_panel.case_panel(db.session, actor=actor, dispute_id=dispute_id),
        referral_targets=REFERRAL_TARGETS,
        referral_outcomes=REFERRAL_OUTCOMES,
    )
    return body, status


@bp.get("/cases/<string:dispute_id>", endpoint="case")
@allow(*CASE_ROLES)
def case(dispute_id):
    """The case file: summary, parties (masked), records, timeline, the flow's actions."""
    return _case_page(dispute_id)


@bp.post("/cases/<string:dispute_id>/actions/<string:action>", endpoint="case_action")
@allow(*CASE_ROLES)
def case_action(dispute_id, action):
    """Take one step of the flow through `flow.act`; a refusal is shown beside its field."""
    t = _transition(action)
    payload, errors = payload_from_form(t, request.form)
    if errors:
        return _action_refused(dispute_id, action, 422, errors, "提交的内容有误，请检查标出的字段")
    try:
        with db.session.begin_nested():  # a refused move leaves the case as it was
            act(console_actor(), dispute_id, action, payload, payload.get("expected_version"))
    except NotFound:
        raise
    except DomainError as e:
        fields = dict(e.fields) or {"_action": [e.message]}
        return _action_refused(dispute_id, action, http_status(e), fields, e.message)
    db.session.commit()
    flash(f"已{t.label}", "ok")
    return redirect(url_for("case", dispute_id=dispute_id))


def _transition(action: str):
    t = TRANSITIONS.get(action)
    if t is None:
        raise NotFound("未知的操作", code="unknown_action")
    return t


def _action_refused(dispute_id, action: str, status: int, errors: dict, message: str):
    """The case page again, the action's form open with its errors and what was typed."""
    return _case_page(
        dispute_id,
        status=status,
        open_action=action,
        errors=errors,
        message=message,
        values=request.form.to_dict(),
    )


@bp.post("/cases/<string:dispute_id>/parties/<int:party_id>/reveal", endpoint="reveal")
@allow(*CASE_ROLES)
@limited("REVEAL_RATE_LIMIT")
def reveal(dispute_id, party_id):
    """Show a party's full ID number or phone once, with a purpose (written to the access log)."""
    field, purpose = request.form.get("field", ""), request.form.get("purpose", "")
    try:
        value = reveal_party(console_actor(), dispute_id, party_id, field, purpose)
    except NotFound:
        raise
    except DomainError as e:
        errors = {f"reveal_{party_id}": [e.message]}
        return _case_page(dispute_id, status=http_status(e), errors=errors, message=e.message)
    db.session.commit()
    revealed = {"party_id": party_id, "field": field, "value": value or "（未登记）"}
    return _case_page(dispute_id, revealed=revealed)


# ------------------------------------------------------------------ dashboard and map


def _area_arg() -> str:
    actor = console_actor()
    area = request.args.get("area") or console.default_area(actor.case_scope)
    console.check_area(db.session, scope=actor.case_scope, code=area)
    return area


def _date_arg(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("日期格式应为 YYYY-MM-DD", code="invalid_date", field=name) from None


@bp.get("/dashboard", endpoint="dashboard")
@allow(*VIEWERS)
def dashboard():
    """The Fengqiao measures with their definitions, trend, breakdowns, child areas (ECharts)."""
    area = _area_arg()
    data = dashboard_figures(console_actor().case_scope, area, _date_arg("from"), _date_arg("to"))
    rates = [(k, label, d) for k, label, _n, _d, d in report_metrics.RATES]
    return render_template(
        "console/dashboard.html", data=data, rates=rates, chart_json=_chart_json(data)
    )


def _chart_json(data: dict) -> str:
    """What the dashboard's charts draw."""
    return json.dumps(
        {
            "trend": data["trend"],
            "counts": data["counts"],
            "children": [
                {
                    "name": c["name"],
                    "code": c["code"],
                    "counts": c["counts"],
                    "measures": c["measures"],
                }
                for c in data["children"]
            ],
            "labels": {k: v["label"] for k, v in data["definitions"].items()},
        },
        ensure_ascii=False,
        default=str,
    )


@bp.get("/map", endpoint="map")
@allow(*VIEWERS)
def map_page():
    """Village (or cell) choropleth from the project's own polygons and case points."""
    area = _area_arg()
    info = console.check_area(db.session, scope=console_actor().case_scope, code=area)
    return render_template("console/map.html", area=info, config=_map_config(area))


def _map_config(area: str) -> str:
    """The map page's URLs and labels, for its script."""
    return json.dumps(
        {
            "areas": url_for("map_areas", area=area),
            "cases": url_for("map_cases", area=area),
            "hotspots": url_for("map_hotspots", area=area),
            "drill": url_for("map", area="__code__") if len(area) < 12 else "",
            "dashboard": url_for("dashboard", area="__code__"),
            "case_url": url_for("case", dispute_id="__id__"),
            "tiles": current_app.config.get("CONSOLE_TILE_URL") or "",
            "risk_labels": RISK_LABELS,
            "status_labels": STATUS_LABELS,
            "categories": CATEGORIES,
        },
        ensure_ascii=False,
    )


@bp.get("/map/areas.json", endpoint="map_areas")
@allow(*VIEWERS)
def map_areas():
    """Choropleth layer (WGS-84 — the polygons are the base map), simplified and gzip'd."""
    area = _area_arg()
    parent, level = maps.area_level(area[:12], None)
    return gzip_json(
        layers.area_figures_layer(
            db.session,
            parent=parent,
            level=level,
            now=request_now(),
            system="wgs84",
            simplify_m=SIMPLIFY_M[level],
        )
    )


@bp.get("/map/cases.json", endpoint="map_cases")
@allow(*VIEWERS)
def map_cases():
    """Open case points of the area (no personal data)."""
    return gzip_json(
        maps.case_points(
            db.session,
            scope=console_actor().case_scope,
            area=_area_arg(),
            bbox=None,
            statuses=OPEN_ON_MAP,
            risks=None,
            system="wgs84",
            limit=2000,
            now=request_now(),
        )
    )


@bp.get("/map/hotspots.json", endpoint="map_hotspots")
@allow(*VIEWERS)
def map_hotspots():
    """Hot spots of the last 30 days (the API's defaults: ≥ 3 cases within 200 m)."""
    return gzip_json(
        maps.hot_spots(
            db.session, scope=console_actor().case_scope, area=_area_arg(), now=request_now()
        )
    )


# ------------------------------------------------------------------ monthly report


def _month_arg() -> str:
    month = request.args.get("month") or months.report_month_of(request_now())
    return months.check_month(month)


def _village_codes() -> list[str]:
    return sorted(c for c in console_actor().scope_for(VILLAGE_ADMIN).codes if len(c) == 12)


@bp.get("/reports", endpoint="reports_page")
@allow(*VIEWERS)
def reports_page():
    """Village heads: this month's report of their village; township: who submitted, who is late."""
    actor, now, month = console_actor(), request_now(), _month_arg()
    villages = _village_reports(actor, month, now)
    township, late = _township_reports(actor, month, now)
    db.session.commit()  # the drafts made above, if any
    return render_template(
        "console/reports.html",
        month=month,
        due=months.due_at(month, report_settings()),
        villages=villages,
        township=township,
        late=late,
        columns=[(k, label) for k, label, _d in report_metrics.COUNTS][:12],
        rates=[(k, label) for k, label, _n, _d, _x in report_metrics.RATES],
        now=now,
    )


def _village_reports(actor, month: str, now) -> list[dict]:
    """The versions of my villages' reports of the month (the draft made when there is none)."""
    villages = []
    for code in _village_codes():
        found = drafting.versions(db.session, actor=actor, area_code=code, month=month)
        if not found:
            drafting.generate_drafts(
                db.session, month=month, now=now, settings=report_settings(), within=code
            )
            found = drafting.versions(db.session, actor=actor, area_code=code, month=month)
        name = db.session.scalar(
            db.text("SELECT name FROM area WHERE code = :c AND valid_to IS NULL"), {"c": code}
        )
        villages.append({"code": code, "name": name, "versions": found})
    return villages


def _township_reports(actor, month: str, now) -> tuple[dict | None, list]:
    """(the township's compiled report, the villages late with theirs) for township viewers."""
    if not actor.has(*TOWNSHIP_VIEWERS):
        return None, []
    area = console.default_area(actor.scope_for(*TOWNSHIP_VIEWERS))
    late = township_view.late_villages(
        db.session,
        scope_clause_params=sql_params(AreaScope(frozenset({area}))),
        month=month,
        now=now,
        settings=report_settings(),
    )
    if len(area) != 9:
        return None, late
    township = township_view.compile_township(
        db.session, actor=actor, township=area, month=month, now=now, settings=report_settings()
    )
    return township, late


def _report_redirect(report_id: int, month: str):
    return redirect(url_for("reports_page", month=month) + f"#report-{report_id}")


@bp.post("/reports/<int:report_id>/narrative", endpoint="report_narrative")
@allow(VILLAGE_ADMIN)
def report_narrative(report_id):
    """Save 工作开展情况 and remarks of a draft (refused once submitted)."""
    r = drafting.edit_draft(
        db.session,
        actor=console_actor(),
        report_id=report_id,
        narrative=request.form.get("narrative", "").strip(),
        remarks=request.form.get("remarks", "").strip() or None,
    )
    db.session.commit()
    flash("已保存工作开展情况", "ok")
    return _report_redirect(r.id, r.month)


@bp.post("/reports/<int:report_id>/submit", endpoint="report_submit")
@allow(VILLAGE_ADMIN)
def report_submit(report_id):
    """Submit the reviewed draft: it becomes a frozen snapshot."""
    generated = request.form.get("generated_at")
    r = drafting.submit(
        db.session,
        actor=console_actor(),
        report_id=report_id,
        now=request_now(),
        generated_at=datetime.fromisoformat(generated) if generated else None,
    )
    db.session.commit()
    flash("月报已报送", "ok")
    return _report_redirect(r.id, r.month)


@bp.post("/reports/<int:report_id>/correction", endpoint="report_correction")
@allow(VILLAGE_ADMIN)
def report_correction(report_id):
    """Open a correction of a submitted report (a new version; the old one is kept)."""
    r = drafting.correct(
        db.session,
        actor=console_actor(),
        report_id=report_id,
        reason=request.form.get("reason", ""),
        now=request_now(),
        settings=report_settings(),
    )
    db.session.commit()
    flash(f"已新建更正版本（第 {r.version} 版）", "ok")
    return _report_redirect(r.id, r.month)


@bp.get("/reports/<int:report_id>/export.xlsx", endpoint="report_export")
@allow(*VIEWERS)
def report_export(report_id):
    """Download one version as XLSX (logged as an export, like the API)."""
    actor = console_actor()
    report = drafting.get_report(db.session, actor=actor, report_id=report_id)
    compiled = township_view.compile_version(db.session, report=report)
    log_export("report:village", str(report.id), "xlsx", None, actor=actor)  # commits
    name = f"{compiled['township']['name']}-{compiled['month']}-矛盾纠纷排查化解月报.xlsx"
    data = io.BytesIO(workbook.report_workbook(compiled))
    return send_file(data, mimetype=XLSX, as_attachment=True, download_name=name)


# ------------------------------------------------------------------ inbox


@bp.get("/inbox", endpoint="inbox")
@allow()
def inbox():
    """Reminders and 督办 addressed to me, newest first."""
    actor = console_actor()
    items = reminders.inbox(db.session, actor=actor, limit=100, before_id=None, unread_only=False)
    return render_template("console/inbox.html", items=items, is_admin=actor.has(ADMIN))


@bp.post("/inbox/<int(max=9223372036854775807):reminder_id>/ack", endpoint="inbox_ack")
@allow()
def inbox_ack(reminder_id):
    """Mark one reminder as read."""
    reminders.acknowledge(
        db.session, actor=console_actor(), reminder_id=reminder_id, now=request_now()
    )
    db.session.commit()
    return redirect(url_for("inbox"))


def business_today() -> date:
    return request_now().astimezone(BUSINESS_TZ).date()


__all__ = ["error_page"]


# ------------------------------------------------------------------ walk-in registration


def _walk_in_form(errors=None, values=None, status=200):
    actor = console_actor()
    area = console.default_area(actor.case_scope)
    return render_template(
        "console/register.html",
        villages=pick.villages_under(db.session, area[:12]),
        area=area,
        categories={c.code: c.label for c in list_categories(db.session, include_retired=False)},
        key_areas=KEY_AREA_LABELS,
        sources=SOURCES,
        party_roles=PARTY_ROLES,
        errors=errors or {},
        values=values or {},
        client_id=(values or {}).get("client_id") or str(uuid.uuid4()),
        config=json.dumps({"areas": url_for("map_areas", area=area)}),
    ), status


@bp.get("/register", endpoint="register")
@allow(*REGISTRARS)
def register_form():
    """One-stop 受理 at the centre's window: a point picked on the map or a village chosen."""
    return _walk_in_form()


@bp.post("/register", endpoint="register_post")
@allow(*REGISTRARS)
def register_post():
    """Register the walk-in dispute through the API's registration use case."""
    values = request.form.to_dict()
    location, errors = _walk_in_location(request.form)
    if errors:
        return _walk_in_form(errors, values, 422)
    try:
        data = WalkInIn().load(walk_in_payload(request.form, location))
        with db.session.begin_nested():
            done = register(console_actor(), data, photos=[])
    except ValidationError as e:
        return _walk_in_form(flatten(e.messages), values, 422)
    except DomainError as e:
        return _walk_in_form(dict(e.fields) or {"location": [e.message]}, values, http_status(e))
    db.session.commit()
    flash(f"已登记，案件编号 {done.dispute.case_number}", "ok")
    return redirect(url_for("case", dispute_id=done.dispute.id))


def _walk_in_location(f) -> tuple[dict | None, dict[str, list[str]]]:
    """(location, errors) of the walk-in form: the point picked on the map, else none — the
    village chosen stands for the place (the case is "not located", no point is made up)."""
    lon, lat = f.get("lon", "").strip(), f.get("lat", "").strip()
    if lon and lat:
        return {"lon": lon, "lat": lat, "crs": "wgs84"}, {}
    if not f.get("village"):
        return None, {"location": ["请在地图上点选发生地点，或选择村（社区）"]}
    if pick.current_village(db.session, f["village"]) is None or not (
        console_actor().map_scope.contains_code(f["village"])
    ):
        return None, {"village": ["村（社区）不存在或不在您的管辖范围内"]}
    return None, {}


# ------------------------------------------------------------------ screening coverage


def _cell_state(f: dict) -> tuple[str, str]:
    """How a cell's month reads on the page: screened (and found something), zero report only,
    or not screened — from the screening metrics' own figures."""
    if not f["cells_screened"]:
        return "missing", "未排查"
    if f["rounds"] and f["zero_reports"] == f["rounds"]:
        return "zero", "零报告"
    return "screened", "已排查"


@bp.get("/screening", endpoint="screening")
@allow(*VIEWERS)
def screening_page():
    """This month's screening campaigns and coverage (排查覆盖), by village or by cell (the
    screening service's own figures: `monthly_coverage`, `campaign_coverage`)."""
    actor, now = console_actor(), request_now()
    area = _area_arg()
    month = _screening_month(now)
    coverage = _coverage(actor, area, month)
    return render_template(
        "console/screening.html",
        area=console.check_area(db.session, scope=actor.case_scope, code=area),
        month=month,
        coverage=coverage,
        items=coverage["items"],
        **_campaigns_in(actor, area, month, now),
        kinds=CAMPAIGN_KINDS,
        now=now,
        drill=len(area) < 12,
    )


def _screening_month(now) -> str:
    """The `month` asked for (this month by default), checked and written YYYY-MM."""
    month = request.args.get("month") or now.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    first, _last = screening_campaigns.month_bounds(month)
    return first.strftime("%Y-%m")


def _coverage(actor, area: str, month: str) -> dict:
    """The screening service's monthly coverage, each cell's state read for the page."""
    coverage = screening_coverage.monthly_coverage(db.session, actor=actor, area=area, month=month)
    if coverage["level"] == "cell":
        for item in coverage["items"]:
            item["state"], item["state_label"] = _cell_state(item)
    return coverage


def _campaigns_in(actor, area: str, month: str, now, limit: int = 20) -> dict:
    """The month's campaigns on the area's branch of the tree, each with its coverage, and the
    names of their areas."""
    campaigns = []
    for c in screening_campaigns.list_campaigns(
        db.session, actor=actor, filters={"month": month}, limit=50
    ):
        if not (c.area_code.startswith(area) or area.startswith(c.area_code)):
            continue  # another branch of the tree (a county's other townships)
        cov = screening_coverage.campaign_coverage(
            db.session, actor=actor, campaign_id=c.id, now=now
        )
        campaigns.append({"c": c, "due_at": cov["due_at"], "totals": cov["totals"]})
        if len(campaigns) == limit:
            break
    names = _area_names({x["c"].area_code for x in campaigns})
    return {"campaigns": campaigns, "area_names": names}


def _area_names(codes) -> dict[str, str]:
    return dict(
        db.session.execute(
            db.text("SELECT code, name FROM area WHERE code = ANY(:c) AND valid_to IS NULL"),
            {"c": sorted(codes)},
        ).all()
    )
