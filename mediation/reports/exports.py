"""Exports: lists as XLSX/CSV, formula-safe, and the download file names.

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
from datetime import date

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

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
