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
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.pagebreak import Break

from mediation.disputes import deadlines
from mediation.disputes.enums import CATEGORIES, KEY_AREAS, SOURCES
from mediation.risks import sheet as risk_sheet

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


# ------------------------------------------------------------------ download names


LIST_FILE_NAMES = {
    "overdue": ("逾期案件督办清单", "overdue-list"),
    "high_risk": ("红橙风险案件督办清单", "high-risk-list"),
    "escalations": ("待接收上报督办清单", "escalations-list"),
    "late_reports": ("月报逾期村社督办清单", "late-reports-list"),
}


def list_file_names(kind: str, *, area: dict, day: date, fmt: str) -> tuple[str, str]:
    """(Chinese name, ASCII fallback) of a supervision-list download, e.g.
    `枫桥镇-红橙风险案件督办清单-2026-12-02.csv`."""
    chinese, ascii_name = LIST_FILE_NAMES[kind]
    return (
        f"{area['name']}-{chinese}-{day.isoformat()}.{fmt}",
        f"{area['code']}-{ascii_name}-{day.isoformat()}.{fmt}",
    )


def report_file_names(compiled: dict, fmt: str) -> tuple[str, str]:
    """(Chinese name, ASCII fallback) of a monthly report download, e.g. `枫桥镇-2026-12-月报.xlsx`;
    a village's later versions and drafts say so (`-第2版`, `-草稿`)."""
    area, month = compiled["township"], compiled["month"]
    suffix = ""
    villages = compiled["villages"]
    if len(area["code"]) == 12 and villages:
        version = villages[0]["version"]
        if not compiled["submitted"]:
            suffix = "-草稿"
        elif version and version > 1:
            suffix = f"-第{version}版"
    ascii_suffix = {"-草稿": "-draft", "": ""}.get(suffix, f"-v{suffix[2:-1]}")
    return (
        f"{area['name']}-{month}-月报{suffix}.{fmt}",
        f"{area['code']}-{month}-monthly-report{ascii_suffix}.{fmt}",
    )


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


# ------------------------------------------------------------------ print layout
#
# What a township office files: A4 landscape, 10 pt text in a CJK font named in every cell, the
# summary split across pages at its column groups with 单位/报送情况 and both header rows repeated
# on every page (print titles), no shrinking to one page, row heights computed so that wrapped
# text is shown whole (Excel and WPS do not re-fit row heights when they open a file). A row
# cannot break across pages, so a long narrative is written over several rows of at most
# MAX_ROW_LINES lines.

FONT_NAME = "Noto Sans CJK SC"  # Debian fonts-noto-cjk; Excel/WPS substitute where it is missing
BODY_PT = 10
TITLE_PT = 14
LINE_PT = 1.45  # line height of Noto Sans CJK per point of font size
PAGE_WIDTH_PT = (297 - 2 * 10) / 25.4 * 72  # A4 landscape less 10 mm margins
MAX_ROW_LINES = 18


def _font(*, bold: bool = False, size: int = BODY_PT) -> Font:
    return Font(name=FONT_NAME, size=size, bold=bold)


BODY_FONT = _font()
BOLD_FONT = _font(bold=True)
LEFT_WRAP = Alignment(horizontal="left", vertical="top", wrap_text=True)
CELL = Alignment(vertical="center", wrap_text=True)


def _col_pt(width: float) -> float:
    """Printed width of a column of Excel width `width`: 7 px per character of the default font
    (Noto Sans CJK SC 10 pt) plus 5 px of padding."""
    return (int(width * 7) + 5) * 0.75


def _col_width(points: float) -> float:
    """The Excel width of a column `points` wide."""
    return round((points / 0.75 - 5) / 7, 1)


def _text_pt(text: str, size: int = BODY_PT) -> float:
    # CJK and full-width characters are one em wide, the rest about half an em.
    return sum(size if ord(ch) > 0x2E80 else size * 0.56 for ch in text)


