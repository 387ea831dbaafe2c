"""Schemas for disputes: registration, actions, lists and the case file (shape and format only)."""

from __future__ import annotations

import decimal
import math
import re

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.inputs import INT32_MAX
from api.schemas.users import RevealIn
from geo.crs import SYSTEMS, WGS84
from mediation.disputes.enums import (
    AGREEMENT_FORMS,
    COURT_OUTCOMES,
    ETHNICITIES,
    FORCED_RED_FLAGS,
    ID_TYPES,
    KEY_AREAS,
    LEVELS,
    PARTY_KINDS,
    PARTY_ROLES,
    REFERRAL_OUTCOMES,
    REFERRAL_TARGETS,
    REJECT_GROUNDS,
    RISK_LABELS,
    SATISFACTION,
    SEXES,
    SOURCES,
    STATUSES,
    TERMINATION_ROUTES,
    VISIT_METHODS,
    VISIT_RESULTS,
)
from mediation.pii import normalize_phone, normalize_resident_id

_NO_CONTROL = validate.Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", error="不能包含控制字符")


def text(max_len: int, required=True, **kw):
    """A text field without control characters."""
    return fields.String(
        required=required,
        validate=[validate.Length(min=1 if required else 0, max=max_len), _NO_CONTROL],
        **kw,
    )


def one_of(choices, **kw):
    """A string restricted to the keys of an enumeration (documented in OpenAPI)."""
    return fields.String(validate=validate.OneOf(list(choices)), **kw)


MONEY_MAX = 10**11
MONEY_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"


class Money(fields.Decimal):
    """Yuan with at most two decimals, sent as a string ("1200.00") or a JSON number.

    The OpenAPI document states exactly that (a pattern for strings, a range for numbers), so
    that a generated "1e3" or "-0" is something the API refuses, as documented."""

    def __init__(self, **kwargs):
        metadata = {
            "anyOf": [
                {"type": "string", "pattern": MONEY_PATTERN},
                {"type": "number", "minimum": 0, "maximum": MONEY_MAX, "multipleOf": 0.01},
            ],
            "description": '金额（元），最多两位小数，如 "1200.00" 或 1200.5',
            **kwargs.pop("metadata", {}),
        }
        super().__init__(places=2, as_string=True, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError("金额应为数字，如 1200.00")
        if isinstance(value, str) and not re.fullmatch(MONEY_PATTERN, value):
            raise ValidationError("金额格式不对：元，最多两位小数，如 1200.00")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"金额应在 0 到 {MONEY_MAX} 元之间")
        if isinstance(value, float) and decimal.Decimal(repr(value)).as_tuple().exponent < -2:
            # 100.123 is not rounded to 100.12: the phone must say what it means.
            raise ValidationError("金额最多两位小数（元、角、分），如 1200.50")
        number = super()._deserialize(value, attr, data, **kwargs)
        if not number.is_finite() or not 0 <= number <= MONEY_MAX:
            raise ValidationError(f"金额应在 0 到 {MONEY_MAX} 元之间")
        return number


class LocationIn(Schema):
    """Where it happened, in the coordinate system of the phone's map."""

    lon = fields.Float(required=True, allow_nan=False)
    lat = fields.Float(required=True, allow_nan=False)
    crs = fields.String(
        required=True, metadata={"description": "wgs84 / gcj02 / bd09", "enum": list(SYSTEMS)}
    )


class PartyIn(Schema):
    """A party; ID numbers are checked (GB 11643 checksum) and phones normalised."""

    role = one_of(PARTY_ROLES, required=True)
    kind = one_of(PARTY_KINDS, load_default="person")
    name = text(100)
    id_type = one_of(ID_TYPES, load_default=None, allow_none=True)
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=30))
    sex = one_of(
        SEXES, load_default=None, allow_none=True, metadata={"description": "male / female"}
    )
    ethnicity = one_of(
        ETHNICITIES, load_default=None, allow_none=True, metadata={"description": "民族，如 汉族"}
    )
    address = text(
        200,
        required=False,
        load_default=None,
        allow_none=True,
        metadata={"description": "住址（个人信息：加密保存，列表和文书中脱敏）"},
    )

    @validates_schema
    def _check_id_and_phone(self, data, **kwargs):
        errors = {}
        number = data.get("id_number")
        if number:
            id_type = data.get("id_type") or "resident_id"
            data["id_type"] = id_type
            if id_type == "resident_id":
                try:
                    data["id_number"] = normalize_resident_id(number)
                except ValueError as exc:
                    errors["id_number"] = [str(exc)]
            elif not _NO_CONTROL.regex.match(number):
                errors["id_number"] = ["证件号码含有非法字符"]
        if "id_number" not in errors and data.get("sex") and data.get("id_type") == "resident_id":
            # GB 11643: the 17th character is odd for a man, even for a woman.
            if number and ("male" if int(data["id_number"][16]) % 2 else "female") != data["sex"]:
                errors["sex"] = ["性别与身份证号不一致，请核对"]
        if data.get("phone"):
            try:
                data["phone"] = normalize_phone(data["phone"])
            except ValueError as exc:
                errors["phone"] = [str(exc)]
        if errors:
            raise ValidationError(errors)


