"""The figures of the monthly report and the console, defined once (domain §7).

Every figure is a count over one period [start, end) (business dates in Asia/Shanghai, stored
instants in UTC) for every area of one level under a parent code, computed by a handful of
grouped SQL aggregations (never one query per area). Rates are derived from the counts in one
place, `rates()`, so a total row sums counts and then divides — it never averages rates.

The definitions below are the contract with township centres; the API docs print them from
`DEFINITIONS` and the XLSX header uses the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

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
    (
        "terminated",
        "调解终止",
        "本期内调解终止的案件（未达成协议，含一方明确拒绝调解）；达成协议后起诉的已计为达成协议，"
        "不再计入",
    ),
    (
        "mediation_ended",
        "调解结束",
        "本期调解结束的案件：本期达成调解协议，或本期调解终止（未达成协议），每案计一次",
    ),
    ("mediation_succeeded", "其中达成协议", "调解结束的案件中，本期达成调解协议的"),
    ("in_progress", "在办", "期末仍在办理的案件：期末前登记，且期末前未结案"),
    ("overdue_open", "超期未办结", "期末在办案件中，当前办理期限已过期末的"),
    (
        "agreement_amount_wan",
        "协议涉及金额（万元）",
        "本期达成协议所载金额之和，单位万元，保留两位小数",
    ),
    (
        "judicial_applications",
        "申请司法确认",
        "本期申请司法确认的案件（仅书面协议，每案计一次）",
    ),
    (
        "judicial_confirmations",
        "司法确认",
        "本期人民法院裁定确认调解协议有效的案件（每案计一次）",
    ),
    ("judicial_refused", "司法确认被驳回", "本期人民法院驳回确认申请的案件（每案计一次）"),
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
    (
        "success_rate",
        "调解成功率",
        "mediation_succeeded",
        "mediation_ended",
        "其中达成协议 ÷ 调解结束：本期调解结束的同一批案件中达成协议的比例，不超过 100%",
    ),
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
