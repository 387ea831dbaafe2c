"""Reminder rows by key, for every domain (it knows no dispute): upsert, cancel, sweep, supervise
(each domain says whom to tell), deliver, inbox.

Jobs take an explicit `now`, claim rows with FOR UPDATE SKIP LOCKED and commit per batch (sweep,
supervision) or per message (delivery), so a crash loses nothing and repeats at most the message
that was in flight, which carries a stable Idempotency-Key for the receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFound
from mediation.reminders.kinds import TITLES, Recipient
from mediation.reminders.models import (
    ACKNOWLEDGED,
    CANCELLED,
    DUE,
    LIVE_CASE_KEY,
    NO_CASE_KEY,
    OPEN_STATES,
    PENDING,
    SENT,
    OutboxMessage,
    Reminder,
)
from mediation.users.actor import Actor
from mediation.users.enums import ADMIN

log = logging.getLogger(__name__)


def cancel(r: Reminder, now: datetime, reason: str) -> None:
    """Cancel one reminder (it stays as history)."""
    r.state, r.cancelled_at, r.cancel_reason = CANCELLED, now, reason


def cancel_keys(db_session: Session, *, keys: list[str], now: datetime, reason: str) -> int:
    """Cancel the open reminders with these keys and the supervision raised on them (flush only)."""
    if not keys:
        return 0
    rows = db_session.scalars(
        select(Reminder)
        .where(Reminder.key.in_(keys), Reminder.state.in_(OPEN_STATES))
        .with_for_update()
    ).all()
    ids = [r.id for r in rows]
    children = (
        db_session.scalars(
            select(Reminder).where(
                Reminder.parent_id.in_(ids),
                Reminder.kind == "supervision",
                Reminder.state.in_(OPEN_STATES),
            )
        ).all()
        if ids
        else []
    )
    for r in [*rows, *children]:
        cancel(r, now, reason)
    db_session.flush()
    return len(rows)


def upsert(
    db_session: Session,
    *,
    key: str,
    kind: str,
    recipient: Recipient,
    due_at: datetime,
    remind_at: datetime,
    now: datetime,
    body: dict,
    area: str,
    dispute_id=None,
    parent_id: int | None = None,
    title: str | None = None,
) -> None:
    """Create the reminder with this key unless one is live already (a case's key is unique
    among live rows; a reminder of no case is made once per key)."""
    db_session.execute(
        insert(Reminder)
        .values(
            key=key,
            kind=kind,
            dispute_id=dispute_id,
            parent_id=parent_id,
            area_code=area,
            recipient_id=recipient.user_id,
            recipient_role=recipient.role,
            recipient_area=recipient.area,
            due_at=due_at,
            remind_at=remind_at,
            state=PENDING,
            title=title or TITLES[kind],
            body=body,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["key"],
            index_where=text(LIVE_CASE_KEY if dispute_id is not None else NO_CASE_KEY),
        )
    )


# ------------------------------------------------------------------ jobs


def sweep(db_session: Session, *, now: datetime, webhook: bool, batch: int = 500) -> int:
    """Fire every pending reminder whose time has come; commit per batch. Returns how many."""
    fired = 0
    while True:
        rows = db_session.scalars(
            select(Reminder)
            .where(Reminder.state == PENDING, Reminder.remind_at <= now)
            .order_by(Reminder.remind_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return fired
        for r in rows:
            r.state, r.fired_at = DUE, now
            if webhook:
                db_session.execute(
                    insert(OutboxMessage)
                    .values(
                        reminder_id=r.id,
                        payload=_payload(r),
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["reminder_id"])
                )
        db_session.commit()
        fired += len(rows)


def _payload(r: Reminder) -> dict:
    return {
        "reminder_id": r.id,
        "key": r.key,
        "kind": r.kind,
        "title": r.title,
        "dispute_id": str(r.dispute_id) if r.dispute_id else None,
        "due_at": r.due_at.isoformat(),
        "recipient": {
            "user_id": r.recipient_id,
            "role": r.recipient_role,
            "area": r.recipient_area,
        },
        "body": r.body,
    }


Sender = Callable[[dict, str], None]


Supervisor = Callable[[Session, list[Reminder], datetime], int]


def supervise(
    db_session: Session,
    *,
    now: datetime,
    delay: timedelta,
    supervisors: list[Supervisor],
    batch: int = 500,
) -> int:
    """Overdue items go one level up as supervision (督办), once each: claim a batch of overdue
    unsupervised reminders, mark them, let each domain's supervisor raise what it owns; commit
    per batch. Returns how many supervision reminders were raised."""
    made = 0
    while True:
        rows = db_session.scalars(
            select(Reminder)
            .where(
                Reminder.state.in_((DUE, SENT, ACKNOWLEDGED)),
                Reminder.supervised_at.is_(None),
                Reminder.kind.not_in(("supervision", "daily_digest")),
                Reminder.due_at <= now - delay,
            )
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return made
        for r in rows:
            r.supervised_at = now
        for supervisor in supervisors:
            made += supervisor(db_session, rows, now)
        db_session.commit()


def raise_supervision(
    db_session: Session, r: Reminder, *, who: Recipient, now: datetime, body: dict, suffix=""
) -> None:
    """The 督办 reminder raised on an overdue one (flush-free)."""
    upsert(
        db_session,
        key=f"supervise:{r.id}{suffix}",
        kind="supervision",
        dispute_id=r.dispute_id,
        recipient=who,
        due_at=now,
        remind_at=now,
        now=now,
        area=r.area_code,
        parent_id=r.id,
        body={"overdue_kind": r.kind, "overdue_since": r.due_at.isoformat(), **body},
    )


def webhook_sender(url: str, secret: str, timeout: float = 5.0) -> Sender:
    """POST JSON signed with HMAC-SHA256; raises on anything but 2xx."""

    if not url.startswith(("http://", "https://")):
        raise ValueError("WEBHOOK_URL must be http(s)")

    def send(payload: dict, idempotency_key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        ts = str(int(utcnow().timestamp()))  # the wall clock: the receiver checks its window
        sig = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(  # noqa: S310 - http(s) checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Mediation-Timestamp": ts,
                "X-Mediation-Signature": f"sha256={sig}",
            },
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured URL
            if not 200 <= resp.status < 300:
                raise urllib.error.HTTPError(url, resp.status, "not 2xx", resp.headers, None)

    return send


GIVE_UP_AFTER = timedelta(days=14)
BACKOFF_BASE, BACKOFF_MAX = timedelta(seconds=30), timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed ones: 30 s × 2ⁿ, at most 1 h."""
    return min(BACKOFF_BASE * 2 ** min(attempts, 20), BACKOFF_MAX)