class RiskIn(Schema):
    """Likelihood and severity 1–5, and any conditions that force RED."""

    likelihood = fields.Integer(load_default=1, validate=validate.Range(min=1, max=5))
    severity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=5))
    flags = fields.List(one_of(FORCED_RED_FLAGS), load_default=list)


class PhotoIn(Schema):
    """A photo sent inline (base64); type and size are checked on the bytes."""

    filename = fields.String(load_default=None, validate=validate.Length(max=200))
    content_base64 = fields.String(required=True)


class DisputeIn(Schema):
    """Registration of a dispute, as sent by the phone (possibly long after it was recorded)."""

    client_id = fields.UUID(
        load_default=None,
        metadata={
            "description": "客户端生成的 UUID：重发同一内容返回原案件（200），内容不同返回 409"
        },
    )
    location = fields.Nested(LocationIn, required=True)
    occurred_at = fields.AwareDateTime(
        required=True, metadata={"description": "纠纷发生时间（带时区）"}
    )
    device_recorded_at = fields.AwareDateTime(
        load_default=None, metadata={"description": "手机上记录的时间"}
    )
    category = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{2,8}$", error="纠纷类别代码应为数字"),
        metadata={
            "description": "纠纷类别代码，如 02 邻里；可用的类别见 GET /api/v1/categories"
            "（停用的类别不能用于新登记）"
        },
    )
    key_areas = fields.List(one_of(KEY_AREAS), load_default=list, validate=validate.Length(max=15))
    source = one_of(SOURCES, load_default="grid_patrol")
    description = text(5000)
    people_involved = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    amount = Money(load_default=None, allow_none=True)
    parties = fields.List(
        fields.Nested(PartyIn), required=True, validate=validate.Length(min=1, max=200)
    )
    risk = fields.Nested(RiskIn, load_default=None)
    photos = fields.List(fields.Nested(PhotoIn), load_default=list, validate=validate.Length(max=9))


class WalkInIn(DisputeIn):
    """A walk-in at the centre's window: a point picked on the map, or only the village chosen
    (then the case is "not located": no coordinates are made up for it)."""

    location = fields.Nested(LocationIn, load_default=None, allow_none=True)
    village_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{12}$")
    )
    address = text(300, required=False, load_default=None, allow_none=True)
    channel = fields.Constant("window")


class ConsentIn(Schema):
    """Both parties agreed to continue past the time limit."""

    applicant = fields.Boolean(required=True)
    respondent = fields.Boolean(required=True)
    recorded_how = text(200, required=False)


