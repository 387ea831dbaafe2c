"""Exports: the monthly report workbook (domain §7), lists as XLSX/CSV, all formula-safe.

Any text cell starting with `= + - @` (or a tab / carriage return) gets a leading apostrophe so
that Excel and WPS show it as text instead of evaluating it (CSV/formula injection). Large lists
are written row by row (openpyxl write-only mode to a temporary file; CSV as a generator spooled
to a temporary file), so memory stays flat however many rows there are.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from mediation.disputes.enums import CATEGORIES, KEY_AREAS, SOURCES

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def escape(value):
    """A value safe to put in a spreadsheet cell."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


# ------------------------------------------------------------------ lists


def csv_stream(columns: Iterable[tuple[str, str]], rows: Iterable[dict]) -> Iterator[str]:
    """CSV text chunks: UTF-8 BOM (so Excel opens it as UTF-8), Chinese header, escaped cells."""
    columns = list(columns)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label for _k, label in columns])
    yield BOM + buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([_csv_value(escape(row.get(k))) for k, _l in columns])
        yield buf.getvalue()


def spool(chunks: Iterable[str]) -> tempfile.SpooledTemporaryFile:
    """The whole text written (UTF-8) to a temporary file, positioned at its start: a download
    is produced completely before it is sent (and logged), so a failure half-way answers an
    error instead of a cut-off file. Memory stays flat: past 8 MiB the file moves to disk."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    for chunk in chunks:
        out.write(chunk.encode("utf-8"))
    out.seek(0)
    return out


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
THIN = Side(style="thin", color="999999")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _width(label: str) -> float:
    # CJK characters are about two Latin characters wide in Excel's width unit.
    return max(8.0, min(40.0, sum(2 if ord(ch) > 0x2E80 else 1 for ch in label) + 2))


def xlsx_list(
    columns: Iterable[tuple[str, str]], rows: Iterable[dict], *, title: str
) -> tempfile.SpooledTemporaryFile:
    """A one-sheet workbook written row by row; returns the file positioned at its start."""
    columns = list(columns)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    for i, (_k, label) in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(i)].width = _width(label) + 4
    ws.freeze_panes = "A2"
    header = []
    for _k, label in columns:
        cell = WriteOnlyCell(ws, value=label)
        cell.font, cell.fill, cell.alignment, cell.border = HEADER_FONT, HEADER_FILL, CENTER, BORDER
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append([_xlsx_value(escape(row.get(k))) for k, _l in columns])
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(out)
    out.seek(0)
    return out


def _xlsx_value(value):
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


# ------------------------------------------------------------------ the monthly report

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
            ("in_progress", "在办", "n"),
            ("overdue_open", "超期未办结", "n"),
            ("success_rate", "调解成功率", "p"),
            ("agreement_amount_wan", "协议金额（万元）", "a"),
            ("judicial_confirmations", "申请司法确认", "n"),
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


def _style_header(ws, row: int, first: int, last: int) -> None:
    for col in range(first, last + 1):
        c = ws.cell(row=row, column=col)
        c.font, c.fill, c.alignment, c.border = HEADER_FONT, HEADER_FILL, CENTER, BORDER


def report_workbook(compiled: dict) -> bytes:
    """The township's monthly report as an XLSX: 汇总表, 分类统计, 重点领域, 红橙案件,
    工作开展情况. Chinese headers, merged group headers, frozen header rows, number formats."""
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总表"
    township = compiled["township"]["name"]
    period = compiled["period"]
    cols = summary_columns()
    last_col = len(cols) + 2
    ws.cell(
        row=1, column=1, value=escape(f"{township}矛盾纠纷排查化解工作月报（{compiled['month']}）")
    )
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=last_col)
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = CENTER
    ws.cell(
        row=2,
        column=1,
        value=f"统计期间：{period['start']} 至 {_last_day(period['end'])}　"
        f"报送截止：{compiled['due_at'].strftime('%Y-%m-%d')} 前",
    )
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last_col)
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
    ws.row_dimensions[4].height = 48
    r = 5
    for v in compiled["villages"]:
        _summary_row(ws, r, v["name"], v["report_status_label"], v["figures"], cols)
        r += 1
    total = compiled["total"]
    _summary_row(
        ws, r, "合计", f"已报 {compiled['submitted']} / 共 {len(compiled['villages'])}", total, cols
    )
    for c in range(1, last_col + 1):
        ws.cell(row=r, column=c).font = HEADER_FONT
    ws.freeze_panes = "C5"
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 12
    for i, (_g, _k, label, _kind) in enumerate(cols, 3):
        ws.column_dimensions[get_column_letter(i)].width = min(_width(label), 12)
    _page_setup(ws)

    _category_sheet(wb, compiled)
    _key_area_sheet(wb, compiled)
    _high_risk_sheet(wb, compiled)
    _narrative_sheet(wb, compiled)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _last_day(end_iso: str) -> str:
    return (date.fromisoformat(end_iso) - timedelta(days=1)).isoformat()


def _summary_row(ws, r: int, name: str, state: str, figures: dict, cols) -> None:
    values = summary_values(figures)
    ws.cell(row=r, column=1, value=escape(name)).border = BORDER
    ws.cell(row=r, column=2, value=state).border = BORDER
    for i, (_g, key, _label, kind) in enumerate(cols, 3):
        value = values.get(key)
        cell = ws.cell(row=r, column=i, value=float(value) if kind == "a" else value)
        cell.border = BORDER
        if kind == "p":
            cell.number_format = PERCENT
        elif kind == "a":
            cell.number_format = AMOUNT
        elif kind == "d":
            cell.number_format = "0.0"


def _page_setup(ws) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "3:4"


def _category_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("分类统计")
    ws.cell(row=1, column=1, value="单位")
    ws.merge_cells(start_row=1, start_column=1, end_row=2, end_column=1)
    ws.cell(row=1, column=2, value="本期受理矛盾纠纷（按纠纷类别）")
    ws.merge_cells(start_row=1, start_column=2, end_row=1, end_column=len(CATEGORIES) + 2)
    for i, label in enumerate(CATEGORIES.values(), 2):
        ws.cell(row=2, column=i, value=label)
    ws.cell(row=2, column=len(CATEGORIES) + 2, value="合计")
    _style_header(ws, 1, 1, len(CATEGORIES) + 2)
    _style_header(ws, 2, 1, len(CATEGORIES) + 2)
    rows = [(v["name"], v["figures"]["row"]) for v in compiled["villages"]]
    rows.append(("合计", compiled["total"]["row"]))
    for r, (name, row) in enumerate(rows, 3):
        ws.cell(row=r, column=1, value=escape(name))
        by = row["accepted_by_category"]
        for i, key in enumerate(CATEGORIES, 2):
            ws.cell(row=r, column=i, value=by.get(key, 0))
        ws.cell(row=r, column=len(CATEGORIES) + 2, value=sum(by.values()))
    ws.freeze_panes = "B3"
    ws.column_dimensions["A"].width = 18
    _page_setup(ws)
    ws.print_title_rows = "1:2"


def _key_area_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("重点领域")
    headers = ("重点领域", "本期新登记", "本期化解", "期末在办", "排查发现")
    for i, h in enumerate(headers, 1):
        ws.cell(row=1, column=i, value=h)
    _style_header(ws, 1, 1, len(headers))
    total = compiled["total"]
    found = total["screening"].get("found_by_key_area", {})
    for r, key in enumerate(KEY_AREAS, 2):
        parts = total["row"]["by_key_area"].get(key, {})
        ws.cell(row=r, column=1, value=key)
        ws.cell(row=r, column=2, value=parts.get("registered", 0))
        ws.cell(row=r, column=3, value=parts.get("resolved", 0))
        ws.cell(row=r, column=4, value=parts.get("in_progress", 0))
        ws.cell(row=r, column=5, value=found.get(key, 0))
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 20
    for c in "BCDE":
        ws.column_dimensions[c].width = 12


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


def _high_risk_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("红橙案件")
    for i, (_k, label) in enumerate(HIGH_RISK_COLUMNS, 1):
        ws.cell(row=1, column=i, value=label)
        ws.column_dimensions[get_column_letter(i)].width = _width(label) + 4
    _style_header(ws, 1, 1, len(HIGH_RISK_COLUMNS))
    red = PatternFill("solid", fgColor="F8CBAD")
    orange = PatternFill("solid", fgColor="FCE4D6")
    for r, case in enumerate(high_risk_rows(compiled), 2):
        for i, (k, _label) in enumerate(HIGH_RISK_COLUMNS, 1):
            ws.cell(row=r, column=i, value=_xlsx_value(escape(case.get(k))))
        ws.cell(row=r, column=3).fill = red if case["risk"] == "红色" else orange
    ws.freeze_panes = "A2"
    ws.column_dimensions["E"].width = 24
    ws.column_dimensions["J"].width = 24
    _page_setup(ws)
    ws.print_title_rows = "1:1"


def _narrative_sheet(wb, compiled: dict) -> None:
    ws = wb.create_sheet("工作开展情况")
    for i, h in enumerate(("单位", "报送情况", "版本", "工作开展情况", "备注"), 1):
        ws.cell(row=1, column=i, value=h)
    _style_header(ws, 1, 1, 5)
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, v in enumerate(compiled["villages"], 2):
        ws.cell(row=r, column=1, value=escape(v["name"]))
        ws.cell(row=r, column=2, value=v["report_status_label"])
        ws.cell(row=r, column=3, value=v["version"])
        ws.cell(row=r, column=4, value=escape(v["narrative"] or "")).alignment = wrap
        ws.cell(row=r, column=5, value=escape(v["remarks"] or "")).alignment = wrap
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["D"].width = 80
    ws.column_dimensions["E"].width = 30
    _page_setup(ws)


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
