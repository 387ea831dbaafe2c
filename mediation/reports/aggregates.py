"""The figures of the monthly report computed over the cases: a handful of grouped SQL
aggregations per level (never one query per area), one pass for one period or a month-by-month
trend. What each figure means, and the rates derived from the counts, are in
`mediation.reports.metrics`."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from mediation.reports.metrics import CODE_LENGTH, COLUMN_BY_LENGTH, GROUP_COLUMN, Period, empty_row


def _where(prefix: str) -> str:
    return f"d.{COLUMN_BY_LENGTH[len(prefix)]} = :prefix"


def next_code(prefix: str) -> str:
    """The smallest code of the same length after every code starting with `prefix` (codes are
    digits; an all-nines prefix is followed by a letter, which sorts after digits)."""
    if set(prefix) == {"9"}:
        return prefix + "A"
    return str(int(prefix) + 1).zfill(len(prefix))


def _params(prefix: str, periods: list[Period], first_visit_days: int) -> dict:
    return {
        "prefix": prefix,
        "cell_lo": prefix,
        "cell_hi": next_code(prefix),
        "min_start": min(p.start_at for p in periods),
        "max_end": max(p.end_at for p in periods),
        "starts": [p.start_at for p in periods],
        "ends": [p.end_at for p in periods],
        "end_days": [p.end for p in periods],
        "first_visit_days": first_visit_days,
    }


# The periods of one aggregation, numbered 1…n (`p.k`): every query below reads its bounds from
# `p`, so one pass over the cases serves a single period or a whole month-by-month trend.
PERIODS = """unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
  CAST(:end_days AS date[])) WITH ORDINALITY AS p(start_at, end_at, end_day, k)"""
_BOUNDS = re.compile(r":(start|end_day|end)\b")


def _per_period(sql: str) -> str:
    """`:start`, `:end`, `:end_day` → the bounds of the period row `p`."""
    return _BOUNDS.sub(
        lambda m: {"start": "p.start_at", "end": "p.end_at", "end_day": "p.end_day"}[m.group(1)],
        sql,
    )


# The active set: registered before the end, not closed before the start. (A case reopened after
# a resolution counts from its registration again: closing is recorded once, on the case.)
ACTIVE = "d.registered_at < :end AND coalesce(d.closed_at, 'infinity'::timestamptz) >= :start"
# The same over all the periods of one aggregation (constant bounds, so an index range can use them;
# ix_dispute_<level>_open_since skips the cases closed before the earliest period).
ACTIVE_ANY = (
    "d.registered_at < :max_end AND coalesce(d.closed_at, 'infinity'::timestamptz) >= :min_start"
)
_RESOLVED_IN = "d.resolved_at >= :start AND d.resolved_at < :end"
# Forced-RED reasons ever recorded on the case, looked up once per case.
_FLAGS = """LEFT JOIN LATERAL (
  SELECT bool_or('violence_threat' = ANY(ra.forced_reasons)) AS violence,
         bool_or('collective_petition' = ANY(ra.forced_reasons)) AS petition
  FROM risk_assessment ra WHERE ra.dispute_id = d.id) f ON true"""


def in_cells(alias: str) -> str:
    """The rows of a child table (agreement, visit, escalation, event) in the area: their cell
    code lies in [:cell_lo, :cell_hi) — a range, so one index serves every level."""
    return f"{alias}.cell_code >= :cell_lo AND {alias}.cell_code < :cell_hi"


def _queries(g: str, where: str) -> dict[str, str]:
    n = CODE_LENGTH[g]
    violence = "f.violence"
    petition = "f.petition"
    queries = {
        "cases": f"""
