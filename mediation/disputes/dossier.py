"""Is the case file (卷宗, 人民调解法 Art 27) complete enough to archive? What is missing, by field."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mediation.disputes.enums import (
    ORANGE,
    RED,
    REFERRED,
    REJECTED,
    RESOLVED,
    TERMINATED,
    WITHDRAWN,
)
from mediation.disputes.models import Agreement, Attachment, Dispute
from mediation.disputes.settings import Settings

# Visits a resolved case must have had before its file is closed (domain §3: RED/ORANGE cases get
# a second visit 30 days after the first).
VISITS_REQUIRED = {RED: 2, ORANGE: 2}
EXIT_RECORD = {
    REJECTED: ("ground", "不予受理的法定事由"),
    TERMINATED: ("reason", "调解终止的原因"),
    WITHDRAWN: ("reason", "撤回的原因"),
    REFERRED: ("target", "移送的机关"),
}


def visits_required(dispute: Dispute) -> int:
    """Follow-up visits a resolved case needs on file: two for RED/ORANGE, else one."""
    return VISITS_REQUIRED.get(dispute.risk_level, 1)


def missing(db_session: Session, dispute: Dispute, settings: Settings) -> dict[str, list[str]]:
    """What the file lacks, field → Chinese messages (empty when it can be archived)."""
    out: dict[str, list[str]] = {}
    if dispute.status in EXIT_RECORD:
        key, label = EXIT_RECORD[dispute.status]
        if not (dispute.exit_detail or {}).get(key):
            out["exit_record"] = [f"缺少{label}"]
        return out
    if dispute.status != RESOLVED:
        return out
    if dispute.mediation_started_at and not dispute.rights_notified_at:
        out["rights_notice"] = ["缺少权利义务告知记录"]
    agreement = db_session.scalar(
        select(Agreement)
        .where(Agreement.dispute_id == dispute.id)
        .order_by(Agreement.id.desc())
        .limit(1)
    )
    if agreement is None:
        out["agreement"] = ["缺少调解协议（书面或口头记录）"]
    elif agreement.form == "written" and settings.archive_requires_signed_agreement:
        signed = db_session.scalar(
            select(Attachment.id)
            .where(Attachment.dispute_id == dispute.id, Attachment.kind == "agreement")
            .limit(1)
        )
        if signed is None:
            out["signed_agreement"] = ["缺少当事人签名的调解协议书（请上传协议书扫描件）"]
    need = visits_required(dispute)
    if dispute.visits_done < need:
        out["visits"] = [f"回访记录不足：需要 {need} 次，已有 {dispute.visits_done} 次"]
    return out
