"""Offline sync, push: a batch of offline operations, each in its own savepoint through the
existing use cases (register_dispute, act, add_attachment): no business rule lives here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core.errors import DomainError, ValidationFailed
from mediation import attachments
from mediation.disputes import files as case_files
from mediation.disputes import flow, registration
from mediation.disputes import settings as case_settings
from mediation.disputes.models import Attachment
from mediation.disputes.queries import outside_own_cells_of
from mediation.risks import sync_ops as risk_ops  # issue 21: risk signals pushed offline
from mediation.sync.models import (
    APPLIED,
    REJECTED,
    SyncOperation,
)
from mediation.sync.replay import _answer, _refusal, _replay, jsonable, request_hash
from mediation.times import check_not_future
from mediation.users.actor import Actor

log = logging.getLogger(__name__)

# Operation kinds a phone may push, and the workflow action each one takes.
ACTION_KINDS = {"record_session": "record_session", "record_visit": "record_visit"}
KINDS = (
    "register",
    "record_session",
    "record_visit",
    "transition",
    "attach_photo",
    *risk_ops.KINDS,
)


Loader = Callable[[str, dict, datetime], dict]


def push_operations(
    db_session: Session,
    *,
    actor: Actor,
    operations: list[dict],
    load: Loader,
    now: datetime,
    settings: case_settings.Settings,
    vault,
    store: attachments.FileStore,
) -> list[dict]:
    """Apply a batch of offline operations in order, each in its own savepoint, each idempotent
    by its op id; one answer per operation (applied / already_applied / conflict / rejected).
    Flushes only: the caller commits once."""
    ctx = {"load": load, "now": now, "settings": settings, "vault": vault, "store": store}
    return [_push_one(db_session, actor, op, ctx) for op in operations]


def _push_one(db_session: Session, actor: Actor, op: dict, ctx: dict) -> dict:
    now = ctx["now"]
    digest = request_hash(op)
    row = db_session.get(SyncOperation, op["op_id"])
    if row is not None:
        return _replay(db_session, actor, op, row, digest, now)
    record = dict(
        op_id=op["op_id"],
        user_id=actor.user_id,
        kind=op["kind"],
        case_id=op.get("case_id"),
        request_hash=digest,
        device_time=op.get("happened_at"),
        received_at=now,
    )
    try:
        with db_session.begin_nested():
            # Claim the id first: a concurrent resend of the same operation waits here for our
            # commit and then answers as a replay.
            claim = SyncOperation(status="pending", result={}, **record)
            db_session.add(claim)
            db_session.flush()
            result = jsonable(_apply(db_session, actor, op, ctx))
            claim.status, claim.result = APPLIED, {"result": result}
            db_session.flush()
        return _answer(op, APPLIED, received_at=now, result=result)
    except (OperationalError, InterfaceError):
        # The database went away: no answer per operation (the batch cannot commit anyway);
        # the whole request fails with 503 and the phone resends the batch.
        raise
    except IntegrityError:
        row = db_session.get(SyncOperation, op["op_id"], populate_existing=True)
        if row is not None:
            return _replay(db_session, actor, op, row, digest, now)
        log.exception("sync operation %s failed", op["op_id"])
        error = {"code": "server_error", "message": "服务器处理失败，请稍后重发", "retryable": True}
        return _answer(op, REJECTED, received_at=now, error=error)
    except DomainError as exc:
        return _refusal(db_session, actor, op, record, exc, now)
    except Exception:
        log.exception("sync operation %s failed", op["op_id"])
        error = {"code": "server_error", "message": "服务器处理失败，请稍后重发", "retryable": True}
        return _answer(op, REJECTED, received_at=now, error=error)


def _apply(db_session: Session, actor: Actor, op: dict, ctx: dict) -> dict:
    kind, now = op["kind"], ctx["now"]
    check_not_future(
        op.get("happened_at"),
        now=now,
        skew=ctx["settings"].clock_skew,
        field="happened_at",
        label="操作发生时间",
    )
    payload = dict(op.get("payload") or {})
    if kind == "register":
        return _register(db_session, actor, op, payload, ctx)
    if kind in risk_ops.KINDS:  # issue 21: the risk package's own operations
        return risk_ops.apply(db_session, actor, op, ctx["load"](kind, payload, now), ctx)
    if op.get("case_id") is None:
        raise ValidationFailed("请填写案件编号", code="case_id_required", field="case_id")
    if kind == "attach_photo":
        return _attach(db_session, actor, op, ctx["load"](kind, payload, now), ctx)
    action = ACTION_KINDS.get(kind) or op.get("action")
    if not action:
        raise ValidationFailed("请填写要执行的操作", code="action_required", field="action")
    photo_sha = payload.pop("photo_sha256", None)
    data = ctx["load"]("action", payload, now)
    if action == "record_visit":
        data.setdefault("visited_at", op.get("happened_at"))
        if data.get("visited_at") is None:
            data.pop("visited_at")
        if photo_sha:
            data["photo_id"] = _attachment_id(db_session, op["case_id"], photo_sha)
    dispute = flow.act(
        db_session,
        actor=actor,
        dispute_id=op["case_id"],
        action=action,
        payload=data,
        expected_version=op.get("base_version"),
        now=now,
        settings=ctx["settings"],
        device_time=op.get("happened_at"),
    )
    return {"case_id": dispute.id, "version": dispute.version, "status": dispute.status}


def _attachment_id(db_session, case_id, sha256: str):
    att = db_session.scalar(
        select(Attachment.id).where(Attachment.dispute_id == case_id, Attachment.sha256 == sha256)
    )
    if att is None:
        raise ValidationFailed(
            "该照片尚未附加到案件：请先推送 attach_photo 操作",
            code="photo_not_attached",
            field="payload.photo_sha256",
        )
    return att


def _register(db_session, actor, op, payload, ctx) -> dict:
    if op.get("case_id") is None:
        raise ValidationFailed(
            "登记操作须带客户端生成的案件编号 case_id", code="case_id_required", field="case_id"
        )
    data = ctx["load"]("register", payload, ctx["now"])
    photos = data.pop("_photos", [])
    data["client_id"] = op["case_id"]
    if op.get("happened_at") is not None:
        data["device_recorded_at"] = op["happened_at"]
    dispute, created, _written = registration.register_dispute(
        db_session,
        actor=actor,
        data=data,
        photos=photos,
        now=ctx["now"],
        settings=ctx["settings"],
        vault=ctx["vault"],
        store=ctx["store"],
    )
    return {
        "case_id": dispute.id,
        "case_number": dispute.case_number,
        "version": dispute.version,
        "status": dispute.status,
        "created": created,
        # registered outside the grid worker's own cells: ask (see the case file's warnings)
        "outside_own_cells": outside_own_cells_of(db_session, dispute.id),
    }


def _attach(db_session, actor, op, data: dict, ctx) -> dict:
    store = ctx["store"]
    sha = data["sha256"]
    try:
        with open(store.path(sha), "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ValidationFailed(
            "照片尚未上传：请先上传照片（PUT /api/v1/sync/photos/{sha256}），再用同一编号重发",
            code="photo_not_uploaded",
            field="payload.sha256",
        ) from None
    checked = attachments.check(
        raw,
        filename=data.get("filename"),
        allowed=attachments.PHOTO_TYPES,
        max_bytes=ctx["settings"].max_photo_bytes,
        field="payload.sha256",
    )
    att, _ = case_files.add_attachment(
        db_session,
        actor=actor,
        dispute_id=op["case_id"],
        checked=checked,
        kind="photo",
        now=ctx["now"],
        store=store,
    )
    return {"case_id": att.dispute_id, "attachment_id": att.id, "sha256": att.sha256}
