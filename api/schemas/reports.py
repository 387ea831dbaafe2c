"""Input and output shapes of the console and the monthly report."""

from marshmallow import Schema, fields, validate

from geo.crs import SYSTEMS
from mediation.disputes.enums import RISK_LABELS, STATUSES
from mediation.reports import metrics
from mediation.reports.console import LIST_SORTS
from mediation.reports.months import MONTH_PATTERN

AREA = validate.Regexp(r"^\d{6}(\d{3}){0,3}$", error="区域代码应为 6、9、12 或 15 位数字")
MONTH = validate.Regexp(
    MONTH_PATTERN, error="月份格式应为 YYYY-MM（2000 年到 2100 年），如 2026-11"
)
FORMATS = ("json", "xlsx", "csv")

DEFINITIONS_DOC = "\n".join(
    f"- `{k}` {v['label']}：{v['definition']}" for k, v in metrics.DEFINITIONS.items()
)


class DashboardQuery(Schema):
    """An area I may see (default: my widest) and a period (default: this month so far)."""

    area = fields.String(validate=AREA)
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class CountItem(Schema):
    """One bar of a breakdown."""

    key = fields.String()
    label = fields.String()
    count = fields.Integer()


class AreaOut(Schema):
    """An area."""

    code = fields.String()
    name = fields.String()
    level = fields.String()


class ChildOut(Schema):
    """A child area's figures."""

    code = fields.String()
    name = fields.String()
    level = fields.String()
    counts = fields.Dict(keys=fields.String())
    measures = fields.Dict(keys=fields.String())
    screening = fields.Dict()


class DashboardOut(Schema):
    """Counts by status/level/risk/category/key area/source of the period's cases (carried over
    plus new), overdue now by kind, the report figures and Fengqiao measures, a monthly trend and
    the same per child area."""

    area = fields.Nested(AreaOut)
    period = fields.Dict()
    counts = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(CountItem)))
    overdue_by_kind = fields.List(fields.Nested(CountItem))
    overdue_total = fields.Integer()
    figures = fields.Dict(keys=fields.String())
    measures = fields.Dict(keys=fields.String())
    screening = fields.Dict(metadata={"description": "排查次数、零报告、排查发现、网格覆盖率"})
    trend = fields.List(fields.Dict())
    children = fields.List(fields.Nested(ChildOut))
    definitions = fields.Dict(keys=fields.String())
    risks = fields.Dict(  # issue 21
        metadata={
            "description": "风险防范：风险隐患发现/办结（按重点领域）、稳评事项、专项行动，"
            "definitions 为各项口径"
        }
    )


class ListQuery(Schema):
    """A supervision list of an area; `format` xlsx/csv downloads it (logged as an export)."""

    area = fields.String(validate=AREA)
    sort = fields.String(
        metadata={
            "enum": sorted({k for sorts in LIST_SORTS.values() for k in sorts}),
            "description": "排序："
            + "；".join(f"{kind} 可用 {'、'.join(sorts)}" for kind, sorts in LIST_SORTS.items()),
        }
    )
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    month = fields.String(validate=MONTH, metadata={"description": "late_reports: 报送月份"})
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    purpose = fields.String(validate=validate.Length(max=200))


def layer_crs():
    """The coordinate system of a map layer: WGS-84 as RFC 7946 says, GCJ-02/BD-09 on request."""
    return fields.String(
        load_default="wgs84",
        validate=validate.OneOf(SYSTEMS),
        metadata={
            "description": "坐标系：wgs84（默认，RFC 7946 GeoJSON）；在高德/腾讯底图上画用 gcj02，"
            "百度用 bd09。响应的 coordinate_system 说明所用坐标系"
        },
    )


class MapAreasQuery(Schema):
    """Villages (of a township) or cells (of a village) with open/RED/overdue counts."""

    area = fields.String(validate=AREA)
    level = fields.String(validate=validate.OneOf(("village", "cell")))
    simplify_m = fields.Float(load_default=10.0, validate=validate.Range(min=0, max=500))
    crs = layer_crs()