class ActionIn(Schema):
    """The payload of an action; which fields are required depends on the action."""

    expected_version = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=INT32_MAX),
        metadata={"description": "案件版本号（也可用 If-Match 头），防止覆盖他人的修改"},
    )
    reason = text(2000, required=False)
    ground = one_of(REJECT_GROUNDS, metadata={"description": "不予受理的法定事由"})
    party_id = fields.Integer(
        validate=validate.Range(min=1, max=INT32_MAX),
        metadata={"description": "明确拒绝调解的当事人（人民调解法第十七条）"},
    )
    note = text(2000, required=False)
    rights_notice = text(500, required=False, metadata={"description": "权利义务告知的方式与时间"})
    notified_at = fields.AwareDateTime()
    held_at = fields.AwareDateTime()
    place = text(200, required=False)
    mediators = text(200, required=False)
    summary = text(5000, required=False)
    to_level = one_of(LEVELS)
    form = one_of(AGREEMENT_FORMS)
    facts = text(5000, required=False, metadata={"description": "纠纷主要事实、争议事项"})
    terms = text(5000, required=False, metadata={"description": "各方当事人的权利义务"})
    performance_method = text(1000, required=False)
    performance_place = text(200, required=False)
    performance_deadline = fields.Date()
    performed_immediately = fields.Boolean()
    amount = Money(allow_none=True)
    routes = fields.List(one_of(TERMINATION_ROUTES), validate=validate.Length(min=1))
    target = one_of(REFERRAL_TARGETS)
    organisation = text(200, required=False)
    body_id = fields.Integer(
        validate=validate.Range(min=1, max=INT32_MAX),
        metadata={"description": "移送到的调解组织（登记册中的编号，可选）"},
    )
    due_on = fields.Date(metadata={"description": "移送：接收方反馈结果的期限（默认 30 天）"})
    outcome = one_of(REFERRAL_OUTCOMES)
    result_on = fields.Date(metadata={"description": "移送结果：接收方作出结果的日期"})
    mediator = text(100, required=False)
    new_due_date = fields.Date()
    consent = fields.Nested(ConsentIn)
    visited_at = fields.AwareDateTime()
    method = one_of(VISIT_METHODS)
    result = one_of(VISIT_RESULTS)
    satisfaction = one_of(SATISFACTION)
    notes = text(2000, required=False)
    location = fields.Nested(LocationIn)
    photo_id = fields.UUID()
    likelihood = fields.Integer(validate=validate.Range(min=1, max=5))
    severity = fields.Integer(validate=validate.Range(min=1, max=5))
    flags = fields.List(
        one_of(FORCED_RED_FLAGS),
        metadata={
            "description": "本次新认定的强制红色情形；此前记录的情形保留，除非列入 clear_flags"
        },
    )
    clear_flags = fields.List(
        one_of(FORCED_RED_FLAGS),
        metadata={"description": "解除此前记录的强制红色情形（须同时写明 reason）"},
    )
    group_dispute = fields.Boolean(
        metadata={
            "description": "set_group_flag：true 认定为群体性纠纷，false 撤销（须写明 reason）"
        }
    )
    leader_id = fields.Integer(validate=validate.Range(min=1, max=INT32_MAX))
    court_outcome = one_of(COURT_OUTCOMES, metadata={"description": "司法确认进展"})
    court = text(200, required=False, metadata={"description": "人民法院名称"})
    decided_on = fields.Date(metadata={"description": "申请、立案或裁定的日期"})


def crs_param(default: str = WGS84):
    """`crs` of a read: the coordinate system points come back in (default WGS-84)."""
    return fields.String(
        load_default=default,
        validate=validate.OneOf(SYSTEMS),
        metadata={
            "description": "返回坐标的坐标系：wgs84（默认）、gcj02（高德/腾讯）、bd09（百度）"
        },
    )


class ListQuery(Schema):
    """Console filters; lists are newest first with a keyset cursor."""

    status = fields.List(one_of(STATUSES))
    handling_level = fields.List(one_of([*LEVELS, "referred"]))
    risk_level = fields.List(one_of(RISK_LABELS))
    category = fields.List(fields.String(validate=validate.Regexp(r"^\d{2,8}$")))
    key_area = fields.List(one_of(KEY_AREAS))
    source = fields.List(one_of(SOURCES))
    overdue = fields.Boolean()
    registered_from = fields.Date()
    registered_to = fields.Date()
    area = fields.String(validate=validate.Regexp(r"^\d{6}(\d{3}){0,3}$"))
    cursor = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    crs = crs_param()


class TaskQuery(Schema):
    """How many tasks."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    crs = crs_param()


class DetailQuery(Schema):
    """In which coordinate system the case's point comes back."""

    crs = crs_param()


class PointOut(Schema):
    """A point, labelled with its coordinate system."""

    lon = fields.Float()
    lat = fields.Float()
    crs = fields.String(metadata={"enum": list(SYSTEMS)})


