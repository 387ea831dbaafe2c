"""Schemas for the risk register, risk signals and 研判 meetings (shape and format only; key
areas, ratings and places are checked by the use cases so that errors carry their own code)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.disputes import LocationIn, text
from mediation.risks.enums import (
    CHECK_RESULTS,
    DECISIONS,
    ITEM_KINDS,
    MEETING_KINDS,
    RATINGS,
    SIGNAL_SOURCES,
    SIGNAL_STATUSES,
)

_AREA = validate.Regexp(r"^\d{6}(\d{3}){0,3}$", error="区划或网格代码格式不对")
_KEY_AREA = fields.String(
    validate=validate.Length(max=32), metadata={"description": "十五个重点领域之一"}
)


def _enum(choices: dict, **kw):
    desc = "；".join(f"{k} {v}" for k, v in choices.items())
    return fields.String(
        validate=validate.OneOf(list(choices)), metadata={"description": desc}, **kw
    )


class ZoneIn(Schema):
    """The area a 稳评 item touches: a GeoJSON (Multi)Polygon in the map's coordinate system."""

    type = fields.String(required=True, metadata={"description": "Polygon / MultiPolygon"})
    coordinates = fields.Raw(required=True, metadata={"description": "GeoJSON 坐标"})
    crs = fields.String(required=True, metadata={"description": "wgs84 / gcj02 / bd09"})


class ItemIn(Schema):
    """A project, policy or event registered for 稳评."""

    township_code = fields.String(required=True, metadata={"description": "所在乡镇（9 位）"})
    kind = _enum(ITEM_KINDS, required=True)
    title = text(200)
    subject = text(4000, metadata={"description": "决策事项：决定什么"})
    decision_maker = text(200, metadata={"description": "决策主体：由谁决定"})
    key_areas = fields.List(_KEY_AREA, required=True, validate=validate.Length(max=15))
    geometry = fields.Nested(
        ZoneIn,
        load_default=None,
        allow_none=True,
        metadata={"description": "涉及范围（须在本乡镇内）"},
    )
    village_codes = fields.List(
        fields.String(validate=validate.Length(max=12)),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "或：涉及的村（社区）"},
    )
    responsible_id = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "责任人（用户 id）"}
    )
    responsible_unit = text(200, required=False, load_default=None, allow_none=True)


class AssessIn(Schema):
    """The 稳评 assessment."""

    rating = _enum(RATINGS, required=True)
    risk_points = fields.List(text(1000), required=True, validate=validate.Length(max=50))
    measures = fields.List(text(1000), load_default=list, validate=validate.Length(max=50))


class DecideIn(Schema):
    """The decision on the assessment."""

    decision = _enum(DECISIONS, required=True)
    note = text(2000, required=False, load_default=None, allow_none=True)


class CheckIn(Schema):
    """A follow-up check after the decision."""

    result = _enum(CHECK_RESULTS, required=True)
    note = text(4000)
    checked_at = fields.AwareDateTime(load_default=None, allow_none=True)


class LinkIn(Schema):
    """A dispute confirmed as produced by the item."""

    dispute_id = fields.UUID(required=True)


class ItemQuery(Schema):
    """Filters of the register."""

    area = fields.String(validate=_AREA)
    rating = _enum(RATINGS)


class CaseRowOut(Schema):
    """A dispute offered or linked (no personal data)."""

    id = fields.UUID()
    case_number = fields.String()
    village_code = fields.String()
    category = fields.String()
    key_areas = fields.List(fields.String())
    status = fields.String()
    risk_level = fields.String()
    registered_at = fields.DateTime()
    open = fields.Boolean()
    offered = fields.Boolean()
    linked_at = fields.DateTime()


class RaisedOut(Schema):
    """A linked case whose risk the item raised."""

    dispute_id = fields.UUID()
    case_number = fields.String()
    to = fields.String()
    from_ = fields.String(data_key="from")


class ItemOut(Schema):
    """A 稳评 item with the disputes it produced."""

    id = fields.Integer()
    township_code = fields.String()
    kind = fields.String()
    title = fields.String()
    subject = fields.String()
    decision_maker = fields.String()
    key_areas = fields.List(fields.String())
    village_codes = fields.List(fields.String())
    responsible_id = fields.Integer(allow_none=True)
    responsible_unit = fields.String(allow_none=True)
    stage = fields.String(metadata={"description": "registered / assessed / decided"})
    rating = fields.String(allow_none=True)
    risk_points = fields.List(fields.String())
    measures = fields.List(fields.String())
    assessed_at = fields.DateTime(allow_none=True)
    decision = fields.String(allow_none=True)
    decision_note = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    disputes = fields.Integer(metadata={"description": "关联（引发）的矛盾纠纷数"})
    disputes_open = fields.Integer()
    disputes_resolved = fields.Integer()
    floor = fields.String(allow_none=True, metadata={"description": "关联在办案件的最低风险色"})


