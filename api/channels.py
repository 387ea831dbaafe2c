"""URL table for dispatch (派单), the registry of mediation bodies, 挂牌督办/领导批示, 包案
progress and a case's channel panel."""

from __future__ import annotations

from flask.views import MethodView

from api.auth import allow, current_actor, request_now
from api.disputes import settings
from api.inputs import Blueprint
from api.schemas.channels import (
    AnswerIn,
    BodyIn,
    BodyOut,
    DispatchDecisionIn,
    DispatchIn,
    DispatchOut,
    PanelOut,
    PendingQuery,
    ProgressIn,
    ProgressOut,
    ReferralOut,
    SupervisionIn,
    SupervisionOut,
)
from core.db import db
from mediation.channels import bodies, dispatch, oversight, panel
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    VILLAGE_ADMIN,
)

channels_bp = Blueprint(
    "channels", __name__, url_prefix="/api/v1", description="派单、调解组织、挂牌督办与包案"
)
blueprints = [channels_bp]
CASE_ROLES = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
DISPATCHERS = (CENTER_STAFF, COUNTY_ADMIN)
ASSIGNEES = (MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)
UNITS = (VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)


@channels_bp.route("/mediation-bodies")
class Bodies(MethodView):
    @allow(MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
    @channels_bp.response(200, BodyOut(many=True))
    def get(self):
        """The registry of mediation bodies of my county (调委会, 行业性专业性调委会, 法院 …)."""
        return bodies.list_bodies(db.session, actor=current_actor())

    @allow(COUNTY_ADMIN)
    @channels_bp.arguments(BodyIn)
    @channels_bp.response(201, BodyOut)
    @channels_bp.alt_response(404, description="区域不在本县 area_not_found")
    @channels_bp.alt_response(409, description="同名调解组织 body_name_taken")
    def post(self, data):
        """Add a body to my county's registry, with its mediators."""
        body = bodies.create_body(db.session, actor=current_actor(), now=request_now(), **data)
        db.session.commit()
        return body


@channels_bp.route("/disputes/<string:dispute_id>/dispatches")
class Dispatches(MethodView):
    @allow(*DISPATCHERS)
    @channels_bp.arguments(DispatchIn)
    @channels_bp.response(201, DispatchOut)
    @channels_bp.alt_response(409, description="已有待接收的派单 dispatch_pending")
    def post(self, data, dispute_id):
        """派单: give the case to a named mediator or a body, with a deadline."""
        d = dispatch.dispatch_case(
            db.session,
            actor=current_actor(),
            dispute_id=dispute_id,
            now=request_now(),
            limits=settings().limits,
            **data,
        )
        db.session.commit()
        return d


@channels_bp.route("/dispatches")
class DispatchList(MethodView):
    @allow(*CASE_ROLES)
    @channels_bp.arguments(PendingQuery, location="query")
    @channels_bp.response(200, DispatchOut(many=True))
    def get(self, args):
        """Dispatches addressed to me or on the cases I see (pending only by default)."""
        return dispatch.list_dispatches(
            db.session, actor=current_actor(), pending_only=args["pending"]
        )


def _decide(dispatch_id: int, reason, accept: bool):
    d = dispatch.decide_dispatch(
        db.session,
        actor=current_actor(),
        dispatch_id=dispatch_id,
        accept=accept,
        reason=reason,
        now=request_now(),
    )
    db.session.commit()
    return d


@channels_bp.route("/dispatches/<int:dispatch_id>/accept")
class AcceptDispatch(MethodView):
    @allow(*ASSIGNEES)
    @channels_bp.arguments(DispatchDecisionIn)
    @channels_bp.response(200, DispatchOut)
    def post(self, data, dispatch_id):
        """The assignee accepts the dispatch (the case moves to the assignee's level)."""
        return _decide(dispatch_id, data.get("reason"), accept=True)


@channels_bp.route("/dispatches/<int:dispatch_id>/return")
class ReturnDispatch(MethodView):
    @allow(*ASSIGNEES)
    @channels_bp.arguments(DispatchDecisionIn)
    @channels_bp.response(200, DispatchOut)
    def post(self, data, dispatch_id):
        """The assignee returns the dispatch with a reason (back to the centre)."""
        return _decide(dispatch_id, data.get("reason"), accept=False)


@channels_bp.route("/disputes/<string:dispute_id>/supervision-orders")
class SupervisionOrders(MethodView):
    @allow(LEADER, COUNTY_ADMIN)
    @channels_bp.arguments(SupervisionIn)
    @channels_bp.response(201, SupervisionOut)
    @channels_bp.alt_response(409, description="已办结的案件不能挂牌督办 (wrong_status)")
    def post(self, data, dispute_id):
        """挂牌督办 / 领导批示: an instruction with a deadline for the unit handling the case."""
        o = oversight.order_supervision(
            db.session, actor=current_actor(), dispute_id=dispute_id, now=request_now(), **data
        )
        db.session.commit()
        return o


@channels_bp.route("/supervision-orders")
class SupervisionList(MethodView):
    @allow(*CASE_ROLES)
    @channels_bp.arguments(PendingQuery, location="query")
    @channels_bp.response(200, SupervisionOut(many=True))
    def get(self, args):
        """Supervision orders on the cases I see (unanswered only by default)."""
        return oversight.list_orders(db.session, actor=current_actor(), open_only=args["pending"])


@channels_bp.route("/supervision-orders/<int:order_id>/answer")
class AnswerSupervision(MethodView):
    @allow(*UNITS)
    @channels_bp.arguments(AnswerIn)
    @channels_bp.response(200, SupervisionOut)
    def post(self, data, order_id):
        """The supervised unit answers the order."""
        o = oversight.answer_supervision(
            db.session,
            actor=current_actor(),
            order_id=order_id,
            answer=data["answer"],
            now=request_now(),
        )
        db.session.commit()
        return o


@channels_bp.route("/disputes/<string:dispute_id>/leader-progress")
class LeaderProgress(MethodView):
    @allow(LEADER)
    @channels_bp.arguments(ProgressIn)
    @channels_bp.response(201, ProgressOut)
    @channels_bp.alt_response(
        409, description="未经回访核实化解不能销号 sign_off_before_verification"
    )
    def post(self, data, dispute_id):
        """A 包案领导's progress entry on their RED case, or its 销号 after the verifying visit."""
        entry = oversight.add_progress(
            db.session, actor=current_actor(), dispute_id=dispute_id, now=request_now(), **data
        )
        db.session.commit()
        return entry


@channels_bp.route("/referrals")
class Referrals(MethodView):
    @allow(*CASE_ROLES)
    @channels_bp.arguments(PendingQuery, location="query")
    @channels_bp.response(200, ReferralOut(many=True))
    def get(self, args):
        """Referrals of the cases I see: open ones stay until the receiving body's result."""
        return panel.list_referrals(db.session, actor=current_actor(), open_only=args["pending"])


@channels_bp.route("/disputes/<string:dispute_id>/channel")
class CasePanel(MethodView):
    @allow(*CASE_ROLES)
    @channels_bp.response(200, PanelOut)
    def get(self, dispute_id):
        """How the case came in, results sent back, referrals, dispatches, 督办 and 包案."""
        return panel.case_panel(db.session, actor=current_actor(), dispute_id=dispute_id)
