"""The console's risk pages (issue 21): the 稳评 register with the disputes each item produced,
an item with the disputes offered for confirmation, and the risk signals with the 研判 meetings —
over the same use cases as /api/v1/risks."""

from __future__ import annotations

from datetime import timedelta

from flask import redirect, render_template, request, url_for

from api.auth import allow, request_now
from api.console import TOWNSHIP_VIEWERS, VIEWERS
from api.console_web.core import bp, console_actor
from api.disputes import settings
from core.clock import BUSINESS_TZ
from core.db import db
from mediation.disputes.enums import RISK_LABELS, STATUS_LABELS
from mediation.reports import console, metrics
from mediation.risks import enums, figures, meetings, register, signals
from mediation.users.enums import CENTER_STAFF, COUNTY_ADMIN

LABELS = {
    "kinds": enums.ITEM_KINDS,
    "ratings": enums.RATINGS,
    "decisions": enums.DECISIONS,
    "stages": enums.ITEM_STAGES,
    "signal_statuses": enums.SIGNAL_STATUSES,
    "meeting_kinds": enums.MEETING_KINDS,
    "risk_labels": RISK_LABELS,
    "status_labels": STATUS_LABELS,
    "definitions": figures.DEFINITIONS,
}


def _area_and_month():
    actor, now = console_actor(), request_now()
    area = request.args.get("area") or console.default_area(actor.case_scope)
    info = console.check_area(db.session, scope=actor.case_scope, code=area)
    month = now.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    return actor, info, metrics.month_period(month), month


@bp.get("/risks", endpoint="risks")
@allow(*VIEWERS)
def risks_page():
    """The 稳评 register of an area with the disputes each item produced, and this month's
    risk figures (signals by key area, 稳评, 专项行动)."""
    actor, info, period, month = _area_and_month()
    items = register.list_items(db.session, actor=actor, filters={"area": info["code"]})
    block = figures.area_figures(db.session, area=info["code"], period=period)
    return render_template(
        "console/risks.html", area=info, month=month, items=items["items"], block=block, **LABELS
    )


@bp.get("/risks/items/<int:item_id>", endpoint="risk_item")
@allow(*VIEWERS)
def risk_item(item_id):
    """A 稳评 item: assessment, decision, checks, linked disputes and those offered."""
    actor = console_actor()
    item = register.item_detail(db.session, actor=actor, item_id=item_id)
    can_link = actor.has(CENTER_STAFF, COUNTY_ADMIN)
    offers = register.offered_disputes(db.session, actor=actor, item_id=item_id) if can_link else []
    return render_template(
        "console/risk_item.html", item=item, offers=offers, can_link=can_link, **LABELS
    )


@bp.post("/risks/items/<int:item_id>/links", endpoint="risk_item_link")
@allow(CENTER_STAFF, COUNTY_ADMIN)
def risk_item_link(item_id):
    """Confirm an offered dispute as produced by the item (the API's link use case)."""
    register.link_dispute(
        db.session,
        actor=console_actor(),
        item_id=item_id,
        dispute_id=request.form.get("dispute_id", ""),
        now=request_now(),
        settings=settings(),
    )
    db.session.commit()
    return redirect(url_for("console_web.risk_item", item_id=item_id))


def _meetings_of(actor, area: str, now) -> list:
    """The township's 研判 meetings, for those who see the township."""
    if not actor.has(*TOWNSHIP_VIEWERS):
        return []
    return meetings.list_meetings(
        db.session, actor=actor, filters={"area": area}, now=now, limit=50
    )


@bp.get("/risks/signals", endpoint="risk_signals")
@allow(*VIEWERS)
def risk_signals():
    """Risk signals of the area (last 90 days) and the township's 研判 meetings."""
    actor, info, _period, _month = _area_and_month()
    now = request_now()
    found = signals.list_signals(
        db.session,
        actor=actor,
        filters={"area": info["code"], "start": now - timedelta(days=90)},
        limit=200,
    )
    rows = _meetings_of(actor, info["code"], now)
    return render_template(
        "console/risk_signals.html", area=info, signals=found, meetings=rows, **LABELS
    )
