"""The console's 派单·移送·督办 page: dispatches waiting for acceptance, referrals waiting for the
receiving body's result, supervision orders waiting for an answer — the API's own queries."""

from __future__ import annotations

from flask import render_template

from api.auth import allow
from api.console_web.core import bp, console_actor
from api.disputes import CASE_ROLES
from core.db import db
from mediation.channels import dispatch, oversight, panel
from mediation.disputes.enums import REFERRAL_OUTCOMES, REFERRAL_TARGETS


@bp.get("/channels", endpoint="channels")
@allow(*CASE_ROLES)
def channels_page():
    """Open dispatches, open referrals and unanswered 督办 of the cases I see."""
    actor = console_actor()
    return render_template(
        "console/channels.html",
        dispatches=dispatch.list_dispatches(db.session, actor=actor, pending_only=True),
        referrals=panel.list_referrals(db.session, actor=actor, open_only=True),
        orders=oversight.list_orders(db.session, actor=actor, open_only=True),
        numbers=panel.case_numbers(db.session, actor=actor),
        referral_targets=REFERRAL_TARGETS,
        referral_outcomes=REFERRAL_OUTCOMES,
    )
