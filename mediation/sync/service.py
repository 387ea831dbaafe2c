"""Use cases of offline sync: pull what changed for me since a cursor, push a batch of offline
operations, store photos by checksum.

Pull reads the change log written by triggers (migration 0006) and answers with the *current*
state of each changed entity, scoped by the puller's scope at pull time; what the puller can no
longer see becomes a tombstone. Push runs every operation in its own savepoint through the
existing use cases (register_dispute, act, add_attachment): no business rule lives here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, false, not_, or_, select, text, tuple_
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core.errors import DomainError, NotFound, ValidationFailed
from geo.features import current_cells
from geo.scope import record_clause
from mediation import attachments
from mediation.disputes import access, enums, flow, registration
from mediation.disputes import files as case_files
from mediation.disputes import settings as case_settings
from mediation.disputes.models import Attachment, Dispute
from mediation.disputes.queries import outside_own_cells_of, summary
from mediation.reminders.models import OPEN_STATES, Reminder
from mediation.risks import sync_ops as risk_ops  # issue 21: risk signals pushed offline
from mediation.sync import cursor as cursors
from mediation.sync.models import (
    ALREADY_APPLIED,
    APPLIED,
    ASSIGNMENT,
    CASE,
    CELL,
    CONFLICT,
    REJECTED,
    SCOPE,
    SyncChange,
    SyncOperation,
)
from mediation.times import check_not_future
from mediation.users.actor import Actor

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
DELETED = "deleted"
RETIRED = "retired"  # a cell whose boundary version ended without a successor

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
# Rejections that depend on something the phone may still send: not recorded, so resending the
# same operation later is evaluated again.
RETRYABLE = {"case_unknown", "photo_not_uploaded", "server_error", "storage_full"}


# ------------------------------------------------------------------ pull


def horizon(db_session: Session) -> int:
    """The oldest transaction still running (xmin): every txid below it has ended."""
    return db_session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))


def reference_data(config: dict) -> dict:
    """Enumerations and configuration a phone needs to work offline (first page of a first sync)."""
    return {
        "enumerations": {
            "categories": enums.CATEGORIES,
            "key_areas": list(enums.KEY_AREAS),
            "statuses": enums.STATUS_LABELS,
            "handling_levels": enums.LEVEL_LABELS,
            "risk_levels": enums.RISK_LABELS,
            "forced_red_flags": enums.FORCED_RED_FLAGS,
            "sources": enums.SOURCES,
            "party_roles": enums.PARTY_ROLES,
            "party_kinds": enums.PARTY_KINDS,
            "id_types": enums.ID_TYPES,
            "agreement_forms": enums.AGREEMENT_FORMS,
            "visit_methods": enums.VISIT_METHODS,
            "visit_results": enums.VISIT_RESULTS,
            "satisfaction": enums.SATISFACTION,
            "termination_routes": enums.TERMINATION_ROUTES,
            "referral_targets": enums.REFERRAL_TARGETS,
        },
        "config": config,
    }


def _reminders_of(db_session: Session, case_ids) -> dict:
    out: dict = {i: [] for i in case_ids}
    if not case_ids:
        return out
    rows = db_session.scalars(
        select(Reminder)
        .where(Reminder.dispute_id.in_(list(case_ids)), Reminder.state.in_(OPEN_STATES))
        .order_by(Reminder.due_at, Reminder.id)
    )
    for r in rows:
        out[r.dispute_id].append(
            {
                "id": r.id,
                "kind": r.kind,
                "title": r.title,
                "state": r.state,
                "due_at": r.due_at,
                "remind_at": r.remind_at,
                "recipient_id": r.recipient_id,
                "recipient_role": r.recipient_role,
                "recipient_area": r.recipient_area,
            }
        )
    return out


def _case_entries(db_session: Session, disputes_: list[Dispute], now: datetime) -> list[dict]:
    reminders = _reminders_of(db_session, [d.id for d in disputes_])
    return [
        {
            "type": CASE,
            "op": "upsert",
            "id": d.id,
            "data": {**summary(d, now), "reminders": reminders[d.id]},
        }
        for d in disputes_
    ]


def _tombstone(kind: str, key, reason: str) -> dict:
    return {"type": kind, "op": "delete", "id": key, "reason": reason}


def _relevant(actor: Actor):
    """Log rows that may concern the actor under their scope now (cases by area or registrant,
    their own cells, their own assignments)."""
    scope = actor.case_scope
    in_area = record_clause(
        scope,
        cell=SyncChange.cell_code,
        village=SyncChange.village_code,
        township=SyncChange.township_code,
        county=SyncChange.county_code,
    )
    mine = SyncChange.user_id == actor.user_id if actor.user_id is not None else false()
    cells = SyncChange.entity_id.in_(sorted(actor.cells)) if actor.cells else false()
    return or_(
        and_(SyncChange.entity == CASE, or_(in_area, mine)),
        and_(SyncChange.entity == CELL, cells),
        and_(SyncChange.entity.in_([ASSIGNMENT, SCOPE]), mine),
    )


def pull_changes(
    db_session: Session,
    *,
    actor: Actor,
    cursor: str | None,
    limit: int,
    now: datetime,
    config: dict,
) -> dict:
    """Everything that changed for the actor since the cursor, as one page of an ordered stream
    of upserts and tombstones, with the next cursor; no cursor starts a first sync."""
    if cursor is None:
        return _first_page(db_session, actor=actor, now=now, limit=limit, config=config)
    where = cursors.decode(cursor)
    if isinstance(where, cursors.Bootstrap):
        return _bootstrap_page(db_session, actor=actor, boot=where, now=now, limit=limit)
    return _log_page(db_session, actor=actor, position=where, now=now, limit=limit)


def _first_page(db_session, *, actor, now, limit, config) -> dict:
    # The watermark is read before the tables: a transaction below it had committed before any
    # of the reads below, so it is in them; anything at or above it is served again from the
    # log (upserts are idempotent, so the overlap costs a few repeats, never a loss).
    boot = cursors.Bootstrap(horizon(db_session), cell="")
    page = _bootstrap_page(db_session, actor=actor, boot=boot, now=now, limit=limit)
    page["reset"] = True
    page.update(reference_data(config))
    return page


def _bootstrap_page(db_session, *, actor, boot: cursors.Bootstrap, now, limit) -> dict:
    """At most `limit` entries: my cells (while boot.cell is set), then the cases I may see."""
    changes: list[dict] = []
    if boot.cell is not None:
        codes = sorted(c for c in actor.cells if c > boot.cell)
        served = codes[:limit]
        cells = current_cells(db_session, codes=served, geometry_for=served)
        changes = [
            {"type": CELL, "op": "upsert", "id": c, "data": cells[c]} for c in served if c in cells
        ]
        if len(codes) > limit:
            return {
                "changes": changes,
                "cursor": cursors.encode(cursors.Bootstrap(boot.watermark, cell=served[-1])),
                "has_more": True,
                "reset": False,
            }
        boot = cursors.Bootstrap(boot.watermark)
    room = limit - len(changes)
    stmt = select(Dispute).where(access.visible_clause(actor))
    if boot.after is not None:
        stmt = stmt.where(Dispute.id > boot.after)
    rows = db_session.scalars(stmt.order_by(Dispute.id).limit(room + 1)).all()
    more = len(rows) > room
    rows = rows[:room]
    if more:
        nxt = cursors.Bootstrap(boot.watermark, rows[-1].id if rows else boot.after)
    else:
        nxt = boot.position
    return {
        "changes": changes + _case_entries(db_session, rows, now),
        "cursor": cursors.encode(nxt),
        "has_more": True if more else _log_has_rows(db_session, actor, boot.position),
        "reset": False,
    }


def _log_has_rows(db_session, actor, position: cursors.Position) -> bool:
    return bool(
        db_session.scalar(
            select(SyncChange.id)
            .where(
                tuple_(SyncChange.txid, SyncChange.id) > tuple_(position.txid, position.id),
                SyncChange.txid < horizon(db_session),
                _relevant(actor),
            )
            .limit(1)
        )
    )


def _log_page(db_session, *, actor, position: cursors.Position, now, limit) -> dict:
    upto = horizon(db_session)
    here = tuple_(SyncChange.txid, SyncChange.id)
    there = tuple_(position.txid, position.id)
    rows = db_session.scalars(
        select(SyncChange)
        .where(
            here >= there if position.within else here > there,
            SyncChange.txid < upto,
            _relevant(actor),
        )
        .order_by(SyncChange.txid, SyncChange.id)
        .limit(limit + 1)
    ).all()
    per_row = _materialise(db_session, actor, rows, now)
    changes: list[dict] = []
    last, full = position, False
    for r, entries in zip(rows, per_row, strict=True):
        if position.within and (r.txid, r.id) == (position.txid, position.id):
            entries = [e for e in entries if _entry_key(e) > position.within]
        for entry in entries:
            if len(changes) == limit:
                full = True
                break
            changes.append(entry)
            last = cursors.Position(r.txid, r.id, _entry_key(entry))
        if full:
            break
        last = cursors.Position(r.txid, r.id)
    more = full or len(rows) > limit
    if not more:
        # Nothing relevant is left below the horizon: move past it, so the next pull does not
        # scan the same irrelevant rows again (the horizon only ever moves forward).
        last = max(position, cursors.Position(upto - 1, cursors.MAX_ID))
    return {"changes": changes, "cursor": cursors.encode(last), "has_more": more, "reset": False}


def _entry_key(entry: dict) -> str:
    """Where an entry sorts among those of one log row: a cell first (`#`), then cases by id."""
    return "#" if entry["type"] != CASE else str(entry["id"])


def _materialise(db_session, actor: Actor, rows: list[SyncChange], now) -> list[list[dict]]:
    """Log rows → current state (or tombstones), in log order: the entries of each row."""
    case_ids = {uuid.UUID(r.entity_id) for r in rows if r.entity == CASE}
    gained = {r.entity_id.split(":", 1)[1] for r in rows if r.entity == ASSIGNMENT}
    gained &= actor.cells
    visible: dict = {}
    if case_ids:
        found = db_session.scalars(
            select(Dispute).where(Dispute.id.in_(case_ids), access.visible_clause(actor))
        ).all()
        visible = {e["id"]: e for e in _case_entries(db_session, found, now)}
    existing = set()
    if case_ids - set(visible):
        existing = set(
            db_session.scalars(select(Dispute.id).where(Dispute.id.in_(case_ids - set(visible))))
        )
    geometry = {r.entity_id for r in rows if r.entity == CELL and r.geometry_changed} | gained
    cell_codes = {r.entity_id for r in rows if r.entity == CELL} | gained
    cells = current_cells(db_session, codes=cell_codes, geometry_for=geometry)

    out: list[list[dict]] = []
    for r in rows:
        if r.entity == CASE:
            key = uuid.UUID(r.entity_id)
            if key in visible:
                out.append([visible[key]])
            else:
                out.append([_tombstone(CASE, key, OUT_OF_SCOPE if key in existing else DELETED)])
        elif r.entity == CELL:
            if r.entity_id in cells:
                out.append(
                    [{"type": CELL, "op": "upsert", "id": r.entity_id, "data": cells[r.entity_id]}]
                )
            else:
                out.append([_tombstone(CELL, r.entity_id, RETIRED)])
        elif r.entity == SCOPE:
            # Roles decide everything a phone holds: drop the cache and the cursor, sync anew.
            out.append(
                [{"type": SCOPE, "op": "resync", "id": r.entity_id, "reason": "roles_changed"}]
            )
        else:
            out.append(
                _assignment_entries(db_session, actor, r.entity_id.split(":", 1)[1], cells, now)
            )
    return out


def _assignment_entries(db_session, actor: Actor, cell: str, cells: dict, now) -> list[dict]:
    """A cell gained brings its boundary and its cases; a cell lost takes them away."""
    in_cell = select(Dispute).where(Dispute.cell_code == cell)
    if cell in actor.cells:
        head = (
            [{"type": CELL, "op": "upsert", "id": cell, "data": cells[cell]}]
            if cell in cells
            else []
        )
        found = db_session.scalars(
            in_cell.where(access.visible_clause(actor)).order_by(Dispute.id)
        ).all()
        return head + _case_entries(db_session, found, now)
    gone = db_session.scalars(
        select(Dispute.id)
        .where(Dispute.cell_code == cell, not_(access.visible_clause(actor)))
        .order_by(Dispute.id)
    ).all()
    return [_tombstone(CELL, cell, OUT_OF_SCOPE)] + [
        _tombstone(CASE, key, OUT_OF_SCOPE) for key in gone
    ]


# ------------------------------------------------------------------ push


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


# ------------------------------------------------------------------ photos


def store_photo(*, checked: attachments.Checked, sha256: str, store: attachments.FileStore) -> bool:
    """Keep an uploaded photo by its checksum until an attach_photo operation uses it; the same
    bytes twice are stored once. True when the file is new."""
    if checked.sha256 != sha256.lower():
        raise ValidationFailed(
            "文件内容与校验和不符（上传不完整？请重新上传）",
            code="checksum_mismatch",
            field="file",
            details={"expected": sha256.lower(), "received": checked.sha256},
        )
    return store.put(checked)
