"""Reminders walked through a month with an explicit `now`; working days; inbox; webhook delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mediation import scheduler
from mediation.calendar import load_calendar
from mediation.disputes.scheduled import daily_digest
from mediation.reminders import service
from mediation.reminders.models import OutboxMessage, Reminder
from mediation.reports.scheduled import monthly_report_reminders
from tests.factories import Api, case_world

SH = ZoneInfo("Asia/Shanghai")


def at(y, m, d, h=9, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def reminders_of(db_session, d, states=("pending", "due", "sent", "acknowledged")):
    return db_session.scalars(
        select(Reminder)
        .where(Reminder.dispute_id == d.id, Reminder.state.in_(states))
        .order_by(Reminder.id)
    ).all()


def test_a_case_walked_through_a_month(db_session, world):
    gw = world["users"]["grid_worker"]
    d = world["register"](at(2026, 12, 1))
    [acc] = reminders_of(db_session, d)
    assert (acc.kind, acc.recipient_id, acc.state) == ("acceptance", gw.id, "pending")
    assert acc.due_at == datetime(2026, 12, 4, 23, 59, 59, tzinfo=SH)  # 3 working days, Tue → Fri
    assert acc.remind_at == acc.due_at - timedelta(days=1)

    assert service.sweep(db_session, now=at(2026, 12, 2), webhook=False) == 0
    assert service.sweep(db_session, now=at(2026, 12, 4, 8), webhook=False) == 1
    assert service.sweep(db_session, now=at(2026, 12, 4, 9), webhook=False) == 0  # once
    db_session.refresh(acc)
    assert acc.state == "due" and acc.fired_at == at(2026, 12, 4, 8)

    d = world["act"]("mediator", d, "accept", at(2026, 12, 4, 10))
    db_session.refresh(acc)
    assert acc.state == "cancelled" and acc.cancel_reason == "accept"  # no longer due: gone
    [med] = reminders_of(db_session, d)
    assert med.kind == "mediation" and med.recipient_id == gw.id
    assert med.due_at == datetime(2027, 1, 3, 23, 59, 59, tzinfo=SH)  # 30 calendar days

    d = world["act"](
        "mediator", d, "start_mediation", at(2026, 12, 10, 9), rights_notice="书面告知"
    )
    d = world["act"](
        "mediator",
        d,
        "agree",
        at(2026, 12, 10, 10),
        form="written",
        facts="两户因排水沟堵塞发生争执",
        performance_place="先进村",
        terms="赔偿",
        performance_method="转账",
        performance_deadline=date(2026, 12, 20),
    )
    kinds = {r.kind: r for r in reminders_of(db_session, d)}
    assert set(kinds) == {"follow_up_visit", "judicial_confirmation"}
    visit = kinds["follow_up_visit"]
    assert visit.recipient_id == gw.id and visit.due_at == datetime(
        2026, 12, 20, 23, 59, 59, tzinfo=SH
    )
    assert kinds["judicial_confirmation"].recipient_role == "mediator"
    assert kinds["judicial_confirmation"].due_at.date() == date(2027, 1, 9)

    assert service.sweep(db_session, now=at(2026, 12, 20, 8), webhook=False) == 1
    assert scheduler.supervise(db_session, now=at(2026, 12, 21, 12), delay=timedelta(hours=24)) == 0
    assert scheduler.supervise(db_session, now=at(2026, 12, 22, 8), delay=timedelta(hours=24)) == 1
    assert scheduler.supervise(db_session, now=at(2026, 12, 22, 9), delay=timedelta(hours=24)) == 0
    sup = db_session.scalar(
        select(Reminder).where(Reminder.kind == "supervision", Reminder.dispute_id == d.id)
    )
    assert (sup.recipient_role, sup.recipient_area, sup.parent_id) == (
        "center_staff",
        "330681109",
        visit.id,
    )
    assert service.sweep(db_session, now=at(2026, 12, 22, 8, 1), webhook=False) == 1

    world["act"](
        "grid_worker",
        d,
        "record_visit",
        at(2026, 12, 22, 10),
        method="in_person",
        result="performed",
        satisfaction="satisfied",
    )
    assert reminders_of(db_session, d) == []  # resolved: visit, supervision and window all gone
    states = {r.kind: r.state for r in reminders_of(db_session, d, states=("cancelled",))}
    assert states == {
        "acceptance": "cancelled",
        "mediation": "cancelled",
        "follow_up_visit": "cancelled",
        "supervision": "cancelled",
        "judicial_confirmation": "cancelled",
    }


def test_red_case_reaches_the_township_the_same_day(db_session, world):
    d = world["register"](
        at(2026, 12, 1, 15), risk={"likelihood": 1, "severity": 1, "flags": ["death"]}
    )
    red = [r for r in reminders_of(db_session, d) if r.kind == "red_case"]
    assert len(red) == 1 and red[0].recipient_role == "center_staff"
    assert red[0].due_at == datetime(2026, 12, 1, 23, 59, 59, tzinfo=SH)
    assert service.sweep(db_session, now=at(2026, 12, 1, 15, 1), webhook=False) == 1
    d = world["act"](
        "center_staff",
        d,
        "assign_leader",
        at(2026, 12, 1, 16),
        leader_id=world["users"]["leader"].id,
    )
    leader = [r for r in reminders_of(db_session, d) if r.kind == "red_case_leader"]
    assert len(leader) == 1 and leader[0].recipient_id == world["users"]["leader"].id


def test_working_days_follow_the_official_calendar(db_session, world):
    cal = load_calendar(db_session)
    assert 2026 in cal.years_loaded
    assert not cal.is_working_day(date(2026, 10, 1)) and cal.is_working_day(
        date(2026, 10, 10)
    )  # 调休
    assert cal.add_working_days(date(2026, 9, 24), 1) == date(2026, 9, 28)  # 中秋 25–27
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)  # 国庆, then Sat 上班
    d = world["register"](at(2026, 9, 30, 10))
    [acc] = reminders_of(db_session, d)
    assert acc.due_at.astimezone(SH).date() == date(2026, 10, 10)


def test_inbox_lists_counts_and_acknowledges(client, db_session, world):
    world["register"](at(2026, 12, 1))
    service.sweep(db_session, now=at(2026, 12, 4, 8), webhook=False)
    gw = Api(client, "t_gw")
    r = client.get("/api/v1/inbox", headers=gw.h())
    items = r.get_json()
    assert [i["kind"] for i in items] == ["acceptance"] and items[0]["state"] == "due"
    assert client.get("/api/v1/inbox/unread-count", headers=gw.h()).get_json() == {"unread": 1}
    assert (
        client.post(f"/api/v1/inbox/{items[0]['id']}/ack", headers=gw.h()).get_json()["state"]
        == "acknowledged"
    )
    assert client.get("/api/v1/inbox/unread-count", headers=gw.h()).get_json() == {"unread": 0}
    other = Api(client, "t_gw_out")
    assert client.post(f"/api/v1/inbox/{items[0]['id']}/ack", headers=other.h()).status_code == 404
    med = Api(client, "t_med")
    assert client.get("/api/v1/inbox", headers=med.h()).get_json() == []


def test_digest_and_monthly_report_reminders_are_made_once(db_session, world):
    world["register"](at(2026, 12, 1), risk={"likelihood": 4, "severity": 4})
    assert monthly_report_reminders(db_session, now=at(2026, 12, 1, 6)) == 518
    assert monthly_report_reminders(db_session, now=at(2026, 12, 1, 7)) == 518
    assert db_session.scalar(
        select(Reminder).where(
            Reminder.kind == "monthly_report", Reminder.area_code == world["village"]
        )
    ).due_at == at(2026, 12, 18, 23, 59) + timedelta(seconds=59)  # the end of the 18th (m3)
    daily_digest(db_session, now=at(2026, 12, 2, 8))
    daily_digest(db_session, now=at(2026, 12, 2, 8, 5))
    digests = db_session.scalars(
        select(Reminder).where(Reminder.kind == "daily_digest", Reminder.area_code == "330681109")
    ).all()
    assert len(digests) == 1 and digests[0].body["new_red_orange"] == 1


class Receiver:
    """A webhook receiver on loopback that checks signatures and can fail on demand."""

    def __init__(self, secret: str, fail_first: int = 0):
        self.secret, self.fail_left, self.got, self.bad_sig = secret, fail_first, [], 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Mediation-Timestamp"]
                want = hmac.new(
                    outer.secret.encode(), ts.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                if self.headers["X-Mediation-Signature"] != f"sha256={want}":
                    outer.bad_sig += 1
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.got.append((self.headers["Idempotency-Key"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_webhook_is_signed_retried_with_backoff_and_sent_once(db_session, world):
    receiver = Receiver("s3cret", fail_first=2)
    try:
        world["register"](at(2026, 12, 1))
        service.sweep(db_session, now=at(2026, 12, 4, 8), webhook=True)
        send = service.webhook_sender(receiver.url, "s3cret")
        assert service.deliver(db_session, now=at(2026, 12, 4, 8), send=send) == (0, 1)
        msg = db_session.scalar(select(OutboxMessage))
        assert msg.attempts == 1 and msg.next_attempt_at == at(2026, 12, 4, 8, 1)  # 60 s backoff
        assert service.deliver(
            db_session,
            now=at(
                2026,
                12,
                4,
                8,
                0,
            ),
            send=send,
        ) == (0, 0)  # not yet
        assert service.deliver(db_session, now=at(2026, 12, 4, 8, 1), send=send) == (0, 1)
        assert service.deliver(db_session, now=at(2026, 12, 4, 8, 5), send=send) == (1, 0)
        assert service.deliver(db_session, now=at(2026, 12, 4, 9), send=send) == (0, 0)
        assert len(receiver.got) == 1 and receiver.bad_sig == 0
        key, payload = receiver.got[0]
        assert key == f"outbox-{msg.id}" and payload["kind"] == "acceptance"
        assert db_session.get(Reminder, payload["reminder_id"]).state == "sent"
    finally:
        receiver.close()


def test_task_list_holds_only_what_is_mine_to_do(client, db_session, world):
    d = world["register"](at(2026, 12, 1))
    gw, center = Api(client, "t_gw"), Api(client, "t_center")
    tasks = client.get("/api/v1/disputes/tasks", headers=gw.h()).get_json()
    assert [t["id"] for t in tasks] == [str(d.id)] and tasks[0]["next_due_kind"] == "acceptance"
    assert client.get("/api/v1/disputes/tasks", headers=center.h()).get_json() == []
    d = world["act"](
        "mediator", d, "escalate", at(2026, 12, 2), to_level="township", reason="涉及多户"
    )
    # Waiting for the township: the centre's task now, no longer the grid worker's.
    assert client.get("/api/v1/disputes/tasks", headers=gw.h()).get_json() == []
    tasks = client.get("/api/v1/disputes/tasks", headers=center.h()).get_json()
    assert [t["next_due_kind"] for t in tasks] == ["escalation_acceptance"]
