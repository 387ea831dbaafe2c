"""Query of a printed paper: masked by default; the agreement with full ID numbers on request."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class PaperQuery(Schema):
    """reveal=1 with a purpose prints full ID numbers on the agreement (access-logged)."""

    reveal = fields.Boolean(
        load_default=False,
        metadata={
            "description": "仅限人民调解协议书：显示当事人完整身份证号（须填写 purpose，记入访问日志）"
        },
    )
    purpose = fields.String(
        validate=validate.Length(max=200),
        # enforced by the use case (422 purpose_required) when reveal is set, after stripping
        metadata={"description": "打印原因；reveal=1 时必填，至少 4 个字（写入访问日志）"},
    )
