"""Use cases for disputes: register, act on the flow, reveal personal data, attach files.

Each public function takes the session, the actor and an explicit `now`, only flushes, and is
committed once by its caller. Scoping is done inside every query through `visible_clause`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import fastsql
from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from geo.cells import nearest_cell_of
from geo.locate import locate
from geo.scope import record_clause
from mediation import calendar
from mediation.attachments import Checked, FileStore, StorageFull
from mediation.disputes import deadlines, risk, workflow
from mediation.disputes import reminders as case_reminders
from mediation.disputes.enums import (
    AGREED,
    CLOSED_STATUSES,
    FOLLOW_UP,
    GRID,
    LEVEL_BY_CODE_LENGTH,
    MEDIATING,
    ORANGE,
    RED,
    REFERRED_OUT,
    REGISTERED,
    REOPENED,
    RESOLVED,
    VILLAGE,
)
from mediation.disputes.models import (
    Agreement,
    Attachment,
    Dispute,
    DisputeEvent,
    DisputeLink,
    Escalation,
    FollowUpVisit,
    MediationSession,
    Party,
    RiskAssessment,
)
from mediation.disputes.reminders import DEFAULT_RED_ALERT_LEVELS
from mediation.pii import Vault, mask_id, mask_phone
from mediation.reminders import service as reminders
from mediation.times import DEFAULT_CLOCK_SKEW, check_not_before, check_not_future
from mediation.users.actor import Actor
from mediation.users.enums import GRID_WORKER, LEADER, REVEAL_ROLES
from mediation.users.models import User
from mediation.users.service import log_access, require_purpose


@dataclass(frozen=True)
class Settings:
    """Deployment settings the use cases need (from config)."""

    limits: deadlines.Limits
    locate_tolerance_m: float
    group_min_parties: int = 5
    group_min_people: int = 30
    duplicate_radius_m: float = 50.0
    duplicate_days: int = 7
    recurrence_days: int = 180
    max_photo_bytes: int = 5 * 1024 * 1024
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW  # how far ahead of ours a phone's clock may be
    red_alert_levels: tuple[str, ...] = DEFAULT_RED_ALERT_LEVELS  # told of a RED case at once


# ------------------------------------------------------------------ visibility


def visible_clause(actor: Actor):
    """Cases the actor may see: inside their area, plus those they registered themselves."""
    scope = actor.case_scope
    inside = record_clause(
        scope,
        cell=Dispute.cell_code,
        village=Dispute.village_code,
        township=Dispute.township_code,
        county=Dispute.county_code,
    )
    return or_(inside, Dispute.registered_by == actor.user_id)


def get_dispute(
    db_session: Session, *, actor: Actor, dispute_id, for_update: bool = False
) -> Dispute:
    """A visible case, or NotFound (never says whether it exists elsewhere)."""
    try:
        key = uuid.UUID(str(dispute_id))
    except ValueError:
        raise NotFound("未找到该案件", code="dispute_not_found") from None
    stmt = select(Dispute).where(Dispute.id == key, visible_clause(actor))
    if for_update:
        stmt = stmt.with_for_update()
    dispute = db_session.scalar(stmt)
    if dispute is None:
        raise NotFound("未找到该案件", code="dispute_not_found")
    return dispute


def standing(actor: Actor, dispute: Dispute) -> workflow.ActorStanding:
    """The actor's roles on this case with the level each stands at."""
    codes = {
        15: dispute.cell_code,
        12: dispute.village_code,
        9: dispute.township_code,
        6: dispute.county_code,
    }
    pairs = set()
    for role, areas in actor.roles.items():
        if role == GRID_WORKER:
            if dispute.cell_code in actor.cells:
                pairs.add((role, GRID))
            continue
        for code in areas:
            if codes.get(len(code)) == code:
                pairs.add((role, LEVEL_BY_CODE_LENGTH[len(code)]))
    return workflow.ActorStanding(frozenset(pairs))


def case_state(dispute: Dispute) -> workflow.CaseState:
    """What the transition table needs to know about a case (used by `act` and by the console
    to show only the actions the table allows)."""
    return workflow.CaseState(
        status=dispute.status,
        handling_level=dispute.handling_level,
        escalation_target=dispute.escalation_target,
        red_without_leader=dispute.risk_level == RED and dispute.leader_id is None,
    )


