"""HTTP layer: the application factory (the only composition root), blueprints, schemas."""

from __future__ import annotations

import os

from flask import Flask, current_app, send_from_directory
from flask_smorest import Api
from sqlalchemy.exc import DBAPIError

from api.errors import ErrorSchema
from api.extensions import jwt, limiter
from api.openapi import StatusPlugin, field_rules
from core.config import DEFAULT_SECRET, get_config
from core.db import db, migrate


class MediationApi(Api):
    """flask-smorest Api whose errors use our one error shape."""

    ERROR_SCHEMA = ErrorSchema
    # No catch-all `default` response: api.openapi lists every status an operation can answer.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        """Delegate to api.errors so that every error has the same body."""
        from api.errors import handle_http_exception

        return handle_http_exception(error)


def _check_production_secrets(app: Flask) -> None:
    if app.config["ENV_NAME"] != "production":
        return
    weak = [
        name
        for name in ("SECRET_KEY", "JWT_SECRET_KEY", "PII_KEY")
        if not app.config.get(name)
        or app.config[name] == DEFAULT_SECRET
        or len(app.config[name]) < 32
    ]
    if weak:
        raise RuntimeError(
            "refusing to start in production with default or short secrets: " + ", ".join(weak)
        )


def _release_session(_exc=None) -> None:
    """End the request's session. If its connection died after the answer was made (database
    restarted), discard it instead of failing the rollback: the client keeps its answer."""
    try:
        db.session.remove()
    except DBAPIError:
        current_app.logger.warning("database connection lost after the response; discarded")
        db.session.registry().invalidate()
        db.session.remove()


def create_app(config_name: str | None = None, **overrides) -> Flask:
    """Build the Flask app: config, extensions, error handlers, blueprints, CLI."""
    from api import (
        auth,
        categories,
        channels,
        console,
        disputes,
        errors,
        geo,
        health,
        inbox,
        inputs,
        papers,
        partners,
        risks,
        screening,
        security,
        sessions,
        sync,
        users,
    )
    from api.jsonio import JSONProvider
    from geo.cli import geo_cli
    from mediation.cli import calendar_cli, demo_cli, scheduler_cli
    from mediation.users.cli import users_cli

    Flask.json_provider_class = JSONProvider
    app = Flask(__name__, static_folder=None)
    app.config.from_object(get_config(config_name))
    app.config.update(overrides)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        raise RuntimeError("DATABASE_URL is not set (make run / make test set it for you)")
    _check_production_secrets(app)
    from api import logging as api_logging

    api_logging.configure()

    db.init_app(app)
    app.teardown_appcontext(_release_session)  # runs before Flask-SQLAlchemy's own teardown
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    jwt.init_app(app)
    limiter.init_app(app)

    from api.schemas.disputes import Money

    api = MediationApi(
        app,
        spec_kwargs={
            "info": {"description": _API_DESCRIPTION},
            "extra_plugins": [StatusPlugin(app)],
        },
    )
    api.register_field(Money, None, None)  # documented by its own anyOf
    api.ma_plugin.converter.add_attribute_function(field_rules)
    errors.register(app)
    auth.register(app)
    inputs.register(app)  # the bounded id converter, before any route is added
    security.register(app)
    modules = (
        health,
        sessions,
        users,
        geo,
        disputes,
        categories,
        papers,
        inbox,
        screening,
        sync,
        console,
    )
    for module in (*modules, partners, channels, risks):
        for bp in module.blueprints:
            api.register_blueprint(bp)

    _register_docs_assets(app)
    _install_operations(app)  # issue 22: replica routing, /metrics, request ids and JSON logs
    from api import console_web

    console_web.register(app)  # the console's pages at /console/ (not in the OpenAPI document)
    app.cli.add_command(geo_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(calendar_cli)
    app.extensions["smorest_api"] = api
    return app


# ---- issue 22 (operations): the only wiring of core/replica.py, core/metrics.py, core/logs.py
# Read-only views whose GET may be answered from DATABASE_REPLICA_URL (core/replica.py): console
# dashboards, map layers, supervision lists, case lists and report drafts. Never the phone's
# task list or sync pull, nor anything that writes (exports and reveals write access-log rows).
REPLICA_ENDPOINTS = {
    "console.Dashboard",
    "console.SupervisionList",
    "console.MapAreas",
    "console.MapCases",
    "console.MapHotspots",
    "reports.TownshipReport",
    "reports.VillageVersions",
    "reports.Report",
    "console_web.dashboard",
    "console_web.queue",
    "console_web.cases",
    "console_web.map_areas",
    "console_web.map_cases",
    "console_web.map_hotspots",
    "console_web.reports_page",
}


def _install_operations(app: Flask) -> None:
    from api.auth import allow
    from core import logs, metrics, replica
    from mediation.scheduler import LOCK_KEY

    logs.configure()
    logs.install(app)
    metrics.install(app, db=db, lock_key=LOCK_KEY, public=allow(public=True))
    router = replica.install(app, db=db, endpoints=REPLICA_ENDPOINTS)
    if router is not None:
        metrics.watch_pool(router.engine, "replica")


def _register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI's files from the installed package so the docs page needs no internet."""
    import flask_swagger_ui

    dist = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")

    @app.get("/api/docs/static/<path:filename>")
    def swagger_ui_asset(filename: str):
        return send_from_directory(dist, filename, max_age=86400)


_API_DESCRIPTION = """
基层矛盾纠纷调解平台（网格化 + 人民调解 + 枫桥经验）的后端接口。

* 所有错误都返回同一结构：`code`（稳定的机器码）、`message`（中文说明）、`fields`（出错字段）。
* 时间一律以 UTC 存储；截止日期、报表周期按 Asia/Shanghai 计算。
* 带坐标的请求都要声明坐标系：`wgs84`、`gcj02`（高德/腾讯，手机地图默认）或 `bd09`（百度）。
"""
