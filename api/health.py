"""URL table for the health check."""

from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text

from api.auth import allow, request_now
from api.inputs import Blueprint
from core.db import db
from mediation.calendar import calendar_warning, loaded_years

health_bp = Blueprint("health", __name__, url_prefix="/api/v1", description="运行状态")
blueprints = [health_bp]


class CalendarStatus(Schema):
    """Which years' official holiday notices are loaded; a warning from 1 November while next
    year's is missing (its deadlines are then provisional)."""

    years_loaded = fields.List(fields.Integer())
    missing_year = fields.Integer(allow_none=True)
    warning = fields.String(allow_none=True)


class HealthOut(Schema):
    """Service status."""

    status = fields.String(metadata={"example": "ok"})
    database = fields.String(metadata={"example": "ok"})
    postgis = fields.String()
    calendar = fields.Nested(CalendarStatus)


@health_bp.route("/health")
class Health(MethodView):
    @allow(public=True)
    @health_bp.response(200, HealthOut)
    def get(self):
        """Check that the service and its database answer."""
        version = db.session.execute(text("SELECT postgis_lib_version()")).scalar()
        years = loaded_years(db.session)
        warning = calendar_warning(db.session, now=request_now(), years=years)
        return {
            "status": "ok",
            "database": "ok",
            "postgis": version,
            "calendar": {
                "years_loaded": sorted(years),
                "missing_year": warning["year"] if warning else None,
                "warning": warning["message"] if warning else None,
            },
        }
