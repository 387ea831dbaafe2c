"""`flask geo …` commands: import boundaries and cells, generate cells, quality report."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from core.clock import business_date, utcnow
from core.db import db
from core.errors import DomainError
from geo.cells import generate_cells, import_cells, villages_without_cells
from geo.geojson import parse_feature_collection, read_geojson
from geo.importer import import_areas
from geo.quality import format_report, quality_report

geo_cli = click.Group("geo", help="区划边界与网格")


def fail(exc: DomainError) -> None:
    """Roll back, print the error with its fields, exit 2."""
    db.session.rollback()
    click.echo(f"错误 [{exc.code}]：{exc.message}", err=True)
    for path, msgs in exc.fields.items():
        for m in msgs:
            click.echo(f"  {path}: {m}", err=True)
    sys.exit(2)


def import_files(paths: list[str], system: str, *, label: str = "导入区划") -> dict:
    """Parse every file, then import all features in one transaction (nothing on error)."""
    features = []
    for path in paths:
        features.extend(parse_feature_collection(read_geojson(path), system))
    today = business_date(utcnow())
    with click.progressbar(length=len(features), label=label, file=sys.stderr) as bar:
        result = import_areas(db.session, features=features, today=today, progress=bar.update)
    return result.as_dict()


def run_generate(scope: str, target_km2: float | None = None) -> dict:
    """Generate cells for every village under `scope` that has none (flushes only)."""
    todo = len(villages_without_cells(db.session, scope_code=scope))
    cfg = current_app.config
    with click.progressbar(length=todo, label="生成网格", file=sys.stderr) as bar:
        result = generate_cells(
            db.session,
            today=business_date(utcnow()),
            target_km2=target_km2 or cfg["CELL_TARGET_AREA_KM2"],
            target_households=cfg["CELL_TARGET_HOUSEHOLDS"],
            scope_code=scope,
            progress=bar.update,
        )
    return {"villages": result.villages, "cells": result.cells}


@geo_cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", "system", required=True, help="源坐标系：wgs84、gcj02 或 bd09")
@click.option("--report/--no-report", default=True, help="导入后打印质量报告")
@with_appcontext
def import_command(paths, system, report):
    """Import GeoJSON boundaries (counties, townships, villages) in one transaction."""
    try:
        result = import_files(list(paths), system)
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    if report:
        click.echo(format_report(quality_report(db.session), result))
    else:
        click.echo(json.dumps(result, ensure_ascii=False))


@geo_cli.command("import-cells")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", "system", required=True, help="源坐标系：wgs84、gcj02 或 bd09")
@with_appcontext
def import_cells_command(path, system):
    """Import hand-drawn grid cells (15-digit codes) from GeoJSON."""
    try:
        features = parse_feature_collection(read_geojson(path), system)
        result = import_cells(db.session, features=features, today=business_date(utcnow()))
        db.session.commit()
    except DomainError as exc:
        fail(exc)
    click.echo(f"新增 {result.cells}，未变 {result.unchanged}，替换 {result.replaced}")
    for w in result.warnings:
        click.echo(f"提示：{w}")


@geo_cli.command("generate-cells")
@click.option("--scope", default="", help="只处理该区划代码之下的村")
@click.option("--target-km2", type=float, default=None, help="每个网格的目标面积（平方公里）")
@with_appcontext
def generate_cells_command(scope, target_km2):
    """Cut every village that has no cells into compact grid cells."""
    result = run_generate(scope, target_km2)
    db.session.commit()
    click.echo(f"为 {result['villages']} 个村生成 {result['cells']} 个网格")


@geo_cli.command("quality")
@click.option("--scope", default="", help="区划代码前缀")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def quality_command(scope, as_json):
    """Print the quality report of the loaded boundaries and cells."""
    report = quality_report(db.session, scope_code=scope)
    click.echo(
        json.dumps(report, ensure_ascii=False, indent=1) if as_json else format_report(report)
    )


@geo_cli.command("replicate")
@click.option("--source", default="330681", help="要复制的县级区划代码")
@click.option("--min-cells", type=int, default=100_000, help="复制到至少这么多网格为止")
@with_appcontext
def replicate_command(source, min_cells):
    """Replicate a county under new codes (9NNNNN) until there are at least --min-cells cells."""
    from sqlalchemy import text

    from geo.replicate import replicate_county

    per_copy = db.session.scalar(
        text("SELECT count(*) FROM grid_cell WHERE valid_to IS NULL AND code LIKE :p"),
        {"p": f"{source}%"},
    )
    if not per_copy:
        click.echo(f"错误：{source} 下没有网格，请先导入并生成网格", err=True)
        sys.exit(2)
    copies = -(-min_cells // per_copy) - 1
    with click.progressbar(length=copies, label="复制区划与网格", file=sys.stderr) as bar:
        total = replicate_county(db.session, source_code=source, copies=copies, progress=bar.update)
    click.echo(f"现有网格 {total} 个")