class SummaryOut(Schema):
    """A case in a list (no personal data)."""

    id = fields.UUID()
    case_number = fields.String()
    status = fields.String()
    status_label = fields.String()
    handling_level = fields.String()
    handling_level_label = fields.String()
    escalation_target = fields.String(allow_none=True)
    category = fields.String()
    category_label = fields.String()
    key_areas = fields.List(fields.String())
    risk_level = fields.String()
    risk_label = fields.String()
    cell_code = fields.String()
    village_code = fields.String()
    township_code = fields.String()
    occurred_at = fields.DateTime()
    registered_at = fields.DateTime()
    next_due_at = fields.DateTime(allow_none=True)
    next_due_kind = fields.String(allow_none=True)
    next_due_provisional = fields.Boolean(
        metadata={"description": "期限跨入尚未导入官方节假日安排的年份，暂按法定节假日计算"}
    )
    overdue = fields.Boolean()
    version = fields.Integer()
    description = fields.String()
    location = fields.Nested(
        PointOut,
        allow_none=True,
        metadata={"description": "发生地点（坐标系见 crs）；未定位的案件为 null"},
    )
    located = fields.Boolean(
        metadata={"description": "false：只有地址和所在村（社区），未定位（不生成坐标）"}
    )
    address = fields.String(allow_none=True, metadata={"description": "地址描述"})


class PageOut(Schema):
    """A page of cases."""

    items = fields.List(fields.Nested(SummaryOut))
    total = fields.Integer()
    next_cursor = fields.String(allow_none=True)


class DetailOut(SummaryOut):
    """The case file (parties masked)."""

    source = fields.String()
    people_involved = fields.Integer()
    amount = fields.Decimal(
        as_string=True, allow_none=True, metadata={"type": "string", "example": "1200.00"}
    )
    location = fields.Dict(
        metadata={
            "description": "lon、lat、crs（按请求的 crs），match、distance_m（定位结果），"
            "outside_own_cells（网格员在自己的网格外登记时：nearest_own_cell、distance_m）；"
            "未定位的案件 match 为 not_located，没有 lon、lat"
        }
    )
    device_recorded_at = fields.DateTime(
        allow_none=True, metadata={"description": "手机上记录的时间（离线登记）"}
    )
    warnings = fields.List(
        fields.Dict(),
        metadata={
            "description": "提醒手机向用户确认的事项（不阻止登记），如 outside_own_cells："
            "登记位置不在登记网格员自己的网格内"
        },
    )
    county_code = fields.String()
    risk_score = fields.Integer()
    leader_id = fields.Integer(allow_none=True)
    group_dispute = fields.Boolean()
    resolved_level = fields.String(allow_none=True)
    recurrence_count = fields.Integer()
    rights_notified_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    mediation_due_on = fields.Date(allow_none=True)
    agreed_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    exit_detail = fields.Dict(allow_none=True)
    parties = fields.List(fields.Dict())
    sessions = fields.List(fields.Dict())
    agreements = fields.List(fields.Dict())
    visits = fields.List(fields.Dict())
    risk_history = fields.List(fields.Dict())
    escalations = fields.List(fields.Dict())
    attachments = fields.List(fields.Dict())
    links = fields.List(fields.Dict())
    court_outcomes = fields.List(
        fields.Dict(),
        metadata={
            "description": "司法确认进展：outcome（applied/filed/confirmed/refused）、court、decided_on"
        },
    )
    timeline = fields.List(fields.Dict())


class EventOut(Schema):
    """One audit event."""

    seq = fields.Integer()
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    at = fields.DateTime(metadata={"description": "服务器记录的时间"})
    device_at = fields.DateTime(
        allow_none=True, metadata={"description": "手机上记录的时间（离线操作；在线操作为空）"}
    )
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    changes = fields.Dict()
    reason = fields.String(allow_none=True)


class PartyRevealIn(RevealIn):
    """Which of a party's fields, and why (written to the access log)."""

    field = fields.String(required=True, validate=validate.OneOf(["phone", "id_number", "address"]))


class AttachmentOut(Schema):
    """A stored file."""

    id = fields.UUID()
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


def upload_field(description: str) -> Upload:
    """The multipart `file` part (必填). The view reads it from request.files, answers 422
    `file_required` when it is missing and checks its bytes; it is declared here so that the
    document shows the body as it goes over the wire."""
    return Upload(metadata={"description": "必填。" + description})


class AttachmentForm(Schema):
    """A multipart upload: the file and what kind of file it is."""

    kind = one_of(["photo", "agreement", "other"], load_default="photo")
    file = upload_field("照片（JPG/PNG/WebP/HEIC）或协议书（PDF），按内容检查类型")
