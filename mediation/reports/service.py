"""Monthly report use cases: generate drafts, write the narrative, submit, correct, compile.

Report `YYYY-MM` covers the calendar month before it and is due by the end of the 18th of
`YYYY-MM` (Asia/Shanghai; the due day is configurable; `deadlines.report_due`). Figures come from `metrics` — the same definitions
the console shows — and a submitted version is a frozen JSON snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mediation.disputes import deadlines
from mediation.disputes.enums import (
    CATEGORIES,
    LEVEL_LABELS,
    RISK_LABELS,
    STATUS_LABELS,
)
from mediation.disputes.workflow import TRANSITIONS
from mediation.pii import mask_name
from mediation.reminders.models import CANCELLED, OPEN_STATES, Reminder
from mediation.reports import metrics
from mediation.reports.models import DRAFT, SUBMITTED, MonthlyReport
from mediation.risks import figures as risk_figures
from mediation.screening.metrics import screening_figures
from mediation.users.actor import Actor
from mediation.users.enums import VILLAGE_ADMIN

MONTH_FORMAT = "%Y-%m"


@dataclass(frozen=True)
class ReportSettings:
    """Deployment settings of the monthly report."""

    due_day: int = 18  # due by the end of this day of the report month (Asia/Shanghai)
    first_visit_days: int = 15


# ------------------------------------------------------------------ months


MONTH_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"  # what check_month takes (documented)


def check_month(month: str, field: str = "month") -> str:
    """`YYYY-MM` (2000-01 … 2100-12) or a clear error."""
    if not isinstance(month, str) or not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ValidationFailed(
            "月份格式应为 YYYY-MM，如 2026-11", code="invalid_month", field=field
        )
    try:
        parsed = datetime.strptime(month, MONTH_FORMAT)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "月份格式应为 YYYY-MM，如 2026-11", code="invalid_month", field=field
        ) from None
    if not 2000 <= parsed.year <= 2100:
        raise ValidationFailed("月份超出范围", code="invalid_month", field=field)
    return parsed.strftime(MONTH_FORMAT)


def report_month_of(now: datetime) -> str:
    """The report month due this calendar month (it covers the month before)."""
    return now.astimezone(BUSINESS_TZ).strftime(MONTH_FORMAT)


def covered_period(month: str) -> metrics.Period:
    """The calendar month a report covers: the one before its report month."""
    y, m = (int(x) for x in month.split("-"))
    start = date(y - (m == 1), (m - 2) % 12 + 1, 1)
    return metrics.Period(start, date(y, m, 1))


def check_period_over(month: str, now: datetime) -> None:
    """A report may be drafted or submitted only once the month it covers is over (Asia/Shanghai):
    otherwise it would be frozen with part of the month's data."""
    period = covered_period(month)
    if now < period.end_at:
        raise ValidationFailed(
            f"{month} 月报统计的是 {period.start.strftime(MONTH_FORMAT)} 月的情况，"
            f"须在该月结束后（{period.end.isoformat()} 起）才能生成和报送",
            code="report_period_not_over",
            field="month",
            details={"period_ends_at": period.end_at.isoformat()},
        )


def due_at(month: str, settings: ReportSettings) -> datetime:
    """The end of the due day in the report month, Asia/Shanghai."""
    return deadlines.report_due(month, settings.due_day)


# ------------------------------------------------------------------ figures


