"""Print layout of the monthly report workbook: A4 landscape, a CJK font in every cell, row
heights and column widths computed from the text, page setup and column breaks."""

from __future__ import annotations

from datetime import date, timedelta

from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.pagebreak import Break

from mediation.disputes import deadlines
from mediation.reports.exports import BORDER, CENTER, HEADER_FILL, escape

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


def _last_day(end_iso: str) -> str:
    return (date.fromisoformat(end_iso) - timedelta(days=1)).isoformat()


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


# The columns of the 工作开展情况 sheet; its narrative is written in chunks of whole lines.
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


DEFINITION_WIDTHS = {1: 16, 2: 24, 3: 90}


def definitions_sheet(wb, compiled: dict, rows: list[tuple[str, str, str]]) -> None:
    """指标说明: (group, figure, definition) rows, so the printed report states what it counts."""
    ws = wb.create_sheet("指标说明")
    for i, h in enumerate(("分组", "指标", "口径"), 1):
        ws.cell(row=1, column=i, value=h)
    _style_header(ws, 1, 1, 3)
    ws.row_dimensions[1].height = _height(1)
    for c, w in DEFINITION_WIDTHS.items():
        ws.column_dimensions[get_column_letter(c)].width = w
    for r, values in enumerate(rows, 2):
        for c, value in enumerate(values, 1):
            ws.cell(row=r, column=c, value=value)
        _style_body(ws, r, 1, 3)
        for c in range(1, 4):
            ws.cell(row=r, column=c).alignment = LEFT_WRAP
        _fit_row(ws, r, DEFINITION_WIDTHS)
    ws.freeze_panes = "A2"
    _page_setup(ws, compiled, title_rows="1:1")