class MapCasesQuery(Schema):
    """Case points of an area, optionally inside a box (in `crs`), by status and risk."""

    area = fields.String(validate=AREA)
    bbox = fields.String(metadata={"description": "最小经度,最小纬度,最大经度,最大纬度"})
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)))
    risk_level = fields.List(fields.String(validate=validate.OneOf(tuple(RISK_LABELS))))
    since = fields.Date()
    crs = layer_crs()
    limit = fields.Integer(load_default=2000, validate=validate.Range(min=1, max=10000))


class HotspotQuery(Schema):
    """Clusters of at least `min_cases` cases within `radius_m`, registered in the period."""

    area = fields.String(validate=AREA)
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    radius_m = fields.Float(load_default=200.0, validate=validate.Range(min=10, max=5000))
    min_cases = fields.Integer(load_default=3, validate=validate.Range(min=2, max=100))
    crs = layer_crs()


class LayerOut(Schema):
    """GeoJSON FeatureCollection (RFC 7946), coordinates in `coordinate_system`."""

    type = fields.String()
    features = fields.List(fields.Dict())
    coordinate_system = fields.String(
        metadata={
            "enum": list(SYSTEMS),
            "description": "坐标所用坐标系（wgs84 即 RFC 7946 的 WGS-84；gcj02/bd09 仅在请求时）",
        }
    )


class ExportQuery(Schema):
    """json (default), xlsx or csv; exports are logged with their purpose."""

    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    purpose = fields.String(validate=validate.Length(max=200))


class DraftsIn(Schema):
    """Generate (or refresh) the drafts of the villages of an area now."""

    area = fields.String(required=True, validate=AREA)


class DraftsOut(Schema):
    """How many drafts were written."""

    month = fields.String()
    drafts = fields.Integer()


class ReportOut(Schema):
    """One version of a village's monthly report."""

    id = fields.Integer()
    area_code = fields.String()
    month = fields.String(metadata={"description": "报送月份；统计期间为其上一个月"})
    version = fields.Integer()
    status = fields.String(metadata={"description": "draft 草稿 / submitted 已报送（冻结）"})
    figures = fields.Dict()
    narrative = fields.String(allow_none=True)
    remarks = fields.String(allow_none=True)
    due_at = fields.DateTime()
    generated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    submitted_by = fields.Integer(allow_none=True)
    on_time = fields.Boolean(allow_none=True)
    supersedes_id = fields.Integer(allow_none=True)
    correction_reason = fields.String(allow_none=True)


class ReportEditIn(Schema):
    """The lead's text: 工作开展情况 and 备注."""

    narrative = fields.String(validate=validate.Length(max=20000))
    remarks = fields.String(validate=validate.Length(max=2000))


class SubmitIn(Schema):
    """`generated_at` of the draft the lead reviewed (refused if refreshed since)."""

    generated_at = fields.DateTime()


class CorrectionIn(Schema):
    """Why the submitted report is corrected."""

    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class VillageStatusOut(Schema):
    """A village in the township's report."""

    code = fields.String()
    name = fields.String()
    report_status = fields.String(metadata={"description": "on_time / late / missing / pending"})
    report_status_label = fields.String()
    report_id = fields.Integer(allow_none=True)
    version = fields.Integer(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    figures = fields.Dict()
    narrative = fields.String(allow_none=True)
    remarks = fields.String(allow_none=True)


class TownshipReportOut(Schema):
    """The township's report: villages (latest submitted version, else live figures) + total."""

    township = fields.Dict()
    month = fields.String()
    period = fields.Dict()
    due_at = fields.DateTime()
    villages = fields.List(fields.Nested(VillageStatusOut))
    total = fields.Dict()
    submitted = fields.Integer()
    late = fields.Integer()
    missing = fields.Integer()


class SupervisionListOut(Schema):
    """A supervision list as JSON (its columns depend on the kind; see the xlsx/csv headers)."""

    kind = fields.String()
    area = fields.String()
    items = fields.List(fields.Dict())