SELECT p.k AS period, d.{g} AS area,
  count(*) FILTER (WHERE d.registered_at < :start) AS carried_over,
  count(*) FILTER (WHERE d.registered_at >= :start) AS new_registered,
  count(*) FILTER (WHERE d.registered_at >= :start AND d.source = 'grid_patrol') AS new_grid_patrol,
  count(*) FILTER (WHERE d.accepted_at >= :start AND d.accepted_at < :end) AS accepted,
  count(*) FILTER (WHERE d.closed_at IS NULL OR d.closed_at >= :end) AS in_progress,
  count(*) FILTER (WHERE (d.closed_at IS NULL OR d.closed_at >= :end) AND d.next_due_at < :end)
    AS overdue_open,
  count(*) FILTER (WHERE {_RESOLVED_IN}) AS resolved,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND d.resolved_level IN ('grid', 'village'))
    AS resolved_grid_village,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND d.resolved_level = 'township') AS resolved_township,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND d.resolved_level = 'county') AS resolved_county,
  coalesce(sum(extract(epoch FROM d.resolved_at - d.registered_at)) FILTER (WHERE {_RESOLVED_IN}),
    0) / 86400.0 AS resolution_days_sum,
  count(*) FILTER (WHERE d.risk_level = 'red') AS red,
  count(*) FILTER (WHERE d.risk_level = 'orange') AS orange,
  count(*) FILTER (WHERE d.registered_at >= :start AND d.group_dispute) AS group_disputes,
  coalesce(sum(d.people_involved) FILTER (WHERE d.registered_at >= :start AND d.group_dispute), 0)
    AS group_people,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND {violence}) AS prevented_criminal,
  coalesce(sum(d.people_involved) FILTER (WHERE {_RESOLVED_IN} AND {violence}), 0)
    AS prevented_criminal_people,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND {petition}) AS prevented_petition,
  coalesce(sum(d.people_involved) FILTER (WHERE {_RESOLVED_IN} AND {petition}), 0)
    AS prevented_petition_people,
  count(*) FILTER (WHERE {_RESOLVED_IN} AND d.group_dispute AND {violence}) AS prevented_fight,
  coalesce(sum(d.people_involved) FILTER (WHERE {_RESOLVED_IN} AND d.group_dispute AND {violence}),
    0) AS prevented_fight_people
FROM {PERIODS} CROSS JOIN dispute d {_FLAGS} WHERE {where} AND {ACTIVE_ANY} AND {ACTIVE}
GROUP BY 1, 2""",
        "by_source": f"""
SELECT p.k AS period, d.{g} AS area, d.source AS key, count(*) AS n
FROM {PERIODS} CROSS JOIN dispute d
WHERE {where} AND {ACTIVE_ANY} AND d.accepted_at >= :start AND d.accepted_at < :end
GROUP BY 1, 2, 3""",
        "by_category": f"""
SELECT p.k AS period, d.{g} AS area, d.category AS key, count(*) AS n
FROM {PERIODS} CROSS JOIN dispute d
WHERE {where} AND {ACTIVE_ANY} AND d.accepted_at >= :start AND d.accepted_at < :end
GROUP BY 1, 2, 3""",
        "by_key_area": f"""
SELECT p.k AS period, d.{g} AS area, ka AS key,
  count(*) FILTER (WHERE d.registered_at >= :start) AS registered,
  count(*) FILTER (WHERE {_RESOLVED_IN}) AS resolved,
  count(*) FILTER (WHERE d.closed_at IS NULL OR d.closed_at >= :end) AS in_progress
FROM {PERIODS} CROSS JOIN dispute d CROSS JOIN LATERAL unnest(d.key_areas) AS ka
WHERE {where} AND {ACTIVE_ANY} AND {ACTIVE} GROUP BY 1, 2, 3""",
        "agreements": f"""
SELECT p.k AS period, left(a.cell_code, {n}) AS area,
  count(*) FILTER (WHERE a.form = 'written') AS agreements_written,
  count(*) FILTER (WHERE a.form = 'oral') AS agreements_oral,
  round(coalesce(sum(a.amount), 0) / 10000.0, 2) AS agreement_amount_wan
FROM {PERIODS} CROSS JOIN agreement a
WHERE {in_cells("a")} AND a.created_at >= :start AND a.created_at < :end GROUP BY 1, 2""",
        "visits": f"""