def _high_risk(db_session: Session, *, parent: str, period: metrics.Period) -> dict[str, list]:
    """RED/ORANGE cases active in the period with their progress, per village (masked)."""
    col = metrics.COLUMN_BY_LENGTH[len(parent)]
    rows = db_session.execute(
        text(
            f"""
SELECT d.village_code, d.case_number, d.category, d.risk_level, d.status, d.handling_level,
       d.registered_at, d.leader_id IS NOT NULL AS has_leader, d.next_due_at,
       (SELECT array_agg(p.kind ORDER BY p.position) FROM party p WHERE p.dispute_id = d.id)
         AS party_kinds,
       (SELECT array_agg(p.name ORDER BY p.position) FROM party p WHERE p.dispute_id = d.id)
         AS party_names,
       ev.action AS last_action, ev.at AS last_action_at
FROM dispute d
LEFT JOIN LATERAL (SELECT action, at FROM dispute_event e WHERE e.dispute_id = d.id
                   AND e.at < :end ORDER BY e.seq DESC LIMIT 1) ev ON true
WHERE d.{col} = :parent AND d.risk_level IN ('red', 'orange') AND {metrics.ACTIVE}
ORDER BY d.village_code, d.risk_level DESC, d.registered_at"""
        ),
        {"parent": parent, "start": period.start_at, "end": period.end_at},
    ).mappings()
    out: dict[str, list] = {}
    for r in rows:
        parties = [
            mask_name(name) if kind == "person" else name
            for kind, name in zip(r["party_kinds"] or [], r["party_names"] or [], strict=True)
        ]
        action = TRANSITIONS.get(r["last_action"])
        out.setdefault(r["village_code"], []).append(
            {
                "case_number": r["case_number"],
                "category": CATEGORIES.get(r["category"], r["category"]),
                "risk": RISK_LABELS[r["risk_level"]],
                "status": STATUS_LABELS.get(r["status"], r["status"]),
                "handling_level": LEVEL_LABELS.get(r["handling_level"], r["handling_level"]),
                "registered_on": r["registered_at"].astimezone(BUSINESS_TZ).date().isoformat(),
                "parties": "、".join(parties),
                "leader_assigned": bool(r["has_leader"]),
                "progress": (
                    f"{r['last_action_at'].astimezone(BUSINESS_TZ):%m-%d} "
                    f"{action.label if action else '登记'}"
                    if r["last_action_at"]
                    else ""
                ),
                "overdue": bool(r["next_due_at"] and r["next_due_at"] < period.end_at),
            }
        )
    return out


def _screening(db_session: Session, *, parent: str, level: str, period: metrics.Period) -> dict:
    """Screening figures (排查) per area, from the screening module's shared definitions."""
    figures = screening_figures(
        db_session, level=level, prefix=parent, start=period.start_at, end=period.end_at
    )
    return {code: screening_dict(f) for code, f in figures.items()}


def screening_dict(f) -> dict:
    """Screening figures as stored in a snapshot."""
    return f.as_dict()


def empty_screening() -> dict:
    """Screening figures of an area with no cells and no rounds."""
    return {
        "rounds": 0,
        "zero_reports": 0,
        "found": 0,
        "cells_total": 0,
        "cells_screened": 0,
        "coverage": None,
        "found_by_key_area": {},
    }


def add_screening(items) -> dict:
    """Sum screening figures; coverage recomputed from the sums."""
    total = empty_screening()
    for s in items:
        for k in ("rounds", "zero_reports", "found", "cells_total", "cells_screened"):
            total[k] += s[k]
        for k, n in s["found_by_key_area"].items():
            total["found_by_key_area"][k] = total["found_by_key_area"].get(k, 0) + n
    if total["cells_total"]:
        total["coverage"] = round(total["cells_screened"] / total["cells_total"], 4)
    return total


def village_figures(
    db_session: Session, *, township: str, month: str, settings: ReportSettings
) -> dict[str, dict]:
    """Report figures for every village of a township (one pass of grouped queries)."""
    period = covered_period(month)
    rows = metrics.area_rows(
        db_session,
        parent=township,
        level="village",
        period=period,
        first_visit_days=settings.first_visit_days,
    )
    screening = _screening(db_session, parent=township, level="village", period=period)
    high_risk = _high_risk(db_session, parent=township, period=period)
    out = {
        code: snapshot(row, screening.get(code, empty_screening()), high_risk.get(code, []), period)
        for code, row in rows.items()
    }
    risk_figures.add_to_snapshots(db_session, out, township=township, period=period)  # issue 21
    return out


def snapshot(row: dict, screening: dict, high_risk: list, period: metrics.Period) -> dict:
    """The JSON a report stores: counts, rates, screening, masked RED/ORANGE list."""
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "row": _jsonable(row),
        "rates": metrics.rates(row),
        "screening": screening,
        "high_risk": high_risk,
    }


def _jsonable(row: dict) -> dict:
    out = dict(row)
    out["agreement_amount_wan"] = str(row["agreement_amount_wan"])
    out["resolution_days_sum"] = round(float(row["resolution_days_sum"]), 4)
    return out


def row_from_snapshot(figures: dict) -> dict:
    """The counts of a stored snapshot, typed back for summing."""
    row = dict(figures["row"])
    row["agreement_amount_wan"] = Decimal(row["agreement_amount_wan"])
    return row


# ------------------------------------------------------------------ drafts


