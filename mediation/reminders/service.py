"""Reminder use cases and jobs: sync with a case, sweep, supervise, digest, monthly report, deliver.

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
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import fastsql
from core.clock import BUSINESS_TZ
from core.errors import NotFound
from mediation import calendar
from mediation.disputes import deadlines
from mediation.disputes.models import Agreement, Dispute
from mediation.reminders import planning
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
DEFAULT_LEAD = {
    "acceptance": timedelta(days=1),
    "mediation": timedelta(days=3),
    "escalation_acceptance": timedelta(hours=12),
    "follow_up_visit": timedelta(days=1),
    "second_visit": timedelta(days=1),
    "judicial_confirmation": timedelta(days=5),
}


SQL_GRID_WORKER = """
    SELECT user_id FROM cell_assignment
    WHERE cell_code = %(cell)s AND valid_from <= %(day)s AND (valid_to IS NULL OR valid_to > %(day)s)
    LIMIT 1"""


def _grid_worker(db_session: Session, cell_code: str, day: date) -> int | None:
    """The cell's grid worker on `day` (read on every registration and transition: prepared)."""
    row = fastsql.fetch_one(db_session, SQL_GRID_WORKER, {"cell": cell_code, "day": day})
    return row.user_id if row else None


def facts_of(db_session: Session, dispute: Dispute, now: datetime) -> planning.CaseFacts:
    """What planning needs, read from the case."""
    judicial = None
    if dispute.status in ("agreed", "follow_up"):
        judicial = db_session.scalar(
            select(Agreement.judicial_confirmation_due_on)
            .where(Agreement.dispute_id == dispute.id, Agreement.form == "written")
            .order_by(Agreement.id.desc())
            .limit(1)
        )
    return planning.CaseFacts(
        id=dispute.id,
        status=dispute.status,
        handling_level=dispute.handling_level,
        escalation_target=dispute.escalation_target,
        cell_code=dispute.cell_code,
        village_code=dispute.village_code,
        township_code=dispute.township_code,
        county_code=dispute.county_code,
        next_due_at=dispute.next_due_at,
        next_due_kind=dispute.next_due_kind,
        risk_level=dispute.risk_level,
        red_since=dispute.red_since,
        leader_id=dispute.leader_id,
        judicial_due_on=judicial,
        grid_worker_id=_grid_worker(
            db_session, dispute.cell_code, now.astimezone(BUSINESS_TZ).date()
        ),
    )


def for_new_case(
    db_session: Session,
    *,
    dispute: Dispute,
    now: datetime,
    red_alert_levels: tuple[str, ...] = planning.DEFAULT_RED_ALERT_LEVELS,
) -> list[Reminder]:
    """The reminders a case being registered needs, as rows to add with it (not yet added): the
    case has no reminders to reconcile, so registration writes them with the case."""
    wants = planning.wanted(
        facts_of(db_session, dispute, now), lead=DEFAULT_LEAD, red_alert_levels=red_alert_levels
    )
    return [
        Reminder(
            key=w.key(dispute.id),
            kind=w.kind,
            dispute_id=dispute.id,
            area_code=dispute.cell_code,
            recipient_id=w.recipient.user_id,
            recipient_role=w.recipient.role,
            recipient_area=w.recipient.area,
            due_at=w.due_at,
            remind_at=w.remind_at,
            state=PENDING,
            title=planning.TITLES[w.kind],
            body={"case_number": dispute.case_number},
            created_at=now,
        )
        for w in {w.key(dispute.id): w for w in wants}.values()
    ]


def sync_case(
    db_session: Session,
    *,
    dispute: Dispute,
    now: datetime,
    reason: str,
    red_alert_levels: tuple[str, ...] = planning.DEFAULT_RED_ALERT_LEVELS,
) -> None:
    """Create the reminders the case now needs, cancel those it no longer needs (flush only)."""
    wants = planning.wanted(
        facts_of(db_session, dispute, now), lead=DEFAULT_LEAD, red_alert_levels=red_alert_levels
    )
    keys = {w.key(dispute.id): w for w in wants}
    current = db_session.scalars(
        select(Reminder).where(Reminder.dispute_id == dispute.id, Reminder.state.in_(OPEN_STATES))
    ).all()
    for r in current:
        if r.kind != "supervision" and r.key not in keys:
            _cancel(r, now, reason)
    open_ids = {r.id for r in current if r.state != CANCELLED}
    for r in current:  # supervision lives as long as the overdue item it supervises
        if r.kind == "supervision" and r.parent_id not in open_ids:
            _cancel(r, now, reason)
    live = {r.key for r in current if r.state != CANCELLED}
    for key, w in keys.items():
        if key in live:
            continue
        _insert(
            db_session,
            key=key,
            kind=w.kind,
            dispute=dispute,
            recipient=w.recipient,
            due_at=w.due_at,
            remind_at=w.remind_at,
            now=now,
            body={"case_number": dispute.case_number},
        )
    db_session.flush()


