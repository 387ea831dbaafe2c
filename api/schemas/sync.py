"""Schemas for offline sync: the change stream, the operation batch, photo uploads (shape only)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.inputs import INT32_MAX
from api.schemas.disputes import upload_field
from mediation.sync.push import KINDS


class ChangesQuery(Schema):
    """Where the phone stands; no cursor starts a first (full) sync."""

    cursor = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "上次同步返回的不透明游标；不带则做一次完整同步"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ChangeOut(Schema):
    """One entry of the stream: an upsert with the current state, or a tombstone."""

    type = fields.String(metadata={"description": "case / cell / scope"})
    op = fields.String(
        metadata={
            "description": "upsert（以 data 覆盖本地）/ delete（删除本地）/ resync（角色已变："
            "清空本地，不带游标重新完整同步）"
        }
    )
    id = fields.Raw(metadata={"description": "案件 UUID 或网格代码"})
    data = fields.Dict(
        metadata={
            "description": "当前状态：案件摘要（不含个人信息）+ reminders；网格（geometry 仅在变化时）"
        }
    )
    reason = fields.String(
        metadata={"description": "out_of_scope / deleted / retired / roles_changed"}
    )


class ChangesOut(Schema):
    """One page of the stream."""

    changes = fields.List(fields.Nested(ChangeOut))
    cursor = fields.String(metadata={"description": "下次请求带上的游标（处理完本页后保存）"})
    has_more = fields.Boolean(metadata={"description": "true：立即再拉下一页"})
    reset = fields.Boolean(metadata={"description": "true：完整同步的第一页，先清空本地缓存"})
    enumerations = fields.Dict(metadata={"description": "枚举（仅完整同步的第一页）"})
    config = fields.Dict(metadata={"description": "配置（仅完整同步的第一页）"})


class OperationIn(Schema):
    """One operation made offline."""

    op_id = fields.UUID(
        required=True, metadata={"description": "客户端生成的操作编号（UUID），重发时不变"}
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    case_id = fields.UUID(
        load_default=None,
        metadata={"description": "案件 UUID；register 时为客户端生成的新案件编号"},
    )
    base_version = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=INT32_MAX),
        metadata={"description": "离线操作所依据的案件版本号"},
    )
    action = fields.String(
        load_default=None,
        validate=validate.Length(max=32),
        metadata={"description": "kind=transition 时的流程操作，如 accept、agree"},
    )
    happened_at = fields.AwareDateTime(
        load_default=None, metadata={"description": "手机上发生的时间（设备时间，带时区）"}
    )
    payload = fields.Dict(
        load_default=dict,
        metadata={"description": "与对应普通接口相同的请求体（登记 / 流程操作 / 照片）"},
    )


class OperationsIn(Schema):
    """A batch of offline operations, applied in order."""

    operations = fields.List(
        fields.Nested(OperationIn), required=True, validate=validate.Length(min=1, max=100)
    )


class AttachPhotoIn(Schema):
    """The payload of attach_photo: a photo uploaded earlier by its checksum."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    filename = fields.String(load_default=None, validate=validate.Length(max=200))


class OperationOut(Schema):
    """The answer to one operation."""

    op_id = fields.String()
    kind = fields.String()
    case_id = fields.String(allow_none=True)
    status = fields.String(
        metadata={"description": "applied / already_applied / conflict / rejected"}
    )
    device_time = fields.String(allow_none=True, metadata={"description": "设备时间（发生时间）"})
    received_at = fields.String(metadata={"description": "服务器首次收到的时间"})
    result = fields.Dict(allow_none=True)
    error = fields.Dict(
        allow_none=True, metadata={"description": "code、message、fields、retryable"}
    )
    server = fields.Dict(allow_none=True, metadata={"description": "冲突时服务器上的案件当前状态"})


class OperationsOut(Schema):
    """One answer per operation, in the order sent."""

    results = fields.List(fields.Nested(OperationOut))


class PhotoForm(Schema):
    """Nothing but the multipart `file` field."""

    file = upload_field("照片（JPG/PNG/WebP/HEIC），内容的 SHA-256 须与路径中的一致")


class PhotoOut(Schema):
    """A stored photo."""

    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    stored = fields.String(metadata={"description": "new：新保存；existing：已有，无需再传"})
