"""The monthly report as a township office prints it (M5): the workbook of a real township is
rendered once by LibreOffice (XLSX → PDF → PNG) and the PDF is read back — font sizes, pages,
titles repeated on every page, the whole narrative.

Set REPORT_SAMPLE_DIR to keep the workbook, the PDF and the PNG pages
(scripts/render_report_sample.sh does, into var/report-sample/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy.orm
from openpyxl import load_workbook

from mediation.reports import drafting, months, print_layout, township_view, workbook
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice (soffice) is not installed; `make test` installs it as root "
    "(apt-get install libreoffice-calc-nogui poppler-utils fonts-noto-cjk)",
)
pdfplumber = pytest.importorskip("pdfplumber")

PARAGRAPH = (
    "本月我村坚持和发展新时代“枫桥经验”，以网格为单位开展矛盾纠纷排查，"
    "网格员入户走访群众，对邻里、婚姻家庭、土地承包、拖欠工资等纠纷逐户建立台账，"
    "做到小事不出村、大事不出镇、矛盾不上交。"
)
LONG_PARAGRAPH = "对排查发现的重点纠纷，村调委会实行一案一策、包案到人，" * 40 + "确保案结事了。"
NARRATIVE = "\n".join(
    [f"{i}、{PARAGRAPH}" for i in "一二三四五六七八"]
    + [LONG_PARAGRAPH]
    + [f"{i}、{PARAGRAPH}（No. 2026-{n:02d}）" for n, i in enumerate("九十", 9)]
)
HEADER_PT = 50  # the running header (title, period, deadline) is printed above this
FOOTER_PT = 38  # the page footer (sheet name, page number) is printed below this
REMARKS = "下月重点：春节前排查欠薪纠纷，联合司法所开展法律进村活动。"


def at(m, d, h=9):
    return datetime(2026, m, d, h, tzinfo=SH)


def _township_workbook(app) -> tuple[bytes, dict, bytes]:
    """Cases, a long narrative and the compiled township report of October 2026 (report month
    2026-11), built in a transaction that is rolled back; the village's own workbook too."""
    from core.db import db
    from tests.conftest import _BoundSession

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        session = sqlalchemy.orm.scoped_session(
            sqlalchemy.orm.sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", class_=_BoundSession
            )
        )
        original, db.session = db.session, session
        try:
            w = case_world(app, session, today=date(2026, 11, 1))
            reg, act = w["register"], w["act"]
            leader = w["users"]["leader"].id
            red = reg(
                at(10, 3), occurred_at=at(10, 3, 7).isoformat(), risk={"flags": ["violence_threat"]}
            )
            act("center_staff", red, "assign_leader", at(10, 3, 10), leader_id=leader)
            act("mediator", red, "accept", at(10, 4))
            orange = reg(
                at(10, 8),
                occurred_at=at(10, 8, 7).isoformat(),
                category="03",
                risk={"likelihood": 3, "severity": 4},
            )
            act("mediator", orange, "accept", at(10, 9))
            act("mediator", orange, "start_mediation", at(10, 9, 10), rights_notice="书面告知")
            for d in (12, 15, 20):
                reg(at(10, d), occurred_at=at(10, d, 7).isoformat())
            township = w["village"][:9]
            drafting.generate_drafts(
                session,
                month="2026-11",
                now=at(11, 1, 2),
                settings=months.ReportSettings(),
                within=township,
            )
            draft = drafting.versions(
                session, actor=w["actors"]["village_admin"], area_code=w["village"], month="2026-11"
            )[0]
            lead = w["actors"]["village_admin"]
            drafting.edit_draft(
                session, actor=lead, report_id=draft.id, narrative=NARRATIVE, remarks=REMARKS
            )
            drafting.submit(session, actor=lead, report_id=draft.id, now=at(11, 10))
            compiled = township_view.compile_township(
                session,
                actor=w["actors"]["center_staff"],
                township=township,
                month="2026-11",
                now=at(11, 20),
                settings=months.ReportSettings(),
            )
            compiled["case_numbers"] = [red.case_number, orange.case_number]
            village = township_view.compile_version(session, report=draft)
            return workbook.report_workbook(compiled), compiled, workbook.report_workbook(village)
        finally:
            session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(scope="module")
