"""Schemas of partners, the signed partner endpoints, dispatch, the registry, 督办 and 包案."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.inputs import INT32_MAX
from api.schemas.disputes import LocationIn, PartyIn, one_of, text
from mediation.channels.enums import BODY_KINDS, PARTNER_KINDS
from mediation.channels.oversight import ORDER_KINDS
from mediation.disputes.enums import CATEGORIES, KEY_AREAS, REFERRAL_OUTCOMES

REFERENCE = fields.String(
    required=True,
    validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_.:\-]+$")],
    metadata={
        "description": "合作方自己的工单号（1–64 位字母、数字或 _ . : -）。同一合作方 + 同一工单号"
        "始终对应同一案件：原样重发返回 200 和原案件；内容不同返回 409 reference_conflict",
        "example": "12345-20261203-000123",
    },
)


class PartnerOrderIn(Schema):
    """A work order pushed by a partner system (12345, 信访, 110, a court)."""

    reference = REFERENCE
    occurred_at = fields.AwareDateTime(
        required=True,
        metadata={"description": "纠纷发生时间（带时区，如 2026-12-02T09:30:00+08:00）"},
    )
    deadline = fields.Date(
        load_default=None,
        metadata={
            "description": "合作方要求的办结期限（北京时间日期，如 2026-12-10）；12345 工单必填；"
            "不能早于今天（deadline_in_past）。法院委派调解按此期限办理"
        },
    )
    location = fields.Nested(
        LocationIn,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "纠纷地点坐标（与 village_code 二选一；给坐标时按坐标定位到网格）"
        },
    )
    village_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\d{12}$"),
        metadata={
            "description": "没有坐标时：所在村（社区）的 12 位统计用区划代码。案件标记为“未定位”，"
            "不会生成坐标；代码不存在返回 422 unknown_village"
        },
    )
    address = text(300, required=False, load_default=None, metadata={"description": "地址描述"})
    category = one_of(
        CATEGORIES, required=True, metadata={"description": "纠纷类别代码，如 02 邻里"}
    )
    key_areas = fields.List(one_of(KEY_AREAS), load_default=list, validate=validate.Length(max=15))
    description = text(5000, metadata={"description": "纠纷简要情况"})
    people_involved = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    parties = fields.List(
        fields.Nested(PartyIn), required=True, validate=validate.Length(min=1, max=200)
    )


class OrderReceiptOut(Schema):
    """The case a work order became."""

    case_id = fields.UUID()
    case_number = fields.String(metadata={"description": "本系统案件编号，回传结果时一并给出"})
    reference = fields.String()
    status = fields.String()
    located = fields.Boolean(metadata={"description": "false：只有地址和村（社区），未定位"})
    village_code = fields.String()
    deadline = fields.Date(allow_none=True)


class ReferralResultIn(Schema):
    """The receiving body's result of a case referred to it."""

    outcome = one_of(
        REFERRAL_OUTCOMES,
        required=True,
        metadata={"description": "resolved 已化解 / not_resolved 未化解 / returned 退回"},
    )
    result_on = fields.Date(required=True, metadata={"description": "作出结果的日期"})
    summary = text(2000, metadata={"description": "结果摘要"})
    mediator = text(100, required=False, load_default=None, metadata={"description": "承办人"})


class ResultReceiptOut(Schema):
    """Where the case stands after the result."""

    case_number = fields.String()
    status = fields.String()
    resolved_level = fields.String(allow_none=True)


class PartnerIn(Schema):
    """A partner system registered by the county."""

    code = fields.String(
        required=True, validate=[validate.Length(min=2, max=40), validate.Regexp(r"^[a-z0-9_\-]+$")]
    )
    name = text(100)
    kind = one_of(PARTNER_KINDS, required=True)
    area_code = fields.String(
        required=True,
        validate=validate.Regexp(r"^(\d{6}|\d{9})$"),
        metadata={"description": "范围：县（6 位）或乡镇（9 位）代码"},
    )
    result_url = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "接收结果回传的 http(s) 地址"},
    )


