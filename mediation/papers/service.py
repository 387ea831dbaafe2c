"""Printing a case's papers: load the visible case, check the paper applies, reveal full ID
numbers only on the agreement and only through the reveal use case, render, log the export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from geo.models import Area, GridCell
from mediation.disputes import queries
from mediation.disputes.enums import GRID, VILLAGE
from mediation.disputes.files import reveal_party_field
from mediation.disputes.models import Agreement
from mediation.papers import content, render
from mediation.papers.enums import AGREEMENT, DOSSIER, KINDS, PAPER_TITLES
from mediation.pii import Vault
from mediation.users.access_log import log_access, require_purpose
from mediation.users.actor import Actor
from mediation.users.enums import ACCESS_EXPORT, REVEAL_ROLES
from mediation.users.models import User


@dataclass(frozen=True)
class Paper:
    """A rendered paper and the names to download it by."""

    pdf: bytes
    filename: str  # Chinese
    ascii_filename: str


def paper_data(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    kind: str,
    now: datetime,
    full_ids: dict[int, str] | None = None,
    case: dict | None = None,
) -> dict:
    """What the paper of `kind` says for a visible case (409 when it does not apply)."""
    if kind not in KINDS:
        raise NotFound("没有这种文书", code="paper_not_found")
    if case is None:
        case = queries.detail(db_session, actor=actor, dispute_id=dispute_id, now=now)
    content.check_applies(case, kind)
    names = _names(db_session, case)
    if kind == AGREEMENT:
        return content.agreement(case, names, full_ids)
    if kind == DOSSIER:
        return content.dossier(case, names, now)
    return getattr(content, kind)(case, names)


def print_paper(
    db_session: Session,
    *,
    actor: Actor,
    dispute_id,
    kind: str,
    reveal: bool,
    purpose: str | None,
    vault: Vault,
    ip: str | None,
    now: datetime,
) -> Paper:
    """Render a paper of a visible case and log its download (flushes; the caller commits).

    Full ID numbers only on the agreement the parties sign, with a stated purpose: each one is
    revealed through `reveal_party_field` (one access-log row per party) and the download is
    logged with the same purpose. Every other paper is masked as the API masks."""
    if kind not in KINDS:
        raise NotFound("没有这种文书", code="paper_not_found")
    if reveal and kind != AGREEMENT:
        raise ValidationFailed(
            "只有当事人签署的人民调解协议书可以显示完整身份证号",
            code="reveal_not_applicable",
            field="reveal",
        )
    case = queries.detail(db_session, actor=actor, dispute_id=dispute_id, now=now)
    content.check_applies(case, kind)
    full_ids = None
    if reveal:
        # reveal_party_field checks this for each number; here too for a case without any,
        # so that the answer does not depend on whether the parties gave ID numbers.
        if not actor.has(*REVEAL_ROLES["id_number"]):
            raise Forbidden("您的角色不能查看完整的个人信息", code="reveal_forbidden")
        purpose = require_purpose(purpose)
        full_ids = {
            p["id"]: reveal_party_field(
                db_session,
                actor=actor,
                dispute_id=case["id"],
                party_id=p["id"],
                field="id_number",
                purpose=purpose,
                vault=vault,
                ip=ip,
                now=now,
            )
            for p in case["parties"]
            if p["id_number"]
        }
    data = paper_data(
        db_session,
        actor=actor,
        dispute_id=case["id"],
        kind=kind,
        now=now,
        full_ids=full_ids,
        case=case,
    )
    pdf = render.pdf(data)
    # Logged once the file exists in full (a failed rendering leaves no row).
    log_access(
        db_session,
        actor=actor,
        action=ACCESS_EXPORT,
        record_type="dispute",
        record_id=str(case["id"]),
        field=f"paper:{kind}" + (":id_number" if reveal else ""),
        purpose=(purpose or "").strip() or f"打印{PAPER_TITLES[kind]}",
        ip=ip,
        now=now,
    )
    number = case["case_number"]
    return Paper(pdf, f"{number}-{PAPER_TITLES[kind]}.pdf", f"{number}-{kind}.pdf")


def _names(db_session: Session, case: dict) -> content.Names:
    """The committee, the areas and the users a paper names."""
    codes = [case["village_code"], case["township_code"]]
    areas = dict(
        db_session.execute(
            select(Area.code, Area.name).where(Area.code.in_(codes), Area.valid_to.is_(None))
        ).all()
    )
    cell = db_session.scalar(
        select(GridCell.name).where(GridCell.code == case["cell_code"]).order_by(GridCell.id.desc())
    )
    recorders = db_session.scalars(
        select(Agreement.recorded_by)
        .where(Agreement.dispute_id == case["id"])
        .order_by(Agreement.id)
    ).all()
    ids = {*recorders, *(v["visitor_id"] for v in case["visits"])}
    users = dict(
        db_session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )
    for a, who in zip(case["agreements"], recorders, strict=False):
        a["recorded_by_name"] = users.get(who, "")
    village = areas.get(case["village_code"], case["village_code"])
    township = areas.get(case["township_code"], case["township_code"])
    # A case handled at the township (or above) is mediated by the township's committee.
    at_township = case["handling_level"] not in (GRID, VILLAGE)
    committee = f"{township if at_township else village}人民调解委员会"
    return content.Names(
        committee=committee,
        village=village,
        township=township,
        cell=cell or case["cell_code"],
        users=users,
    )
