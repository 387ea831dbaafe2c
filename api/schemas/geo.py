"""Schemas for areas, cells and locate."""

from marshmallow import Schema, fields, validate

from geo.crs import SYSTEMS

CRS_FIELD_DOC = "坐标系：wgs84（GPS）、gcj02（高德/腾讯，手机地图默认）、bd09（百度）"


class LocateQuery(Schema):
    """A point and the coordinate system it is expressed in."""

    lon = fields.Float(
        required=True, allow_nan=False, metadata={"description": "经度", "example": 120.2403}
    )
    lat = fields.Float(
        required=True, allow_nan=False, metadata={"description": "纬度", "example": 29.7139}
    )
    crs = fields.String(
        required=True,
        metadata={"description": CRS_FIELD_DOC, "example": "gcj02", "enum": list(SYSTEMS)},
    )


class AreaRef(Schema):
    """Code and name of an area."""

    code = fields.String()
    name = fields.String(allow_none=True)


class CandidateOut(Schema):
    """A cell that also covers the point (village overlap)."""

    cell_code = fields.String()
    village_code = fields.String()
    village_name = fields.String(allow_none=True)


class LocateOut(Schema):
    """Where the point falls."""

    lon = fields.Float(metadata={"description": "WGS-84 经度"})
    lat = fields.Float(metadata={"description": "WGS-84 纬度"})
    cell = fields.Nested(AreaRef)
    village = fields.Nested(AreaRef)
    township = fields.Nested(AreaRef)
    county = fields.Nested(AreaRef)
    match = fields.String(
        metadata={
            "description": "exact：在网格内；ambiguous：落在相邻村边界重叠处（按规则取编码最小者，见 candidates）；"
            "approximate：落在网格缝隙中，取容差范围内最近的网格（见 distance_m）"
        }
    )
    distance_m = fields.Float()
    candidates = fields.List(fields.Nested(CandidateOut))


class GeometryQuery(Schema):
    """Options for geometry output."""

    crs = fields.String(
        load_default="wgs84",
        validate=validate.OneOf(SYSTEMS),
        metadata={"description": CRS_FIELD_DOC},
    )
    simplify_m = fields.Float(
        load_default=0,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "显示用的简化容差（米），0 表示不简化"},
    )


class AreaChildOut(Schema):
    """One node of the area tree."""

    code = fields.String()
    name = fields.String()
    level = fields.String(metadata={"description": "county / township / village"})
    level_label = fields.String()
    children = fields.Integer(metadata={"description": "下级区划或网格数"})


class FeatureOut(Schema):
    """A GeoJSON Feature."""

    type = fields.String()
    id = fields.String()
    properties = fields.Dict()
    geometry = fields.Dict()


class FeatureCollectionOut(Schema):
    """A GeoJSON FeatureCollection."""

    type = fields.String()
    features = fields.List(fields.Nested(FeatureOut))
