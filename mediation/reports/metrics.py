"""The figures of the monthly report and the console, defined once (domain §7).

Every figure is a count over one period [start, end) (business dates in Asia/Shanghai, stored
instants in UTC) for every area of one level under a parent code, computed by a handful of
grouped SQL aggregations (never one query per area). Rates are derived from the counts in one
place, `rates()`, so a total row sums counts and then divides — it never averages rates.

The definitions below are the contract with township centres; the API docs print them from
`DEFINITIONS` and the XLSX header uses the same labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from mediation.disputes.enums import CATEGORIES, KEY_AREAS, SOURCES

# Level of the areas a breakdown is grouped by → the dispute column holding that code.
GROUP_COLUMN = {
    "county": "county_code",
    "township": "township_code",
    "village": "village_code",
    "cell": "cell_code",
}
COLUMN_BY_LENGTH = {6: "county_code", 9: "township_code", 12: "village_code", 15: "cell_code"}
CODE_LENGTH = {column: n for n, column in COLUMN_BY_LENGTH.items()}
CHILD_LEVEL = {6: "township", 9: "village", 12: "cell"}

# (key, label, definition). Counts, in the column order of the report.
COUNTS: tuple[tuple[str, str, str], ...] = (
    ("carried_over", "上期结转", "期初仍在办理的案件：期初前登记，且期初前未结案"),
    ("new_registered", "本期新登记", "登记时间在本期内的案件"),
    ("new_grid_patrol", "其中：网格员排查发现", "本期新登记中来源为网格员排查的案件"),
    ("accepted", "本期受理", "受理时间在本期内的案件"),
    ("agreements_written", "达成书面协议", "本期内达成的书面调解协议数"),
    ("agreements_oral", "达成口头协议", "本期内达成的口头调解协议数（调解员已记录）"),
    ("terminated", "调解终止", "本期内调解终止的案件（含回访发现已起诉）"),
    ("in_progress", "在办", "期末仍在办理的案件：期末前登记，且期末前未结案"),
    ("overdue_open", "超期未办结", "期末在办案件中，当前办理期限已过期末的"),
    (
        "agreement_amount_wan",
        "协议涉及金额（万元）",
        "本期达成协议所载金额之和，单位万元，保留两位小数",
    ),
    ("judicial_confirmations", "申请司法确认", "本期回访记录为已申请司法确认的案件"),
    ("visits", "回访次数", "本期内记录的回访次数"),
    (
        "visits_due",
        "应回访案件",
        "首次回访日期不晚于期末、期初前未回访且期初前未结案的达成协议案件",
    ),
    ("visits_due_done", "应回访已回访", "应回访案件中本期已回访的"),
    ("cases_visited", "回访案件", "本期内有回访记录的案件"),
    ("performed", "已履行", "本期回访中核实协议已履行完毕的案件"),
    ("satisfaction_answered", "满意度作答", "本期回访中记录了满意度的次数"),
    ("satisfied", "满意及基本满意", "本期回访中满意或基本满意的次数"),
    ("resolved", "化解", "本期经回访核实化解的案件（化解时间为核实回访时间）"),
    ("resolved_grid_village", "网格村级化解", "本期化解、化解时在网格或村（社区）办理的案件"),
    ("escalated_township", "上报乡镇", "本期内上报至乡镇（街道）的次数"),
    ("resolved_township", "乡镇化解", "本期化解、化解时在乡镇（街道）办理的案件"),
    ("escalated_county", "上报县级", "本期内上报至县（市、区）的次数"),
    ("referred", "移送", "本期内移送公安、法院、信访或职能部门的案件"),
    ("resolved_county", "县级化解", "本期化解、化解时在县级办理的案件"),
    ("reopened", "反复", "本期内回访发现未化解而重新调解的次数"),
    ("red", "红色风险", "本期在办案件（期初结转及本期新登记）中当前为红色风险的"),
    ("orange", "橙色风险", "本期在办案件中当前为橙色风险的"),
    (
        "group_disputes",
        "群体性纠纷",
        "本期新登记的群体性纠纷（一方当事人人数或涉及人数达到群体标准，代理人、第三人不计；或经乡镇认定）",
    ),
    ("group_people", "群体性纠纷涉及人数", "本期新登记群体性纠纷涉及人数之和"),
    ("prevented_criminal", "防止民转刑（件）", "本期化解、研判中曾有暴力威胁或民转刑苗头的案件"),
    ("prevented_criminal_people", "防止民转刑（人）", "上述案件涉及人数之和"),
    ("prevented_petition", "防止群体性上访（件）", "本期化解、研判中曾有集体访苗头的案件"),
    ("prevented_petition_people", "防止群体性上访（人）", "上述案件涉及人数之和"),
    ("prevented_fight", "防止群体性械斗（件）", "本期化解的群体性纠纷中研判曾有暴力威胁的案件"),
    ("prevented_fight_people", "防止群体性械斗（人）", "上述案件涉及人数之和"),
    ("resolution_days_sum", "化解用时合计（天）", "本期化解案件从登记到核实化解的天数之和"),
)

# (key, label, numerator, denominator, definition). A rate with a zero denominator is None.
RATES: tuple[tuple[str, str, str, str, str], ...] = (
    ("success_rate", "调解成功率", "agreements", "accepted", "本期达成协议数 ÷ 本期受理数"),
    ("follow_up_rate", "回访率", "visits_due_done", "visits_due", "应回访已回访 ÷ 应回访案件"),
    ("performance_rate", "履行率", "performed", "cases_visited", "已履行 ÷ 回访案件"),
    (
        "satisfaction_rate",
        "满意率",
        "satisfied",
        "satisfaction_answered",
        "满意及基本满意 ÷ 满意度作答",
    ),
    (
        "local_rate",
        "就地化解率",
        "resolved_grid_village",
        "resolved",
        "网格村级化解 ÷ 化解（小事不出村）",
    ),
    (
        "township_rate",
        "不出镇率",
        "resolved_within_township",
        "resolved",
        "乡镇及以下化解 ÷ 化解（大事不出镇）",
    ),
    ("recurrence_rate", "反复率", "reopened", "resolved_or_reopened", "反复 ÷ （化解 ＋ 反复）"),
)
# (key, label, definition): averages, sum ÷ count
AVERAGES = (
    (
        "mean_days_to_resolution",
        "平均化解用时（天）",
        "resolution_days_sum",
        "resolved",
        "化解用时合计 ÷ 化解",
    ),
)

DEFINITIONS = {
    **{k: {"label": label, "definition": d} for k, label, d in COUNTS},
    **{k: {"label": label, "definition": d} for k, label, _n, _d, d in RATES},
    **{k: {"label": label, "definition": d} for k, label, _n, _d, d in AVERAGES},
}
COUNT_KEYS = tuple(k for k, _l, _d in COUNTS)


@dataclass(frozen=True)
class Period:
    """[start, end) as business dates; `start_at`/`end_at` are the instants."""

    start: date
    end: date  # exclusive

    @property
    def start_at(self) -> datetime:
        """Midnight in Asia/Shanghai of the first day."""
        return datetime.combine(self.start, time(0), BUSINESS_TZ)

    @property
    def end_at(self) -> datetime:
        """Midnight in Asia/Shanghai after the last day."""
        return datetime.combine(self.end, time(0), BUSINESS_TZ)


def month_period(month: str) -> Period:
    """The calendar month `YYYY-MM`."""
    y, m = (int(x) for x in month.split("-"))
    start = date(y, m, 1)
    return Period(start, date(y + (m == 12), m % 12 + 1, 1))


def empty_row() -> dict:
    """A row of zeros with empty breakdowns."""
    row: dict = dict.fromkeys(COUNT_KEYS, 0)
    row["agreement_amount_wan"] = Decimal("0.00")
    row["resolution_days_sum"] = 0.0
    row["accepted_by_source"] = dict.fromkeys(SOURCES, 0)
    row["accepted_by_category"] = dict.fromkeys(CATEGORIES, 0)
    row["by_key_area"] = {k: {"registered": 0, "resolved": 0, "in_progress": 0} for k in KEY_AREAS}
    return row


def add_rows(rows) -> dict:
    """Sum rows (counts and breakdowns) into a total row."""
    total = empty_row()
    for row in rows:
        for k in COUNT_KEYS:
            total[k] += row[k]
        for k in ("accepted_by_source", "accepted_by_category"):
            for key, n in row[k].items():
                total[k][key] = total[k].get(key, 0) + n
        for key, parts in row["by_key_area"].items():
            slot = total["by_key_area"].setdefault(key, dict.fromkeys(parts, 0))
            for part, n in parts.items():
                slot[part] = slot.get(part, 0) + n
    return total


def rates(row: dict) -> dict:
    """Every rate and average of a row (counts in, ratios out; None when undefined)."""
    derived = {
        "agreements": row["agreements_written"] + row["agreements_oral"],
        "resolved_within_township": row["resolved_grid_village"] + row["resolved_township"],
        "resolved_or_reopened": row["resolved"] + row["reopened"],
    }
    values = {**row, **derived}
    out = {}
    for key, _label, num, den, _d in RATES:
        out[key] = round(values[num] / values[den], 4) if values[den] else None
    for key, _label, num, den, _d in AVERAGES:
        out[key] = round(float(values[num]) / values[den], 1) if values[den] else None
    out["agreements"] = derived["agreements"]
    return out


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
  count(DISTINCT v.dispute_id) FILTER (WHERE v.result = 'judicial_confirmation')
    AS judicial_confirmations,
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
        "escalations": f"""
SELECT p.k AS period, left(e.cell_code, {n}) AS area,
  count(*) FILTER (WHERE e.to_level = 'township') AS escalated_township,
  count(*) FILTER (WHERE e.to_level = 'county') AS escalated_county
FROM {PERIODS} CROSS JOIN escalation e
WHERE {in_cells("e")} AND e.direction = 'up' AND e.requested_at >= :start AND e.requested_at < :end
GROUP BY 1, 2""",
        "events": f"""
SELECT p.k AS period, left(ev.cell_code, {n}) AS area,
  count(*) FILTER (WHERE ev.to_status = 'terminated' AND ev.from_status <> 'terminated')
    AS terminated,
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
