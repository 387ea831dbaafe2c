"""URL tables for the township console (dashboard, supervision lists, map layers) and the
monthly report (drafts, narrative, submission, corrections, township compile, exports)."""

from __future__ import annotations

import functools
import io
from datetime import datetime
from urllib.parse import quote

from flask import Response, current_app, request, send_file
from flask.views import MethodView

import api.maps as maps
from api.auth import allow, current_actor, request_now
from api.inputs import Blueprint
from api.schemas.reports import (
    DEFINITIONS_DOC,
    CorrectionIn,
    DashboardOut,
    DashboardQuery,
    DraftsIn,
    DraftsOut,
    ExportQuery,
    HotspotQuery,
    LayerOut,
    ListQuery,
    MapAreasQuery,
    MapCasesQuery,
    ReportEditIn,
    ReportOut,
    SubmitIn,
    SupervisionListOut,
    TownshipReportOut,
)
from core.clock import BUSINESS_TZ
from core.db import db
from geo.bbox import check_bbox
from geo.scope import AreaScope, sql_params
from mediation.calendar import load_calendar
from mediation.disputes import maps as layers
from mediation.reports import console, drafting, exports, months, township_view, workbook
from mediation.users.access_log import log_access
from mediation.users.enums import ACCESS_EXPORT, CENTER_STAFF, COUNTY_ADMIN, LEADER, VILLAGE_ADMIN

console_bp = Blueprint(
    "console",
    __name__,
    url_prefix="/api/v1/console",
    description="综治中心工作台：统计、督办清单、地图。统计口径：\n" + DEFINITIONS_DOC,
)
reports_bp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1/reports",
    description="矛盾纠纷排查化解月报（报送截止日默认每月 18 日当天，REPORT_DUE_DAY；遇非工作日"
    "顺延至下一个工作日，REPORT_DUE_NEXT_WORKING_DAY；统计期间为上一个自然月）",
)
blueprints = [console_bp, reports_bp]

VIEWERS = (VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
CENTRE = (CENTER_STAFF, COUNTY_ADMIN)
TOWNSHIP_VIEWERS = (CENTER_STAFF, LEADER, COUNTY_ADMIN)


def report_settings() -> months.ReportSettings:
    """Report settings from the app config."""
    cfg = current_app.config
    return months.settings_from_config(cfg, load_calendar(db.session))


def _scope():
    return current_actor().case_scope


def _area(args) -> str:
    return args.get("area") or console.default_area(_scope())


def log_export(kind: str, record_id: str, fmt: str, purpose: str | None, *, actor=None) -> None:
    """Log (and commit) an export that has been produced in full: called after the file is
    written, so a failed export leaves no row, and the commit cannot close a server-side cursor
    the rows are still read from. The console passes its `actor`."""
    log_access(
        db.session,
        actor=actor or current_actor(),
        action=ACCESS_EXPORT,
        record_type=kind,
        record_id=record_id,
        field=fmt,
        purpose=(purpose or "").strip() or "工作台导出",
        ip=request.remote_addr,
        now=request_now(),
    )
    db.session.commit()


def _csv_response(out, names: tuple[str, str]) -> Response:
    response = send_file(out, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    return _attachment(response, names)


def _attachment(response: Response, names: tuple[str, str]) -> Response:
    """Name a download: the Chinese name (RFC 5987 `filename*`) and an ASCII `filename` for
    clients that do not read it."""
    chinese, ascii_name = names
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(chinese, safe='')}"
    )
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def downloads(bp):
    """Document the other bodies of a 200: format=xlsx (a workbook) and format=csv."""

    def decorate(fn):
        fn = bp.alt_response(
            200,
            description="JSON；format=xlsx 为 Excel 工作簿，format=csv 为 UTF-8（带 BOM）CSV（下载，记入访问日志）",
            content_type=XLSX,
            schema={"type": "string", "format": "binary"},
            success=True,
        )(fn)
        return bp.alt_response(
            200,
            description="JSON；format=xlsx 为 Excel 工作簿，format=csv 为 UTF-8（带 BOM）CSV（下载，记入访问日志）",
            content_type="text/csv",
            schema={"type": "string"},
            success=True,
        )(fn)

    return decorate


# ------------------------------------------------------------------ console


