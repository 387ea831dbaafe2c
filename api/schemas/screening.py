"""Schemas for screening: rounds, campaigns, coverage (shape and format only)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.disputes import PhotoIn, one_of, text
from geo.crs import SYSTEMS
from mediation.screening.enums import CAMPAIGN_KINDS, KEY_AREAS

# years as every other date of the API (api.inputs: 1900–2999)
_MONTH = validate.Regexp(
    r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])$", error="月份格式应为 YYYY-MM（1900–2999 年）"
)
_AREA = validate.Regexp(r"^\d{6}(\d{3}){0,3}$", error="区划或网格代码格式不对")


class TrackIn(Schema):
    """The track walked (LineString) or the points visited (MultiPoint), in the phone's system."""

    type = fields.String(required=True, metadata={"description": "LineString / MultiPoint"})
    coordinates = fields.List(
        fields.List(fields.Float(allow_nan=False)),
        required=True,
        metadata={"description": "[[经度, 纬度], …]"},
    )
    crs = fields.String(
        required=True, metadata={"description": "wgs84 / gcj02 / bd09", "enum": list(SYSTEMS)}
    )


class RoundIn(Schema):
    """A screening round as the phone sends it (possibly long after it was walked)."""

    client_id = fields.UUID(
        load_default=None,
        metadata={
            "description": "客户端生成的 UUID：重发同一内容返回原记录（200），内容不同返回 409"
        },
    )
    cell_code = fields.String(
        required=True, validate=validate.Regexp(r"^\d{15}$", error="网格代码应为 15 位数字")
    )
    screened_at = fields.AwareDateTime(
        required=True, metadata={"description": "排查时间（带时区）"}
    )
    households_visited = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))
    key_areas = fields.List(one_of(KEY_AREAS), load_default=list, validate=validate.Length(max=15))
    zero_report = fields.Boolean(
        load_default=False,
        metadata={"description": "零报告：本次排查未发现矛盾纠纷（此时不能关联案件）"},
    )
    dispute_ids = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "本次排查中登记的案件（先同步案件，再提交排查记录）"},
    )
    signal_ids = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "本次排查中记录的风险隐患（非矛盾纠纷，先同步隐患）"},
    )
    notes = text(2000, required=False, load_default=None, allow_none=True)
    track = fields.Nested(TrackIn, load_default=None, allow_none=True)
    photos = fields.List(fields.Nested(PhotoIn), load_default=list, validate=validate.Length(max=9))


class RoundQuery(Schema):
    """Filters of the round list."""

    area = fields.String(validate=_AREA, metadata={"description": "区划或网格代码（前缀）"})
    month = fields.String(validate=_MONTH)
    zero_report = fields.Boolean()
    before = fields.AwareDateTime(metadata={"description": "只列出此时间之前的（翻页）"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class RoundOut(Schema):
    """A round in a list."""

    id = fields.UUID()
    cell_code = fields.String()
    village_code = fields.String()
    township_code = fields.String()
    worker_id = fields.Integer()
    worker_name = fields.String(allow_none=True)
    screened_at = fields.DateTime()
    received_at = fields.DateTime()
    households_visited = fields.Integer()
    key_areas = fields.List(fields.String())
    zero_report = fields.Boolean()
    found_count = fields.Integer()
    notes = fields.String(allow_none=True)


class RoundPageOut(Schema):
    """A page of rounds."""

    items = fields.List(fields.Nested(RoundOut))
    total = fields.Integer()


class RoundDetailOut(RoundOut):
    """A round with the disputes it found, its photos and its track (WGS-84 GeoJSON)."""

    disputes = fields.List(fields.Dict())
    photos = fields.List(fields.Dict())
    track = fields.Dict(allow_none=True)


class CampaignIn(Schema):
    """A 专项排查: area, window, due date, optional key areas."""

    title = text(200)
    area_code = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{6}(\d{3}){0,2}$", error="区划代码应为 6、9 或 12 位数字"),
    )
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    due_on = fields.Date(load_default=None, metadata={"description": "截止日期，默认 ends_on"})
    key_areas = fields.List(one_of(KEY_AREAS), load_default=list, validate=validate.Length(max=15))
    notes = text(2000, required=False, load_default=None, allow_none=True)


class CampaignQuery(Schema):
    """Filters of the campaign list."""

    kind = one_of(CAMPAIGN_KINDS)
    area = fields.String(validate=_AREA)
    month = fields.String(validate=_MONTH, metadata={"description": "与该月有交集的任务"})
    on = fields.Date(metadata={"description": "覆盖该日期的任务"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CampaignOut(Schema):
    """A campaign."""

    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    area_code = fields.String()
    key_areas = fields.List(fields.String())
    month = fields.String(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date()
    due_on = fields.Date()
    notes = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class FiguresOut(Schema):
    """Screening figures (mediation.screening.metrics)."""

    rounds = fields.Integer(metadata={"description": "排查次数"})
    zero_reports = fields.Integer(metadata={"description": "零报告次数"})
    found = fields.Integer(metadata={"description": "排查发现矛盾纠纷数"})
    cells_total = fields.Integer(metadata={"description": "应排查网格数"})
    cells_screened = fields.Integer(metadata={"description": "已排查网格数"})
    cells_missing = fields.Integer(metadata={"description": "未排查网格数"})
    coverage = fields.Float(allow_none=True, metadata={"description": "排查覆盖率"})
    found_by_key_area = fields.Dict(keys=fields.String(), values=fields.Integer())


class CellCoverageOut(Schema):
    """One cell in a campaign."""

    code = fields.String()
    name = fields.String()
    village_code = fields.String()
    state = fields.String(metadata={"description": "screened / missing / overdue"})
    state_label = fields.String()
    worker_id = fields.Integer(allow_none=True)
    worker_name = fields.String(allow_none=True)
    rounds = fields.Integer()
    found = fields.Integer()
    last_round_id = fields.UUID(allow_none=True)
    last_screened_at = fields.DateTime(allow_none=True)
    last_zero_report = fields.Boolean(allow_none=True)


class CampaignCoverageOut(Schema):
    """A campaign's coverage over the cells the user may see."""

    campaign = fields.Nested(CampaignOut)
    due_at = fields.DateTime()
    totals = fields.Nested(FiguresOut)
    cells = fields.List(fields.Nested(CellCoverageOut))


class CoverageQuery(Schema):
    """Which area and month."""

    area = fields.String(required=True, validate=_AREA)
    month = fields.String(required=True, validate=_MONTH)


class AreaFiguresOut(FiguresOut):
    """Figures of one child area."""

    code = fields.String()
    name = fields.String(allow_none=True)


class MonthlyCoverageOut(Schema):
    """A month's screening in an area, by child area."""

    area = fields.String()
    month = fields.String()
    level = fields.String()
    totals = fields.Nested(FiguresOut)
    items = fields.List(fields.Nested(AreaFiguresOut))
