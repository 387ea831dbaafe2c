"""`flask scheduler …` and `flask calendar …` commands."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from core.clock import utcnow
from core.db import db
from core.errors import DomainError
from geo.cli import fail
from mediation import calendar
from mediation.disputes.service import load_official_calendar
from mediation.reminders import scheduler

scheduler_cli = click.Group("scheduler", help="提醒与督办调度")
calendar_cli = click.Group("calendar", help="节假日与调休日历")


@scheduler_cli.command("run")
def run_command():
    """Run the scheduler process (one active at a time; others stand by)."""
    scheduler.run_forever(current_app._get_current_object())


@scheduler_cli.command("run-once")
@click.argument(
    "job",
    type=click.Choice(
        [
            "sweep",
            "supervise",
            "deliver",
            "digest",
            "monthly_report",
            "report_drafts",
            "screening",
            "catch_up",
        ]
    ),
)
@click.option("--now", "now_text", default=None, help="ISO 时间（带时区），用于重放某一天")
def run_once_command(job, now_text):
    """Run one job once, optionally as of a given time."""
    now = None
    if now_text:
        now = datetime.fromisoformat(now_text)
        if now.tzinfo is None:
            click.echo("错误：--now 需要带时区，如 2026-12-01T09:00:00+08:00", err=True)
            sys.exit(2)
    result = scheduler.run_job(current_app._get_current_object(), job, now)
    click.echo(f"{job}: {result}")


@calendar_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def load_command(path):
    """Load one year's official holidays and make-up working days (replaces that year)."""
    try:
        result = load_official_calendar(
            db.session, doc=calendar.read_file(path), limits_config=current_app.config, now=utcnow()
        )
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    click.echo(
        f"已载入 {result['days']} 个特殊日期；重算暂定期限 {result['deadlines_recounted']} 件"
    )
