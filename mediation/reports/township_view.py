"""The township's view of the monthly report: who submitted, who is late, and the compiled
report (villages plus 合计) that the workbook and the console print."""

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import NotFound
from mediation.disputes.deadlines import report_cutoff
from mediation.reports import metrics
from mediation.reports.drafting import _village_name_map
from mediation.reports.figures import (
    _jsonable,
    add_screening,
    empty_screening,
    row_from_snapshot,
    snapshot,
    village_figures,
)
from mediation.reports.models import SUBMITTED, MonthlyReport
from mediation.reports.months import ReportSettings, covered_period, due_at
from mediation.risks import figures as risk_figures
from mediation.users.actor import Actor

# ------------------------------------------------------------------ township view


def village_status(submitted: MonthlyReport | None, now: datetime, due: datetime) -> str:
    """on_time / late (by the first submission) / missing (due passed) / pending."""
    if submitted is not None:
        return "on_time" if submitted.on_time else "late"
    return "missing" if now >= report_cutoff(due) else "pending"


STATUS_LABELS_REPORT = {
    "on_time": "按时报送",
    "late": "逾期报送",
    "missing": "逾期未报",
    "pending": "未到期未报",
}


def compile_township(
    db_session: Session,
    *,
    actor: Actor,
    township: str,
    month: str,
    now: datetime,
    settings: ReportSettings,
) -> dict:
    """The township's report: each village's latest submitted version (or, for a village that
    has not submitted, its live figures marked as such) and the township total."""
    if len(township) != 9 or not actor.case_scope.contains_code(township):
        raise NotFound("区域不存在或不在您的管辖范围内", code="area_not_found", field="area")
    names = _village_name_map(db_session, township)
    if township not in names:
        raise NotFound("区域不存在或不在您的管辖范围内", code="area_not_found", field="area")
    period = covered_period(month)
    due = due_at(month, settings)
    reports = db_session.scalars(
        select(MonthlyReport)
        .where(MonthlyReport.month == month, MonthlyReport.area_code.startswith(township))
        .order_by(MonthlyReport.area_code, MonthlyReport.version)
    ).all()
    latest_submitted: dict[str, MonthlyReport] = {}
    first_submitted: dict[str, MonthlyReport] = {}
    drafts: dict[str, MonthlyReport] = {}
    for r in reports:
        if r.status == SUBMITTED:
            latest_submitted[r.area_code] = r
            first_submitted.setdefault(r.area_code, r)
        else:
            drafts[r.area_code] = r
    live = None
    villages = []
    for code in sorted(c for c in names if len(c) == 12):
        sub = latest_submitted.get(code)
        if sub is not None:
            figures = sub.figures
        else:
            if live is None:
                live = village_figures(
                    db_session, township=township, month=month, settings=settings
                )
            figures = live.get(code) or snapshot(metrics.empty_row(), empty_screening(), [], period)
        state = village_status(first_submitted.get(code), now, due)
        villages.append(
            {
                "code": code,
                "name": names[code],
                "report_status": state,
                "report_status_label": STATUS_LABELS_REPORT[state],
                "report_id": sub.id if sub else (drafts[code].id if code in drafts else None),
                "version": sub.version if sub else None,
                "submitted_at": first_submitted[code].submitted_at if sub else None,
                "figures": figures,
                "narrative": sub.narrative if sub else None,
                "remarks": sub.remarks if sub else None,
            }
        )
    total_row = metrics.add_rows(row_from_snapshot(v["figures"]) for v in villages)
    total_screening = add_screening(v["figures"]["screening"] for v in villages)
    return {
        "township": {"code": township, "name": names[township]},
        "month": month,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "due_at": due,
        "villages": villages,
        "total": {
            "row": _jsonable(total_row),
            "rates": metrics.rates(total_row),
            "screening": total_screening,
            "risks": risk_figures.township_total(db_session, township, period, villages),  # i21
        },
        "submitted": sum(v["report_status"] in ("on_time", "late") for v in villages),
        "late": sum(v["report_status"] == "late" for v in villages),
        "missing": sum(v["report_status"] == "missing" for v in villages),
    }


def late_villages(
    db_session: Session, *, scope_clause_params: dict, month: str, now: datetime, settings
) -> list[dict]:
    """Villages whose report for `month` is missing or was late (supervision list)."""
    due = due_at(month, settings)
    rows = db_session.execute(
        text(
            """
SELECT a.code, a.name, t.name AS township_name,
       min(r.submitted_at) FILTER (WHERE r.status = 'submitted') AS first_submitted_at
FROM area a
JOIN area t ON t.code = a.parent_code AND t.valid_to IS NULL
LEFT JOIN monthly_report r ON r.area_code = a.code AND r.month = :month
WHERE a.level = 'village' AND a.valid_to IS NULL
  AND (:everything OR a.code LIKE ANY(:prefixes))
GROUP BY a.code, a.name, t.name
HAVING min(r.submitted_at) FILTER (WHERE r.status = 'submitted') IS NULL
       AND :now >= :cutoff
    OR min(r.submitted_at) FILTER (WHERE r.status = 'submitted') >= :cutoff
ORDER BY a.code"""
        ),
        {**scope_clause_params, "month": month, "now": now, "cutoff": report_cutoff(due)},
    ).mappings()
    return [
        {
            "code": r["code"],
            "name": r["name"],
            "township": r["township_name"],
            "month": month,
            "due_at": due,
            "status": "late" if r["first_submitted_at"] else "missing",
            "status_label": STATUS_LABELS_REPORT["late" if r["first_submitted_at"] else "missing"],
            "submitted_at": r["first_submitted_at"],
            "days_late": (
                ((r["first_submitted_at"] or now) - report_cutoff(due)).days + 1
                if (r["first_submitted_at"] or now) >= report_cutoff(due)
                else 0
            ),
        }
        for r in rows
    ]


def compile_version(db_session: Session, *, report: MonthlyReport) -> dict:
    """One village report version in the shape of a compiled report (for its exports)."""
    names = _village_name_map(db_session, report.area_code[:9])
    name = names.get(report.area_code, report.area_code)
    state = ("on_time" if report.on_time else "late") if report.status == SUBMITTED else "pending"
    label = STATUS_LABELS_REPORT[state] if report.status == SUBMITTED else "草稿"
    return {
        "township": {"code": report.area_code, "name": name},
        "month": report.month,
        "period": report.figures["period"],
        "due_at": report.due_at,
        "villages": [
            {
                "code": report.area_code,
                "name": name,
                "report_status": state,
                "report_status_label": label,
                "report_id": report.id,
                "version": report.version,
                "submitted_at": report.submitted_at,
                "figures": report.figures,
                "narrative": report.narrative,
                "remarks": report.remarks,
            }
        ],
        "total": report.figures,
        "submitted": int(report.status == SUBMITTED),
        "late": int(state == "late"),
        "missing": 0,
    }
