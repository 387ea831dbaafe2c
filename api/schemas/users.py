"""Schemas for login, tokens, users, roles and cell assignments."""

from marshmallow import Schema, fields, validate

from api.inputs import INT32_MAX, INT64_MAX
from mediation.users.enums import ROLES


class LoginIn(Schema):
    """Username and password; name the device so that it can be logged out on its own."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=256), load_only=True
    )
    device_name = fields.String(
        load_default=None, validate=validate.Length(max=100), metadata={"example": "张三的手机"}
    )


class RefreshIn(Schema):
    """The refresh token, in the body (or, as before, in `Authorization: Bearer …`)."""

    refresh_token = fields.String(
        validate=validate.Length(min=1, max=4096),
        load_only=True,
        metadata={"description": "登录时得到的 refresh_token；也可放在 Authorization 头里"},
    )


class RoleIO(Schema):
    """A role and the area it covers."""

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    area_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{6}(\d{3}){0,2}$")
    )
    label = fields.String(dump_only=True)


class CellRef(Schema):
    """A current cell assignment."""

    cell_code = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)


class MeOut(Schema):
    """The logged-in user."""

    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.Nested(RoleIO))
    cells = fields.List(fields.String())


class TokensOut(Schema):
    """An access token (short) and a refresh token (long, single use)."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"description": "访问令牌有效秒数"})
    user = fields.Nested(MeOut)


class PasswordChangeIn(Schema):
    """Change one's own password."""

    old_password = fields.String(required=True, load_only=True)
    new_password = fields.String(required=True, load_only=True)


class UserOut(Schema):
    """A user as the admin API shows it (phone masked)."""

    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    phone = fields.String(attribute="phone_masked", allow_none=True)
    is_active = fields.Boolean()
    locked_until = fields.DateTime(allow_none=True)
    roles = fields.List(fields.Nested(RoleIO))
    created_at = fields.DateTime()


class UserCreateIn(Schema):
    """A new account."""

    username = fields.String(required=True)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True)
    phone = fields.String(load_default=None, allow_none=True)
    roles = fields.List(fields.Nested(RoleIO), required=True)


class UserUpdateIn(Schema):
    """Changes to an account (only the keys sent are changed)."""

    display_name = fields.String(validate=validate.Length(min=1, max=64))
    password = fields.String(load_only=True)
    phone = fields.String(allow_none=True)
    roles = fields.List(fields.Nested(RoleIO))
    is_active = fields.Boolean()


class UserListQuery(Schema):
    """Keyset pagination."""

    after_id = fields.Integer(load_default=0, validate=validate.Range(min=0, max=INT32_MAX))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CellAssignIn(Schema):
    """Assign a cell to a grid worker from a date (today by default)."""

    cell_code = fields.String(required=True, validate=validate.Regexp(r"^\d{15}$"))
    valid_from = fields.Date(load_default=None)


class CellEndIn(Schema):
    """End an assignment on a date (today by default)."""

    valid_to = fields.Date(load_default=None)


class RevealIn(Schema):
    """Why the full value is needed (written to the access log)."""

    field = fields.String(required=True, validate=validate.OneOf(["phone", "id_number"]))
    purpose = fields.String(
        required=True,
        validate=validate.Length(max=200),
        # enforced by the use case (422 purpose_required), after stripping spaces
        metadata={"minLength": 4, "description": "查看原因，至少 4 个字（写入访问日志）"},
    )


class RevealOut(Schema):
    """The full value."""

    field = fields.String()
    value = fields.String(allow_none=True)


class AccessLogOut(Schema):
    """One access-log row."""

    id = fields.Integer()
    user_id = fields.Integer()
    action = fields.String()
    record_type = fields.String()
    record_id = fields.String()
    field = fields.String(allow_none=True)
    purpose = fields.String()
    ip = fields.String(allow_none=True)
    created_at = fields.DateTime()


class AccessLogQuery(Schema):
    """Newest first, keyset pagination."""

    before_id = fields.Integer(load_default=None, validate=validate.Range(min=0, max=INT64_MAX))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
