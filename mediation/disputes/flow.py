"""Taking one action on a case: the table decides, one handler per action applies it."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, DomainError, ValidationFailed
from mediation.disputes import deadlines, risk, workflow
from mediation.disputes import reminders as case_reminders
from mediation.disputes.access import case_state, get_dispute, standing
from mediation.disputes.audit import record_event
from mediation.disputes.deadlines import plan_next_due
from mediation.disputes.enums import (
    CLOSED_STATUSES,
    RED,
    REFERRED_OUT,
    REOPENED,
    RESOLVED,
)
from mediation.disputes.models import (
    Agreement,
    Attachment,
    Dispute,
    Escalation,
    FollowUpVisit,
    MediationSession,
    RiskAssessment,
)
from mediation.disputes.settings import Settings
from mediation.times import check_not_before, check_not_future
from mediation.users.actor import Actor
from mediation.users.enums import LEADER
from mediation.users.models import User


def act(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    action: str,
    payload: dict,
    expected_version: int | None,
    now: datetime,
    settings: Settings,
    device_time: datetime | None = None,
) -> Dispute:
    """Take one action on a case: check the table, the version, apply, audit, plan what is due.
    `device_time` is when the phone recorded an offline action (kept on the event beside `now`)."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    if expected_version is None:
        raise DomainError(
            "请带上案件版本号（If-Match 或 expected_version）后重试",
            code="precondition_required",
        )
    if dispute.version != expected_version:
        raise Conflict(
            "案件已被他人修改，请刷新后重试",
            code="version_conflict",
            details={"current_version": dispute.version, "status": dispute.status},
        )
    to_status = workflow.decide(action, case_state(dispute), standing(actor, dispute), payload)
    before = dispute.status
    dispute.version += 1
    changes, reason = HANDLERS[action](db_session, dispute, actor, payload, now, settings)
    if to_status != "by_result":
        dispute.status = to_status
    if (
        dispute.status in CLOSED_STATUSES
        and dispute.closed_at is None
        and dispute.status != RESOLVED
    ):
        dispute.closed_at = now
    if dispute.status != before:
        changes["status"] = [before, dispute.status]
    agreement = current_agreement(db_session, dispute)
    escalation = pending_escalation(db_session, dispute)
    plan_next_due(dispute, settings.limits, agreement, escalation)
    record_event(
        db_session,
        dispute,
        actor,
        action,
        now,
        before,
        dispute.status,
        changes,
        reason,
        device_at=device_time,
    )
    db_session.flush()
    case_reminders.sync_case(
        db_session,
        dispute=dispute,
        now=now,
        reason=action,
        red_alert_levels=settings.red_alert_levels,
    )
    return dispute


def current_agreement(db_session: Session, dispute: Dispute) -> Agreement | None:
    return db_session.scalar(
        select(Agreement)
        .where(Agreement.dispute_id == dispute.id)
        .order_by(Agreement.id.desc())
        .limit(1)
    )


def pending_escalation(db_session: Session, dispute: Dispute) -> Escalation | None:
    if not dispute.escalation_target:
        return None
    return db_session.scalar(
        select(Escalation)
        .where(Escalation.dispute_id == dispute.id, Escalation.status == "pending")
        .order_by(Escalation.id.desc())
        .limit(1)
    )


def _accept(db, d, actor, p, now, s):
    d.accepted_at = now
    d.mediation_due_on = deadlines.mediation_due(now, s.limits)
    return {
        "accepted_at": [None, now.isoformat()],
        "mediation_due_on": [None, d.mediation_due_on.isoformat()],
    }, p.get("note")