class CredentialOut(Schema):
    """A credential; `secret` is present only in the answer that issued it."""

    key_id = fields.String()
    secret = fields.String(metadata={"description": "只在签发时返回一次，请妥善保存"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class PartnerOut(Schema):
    """A partner system."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    area_code = fields.String()
    result_url = fields.String(allow_none=True)
    active = fields.Boolean()
    credential = fields.Nested(CredentialOut, metadata={"description": "新建时签发的第一个密钥"})


class CallOut(Schema):
    """One logged partner call (no personal data)."""

    id = fields.Integer()
    at = fields.DateTime()
    key_id = fields.String(allow_none=True)
    method = fields.String()
    path = fields.String()
    reference = fields.String(allow_none=True)
    status = fields.Integer()
    result = fields.String()
    dispute_id = fields.UUID(allow_none=True)


class BodyIn(Schema):
    """A mediation body of the county's registry."""

    name = text(100)
    kind = one_of(BODY_KINDS, required=True)
    area_code = fields.String(required=True, validate=validate.Regexp(r"^(\d{6}|\d{9}|\d{12})$"))
    member_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=INT32_MAX)),
        load_default=list,
        validate=validate.Length(max=200),
    )
    partner_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX)
    )


class BodyOut(Schema):
    """A mediation body."""

    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    area_code = fields.String()
    level = fields.String()
    member_ids = fields.List(fields.Integer())
    partner_id = fields.Integer(allow_none=True)


class DispatchIn(Schema):
    """派单: one mediator or one body, and the deadline."""

    assignee_user_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX)
    )
    body_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=INT32_MAX)
    )
    due_on = fields.Date(required=True, metadata={"description": "办结期限"})
    note = text(2000, required=False, load_default=None)


class DispatchDecisionIn(Schema):
    """Accepting needs nothing; returning needs a reason."""

    reason = text(2000, required=False, load_default=None)


class DispatchOut(Schema):
    """A dispatch."""

    id = fields.Integer()
    dispute_id = fields.UUID()
    assignee_user_id = fields.Integer(allow_none=True)
    body_id = fields.Integer(allow_none=True)
    due_on = fields.Date()
    accept_due_at = fields.DateTime()
    status = fields.String(metadata={"description": "pending / accepted / returned"})
    note = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class PendingQuery(Schema):
    """Only what still waits."""

    pending = fields.Boolean(load_default=True)


class SupervisionIn(Schema):
    """挂牌督办 / 领导批示."""

    kind = one_of(ORDER_KINDS, load_default="listed")
    instruction = text(2000)
    due_on = fields.Date(required=True)


class AnswerIn(Schema):
    """The supervised unit's answer."""

    answer = text(2000)


class SupervisionOut(Schema):
    """A supervision order."""

    id = fields.Integer()
    dispute_id = fields.UUID()
    kind = fields.String()
    instruction = fields.String()
    due_on = fields.Date()
    unit_role = fields.String()
    unit_area = fields.String()
    ordered_by = fields.Integer()
    ordered_at = fields.DateTime()
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)


class ProgressIn(Schema):
    """A 包案 entry; `sign_off` true is the 销号 (only after the verifying visit)."""

    note = text(2000)
    sign_off = fields.Boolean(load_default=False)


class ProgressOut(Schema):
    """A 包案 entry."""

    id = fields.Integer()
    kind = fields.String()
    note = fields.String()
    leader_id = fields.Integer()
    at = fields.DateTime()


class ReferralOut(Schema):
    """A referral and its result."""

    id = fields.Integer()
    dispute_id = fields.UUID()
    target = fields.String()
    body_id = fields.Integer(allow_none=True)
    organisation = fields.String(allow_none=True)
    reason = fields.String()
    referred_at = fields.DateTime()
    due_on = fields.Date()
    status = fields.String(
        metadata={"description": "open 待反馈 / closed 已反馈 / returned 已退回"}
    )
    outcome = fields.String(allow_none=True)
    result_on = fields.Date(allow_none=True)
    summary = fields.String(allow_none=True)
    mediator = fields.String(allow_none=True)
    recorded_via = fields.String(allow_none=True)


class ResultSentOut(Schema):
    """A result sent back to the case's partner."""

    id = fields.Integer()
    outcome = fields.String()
    date = fields.String()
    state = fields.String(metadata={"description": "pending 待发送 / sent 已送达 / dead 放弃"})
    attempts = fields.Integer()
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


class PanelOut(Schema):
    """A case's channel panel."""

    dispute_id = fields.UUID()
    case_number = fields.String()
    channel = fields.String()
    channel_label = fields.String()
    partner = fields.Dict(allow_none=True)
    partner_reference = fields.String(allow_none=True)
    external_due_on = fields.Date(allow_none=True)
    located = fields.Boolean()
    address = fields.String(allow_none=True)
    results_sent = fields.List(fields.Nested(ResultSentOut))
    referrals = fields.List(fields.Nested(ReferralOut))
    dispatches = fields.List(fields.Nested(DispatchOut))
    supervision_orders = fields.List(fields.Nested(SupervisionOut))
    progress = fields.List(fields.Nested(ProgressOut))
