"""`flask users …` commands: create accounts and assign cells from the command line."""

from __future__ import annotations

import sys
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from core.clock import business_date, utcnow
from core.db import db
from core.errors import DomainError
from geo.cli import fail
from mediation.pii import vault_for
from mediation.users import accounts
from mediation.users.actor import system_actor
from mediation.users.models import User
from mediation.users.passwords import hasher_for

users_cli = click.Group("users", help="用户与网格分配")


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="姓名")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="角色[:区划代码]，如 mediator:330681109219，可重复",
)
@click.option("--phone", default=None)
@click.password_option(help="密码（不带此项时交互输入）")
@with_appcontext
def create_command(username, display_name, roles, phone, password):
    """Create an account."""
    parsed = [
        {"role": r.split(":", 1)[0], "area_code": ([*r.split(":", 1), None])[1]} for r in roles
    ]
    try:
        user = accounts.create_user(
            db.session,
            actor=system_actor(),
            username=username,
            display_name=display_name,
            password=password,
            roles=parsed,
            phone=phone,
            vault=vault_for(current_app.config["PII_KEY"]),
            ph=hasher_for(current_app.config),
            now=utcnow(),
        )
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    click.echo(f"已创建用户 {user.username}（id {user.id}）")


@users_cli.command("assign-cell")
@click.argument("username")
@click.argument("cell_code")
@click.option(
    "--from",
    "valid_from",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="生效日期（默认今天）",
)
@with_appcontext
def assign_cell_command(username, cell_code, valid_from):
    """Make a grid worker responsible for a cell (the previous holder's assignment ends)."""
    user_id = db.session.scalar(select(User.id).where(User.username == username.lower()))
    if user_id is None:
        click.echo(f"错误：用户 {username} 不存在", err=True)
        sys.exit(2)
    start: date = valid_from.date() if valid_from else business_date(utcnow())
    try:
        accounts.assign_cell(
            db.session, actor=system_actor(), user_id=user_id, cell_code=cell_code, valid_from=start
        )
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    click.echo(f"已将网格 {cell_code} 分配给 {username}，自 {start} 起")
