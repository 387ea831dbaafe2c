"""URL table for the papers a mediator prints (PDF): one endpoint, the paper's kind in the path."""

from __future__ import annotations

from io import BytesIO
from urllib.parse import quote

from flask import Response, request, send_file
from flask.views import MethodView

from api.auth import allow, current_actor, request_now, vault
from api.disputes import CASE_ROLES
from api.inputs import Blueprint
from api.schemas.papers import PaperQuery
from api.security import limited
from core.db import db
from mediation.papers import service
from mediation.papers.enums import NOT_APPLICABLE, PAPER_TITLES

papers_bp = Blueprint(
    "papers",
    __name__,
    url_prefix="/api/v1/disputes",
    description="调解文书（PDF）：" + "、".join(f"{k} {t}" for k, t in PAPER_TITLES.items()),
)
blueprints = [papers_bp]

PDF = "application/pdf"


def _revealed(response) -> bool:
    """Only a printed agreement with full ID numbers counts against the reveal limit."""
    return response.status_code == 200 and request.args.get("reveal", "").lower() in (
        "1",
        "true",
        "yes",
        "on",
        "y",
        "t",
    )


@papers_bp.route("/<string:dispute_id>/papers/<string:kind>")
class Paper(MethodView):
    @allow(*CASE_ROLES)
    @limited("REVEAL_RATE_LIMIT", deduct_when=_revealed)
    @papers_bp.arguments(PaperQuery, location="query")
    @papers_bp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type=PDF,
        description="PDF 文书（下载，记入访问日志）",
    )
    @papers_bp.alt_response(
        409,
        description="该文书不适用于此案件 (" + ", ".join(NOT_APPLICABLE) + ")",
    )
    @papers_bp.alt_response(
        422,
        description="reveal 仅用于协议书 (reveal_not_applicable)；须填写打印原因 (purpose_required)",
    )
    def get(self, args, dispute_id, kind):
        """Print a paper of a case you may see (PDF).

        `kind`: application 申请书/受理登记表, agreement 协议书, oral_agreement 口头协议登记表,
        visits 回访记录 or dossier 卷宗 (cover, contents, every paper, records, timeline).
        Personal data masked; `reveal=1&purpose=…` prints full ID numbers on the agreement only
        (roles that may see ID numbers; each reveal and the download are access-logged)."""
        paper = service.print_paper(
            db.session,
            actor=current_actor(),
            dispute_id=dispute_id,
            kind=kind,
            reveal=args["reveal"],
            purpose=args.get("purpose"),
            vault=vault(),
            ip=request.remote_addr,
            now=request_now(),
        )
        db.session.commit()
        return pdf_download(paper)


def pdf_download(paper) -> Response:
    """A printed paper as a PDF attachment (ASCII name, and the Chinese one per RFC 5987)."""
    response = send_file(BytesIO(paper.pdf), mimetype=PDF, max_age=0)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{paper.ascii_filename}"; '
        f"filename*=UTF-8''{quote(paper.filename, safe='')}"
    )
    return response
