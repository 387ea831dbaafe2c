"""A village's report figures for a month: the counts and rates of `metrics` (the same
definitions the console shows, computed by `aggregates`), screening and the red/orange cases, and
the frozen JSON snapshot a submitted version keeps."""

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from mediation.disputes.enums import (
    CATEGORIES,
    LEVEL_LABELS,
    RISK_LABELS,
    STATUS_LABELS,
)
from mediation.disputes.workflow import TRANSITIONS
from mediation.pii import mask_name
from mediation.reports import aggregates, metrics
from mediation.reports.months import ReportSettings, covered_period
from mediation.risks import figures as risk_figures
from mediation.screening.metrics import screening_figures

# ------------------------------------------------------------------ figures


def _high_risk(db_session: Session, *, parent: str, period: metrics.Period) -> dict[str, list]:
    """RED/ORANGE cases active in the period with their progress, per village (masked)."""
    col = metrics.COLUMN_BY_LENGTH[len(parent)]
    rows = db_session.execute(
        text(
            f"""
SELECT d.village_code, d.case_number, d.category, d.risk_level, d.status, d.handling_level,
       d.registered_at, d.leader_id IS NOT NULL AS has_leader, d.next_due_at,
       (SELECT array_agg(p.kind ORDER BY p.position) FROM party p WHERE p.dispute_id = d.id)
         AS party_kinds,
       (SELECT array_agg(p.name ORDER BY p.position) FROM party p WHERE p.dispute_id = d.id)
         AS party_names,
       ev.action AS last_action, ev.at AS last_action_at
FROM dispute d
LEFT JOIN LATERAL (SELECT action, at FROM dispute_event e WHERE e.dispute_id = d.id
                   AND e.at < :end ORDER BY e.seq DESC LIMIT 1) ev ON true
WHERE d.{col} = :parent AND d.risk_level IN ('red', 'orange') AND {aggregates.ACTIVE}
ORDER BY d.village_code, d.risk_level DESC, d.registered_at"""
        ),
        {"parent": parent, "start": period.start_at, "end": period.end_at},
    ).mappings()
    out: dict[str, list] = {}
    for r in rows:
        parties = [
            mask_name(name) if kind == "person" else name
            for kind, name in zip(r["party_kinds"] or [], r["party_names"] or [], strict=True)
        ]
        action = TRANSITIONS.get(r["last_action"])
        out.setdefault(r["village_code"], []).append(
            {
                "case_number": r["case_number"],
                "category": CATEGORIES.get(r["category"], r["category"]),
                "risk": RISK_LABELS[r["risk_level"]],
                "status": STATUS_LABELS.get(r["status"], r["status"]),
                "handling_level": LEVEL_LABELS.get(r["handling_level"], r["handling_level"]),
                "registered_on": r["registered_at"].astimezone(BUSINESS_TZ).date().isoformat(),
                "parties": "、".join(parties),
                "leader_assigned": bool(r["has_leader"]),
                "progress": (
                    f"{r['last_action_at'].astimezone(BUSINESS_TZ):%m-%d} "
                    f"{action.label if action else '登记'}"
                    if r["last_action_at"]
                    else ""
                ),
                "overdue": bool(r["next_due_at"] and r["next_due_at"] < period.end_at),
            }
        )
    return out


def _screening(db_session: Session, *, parent: str, level: str, period: metrics.Period) -> dict:
    """Screening figures (排查) per area, from the screening module's shared definitions."""
    figures = screening_figures(
        db_session, level=level, prefix=parent, start=period.start_at, end=period.end_at
    )
    return {code: screening_dict(f) for code, f in figures.items()}


def screening_dict(f) -> dict:
    """Screening figures as stored in a snapshot."""
    return f.as_dict()


def empty_screening() -> dict:
    """Screening figures of an area with no cells and no rounds."""
    return {
        "rounds": 0,
        "zero_reports": 0,
        "found": 0,
        "cells_total": 0,
        "cells_screened": 0,
        "coverage": None,
        "found_by_key_area": {},
    }


def add_screening(items) -> dict:
    """Sum screening figures; coverage recomputed from the sums."""
    total = empty_screening()
    for s in items:
        for k in ("rounds", "zero_reports", "found", "cells_total", "cells_screened"):
            total[k] += s[k]
        for k, n in s["found_by_key_area"].items():
            total["found_by_key_area"][k] = total["found_by_key_area"].get(k, 0) + n
    if total["cells_total"]:
        total["coverage"] = round(total["cells_screened"] / total["cells_total"], 4)
    return total


def village_figures(
    db_session: Session, *, township: str, month: str, settings: ReportSettings
) -> dict[str, dict]:
    """Report figures for every village of a township (one pass of grouped queries)."""
    period = covered_period(month)
    rows = aggregates.area_rows(
        db_session,
        parent=township,
        level="village",
        period=period,
        first_visit_days=settings.first_visit_days,
    )
    screening = _screening(db_session, parent=township, level="village", period=period)
    high_risk = _high_risk(db_session, parent=township, period=period)
    out = {
        code: snapshot(row, screening.get(code, empty_screening()), high_risk.get(code, []), period)
        for code, row in rows.items()
    }
    risk_figures.add_to_snapshots(db_session, out, township=township, period=period)  # issue 21
    return out


def snapshot(row: dict, screening: dict, high_risk: list, period: metrics.Period) -> dict:
    """The JSON a report stores: counts, rates, screening, masked RED/ORANGE list."""
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "row": _jsonable(row),
        "rates": metrics.rates(row),
        "screening": screening,
        "high_risk": high_risk,
    }


def _jsonable(row: dict) -> dict:
    out = dict(row)
    out["agreement_amount_wan"] = str(row["agreement_amount_wan"])
    out["resolution_days_sum"] = round(float(row["resolution_days_sum"]), 4)
    return out


def row_from_snapshot(figures: dict) -> dict:
    """The counts of a stored snapshot, typed back for summing (a column added after the snapshot
    was frozen reads 0 in it: the frozen figures themselves never change)."""
    row = {**metrics.empty_row(), **figures["row"]}
    row["agreement_amount_wan"] = Decimal(row["agreement_amount_wan"])
    return row