def _reject(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"]}
    return {}, p["reason"]


def _case_began(d: Dispute) -> datetime:
    """When the case was first recorded: on the phone (offline) or at the server."""
    return min(t for t in (d.registered_at, d.device_recorded_at) if t is not None)


def _start(db, d, actor, p, now, s):
    _check_case_time(d, p.get("notified_at"), now, s, "notified_at", "权利义务告知时间")
    d.rights_notice = p["rights_notice"]
    d.rights_notified_at = p.get("notified_at") or now
    d.mediation_started_at = now
    if d.mediation_due_on is None:
        d.mediation_due_on = deadlines.mediation_due(now, s.limits)
    return {"rights_notified_at": [None, d.rights_notified_at.isoformat()]}, None


def _check_case_time(d, value, now, s, field: str, label: str) -> None:
    check_not_future(value, now=now, skew=s.clock_skew, field=field, label=label)
    check_not_before(
        value,
        _case_began(d),
        field=field,
        code="before_registration",
        message=f"{label}不能早于案件登记时间",
    )


def _session(db, d, actor, p, now, s):
    _check_case_time(d, p["held_at"], now, s, "held_at", "调解时间")
    db.add(
        MediationSession(
            dispute_id=d.id,
            held_at=p["held_at"],
            place=p.get("place"),
            mediators=p.get("mediators"),
            summary=p["summary"],
            recorded_by=actor.user_id,
            created_at=now,
        )
    )
    return {"session": [None, p["held_at"].isoformat()]}, None


def _escalate(db, d, actor, p, now, s):
    workflow.check_level_move("escalate", d.handling_level, p["to_level"])
    db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="up",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="pending",
            requested_by=actor.user_id,
            requested_at=now,
        )
    )
    d.escalation_target = p["to_level"]
    db.flush()
    return {"escalation_target": [None, p["to_level"]]}, p["reason"]


def _decide_escalation(accepted: bool):
    def handler(db, d, actor, p, now, s):
        esc = pending_escalation(db, d)
        esc.status = "accepted" if accepted else "returned"
        esc.decided_by, esc.decided_at, esc.decision_reason = actor.user_id, now, p.get("reason")
        changes = {"escalation_target": [d.escalation_target, None]}
        if accepted:
            changes["handling_level"] = [d.handling_level, esc.to_level]
            d.handling_level = esc.to_level
        d.escalation_target = None
        return changes, p.get("reason")

    return handler


def _return_down(db, d, actor, p, now, s):
    workflow.check_level_move("return_down", d.handling_level, p["to_level"])
    db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="down",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="done",
            requested_by=actor.user_id,
            requested_at=now,
            decided_by=actor.user_id,
            decided_at=now,
        )
    )
    changes = {"handling_level": [d.handling_level, p["to_level"]]}
    d.handling_level = p["to_level"]
    return changes, p["reason"]


AGREEMENT_TERMS = {"performance_method": "请填写履行方式", "performance_deadline": "请填写履行期限"}


def _agree(db, d, actor, p, now, s):
    missing = {f: [m] for f, m in AGREEMENT_TERMS.items() if not p.get(f)}
    if p["form"] == "written" and not p.get("performed_immediately") and missing:
        raise ValidationFailed(
            "书面协议须写明履行方式和期限（人民调解法第二十九条）",
            code="agreement_incomplete",
            fields=missing,  # only what is actually missing
        )
    deadline = p.get("performance_deadline")
    if deadline and deadline < deadlines.business_day(now):
        raise ValidationFailed(
            "履行期限不能早于今天", code="invalid_date", field="performance_deadline"
        )
    db.add(
        Agreement(
            dispute_id=d.id,
            cell_code=d.cell_code,
            form=p["form"],
            terms=p["terms"],
            performance_method=p.get("performance_method"),
            performance_place=p.get("performance_place"),
            performance_deadline=deadline,
            performed_immediately=bool(p.get("performed_immediately")),
            amount=p.get("amount"),
            judicial_confirmation_due_on=deadlines.add_days(
                s.limits, "judicial", deadlines.business_day(now), s.limits.judicial_window_days
            ),
            recorded_by=actor.user_id,
            created_at=now,
        )
    )
    d.agreed_at = now
    d.visits_done = 0
    db.flush()
    return {"agreement_form": [None, p["form"]], "amount": [None, str(p.get("amount") or "")]}, None


