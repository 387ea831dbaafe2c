"""`flask demo …`, `flask scheduler …` and `flask calendar …` commands."""

from __future__ import annotations

import glob
import os
import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from core.clock import utcnow
from core.db import db
from core.errors import DomainError
from geo.cli import fail, import_files, run_generate
from geo.quality import format_report, quality_report
from mediation import calendar, scheduler
from mediation.demo import COUNTY_CODE, DEMO_PASSWORD, demo_files, ensure_demo_accounts
from mediation.disputes.holidays import load_official_calendar
from mediation.pii import vault_for
from mediation.screening.campaigns import ensure_monthly_campaigns
from mediation.users.passwords import hasher_for

demo_cli = click.Group("demo", help="演示数据")


@demo_cli.command("load")
@click.option(
    "--data-dir",
    default=None,
    help="诸暨市边界数据目录（默认 data/zhuji，可用 DEMO_DATA_DIR 覆盖）",
)
@click.option("--report", is_flag=True, help="即使没有变化也打印质量报告")
@with_appcontext
def load_command(data_dir, report):
    """Load the demo county (boundaries, grid cells); safe to re-run."""
    if current_app.config["ENV_NAME"] == "production":
        click.echo("错误：生产环境不能加载演示数据和演示账号", err=True)
        sys.exit(2)
    data_dir = os.path.abspath(data_dir or current_app.config["DEMO_DATA_DIR"])
    if not os.path.isdir(data_dir):
        click.echo(f"错误：找不到演示数据目录 {data_dir}", err=True)
        sys.exit(2)
    try:
        result = import_files(demo_files(data_dir), "gcj02", label="导入诸暨市边界")
        cells = run_generate(COUNTY_CODE)
        db.session.commit()
        for path in sorted(
            glob.glob(os.path.join(current_app.root_path, "..", "data", "calendar", "*.json"))
        ):
            load_official_calendar(
                db.session,
                doc=calendar.read_file(path),
                limits_config=current_app.config,
                now=utcnow(),
            )
        ensure_monthly_campaigns(db.session, now=utcnow())
        created = ensure_demo_accounts(
            db.session,
            vault=vault_for(current_app.config["PII_KEY"]),
            ph=hasher_for(current_app.config),
            now=utcnow(),
        )
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    if created:
        click.echo(f"演示账号（密码 {DEMO_PASSWORD}）：" + "、".join(created))
    changed = result["inserted"] or result["replaced"] or cells["cells"]
    if changed or report:
        click.echo(format_report(quality_report(db.session, scope_code=COUNTY_CODE), result))
    else:
        click.echo("演示数据已是最新，无需更改")


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
def calendar_load_command(path):
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
