"""URL table for screening (排查): rounds and zero reports, campaigns, coverage."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask.views import MethodView

from api.auth import allow, current_actor, request_now
from api.disputes import inline_photos, store
from api.inputs import Blueprint, large_json
from api.schemas.screening import (
    CampaignCoverageOut,
    CampaignIn,
    CampaignOut,
    CampaignQuery,
    CoverageQuery,
    MonthlyCoverageOut,
    RoundDetailOut,
    RoundIn,
    RoundPageOut,
    RoundQuery,
)
from core.db import db
from mediation.risks import rounds as risk_rounds
from mediation.screening import campaigns, coverage, rounds
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    VILLAGE_ADMIN,
)

screening_bp = Blueprint(
    "screening", __name__, url_prefix="/api/v1/screening", description="矛盾纠纷排查"
)
blueprints = [screening_bp]

READERS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
LAUNCHERS = (CENTER_STAFF, COUNTY_ADMIN)


@screening_bp.route("/rounds")
class Rounds(MethodView):
    @allow(*READERS)
    @screening_bp.arguments(RoundQuery, location="query")
    @screening_bp.response(200, RoundPageOut)
    def get(self, args):
        """Rounds in my area, newest first: filter by area (cell/village/…), month, zero report."""
        limit = args.pop("limit")
        return rounds.list_rounds(db.session, actor=current_actor(), filters=args, limit=limit)

    @allow(GRID_WORKER)
    @large_json
    @screening_bp.arguments(RoundIn)
    @screening_bp.response(201, RoundDetailOut)
    @screening_bp.alt_response(
        200, schema=RoundDetailOut, description="同一 client_id 与相同内容的重发：返回原记录"
    )
    @screening_bp.alt_response(409, description="同一 client_id 但内容不同 (client_id_conflict)")
    def post(self, data):
        """Record a round of one of my cells: the disputes and risk signals recorded during it,
        or 零报告."""
        rnd, created = risk_rounds.record_round(  # issue 21: a round may carry risk signals
            db.session,
            actor=current_actor(),
            data=data,
            photos=inline_photos(data),
            now=request_now(),
            store=store(),
            clock_skew=timedelta(seconds=current_app.config["CLOCK_SKEW_SECONDS"]),
        )
        db.session.commit()
        body = rounds.round_detail(db.session, actor=current_actor(), round_id=rnd.id)
        return body, 201 if created else 200


@screening_bp.route("/rounds/<string:round_id>")
class RoundDetail(MethodView):
    @allow(*READERS)
    @screening_bp.response(200, RoundDetailOut)
    def get(self, round_id):
        """A round: what was covered, the disputes it found, photos, track (WGS-84)."""
        return rounds.round_detail(db.session, actor=current_actor(), round_id=round_id)


@screening_bp.route("/campaigns")
class Campaigns(MethodView):
    @allow(*READERS)
    @screening_bp.arguments(CampaignQuery, location="query")
    @screening_bp.response(200, CampaignOut(many=True))
    def get(self, args):
        """Campaigns over or inside my area (the monthly routine ones and 专项排查)."""
        limit = args.pop("limit")
        return campaigns.list_campaigns(
            db.session, actor=current_actor(), filters=args, limit=limit
        )

    @allow(*LAUNCHERS)
    @screening_bp.arguments(CampaignIn)
    @screening_bp.response(201, CampaignOut)
    def post(self, data):
        """Launch a 专项排查 for an area of my township (or county): every cell owes a round."""
        campaign = campaigns.launch_campaign(
            db.session, actor=current_actor(), data=data, now=request_now()
        )
        db.session.commit()
        return campaign


@screening_bp.route("/campaigns/<int:campaign_id>/coverage")
class CampaignCoverage(MethodView):
    @allow(*READERS)
    @screening_bp.response(200, CampaignCoverageOut)
    def get(self, campaign_id):
        """Per cell: screened, missing or overdue, last round, grid worker; totals; found by
        key area — over the cells of the campaign I may see."""
        return coverage.campaign_coverage(
            db.session, actor=current_actor(), campaign_id=campaign_id, now=request_now()
        )


@screening_bp.route("/coverage")
class MonthlyCoverage(MethodView):
    @allow(*READERS)
    @screening_bp.arguments(CoverageQuery, location="query")
    @screening_bp.response(200, MonthlyCoverageOut)
    def get(self, args):
        """A month's screening in an area of mine, by child area (township → villages → cells):
        排查次数, 零报告, 排查发现矛盾纠纷数, coverage."""
        return coverage.monthly_coverage(
            db.session, actor=current_actor(), area=args["area"], month=args["month"]
        )