@console_bp.route("/dashboard")
class Dashboard(MethodView):
    @allow(*VIEWERS)
    @console_bp.arguments(DashboardQuery, location="query")
    @console_bp.response(200, DashboardOut)
    def get(self, args):
        """Statistics of an area for a period, with the Fengqiao measures, monthly trend and the
        breakdown by child area (township → villages, village → cells). Definitions of every
        figure are in this blueprint's description and in `definitions`."""
        return dashboard_figures(_scope(), _area(args), args.get("from_"), args.get("to"))


def dashboard_figures(scope, area: str, start, end) -> dict:
    """The dashboard's figures for [start, end] — the API's and the console's."""
    now = request_now()
    return console.dashboard(
        db.session,
        scope=scope,
        area=area,
        period=console.check_period(start, end, now),
        now=now,
        first_visit_days=report_settings().first_visit_days,
    )


@console_bp.route("/lists/<any(overdue, high_risk, escalations, late_reports):kind>")
class SupervisionList(MethodView):
    @allow(*VIEWERS)
    @console_bp.arguments(ListQuery, location="query")
    @console_bp.response(200, SupervisionListOut, description="JSON 列表（format=json）")
    @downloads(console_bp)
    def get(self, args, kind):
        """Supervision lists: overdue cases, open RED/ORANGE cases, escalations waiting for
        acceptance, villages late with their monthly report. Sortable; `format=xlsx|csv`
        downloads the whole list (streamed, logged as an export)."""
        now = request_now()
        area = _area(args)
        rows = _list_rows(kind, args, area, now)
        if args["format"] == "json":
            return {"kind": kind, "area": area, "items": list(rows)}
        return _list_download(kind, args, area, rows, now)


def _list_rows(kind: str, args: dict, area: str, now: datetime):
    """The rows of one supervision list (an iterator; the whole list for a download)."""
    if kind == "late_reports":
        console.check_area(db.session, scope=_scope(), code=area)
        month = args.get("month") or months.report_month_of(now)
        rows = township_view.late_villages(
            db.session,
            scope_clause_params=sql_params(AreaScope(frozenset({area}))),
            month=month,
            now=now,
            settings=report_settings(),
        )
        return iter(rows[: args["limit"]] if args["format"] == "json" else rows)
    default_sort = next(iter(console.LIST_SORTS[kind]))
    return console.supervision_rows(
        db.session,
        kind=kind,
        scope=_scope(),
        area=area,
        sort=args.get("sort", default_sort),  # an empty sort= is no sort: refused
        now=now,
        limit=args["limit"] if args["format"] == "json" else None,
    )


def _list_download(kind: str, args: dict, area: str, rows, now: datetime) -> Response:
    """The whole file first (rows read from the server-side cursor to the end), then the
    access-log row and its commit: a failure half-way logs nothing and sends no half file."""
    columns = console.LIST_COLUMNS[kind]
    fmt = args["format"]
    if fmt == "csv":
        out = exports.spool(exports.csv_stream(columns, rows))
    else:
        out = exports.xlsx_list(columns, rows, title=LIST_TITLES[kind])
    names = exports.list_file_names(
        kind,
        area=console.check_area(db.session, scope=_scope(), code=area),
        day=now.astimezone(BUSINESS_TZ).date(),
        fmt=fmt,
    )
    log_export(f"list:{kind}", area, fmt, args.get("purpose"))
    if fmt == "csv":
        return _csv_response(out, names)
    return _attachment(send_file(out, mimetype=XLSX), names)


LIST_TITLES = {
    "overdue": "逾期案件",
    "high_risk": "红橙风险案件",
    "escalations": "待接收上报",
    "late_reports": "月报逾期村社",
}


GEOJSON = "application/geo+json"
MONTH_PARAMETER = {
    "in": "path",
    "name": "month",
    "required": True,
    "schema": {"type": "string", "pattern": months.MONTH_PATTERN},
    "description": "报送月份 YYYY-MM（统计上一个自然月）",
}


def geojson_layer(fn):
    """Serve a view's FeatureCollection as RFC 7946 GeoJSON (`application/geo+json`), saying in
    the body (`coordinate_system`, a foreign member) which system its coordinates are in."""

    @functools.wraps(fn)
    def wrapper(self, args, *a, **kw):
        response = fn(self, args, *a, **kw)
        if response.status_code == 200:
            response.mimetype = GEOJSON
        return response

    return wrapper


def _layer(body: dict, system: str) -> dict:
    return {**body, "coordinate_system": system}


