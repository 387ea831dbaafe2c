"""The township centre's console: dashboard and supervision lists (named queries, scoped).

The dashboard's Fengqiao measures are `metrics.rates` over `aggregates.area_rows` — the very figures
the monthly report stores — so the console and the report cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from core.errors import NotFound, ValidationFailed
from geo.scope import SQL_INSIDE, AreaScope, sql_params
from mediation.disputes.categories import category_labels
from mediation.disputes.enums import (
    CATEGORIES,
    KEY_AREA_LABELS,
    KEY_AREAS,
    LEVEL_LABELS,
    OPEN_STATUSES_SQL,
    RISK_LABELS,
    SOURCES,
    STATUS_LABELS,
)
from mediation.reports import aggregates, metrics
from mediation.reports.figures import empty_screening, screening_dict
from mediation.risks import figures as risk_figures
from mediation.screening.metrics import screening_figures

DUE_KIND_LABELS = {
    "acceptance": "受理决定",
    "mediation": "调解办结",
    "escalation_acceptance": "上报接收",
    "follow_up_visit": "回访",
    "second_visit": "红橙案件第二次回访",
}
LEVEL_OF_LENGTH = {6: "county", 9: "township", 12: "village", 15: "cell"}
MAX_DAYS = 366 * 3


def check_area(db_session: Session, *, scope: AreaScope, code: str) -> dict:
    """An area (or cell) inside the actor's case scope, with its name and level."""
    if not code or len(code) not in LEVEL_OF_LENGTH or not scope.contains_code(code):
        raise NotFound("区域不存在或不在您的管辖范围内", code="area_not_found", field="area")
    table = "grid_cell" if len(code) == 15 else "area"
    name = db_session.scalar(
        text(f"SELECT name FROM {table} WHERE code = :c AND valid_to IS NULL"), {"c": code}
    )
    if name is None:
        raise NotFound("区域不存在或不在您的管辖范围内", code="area_not_found", field="area")
    return {"code": code, "name": name, "level": LEVEL_OF_LENGTH[len(code)]}


def default_area(scope: AreaScope) -> str:
    """The widest area of a scope (the one a console opens on)."""
    if not scope.codes:
        raise NotFound("您没有可查看的区域", code="area_not_found", field="area")
    return min(scope.codes, key=lambda c: (len(c), c))


def check_period(start: date | None, end: date | None, now: datetime) -> metrics.Period:
    """[from, to] inclusive business dates → a Period; default: this month so far."""
    today = now.astimezone(BUSINESS_TZ).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        raise ValidationFailed("结束日期不能早于开始日期", code="invalid_period", field="to")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed("统计期间最长三年", code="invalid_period", field="from")
    return metrics.Period(start, date.fromordinal(end.toordinal() + 1))


