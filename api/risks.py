"""URL table for major risks (issue 21): the 稳评 register, risk signals, 研判 meetings."""

from __future__ import annotations

from flask.views import MethodView

from api.auth import allow, current_actor, request_now
from api.disputes import settings
from api.inputs import Blueprint
from api.schemas.risks import (
    AssessIn,
    AttachIn,
    CaseRowOut,
    CheckIn,
    ConvertIn,
    DecideIn,
    DecisionOut,
    ItemDetailOut,
    ItemIn,
    ItemPageOut,
    ItemQuery,
    LinkIn,
    LinkOut,
    MeetingIn,
    MeetingOut,
    MeetingQuery,
    NoteIn,
    SignalAssessIn,
    SignalIn,
    SignalOut,
    SignalPageOut,
    SignalQuery,
)
from core.db import db
from mediation.risks import meetings, register, signals
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    VILLAGE_ADMIN,
)

risks_bp = Blueprint(
    "risks",
    __name__,
    url_prefix="/api/v1/risks",
    description="重大风险防范：社会稳定风险评估（稳评）台账、风险隐患（非矛盾纠纷）、研判会议。"
    "稳评事项关联的在办矛盾纠纷风险色不低于事项的“底线”：高风险 → 橙色、中风险 → 黄色，"
    "关联在办纠纷达 2 件再升一级，最高橙色（红色仍由人研判并指定包案领导）。",
)
blueprints = [risks_bp]

READERS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
REGISTRARS = (CENTER_STAFF, COUNTY_ADMIN)
SIGNAL_WRITERS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)
MEETING_READERS = (CENTER_STAFF, LEADER, COUNTY_ADMIN)


def _detail(item_id, **extra):
    body = register.item_detail(db.session, actor=current_actor(), item_id=item_id)
    return {**body, **extra}


def _signal(signal_id):
    s = signals.get_signal(db.session, actor=current_actor(), signal_id=signal_id)
    return signals.signal_row(s)


@risks_bp.route("/items")
class Items(MethodView):
    @allow(*READERS)
    @risks_bp.arguments(ItemQuery, location="query")
    @risks_bp.response(200, ItemPageOut)
    def get(self, args):
        """The 稳评 register of my area, newest first, with the disputes each item produced."""
        return register.list_items(db.session, actor=current_actor(), filters=args)

    @allow(*REGISTRARS)
    @risks_bp.arguments(ItemIn)
    @risks_bp.response(201, ItemDetailOut)
    def post(self, data):
        """Register a project, policy or event of my township (polygon inside it, or villages)."""
        item = register.register_item(
            db.session, actor=current_actor(), data=data, now=request_now()
        )
        db.session.commit()
        return _detail(item.id)


@risks_bp.route("/items/<int:item_id>")
class ItemDetail(MethodView):
    @allow(*READERS)
    @risks_bp.response(200, ItemDetailOut)
    def get(self, item_id):
        """A 稳评 item: zone, assessment, decision, checks, linked disputes and signals."""
        return _detail(item_id)


@risks_bp.route("/items/<int:item_id>/assessment")
class ItemAssessment(MethodView):
    @allow(*REGISTRARS)
    @risks_bp.arguments(AssessIn)
    @risks_bp.response(200, ItemDetailOut)
    def post(self, data, item_id):
        """Assess (high / medium / low, risk points, measures); linked open cases are raised."""
        out = register.assess_item(
            db.session,
            actor=current_actor(),
            item_id=item_id,
            data=data,
            now=request_now(),
            settings=settings(),
        )
        db.session.commit()
        return _detail(item_id, **out)


@risks_bp.route("/items/<int:item_id>/decision")
class ItemDecision(MethodView):
    @allow(*REGISTRARS)
    @risks_bp.arguments(DecideIn)
    @risks_bp.response(200, ItemDetailOut)
    def post(self, data, item_id):
        """Record the decision: proceed / proceed with measures / postpone."""
        register.decide_item(
            db.session, actor=current_actor(), item_id=item_id, data=data, now=request_now()
        )
        db.session.commit()
        return _detail(item_id)


@risks_bp.route("/items/<int:item_id>/checks")
class ItemChecks(MethodView):
    @allow(*REGISTRARS)
    @risks_bp.arguments(CheckIn)
    @risks_bp.response(201, ItemDetailOut)
    def post(self, data, item_id):
        """A follow-up check after the decision."""
        register.record_check(
            db.session, actor=current_actor(), item_id=item_id, data=data, now=request_now()
        )
        db.session.commit()
        return _detail(item_id)


@risks_bp.route("/items/<int:item_id>/offers")
class ItemOffers(MethodView):
    @allow(*REGISTRARS, LEADER)
    @risks_bp.response(200, CaseRowOut(many=True))
    def get(self, item_id):
        """Disputes in the item's area and key areas, not yet linked: to confirm by a person."""
        return register.offered_disputes(db.session, actor=current_actor(), item_id=item_id)