def _cancel(r: Reminder, now: datetime, reason: str) -> None:
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
        _cancel(r, now, reason)
    db_session.flush()
    return len(rows)


def _insert(
    db_session: Session,
    *,
    key: str,
    kind: str,
    dispute: Dispute | None,
    recipient,
    due_at: datetime,
    remind_at: datetime,
    now: datetime,
    body: dict,
    area: str | None = None,
    parent_id: int | None = None,
) -> None:
    db_session.execute(
        insert(Reminder)
        .values(
            key=key,
            kind=kind,
            dispute_id=dispute.id if dispute else None,
            parent_id=parent_id,
            area_code=area
            if area is not None
            else (dispute.cell_code if dispute else recipient.area),
            recipient_id=recipient.user_id,
            recipient_role=recipient.role,
            recipient_area=recipient.area,
            due_at=due_at,
            remind_at=remind_at,
            state=PENDING,
            title=planning.TITLES[kind],
            body=body,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["key"],
            index_where=text(LIVE_CASE_KEY if dispute is not None else NO_CASE_KEY),
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


def supervise(db_session: Session, *, now: datetime, delay: timedelta, batch: int = 500) -> int:
    """Overdue items go to the next level as supervision (督办), once each."""
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
        ids = {r.dispute_id for r in rows if r.dispute_id}
        cases = {d.id: d for d in db_session.scalars(select(Dispute).where(Dispute.id.in_(ids)))}
        for r in rows:
            r.supervised_at = now
            dispute = cases.get(r.dispute_id)
            if dispute is None:
                if r.kind == "screening_due":
                    made += _supervise_screening(db_session, r, now)
                continue
            level = (
                dispute.handling_level
                if dispute.handling_level in planning.NEXT_LEVEL
                else "village"
            )
            who = planning.supervisor_for(
                level, {"township": dispute.township_code, "county": dispute.county_code}
            )
            if who is None:
                continue
            _insert(
                db_session,
                key=f"supervise:{r.id}",
                kind="supervision",
                dispute=dispute,
                recipient=who,
                due_at=now,
                remind_at=now,
                now=now,
                parent_id=r.id,
                body={
                    "case_number": dispute.case_number,
                    "overdue_kind": r.kind,
                    "overdue_since": r.due_at.isoformat(),
                },
            )
            made += 1
        db_session.commit()


def _supervise_screening(db_session: Session, r: Reminder, now: datetime) -> int:
    """A cell still not screened after the delay: 督办 to its village head and township centre."""
    cell = r.area_code
    body = {
        "overdue_kind": r.kind,
        "overdue_since": r.due_at.isoformat(),
        "cell_code": cell,
        "campaign_id": (r.body or {}).get("campaign_id"),
        "campaign_title": (r.body or {}).get("campaign_title"),
    }
    for suffix, who in (
        ("", planning.Recipient(role="village_admin", area=cell[:12])),
        (":township", planning.Recipient(role="center_staff", area=cell[:9])),
    ):
        _insert(
            db_session,
            key=f"supervise:{r.id}{suffix}",
            kind="supervision",
            dispute=None,
            recipient=who,
            due_at=now,
            remind_at=now,
            now=now,
            area=cell,
            parent_id=r.id,
            body=body,
        )
    return 2


def calendar_warning(db_session: Session, *, now: datetime) -> dict | None:
    """From 1 November, while next year's official holiday notice is not loaded: what to say."""
    year = calendar.missing_next_year(
        calendar.loaded_years(db_session), now.astimezone(BUSINESS_TZ).date()
    )
    if year is None:
        return None
    return {"year": year, "message": calendar.missing_year_message(year)}


def _warn_admins_of_calendar(db_session: Session, warning: dict, now: datetime) -> None:
    """One inbox item for the system administrators per missing year."""
    _insert(
        db_session,
        key=f"calendar:missing:{warning['year']}",
        kind="calendar_missing",
        dispute=None,
        recipient=planning.Recipient(role=ADMIN),
        due_at=datetime.combine(date(warning["year"], 1, 1), time(0), BUSINESS_TZ),
        remind_at=now,
        now=now,
        area="",
        body=warning,
    )


def daily_digest(db_session: Session, *, now: datetime) -> int:
    """One digest a day for each township centre: new RED/ORANGE, overdue by village, escalations
    waiting, villages whose monthly report reminder is still open; and, while next year's holiday
    calendar is missing, a warning to the centres and to the administrators' inbox."""
    day = now.astimezone(BUSINESS_TZ).date()
    warning = calendar_warning(db_session, now=now)
    if warning:
        _warn_admins_of_calendar(db_session, warning, now)
    since = datetime.combine(day - timedelta(days=1), time(0), BUSINESS_TZ)
    townships = db_session.scalars(
        text("SELECT code FROM area WHERE level = 'township' AND valid_to IS NULL")
    )
    made = 0
    for code in townships:
        stats = db_session.execute(
            text(
                """SELECT
                     count(*) FILTER (WHERE risk_level IN ('red', 'orange') AND registered_at >= :since) AS new_high,
                     count(*) FILTER (WHERE next_due_at < :now) AS overdue,
                     count(*) FILTER (WHERE escalation_target IS NOT NULL) AS escalations
                   FROM dispute WHERE township_code = :t"""
            ),
            {"since": since, "now": now, "t": code},
        ).one()
        by_village = dict(
            db_session.execute(
                text("""SELECT village_code, count(*) FROM dispute WHERE township_code = :t AND next_due_at < :now
                    GROUP BY village_code ORDER BY village_code"""),
                {"t": code, "now": now},
            ).all()
        )
        missing = list(
            db_session.scalars(
                text("""SELECT area_code FROM reminder WHERE kind = 'monthly_report' AND state <> 'cancelled'
                    AND area_code LIKE :p AND due_at < :now ORDER BY area_code"""),
                {"p": f"{code}%", "now": now},
            )
        )
        at = datetime.combine(day, time(8), BUSINESS_TZ)
        _insert(
            db_session,
            key=f"digest:{code}:{day.isoformat()}",
            kind="daily_digest",
            dispute=None,
            recipient=planning.Recipient(role="center_staff", area=code),
            due_at=at,
            remind_at=at,
            now=now,
            area=code,
            body={
                "date": day.isoformat(),
                "new_red_orange": stats.new_high,
                "overdue": stats.overdue,
                "overdue_by_village": by_village,
                "escalations_waiting": stats.escalations,
                "villages_missing_report": missing,
                **({"calendar_warning": warning} if warning else {}),
            },
        )
        made += 1
    db_session.commit()
    return made


def monthly_report_reminders(db_session: Session, *, now: datetime, due_day: int = 18) -> int:
    """Each village's report for this month is due by the end of the 18th (Asia/Shanghai)."""
    day = now.astimezone(BUSINESS_TZ).date()
    due_at = deadlines.report_due(day.strftime("%Y-%m"), due_day)
    remind_at = due_at - timedelta(days=3)
    month = day.strftime("%Y-%m")
    villages = db_session.scalars(
        text("SELECT code FROM area WHERE level = 'village' AND valid_to IS NULL")
    )
    n = 0
    for code in villages:
        _insert(
            db_session,
            key=f"village:{code}:monthly_report:{month}",
            kind="monthly_report",
            dispute=None,
            recipient=planning.Recipient(role="village_admin", area=code),
            due_at=due_at,
            remind_at=remind_at,
            now=now,
            area=code,
            body={"month": month},
        )
        n += 1
    db_session.commit()
    return n


Sender = Callable[[dict, str], None]


def webhook_sender(url: str, secret: str, timeout: float = 5.0) -> Sender:
    """POST JSON signed with HMAC-SHA256; raises on anything but 2xx."""

    if not url.startswith(("http://", "https://")):
        raise ValueError("WEBHOOK_URL must be http(s)")

    def send(payload: dict, idempotency_key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        ts = str(int(datetime.now().timestamp()))
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


def deliver(
    db_session: Session,
    *,
    now: datetime,
    send: Sender,
    give_up_after: timedelta = GIVE_UP_AFTER,
    limit: int = 100_000,
) -> tuple[int, int]:
    """Deliver pending outbox messages one by one (claim, send, mark, commit); failures back off
    exponentially. Returns (sent, failed).

    A receiver that is down for days loses nothing: a message is retried (at most hourly) until it
    is delivered, until its reminder no longer needs a push (cancelled, or already read in the
    in-app inbox: `skipped`), or for `give_up_after` (two weeks: `dead`, with its last error)."""
    sent = failed = 0
    while sent + failed < limit:
        msg = db_session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if msg is None:
            break
        if msg.attempts:  # a backlog: the reminder may have moved on while we waited
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
