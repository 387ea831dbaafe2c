"""URL table for the health check."""

from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text

from api.auth import allow
from api.inputs import Blueprint
from extensions import db

health_bp = Blueprint("health", __name__, url_prefix="/api/v1", description="运行状态")
blueprints = [health_bp]


class HealthOut(Schema):
    """Service status."""

    status = fields.String(metadata={"example": "ok"})
    database = fields.String(metadata={"example": "ok"})
    postgis = fields.String()


@health_bp.route("/health")
class Health(MethodView):
    @allow(public=True)
    @health_bp.response(200, HealthOut)
    def get(self):
        """Check that the service and its database answer."""
        version = db.session.execute(text("SELECT postgis_lib_version()")).scalar()
        return {"status": "ok", "database": "ok", "postgis": version}
