"""HTML (Jinja templates beside this file) to PDF with WeasyPrint; fonts come from fontconfig."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def html(paper: dict) -> str:
    """The paper as HTML (its template is named after its kind)."""
    return _env().get_template(f"{paper['kind']}.html").render(p=paper)


def pdf(paper: dict) -> bytes:
    """The paper as PDF bytes."""
    # Imported here: WeasyPrint loads pango through cffi, which only the papers need.
    from weasyprint import HTML

    return HTML(string=html(paper), base_url=str(TEMPLATES)).write_pdf()
