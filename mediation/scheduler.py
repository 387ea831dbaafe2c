"""The job table and the scheduler process: every package's jobs, one active process at a time.

Started with `flask scheduler run` (the run command starts it next to gunicorn), never inside web
workers. A PostgreSQL advisory lock held on a dedicated connection makes a second process stand by
until the first one dies. Jobs coalesce and never overlap; when a process takes the lock it first
catches up the latest due run of every calendar job (`catch_up`), so downtime misses nothing.
Every job can also be run once for a given `now` with `flask scheduler run-once JOB --now …`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask
from sqlalchemy import text

from core.clock import BUSINESS_TZ, utcnow
from core.db import db
from mediation.calendar import load_calendar
from mediation.channels import results as channel_results
from mediation.disputes import scheduled as disputes_jobs
from mediation.pii import vault_for
from mediation.reminders import service
from mediation.reports import drafting, months
from mediation.reports import scheduled as reports_jobs
from mediation.risks import scheduled as risks_jobs
from mediation.screening import campaigns
from mediation.screening import scheduled as screening_jobs

log = logging.getLogger("mediation.scheduler")
LOCK_KEY = 7_261_118  # pg advisory lock id of the scheduler


SUPERVISORS = [
    disputes_jobs.supervise_cases,
    screening_jobs.supervise_screening,
    risks_jobs.supervise_decisions,  # issue 21: 研判 decisions not carried out in time
]


def report_settings(cfg) -> months.ReportSettings:
    """The report settings over the calendar as loaded now (a job reads it on each run)."""
    return months.settings_from_config(cfg, load_calendar(db.session))


def supervise(db_session, *, now: datetime, delay: timedelta) -> int:
    """督办 of every overdue reminder, each domain telling whom (cases, screening)."""
    return service.supervise(db_session, now=now, delay=delay, supervisors=SUPERVISORS)


def jobs(app: Flask) -> dict[str, Callable[[datetime], object]]:
    """Every job by name, each taking an explicit `now`."""
    cfg = app.config

    def sweep(now):
        return service.sweep(db.session, now=now, webhook=bool(cfg["WEBHOOK_URL"]))

    def supervise_job(now):
        return supervise(db.session, now=now, delay=timedelta(hours=cfg["SUPERVISION_DELAY_HOURS"]))

    def deliver(now):
        # Results going back to partner systems share the outbox and its retry rules.
        channel_results.deliver_results(db.session, now=now, vault=vault_for(cfg["PII_KEY"]))
        if not cfg["WEBHOOK_URL"]:
            return (0, 0)
        return service.deliver(
            db.session,
            now=now,
            send=service.webhook_sender(cfg["WEBHOOK_URL"], cfg["WEBHOOK_SECRET"]),
        )

    def digest(now):
        return disputes_jobs.daily_digest(db.session, now=now)

    def monthly(now):
        n = reports_jobs.monthly_report_reminders(
            db.session, now=now, settings=report_settings(cfg)
        )
        db.session.commit()
        return n

    def report_drafts(now):
        return drafts_per_township(
            month=months.report_month_of(now), now=now, settings=report_settings(cfg)
        )

    def screening(now):
        created = campaigns.ensure_monthly_campaigns(db.session, now=now)
        db.session.commit()
        reminded = screening_jobs.late_cell_reminders(
            db.session, now=now, lead=timedelta(days=cfg["SCREENING_REMIND_DAYS"])
        )
        return {"campaigns": created, "reminders": reminded}

    return {
        "sweep": sweep,
        "supervise": supervise_job,
        "deliver": deliver,
        "digest": digest,
        "monthly_report": monthly,
        "report_drafts": report_drafts,
        "screening": screening,
        "catch_up": lambda now: catch_up(app, now=now),
    }


def cron_specs(cfg) -> dict[str, dict]:
    """When each calendar job runs (Asia/Shanghai): APScheduler cron fields."""
    return {
        "digest": {"hour": 8, "minute": 0},
        "monthly_report": {"day": 1, "hour": 6, "minute": 0},
        "report_drafts": {"day": cfg["REPORT_DRAFT_DAY"], "hour": 2, "minute": 0},
        "screening": {"hour": 7, "minute": 0},
    }


def last_fire(spec: dict, now: datetime, horizon: timedelta = timedelta(days=62)) -> datetime:
    """The latest time at or before `now` at which a cron job was due to run."""
    trigger = CronTrigger(timezone=BUSINESS_TZ, **spec)
    at = trigger.get_next_fire_time(None, now - horizon)
    last = None
    while at is not None and at <= now:
        last = at
        at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
    return last


def _drafts_missing(app: Flask, at: datetime, now: datetime) -> int:
    """The drafts of the report month of the missed run `at` (figures as of now), only where a
    village has none yet: a draft the village head is working on is left alone."""
    cfg = app.config
    settings = report_settings(cfg)
    return drafts_per_township(
        month=months.report_month_of(at), now=now, settings=settings, only_missing=True
    )


def drafts_per_township(
    *, month: str, now: datetime, settings: months.ReportSettings, only_missing: bool = False
) -> int:
    """`drafting.generate_drafts` for every township, committed one township at a time on
    purpose: a county- or province-wide batch keeps its transactions short, and a failure in
    one township leaves the drafts of the others done (the job is idempotent, so a rerun
    finishes the rest)."""
    months.check_period_over(month, now)
    made = 0
    for township in drafting.draft_townships(db.session, None):
        made += drafting.township_drafts(
            db.session,
            township=township,
            month=month,
            now=now,
            settings=settings,
            only_missing=only_missing,
        )
        db.session.commit()
    return made


def catch_up(app: Flask, *, now: datetime) -> dict[str, datetime]:
    """Run the latest due run of every calendar job (digest, monthly report reminders, report
    drafts, screening campaigns and reminders) as of the time it was due, so that a scheduler
    that was down (or a standby taking over) misses nothing. Every job is idempotent by key
    (digest per township and day, reminder per village and month, campaign per township and
    month, drafts only where missing), so catching up twice, or after a run that did happen,
    changes nothing. Returns the runs caught up, by job."""
    fns = jobs(app)
    ran: dict[str, datetime] = {}
    for name, spec in cron_specs(app.config).items():
        at = last_fire(spec, now)
        if at is None:
            continue
        try:
            if name == "report_drafts":
                _drafts_missing(app, at, now)
            else:
                fns[name](at)
            db.session.commit()
            ran[name] = at
        except Exception:
            db.session.rollback()
            log.exception("catching up %s (due %s) failed", name, at.isoformat())
    return ran


def run_job(app: Flask, name: str, now: datetime | None = None):
    """Run one job in its own app context; roll back whatever a failure left."""
    with app.app_context():
        try:
            result = jobs(app)[name](now or utcnow())
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            raise
        finally:
            db.session.remove()


def run_forever(app: Flask, *, standby_poll: float = 5.0) -> None:
    """Take the lock (or stand by for it), then run the jobs until killed."""
    with app.app_context():
        engine = db.engine
    # The lock's connection runs in autocommit (no transaction to begin, end or lose) and is used
    # by one job thread at a time: APScheduler runs jobs in a thread pool, and a connection shared
    # between threads without a guard was what logged "transaction already deassociated".
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    conn_guard = threading.Lock()
    while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
        log.info("another scheduler holds the lock; standing by")
        time.sleep(standby_poll)
    log.info("scheduler lock acquired; running jobs")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per run is noise
    sweep_s = app.config["SCHEDULER_SWEEP_SECONDS"]
    sched = BlockingScheduler(
        timezone=BUSINESS_TZ,
        # A run that could not start on time (busy, or a long sweep) still runs, once.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )

    def guarded(name):
        def run():
            try:
                with conn_guard:
                    conn.execute(text("SELECT 1")).scalar()  # still holding the lock?
            except Exception:
                log.error("lost the scheduler lock connection; exiting so a supervisor restarts us")
                sched.shutdown(wait=False)
                raise SystemExit(1) from None
            try:
                run_job(app, name)
            except Exception:
                log.warning("job %s will run again at its next time", name)

        return run

    # Runs missed while no scheduler was running (downtime, or the standby taking over).
    if app.config["SCHEDULER_CATCH_UP"]:
        try:
            run_job(app, "catch_up")
        except Exception:
            log.warning("catch-up failed; the jobs run again at their next time")
    now = utcnow().astimezone(BUSINESS_TZ)
    sched.add_job(guarded("sweep"), "interval", seconds=sweep_s, id="sweep", next_run_time=now)
    sched.add_job(
        guarded("deliver"),
        "interval",
        seconds=max(1, sweep_s // 3),
        id="deliver",
        next_run_time=now,
    )
    sched.add_job(guarded("supervise"), "interval", minutes=10, id="supervise", next_run_time=now)
    # digest, monthly_report, report_drafts and screening (this month's routine campaigns, and
    # reminders for cells not screened before the due date) at the times of cron_specs.
    for name, spec in cron_specs(app.config).items():
        sched.add_job(guarded(name), "cron", id=name, **spec)
    sched.start()