def printed(app, tmp_path_factory):
    """The workbook, rendered once: pages as (sheet name, pdfplumber page)."""
    out = tmp_path_factory.mktemp("report-print")
    data, compiled, village_data = _township_workbook(app)
    xlsx = out / "township-report.xlsx"
    xlsx.write_bytes(data)
    village_xlsx = out / "village-report.xlsx"
    village_xlsx.write_bytes(village_data)
    started = time.monotonic()
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{out}/lo-profile",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(xlsx),
            str(village_xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    rendered_in = time.monotonic() - started
    pdf_path = out / "township-report.pdf"
    if shutil.which("pdftoppm"):
        for name, prefix in (("township-report", "page"), ("village-report", "village-page")):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", str(out / f"{name}.pdf"), str(out / prefix)],
                check=True,
                timeout=120,
            )
    keep = os.environ.get("REPORT_SAMPLE_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for f in out.iterdir():
            if f.is_file():
                shutil.copy(f, keep)
    pdf = pdfplumber.open(pdf_path)
    village_pdf = pdfplumber.open(out / "village-report.pdf")
    pages = []
    for page in pdf.pages:
        box = (0, page.height - FOOTER_PT, page.width, page.height)
        footer = page.within_bbox(box).extract_text()
        named = re.match(r"\s*(\S+)\s+第", footer or "")  # the footer names the sheet
        sheet = named.group(1) if named else None
        pages.append((sheet, page))
    print(f"\nrendered {len(pdf.pages)} pages in {rendered_in:.1f} s")
    yield {
        "pages": pages,
        "compiled": compiled,
        "workbook": load_workbook(xlsx),
        "village_pdf": village_pdf,
        "pdf": pdf,
        "seconds": rendered_in,
    }
    pdf.close()
    village_pdf.close()


def _body(page) -> str:
    """A page's text without its running header and footer."""
    return page.within_bbox((0, HEADER_PT, page.width, page.height - FOOTER_PT)).extract_text()


def _sheet(printed, name):
    return [p for s, p in printed["pages"] if s == name]


def _column_text(page, header: str) -> str:
    """The text printed in one column of a page below its header cell, the column found by the
    cell borders around the header."""
    word = next(w for w in page.extract_words() if w["text"].startswith(header))
    edges = sorted({round(e["x0"], 1) for e in page.edges if e["orientation"] == "v"})
    left = max(x for x in edges if x <= word["x0"])
    right = min(x for x in edges if x >= word["x1"])
    box = (left, word["bottom"], right, page.height - FOOTER_PT)
    return page.within_bbox(box).extract_text()


def test_m5_workbook_names_a_cjk_font_and_sets_up_printing(printed):
    wb = printed["workbook"]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value not in (None, ""):
                    assert c.font.name == print_layout.FONT_NAME, (ws.title, c.coordinate)
                    assert c.font.sz >= 9, (ws.title, c.coordinate)
        assert ws.page_setup.orientation == "landscape", ws.title
        assert not ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.print_title_rows, ws.title
    summary = wb["汇总表"]
    assert (summary.print_title_rows, summary.print_title_cols) == ("$3:$4", "$A:$B")
    assert summary.col_breaks.count >= 1


def test_m5_every_character_is_printed_at_9_pt_or_more(printed):
    sizes = Counter(round(c["size"], 1) for _s, p in printed["pages"] for c in p.chars)
    assert min(sizes) >= 9, sizes
    assert sizes.most_common(1)[0][0] == print_layout.BODY_PT
    assert all(p.width > p.height for _s, p in printed["pages"])  # landscape
    assert printed["pages"][0][0] == "汇总表"
    assert set(s for s, _p in printed["pages"]) == {
        "汇总表",
        "分类统计",
        "重点领域",
        "红橙案件",
        "工作开展情况",
        "风险防范",  # issue 21
        "指标说明",
    }


def test_m5_summary_spreads_over_pages_with_village_column_and_headers_on_each(printed):
    pages = _sheet(printed, "汇总表")
    ws = printed["workbook"]["汇总表"]
    bands = ws.col_breaks.count + 1
    assert len(pages) > 1 and len(pages) % bands == 0
    villages = [v["name"] for v in printed["compiled"]["villages"]] + ["合计"]
    seen = Counter()
    for page in pages:
        text = page.extract_text()
        assert "单位" in text and "报送情况" in text  # the header rows, on every page
        names = _column_text(page, "单位").split()
        assert names and set(names) <= set(villages)  # the village column, on every page
        seen.update(names)
    # Every village (and the total) is printed once per band of columns: nothing is lost.
    assert seen == Counter({name: bands for name in villages})
    # Every column group is printed, and on one band only (no group cut across pages).
    text = "".join(_body(p) for p in pages)
    for group, _items in workbook.SUMMARY_GROUPS:
        assert text.count(group) == len(pages) // bands, group
    assert "报送截止：2026年11月18日（含）前报送" in pages[0].extract_text()


def test_m5_the_narrative_is_printed_whole(printed):
    pages = _sheet(printed, "工作开展情况")
    printed_text = "".join(_column_text(p, "工作开展情况") for p in pages)
    flat = re.sub(r"\s", "", printed_text)
    assert re.sub(r"\s", "", NARRATIVE) in flat
    remarks = "".join(_column_text(p, "备注") for p in pages)
    assert re.sub(r"\s", "", REMARKS) in re.sub(r"\s", "", remarks)
    ws = printed["workbook"]["工作开展情况"]
    assert all(ws.row_dimensions[r].height <= 409 for r in range(2, ws.max_row + 1))


def test_m5_other_sheets_print_every_row(printed):
    compiled = printed["compiled"]
    red = "".join(_column_text(p, "案件编号") for p in _sheet(printed, "红橙案件"))
    for number in compiled["case_numbers"]:
        assert number in re.sub(r"\s", "", red)
    key_areas = "".join(p.extract_text() for p in _sheet(printed, "重点领域"))
    assert all(k in key_areas for k in workbook.KEY_AREAS)
    categories = _sheet(printed, "分类统计")
    names = Counter()
    for page in categories:
        names.update(_column_text(page, "单位").split())
    bands = printed["workbook"]["分类统计"].col_breaks.count + 1
    assert set(names.values()) == {bands} and len(names) == len(compiled["villages"]) + 1
    assert printed["seconds"] < 30


def test_m5_m3_the_village_workbook_prints_the_same_header_and_the_whole_narrative(printed):
    first = printed["pages"][0][1]
    township_header = first.within_bbox((0, 0, first.width, HEADER_PT)).extract_text()
    pages = printed["village_pdf"].pages
    assert len(pages) > 1
    for page in pages:
        assert min(c["size"] for c in page.chars) >= 9
        header = page.within_bbox((0, 0, page.width, HEADER_PT)).extract_text()
        assert header.split()[1:] == township_header.split()[1:]  # period and deadline alike
        assert "报送截止：2026年11月18日（含）前报送" in header
    narrative = [
        p
        for p in pages
        if "工作开展情况"
        in p.within_bbox((0, p.height - FOOTER_PT, p.width, p.height)).extract_text()
    ]
    text = "".join(_column_text(p, "工作开展情况") for p in narrative)
    assert re.sub(r"\s", "", NARRATIVE) in re.sub(r"\s", "", text)
