"""A screening round may carry the risk signals recorded during it (issue 21): the signals are
checked here, the round is recorded by the screening package, then the signals point to it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, ValidationFailed
from geo.models import GridCell
from mediation.risks.models import RiskSignal
from mediation.risks.signals import signal_visible
from mediation.screening import rounds
from mediation.times import DEFAULT_CLOCK_SKEW
from mediation.users.actor import Actor


def _signals(db_session: Session, actor: Actor, data: dict) -> list[RiskSignal]:
    ids = list(dict.fromkeys(data.get("signal_ids") or []))
    if not ids:
        return []
    found = {
        s.id: s
        for s in db_session.scalars(
            select(RiskSignal)
            .where(RiskSignal.id.in_(ids), signal_visible(actor))
            .with_for_update()
        )
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            "关联的风险隐患不存在或不在您的范围内，请先同步记录的隐患",
            code="signal_not_found",
            field="signal_ids",
            details={"signal_ids": missing},
        )
    village = db_session.scalar(
        select(GridCell.village_code).where(
            GridCell.code == data.get("cell_code"), GridCell.valid_to.is_(None)
        )
    )
    elsewhere = [str(s.id) for s in found.values() if village and s.village_code != village]
    if elsewhere:
        raise ValidationFailed(
            "关联的风险隐患不在本网格所在的村（社区）",
            code="signal_other_village",
            field="signal_ids",
            details={"signal_ids": elsewhere},
        )
    round_id = data.get("client_id")
    taken = [str(s.id) for s in found.values() if s.round_id and s.round_id != round_id]
    if taken:
        raise Conflict(
            "风险隐患已计入另一次排查",
            code="signal_already_found",
            field="signal_ids",
            details={"signal_ids": taken},
        )
    return [found[i] for i in ids]


def record_round(
    db_session: Session,
    *,
    actor: Actor,
    data: dict,
    photos: list,
    now: datetime,
    store,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
):
    """Record a round with its disputes and/or risk signals (or a zero report)."""
    client_id = data.get("client_id")
    if client_id is not None and isinstance(client_id, str):
        data["client_id"] = uuid.UUID(client_id)
    signals = _signals(db_session, actor, data)
    rnd, created = rounds.record_round(
        db_session,
        actor=actor,
        data=data,
        photos=photos,
        now=now,
        store=store,
        clock_skew=clock_skew,
    )
    if created:
        for s in signals:
            s.round_id = rnd.id
        db_session.flush()
    return rnd, created
