"""The action forms of the case file: one input per field an action of the transition table
requires (plus a few optional ones), read back into the API's `ActionIn` payload.

Only the widgets live here. Which actions appear comes from `workflow.TRANSITIONS` through
`mediation.disputes.available`; which fields are required comes from each transition's
`requires`; the payload is validated by the API's own schema and the move by `service.act`.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import ValidationError

from api.errors import flatten
from api.schemas.disputes import ActionIn, ListQuery
from mediation.disputes.enums import (
    AGREEMENT_FORMS,
    COURT_OUTCOMES,
    FORCED_RED_FLAGS,
    LEVEL_LABELS,
    LEVELS,
    REFERRAL_OUTCOMES,
    REFERRAL_TARGETS,
    REJECT_GROUNDS,
    SATISFACTION,
    TERMINATION_ROUTES,
    VISIT_METHODS,
    VISIT_RESULTS,
)
from mediation.disputes.workflow import Transition

SCORES = {str(i): str(i) for i in range(1, 6)}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, textarea, select, multi, datetime, date, checkbox, consent
    choices: dict | None = None
    placeholder: str = ""


FIELDS = {
    f.name: f
    for f in (
        Field("reason", "理由", "textarea", placeholder="请写明理由"),
        Field("note", "备注", "textarea"),
        Field("ground", "不予受理事由", "select", REJECT_GROUNDS),
        Field("party_id", "拒绝调解的当事人", "select", {}),
        Field("court_outcome", "司法确认进展", "select", COURT_OUTCOMES),
        Field("court", "人民法院", "text"),
        Field("decided_on", "日期", "date"),
        Field("rights_notice", "权利义务告知", "text", placeholder="如：已当面告知双方权利义务"),
        Field("held_at", "调解时间", "datetime"),
        Field("place", "调解地点", "text"),
        Field("mediators", "调解员", "text"),
        Field("summary", "调解过程", "textarea"),
        Field("to_level", "层级", "select", dict(LEVEL_LABELS)),
        Field("form", "协议形式", "select", AGREEMENT_FORMS),
        Field("facts", "纠纷事实与争议事项", "textarea"),
        Field("terms", "各方权利义务（协议内容）", "textarea"),
        Field("performance_method", "履行方式", "text"),
        Field("performance_place", "履行地点", "text"),
        Field("performance_deadline", "履行期限", "date"),
        Field("performed_immediately", "当场履行", "checkbox"),
        Field("amount", "协议金额（元）", "text"),
        Field("routes", "告知其他途径", "multi", TERMINATION_ROUTES),
        Field("target", "移送单位", "select", REFERRAL_TARGETS),
        Field("organisation", "接收单位名称", "text", placeholder="如：某某人民法庭"),
        Field("due_on", "反馈期限", "date"),
        Field("outcome", "移送结果", "select", REFERRAL_OUTCOMES),
        Field("result_on", "结果日期", "date"),
        Field("mediator", "承办人", "text"),
        Field("new_due_date", "新的办结期限", "date"),
        Field("consent", "双方同意延期", "consent"),
        Field("visited_at", "回访时间", "datetime"),
        Field("method", "回访方式", "select", VISIT_METHODS),
        Field("result", "回访结果", "select", VISIT_RESULTS),
        Field("satisfaction", "满意度", "select", SATISFACTION),
        Field("notes", "回访记录", "textarea"),
        Field("likelihood", "可能性（1–5）", "select", SCORES),
        Field("severity", "严重程度（1–5）", "select", SCORES),
        Field("flags", "强制红色情形", "multi", FORCED_RED_FLAGS),
        Field("clear_flags", "解除此前记录的情形（须写理由）", "multi", FORCED_RED_FLAGS),
        Field(
            "group_dispute",
            "群体性纠纷",
            "select",
            {"true": "认定为群体性纠纷", "false": "撤销群体性纠纷认定"},
        ),
        Field("leader_id", "包案领导", "select", {}),
    )
}
OPTIONAL = {
    "accept": ("note",),
    "record_session": ("place", "mediators"),
    "reject": ("reason",),
    "refuse_mediation": ("reason", "routes"),
    "record_court_outcome": ("court", "decided_on", "note"),
    # required for a written agreement (Art 29), checked by the use case
    "agree": (
        "facts",
        "performance_method",
        "performance_place",
        "performance_deadline",
        "performed_immediately",
        "amount",
    ),
    "record_visit": ("method", "satisfaction", "notes"),
    "assess_risk": ("flags", "clear_flags", "reason", "note"),
    "accept_escalation": ("reason",),
    "refer": ("organisation", "due_on"),
    "record_referral_result": ("result_on", "summary", "mediator"),
}


def fields_of(
    t: Transition, *, level: str, leaders: dict[str, str], parties: dict[str, str] | None = None
) -> list[tuple[Field, bool]]:
    """(field, required) for an action's form, choices narrowed to what makes sense here."""
    out = []
    for name, required in [(n, True) for n in t.requires] + [
        (n, False) for n in OPTIONAL.get(t.action, ())
    ]:
        f = FIELDS[name]
        if name == "to_level" and level in LEVELS:
            i = LEVELS.index(level)
            keep = LEVELS[i + 1 :] if t.action == "escalate" else LEVELS[:i]
            f = Field(
                f.name,
                "上报至" if t.action == "escalate" else "交办至",
                f.kind,
                {k: LEVEL_LABELS[k] for k in keep},
            )
        if name == "leader_id":
            f = Field(f.name, f.label, f.kind, leaders)
        if name == "party_id":
            f = Field(f.name, f.label, f.kind, parties or {})
        out.append((f, required))
    return out


