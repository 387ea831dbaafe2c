"""Screening coverage of a campaign or a month, per child area, from the shared definitions (metrics)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import NotFound
from geo.models import Area, GridCell
from geo.scope import code_prefix_clause
from mediation.screening import metrics
from mediation.screening.campaigns import (
    business_today,
    campaign_window,
    due_at,
    get_campaign,
    month_window,
)
from mediation.screening.enums import (
    CELL_STATES,
    MISSING,
    OVERDUE,
    SCREENED,
)
from mediation.users.actor import Actor


def _cell_rows(db_session: Session, *, prefix: str, actor: Actor, start, end, today: date):
    """Current cells under a prefix inside the actor's scope: name, worker, last round."""
    scope_clause = code_prefix_clause(actor.case_scope, GridCell.code)
    codes = select(GridCell.code).where(
        GridCell.valid_to.is_(None),
        GridCell.code.startswith(prefix, autoescape=True),
        scope_clause,
    )
    return db_session.execute(
        text(
            """
            SELECT g.code, g.name, g.village_code, g.households, w.user_id AS worker_id,
                   w.display_name AS worker_name, lr.id AS last_round_id,
                   lr.screened_at AS last_screened_at, lr.zero_report AS last_zero_report
            FROM grid_cell g
            LEFT JOIN LATERAL (
                SELECT ca.user_id, u.display_name FROM cell_assignment ca
                JOIN user_account u ON u.id = ca.user_id
                WHERE ca.cell_code = g.code AND ca.valid_from <= :today
                  AND (ca.valid_to IS NULL OR ca.valid_to > :today)
                ORDER BY ca.valid_from DESC LIMIT 1) w ON true
            LEFT JOIN LATERAL (
                SELECT r.id, r.screened_at, r.zero_report FROM screening_round r
                WHERE r.cell_code = g.code AND r.screened_at >= :start AND r.screened_at < :end
                ORDER BY r.screened_at DESC LIMIT 1) lr ON true
            WHERE g.valid_to IS NULL AND g.code = ANY(:codes)
            ORDER BY g.code
            """
        ),
        {"today": today, "start": start, "end": end, "codes": list(db_session.scalars(codes))},
    ).all()


def _figures_out(f: metrics.ScreeningFigures) -> dict:
    return {**f.as_dict(), "cells_missing": f.cells_total - f.cells_screened}


def campaign_coverage(db_session: Session, *, actor: Actor, campaign_id: int, now: datetime):
    """Per cell of the campaign (inside the actor's area): screened, missing or overdue, the last
    round and the grid worker; totals and found by key area over those cells."""
    c = get_campaign(db_session, actor=actor, campaign_id=campaign_id)
    start, end = campaign_window(c)
    per_cell = metrics.screening_figures(
        db_session, level="cell", prefix=c.area_code, start=start, end=end
    )
    late = now > due_at(c)
    cells = []
    for row in _cell_rows(
        db_session, prefix=c.area_code, actor=actor, start=start, end=end, today=business_today(now)
    ):
        f = per_cell.get(row.code) or metrics.ScreeningFigures(0, 0, 0, 1, 0, 0.0)
        state = SCREENED if f.cells_screened else (OVERDUE if late else MISSING)
        cells.append(
            {
                "code": row.code,
                "name": row.name,
                "village_code": row.village_code,
                "state": state,
                "state_label": CELL_STATES[state],
                "worker_id": row.worker_id,
                "worker_name": row.worker_name,
                "rounds": f.rounds,
                "found": f.found,
                "last_round_id": row.last_round_id,
                "last_screened_at": row.last_screened_at,
                "last_zero_report": row.last_zero_report,
            }
        )
    visible = [per_cell[x["code"]] for x in cells if x["code"] in per_cell]
    return {
        "campaign": c,
        "due_at": due_at(c),
        "totals": _figures_out(metrics.combine(visible)),
        "cells": cells,
    }


CHILD_LEVEL = {6: "township", 9: "village", 12: "cell", 15: "cell"}


def monthly_coverage(db_session: Session, *, actor: Actor, area: str, month: str) -> dict:
    """A month's screening figures for an area inside the actor's area, by child area."""
    if not actor.case_scope.contains_code(area):
        raise NotFound("未找到该区划", code="area_not_found")
    if len(area) == 15:
        exists = db_session.scalar(
            select(GridCell.code).where(GridCell.code == area, GridCell.valid_to.is_(None))
        )
    else:
        exists = db_session.scalar(
            select(Area.code).where(Area.code == area, Area.valid_to.is_(None))
        )
    if exists is None:
        raise NotFound("未找到该区划", code="area_not_found")
    start, end = month_window(month)
    level = CHILD_LEVEL[len(area)]
    figures = metrics.screening_figures(db_session, level=level, prefix=area, start=start, end=end)
    if len(area) == 15:
        figures = {k: v for k, v in figures.items() if k == area}
    codes = sorted(figures)
    names = dict(
        db_session.execute(
            select(GridCell.code, GridCell.name).where(
                GridCell.code.in_(codes), GridCell.valid_to.is_(None)
            )
        ).all()
        if level == "cell"
        else db_session.execute(
            select(Area.code, Area.name).where(Area.code.in_(codes), Area.valid_to.is_(None))
        ).all()
    )
    return {
        "area": area,
        "month": month,
        "level": level,
        "totals": _figures_out(metrics.combine(figures.values())),
        "items": [
            {"code": code, "name": names.get(code), **_figures_out(figures[code])} for code in codes
        ],
    }
