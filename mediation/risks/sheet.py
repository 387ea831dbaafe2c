"""The monthly report workbook's 风险防范 sheet (issue 21): signals by key area, the 稳评 register
and 专项行动, each figure with its definition (from figures.DEFINITIONS)."""

from __future__ import annotations

from openpyxl.styles import Alignment

from mediation.risks.enums import KEY_AREAS, RATINGS
from mediation.risks.figures import DEFINITIONS, empty_signals

WRAP = Alignment(wrap_text=True, vertical="top")


def add_sheet(wb, compiled: dict, *, header, body, page_setup) -> None:
    """Append the 风险防范 sheet from the compiled report's total (`total.risks`), styled and set
    up for printing by the workbook's own helpers (`header`/`body`: ws, row, first, last)."""
    risks = (compiled.get("total") or {}).get("risks") or empty_signals()
    ws = wb.create_sheet("风险防范")

    def _header(ws, row: int, values) -> None:
        for i, v in enumerate(values, 1):
            ws.cell(row=row, column=i, value=v)
        header(ws, row, 1, len(values))

    _header(ws, 1, ("重点领域", "发现风险隐患", "办结风险隐患"))
    found, closed = risks.get("found_by_key_area", {}), risks.get("closed_by_key_area", {})
    r = 2
    for key in KEY_AREAS:
        for col, value in enumerate((key, found.get(key, 0), closed.get(key, 0)), 1):
            ws.cell(row=r, column=col, value=value)
        body(ws, r, 1, 3)
        r += 1
    r += 1
    _header(ws, r, ("指标", "数值", "口径"))
    r += 1
    keys = [k for k in DEFINITIONS if k != "special_actions" and k in risks]
    for key in keys:
        for col, value in enumerate(
            (DEFINITIONS[key]["label"], risks[key], DEFINITIONS[key]["definition"]), 1
        ):
            ws.cell(row=r, column=col, value=value).alignment = WRAP
        body(ws, r, 1, 3)
        ws.row_dimensions[r].height = 30
        r += 1
    for rating, n in (risks.get("items_assessed_by_rating") or {}).items():
        ws.cell(row=r, column=1, value=f"其中：{RATINGS[rating]}")
        ws.cell(row=r, column=2, value=n)
        body(ws, r, 1, 3)
        r += 1
    actions = risks.get("special_actions") or []
    if actions:
        r += 1
        _header(ws, r, ("专项行动", "起止日期", "已排查/应排查网格", "覆盖率", "发现隐患"))
        r += 1
        for a in actions:
            values = (
                a["title"],
                f"{a['starts_on']} 至 {a['ends_on']}",
                f"{a['cells_screened']} / {a['cells_total']}",
                a["coverage"],
                a["signals_found"],
            )
            for col, value in enumerate(values, 1):
                ws.cell(row=r, column=col, value=value)
            body(ws, r, 1, 5)
            ws.cell(row=r, column=4).number_format = "0.0%"
            r += 1
        ws.cell(row=r, column=1, value=DEFINITIONS["special_actions"]["definition"])
        body(ws, r, 1, 1)
    ws.freeze_panes = "A2"
    page_setup(ws, compiled, title_rows="1:1")
    for col, width in zip("ABCDE", (22, 16, 60, 12, 12), strict=True):
        ws.column_dimensions[col].width = width
