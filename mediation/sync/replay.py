"""Offline sync, what makes a push idempotent: the request hash of an operation, the stored
answer replayed when the same operation comes again, a conflict when the same id comes with
different content, and the refusals that are recorded (or not, when retryable)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError, NotFound
from mediation.disputes import access
from mediation.disputes.models import Dispute
from mediation.sync.models import (
    ALREADY_APPLIED,
    APPLIED,
    CONFLICT,
    REJECTED,
    SyncOperation,
)
from mediation.sync.pull import _case_entries

# Rejections that depend on something the phone may still send: not recorded, so resending the
# same operation later is evaluated again.
RETRYABLE = {"case_unknown", "photo_not_uploaded", "server_error", "storage_full"}


def _default(o):
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o)
    return str(o)


def jsonable(value):
    """A plain-JSON copy (datetimes, UUIDs and decimals as text), as stored and as answered."""
    return json.loads(json.dumps(value, default=_default, ensure_ascii=False))


def request_hash(op: dict) -> str:
    """Fingerprint of an operation without its id: tells a resend from a reused id."""
    body = {k: v for k, v in op.items() if k != "op_id"}
    raw = json.dumps(body, sort_keys=True, default=_default, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _answer(op: dict, status: str, *, received_at, **extra) -> dict:
    return jsonable(
        {
            "op_id": op["op_id"],
            "kind": op["kind"],
            "case_id": op.get("case_id"),
            "status": status,
            "device_time": op.get("happened_at"),
            "received_at": received_at,
            "result": extra.get("result"),
            "error": extra.get("error"),
            "server": extra.get("server"),
        }
    )


def _server_state(db_session, actor, case_id, now) -> dict | None:
    d = db_session.scalar(
        select(Dispute).where(Dispute.id == case_id, access.visible_clause(actor))
    )
    return jsonable(_case_entries(db_session, [d], now)[0]["data"]) if d else None


def _replay(db_session, actor, op, row: SyncOperation, digest: str, now) -> dict:
    if row.user_id != actor.user_id or row.request_hash != digest:
        error = {
            "code": "operation_id_reused",
            "message": "该操作编号已用于另一项内容不同的操作，请为新操作生成新的编号",
            "retryable": False,
        }
        return _answer(op, REJECTED, received_at=now, error=error)
    stored = row.result or {}
    if row.status == CONFLICT:
        # Same answer as the first time, with the server's state as it is now.
        return _answer(
            op,
            CONFLICT,
            received_at=row.received_at,
            error=stored.get("error"),
            server=_server_state(db_session, actor, row.case_id, now),
        )
    status = ALREADY_APPLIED if row.status == APPLIED else row.status
    return _answer(
        op,
        status,
        received_at=row.received_at,
        result=stored.get("result"),
        error=stored.get("error"),
    )


def _refusal(db_session, actor, op, record, exc: DomainError, now) -> dict:
    code = exc.code
    if code == "dispute_not_found":
        code = "case_unknown"
        exc = NotFound(
            "服务器上没有该案件（或不在您的范围内）：如果它由尚未上传的登记操作创建，请先上传登记，再用同一编号重发本操作",
            code=code,
        )
    error = {
        "code": code,
        "message": exc.message,
        "fields": exc.fields or None,
        "details": jsonable(exc.details) if exc.details else None,
        "retryable": code in RETRYABLE,
    }
    if code == "version_conflict":
        server = _server_state(db_session, actor, op.get("case_id"), now)
        _record(db_session, record, CONFLICT, {"error": error})
        return _answer(op, CONFLICT, received_at=now, error=error, server=server)
    if code not in RETRYABLE:
        _record(db_session, record, REJECTED, {"error": error})
    return _answer(op, REJECTED, received_at=now, error=error)


def _record(db_session, record: dict, status: str, result: dict) -> None:
    try:
        with db_session.begin_nested():
            db_session.add(SyncOperation(status=status, result=jsonable(result), **record))
            db_session.flush()
    except IntegrityError:
        pass  # a concurrent resend recorded it first; both answers say the same