def _village_name_map(db_session: Session, parent: str) -> dict[str, str]:
    return dict(
        db_session.execute(
            text("""SELECT code, name FROM area WHERE code LIKE :p AND valid_to IS NULL
                    AND level IN ('township', 'village')"""),
            {"p": f"{parent}%"},
        ).all()
    )


def _townships(db_session: Session, within: str | None) -> list[str]:
    return list(
        db_session.scalars(
            text("""SELECT code FROM area WHERE level = 'township' AND valid_to IS NULL
                    AND code LIKE :p ORDER BY code"""),
            {"p": f"{(within or '')[:9]}%"},
        )
    )


def _latest(db_session: Session, code: str, month: str) -> MonthlyReport | None:
    return db_session.scalar(
        select(MonthlyReport)
        .where(MonthlyReport.area_code == code, MonthlyReport.month == month)
        .order_by(MonthlyReport.version.desc())
        .limit(1)
    )


def generate_drafts(
    db_session: Session,
    *,
    month: str,
    now: datetime,
    settings: ReportSettings,
    within: str | None = None,
    only_missing: bool = False,
) -> int:
    """Create or refresh the draft of every village (under `within`) for `month`; a village
    whose latest version is submitted keeps it (a correction is asked for explicitly). With
    `only_missing` (the scheduler catching up) existing drafts are left as they are.
    Refused before the covered month is over. Commits per township."""
    check_period_over(month, now)
    made = 0
    for township in _townships(db_session, within):
        figures = village_figures(db_session, township=township, month=month, settings=settings)
        latest_of: dict[str, MonthlyReport] = {}
        for r in db_session.scalars(
            select(MonthlyReport)
            .where(MonthlyReport.month == month, MonthlyReport.area_code.startswith(township))
            .order_by(MonthlyReport.version)
        ):
            latest_of[r.area_code] = r  # one query per township, not one per village
        for code, fig in figures.items():
            if within and not code.startswith(within):
                continue
            latest = latest_of.get(code)
            if latest is None:
                db_session.add(
                    MonthlyReport(
                        area_code=code,
                        month=month,
                        version=1,
                        status=DRAFT,
                        figures=fig,
                        due_at=due_at(month, settings),
                        generated_at=now,
                    )
                )
                made += 1
            elif latest.status == DRAFT and not only_missing:
                latest.figures, latest.generated_at = fig, now
                made += 1
        db_session.commit()
    return made


def _report_for(db_session: Session, *, actor: Actor, report_id: int) -> MonthlyReport:
    report = db_session.get(MonthlyReport, report_id)
    if report is None or not actor.case_scope.contains_code(report.area_code):
        raise NotFound("报表不存在或不在您的管辖范围内", code="report_not_found")
    return report


def get_report(db_session: Session, *, actor: Actor, report_id: int) -> MonthlyReport:
    """One report version the actor may see."""
    return _report_for(db_session, actor=actor, report_id=report_id)


def _editable(db_session: Session, actor: Actor, report_id: int) -> MonthlyReport:
    report = _report_for(db_session, actor=actor, report_id=report_id)
    if not actor.scope_for(VILLAGE_ADMIN).contains_code(report.area_code):
        raise Forbidden("只有本村（社区）负责人可以填写和报送月报", code="not_report_owner")
    if report.status != DRAFT:
        raise Conflict(
            "该版本已报送，不能修改；如需更正请新建更正版本",
            code="report_submitted",
            details={"version": report.version},
        )
    return report


def refresh_draft(
    db_session: Session, *, actor: Actor, report_id: int, now: datetime, settings: ReportSettings
) -> MonthlyReport:
    """Recompute a draft's figures from today's data (the narrative stays)."""
    report = _editable(db_session, actor, report_id)
    check_period_over(report.month, now)
    township = report.area_code[:9]
    report.figures = village_figures(
        db_session, township=township, month=report.month, settings=settings
    )[report.area_code]
    report.generated_at = now
    db_session.flush()
    return report


def edit_draft(
    db_session: Session,
    *,
    actor: Actor,
    report_id: int,
    narrative: str | None,
    remarks: str | None,
) -> MonthlyReport:
    """Write the narrative (工作开展情况) and remarks of a draft."""
    report = _editable(db_session, actor, report_id)
    if narrative is not None:
        report.narrative = narrative
    if remarks is not None:
        report.remarks = remarks
    db_session.flush()
    return report