def _months(period: metrics.Period, at_least: int = 6) -> list[metrics.Period]:
    """The calendar months of the period — at least the last `at_least` months up to its end,
    at most twelve — each clipped to the period's end."""
    last = date.fromordinal(period.end.toordinal() - 1).replace(day=1)
    back = date(last.year - (last.month <= at_least - 1), (last.month - at_least) % 12 + 1, 1)
    cur = min(period.start.replace(day=1), back)
    out = []
    while cur < period.end:
        nxt = date(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
        out.append(metrics.Period(cur, min(nxt, period.end)))
        cur = nxt
    return out[-12:]


def _names(db_session: Session, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(
        db_session.execute(
            text("""SELECT code, name FROM area WHERE code = ANY(:c) AND valid_to IS NULL
                    UNION ALL
                    SELECT code, name FROM grid_cell WHERE code = ANY(:c) AND valid_to IS NULL"""),
            {"c": codes},
        ).all()
    )


def dashboard(
    db_session: Session,
    *,
    scope: AreaScope,
    area: str,
    period: metrics.Period,
    now: datetime,
    first_visit_days: int = 15,
) -> dict:
    """Counts, overdue, Fengqiao measures, trend and the breakdown by child area."""
    info = check_area(db_session, scope=scope, code=area)
    col = metrics.COLUMN_BY_LENGTH[len(area)]
    params = {
        "area": area,
        "start": period.start_at,
        "end": period.end_at,
        "now": now,
        "cell_lo": area,
        "cell_hi": aggregates.next_code(area),
    }
    breakdowns = (
        ("by_status", "status", STATUS_LABELS),
        ("by_handling_level", "handling_level", LEVEL_LABELS),
        ("by_risk", "risk_level", RISK_LABELS),
        ("by_category", "category", category_labels(db_session)),  # a deployment's own too
        ("by_source", "source", SOURCES),
    )
    # One pass: each breakdown is a grouping set; GROUPING() tells which one a row belongs to.
    sets = ", ".join(f"(d.{c})" for _n, c, _l in breakdowns)
    which = " + ".join(f"(1 - GROUPING(d.{c})) * {i}" for i, (_n, c, _l) in enumerate(breakdowns))
    keys = f"COALESCE({', '.join(f'd.{c}' for _n, c, _l in breakdowns)})"
    got: dict[int, dict] = {i: {} for i in range(len(breakdowns))}
    for i, k, n in db_session.execute(
        text(f"""SELECT {which}, {keys}, count(*) FROM dispute d
                 WHERE d.{col} = :area AND {aggregates.ACTIVE} GROUP BY GROUPING SETS ({sets})"""),
        params,
    ).all():
        got[i][k] = n
    counts = {
        name: [{"key": k, "label": label, "count": got[i].get(k, 0)} for k, label in labels.items()]
        for i, (name, _c, labels) in enumerate(breakdowns)
    }
    got = dict(
        db_session.execute(
            text(f"""SELECT k, count(*) FROM dispute d CROSS JOIN LATERAL unnest(d.key_areas) k
                     WHERE d.{col} = :area AND {aggregates.ACTIVE} GROUP BY 1"""),
            params,
        ).all()
    )
    counts["by_key_area"] = [
        {"key": k, "label": KEY_AREA_LABELS[k], "count": got.get(k, 0)} for k in KEY_AREAS
    ]
    overdue = dict(
        db_session.execute(
            text(f"""SELECT d.next_due_kind, count(*) FROM dispute d
                     WHERE {aggregates.in_cells("d")} AND d.next_due_at < :now GROUP BY 1"""),
            params,
        ).all()
    )
    months = _months(period)
    row, *month_rows = aggregates.area_row_by_period(
        db_session, code=area, periods=[period, *months], first_visit_days=first_visit_days
    )
    trend = []
    for p, r in zip(months, month_rows, strict=True):
        trend.append(
            {
                "month": p.start.strftime("%Y-%m"),
                "new_registered": r["new_registered"],
                "accepted": r["accepted"],
                "resolved": r["resolved"],
                "reopened": r["reopened"],
                **{k: v for k, v in metrics.rates(r).items() if k != "agreements"},
            }
        )
    screening = screening_figures(
        db_session, level=info["level"], prefix=area, start=period.start_at, end=period.end_at
    )
    children = []
    if len(area) < 15:
        level = metrics.CHILD_LEVEL[len(area)]
        rows = aggregates.area_rows(
            db_session, parent=area, level=level, period=period, first_visit_days=first_visit_days
        )
        child_screening = screening_figures(
            db_session, level=level, prefix=area, start=period.start_at, end=period.end_at
        )
        names = _names(db_session, list(rows))
        children = [
            {
                "code": code,
                "name": names.get(code, code),
                "level": level,
                "counts": _public_counts(r),
                "measures": metrics.rates(r),
                "screening": screening_dict(child_screening[code])
                if code in child_screening
                else empty_screening(),
            }
            for code, r in sorted(rows.items())
            if code != area
        ]
    return {
        "area": info,
        "period": {"from": period.start, "to": date.fromordinal(period.end.toordinal() - 1)},
        "counts": counts,
        "overdue_by_kind": [
            {"kind": k, "label": label, "count": overdue.get(k, 0)}
            for k, label in DUE_KIND_LABELS.items()
        ],
        "overdue_total": sum(overdue.values()),
        "figures": _public_counts(row),
        "measures": metrics.rates(row),
        "screening": screening_dict(screening[area]) if area in screening else empty_screening(),
        "trend": trend,
        "children": children,
        "definitions": metrics.DEFINITIONS,
        "risks": risk_figures.area_figures(db_session, area=area, period=period),  # issue 21
    }


def _public_counts(row: dict) -> dict:
    out = {k: row[k] for k in metrics.COUNT_KEYS}
    out["agreement_amount_wan"] = str(row["agreement_amount_wan"])
    out["resolution_days_sum"] = round(float(row["resolution_days_sum"]), 2)
    return out


# ------------------------------------------------------------------ supervision lists

LIST_SORTS = {
    "overdue": {
        "due": "d.next_due_at, d.id",
        "risk": "risk_rank DESC, d.next_due_at, d.id",
        "village": "d.village_code, d.next_due_at, d.id",
    },
    "high_risk": {
        "risk": "risk_rank DESC, d.registered_at, d.id",
        "registered": "d.registered_at, d.id",
        "village": "d.village_code, risk_rank DESC, d.id",
    },
    "escalations": {"waiting": "e.requested_at, d.id", "village": "d.village_code, e.requested_at"},
}
_RISK_RANK = (
    "CASE d.risk_level WHEN 'red' THEN 3 WHEN 'orange' THEN 2 WHEN 'yellow' THEN 1 "
    "ELSE 0 END AS risk_rank"
)

# (key, Chinese header) of each list, in column order: exports and the API use the same keys.
LIST_COLUMNS = {
    "overdue": (
        ("case_number", "案件编号"),
        ("village", "村（社区）"),
        ("category", "纠纷类别"),
        ("status", "状态"),
        ("handling_level", "办理层级"),
        ("risk", "风险等级"),
        ("due_kind", "逾期事项"),
        ("due_at", "应完成时间"),
        ("days_overdue", "逾期天数"),
    ),
    "high_risk": (
        ("case_number", "案件编号"),
        ("village", "村（社区）"),
        ("category", "纠纷类别"),
        ("risk", "风险等级"),
        ("status", "状态"),
        ("handling_level", "办理层级"),
        ("registered_at", "登记时间"),
        ("leader_assigned", "已指定包案领导"),
        ("due_at", "当前期限"),
        ("overdue", "是否逾期"),
    ),
    "escalations": (
        ("case_number", "案件编号"),
        ("village", "村（社区）"),
        ("category", "纠纷类别"),
        ("risk", "风险等级"),
        ("from_level", "上报层级"),
        ("to_level", "接收层级"),
        ("reason", "上报理由"),
        ("requested_at", "上报时间"),
        ("hours_waiting", "已等待（小时）"),
    ),
    "late_reports": (
        ("code", "村（社区）代码"),
        ("name", "村（社区）"),
        ("township", "乡镇（街道）"),
        ("month", "报送月份"),
        ("status_label", "报送情况"),
        ("submitted_at", "报送时间"),
        ("days_late", "逾期天数"),
    ),
}


def _local(at: datetime | None) -> str | None:
    return at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M") if at else None


def supervision_rows(
    db_session: Session,
    *,
    kind: str,
    scope: AreaScope,
    area: str,
    sort: str,
    now: datetime,
    limit: int | None,
) -> Iterator[dict]:
    """Rows of a supervision list (overdue, high_risk, escalations), streamed from the server."""
    check_area(db_session, scope=scope, code=area)
    col = metrics.COLUMN_BY_LENGTH[len(area)]
    order = LIST_SORTS[kind].get(sort)
    if order is None:
        raise ValidationFailed(
            f"排序方式应为：{'、'.join(LIST_SORTS[kind])}", code="invalid_sort", field="sort"
        )
    base = f"""d.{col} = :area AND {SQL_INSIDE.format(col="d.cell_code")}"""
    if kind == "overdue":
        sql = f"""SELECT d.*, {_RISK_RANK} FROM dispute d
                  WHERE {base} AND d.next_due_at < :now ORDER BY {order}"""
    elif kind == "high_risk":
        sql = f"""SELECT d.*, {_RISK_RANK} FROM dispute d
                  WHERE {base} AND d.risk_level IN ('red', 'orange')
                  AND d.status IN {OPEN_STATUSES_SQL} ORDER BY {order}"""
    else:
        sql = f"""SELECT d.*, e.from_level AS e_from, e.to_level AS e_to, e.reason AS e_reason,
                         e.requested_at AS e_at FROM escalation e JOIN dispute d ON d.id = e.dispute_id
                  WHERE {base} AND e.status = 'pending' AND e.direction = 'up' ORDER BY {order}"""
    if limit:
        sql += " LIMIT :limit"
    names = _village_names(db_session, area)
    result = db_session.execute(
        text(sql).execution_options(yield_per=1000),
        {"area": area, "now": now, "limit": limit, **sql_params(scope)},
    ).mappings()
    for r in result:
        yield _list_row(kind, r, names, now)


def _village_names(db_session: Session, area: str) -> dict[str, str]:
    return dict(
        db_session.execute(
            text("""SELECT code, name FROM area WHERE level = 'village' AND valid_to IS NULL
                    AND code LIKE :p"""),
            {"p": f"{area[:12]}%"},
        ).all()
    )


def _list_row(kind: str, r, names: dict, now: datetime) -> dict:
    common = {
        "id": str(r["id"]),
        "case_number": r["case_number"],
        "village": names.get(r["village_code"], r["village_code"]),
        "category": CATEGORIES.get(r["category"], r["category"]),
        "status": STATUS_LABELS.get(r["status"], r["status"]),
        "handling_level": LEVEL_LABELS.get(r["handling_level"], r["handling_level"]),
        "risk": RISK_LABELS.get(r["risk_level"], r["risk_level"]),
    }
    if kind == "overdue":
        return {
            **common,
            "due_kind": DUE_KIND_LABELS.get(r["next_due_kind"], r["next_due_kind"]),
            "due_at": _local(r["next_due_at"]),
            "days_overdue": (now - r["next_due_at"]).days,
        }
    if kind == "high_risk":
        return {
            **common,
            "registered_at": _local(r["registered_at"]),
            "leader_assigned": "是" if r["leader_id"] else "否",
            "due_at": _local(r["next_due_at"]),
            "overdue": "是" if r["next_due_at"] and r["next_due_at"] < now else "否",
        }
    return {
        **common,
        "from_level": LEVEL_LABELS.get(r["e_from"], r["e_from"]),
        "to_level": LEVEL_LABELS.get(r["e_to"], r["e_to"]),
        "reason": r["e_reason"],
        "requested_at": _local(r["e_at"]),
        "hours_waiting": int((now - r["e_at"]).total_seconds() // 3600),
    }