def payload_from_form(t: Transition, form) -> tuple[dict, dict[str, list[str]]]:
    """The form's values as the API's ActionIn payload, or its field errors in Chinese."""
    raw: dict = {}
    names = list(t.requires) + list(OPTIONAL.get(t.action, ()))
    for name in names:
        f = FIELDS[name]
        if f.kind == "multi":
            values = [v for v in form.getlist(name) if v]
            if values:
                raw[name] = values
        elif f.kind == "checkbox":
            if form.get(name):
                raw[name] = True
        elif f.kind == "consent":
            a, r = bool(form.get("consent_applicant")), bool(form.get("consent_respondent"))
            if a or r:
                raw[name] = {"applicant": a, "respondent": r, "recorded_how": "综治中心工作台记录"}
        else:
            value = (form.get(name) or "").strip()
            if not value:
                continue
            if f.kind == "datetime" and len(value) == 16:
                value = f"{value}:00+08:00"  # the browser's local time is Beijing time
            if name in ("likelihood", "severity", "leader_id", "party_id"):
                try:
                    value = int(value)
                except ValueError:
                    pass
            raw[name] = value
    version = form.get("expected_version")
    if version and version.isdigit():
        raw["expected_version"] = int(version)
    try:
        return ActionIn().load(raw), {}
    except ValidationError as e:
        return {}, flatten(e.messages)


def walk_in_payload(f, location: dict | None) -> dict:
    """The walk-in registration form as the API's `DisputeIn` body (up to three parties)."""
    parties = []
    for i in range(3):
        name = f.get(f"party{i}_name", "").strip()
        if not name:
            continue
        parties.append(
            {
                "role": f.get(f"party{i}_role") or ("applicant" if i == 0 else "respondent"),
                "kind": "person",
                "name": name,
                "id_number": f.get(f"party{i}_id_number", "").strip() or None,
                "phone": f.get(f"party{i}_phone", "").strip() or None,
            }
        )
    occurred = f.get("occurred_at", "").strip()
    raw = {
        "client_id": f.get("client_id") or None,
        "location": location,
        # no point picked: the village chosen, and the case is "not located"
        "village_code": None if location else (f.get("village") or None),
        "address": f.get("address", "").strip() or None,
        "occurred_at": f"{occurred}:00+08:00" if len(occurred) == 16 else occurred,
        "category": f.get("category", ""),
        "key_areas": [k for k in f.getlist("key_areas") if k],
        "source": f.get("source") or "party_application",
        "description": f.get("description", ""),
        "people_involved": f.get("people_involved") or 0,
        "parties": parties,
    }
    if f.get("amount", "").strip():
        raw["amount"] = f["amount"].strip()
    return raw


LIST_FILTERS = (
    "status",
    "handling_level",
    "risk_level",
    "category",
    "key_area",
    "overdue",
    "registered_from",
    "registered_to",
    "area",
    "cursor",
)
MANY = ("status", "handling_level", "risk_level", "category", "key_area")


def list_query(args, *, limit: int) -> tuple[dict, dict[str, list[str]]]:
    """The case list's query string through the API's `ListQuery`: (filters, limit, cursor) as
    keyword arguments of `queries.list_disputes`, and the errors (then no filter at all)."""
    raw = {}
    for key in LIST_FILTERS:
        values = [v for v in args.getlist(key) if v]
        if values:
            raw[key] = values if key in MANY else values[0]
    errors = {}
    try:
        loaded = ListQuery().load({**raw, "limit": limit})
    except ValidationError as e:
        errors, loaded = flatten(e.messages), {"limit": limit}
    page = {"limit": loaded.pop("limit"), "cursor": loaded.pop("cursor", None)}
    return {"filters": loaded, **page}, errors
