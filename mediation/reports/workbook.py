"""The monthly report (domain §7) as an XLSX workbook and as CSV: the summary columns, the
five sheets (汇总表, 分类统计, 重点领域, 红橙案件, 工作开展情况). The print layout they are laid out
in is `mediation.reports.print_layout`; cells are made formula-safe by `exports.escape`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList

from mediation.disputes.enums import CATEGORIES, KEY_AREAS, SOURCES
from mediation.reports import metrics
from mediation.reports.exports import _xlsx_value, csv_stream, escape
from mediation.reports.print_layout import (
    BODY_FONT,
    BODY_PT,
    LEFT_WRAP,
    NARRATIVE_WIDTHS,
    _col_pt,
    _col_width,
    _column_breaks,
    _fit_row,
    _height,
    _label_width,
    _names_width,
    _page_setup,
    _style_body,
    _style_header,
    _title_lines,
    definitions_sheet,
    narrative_chunks,
    report_title,
)
from mediation.risks import sheet as risk_sheet

PERCENT = "0.0%"
AMOUNT = "#,##0.00"

# (group header, [(key, label, kind)]); kind: n count, p rate, a amount, d days, s screening
SUMMARY_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "案件数量",
        (
            ("carried_over", "上期结转", "n"),
            ("new_registered", "本期新登记", "n"),
            ("new_grid_patrol", "其中网格员排查发现", "n"),
            ("accepted", "本期受理", "n"),
        ),
    ),
    ("受理来源", tuple((f"source:{k}", label, "n") for k, label in SOURCES.items())),
    (
        "调解结果",
        (
            ("agreements_written", "书面协议", "n"),
            ("agreements_oral", "口头协议", "n"),
            ("terminated", "调解终止", "n"),
            ("mediation_ended", "调解结束", "n"),
            ("mediation_succeeded", "其中达成协议", "n"),
            ("in_progress", "在办", "n"),
            ("overdue_open", "超期未办结", "n"),
            ("success_rate", "调解成功率", "p"),
            ("agreement_amount_wan", "协议金额（万元）", "a"),
            ("judicial_applications", "申请司法确认", "n"),
            ("judicial_confirmations", "司法确认", "n"),
            ("judicial_refused", "司法确认被驳回", "n"),
        ),
    ),
    (
        "回访核实",
        (
            ("visits", "回访次数", "n"),
            ("follow_up_rate", "回访率", "p"),
            ("performed", "已履行", "n"),
            ("performance_rate", "履行率", "p"),
            ("satisfaction_rate", "满意率", "p"),
        ),
    ),
    (
        "分级化解",
        (
            ("resolved_grid_village", "网格村级化解", "n"),
            ("escalated_township", "上报乡镇", "n"),
            ("resolved_township", "乡镇化解", "n"),
            ("escalated_county_or_referred", "上报县级或移送", "n"),
            ("local_rate", "就地化解率", "p"),
            ("township_rate", "不出镇率", "p"),
            ("reopened", "反复", "n"),
            ("mean_days_to_resolution", "平均化解天数", "d"),
        ),
    ),
    (
        "风险与群体性",
        (
            ("red", "红色风险", "n"),
            ("orange", "橙色风险", "n"),
            ("group_disputes", "群体性纠纷", "n"),
            ("group_people", "涉及人数", "n"),
        ),
    ),
    (
        "防范成效（件/人）",
        (
            ("prevented_criminal", "防止民转刑（件）", "n"),
            ("prevented_criminal_people", "防止民转刑（人）", "n"),
            ("prevented_petition", "防止群体性上访（件）", "n"),
            ("prevented_petition_people", "防止群体性上访（人）", "n"),
            ("prevented_fight", "防止群体性械斗（件）", "n"),
            ("prevented_fight_people", "防止群体性械斗（人）", "n"),
        ),
    ),
    (
        "矛盾纠纷排查",
        (
            ("screening:rounds", "排查次数", "n"),
            ("screening:found", "排查发现矛盾纠纷", "n"),
            ("screening:zero_reports", "零报告", "n"),
            ("screening:coverage", "网格排查覆盖率", "p"),
        ),
    ),
)


def summary_values(figures: dict) -> dict:
    """One summary row's values by column key, from a stored snapshot (counts, rates,
    screening)."""
    row, rates, screening = figures["row"], figures["rates"], figures["screening"]
    values = {**row, **rates}
    values["agreement_amount_wan"] = Decimal(str(row["agreement_amount_wan"]))
    values["escalated_county_or_referred"] = row["escalated_county"] + row["referred"]
    for k, n in row["accepted_by_source"].items():
        values[f"source:{k}"] = n
    for k in ("rounds", "found", "zero_reports", "coverage"):
        values[f"screening:{k}"] = screening.get(k)
    return values


def summary_columns() -> list[tuple[str, str, str, str]]:
    """(group, key, label, kind) of every summary column after 单位."""
    return [(g, k, label, kind) for g, cols in SUMMARY_GROUPS for k, label, kind in cols]


# ------------------------------------------------------------------ print layout
#
# What a township office files: A4 landscape, 10 pt text in a CJK font named in every cell, the
# summary split across pages at its column groups with 单位/报送情况 and both header rows repeated
# on every page (print titles), no shrinking to one page, row heights computed so that wrapped
# text is shown whole (Excel and WPS do not re-fit row heights when they open a file). A row
# cannot break across pages, so a long narrative is written over several rows of at most
# MAX_ROW_LINES lines.
def report_workbook(compiled: dict) -> bytes:
    """The township's monthly report as an XLSX: 汇总表, 分类统计, 重点领域, 红橙案件,
    工作开展情况, 指标说明 (each figure's definition). Chinese headers, merged group headers, frozen header rows, number formats,
    laid out for printing on A4 (see above)."""
    wb = Workbook()
    # The default font is what column widths are measured in (LibreOffice, WPS and Excel alike).
    wb._fonts = IndexedList([BODY_FONT])
    wb._named_styles["Normal"].font = BODY_FONT
    ws = wb.active
    ws.title = "汇总表"
    cols = summary_columns()
    last_col = len(cols) + 2
    _title_lines(ws, compiled, report_title(compiled))
    # Two header rows: group headers merged across their columns, column labels below.
    ws.cell(row=3, column=1, value="单位")
    ws.merge_cells(start_row=3, start_column=1, end_row=4, end_column=1)
    ws.cell(row=3, column=2, value="报送情况")
    ws.merge_cells(start_row=3, start_column=2, end_row=4, end_column=2)
    col = 3
    for group, items in SUMMARY_GROUPS:
        ws.cell(row=3, column=col, value=group)
        if len(items) > 1:
            ws.merge_cells(
                start_row=3, start_column=col, end_row=3, end_column=col + len(items) - 1
            )
        for i, (_k, label, _kind) in enumerate(items):
            ws.cell(row=4, column=col + i, value=label)
        col += len(items)
    _style_header(ws, 3, 1, last_col)
    _style_header(ws, 4, 1, last_col)
    widths = {
        1: _names_width((v["name"] for v in compiled["villages"]), least="单位"),
        2: _col_width(5 * BODY_PT + 8),  # 未到期未报
    }
    min_pt = {"n": 28.0, "p": 40.0, "a": 56.0, "d": 34.0}  # 9,999 · 100.0% · 12,345.67 · 999.9
    for i, (_g, _k, label, kind) in enumerate(cols, 3):
        widths[i] = _label_width(label, min_pt=min_pt[kind])
    for i, w in widths.items():
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.row_dimensions[3].height = _height(1)
    _fit_row(ws, 4, widths, slack=0)
    r = 5
    for v in compiled["villages"]:
        _summary_row(ws, r, v["name"], v["report_status_label"], v["figures"], cols)
        _style_body(ws, r, 1, last_col)
        _fit_row(ws, r, {1: widths[1], 2: widths[2]}, slack=0)
        r += 1
    total = compiled["total"]
    _summary_row(
        ws, r, "合计", f"已报 {compiled['submitted']} / 共 {len(compiled['villages'])}", total, cols
    )
    _style_body(ws, r, 1, last_col, bold=True)
    _fit_row(ws, r, {1: widths[1], 2: widths[2]}, slack=0)
    ws.freeze_panes = "C5"
    _page_setup(ws, compiled, title_rows="3:4", title_cols="A:B", first_row=3)
    _column_breaks(
        ws,
        [len(items) for _g, items in SUMMARY_GROUPS],
        first_col=3,
        fixed_pt=_col_pt(widths[1]) + _col_pt(widths[2]),
    )

    _category_sheet(wb, compiled)
    _key_area_sheet(wb, compiled)
    _high_risk_sheet(wb, compiled)
    _narrative_sheet(wb, compiled)
    risk_sheet.add_sheet(  # issue 21: 风险防范
        wb, compiled, header=_style_header, body=_style_body, page_setup=_page_setup
    )
    # 指标说明: each figure with its definition (the text the dashboard and the API show)
    definitions_sheet(
        wb,
        compiled,
        [
            (group, label, metrics.DEFINITIONS[key]["definition"])
            for group, key, label, _kind in summary_columns()
            if key in metrics.DEFINITIONS
        ],
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _summary_row(ws, r: int, name: str, state: str, figures: dict, cols) -> None:
    values = summary_values(figures)
    ws.cell(row=r, column=1, value=escape(name))
    ws.cell(row=r, column=2, value=state)
    for i, (_g, key, _label, kind) in enumerate(cols, 3):
        value = values.get(key)
        cell = ws.cell(row=r, column=i, value=float(value) if kind == "a" else value)
        if kind == "p":
            cell.number_format = PERCENT
        elif kind == "a":
            cell.number_format = AMOUNT
        elif kind == "d":
            cell.number_format = "0.0"


def _category_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("分类统计")
    last = len(CATEGORIES) + 2
    ws.cell(row=1, column=1, value="单位")
    ws.merge_cells(start_row=1, start_column=1, end_row=2, end_column=1)
    ws.cell(row=1, column=2, value="本期受理矛盾纠纷（按纠纷类别）")
    ws.merge_cells(start_row=1, start_column=2, end_row=1, end_column=last)
    for i, label in enumerate(CATEGORIES.values(), 2):
        ws.cell(row=2, column=i, value=label)
    ws.cell(row=2, column=last, value="合计")
    _style_header(ws, 1, 1, last)
    _style_header(ws, 2, 1, last)
    widths = {1: _names_width((v["name"] for v in compiled["villages"]), least="单位")}
    for i, label in enumerate([*CATEGORIES.values(), "合计"], 2):
        widths[i] = _label_width(label, min_pt=28.0)
    for c, w in widths.items():
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.row_dimensions[1].height = _height(1)
    _fit_row(ws, 2, widths, slack=0)
    rows = [(v["name"], v["figures"]["row"]) for v in compiled["villages"]]
    rows.append(("合计", compiled["total"]["row"]))
    for r, (name, row) in enumerate(rows, 3):
        ws.cell(row=r, column=1, value=escape(name))
        by = row["accepted_by_category"]
        for i, key in enumerate(CATEGORIES, 2):
            ws.cell(row=r, column=i, value=by.get(key, 0))
        ws.cell(row=r, column=last, value=sum(by.values()))
        _style_body(ws, r, 1, last, bold=r == len(rows) + 2)
        _fit_row(ws, r, {1: widths[1]}, slack=0)
    ws.freeze_panes = "B3"
    _page_setup(ws, compiled, title_rows="1:2", title_cols="A:A")


def _key_area_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("重点领域")
    headers = ("重点领域", "本期新登记", "本期化解", "期末在办", "排查发现")
    for i, h in enumerate(headers, 1):
        ws.cell(row=1, column=i, value=h)
    _style_header(ws, 1, 1, len(headers))
    ws.row_dimensions[1].height = _height(1)
    total = compiled["total"]
    found = total["screening"].get("found_by_key_area", {})
    for r, key in enumerate(KEY_AREAS, 2):
        parts = total["row"]["by_key_area"].get(key, {})
        ws.cell(row=r, column=1, value=key)
        ws.cell(row=r, column=2, value=parts.get("registered", 0))
        ws.cell(row=r, column=3, value=parts.get("resolved", 0))
        ws.cell(row=r, column=4, value=parts.get("in_progress", 0))
        ws.cell(row=r, column=5, value=found.get(key, 0))
        _style_body(ws, r, 1, len(headers))
        ws.row_dimensions[r].height = _height(1)
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 22
    for c in "BCDE":
        ws.column_dimensions[c].width = 14
    _page_setup(ws, compiled, title_rows="1:1")


HIGH_RISK_COLUMNS = (
    ("village", "村（社区）"),
    ("case_number", "案件编号"),
    ("risk", "风险等级"),
    ("category", "纠纷类别"),
    ("parties", "当事人（已脱敏）"),
    ("registered_on", "登记日期"),
    ("status", "状态"),
    ("handling_level", "办理层级"),
    ("leader_assigned", "包案领导"),
    ("progress", "最新进展"),
    ("overdue", "是否逾期"),
)


def high_risk_rows(compiled: dict) -> list[dict]:
    """The RED/ORANGE list of every village (masked), in village order."""
    return [
        {**case, "village": v["name"]}
        for v in compiled["villages"]
        for case in v["figures"].get("high_risk", [])
    ]


HIGH_RISK_WIDTHS = (10, 20, 6, 9, 14, 11, 8, 8, 6, 26, 6)


def _high_risk_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("红橙案件")
    widths = {
        i: _label_width(label, min_pt=_col_pt(w))
        for i, (w, (_k, label)) in enumerate(
            zip(HIGH_RISK_WIDTHS, HIGH_RISK_COLUMNS, strict=True), 1
        )
    }
    for i, (_k, label) in enumerate(HIGH_RISK_COLUMNS, 1):
        ws.cell(row=1, column=i, value=label)
        ws.column_dimensions[get_column_letter(i)].width = widths[i]
    _style_header(ws, 1, 1, len(HIGH_RISK_COLUMNS))
    _fit_row(ws, 1, widths, slack=0)
    red = PatternFill("solid", fgColor="F8CBAD")
    orange = PatternFill("solid", fgColor="FCE4D6")
    for r, case in enumerate(high_risk_rows(compiled), 2):
        for i, (k, _label) in enumerate(HIGH_RISK_COLUMNS, 1):
            ws.cell(row=r, column=i, value=_xlsx_value(escape(case.get(k))))
        _style_body(ws, r, 1, len(HIGH_RISK_COLUMNS))
        ws.cell(row=r, column=3).fill = red if case["risk"] == "红色" else orange
        _fit_row(ws, r, widths)
    ws.freeze_panes = "A2"
    _page_setup(ws, compiled, title_rows="1:1")


def _narrative_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("工作开展情况")
    for i, h in enumerate(("单位", "报送情况", "版本", "工作开展情况", "备注"), 1):
        ws.cell(row=1, column=i, value=h)
    _style_header(ws, 1, 1, 5)
    ws.row_dimensions[1].height = _height(1)
    for c, w in NARRATIVE_WIDTHS.items():
        ws.column_dimensions[get_column_letter(c)].width = w
    r = 2
    for v in compiled["villages"]:
        for n, chunk in enumerate(narrative_chunks(v["narrative"] or "")):
            first = n == 0
            ws.cell(row=r, column=1, value=escape(v["name"] if first else f"{v['name']}（续）"))
            if first:
                ws.cell(row=r, column=2, value=v["report_status_label"])
                ws.cell(row=r, column=3, value=v["version"])
                ws.cell(row=r, column=5, value=escape(v["remarks"] or ""))
            ws.cell(row=r, column=4, value=escape(chunk))
            _style_body(ws, r, 1, 5)
            for c in range(1, 6):
                ws.cell(row=r, column=c).alignment = LEFT_WRAP
            _fit_row(ws, r, NARRATIVE_WIDTHS)
            r += 1
    ws.freeze_panes = "A2"
    _page_setup(ws, compiled, title_rows="1:1")


def report_csv(compiled: dict) -> Iterator[str]:
    """The summary sheet as CSV (one row per village plus 合计), group and column in the header."""
    cols = summary_columns()
    columns = [("name", "单位"), ("state", "报送情况")] + [
        (key, f"{group}-{label}") for group, key, label, _kind in cols
    ]
    rows = [
        {"name": v["name"], "state": v["report_status_label"], **summary_values(v["figures"])}
        for v in compiled["villages"]
    ]
    rows.append({"name": "合计", "state": "", **summary_values(compiled["total"])})
    return csv_stream(columns, rows)