def _terminate(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"], "routes": p["routes"]}
    return {"routes": [None, p["routes"]]}, p["reason"]


def _refer(db, d, actor, p, now, s):
    d.exit_detail = {
        "target": p["target"],
        "organisation": p.get("organisation"),
        "reason": p["reason"],
    }
    changes = {
        "handling_level": [d.handling_level, REFERRED_OUT],
        "referred_to": [None, p["target"]],
    }
    d.resolved_level = None
    d.handling_level = REFERRED_OUT
    return changes, p["reason"]


def _withdraw(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"]}
    return {}, p["reason"]


def _extend(db, d, actor, p, now, s):
    consent = p["consent"]
    if not (consent.get("applicant") and consent.get("respondent")):
        raise ValidationFailed(
            "延长调解期限须双方当事人同意并记录", code="consent_required", field="consent"
        )
    if d.mediation_due_on and p["new_due_date"] <= d.mediation_due_on:
        raise ValidationFailed("新的期限应晚于原期限", code="invalid_date", field="new_due_date")
    changes = {
        "mediation_due_on": [
            d.mediation_due_on.isoformat() if d.mediation_due_on else None,
            p["new_due_date"].isoformat(),
        ],
        "consent": [None, consent],
    }
    d.mediation_due_on = p["new_due_date"]
    return changes, p.get("reason")


def _visit(db, d, actor, p, now, s):
    before = d.status
    after = workflow.visit_outcome(p["result"], before)
    visited_at = p.get("visited_at") or now
    check_not_future(visited_at, now=now, skew=s.clock_skew, field="visited_at", label="回访时间")
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
    location = None
    if p.get("location"):
        loc = p["location"]
        from geo import crs as crs_mod
        from geo.locate import check_point

        lon, lat = check_point(loc["lon"], loc["lat"], field_prefix="location.")
        wlon, wlat = (
            float(v)
            for v in crs_mod.to_wgs84(lon, lat, crs_mod.check_system(loc["crs"], "location.crs"))
        )
        location = from_shape(Point(wlon, wlat), srid=4326)
    if p.get("photo_id") and not db.scalar(
        select(Attachment.id).where(Attachment.id == p["photo_id"], Attachment.dispute_id == d.id)
    ):
        raise ValidationFailed("照片不属于该案件", code="attachment_not_found", field="photo_id")
    db.add(
        FollowUpVisit(
            dispute_id=d.id,
            cell_code=d.cell_code,
            visited_at=visited_at,
            method=p["method"],
            result=p["result"],
            satisfaction=p.get("satisfaction"),
            notes=p.get("notes"),
            visitor_id=actor.user_id,
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
        d.mediation_due_on = deadlines.mediation_due(now, s.limits)
        changes["recurrence_count"] = [d.recurrence_count - 1, d.recurrence_count]
    elif after == "terminated":
        d.exit_detail = {"reason": "当事人已起诉", "routes": ["litigation"]}
    d.status = after
    return changes, p.get("notes")


def _assess(db, d, actor, p, now, s):
    parties = len(d.parties)
    result = risk.assess(
        likelihood=p["likelihood"],
        severity=p["severity"],
        flags=p.get("flags") or [],
        parties=parties,
        people_involved=d.people_involved,
        group_min_parties=s.group_min_parties,
        group_min_people=s.group_min_people,
    )
    db.add(
        RiskAssessment(
            dispute_id=d.id,
            likelihood=result.likelihood,
            severity=result.severity,
            score=result.score,
            level=result.level,
            forced_reasons=list(result.forced_reasons),
            note=p.get("note"),
            assessed_by=actor.user_id,
            assessed_at=now,
        )
    )
    changes = {
        "risk_level": [d.risk_level, result.level],
        "risk_score": [d.risk_score, result.score],
    }
    if result.level == RED and d.risk_level != RED:
        d.red_since = now
    elif result.level != RED:
        d.red_since = None
    d.risk_level, d.risk_score = result.level, result.score
    d.group_dispute = d.group_dispute or "group_dispute" in result.forced_reasons
    return changes, p.get("note")


def _assign_leader(db, d, actor, p, now, s):
    leader = db.scalar(select(User).where(User.id == p["leader_id"], User.is_active.is_(True)))
    ok = leader is not None and any(
        r.role == LEADER
        and r.area_code
        and (d.township_code.startswith(r.area_code) or r.area_code == d.township_code)
        for r in leader.roles
    )
    if not ok:
        raise ValidationFailed(
            "请选择本乡镇或本县的包案领导", code="invalid_leader", field="leader_id"
        )
    changes = {"leader_id": [d.leader_id, leader.id]}
    d.leader_id = leader.id
    return changes, None


def _archive(db, d, actor, p, now, s):
    d.archived_at = now
    return {}, None


HANDLERS = {
    "accept": _accept,
    "reject": _reject,
    "start_mediation": _start,
    "record_session": _session,
    "escalate": _escalate,
    "accept_escalation": _decide_escalation(True),
    "return_escalation": _decide_escalation(False),
    "return_down": _return_down,
    "agree": _agree,
    "terminate": _terminate,
    "refer": _refer,
    "withdraw": _withdraw,
    "extend": _extend,
    "record_visit": _visit,
    "assess_risk": _assess,
    "assign_leader": _assign_leader,
    "archive": _archive,
}