class ItemDetailOut(ItemOut):
    """An item with its zone, links, signals and checks."""

    geometry = fields.Dict(allow_none=True)
    linked = fields.List(fields.Nested(CaseRowOut))
    signals = fields.List(fields.Dict())
    checks = fields.List(fields.Dict())
    raised = fields.List(fields.Nested(RaisedOut))


class ItemPageOut(Schema):
    items = fields.List(fields.Nested(ItemOut))
    total = fields.Integer()


class LinkOut(Schema):
    item_id = fields.Integer()
    dispute_id = fields.UUID()
    raised = fields.List(fields.Nested(RaisedOut))


class SignalIn(Schema):
    """A risk signal as the phone sends it (online or as a sync operation's payload)."""

    client_id = fields.UUID(load_default=None, metadata={"description": "客户端生成的 UUID"})
    location = fields.Nested(LocationIn, required=True)
    key_area = fields.String(
        required=True,
        validate=validate.Length(max=32),
        metadata={"description": "十五个重点领域之一"},
    )
    description = text(4000, metadata={"description": "情况描述（勿写身份证号、手机号）"})
    observed_at = fields.AwareDateTime(required=True, metadata={"description": "发现时间"})
    source = _enum(SIGNAL_SOURCES, load_default="grid_patrol")
    likelihood = fields.Integer(load_default=None, allow_none=True)
    severity = fields.Integer(load_default=None, allow_none=True)


class SignalAssessIn(Schema):
    likelihood = fields.Integer(required=True)
    severity = fields.Integer(required=True)
    flags = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list)


class NoteIn(Schema):
    note = text(4000)


class ConvertIn(Schema):
    dispute_id = fields.UUID(required=True, metadata={"description": "按常规登记的案件"})


class AttachIn(Schema):
    item_id = fields.Integer(required=True)


class SignalQuery(Schema):
    area = fields.String(validate=_AREA)
    status = _enum(SIGNAL_STATUSES)
    key_area = fields.String(validate=validate.Length(max=32))


class SignalOut(Schema):
    """A risk signal (a situation, no personal data)."""

    id = fields.UUID()
    cell_code = fields.String()
    village_code = fields.String()
    township_code = fields.String()
    location = fields.Dict()
    key_area = fields.String()
    description = fields.String()
    source = fields.String()
    reporter_id = fields.Integer()
    observed_at = fields.DateTime()
    recorded_at = fields.DateTime()
    device_recorded_at = fields.DateTime(allow_none=True)
    likelihood = fields.Integer(allow_none=True)
    severity = fields.Integer(allow_none=True)
    score = fields.Integer(allow_none=True)
    level = fields.String(allow_none=True)
    assessed_at = fields.DateTime(allow_none=True)
    follow_ups = fields.List(fields.Dict())
    status = fields.String(metadata={"description": "open / closed / converted / attached"})
    closed_at = fields.DateTime(allow_none=True)
    close_note = fields.String(allow_none=True)
    dispute_id = fields.UUID(allow_none=True)
    item_id = fields.Integer(allow_none=True)
    round_id = fields.UUID(allow_none=True)


class SignalPageOut(Schema):
    items = fields.List(fields.Nested(SignalOut))
    total = fields.Integer()


class MeetingDecisionIn(Schema):
    content = text(2000)
    responsible_id = fields.Integer(required=True)
    due_on = fields.Date(required=True, metadata={"description": "落实期限"})


class MeetingIn(Schema):
    """A 研判 meeting."""

    township_code = fields.String(required=True)
    kind = _enum(MEETING_KINDS, required=True)
    title = text(200)
    held_at = fields.AwareDateTime(required=True)
    attendees = text(2000, required=False, load_default=None, allow_none=True)
    summary = text(8000)
    dispute_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=200))
    signal_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=200))
    item_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=200))
    decisions = fields.List(
        fields.Nested(MeetingDecisionIn), load_default=list, validate=validate.Length(max=50)
    )


class DecisionOut(Schema):
    id = fields.Integer()
    content = fields.String()
    responsible_id = fields.Integer()
    due_on = fields.Date()
    state = fields.String(metadata={"description": "pending / done"})
    overdue = fields.Boolean()
    done_at = fields.DateTime(allow_none=True)
    done_note = fields.String(allow_none=True)


class MeetingOut(Schema):
    id = fields.Integer()
    township_code = fields.String()
    kind = fields.String()
    title = fields.String()
    held_at = fields.DateTime()
    attendees = fields.String(allow_none=True)
    summary = fields.String()
    dispute_ids = fields.List(fields.UUID())
    signal_ids = fields.List(fields.UUID())
    item_ids = fields.List(fields.Integer())
    decisions = fields.List(fields.Nested(DecisionOut))


class MeetingQuery(Schema):
    area = fields.String(validate=_AREA)


class ConvertOpIn(Schema):
    """The payload of the sync operation convert_signal."""

    signal_id = fields.UUID(required=True)
    dispute_id = fields.UUID(required=True)


SYNC_PAYLOADS = {"record_signal": SignalIn, "convert_signal": ConvertOpIn}
