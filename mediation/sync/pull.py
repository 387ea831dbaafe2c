"""Offline sync, pull: what changed for me since a cursor. Reads the change log written by
triggers (migration 0008) and answers with the *current* state of each changed entity, scoped by
the puller's scope at pull time; what the puller can no longer see becomes a tombstone."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, false, not_, or_, select, text, tuple_
from sqlalchemy.orm import Session

from geo.features import current_cells
from geo.scope import record_clause
from mediation.disputes import access, enums
from mediation.disputes.models import Dispute
from mediation.disputes.queries import summary
from mediation.reminders.models import OPEN_STATES, Reminder
from mediation.sync import cursor as cursors
from mediation.sync.models import (
    ASSIGNMENT,
    CASE,
    CELL,
    SCOPE,
    SyncChange,
)
from mediation.users.actor import Actor

OUT_OF_SCOPE = "out_of_scope"
DELETED = "deleted"
RETIRED = "retired"  # a cell whose boundary version ended without a successor

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