SELECT p.k AS period, left(v.cell_code, {n}) AS area,
  count(*) AS visits,
  count(DISTINCT v.dispute_id) AS cases_visited,
  count(DISTINCT v.dispute_id) FILTER (WHERE v.result = 'performed') AS performed,
  count(*) FILTER (WHERE v.satisfaction IS NOT NULL) AS satisfaction_answered,
  count(*) FILTER (WHERE v.satisfaction IN ('satisfied', 'basically')) AS satisfied
FROM {PERIODS} CROSS JOIN follow_up_visit v
WHERE {in_cells("v")} AND v.visited_at >= :start AND v.visited_at < :end GROUP BY 1, 2""",
        # Cases owing their first visit by the end of the period and not visited before it.
        "visits_due": f"""
SELECT p.k AS period, d.{g} AS area, count(*) AS visits_due,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM follow_up_visit v WHERE v.dispute_id = d.id
                   AND v.visited_at >= :start AND v.visited_at < :end)) AS visits_due_done
FROM {PERIODS} CROSS JOIN dispute d
WHERE {where} AND {ACTIVE_ANY} AND {ACTIVE}
  AND EXISTS (SELECT 1 FROM agreement a WHERE a.dispute_id = d.id AND a.created_at < :end
      AND CASE WHEN a.performance_deadline IS NOT NULL AND NOT a.performed_immediately
               THEN a.performance_deadline
               ELSE (a.created_at AT TIME ZONE 'Asia/Shanghai')::date + :first_visit_days END
          < :end_day)
  AND NOT EXISTS (SELECT 1 FROM follow_up_visit v WHERE v.dispute_id = d.id
                  AND v.visited_at < :start)
GROUP BY 1, 2""",
        # One cohort per period: the cases whose mediation ended in it, by an agreement or by a
        # termination without one (a suit after an agreement is not a second ending), each once.
        "mediation_ended": f"""
SELECT p.k AS period, left(x.cell_code, {n}) AS area,
  count(DISTINCT x.dispute_id) AS mediation_ended,
  count(DISTINCT x.dispute_id) FILTER (WHERE x.agreed) AS mediation_succeeded
FROM {PERIODS} CROSS JOIN (
  SELECT a.dispute_id, a.cell_code, a.created_at AS at, true AS agreed FROM agreement a
  WHERE {in_cells("a")} AND a.created_at >= :min_start AND a.created_at < :max_end
  UNION ALL
  SELECT ev.dispute_id, ev.cell_code, ev.at, false FROM dispute_event ev
  WHERE {in_cells("ev")} AND ev.at >= :min_start AND ev.at < :max_end
    AND ev.to_status = 'terminated' AND ev.from_status <> 'terminated'
    AND ev.action <> 'record_visit') x
WHERE x.at >= :start AND x.at < :end GROUP BY 1, 2""",
        # The court's answers to 司法确认 (written agreements only), each case once per outcome.
        "court": f"""
SELECT p.k AS period, left(c.cell_code, {n}) AS area,
  count(DISTINCT c.dispute_id) FILTER (WHERE c.outcome = 'applied') AS judicial_applications,
  count(DISTINCT c.dispute_id) FILTER (WHERE c.outcome = 'confirmed') AS judicial_confirmations,
  count(DISTINCT c.dispute_id) FILTER (WHERE c.outcome = 'refused') AS judicial_refused
FROM {PERIODS} CROSS JOIN court_outcome c
WHERE {in_cells("c")} AND c.decided_on >= (:start AT TIME ZONE 'Asia/Shanghai')::date
  AND c.decided_on < :end_day GROUP BY 1, 2""",
        "escalations": f"""
SELECT p.k AS period, left(e.cell_code, {n}) AS area,
  count(*) FILTER (WHERE e.to_level = 'township') AS escalated_township,
  count(*) FILTER (WHERE e.to_level = 'county') AS escalated_county
FROM {PERIODS} CROSS JOIN escalation e
WHERE {in_cells("e")} AND e.direction = 'up' AND e.requested_at >= :start AND e.requested_at < :end
GROUP BY 1, 2""",
        "events": f"""
