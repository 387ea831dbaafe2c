"""Registering a dispute where it happened: routing, idempotency by client id, related cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import fastsql
from core.errors import DomainError, Forbidden
from geo.cells import nearest_cell_of
from geo.pick import NOT_LOCATED, place_of
from mediation import idempotency
from mediation.attachments import Checked, FileStore, StorageFull
from mediation.disputes import deadlines, risk
from mediation.disputes import reminders as case_reminders
from mediation.disputes.audit import new_event, timeline_row
from mediation.disputes.categories import check_category
from mediation.disputes.deadlines import plan_next_due, risk_assess_due
from mediation.disputes.enums import (
    GRID,
    GROUP_FLAG,
    LEVEL_BY_CODE_LENGTH,
    ORANGE,
    RED,
    REGISTERED,
    UNASSESSED,
    VILLAGE,
)
from mediation.disputes.models import (
    Attachment,
    Dispute,
    Party,
    RiskAssessment,
)
from mediation.disputes.related import related_links
from mediation.disputes.settings import Settings
from mediation.pii import Vault, mask_address, mask_id, mask_phone
from mediation.times import check_not_future
from mediation.users.actor import Actor
from mediation.users.enums import GRID_WORKER


def content_hash(data: dict, photos: list[Checked]) -> str:
    """Fingerprint of what the client sent, to tell a retry from a different case."""
    body = {k: v for k, v in data.items() if k not in ("client_id", "photos", "device_recorded_at")}
    body["key_areas"] = sorted(body.get("key_areas") or [])
    body["photo_sha256"] = sorted(p.sha256 for p in photos)
    return idempotency.fingerprint(body)


def next_case_number(db_session: Session, *, village_code: str, year: int) -> str:
    """Gap-free per village and year: the counter row stays locked until the transaction ends,
    and a rolled-back registration rolls its number back with it."""
    seq = fastsql.fetch_one(
        db_session,
        """INSERT INTO case_counter (village_code, year, last_seq) VALUES (%(v)s, %(y)s, 1)
           ON CONFLICT (village_code, year) DO UPDATE SET last_seq = case_counter.last_seq + 1
           RETURNING last_seq""",
        {"v": village_code, "y": year},
    ).last_seq
    return f"{year}-{village_code}-{seq:04d}"


def _build_party(i: int, p: dict, vault: Vault) -> Party:
    party = Party(
        position=i, role=p["role"], kind=p["kind"], name=p["name"].strip(), id_type=p.get("id_type")
    )
    if p.get("id_number"):
        number = p["id_number"]
        party.id_number_enc = vault.encrypt(number)
        party.id_number_hash = vault.keyed_hash(f"{p.get('id_type')}:{number}")
        party.id_number_masked = mask_id(number)
    if p.get("phone"):
        party.phone_enc = vault.encrypt(p["phone"])
        party.phone_hash = vault.keyed_hash(p["phone"])
        party.phone_masked = mask_phone(p["phone"])
        party.name_phone_hash = vault.keyed_hash(f"{party.name}|{p['phone']}")
    party.sex, party.ethnicity = p.get("sex"), p.get("ethnicity")
    if p.get("address"):
        address = p["address"].strip()
        party.address_enc = vault.encrypt(address)
        party.address_masked = mask_address(address)
    return party


class Channel(NamedTuple):
    """How a case came in when not from a user's own phone or window: a partner system's order
    (its reference, its deadline) lands at a level the channel decides (the township centre)."""

    channel: str
    level: str
    partner_id: int | None = None
    reference: str | None = None
    due_on: object | None = None  # date
    scope: str | None = None  # the partner's county or township: its orders must lie inside


class Registered(NamedTuple):
    """What registration did: the case, whether it was created now (False: a retry answered with
    the case already registered) and, when created, the child rows it wrote (for the case file)."""

    dispute: Dispute
    created: bool
    children: dict | None = None


def register_dispute(
    db_session: Session,
    *,
    actor: Actor,
    data: dict,
    photos: list[Checked],
    now: datetime,
    settings: Settings,
    vault: Vault,
    store: FileStore,
    channel: Channel | None = None,
    record: idempotency.Record | None = None,
) -> Registered:
    """Register a case where it happened; the same client id + same content returns the existing
    case (created False), the same id with different content is a Conflict. A `channel` (a
    partner's order) says where the case lands and carries the partner's reference."""
    digest = content_hash(data, photos)
    client_id = data.get("client_id")
    for field, label in (("occurred_at", "纠纷发生时间"), ("device_recorded_at", "手机记录时间")):
        check_not_future(
            data.get(field), now=now, skew=settings.clock_skew, field=field, label=label
        )
    if client_id is not None and fastsql.fetch_one(
        db_session, "SELECT 1 FROM dispute WHERE id = %(id)s", {"id": client_id}
    ):
        existing = db_session.get(Dispute, client_id)
        return Registered(_same_or_conflict(existing, digest, actor, record), False)
    where = place_of(
        db_session,
        location=data.get("location"),
        village_code=data.get("village_code"),
        tolerance_m=settings.locate_tolerance_m,
    )
    if channel and channel.scope and not where.village_code.startswith(channel.scope):
        raise Forbidden(
            "该地点不在合作方的服务范围内",
            code="outside_partner_scope",
            field="village_code" if where.lon is None else "location",
        )
    handling = channel.level if channel else _registration_level(actor, where)
    outside = _outside_own_cells(db_session, actor, where)
    category_label = check_category(db_session, data["category"])
    group = risk.is_group(
        parties=data["parties"],
        people_involved=data.get("people_involved") or 0,
        min_one_side=settings.group_min_one_side,
        min_people=settings.group_min_people,
    )
    sent = data.get("risk")
    # Without a risk block nobody has assessed the case: 未研判 (its own level, with a reminder to
    # assess it), unless the group rule already forces it RED.
    assessed = (
        risk.assess(
            likelihood=sent.get("likelihood", 1),
            severity=sent.get("severity", 1),
            flags=sent.get("flags", []),
            group=group,
        )
        if sent is not None
        else None
    )
    level = assessed.level if assessed else (RED if group else UNASSESSED)
    dispute_id = client_id or uuid.uuid4()
    written = _store_photos(store, photos)  # files first; removed if we fail
    try:
        with db_session.begin_nested():
            # Everything is read first and then written: registration is the hottest write path
            # (bench/run.py --profile-register), and every flush has a fixed cost.
            number = next_case_number(
                db_session, village_code=where.village_code, year=deadlines.business_day(now).year
            )
            dispute = Dispute(
                id=dispute_id,
                case_number=number,
                content_hash=digest,
                version=1,
                status=REGISTERED,
                handling_level=handling,
                cell_code=where.cell_code,
                village_code=where.village_code,
                township_code=where.township_code or where.village_code[:9],
                county_code=where.county_code or where.village_code[:6],
                location=from_shape(Point(where.lon, where.lat), srid=4326)
                if where.lon is not None
                else None,
                located=where.match != NOT_LOCATED,
                address=(data.get("address") or "").strip() or None,
                channel=channel.channel if channel else data.get("channel", "app"),
                partner_id=channel.partner_id if channel else None,
                partner_reference=channel.reference if channel else None,
                external_due_on=channel.due_on if channel else None,
                locate_match=where.match,
                locate_distance_m=where.distance_m or None,
                occurred_at=_utc(data["occurred_at"]),
                registered_at=now,
                device_recorded_at=_utc(data.get("device_recorded_at")),
                registered_by=actor.user_id,
                source=data["source"],
                category=data["category"],
                key_areas=sorted(set(data.get("key_areas") or [])),
                description=data["description"].strip(),
                people_involved=data.get("people_involved") or 0,
                amount=data.get("amount"),
                risk_level=level,
                risk_score=assessed.score if assessed else 0,
                group_dispute=group,
                red_since=now if level == RED else None,
                orange_since=now if level == ORANGE else None,
                risk_assess_due_at=None if assessed else risk_assess_due(now, settings.limits),
                parties=[_build_party(i, p, vault) for i, p in enumerate(data["parties"])],
            )
            plan_next_due(dispute, settings.limits)
            assessments = (
                [
                    RiskAssessment(
                        dispute_id=dispute.id,
                        likelihood=assessed.likelihood,
                        severity=assessed.severity,
                        score=assessed.score,
                        level=assessed.level,
                        forced_reasons=list(assessed.forced_reasons),
                        assessed_by=actor.user_id,
                        assessed_at=now,
                    )
                ]
                if assessed is not None
                else []
            )
            files = [
                Attachment(
                    id=uuid.uuid4(),
                    dispute_id=dispute.id,
                    kind="photo",
                    filename=p.filename,
                    content_type=p.content_type,
                    size=len(p.data),
                    sha256=p.sha256,
                    uploaded_by=actor.user_id,
                    created_at=now,
                )
                for p in photos
            ]
            due = case_reminders.for_new_case(
                db_session, dispute=dispute, now=now, red_alert_levels=settings.red_alert_levels
            )
            point = (where.lon, where.lat) if where.lon is not None else None
            links = related_links(db_session, dispute, point, settings, now)
            event = new_event(
                dispute,
                actor,
                "register",
                now,
                None,
                REGISTERED,
                {
                    "case_number": [None, number],
                    "cell_code": [None, where.cell_code],
                    "handling_level": [None, handling],
                    "risk_level": [None, level],
                    "forced_reasons": [None, [GROUP_FLAG]] if group else None,
                    "locate_match": [None, where.match],
                    "links": [None, [f"{x.kind}:{x.reason}" for x in links]] if links else None,
                    "outside_own_cells": [None, outside] if outside else None,
                },
                device_at=data.get("device_recorded_at"),
            )
            # One prepared INSERT per table instead of the unit of work (bench/run.py
            # --profile-register: the flushes were a third of a registration's CPU); the rows
            # are then in the session as if loaded.
            for party in dispute.parties:
                party.dispute_id = dispute.id
            fastsql.insert_new(
                db_session,
                ([dispute], ()),
                (dispute.parties, ("position",)),
                (assessments, ()),
                ([event], ()),
                (files, ()),
                (due, ("key",)),
                (links, ("other_id", "kind")),
            )
            fastsql.adopt(
                db_session, [dispute, *dispute.parties, *assessments, event, *files, *due, *links]
            )
    except IntegrityError:
        for sha in written:
            if not db_session.scalar(
                select(func.count()).select_from(Attachment).where(Attachment.sha256 == sha)
            ):
                store.discard(sha)
        if client_id is None:
            raise
        # Another request with the same client id won the race: answer as a retry.
        existing = db_session.scalar(select(Dispute).where(Dispute.id == client_id))
        if existing is None:
            raise
        return Registered(_same_or_conflict(existing, digest, actor, record), False)
    except BaseException:
        for sha in written:
            store.discard(sha)
        raise
    children = {
        "parties": list(dispute.parties),
        "sessions": [],
        "agreements": [],
        "visits": [],
        "risk_history": assessments,
        "escalations": [],
        "attachments": files,
        "links": links,
        "timeline": [timeline_row(event, actor.display_name)],
        "category_label": category_label,
    }
    return Registered(dispute, True, children)


def _store_photos(store: FileStore, photos: list[Checked]) -> list[str]:
    """Write a registration's photos; on a full disk remove those just written and refuse."""
    written: list[str] = []
    try:
        for p in photos:
            if store.put(p):
                written.append(p.sha256)
    except BaseException as exc:
        for sha in written:
            store.discard(sha)
        if isinstance(exc, StorageFull):
            raise StorageFull(
                "服务器存储空间已满，照片未能保存，本次登记未完成：请稍后用同一编号重发，"
                "或先不带照片登记、之后再补传照片"
            ) from exc
        raise
    return written


CASE = idempotency.Record(
    taken="该编号已被其他案件使用",
    changed="同一编号的案件已登记，但内容不同；如需修改请在案件上操作",
)


def _same_or_conflict(
    existing: Dispute, digest: str, actor: Actor, record: idempotency.Record | None = None
) -> Dispute:
    return idempotency.same_or_conflict(
        existing,
        owner_id=existing.registered_by,
        stored_digest=existing.content_hash,
        digest=digest,
        actor=actor,
        record=record or CASE,
        details={"case_number": existing.case_number},
    )


def _outside_own_cells(db_session: Session, actor: Actor, where) -> dict | None:
    """A grid worker registering outside their own cells (a wrong coordinate system, a point
    far off, or a case seen elsewhere): how far the place is from their nearest own cell, so the
    phone can ask. Flagged, never refused."""
    if where.lon is None:
        return None
    if not actor.has(GRID_WORKER) or not actor.cells or where.cell_code in actor.cells:
        return None
    nearest = nearest_cell_of(db_session, codes=actor.cells, lon=where.lon, lat=where.lat)
    if nearest is None:
        return None
    code, distance = nearest
    return {"nearest_own_cell": code, "distance_m": round(distance, 1)}


def _registration_level(actor: Actor, where) -> str:
    """A grid worker in their own cell registers at grid level; otherwise the lowest level at
    which the registering person works that covers the place (walk-ins at the centre …)."""
    if actor.has(GRID_WORKER) and where.cell_code in actor.cells:
        return GRID
    codes = {12: where.village_code, 9: where.township_code, 6: where.county_code}
    levels = []
    for areas in actor.roles.values():
        for code in areas:
            if codes.get(len(code)) == code:
                levels.append(len(code))
    if levels:
        return LEVEL_BY_CODE_LENGTH[max(levels)]
    if actor.has(GRID_WORKER):
        return VILLAGE  # registered by a grid worker outside their cells: the village takes it
    raise DomainError(
        "该地点不在您负责的区域内，请由当地网格员或综治中心登记",
        code="outside_your_area",
        field="location",
    )


def _utc(at: datetime | None) -> datetime | None:
    """An instant as stored and answered everywhere: UTC (the 201 and the replay agree)."""
    return at.astimezone(UTC) if at is not None else None
