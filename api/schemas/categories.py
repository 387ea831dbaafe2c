"""Schemas of the dispute categories (data a deployment extends; codes never reused)."""

from marshmallow import Schema, fields, validate


class CategoryOut(Schema):
    """A dispute category; a retired one stays for old cases but takes no new registrations."""

    code = fields.String(metadata={"example": "02"})
    label = fields.String(metadata={"example": "邻里"})
    position = fields.Integer(metadata={"description": "显示顺序"})
    retired = fields.Boolean(metadata={"description": "已停用：不能用于新登记，旧案件保留"})
    retired_at = fields.DateTime(allow_none=True)


class CategoryListQuery(Schema):
    """Whether retired categories are listed too."""

    include_retired = fields.Boolean(load_default=True)


class CategoryIn(Schema):
    """A new category: a code never used before (2–8 digits) and its Chinese name."""

    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{2,8}$", error="类别代码应为 2 到 8 位数字"),
        metadata={"example": "21"},
    )
    label = fields.String(required=True, validate=validate.Length(min=1, max=50))


class CategoryUpdateIn(Schema):
    """Rename a category, retire it, or bring a retired one back (codes never change)."""

    label = fields.String(validate=validate.Length(min=1, max=50))
    retired = fields.Boolean()
