"""Personal data shown with a purpose (access-logged) and the case's attachments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from mediation.attachments import Checked, FileStore
from mediation.disputes.access import get_dispute
from mediation.disputes.models import (
    Attachment,
    Party,
)
from mediation.pii import Vault
from mediation.users.access_log import log_access, require_purpose
from mediation.users.actor import Actor
from mediation.users.enums import ACCESS_REVEAL, REVEAL_ROLES


def reveal_party_field(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    party_id: int,
    field: str,
    purpose: str,
    vault: Vault,
    ip: str | None,
    now: datetime,
) -> str | None:
    """A party's full ID number, phone or address for a role that needs it; logged with the
    purpose."""
    if field not in REVEAL_ROLES:
        raise ValidationFailed("只能查看身份证号、电话或住址", code="invalid_field", field="field")
    if not actor.has(*REVEAL_ROLES[field]):
        raise Forbidden("您的角色不能查看完整的个人信息", code="reveal_forbidden")
    purpose = require_purpose(purpose)
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    party = db_session.scalar(
        select(Party).where(Party.id == party_id, Party.dispute_id == dispute.id)
    )
    if party is None:
        raise NotFound("未找到该当事人", code="party_not_found")
    log_access(
        db_session,
        actor=actor,
        action=ACCESS_REVEAL,
        record_type="party",
        record_id=str(party.id),
        field=field,
        purpose=purpose,
        ip=ip,
        now=now,
    )
    blob = {
        "id_number": party.id_number_enc,
        "phone": party.phone_enc,
        "address": party.address_enc,
    }[field]
    return vault.decrypt(blob) if blob else None


def add_attachment(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    checked: Checked,
    kind: str,
    now: datetime,
    store: FileStore,
) -> tuple[Attachment, bool]:
    """Attach a file to a visible case; the same file twice is the same attachment (idempotent)."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    existing = db_session.scalar(
        select(Attachment).where(
            Attachment.dispute_id == dispute.id, Attachment.sha256 == checked.sha256
        )
    )
    if existing is not None:
        return existing, False
    new_file = store.put(checked)
    try:
        with db_session.begin_nested():
            att = Attachment(
                id=uuid.uuid4(),
                dispute_id=dispute.id,
                kind=kind,
                filename=checked.filename,
                content_type=checked.content_type,
                size=len(checked.data),
                sha256=checked.sha256,
                uploaded_by=actor.user_id,
                created_at=now,
            )
            db_session.add(att)
            db_session.flush()
    except BaseException:
        if new_file:
            store.discard(checked.sha256)
        raise
    return att, True


def get_attachment(db_session: Session, *, actor: Actor, dispute_id, attachment_id) -> Attachment:
    """An attachment of a visible case."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id)
    try:
        key = uuid.UUID(str(attachment_id))
    except ValueError:
        raise NotFound("未找到该附件", code="attachment_not_found") from None
    att = db_session.scalar(
        select(Attachment).where(Attachment.id == key, Attachment.dispute_id == dispute.id)
    )
    if att is None:
        raise NotFound("未找到该附件", code="attachment_not_found")
    return att
