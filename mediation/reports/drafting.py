"""Monthly report use cases of a village: generate drafts, write the narrative, submit, correct,
list versions. A submitted version is a frozen JSON snapshot. Use cases never commit; the view,
CLI or job does."""

from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mediation.disputes import deadlines
from mediation.reminders.models import CANCELLED, OPEN_STATES, Reminder
from mediation.reports.figures import village_figures
from mediation.reports.models import DRAFT, SUBMITTED, MonthlyReport
from mediation.reports.months import ReportSettings, check_period_over, due_at
from mediation.users.actor import Actor
from mediation.users.enums import VILLAGE_ADMIN

# ------------------------------------------------------------------ drafts


def _village_name_map(db_session: Session, parent: str) -> dict[str, str]:
    return dict(
        db_session.execute(
            text("""SELECT code, name FROM area WHERE code LIKE :p AND valid_to IS NULL
                    AND level IN ('township', 'village')"""),
            {"p": f"{parent}%"},
        ).all()
    )


def draft_townships(db_session: Session, within: str | None) -> list[str]:
    """The current townships whose villages `generate_drafts` drafts (those of `within`)."""
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
    Refused before the covered month is over. Never commits: the caller does (the scheduled
    job once per township, see `mediation.scheduler`)."""
    check_period_over(month, now)
    return sum(
        township_drafts(
            db_session,
            township=township,
            month=month,
            now=now,
            settings=settings,
            within=within,
            only_missing=only_missing,
        )
        for township in draft_townships(db_session, within)
    )


def township_drafts(
    db_session: Session,
    *,
    township: str,
    month: str,
    now: datetime,
    settings: ReportSettings,
    within: str | None = None,
    only_missing: bool = False,
) -> int:
    """`generate_drafts` for the villages of one township (the caller has checked the month is
    over). Never commits."""
    made = 0
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
    report.on_time = deadlines.on_time(first or now, report.due_at)
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
