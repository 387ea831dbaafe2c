"""URL table for the user administration API and the access log."""

from flask import request
from flask.views import MethodView

from api.auth import allow, current_actor, password_hasher, request_now, vault
from api.inputs import Blueprint
from api.schemas.users import (
    AccessLogOut,
    AccessLogQuery,
    CellAssignIn,
    CellEndIn,
    CellRef,
    RevealIn,
    RevealOut,
    UserCreateIn,
    UserListQuery,
    UserOut,
    UserUpdateIn,
)
from api.security import limited
from core.clock import business_date
from core.db import db
from core.errors import ValidationFailed
from mediation.users import access_log, accounts
from mediation.users.enums import (
    ADMIN,
    CENTER_STAFF,
    COUNTY_ADMIN,
    ROLE_LABELS,
    STAFF_PHONE_REVEAL_ROLES,
)

users_bp = Blueprint("users", __name__, url_prefix="/api/v1", description="用户与网格分配（管理）")
blueprints = [users_bp]

MANAGERS = (ADMIN, COUNTY_ADMIN)


def user_dict(user) -> dict:
    """A user with labelled roles."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "phone_masked": user.phone_masked,
        "is_active": user.is_active,
        "locked_until": user.locked_until,
        "roles": [
            {"role": r.role, "area_code": r.area_code, "label": ROLE_LABELS[r.role]}
            for r in user.roles
        ],
        "created_at": user.created_at,
    }


@users_bp.route("/users")
class Users(MethodView):
    @allow(ADMIN, COUNTY_ADMIN, CENTER_STAFF)
    @users_bp.arguments(UserListQuery, location="query")
    @users_bp.response(200, UserOut(many=True))
    def get(self, args):
        """Users the caller may manage (township staff: the grid workers of their township)."""
        users = accounts.list_users(
            db.session, actor=current_actor(), limit=args["limit"], after_id=args["after_id"]
        )
        return [user_dict(u) for u in users]

    @allow(*MANAGERS)
    @users_bp.arguments(UserCreateIn)
    @users_bp.response(201, UserOut)
    def post(self, data):
        """Create an account (county admins: inside their county)."""
        user = accounts.create_user(
            db.session,
            actor=current_actor(),
            vault=vault(),
            ph=password_hasher(),
            now=request_now(),
            **data,
        )
        db.session.commit()
        return user_dict(user)


@users_bp.route("/users/<int:user_id>")
class UserDetail(MethodView):
    @allow(ADMIN, COUNTY_ADMIN, CENTER_STAFF)
    @users_bp.response(200, UserOut)
    def get(self, user_id):
        """One user."""
        return user_dict(accounts.get_user(db.session, user_id=user_id, actor=current_actor()))

    @allow(*MANAGERS)
    @users_bp.arguments(UserUpdateIn)
    @users_bp.response(200, UserOut)
    def patch(self, data, user_id):
        """Change name, phone, roles, password or active flag (deactivation logs out everywhere)."""
        user = accounts.update_user(
            db.session,
            actor=current_actor(),
            user_id=user_id,
            changes=data,
            vault=vault(),
            ph=password_hasher(),
            now=request_now(),
        )
        db.session.commit()
        return user_dict(user)


@users_bp.route("/users/<int:user_id>/cells")
class UserCells(MethodView):
    @allow(ADMIN, COUNTY_ADMIN, CENTER_STAFF)
    @users_bp.response(200, CellRef(many=True))
    def get(self, user_id):
        """A grid worker's current cells."""
        accounts.get_user(db.session, user_id=user_id, actor=current_actor())
        return accounts.current_cells(
            db.session, user_id=user_id, today=business_date(request_now())
        )

    @allow(ADMIN, COUNTY_ADMIN, CENTER_STAFF)
    @users_bp.arguments(CellAssignIn)
    @users_bp.response(201, CellRef)
    def post(self, data, user_id):
        """Assign a cell; the previous grid worker's assignment ends that day."""
        assignment = accounts.assign_cell(
            db.session,
            actor=current_actor(),
            user_id=user_id,
            cell_code=data["cell_code"],
            valid_from=data["valid_from"] or business_date(request_now()),
        )
        db.session.commit()
        return assignment


@users_bp.route("/users/<int:user_id>/cells/<string:cell_code>")
class UserCell(MethodView):
    @allow(ADMIN, COUNTY_ADMIN, CENTER_STAFF)
    @users_bp.arguments(CellEndIn)
    @users_bp.response(200, CellRef)
    def delete(self, data, user_id, cell_code):
        """End an assignment (kept in the history)."""
        assignment = accounts.end_cell_assignment(
            db.session,
            actor=current_actor(),
            user_id=user_id,
            cell_code=cell_code,
            valid_to=data["valid_to"] or business_date(request_now()),
        )
        db.session.commit()
        return assignment


@users_bp.route("/users/<int:user_id>/reveal")
class UserReveal(MethodView):
    @allow(*STAFF_PHONE_REVEAL_ROLES)
    @limited("REVEAL_RATE_LIMIT")
    @users_bp.arguments(RevealIn)
    @users_bp.response(200, RevealOut)
    def post(self, data, user_id):
        """A staff member's full phone number; written to the access log with the purpose."""
        if data["field"] != "phone":
            raise ValidationFailed("用户只有电话号码可以查看", code="invalid_field", field="field")
        value = access_log.reveal_user_phone(
            db.session,
            actor=current_actor(),
            user_id=user_id,
            purpose=data["purpose"],
            vault=vault(),
            ip=request.remote_addr,
            now=request_now(),
        )
        db.session.commit()
        return {"field": "phone", "value": value}


@users_bp.route("/access-log")
class AccessLogList(MethodView):
    @allow(ADMIN, COUNTY_ADMIN)
    @users_bp.arguments(AccessLogQuery, location="query")
    @users_bp.response(200, AccessLogOut(many=True))
    def get(self, args):
        """Who revealed or exported personal data, newest first."""
        return access_log.list_access_log(
            db.session, actor=current_actor(), limit=args["limit"], before_id=args["before_id"]
        )
