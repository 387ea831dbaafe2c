"""Actions of the case's own progress: accept or reject, start, sessions, extension, exits
that need only a reason, archiving."""

from __future__ import annotations

from datetime import datetime

from core.errors import ValidationFailed
from mediation.disputes import deadlines, dossier
from mediation.disputes.actions.step import Outcome, Step
from mediation.disputes.enums import REJECT_GROUNDS
from mediation.disputes.models import Dispute, MediationSession
from mediation.times import check_not_before, check_not_future


def accept(step: Step) -> Outcome:
    d, now = step.dispute, step.now
    d.accepted_at = now
    d.mediation_due_on = deadlines.mediation_due(now, step.settings.limits)
    if d.external_due_on and d.external_due_on < d.mediation_due_on:
        # A partner's deadline (a 12345 order, a court's 诉前委派 limit) binds when it is shorter.
        d.mediation_due_on = d.external_due_on
    return Outcome(
        {
            "accepted_at": [None, now.isoformat()],
            "mediation_due_on": [None, d.mediation_due_on.isoformat()],
        },
        step.payload.get("note"),
    )


def reject(step: Step) -> Outcome:
    """不予受理 on one of the legal grounds (REJECT_GROUNDS); `other` needs a written reason."""
    ground, reason = step.payload["ground"], (step.payload.get("reason") or "").strip()
    if ground == "other" and not reason:
        raise ValidationFailed(
            "选择“其他”时请写明不予受理的理由", code="reason_required", field="reason"
        )
    step.dispute.exit_detail = {
        "ground": ground,
        "ground_label": REJECT_GROUNDS[ground],
        "reason": reason or None,
    }
    return Outcome({"ground": [None, ground]}, reason or REJECT_GROUNDS[ground])


def refuse_mediation(step: Step) -> Outcome:
    """A party clearly refuses mediation (人民调解法 Art 17): the case cannot be mediated; it
    ends as 调解终止 with that legal basis and the routes the parties were advised of."""
    d, p = step.dispute, step.payload
    party = next((x for x in d.parties if x.id == p["party_id"]), None)
    if party is None:
        raise ValidationFailed("该当事人不属于本案", code="party_not_found", field="party_id")
    d.exit_detail = {
        "ground": "party_refused",
        "legal_basis": "人民调解法第十七条",
        "party_id": party.id,
        "party_role": party.role,
        "reason": p.get("reason"),
        "routes": p.get("routes") or [],
    }
    return Outcome(
        {"refused_by": [None, party.role], "routes": [None, p.get("routes") or []]},
        p.get("reason") or REJECT_GROUNDS["party_refused"],
    )


def case_began(d: Dispute) -> datetime:
    """When the case was first recorded: on the phone (offline) or at the server."""
    return min(t for t in (d.registered_at, d.device_recorded_at) if t is not None)


def check_case_time(step: Step, value, field: str, label: str) -> None:
    check_not_future(value, now=step.now, skew=step.settings.clock_skew, field=field, label=label)
    check_not_before(
        value,
        case_began(step.dispute),
        field=field,
        code="before_registration",
        message=f"{label}不能早于案件登记时间",
    )


def start(step: Step) -> Outcome:
    d, p, now = step.dispute, step.payload, step.now
    check_case_time(step, p.get("notified_at"), "notified_at", "权利义务告知时间")
    d.rights_notice = p["rights_notice"]
    d.rights_notified_at = p.get("notified_at") or now
    d.mediation_started_at = now
    if d.mediation_due_on is None:
        d.mediation_due_on = deadlines.mediation_due(now, step.settings.limits)
    return Outcome({"rights_notified_at": [None, d.rights_notified_at.isoformat()]})


def record_session(step: Step) -> Outcome:
    p = step.payload
    check_case_time(step, p["held_at"], "held_at", "调解时间")
    step.db.add(
        MediationSession(
            dispute_id=step.dispute.id,
            held_at=p["held_at"],
            place=p.get("place"),
            mediators=p.get("mediators"),
            summary=p["summary"],
            recorded_by=step.actor.user_id,
            created_at=step.now,
        )
    )
    return Outcome({"session": [None, p["held_at"].isoformat()]})


def extend(step: Step) -> Outcome:
    d, p = step.dispute, step.payload
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
    return Outcome(changes, p.get("reason"))


def withdraw(step: Step) -> Outcome:
    reason = step.payload["reason"]
    step.dispute.exit_detail = {"reason": reason}
    return Outcome({}, reason)


def archive(step: Step) -> Outcome:
    """归档 only a complete 卷宗 (人民调解法 Art 27): 422 `file_incomplete` lists what is missing."""
    missing = dossier.missing(step.db, step.dispute, step.settings)
    if missing:
        raise ValidationFailed(
            "卷宗不完整，不能归档：" + "；".join(m for ms in missing.values() for m in ms),
            code="file_incomplete",
            fields=missing,
        )
    step.dispute.archived_at = step.now
    return Outcome({})
