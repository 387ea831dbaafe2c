"""Actions that end a mediation or verify it: agreement, termination, the follow-up visit."""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select

from core.errors import ValidationFailed
from geo.locate import wgs84_point
from mediation.disputes import deadlines, workflow
from mediation.disputes.actions.court import add_outcome
from mediation.disputes.actions.step import Outcome, Step, current_agreement
from mediation.disputes.deadlines import business_day
from mediation.disputes.enums import REOPENED, RESOLVED
from mediation.disputes.models import Agreement, Attachment, FollowUpVisit
from mediation.times import check_not_before, check_not_future

# What a written agreement must state (人民调解法 Art 29; 若干规定 Art 35), field → message.
WRITTEN_TERMS = {
    "facts": "请填写纠纷主要事实、争议事项",
    "performance_method": "请填写履行方式",
    "performance_place": "请填写履行地点",
    "performance_deadline": "请填写履行期限",
}


def written_agreement_missing(step: Step) -> dict[str, list[str]]:
    """What a written agreement lacks: both sides as parties, facts, duties (`terms`, checked by
    the table), and how, where and by when it is performed (no deadline when done on the spot)."""
    p, roles = step.payload, {x.role for x in step.dispute.parties}
    missing = {f: [m] for f, m in WRITTEN_TERMS.items() if not p.get(f)}
    if p.get("performed_immediately"):
        missing.pop("performance_deadline", None)
    if not {"applicant", "respondent"} <= roles:
        missing["parties"] = ["书面协议须写明双方当事人：请先补充申请人和被申请人"]
    return missing


def agree(step: Step) -> Outcome:
    d, p, now, limits = step.dispute, step.payload, step.now, step.settings.limits
    written = p["form"] == "written"
    missing = written_agreement_missing(step) if written else {}
    if missing:
        raise ValidationFailed(
            "书面协议须写明当事人、纠纷事实、各方义务及履行方式、地点、期限（人民调解法第二十九条）",
            code="agreement_incomplete",
            fields=missing,  # only what is actually missing
        )
    deadline = p.get("performance_deadline")
    if deadline and deadline < deadlines.business_day(now):
        raise ValidationFailed(
            "履行期限不能早于今天", code="invalid_date", field="performance_deadline"
        )
    step.db.add(
        Agreement(
            dispute_id=d.id,
            cell_code=d.cell_code,
            form=p["form"],
            facts=p.get("facts"),
            terms=p["terms"],
            performance_method=p.get("performance_method"),
            performance_place=p.get("performance_place"),
            performance_deadline=deadline,
            performed_immediately=bool(p.get("performed_immediately")),
            amount=p.get("amount"),
            # only a written agreement can be confirmed by a court (Art 33): no window otherwise
            judicial_confirmation_due_on=deadlines.add_days(
                limits, "judicial", deadlines.business_day(now), limits.judicial_window_days
            )
            if written
            else None,
            recorded_by=step.actor.user_id,
            created_at=now,
        )
    )
    d.agreed_at = now
    d.visits_done = 0
    step.db.flush()
    return Outcome(
        {"agreement_form": [None, p["form"]], "amount": [None, str(p.get("amount") or "")]}
    )


def terminate(step: Step) -> Outcome:
    p = step.payload
    step.dispute.exit_detail = {"reason": p["reason"], "routes": p["routes"]}
    return Outcome({"routes": [None, p["routes"]]}, p["reason"])


def _visit_location(p: dict):
    loc = p.get("location")
    if not loc:
        return None
    wlon, wlat = wgs84_point(loc["lon"], loc["lat"], loc["crs"], field_prefix="location.")
    return from_shape(Point(wlon, wlat), srid=4326)


def _check_visit_time(step: Step, visited_at) -> None:
    d = step.dispute
    check_not_future(
        visited_at,
        now=step.now,
        skew=step.settings.clock_skew,
        field="visited_at",
        label="回访时间",
    )
    check_not_before(
        visited_at,
        d.agreed_at,
        field="visited_at",
        code="before_agreement",
        message="回访时间不能早于调解协议达成时间",
    )
    check_not_before(
        visited_at,
        d.last_visit_at,
        field="visited_at",
        code="before_last_visit",
        message="回访时间不能早于上一次回访时间",
    )


def record_visit(step: Step) -> Outcome:
    d, p, now = step.dispute, step.payload, step.now
    before = d.status
    after = workflow.visit_outcome(p["result"], before)
    visited_at = p.get("visited_at") or now
    _check_visit_time(step, visited_at)
    location = _visit_location(p)
    agreement = current_agreement(step.db, d)
    if p["result"] == "judicial_confirmation" and (
        agreement is None or agreement.form != "written"
    ):
        raise ValidationFailed(
            "口头协议不能申请司法确认，只有书面调解协议可以申请", code="not_written", field="result"
        )
    if p.get("photo_id") and not step.db.scalar(
        select(Attachment.id).where(Attachment.id == p["photo_id"], Attachment.dispute_id == d.id)
    ):
        raise ValidationFailed("照片不属于该案件", code="attachment_not_found", field="photo_id")
    step.db.add(
        FollowUpVisit(
            dispute_id=d.id,
            cell_code=d.cell_code,
            visited_at=visited_at,
            method=p["method"],
            result=p["result"],
            satisfaction=p.get("satisfaction"),
            notes=p.get("notes"),
            visitor_id=step.actor.user_id,
            location=location,
            photo_id=p.get("photo_id"),
            status_before=before,
            status_after=after,
            created_at=now,
        )
    )
    d.visits_done += 1
    d.last_visit_at = visited_at
    changes = {"visit_result": [None, p["result"]]}
    if after == RESOLVED and before != RESOLVED:
        d.resolved_at = visited_at
        d.resolved_level = d.handling_level
        d.closed_at = visited_at
    elif after == REOPENED:
        d.recurrence_count += 1
        d.resolved_at = None
        d.closed_at = None
        d.mediation_due_on = deadlines.mediation_due(now, step.settings.limits)
        changes["recurrence_count"] = [d.recurrence_count - 1, d.recurrence_count]
    elif after == "terminated":
        # counted once: as the agreement it was (调解成功), never again as 调解终止 (reports)
        d.exit_detail = {
            "reason": "调解协议达成后当事人起诉",
            "routes": ["litigation"],
            "after_agreement": True,
        }
    if p["result"] == "judicial_confirmation":
        add_outcome(step, agreement, "applied", business_day(visited_at), p.get("notes"))
    d.status = after
    return Outcome(changes, p.get("notes"))