def submit(
    db_session: Session,
    *,
    actor: Actor,
    report_id: int,
    now: datetime,
    generated_at: datetime | None = None,
) -> MonthlyReport:
    """Freeze the draft as the lead reviewed it; the month's report reminder is done.

    `generated_at` (optional) is the draft the lead looked at: if the figures were refreshed
    since, the submission is refused so that nobody submits numbers they have not seen."""
    report = _editable(db_session, actor, report_id)
    check_period_over(report.month, now)
    if generated_at is not None and abs((report.generated_at - generated_at).total_seconds()) > 1:
        raise Conflict(
            "报表数据已更新，请重新核对后再报送",
            code="report_refreshed",
            details={"generated_at": report.generated_at.isoformat()},
        )
    if not (report.narrative or "").strip():
        raise ValidationFailed(
            "请先填写工作开展情况再报送", code="narrative_required", field="narrative"
        )
    first = db_session.scalar(
        select(func.min(MonthlyReport.submitted_at)).where(
            MonthlyReport.area_code == report.area_code,
            MonthlyReport.month == report.month,
            MonthlyReport.status == SUBMITTED,
        )
    )
    report.status = SUBMITTED
    report.submitted_at = now
    report.submitted_by = actor.user_id
    report.on_time = (first or now) < report.due_at
    _close_reminders(db_session, village=report.area_code, month=report.month, now=now)
    db_session.flush()
    return report


def _close_reminders(db_session: Session, *, village: str, month: str, now: datetime) -> None:
    parent_ids = select(Reminder.id).where(
        Reminder.key == f"village:{village}:monthly_report:{month}"
    )
    db_session.execute(
        update(Reminder)
        .where(
            (Reminder.id.in_(parent_ids)) | (Reminder.parent_id.in_(parent_ids)),
            Reminder.state.in_(OPEN_STATES),
        )
        .values(state=CANCELLED, cancelled_at=now, cancel_reason="report_submitted")
    )


def correct(
    db_session: Session,
    *,
    actor: Actor,
    report_id: int,
    reason: str,
    now: datetime,
    settings: ReportSettings,
) -> MonthlyReport:
    """Open a correction: a new draft version with today's figures; the old version stays."""
    old = _report_for(db_session, actor=actor, report_id=report_id)
    if not actor.scope_for(VILLAGE_ADMIN).contains_code(old.area_code):
        raise Forbidden("只有本村（社区）负责人可以更正月报", code="not_report_owner")
    latest = _latest(db_session, old.area_code, old.month)
    if latest.status == DRAFT:
        raise Conflict(
            "已有未报送的版本，请在该版本上修改",
            code="draft_exists",
            details={"report_id": latest.id, "version": latest.version},
        )
    if not (reason or "").strip():
        raise ValidationFailed("请说明更正原因", code="reason_required", field="reason")
    figures = village_figures(
        db_session, township=old.area_code[:9], month=old.month, settings=settings
    )[old.area_code]
    report = MonthlyReport(
        area_code=old.area_code,
        month=old.month,
        version=latest.version + 1,
        status=DRAFT,
        figures=figures,
        narrative=latest.narrative,
        remarks=latest.remarks,
        due_at=latest.due_at,
        generated_at=now,
        supersedes_id=latest.id,
        correction_reason=reason.strip(),
    )
    db_session.add(report)
    db_session.flush()
    return report


def versions(db_session: Session, *, actor: Actor, area_code: str, month: str) -> list:
    """Every version of a village's report for a month, newest first."""
    if not actor.case_scope.contains_code(area_code):
        raise NotFound("报表不存在或不在您的管辖范围内", code="report_not_found")
    return list(
        db_session.scalars(
            select(MonthlyReport)
            .where(MonthlyReport.area_code == area_code, MonthlyReport.month == month)
            .order_by(MonthlyReport.version.desc())
        )
    )


# ------------------------------------------------------------------ township view


def village_status(submitted: MonthlyReport | None, now: datetime, due: datetime) -> str:
    """on_time / late (by the first submission) / missing (due passed) / pending."""
    if submitted is not None:
        return "on_time" if submitted.on_time else "late"
    return "missing" if now >= due else "pending"


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
       AND :now >= :due
    OR min(r.submitted_at) FILTER (WHERE r.status = 'submitted') >= :due
ORDER BY a.code"""
        ),
        {**scope_clause_params, "month": month, "now": now, "due": due},
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
                ((r["first_submitted_at"] or now) - due).days + 1
                if (r["first_submitted_at"] or now) >= due
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