@console_bp.route("/map/areas")
class MapAreas(MethodView):
    @allow(*VIEWERS)
    @console_bp.arguments(MapAreasQuery, location="query")
    @geojson_layer
    @console_bp.response(200, LayerOut, content_type=GEOJSON)
    def get(self, args):
        """Choropleth layer: the villages of a township (or cells of a village) with open,
        RED, ORANGE and overdue counts."""
        area = _area(args)
        console.check_area(db.session, scope=_scope(), code=area)
        parent, level = maps.area_level(area, args.get("level"))
        body = layers.area_figures_layer(
            db.session,
            parent=parent,
            level=level,
            now=request_now(),
            system=args["crs"],
            simplify_m=args["simplify_m"],
        )
        return _layer(body, args["crs"])


@console_bp.route("/map/cases")
class MapCases(MethodView):
    @allow(*VIEWERS)
    @console_bp.arguments(MapCasesQuery, location="query")
    @geojson_layer
    @console_bp.response(200, LayerOut, content_type=GEOJSON)
    def get(self, args):
        """Case points of an area (no personal data), filtered by box, status, risk, date."""
        area = _area(args)
        console.check_area(db.session, scope=_scope(), code=area)
        body = maps.case_points(
            db.session,
            scope=_scope(),
            area=area,
            bbox=check_bbox(args.get("bbox"), args["crs"]),
            statuses=args.get("status"),
            risks=args.get("risk_level"),
            since=args.get("since"),
            system=args["crs"],
            limit=args["limit"],
            now=request_now(),
        )
        return _layer(body, args["crs"])


@console_bp.route("/map/hotspots")
class MapHotspots(MethodView):
    @allow(*VIEWERS)
    @console_bp.arguments(HotspotQuery, location="query")
    @geojson_layer
    @console_bp.response(200, LayerOut, content_type=GEOJSON)
    def get(self, args):
        """Hot spots: places where several cases cluster in space within the period
        (default: the last 30 days) — the weak signal to catch early."""
        area = _area(args)
        console.check_area(db.session, scope=_scope(), code=area)
        body = maps.hot_spots(
            db.session,
            scope=_scope(),
            area=area,
            now=request_now(),
            start=args.get("from_"),
            end=args.get("to"),
            radius_m=args["radius_m"],
            min_cases=args["min_cases"],
            system=args["crs"],
        )
        return _layer(body, args["crs"])


# ------------------------------------------------------------------ monthly report


@reports_bp.route("/monthly/<string:month>/drafts", parameters=[MONTH_PARAMETER])
class Drafts(MethodView):
    @allow(VILLAGE_ADMIN, *CENTRE)
    @reports_bp.arguments(DraftsIn)
    @reports_bp.response(200, DraftsOut)
    @reports_bp.alt_response(
        422, description="统计期间（上一个自然月）尚未结束 (report_period_not_over)"
    )
    def post(self, data, month):
        """Generate (or refresh) the drafts of every village of an area now (the scheduler does
        this on the configured day, and catches up after downtime); a village head drafts their
        own village's report. Refused until the month the report covers is over."""
        month = months.check_month(month)
        area = data["area"]
        actor = current_actor()
        # A village head (not also a centre) drafts inside the villages they head only.
        scope = actor.case_scope if actor.has(*CENTRE) else actor.scope_for(VILLAGE_ADMIN)
        console.check_area(db.session, scope=scope, code=area)
        n = drafting.generate_drafts(
            db.session, month=month, now=request_now(), settings=report_settings(), within=area
        )
        db.session.commit()
        return {"month": month, "drafts": n}


@reports_bp.route("/monthly/<string:month>/villages/<string:code>", parameters=[MONTH_PARAMETER])
class VillageVersions(MethodView):
    @allow(*VIEWERS)
    @reports_bp.response(200, ReportOut(many=True))
    @reports_bp.alt_response(422, description="月份格式应为 YYYY-MM (invalid_month)")
    def get(self, month, code):
        """Every version of a village's report for the month, newest first."""
        return drafting.versions(
            db.session, actor=current_actor(), area_code=code, month=months.check_month(month)
        )


@reports_bp.route("/monthly/<string:month>/townships/<string:code>", parameters=[MONTH_PARAMETER])
class TownshipReport(MethodView):
    @allow(*TOWNSHIP_VIEWERS)
    @reports_bp.arguments(ExportQuery, location="query")
    @reports_bp.response(200, TownshipReportOut)
    @downloads(reports_bp)
    def get(self, args, month, code):
        """The township's report: per village submitted on time / late / missing and its
        figures, plus the total. `format=xlsx|csv` downloads it (logged)."""
        month = months.check_month(month)
        compiled = township_view.compile_township(
            db.session,
            actor=current_actor(),
            township=code,
            month=month,
            now=request_now(),
            settings=report_settings(),
        )
        return _export(compiled, args, kind="report:township", record_id=f"{code}:{month}")


