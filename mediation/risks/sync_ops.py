"""Offline operations of the risk domain, applied by the sync push (issue 21): a risk signal
recorded on the phone, and a signal turned into a dispute registered in the same batch."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mediation.risks import signals
from mediation.users.actor import Actor

RECORD_SIGNAL = "record_signal"
CONVERT_SIGNAL = "convert_signal"
KINDS = (RECORD_SIGNAL, CONVERT_SIGNAL)


def apply(db_session: Session, actor: Actor, op: dict, data: dict, ctx: dict) -> dict:
    """Run one risk operation through its use case (the push's savepoint and op-id record
    around it make it idempotent); the signal's id is `payload.client_id`, else the op id."""
    if op["kind"] == RECORD_SIGNAL:
        if data.get("client_id") is None:
            data["client_id"] = op["op_id"]
        s, created = signals.record_signal(
            db_session,
            actor=actor,
            data=data,
            now=ctx["now"],
            settings=ctx["settings"],
            device_time=op.get("happened_at"),
        )
        return {
            "signal_id": s.id,
            "status": s.status,
            "village_code": s.village_code,
            "created": created,
        }
    s = signals.convert_signal(
        db_session,
        actor=actor,
        signal_id=data["signal_id"],
        dispute_id=data["dispute_id"],
        now=ctx["now"],
    )
    return {"signal_id": s.id, "status": s.status, "dispute_id": s.dispute_id}
