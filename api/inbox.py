"""URL table for the in-app inbox of reminders (polled or synced by the app and the consoles)."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.auth import allow, current_actor, request_now
from api.inputs import INT64_MAX, Blueprint
from core.db import db
from mediation.reminders import service

inbox_bp = Blueprint("inbox", __name__, url_prefix="/api/v1/inbox", description="提醒与督办收件箱")
blueprints = [inbox_bp]


class InboxQuery(Schema):
    """Newest first; `before_id` pages back."""

    unread_only = fields.Boolean(load_default=False)
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=0, max=INT64_MAX))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ReminderOut(Schema):
    """A reminder as its recipient sees it."""

    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    state = fields.String(metadata={"description": "due / sent / acknowledged"})
    dispute_id = fields.UUID(allow_none=True)
    area_code = fields.String()
    due_at = fields.DateTime()
    remind_at = fields.DateTime()
    fired_at = fields.DateTime(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    body = fields.Dict()


class CountOut(Schema):
    """Unread reminders."""

    unread = fields.Integer()


@inbox_bp.route("")
class Inbox(MethodView):
    @allow()
    @inbox_bp.arguments(InboxQuery, location="query")
    @inbox_bp.response(200, ReminderOut(many=True))
    def get(self, args):
        """My reminders and supervision items that have fired."""
        return service.inbox(
            db.session,
            actor=current_actor(),
            limit=args["limit"],
            before_id=args["before_id"],
            unread_only=args["unread_only"],
        )


@inbox_bp.route("/unread-count")
class UnreadCount(MethodView):
    @allow()
    @inbox_bp.response(200, CountOut)
    def get(self):
        """How many are not acknowledged yet (for the app's badge)."""
        return {"unread": service.unread_count(db.session, actor=current_actor())}


@inbox_bp.route("/<int(max=9223372036854775807):reminder_id>/ack")
class Acknowledge(MethodView):
    @allow()
    @inbox_bp.response(200, ReminderOut)
    def post(self, reminder_id):
        """Acknowledge one of my reminders (idempotent)."""
        r = service.acknowledge(
            db.session, actor=current_actor(), reminder_id=reminder_id, now=request_now()
        )
        db.session.commit()
        return r