def _export(compiled: dict, args: dict, *, kind: str, record_id: str):
    fmt = args["format"]
    if fmt == "json":
        log_export(kind, record_id, fmt, args.get("purpose"))
        return compiled
    # Produced in full before it is logged (see log_export).
    if fmt == "csv":
        out = exports.spool(workbook.report_csv(compiled))
    else:
        out = io.BytesIO(workbook.report_workbook(compiled))
    names = exports.report_file_names(compiled, fmt)
    log_export(kind, record_id, fmt, args.get("purpose"))
    if fmt == "csv":
        return _csv_response(out, names)
    return _attachment(send_file(out, mimetype=XLSX), names)


@reports_bp.route("/monthly/reports/<int:report_id>")
class Report(MethodView):
    @allow(*VIEWERS)
    @reports_bp.response(200, ReportOut)
    def get(self, report_id):
        """One version of a village report."""
        return drafting.get_report(db.session, actor=current_actor(), report_id=report_id)

    @allow(VILLAGE_ADMIN)
    @reports_bp.arguments(ReportEditIn)
    @reports_bp.response(200, ReportOut)
    @reports_bp.alt_response(409, description="已报送的月报不能再改 (report_submitted)")
    def patch(self, data, report_id):
        """Write the narrative (工作开展情况) and remarks of a draft."""
        report = drafting.edit_draft(
            db.session,
            actor=current_actor(),
            report_id=report_id,
            narrative=data.get("narrative"),
            remarks=data.get("remarks"),
        )
        db.session.commit()
        return report


@reports_bp.route("/monthly/reports/<int:report_id>/refresh")
class Refresh(MethodView):
    @allow(VILLAGE_ADMIN)
    @reports_bp.response(200, ReportOut)
    @reports_bp.alt_response(409, description="已报送的月报不能再刷新 (report_submitted)")
    @reports_bp.alt_response(
        422, description="该月尚未结束，月报还不能生成 (report_period_not_over)"
    )
    def post(self, report_id):
        """Recompute a draft's figures from today's data (the narrative stays)."""
        report = drafting.refresh_draft(
            db.session,
            actor=current_actor(),
            report_id=report_id,
            now=request_now(),
            settings=report_settings(),
        )
        db.session.commit()
        return report


@reports_bp.route("/monthly/reports/<int:report_id>/submit")
class Submit(MethodView):
    @allow(VILLAGE_ADMIN)
    @reports_bp.arguments(SubmitIn)
    @reports_bp.response(200, ReportOut)
    @reports_bp.alt_response(
        409, description="已报送 (report_submitted)，或数据在您查看后已刷新 (report_refreshed)"
    )
    def post(self, data, report_id):
        """Submit: the draft becomes a frozen snapshot; the month's report reminder is done."""
        report = drafting.submit(
            db.session,
            actor=current_actor(),
            report_id=report_id,
            now=request_now(),
            generated_at=data.get("generated_at"),
        )
        db.session.commit()
        return report


@reports_bp.route("/monthly/reports/<int:report_id>/corrections")
class Corrections(MethodView):
    @allow(VILLAGE_ADMIN)
    @reports_bp.arguments(CorrectionIn)
    @reports_bp.response(201, ReportOut)
    @reports_bp.alt_response(409, description="已有未报送的版本，请在该版本上修改 (draft_exists)")
    def post(self, data, report_id):
        """Correct a submitted report: a new draft version (the old one is kept unchanged)."""
        report = drafting.correct(
            db.session,
            actor=current_actor(),
            report_id=report_id,
            reason=data["reason"],
            now=request_now(),
            settings=report_settings(),
        )
        db.session.commit()
        return report


@reports_bp.route("/monthly/reports/<int:report_id>/export")
class ReportExport(MethodView):
    @allow(*VIEWERS)
    @reports_bp.arguments(ExportQuery, location="query")
    @reports_bp.response(200, TownshipReportOut)
    @downloads(reports_bp)
    def get(self, args, report_id):
        """Download one village report version as xlsx, csv or json (logged)."""
        report = drafting.get_report(db.session, actor=current_actor(), report_id=report_id)
        compiled = township_view.compile_version(db.session, report=report)
        return _export(compiled, args, kind="report:village", record_id=str(report.id))