@risks_bp.route("/items/<int:item_id>/links")
class ItemLinks(MethodView):
    @allow(*REGISTRARS)
    @risks_bp.arguments(LinkIn)
    @risks_bp.response(200, LinkOut)
    def post(self, data, item_id):
        """Confirm that a dispute of the item's township arose from it (idempotent)."""
        out = register.link_dispute(
            db.session,
            actor=current_actor(),
            item_id=item_id,
            dispute_id=data["dispute_id"],
            now=request_now(),
            settings=settings(),
        )
        db.session.commit()
        return out


@risks_bp.route("/signals")
class Signals(MethodView):
    @allow(*READERS)
    @risks_bp.arguments(SignalQuery, location="query")
    @risks_bp.response(200, SignalPageOut)
    def get(self, args):
        """Risk signals of my area (and mine), newest first."""
        return signals.list_signals(db.session, actor=current_actor(), filters=args)

    @allow(GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF)
    @risks_bp.arguments(SignalIn)
    @risks_bp.response(201, SignalOut)
    @risks_bp.alt_response(200, schema=SignalOut, description="同一 client_id 与相同内容的重发")
    @risks_bp.alt_response(409, description="同一 client_id 但内容不同 (client_id_conflict)")
    def post(self, data):
        """Record a risk signal (隐患) at a place in one of the 15 key areas."""
        s, created = signals.record_signal(
            db.session, actor=current_actor(), data=data, now=request_now(), settings=settings()
        )
        db.session.commit()
        return signals.signal_row(s), 201 if created else 200


@risks_bp.route("/signals/<string:signal_id>")
class SignalDetail(MethodView):
    @allow(*READERS)
    @risks_bp.response(200, SignalOut)
    def get(self, signal_id):
        """A risk signal."""
        return _signal(signal_id)


def _signal_step(name: str, path: str, schema, use_case, summary: str):
    """One POST endpoint on a signal: load, call the use case, commit, answer the signal."""

    class Step(MethodView):
        @allow(*SIGNAL_WRITERS)
        @risks_bp.arguments(schema)
        @risks_bp.response(200, SignalOut)
        def post(self, data, signal_id):
            use_case(
                db.session, actor=current_actor(), signal_id=signal_id, data=data, now=request_now()
            )
            db.session.commit()
            return _signal(signal_id)

    Step.post.__doc__ = summary
    Step.__name__ = Step.__qualname__ = name
    return risks_bp.route(f"/signals/<string:signal_id>/{path}")(Step)


SignalAssessment = _signal_step(
    "SignalAssessment",
    "assessment",
    SignalAssessIn,
    signals.assess_signal,
    "Assess a signal with the dispute risk matrix (L × S).",
)
SignalFollowUps = _signal_step(
    "SignalFollowUps",
    "follow-ups",
    NoteIn,
    signals.follow_up,
    "Record a follow-up of an open signal.",
)
SignalClose = _signal_step(
    "SignalClose",
    "close",
    NoteIn,
    signals.close_signal,
    "Close a signal: the risk is gone (how, in the note).",
)
SignalConvert = _signal_step(
    "SignalConvert",
    "convert",
    ConvertIn,
    lambda s, *, data, **kw: signals.convert_signal(s, dispute_id=data["dispute_id"], **kw),
    "The signal became a dispute (registered as usual): link them (idempotent).",
)
SignalAttach = _signal_step(
    "SignalAttach",
    "attach",
    AttachIn,
    lambda s, *, data, **kw: signals.attach_signal(s, item_id=data["item_id"], **kw),
    "Attach a signal to a 稳评 item of its township.",
)


@risks_bp.route("/meetings")
class Meetings(MethodView):
    @allow(*MEETING_READERS)
    @risks_bp.arguments(MeetingQuery, location="query")
    @risks_bp.response(200, MeetingOut(many=True))
    def get(self, args):
        """研判 meetings of my township (or county), newest first, with their decisions."""
        return meetings.list_meetings(
            db.session, actor=current_actor(), filters=args, now=request_now()
        )

    @allow(*REGISTRARS)
    @risks_bp.arguments(MeetingIn)
    @risks_bp.response(201, MeetingOut)
    def post(self, data):
        """Record a meeting; each decision becomes a supervised task of the person responsible."""
        m = meetings.record_meeting(db.session, actor=current_actor(), data=data, now=request_now())
        db.session.commit()
        return meetings.meeting_row(db.session, m, request_now())


@risks_bp.route("/meetings/<int:meeting_id>")
class MeetingDetail(MethodView):
    @allow(*MEETING_READERS)
    @risks_bp.response(200, MeetingOut)
    def get(self, meeting_id):
        """A 研判 meeting with its decisions."""
        return meetings.get_meeting(
            db.session, actor=current_actor(), meeting_id=meeting_id, now=request_now()
        )


@risks_bp.route("/decisions/<int:decision_id>/complete")
class DecisionComplete(MethodView):
    @allow(*READERS)
    @risks_bp.arguments(NoteIn)
    @risks_bp.response(200, DecisionOut)
    def post(self, data, decision_id):
        """Report a decision carried out (the person responsible or the centre)."""
        row = meetings.complete_decision(
            db.session,
            actor=current_actor(),
            decision_id=decision_id,
            data=data,
            now=request_now(),
        )
        db.session.commit()
        return meetings.decision_row(row, request_now())