SELECT p.k AS period, left(ev.cell_code, {n}) AS area,
  count(*) FILTER (WHERE ev.to_status = 'terminated' AND ev.from_status <> 'terminated'
                   AND ev.action <> 'record_visit') AS terminated,
  count(*) FILTER (WHERE ev.to_status = 'referred' AND ev.from_status <> 'referred') AS referred,
  count(*) FILTER (WHERE ev.to_status = 'reopened' AND ev.from_status <> 'reopened') AS reopened
FROM {PERIODS} CROSS JOIN dispute_event ev
WHERE {in_cells("ev")} AND ev.at >= :start AND ev.at < :end
  AND ev.to_status IN ('terminated', 'referred', 'reopened')
GROUP BY 1, 2""",
    }
    return {name: _per_period(sql) for name, sql in queries.items()}


def area_rows(
    db_session: Session,
    *,
    parent: str,
    level: str,
    period: Period,
    first_visit_days: int = 15,
) -> dict[str, dict]:
    """Report rows for every current area of `level` under `parent` (areas without cases get
    zeros), computed by grouped aggregations."""
    codes = _child_codes(db_session, parent=parent, level=level)
    rows = area_rows_by_period(
        db_session, parent=parent, level=level, periods=[period], first_visit_days=first_visit_days
    )[0]
    return {**{code: empty_row() for code in codes}, **rows}


def area_rows_by_period(
    db_session: Session,
    *,
    parent: str,
    level: str,
    periods: list[Period],
    first_visit_days: int = 15,
) -> list[dict[str, dict]]:
    """For each period, the rows of the areas of `level` under `parent` that have figures in it:
    one pass of each aggregation for all the periods (a month-by-month trend costs what one
    month does)."""
    g = GROUP_COLUMN[level]
    params = _params(parent, periods, first_visit_days)
    out: list[dict[str, dict]] = [{} for _ in periods]
    for name, sql in _queries(g, _where(parent)).items():
        for r in db_session.execute(text(sql), params).mappings():
            row = out[r["period"] - 1].setdefault(r["area"], empty_row())
            if name in ("by_source", "by_category"):
                target = row["accepted_by_" + name.removeprefix("by_")]
                target[r["key"]] = target.get(r["key"], 0) + r["n"]
            elif name == "by_key_area":
                row["by_key_area"][r["key"]] = {
                    "registered": r["registered"],
                    "resolved": r["resolved"],
                    "in_progress": r["in_progress"],
                }
            else:
                for k, v in r.items():
                    if k not in ("area", "period"):
                        row[k] = _plain(k, v)
    return out


def _plain(key: str, value):
    if key == "agreement_amount_wan":
        return Decimal(value).quantize(Decimal("0.01"))
    if key == "resolution_days_sum":
        return float(value)
    return int(value)


def _child_codes(db_session: Session, *, parent: str, level: str) -> list[str]:
    if level == "cell":
        sql = "SELECT code FROM grid_cell WHERE code LIKE :p AND valid_to IS NULL ORDER BY code"
    else:
        sql = """SELECT code FROM area WHERE level = :level AND code LIKE :p AND valid_to IS NULL
                 ORDER BY code"""
    return list(db_session.scalars(text(sql), {"p": f"{parent}%", "level": level}))


def area_row(db_session: Session, *, code: str, period: Period, first_visit_days: int = 15) -> dict:
    """The row of one area itself (all its cases)."""
    return area_row_by_period(
        db_session, code=code, periods=[period], first_visit_days=first_visit_days
    )[0]


def area_row_by_period(
    db_session: Session, *, code: str, periods: list[Period], first_visit_days: int = 15
) -> list[dict]:
    """The rows of one area itself, one per period, in one pass."""
    level = {6: "county", 9: "township", 12: "village", 15: "cell"}[len(code)]
    per = area_rows_by_period(
        db_session, parent=code, level=level, periods=periods, first_visit_days=first_visit_days
    )
    return [rows.get(code) or empty_row() for rows in per]
