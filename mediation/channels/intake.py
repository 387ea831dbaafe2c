"""A partner's work order becomes a case: one case per (partner, reference), whatever the order
and number of pushes; a reference reused with other content is refused (`reference_conflict`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from mediation import idempotency
from mediation.attachments import FileStore
from mediation.channels.enums import SOURCE_OF_PARTNER
from mediation.channels.partners import Caller
from mediation.disputes import deadlines
from mediation.disputes.enums import TOWNSHIP
from mediation.disputes.registration import Channel, Registered, register_dispute
from mediation.disputes.settings import Settings
from mediation.pii import Vault

# The case id of an order is derived from (partner, reference): the dispute's primary key and the
# unique index on (partner_id, partner_reference) make concurrent repeats one case.
ORDER_NAMESPACE = uuid.UUID("4d1f2c7e-9b1a-5c3e-8f00-20a0c0de0020")
ORDER = idempotency.Record(
    taken="该工单编号已被其他合作方使用",
    changed="该工单编号已登记，但本次推送的内容不同；如需变更请联系综治中心",
    conflict_code="reference_conflict",
    field="reference",
)


def order_case_id(partner_id: int, reference: str) -> uuid.UUID:
    """The case id of a partner's order (stable: every repeat names the same case)."""
    return uuid.uuid5(ORDER_NAMESPACE, f"{partner_id}:{reference}")


def receive_order(
    db_session: Session,
    *,
    caller: Caller,
    order: dict,
    now: datetime,
    settings: Settings,
    vault: Vault,
    store: FileStore,
) -> Registered:
    """Register a partner's order at the township centre (flush only; the view commits)."""
    partner = caller.partner
    due_on = order.get("deadline")
    if partner.kind == "hotline" and due_on is None:
        raise ValidationFailed("12345 工单须带办理期限", code="deadline_required", field="deadline")
    if due_on is not None and due_on < deadlines.business_day(now):
        raise ValidationFailed("办理期限不能早于今天", code="deadline_in_past", field="deadline")
    data = {
        **order,
        "client_id": order_case_id(partner.id, order["reference"]),
        "source": SOURCE_OF_PARTNER[partner.kind],
    }
    return register_dispute(
        db_session,
        actor=caller.actor,
        data=data,
        photos=[],
        now=now,
        settings=settings,
        vault=vault,
        store=store,
        channel=Channel(
            channel=partner.kind,
            level=TOWNSHIP,
            partner_id=partner.id,
            reference=order["reference"],
            due_on=due_on,
            scope=partner.area_code,
        ),
        record=ORDER,
    )
