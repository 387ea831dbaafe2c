"""The scheduler as a real process: SIGKILL in the middle of 10,000 deliveries loses nothing and
doubles nothing; two schedulers started together: one works, the other stands by."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from mediation.scheduler import LOCK_KEY
from tests.test_reminders import Receiver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 10_000


def _start(extra: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        "APP_ENV": "development",
        "FLASK_APP": "wsgi:app",
        "SCHEDULER_SWEEP_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        # These tests count deliveries and commit for real: no catch-up of calendar jobs (its
        # drafts and digests would stay in the test database; catch_up is tested in-transaction).
        "SCHEDULER_CATCH_UP": "0",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "scheduler", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def engine(app):
    from core.db import db

    with app.app_context():
        yield db.engine


def _cleanup(engine):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reminder WHERE key LIKE 'proc:%'"))  # outbox cascades


@pytest.fixture
def due_reminders(engine):
    _cleanup(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO reminder (key, kind, area_code, recipient_role, recipient_area, due_at, remind_at,
                                    state, title, body, created_at)
               SELECT 'proc:' || g, 'acceptance', '330681109', 'center_staff', '330681109', now(),
                      now() - interval '1 minute', 'pending', '测试提醒', '{}'::jsonb, now()
               FROM generate_series(1, :n) g"""
            ),
            {"n": N},
        )
    yield
    _cleanup(engine)


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.mark.slow
def test_sigkill_mid_delivery_then_restart_delivers_each_exactly_once(engine, due_reminders):
    receiver = Receiver("kill-test-secret")
    env = {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": "kill-test-secret"}
    try:
        first = _start(env)
        assert _wait(lambda: len(receiver.got) >= 2500, 120), "scheduler delivered nothing"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = len(receiver.got)
        assert at_kill < N, "the kill came too late to test anything"
        second = _start(env)
        try:
            assert _wait(lambda: len({k for k, _ in receiver.got}) >= N, 180), len(receiver.got)
            time.sleep(1.5)  # anything still in flight would show up as a duplicate
        finally:
            second.terminate()
            second.wait(10)
        keys = [k for k, _ in receiver.got]
        reminder_ids = {p["reminder_id"] for _, p in receiver.got}
        duplicates = len(keys) - len(set(keys))
        print(
            f"delivered {len(set(keys))} distinct, {duplicates} duplicate POSTs, killed after {at_kill}"
        )
        assert len(set(keys)) == N and len(reminder_ids) == N
        assert (
            duplicates <= 1
        )  # at most the one message in flight at the kill, same Idempotency-Key
        assert receiver.bad_sig == 0
        with engine.connect() as conn:
            states = dict(
                conn.execute(
                    text(
                        "SELECT state, count(*) FROM reminder WHERE key LIKE 'proc:%' GROUP BY state"
                    )
                ).all()
            )
            outbox = dict(
                conn.execute(
                    text(
                        "SELECT o.state, count(*) FROM outbox o JOIN reminder r ON r.id = o.reminder_id "
                        "WHERE r.key LIKE 'proc:%' GROUP BY o.state"
                    )
                ).all()
            )
        assert states == {"sent": N} and outbox == {"sent": N}
    finally:
        receiver.close()


def _lock_holders(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k AND granted"
            ),
            {"k": LOCK_KEY},
        ).scalar()


def test_two_schedulers_one_works_the_other_stands_by_and_takes_over(engine):
    a = _start({})
    assert _wait(lambda: _lock_holders(engine) == 1, 30)
    b = _start({})
    try:
        time.sleep(3)
        assert _lock_holders(engine) == 1
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        assert _wait(lambda: _lock_holders(engine) == 1, 15), "the standby did not take over"
        b.terminate()
        b.wait(10)
        err = b.stderr.read()
        assert "standing by" in err and "lock acquired" in err
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()


def test_jobs_running_together_share_the_lock_connection_without_warnings(engine):
    """Sweep and delivery run every second in the scheduler's thread pool; each checks the lock's
    connection. Unguarded, a commit on that shared connection from two threads at once logged
    `SAWarning: transaction already deassociated from connection`."""
    proc = _start({"PYTHONWARNINGS": "always", "WEBHOOK_URL": "http://127.0.0.1:9/none"})
    try:
        time.sleep(12)
    finally:
        proc.terminate()
        proc.wait(15)
    err = proc.stderr.read()
    assert "scheduler lock acquired" in err
    assert "SAWarning" not in err and "deassociated" not in err, err[-3000:]