def enqueue(
    db_session: Session,
    *,
    destination: str,
    dedupe_key: str,
    payload: dict,
    now: datetime,
    dispute_id=None,
) -> None:
    """A message of no reminder (a case's result for a partner system), once per `dedupe_key`."""
    db_session.execute(
        insert(OutboxMessage)
        .values(
            destination=destination,
            dedupe_key=dedupe_key,
            dispute_id=dispute_id,
            payload=payload,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def deliver(
    db_session: Session,
    *,
    now: datetime,
    send: Sender,
    give_up_after: timedelta = GIVE_UP_AFTER,
    limit: int = 100_000,
    destination: str | None = None,
) -> tuple[int, int]:
    """Deliver pending outbox messages one by one (claim, send, mark, commit); failures back off
    exponentially. Returns (sent, failed).

    A receiver that is down for days loses nothing: a message is retried (at most hourly) until it
    is delivered, until its reminder no longer needs a push (cancelled, or already read in the
    in-app inbox: `skipped`), or for `give_up_after` (two weeks: `dead`, with its last error).
    `destination` picks the messages of one receiver (None: the reminder webhook's)."""
    sent = failed = 0
    to = (
        OutboxMessage.destination.is_(None)
        if destination is None
        else OutboxMessage.destination == destination
    )
    while sent + failed < limit:
        msg = db_session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now, to)
            .order_by(OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if msg is None:
            break
        if msg.attempts and msg.reminder_id:  # a backlog: the reminder may have moved on
            state = db_session.scalar(select(Reminder.state).where(Reminder.id == msg.reminder_id))
            if state in (CANCELLED, ACKNOWLEDGED):
                msg.state, msg.last_error = "skipped", f"reminder {state} before delivery"
                db_session.commit()
                continue
        try:
            send(msg.payload, f"outbox-{msg.id}")
        except Exception as exc:  # network, HTTP status, timeout: retry later
            msg.attempts += 1
            msg.last_error = f"{type(exc).__name__}: {exc}"[:500]
            msg.next_attempt_at = now + backoff(msg.attempts)
            if now - msg.created_at >= give_up_after:
                msg.state = "dead"
                log.error("outbox message %s given up after %s attempts", msg.id, msg.attempts)
            db_session.commit()
            failed += 1
            if failed >= 20:  # the receiver is down: stop hammering it this round
                break
            continue
        msg.state, msg.sent_at, msg.attempts = SENT, now, msg.attempts + 1
        db_session.execute(
            text(
                "UPDATE reminder SET state = 'sent', sent_at = :now WHERE id = :id AND state = 'due'"
            ),
            {"now": now, "id": msg.reminder_id},
        )
        db_session.commit()
        sent += 1
    return sent, failed


# ------------------------------------------------------------------ inbox


def addressed_to(actor: Actor):
    """Reminders for this person, or for a role they hold over one of their areas."""
    conds = [Reminder.recipient_id == actor.user_id]
    for role, areas in actor.roles.items():
        if role == ADMIN:  # the deployment's administrators: no area
            conds.append(and_(Reminder.recipient_role == ADMIN, Reminder.recipient_area.is_(None)))
        elif areas:
            conds.append(
                and_(Reminder.recipient_role == role, Reminder.recipient_area.in_(sorted(areas)))
            )
    return or_(*conds)


def inbox(
    db_session: Session, *, actor: Actor, limit: int, before_id: int | None, unread_only: bool
):
    """My fired reminders, newest first."""
    states = (DUE, SENT) if unread_only else (DUE, SENT, ACKNOWLEDGED)
    stmt = select(Reminder).where(addressed_to(actor), Reminder.state.in_(states))
    if before_id:
        stmt = stmt.where(Reminder.id < before_id)
    return list(db_session.scalars(stmt.order_by(Reminder.id.desc()).limit(limit)))


def unread_count(db_session: Session, *, actor: Actor) -> int:
    """How many of my reminders are not acknowledged yet."""
    return db_session.scalar(
        select(func.count())
        .select_from(Reminder)
        .where(addressed_to(actor), Reminder.state.in_((DUE, SENT)))
    )


def acknowledge(db_session: Session, *, actor: Actor, reminder_id: int, now: datetime) -> Reminder:
    """Mark one of my reminders as read (idempotent)."""
    r = db_session.scalar(
        select(Reminder).where(
            Reminder.id == reminder_id, addressed_to(actor), Reminder.state != PENDING
        )
    )
    if r is None:
        raise NotFound("未找到该提醒", code="reminder_not_found")
    if r.state in (DUE, SENT):
        r.state, r.acknowledged_at = ACKNOWLEDGED, now
    db_session.flush()
    return r