def _lines(text: str, width: float, size: int = BODY_PT, *, slack: float = 1.0) -> int:
    """Lines a wrapped text takes in a column of Excel width `width`. `slack` characters per
    line are given up to line breaking (punctuation that may not start a line, Latin words)."""
    usable = _col_pt(width) - 6 - slack * size
    return sum(max(1, -(-int(_text_pt(p, size)) // int(usable))) for p in text.split("\n"))


def _height(lines: int, size: int = BODY_PT) -> float:
    return round(lines * size * LINE_PT + 2, 1)


def _fit_row(
    ws, row: int, widths: dict[int, float], size: int = BODY_PT, *, slack: float = 1.0
) -> None:
    """Set a row's height to show every wrapped cell whole (columns in `widths`)."""
    lines = 1
    for col, width in widths.items():
        value = ws.cell(row=row, column=col).value
        if value not in (None, ""):
            lines = max(lines, _lines(str(value), width, size, slack=slack))
    ws.row_dimensions[row].height = _height(lines, size)


def _label_width(label: str, *, min_pt: float = 0.0, size: int = BODY_PT) -> float:
    """The narrowest column (at least `min_pt`) in which a header label wraps into at most three
    lines without leaving one character alone on the last."""
    ems = _text_pt(label, size) / size
    for per_line in range(2, 9):
        points = max(per_line * size + 8, min_pt)
        fits = int((points - 4) // size)  # what the column holds, once widened to min_pt
        lines = -(-ems // fits)
        if lines > 3 or (lines > 1 and ems - (lines - 1) * fits < 1.5):
            continue
        return _col_width(points)
    return _col_width(max(8 * size + 8, min_pt))


def _names_width(names, *, least: str) -> float:
    """A title column wide enough for its longest name (up to eight characters per line)."""
    longest = max([_text_pt(least), *(_text_pt(n) for n in names)])
    return _col_width(min(longest, 8 * BODY_PT) + 10)


def _style_header(ws, row: int, first: int, last: int) -> None:
    for col in range(first, last + 1):
        c = ws.cell(row=row, column=col)
        c.font, c.fill, c.alignment, c.border = BOLD_FONT, HEADER_FILL, CENTER, BORDER


def _style_body(ws, row: int, first: int, last: int, *, bold: bool = False) -> None:
    for col in range(first, last + 1):
        c = ws.cell(row=row, column=col)
        c.font, c.border = (BOLD_FONT if bold else BODY_FONT), BORDER
        if c.alignment is None or not c.alignment.wrap_text:
            c.alignment = CELL


def _title_lines(ws, compiled: dict, title: str) -> None:
    """Rows 1–2, for the screen: the report's title, its period and deadline (on paper they are
    in every page's header instead, so the rows are left out of the print area)."""
    ws.cell(row=1, column=1, value=escape(title)).font = _font(bold=True, size=TITLE_PT)
    ws.row_dimensions[1].height = _height(1, TITLE_PT)
    ws.cell(row=2, column=1, value=period_line(compiled)).font = BODY_FONT
    ws.row_dimensions[2].height = _height(1)


def period_line(compiled: dict) -> str:
    """统计期间 and 报送截止, printed the same in the township's and a village's workbook."""
    start = date.fromisoformat(compiled["period"]["start"])
    last = date.fromisoformat(_last_day(compiled["period"]["end"]))
    return (
        f"统计期间：{start.year}年{start.month}月{start.day}日至{last.month}月{last.day}日　"
        f"报送截止：{deadlines.report_due_label(compiled['due_at'])}"
    )


def report_title(compiled: dict) -> str:
    """The title printed on every page."""
    return f"{compiled['township']['name']}矛盾纠纷排查化解工作月报（{compiled['month']}）"


def _page_setup(
    ws,
    compiled: dict,
    *,
    title_rows: str,
    title_cols: str | None = None,
    first_row: int = 1,
) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.scale = 100
    ws.page_setup.fitToWidth = 0
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    # A group of columns with its 合计 before the next group.
    ws.page_setup.pageOrder = "downThenOver"
    ws.page_margins = PageMargins(
        left=0.39, right=0.39, top=0.85, bottom=0.55, header=0.25, footer=0.25
    )
    ws.print_options.horizontalCentered = False
    ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols
    ws.print_area = f"A{first_row}:{get_column_letter(ws.max_column)}{ws.max_row}"
    font = f'&"{FONT_NAME},Regular"&10'
    bold = f'&"{FONT_NAME},Bold"&12'
    # Title, period and deadline on every page (the sheet's own title rows are not printed).
    ws.oddHeader.left.text = f"{bold}{escape(report_title(compiled))}"
    ws.oddHeader.right.text = f"{font}{period_line(compiled)}"
    ws.oddFooter.left.text = f"{font}&A"
    ws.oddFooter.center.text = f"{font}第 &P 页，共 &N 页"


def _column_breaks(ws, groups: list[int], *, first_col: int, fixed_pt: float) -> None:
    """Break the columns between pages at group boundaries only, as many groups per page as fit
    next to the repeated title columns (`fixed_pt`)."""
    room = (PAGE_WIDTH_PT - fixed_pt) * 0.95
    used, col = 0.0, first_col
    for size in groups:
        width = sum(
            _col_pt(ws.column_dimensions[get_column_letter(c)].width)
            for c in range(col, col + size)
        )
        if used and used + width > room:
            ws.col_breaks.append(Break(id=col - 1))
            used = 0.0
        used += width
        col += size


def report_workbook(compiled: dict) -> bytes:
    """The township's monthly report as an XLSX: 汇总表, 分类统计, 重点领域, 红橙案件,
    工作开展情况. Chinese headers, merged group headers, frozen header rows, number formats,
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
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _last_day(end_iso: str) -> str:
    return (date.fromisoformat(end_iso) - timedelta(days=1)).isoformat()


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


NARRATIVE_WIDTHS = {1: 14.0, 2: 10.0, 3: 6.0, 4: 84.0, 5: 24.0}


def narrative_chunks(text: str, width: float = NARRATIVE_WIDTHS[4]) -> list[str]:
    """A narrative cut into pieces of at most MAX_ROW_LINES printed lines, at paragraph ends
    where possible (a row cannot break across pages, and Excel rows stop at 409 pt)."""
    usable = _col_pt(width) - 6 - BODY_PT
    pieces: list[str] = []
    for para in text.replace("\r\n", "\n").split("\n"):
        # A paragraph longer than a row: cut it where a row's worth of lines ends.
        while _lines(para, width) > MAX_ROW_LINES:
            cut, used = 0, 0.0
            while cut < len(para):
                used += _text_pt(para[cut])
                if used > usable * MAX_ROW_LINES:
                    break
                cut += 1
            pieces.append(para[:cut])
            para = para[cut:]
        pieces.append(para)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and _lines(chunks[-1] + "\n" + piece, width) <= MAX_ROW_LINES:
            chunks[-1] += "\n" + piece
        else:
            chunks.append(piece)
    return chunks or [""]


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