# ------------------------------------------------------------------ registration


def _canonical(data: dict) -> str:
    def default(o):
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o.quantize(Decimal("0.01")))
        return str(o)

    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=default)


def content_hash(data: dict, photos: list[Checked]) -> str:
    """Fingerprint of what the client sent, to tell a retry from a different case."""
    body = {k: v for k, v in data.items() if k not in ("client_id", "photos", "device_recorded_at")}
    body["key_areas"] = sorted(body.get("key_areas") or [])
    body["photo_sha256"] = sorted(p.sha256 for p in photos)
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


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
    return party


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
) -> Registered:
    """Register a case where it happened; the same client id + same content returns the existing
    case (created False), the same id with different content is a Conflict."""
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
        return Registered(_same_or_conflict(existing, digest, actor), False)
    loc = data["location"]
    where = locate(
        db_session,
        lon=loc["lon"],
        lat=loc["lat"],
        system=loc["crs"],
        tolerance_m=settings.locate_tolerance_m,
        field_prefix="location.",
    )
    level = _registration_level(actor, where)
    outside = _outside_own_cells(db_session, actor, where)
    assessed = risk.assess(
        likelihood=(data.get("risk") or {}).get("likelihood", 1),
        severity=(data.get("risk") or {}).get("severity", 1),
        flags=(data.get("risk") or {}).get("flags", []),
        parties=len(data["parties"]),
        people_involved=data.get("people_involved") or 0,
        group_min_parties=settings.group_min_parties,
        group_min_people=settings.group_min_people,
    )
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
                handling_level=level,
                cell_code=where.cell_code,
                village_code=where.village_code,
                township_code=where.township_code or where.village_code[:9],
                county_code=where.county_code or where.village_code[:6],
                location=from_shape(Point(where.lon, where.lat), srid=4326),
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
                risk_level=assessed.level,
                risk_score=assessed.score,
                group_dispute="group_dispute" in assessed.forced_reasons,
                red_since=now if assessed.level == RED else None,
                parties=[_build_party(i, p, vault) for i, p in enumerate(data["parties"])],
            )
            plan_next_due(dispute, settings.limits)
            assessment = RiskAssessment(
                dispute_id=dispute.id,
                likelihood=assessed.likelihood,
                severity=assessed.severity,
                score=assessed.score,
                level=assessed.level,
                forced_reasons=list(assessed.forced_reasons),
                assessed_by=actor.user_id,
                assessed_at=now,
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
            links = _related(db_session, dispute, (where.lon, where.lat), settings, now)
            event = _new_event(
                dispute,
                actor,
                "register",
                now,
                None,
                REGISTERED,
                {
                    "case_number": [None, number],
                    "cell_code": [None, where.cell_code],
                    "handling_level": [None, level],
                    "risk_level": [None, assessed.level],
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
                ([assessment], ()),
                ([event], ()),
                (files, ()),
                (due, ("key",)),
                (links, ("other_id", "kind")),
            )
            fastsql.adopt(
                db_session, [dispute, *dispute.parties, assessment, event, *files, *due, *links]
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
        return Registered(_same_or_conflict(existing, digest, actor), False)
    except BaseException:
        for sha in written:
            store.discard(sha)
        raise
    children = {
        "parties": list(dispute.parties),
        "sessions": [],
        "agreements": [],
        "visits": [],
        "risk_history": [assessment],
        "escalations": [],
        "attachments": files,
        "links": links,
        "timeline": [timeline_row(event, actor.display_name)],
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


def _same_or_conflict(existing: Dispute, digest: str, actor: Actor) -> Dispute:
    if existing.registered_by != actor.user_id:
        raise Conflict("该编号已被其他案件使用", code="client_id_taken", field="client_id")
    if existing.content_hash != digest:
        raise Conflict(
            "同一编号的案件已登记，但内容不同；如需修改请在案件上操作",
            code="client_id_conflict",
            field="client_id",
            details={"case_number": existing.case_number},
        )
    return existing


def _outside_own_cells(db_session: Session, actor: Actor, where) -> dict | None:
    """A grid worker registering outside their own cells (a wrong coordinate system, a point
    far off, or a case seen elsewhere): how far the place is from their nearest own cell, so the
    phone can ask. Flagged, never refused."""
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
        status=422,
    )


SQL_RELATED = """
    SELECT 'party' AS via, d.id, d.status, d.resolved_at, d.closed_at, d.category, d.registered_at
    FROM dispute d
    WHERE d.id <> %(id)s AND d.id IN (
        SELECT p.dispute_id FROM party p
        WHERE p.id_number_hash = ANY(%(id_hashes)s) OR p.name_phone_hash = ANY(%(np_hashes)s))
    UNION ALL
    SELECT 'near', d.id, d.status, d.resolved_at, d.closed_at, d.category, d.registered_at
    FROM dispute d
    WHERE d.id <> %(id)s
      AND ST_DWithin(d.location, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326), %(deg)s)
      AND ST_DWithin(d.location::geography,
                     ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)::geography, %(m)s)"""


def _related(
    db_session: Session,
    dispute: Dispute,
    point: tuple[float, float],
    settings: Settings,
    now: datetime,
) -> list[DisputeLink]:
    """Flag (never block) likely duplicates and recurrences: the links to add with the case,
    found in one prepared statement (same parties; same place)."""
    found: dict = {}
    rows = fastsql.fetch(
        db_session,
        SQL_RELATED,
        {
            "id": dispute.id,
            "id_hashes": [p.id_number_hash for p in dispute.parties if p.id_number_hash],
            "np_hashes": [p.name_phone_hash for p in dispute.parties if p.name_phone_hash],
            "x": point[0],
            "y": point[1],
            "deg": settings.duplicate_radius_m / 90_000.0,
            "m": settings.duplicate_radius_m,
        },
    )
    # Same parties first: a case found both ways is flagged for its parties.
    for r in sorted(rows, key=lambda r: r.via != "party"):
        if r.via == "party":
            kind = _relation(r, settings, now)
            if kind:
                found.setdefault((r.id, kind), "same_party")
            continue
        recent = (now - r.registered_at).days <= settings.duplicate_days
        if r.category == dispute.category and recent and r.closed_at is None:
            found.setdefault((r.id, "possible_duplicate"), "nearby_same_category")
        elif r.status == RESOLVED or r.resolved_at is not None:
            if r.resolved_at and (now - r.resolved_at).days <= settings.recurrence_days:
                found.setdefault((r.id, "recurrence"), "same_place")
    return [
        DisputeLink(dispute_id=dispute.id, other_id=other, kind=kind, reason=reason)
        for (other, kind), reason in found.items()
    ]


def _relation(r, settings: Settings, now: datetime) -> str | None:
    if r.closed_at is None:
        return "possible_duplicate"
    if r.resolved_at is not None and (now - r.resolved_at).days <= settings.recurrence_days:
        return "recurrence"
    return None


# ------------------------------------------------------------------ events and due dates


def timeline_row(e: DisputeEvent, actor_name: str | None) -> dict:
    """One audit event as the timeline shows it."""
    return {
        "seq": e.seq,
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_name": actor_name,
        "at": e.at,
        "device_at": e.device_at,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "changes": e.changes,
        "reason": e.reason,
    }


def _event(db_session: Session, dispute: Dispute, *args, **kwargs) -> DisputeEvent:
    """The audit event of an action (`_new_event`'s arguments), added to the session."""
    event = _new_event(dispute, *args, **kwargs)
    db_session.add(event)
    return event


def _new_event(
    dispute: Dispute,
    actor: Actor,
    action: str,
    now: datetime,
    from_status: str | None,
    to_status: str | None,
    changes: dict,
    reason: str | None = None,
    device_at: datetime | None = None,
) -> DisputeEvent:
    """The audit event of an action (not added to the session)."""
    return DisputeEvent(
        dispute_id=dispute.id,
        cell_code=dispute.cell_code,
        seq=dispute.version,
        action=action,
        actor_id=actor.user_id,
        at=now,
        device_at=device_at,
        from_status=from_status,
        to_status=to_status,
        changes={k: v for k, v in changes.items() if v is not None},
        reason=reason,
    )


def _utc(at: datetime | None) -> datetime | None:
    """An instant as stored and answered everywhere: UTC (the 201 and the replay agree)."""
    return at.astimezone(UTC) if at is not None else None


def plan_next_due(
    dispute: Dispute,
    limits: deadlines.Limits,
    agreement: Agreement | None = None,
    escalation: Escalation | None = None,
) -> None:
    """What must happen next on the case and by when (None when nothing is due), and whether
    the deadline is provisional (counted through a year with no official calendar)."""
    due, kind, rule, start = None, None, None, None
    if dispute.escalation_target and escalation is not None:
        due = deadlines.escalation_due(escalation.requested_at, limits)
        kind, rule, start = "escalation_acceptance", "escalation_accept", escalation.requested_at
    elif dispute.status == REGISTERED:
        due, kind = deadlines.accept_due(dispute.registered_at, limits), "acceptance"
        rule, start = "accept", dispute.registered_at
    elif dispute.status in ("accepted", MEDIATING, REOPENED) and dispute.mediation_due_on:
        due, kind = deadlines.end_of(dispute.mediation_due_on), "mediation"
        rule, start = "mediation", dispute.accepted_at
    elif dispute.status in (AGREED, FOLLOW_UP):
        rule, start = "first_visit", dispute.last_visit_at or dispute.agreed_at
        if dispute.visits_done == 0 and agreement is not None:
            due = deadlines.first_visit_due(
                agreed_at=dispute.agreed_at,
                performance_deadline=agreement.performance_deadline,
                performed_immediately=agreement.performed_immediately,
                limits=limits,
            )
        elif dispute.last_visit_at is not None:
            due = deadlines.end_of(
                deadlines.add_days(
                    limits,
                    "first_visit",
                    deadlines.business_day(dispute.last_visit_at),
                    limits.first_visit_days_if_immediate,
                )
            )
        kind = "follow_up_visit"
    elif (
        dispute.status == RESOLVED
        and dispute.risk_level in (RED, ORANGE)
        and dispute.visits_done < 2
    ):
        due, kind = deadlines.second_visit_due(dispute.last_visit_at, limits), "second_visit"
        rule, start = "second_visit", dispute.last_visit_at
    dispute.next_due_at, dispute.next_due_kind = due, kind
    dispute.next_due_provisional = bool(
        due
        and start
        and deadlines.provisional(
            limits, rule, deadlines.business_day(start), deadlines.business_day(due)
        )
    )


# ------------------------------------------------------------------ the flow


def act(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    action: str,
    payload: dict,
    expected_version: int | None,
    now: datetime,
    settings: Settings,
    device_time: datetime | None = None,
) -> Dispute:
    """Take one action on a case: check the table, the version, apply, audit, plan what is due.
    `device_time` is when the phone recorded an offline action (kept on the event beside `now`)."""
    dispute = get_dispute(db_session, actor=actor, dispute_id=dispute_id, for_update=True)
    if expected_version is None:
        raise DomainError(
            "请带上案件版本号（If-Match 或 expected_version）后重试",
            code="precondition_required",
            status=428,
        )
    if dispute.version != expected_version:
        raise Conflict(
            "案件已被他人修改，请刷新后重试",
            code="version_conflict",
            details={"current_version": dispute.version, "status": dispute.status},
        )
    to_status = workflow.decide(action, case_state(dispute), standing(actor, dispute), payload)
    before = dispute.status
    dispute.version += 1
    changes, reason = HANDLERS[action](db_session, dispute, actor, payload, now, settings)
    if to_status != "by_result":
        dispute.status = to_status
    if (
        dispute.status in CLOSED_STATUSES
        and dispute.closed_at is None
        and dispute.status != RESOLVED
    ):
        dispute.closed_at = now
    if dispute.status != before:
        changes["status"] = [before, dispute.status]
    agreement = _current_agreement(db_session, dispute)
    escalation = _pending_escalation(db_session, dispute)
    plan_next_due(dispute, settings.limits, agreement, escalation)
    _event(
        db_session,
        dispute,
        actor,
        action,
        now,
        before,
        dispute.status,
        changes,
        reason,
        device_at=device_time,
    )
    db_session.flush()
    case_reminders.sync_case(
        db_session,
        dispute=dispute,
        now=now,
        reason=action,
        red_alert_levels=settings.red_alert_levels,
    )
    return dispute


def _current_agreement(db_session: Session, dispute: Dispute) -> Agreement | None:
    return db_session.scalar(
        select(Agreement)
        .where(Agreement.dispute_id == dispute.id)
        .order_by(Agreement.id.desc())
        .limit(1)
    )


def recount_provisional_deadlines(
    db_session: Session, *, limits: deadlines.Limits, now: datetime
) -> int:
    """Count the open provisional deadlines again (an official calendar was loaded) and move
    their reminders; returns how many deadlines changed (flush only)."""
    changed = 0
    for d in db_session.scalars(
        select(Dispute).where(Dispute.next_due_provisional.is_(True)).with_for_update()
    ):
        before = d.next_due_at
        plan_next_due(
            d, limits, _current_agreement(db_session, d), _pending_escalation(db_session, d)
        )
        if d.next_due_at != before:
            changed += 1
            db_session.flush()
            case_reminders.sync_case(db_session, dispute=d, now=now, reason="calendar_loaded")
    db_session.flush()
    return changed


def load_official_calendar(db_session: Session, *, doc: dict, limits_config, now: datetime) -> dict:
    """Load one year's official holiday notice, count provisional deadlines again and withdraw
    the administrators' warning for that year (flush only)."""
    days = calendar.import_year(db_session, doc=doc)
    limits = deadlines.limits_from_config(limits_config, calendar.load_calendar(db_session))
    changed = recount_provisional_deadlines(db_session, limits=limits, now=now)
    reminders.cancel_keys(
        db_session, keys=[f"calendar:missing:{int(doc['year'])}"], now=now, reason="calendar_loaded"
    )
    return {"days": days, "deadlines_recounted": changed}


def _pending_escalation(db_session: Session, dispute: Dispute) -> Escalation | None:
    if not dispute.escalation_target:
        return None
    return db_session.scalar(
        select(Escalation)
        .where(Escalation.dispute_id == dispute.id, Escalation.status == "pending")
        .order_by(Escalation.id.desc())
        .limit(1)
    )


def _accept(db, d, actor, p, now, s):
    d.accepted_at = now
    d.mediation_due_on = deadlines.mediation_due(now, s.limits)
    return {
        "accepted_at": [None, now.isoformat()],
        "mediation_due_on": [None, d.mediation_due_on.isoformat()],
    }, p.get("note")


def _reject(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"]}
    return {}, p["reason"]


def _case_began(d: Dispute) -> datetime:
    """When the case was first recorded: on the phone (offline) or at the server."""
    return min(t for t in (d.registered_at, d.device_recorded_at) if t is not None)


def _start(db, d, actor, p, now, s):
    _check_case_time(d, p.get("notified_at"), now, s, "notified_at", "权利义务告知时间")
    d.rights_notice = p["rights_notice"]
    d.rights_notified_at = p.get("notified_at") or now
    d.mediation_started_at = now
    if d.mediation_due_on is None:
        d.mediation_due_on = deadlines.mediation_due(now, s.limits)
    return {"rights_notified_at": [None, d.rights_notified_at.isoformat()]}, None


def _check_case_time(d, value, now, s, field: str, label: str) -> None:
    check_not_future(value, now=now, skew=s.clock_skew, field=field, label=label)
    check_not_before(
        value,
        _case_began(d),
        field=field,
        code="before_registration",
        message=f"{label}不能早于案件登记时间",
    )


def _session(db, d, actor, p, now, s):
    _check_case_time(d, p["held_at"], now, s, "held_at", "调解时间")
    db.add(
        MediationSession(
            dispute_id=d.id,
            held_at=p["held_at"],
            place=p.get("place"),
            mediators=p.get("mediators"),
            summary=p["summary"],
            recorded_by=actor.user_id,
            created_at=now,
        )
    )
    return {"session": [None, p["held_at"].isoformat()]}, None


def _escalate(db, d, actor, p, now, s):
    workflow.check_level_move("escalate", d.handling_level, p["to_level"])
    db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="up",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="pending",
            requested_by=actor.user_id,
            requested_at=now,
        )
    )
    d.escalation_target = p["to_level"]
    db.flush()
    return {"escalation_target": [None, p["to_level"]]}, p["reason"]


def _decide_escalation(accepted: bool):
    def handler(db, d, actor, p, now, s):
        esc = _pending_escalation(db, d)
        esc.status = "accepted" if accepted else "returned"
        esc.decided_by, esc.decided_at, esc.decision_reason = actor.user_id, now, p.get("reason")
        changes = {"escalation_target": [d.escalation_target, None]}
        if accepted:
            changes["handling_level"] = [d.handling_level, esc.to_level]
            d.handling_level = esc.to_level
        d.escalation_target = None
        return changes, p.get("reason")

    return handler


def _return_down(db, d, actor, p, now, s):
    workflow.check_level_move("return_down", d.handling_level, p["to_level"])
    db.add(
        Escalation(
            dispute_id=d.id,
            cell_code=d.cell_code,
            direction="down",
            from_level=d.handling_level,
            to_level=p["to_level"],
            reason=p["reason"],
            status="done",
            requested_by=actor.user_id,
            requested_at=now,
            decided_by=actor.user_id,
            decided_at=now,
        )
    )
    changes = {"handling_level": [d.handling_level, p["to_level"]]}
    d.handling_level = p["to_level"]
    return changes, p["reason"]


AGREEMENT_TERMS = {"performance_method": "请填写履行方式", "performance_deadline": "请填写履行期限"}


def _agree(db, d, actor, p, now, s):
    missing = {f: [m] for f, m in AGREEMENT_TERMS.items() if not p.get(f)}
    if p["form"] == "written" and not p.get("performed_immediately") and missing:
        raise ValidationFailed(
            "书面协议须写明履行方式和期限（人民调解法第二十九条）",
            code="agreement_incomplete",
            fields=missing,  # only what is actually missing
        )
    deadline = p.get("performance_deadline")
    if deadline and deadline < deadlines.business_day(now):
        raise ValidationFailed(
            "履行期限不能早于今天", code="invalid_date", field="performance_deadline"
        )
    db.add(
        Agreement(
            dispute_id=d.id,
            cell_code=d.cell_code,
            form=p["form"],
            terms=p["terms"],
            performance_method=p.get("performance_method"),
            performance_place=p.get("performance_place"),
            performance_deadline=deadline,
            performed_immediately=bool(p.get("performed_immediately")),
            amount=p.get("amount"),
            judicial_confirmation_due_on=deadlines.add_days(
                s.limits, "judicial", deadlines.business_day(now), s.limits.judicial_window_days
            ),
            recorded_by=actor.user_id,
            created_at=now,
        )
    )
    d.agreed_at = now
    d.visits_done = 0
    db.flush()
    return {"agreement_form": [None, p["form"]], "amount": [None, str(p.get("amount") or "")]}, None


def _terminate(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"], "routes": p["routes"]}
    return {"routes": [None, p["routes"]]}, p["reason"]


def _refer(db, d, actor, p, now, s):
    d.exit_detail = {
        "target": p["target"],
        "organisation": p.get("organisation"),
        "reason": p["reason"],
    }
    changes = {
        "handling_level": [d.handling_level, REFERRED_OUT],
        "referred_to": [None, p["target"]],
    }
    d.resolved_level = None
    d.handling_level = REFERRED_OUT
    return changes, p["reason"]


def _withdraw(db, d, actor, p, now, s):
    d.exit_detail = {"reason": p["reason"]}
    return {}, p["reason"]


def _extend(db, d, actor, p, now, s):
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
    return changes, p.get("reason")


def _visit(db, d, actor, p, now, s):
    before = d.status
    after = workflow.visit_outcome(p["result"], before)
    visited_at = p.get("visited_at") or now
    check_not_future(visited_at, now=now, skew=s.clock_skew, field="visited_at", label="回访时间")
    check_not_before(
        visited_at,
        d.agreed_at,
        field="visited_at",
        code="before_agreement",
        message="回访时间不能早于调解协议达成时间",
    )
    check_not_before(
        visited_at,
        d.last_visit_at,
        field="visited_at",
        code="before_last_visit",
        message="回访时间不能早于上一次回访时间",
    )
    location = None
    if p.get("location"):
        loc = p["location"]
        from geo import crs as crs_mod
        from geo.locate import check_point

        lon, lat = check_point(loc["lon"], loc["lat"], field_prefix="location.")
        wlon, wlat = (
            float(v)
            for v in crs_mod.to_wgs84(lon, lat, crs_mod.check_system(loc["crs"], "location.crs"))
        )
        location = from_shape(Point(wlon, wlat), srid=4326)
    if p.get("photo_id") and not db.scalar(
        select(Attachment.id).where(Attachment.id == p["photo_id"], Attachment.dispute_id == d.id)
    ):
        raise ValidationFailed("照片不属于该案件", code="attachment_not_found", field="photo_id")
    db.add(
        FollowUpVisit(
            dispute_id=d.id,
            cell_code=d.cell_code,
            visited_at=visited_at,
            method=p["method"],
            result=p["result"],
            satisfaction=p.get("satisfaction"),
            notes=p.get("notes"),
            visitor_id=actor.user_id,
            location=location,
            photo_id=p.get("photo_id"),
            status_before=before,
            status_after=after,
            created_at=now,
        )
    )
    d.visits_done += 1
    d.last_visit_at = visited_at
    changes = {"visit_result": [None, p["result"]]}
    if after == RESOLVED and before != RESOLVED:
        d.resolved_at = visited_at
        d.resolved_level = d.handling_level
        d.closed_at = visited_at
    elif after == REOPENED:
        d.recurrence_count += 1
        d.resolved_at = None
        d.closed_at = None
        d.mediation_due_on = deadlines.mediation_due(now, s.limits)
        changes["recurrence_count"] = [d.recurrence_count - 1, d.recurrence_count]
    elif after == "terminated":
        d.exit_detail = {"reason": "当事人已起诉", "routes": ["litigation"]}
    d.status = after
    return changes, p.get("notes")


def _assess(db, d, actor, p, now, s):
    parties = len(d.parties)
    result = risk.assess(
        likelihood=p["likelihood"],
        severity=p["severity"],
        flags=p.get("flags") or [],
        parties=parties,
        people_involved=d.people_involved,
        group_min_parties=s.group_min_parties,
        group_min_people=s.group_min_people,
    )
    db.add(
        RiskAssessment(
            dispute_id=d.id,
            likelihood=result.likelihood,
            severity=result.severity,
            score=result.score,
            level=result.level,
            forced_reasons=list(result.forced_reasons),
            note=p.get("note"),
            assessed_by=actor.user_id,
            assessed_at=now,
        )
    )
    changes = {
        "risk_level": [d.risk_level, result.level],
        "risk_score": [d.risk_score, result.score],
    }
    if result.level == RED and d.risk_level != RED:
        d.red_since = now
    elif result.level != RED:
        d.red_since = None
    d.risk_level, d.risk_score = result.level, result.score
    d.group_dispute = d.group_dispute or "group_dispute" in result.forced_reasons
    return changes, p.get("note")


def _assign_leader(db, d, actor, p, now, s):
    leader = db.scalar(select(User).where(User.id == p["leader_id"], User.is_active.is_(True)))
    ok = leader is not None and any(
        r.role == LEADER
        and r.area_code
        and (d.township_code.startswith(r.area_code) or r.area_code == d.township_code)
        for r in leader.roles
    )
    if not ok:
        raise ValidationFailed(
            "请选择本乡镇或本县的包案领导", code="invalid_leader", field="leader_id"
        )
    changes = {"leader_id": [d.leader_id, leader.id]}
    d.leader_id = leader.id
    return changes, None


def _archive(db, d, actor, p, now, s):
    d.archived_at = now
    return {}, None


HANDLERS = {
    "accept": _accept,
    "reject": _reject,
    "start_mediation": _start,
    "record_session": _session,
    "escalate": _escalate,
    "accept_escalation": _decide_escalation(True),
    "return_escalation": _decide_escalation(False),
    "return_down": _return_down,
    "agree": _agree,
    "terminate": _terminate,
    "refer": _refer,
    "withdraw": _withdraw,
    "extend": _extend,
    "record_visit": _visit,
    "assess_risk": _assess,
    "assign_leader": _assign_leader,
    "archive": _archive,
}
assert set(HANDLERS) == set(workflow.TRANSITIONS)


# ------------------------------------------------------------------ personal data and files


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
    """A party's full ID number or phone for a role that needs it; logged with the purpose."""
    if field not in REVEAL_ROLES:
        raise ValidationFailed("只能查看身份证号或电话", code="invalid_field", field="field")
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
        action="reveal",
        record_type="party",
        record_id=str(party.id),
        field=field,
        purpose=purpose,
        ip=ip,
        now=now,
    )
    blob = party.id_number_enc if field == "id_number" else party.phone_enc
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
