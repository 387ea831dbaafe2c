"""What each paper says, built from the case file (pure: no database, no clock, no rendering).

The case file is `mediation.disputes.queries.detail`'s answer (parties already masked); `names`
adds what it only has as codes or ids: the committee, the areas, the users. Times are printed in
Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from core.clock import BUSINESS_TZ
from core.errors import Conflict
from mediation.disputes.enums import (
    AGREEMENT_FORMS,
    CATEGORIES,
    ID_TYPES,
    LEVEL_LABELS,
    PARTY_KINDS,
    PARTY_ROLES,
    RISK_LABELS,
    SATISFACTION,
    SEXES,
    SOURCES,
    STATUS_LABELS,
    VISIT_METHODS,
    VISIT_RESULTS,
)
from mediation.disputes.workflow import TRANSITIONS
from mediation.papers.enums import (
    AGREEMENT,
    AGREEMENT_IS_ORAL,
    AGREEMENT_IS_WRITTEN,
    APPLICATION,
    DOSSIER,
    NO_AGREEMENT,
    NO_VISITS,
    NOT_APPLICABLE,
    ORAL_AGREEMENT,
    PAPER_TITLES,
    VISITS,
)

OTHER_EVENTS = {"register": "登记", "sync": "离线同步", "reassess": "风险研判"}


@dataclass(frozen=True)
class Names:
    """What the case file holds as codes or ids, named."""

    committee: str  # 某某村人民调解委员会
    village: str
    township: str
    cell: str
    users: dict[int, str] = field(default_factory=dict)


def when(value: datetime | None) -> str:
    """2026年12月02日 09:30 in Asia/Shanghai."""
    if value is None:
        return ""
    return value.astimezone(BUSINESS_TZ).strftime("%Y年%m月%d日 %H:%M")


def day(value: date | datetime | None) -> str:
    """2026年12月02日 (a datetime is taken in Asia/Shanghai)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BUSINESS_TZ).date()
    return value.strftime("%Y年%m月%d日")


def yuan(value: Decimal | None) -> str:
    """1,200.00 元."""
    return "" if value is None else f"{value:,.2f} 元"


def check_applies(case: dict, kind: str) -> None:
    """Refuse (409) a paper that does not apply to this case, with a stable code."""
    agreement = latest_agreement(case)
    code = None
    if kind in (AGREEMENT, ORAL_AGREEMENT) and agreement is None:
        code = NO_AGREEMENT
    elif kind == AGREEMENT and agreement["form"] != "written":
        code = AGREEMENT_IS_ORAL
    elif kind == ORAL_AGREEMENT and agreement["form"] != "oral":
        code = AGREEMENT_IS_WRITTEN
    elif kind == VISITS and not case["visits"]:
        code = NO_VISITS
    if code:
        raise Conflict(NOT_APPLICABLE[code], code=code)


def latest_agreement(case: dict) -> dict | None:
    """The agreement in force: the last one made (a reopened case may have several)."""
    return case["agreements"][-1] if case["agreements"] else None


def parties(case: dict, full_ids: dict[int, str] | None = None) -> list[dict]:
    """The parties as printed: masked, or with the full ID numbers revealed for signing."""
    out = []
    for p in case["parties"]:
        out.append(
            {
                "id": p["id"],
                "role": PARTY_ROLES.get(p["role"], p["role"]),
                "kind": PARTY_KINDS.get(p["kind"], p["kind"]),
                "name": p["name"],
                "id_type": ID_TYPES.get(p["id_type"], "") if p["id_type"] else "",
                "id_number": (full_ids or {}).get(p["id"]) or p["id_number"] or "",
                "phone": p["phone"] or "",
                "sex": SEXES.get(p.get("sex") or "", ""),
                "ethnicity": p.get("ethnicity") or "",
                "address": p.get("address") or "",  # masked (domain §6)
            }
        )
    return out


def _header(case: dict, names: Names) -> dict:
    return {
        "case_number": case["case_number"],
        "committee": names.committee,
        "category": CATEGORIES.get(case["category"], case["category"]),
        "place": f"{names.township}{names.village}（{names.cell}）",
    }


def application(case: dict, names: Names) -> dict:
    """人民调解申请书/受理登记表: who applies against whom, about what, and the acceptance."""
    return {
        **_header(case, names),
        "kind": APPLICATION,
        "title": PAPER_TITLES[APPLICATION],
        "parties": parties(case),
        "source": SOURCES.get(case["source"], case["source"]),
        "occurred_at": when(case["occurred_at"]),
        "registered_at": when(case["registered_at"]),
        "registrar": _registrar(case),
        "people_involved": case["people_involved"],
        "amount": yuan(case["amount"]),
        "key_areas": "、".join(case["key_areas"] or []),
        "risk": RISK_LABELS.get(case["risk_level"], case["risk_level"]),
        "description": case["description"],
        "accepted_at": when(case["accepted_at"]),
        "rights_notified_at": when(case["rights_notified_at"]),
        "handling_level": LEVEL_LABELS.get(case["handling_level"], case["handling_level"]),
        "status": STATUS_LABELS[case["status"]],
    }


def _registrar(case: dict) -> str:
    registered = next((e for e in case["timeline"] if e["action"] == "register"), None)
    return (registered or {}).get("actor_name") or ""


def _performance(a: dict) -> dict:
    if a["performed_immediately"]:
        return {
            "method": a["performance_method"] or "当场履行",
            "place": a["performance_place"] or "调解现场",
            "deadline": "达成协议时当场履行完毕",
        }
    return {
        "method": a["performance_method"] or "",
        "place": a["performance_place"] or "",
        "deadline": day(a["performance_deadline"]) and f"{day(a['performance_deadline'])}前",
    }


def agreement(case: dict, names: Names, full_ids: dict[int, str] | None = None) -> dict:
    """人民调解协议书 (Art 29): parties, facts and dispute, duties, how/where/when, signatures,
    the committee's seal; full ID numbers only when revealed for the parties to sign."""
    a = latest_agreement(case)
    return {
        **_header(case, names),
        "kind": AGREEMENT,
        "title": PAPER_TITLES[AGREEMENT],
        "parties": parties(case, full_ids),
        "signers": parties(case),  # an agent (代理人) signs too, for the party it represents
        "facts": a.get("facts") or case["description"],
        "sessions": _sessions(case),
        "terms": a["terms"],
        "performance": _performance(a),
        "amount": yuan(a["amount"]),
        "mediator": a.get("recorded_by_name") or "",
        "agreed_on": day(a["created_at"]),
        "judicial_confirmation_due_on": day(a["judicial_confirmation_due_on"]),
        "copies": len([p for p in case["parties"] if p["role"] != "agent"]) + 1,
        "revealed": bool(full_ids),
    }


def oral_agreement(case: dict, names: Names) -> dict:
    """口头调解协议登记表 (Art 28): the oral agreement as the mediator recorded it."""
    a = latest_agreement(case)
    return {
        **_header(case, names),
        "kind": ORAL_AGREEMENT,
        "title": PAPER_TITLES[ORAL_AGREEMENT],
        "parties": parties(case),
        "facts": case["description"],
        "terms": a["terms"],
        "performance": _performance(a),
        "amount": yuan(a["amount"]),
        "mediator": a.get("recorded_by_name") or "",
        "agreed_at": when(a["created_at"]),
        "form": AGREEMENT_FORMS["oral"],
    }


def visits(case: dict, names: Names) -> dict:
    """回访记录: every follow-up visit — method, result, satisfaction, who, when."""
    a = latest_agreement(case)
    rows = [
        {
            "n": i,
            "at": when(v["visited_at"]),
            "method": VISIT_METHODS.get(v["method"], v["method"]),
            "result": VISIT_RESULTS.get(v["result"], v["result"]),
            "satisfaction": SATISFACTION.get(v["satisfaction"], "") if v["satisfaction"] else "",
            "visitor": names.users.get(v["visitor_id"], ""),
            "notes": v["notes"] or "",
            "status_after": STATUS_LABELS.get(v["status_after"], v["status_after"]),
        }
        for i, v in enumerate(case["visits"], start=1)
    ]
    return {
        **_header(case, names),
        "kind": VISITS,
        "title": PAPER_TITLES[VISITS],
        "parties": parties(case),
        "agreement": (
            {
                "form": AGREEMENT_FORMS.get(a["form"], a["form"]),
                "on": day(a["created_at"]),
                "terms": a["terms"],
                **_performance(a),
            }
            if a
            else None
        ),
        "visits": rows,
    }


def _sessions(case: dict) -> list[dict]:
    return [
        {
            "at": when(s["held_at"]),
            "place": s["place"] or "",
            "mediators": s["mediators"] or "",
            "summary": s["summary"],
        }
        for s in case["sessions"]
    ]


def _event_label(action: str) -> str:
    t = TRANSITIONS.get(action)
    return t.label if t else OTHER_EVENTS.get(action, action)


def _status_change(before: str | None, after: str | None) -> str:
    label = STATUS_LABELS.get
    if before and after and before != after:
        return f"{label(before, before)} → {label(after, after)}"
    return label(after, after) if after and not before else ""


def timeline(case: dict) -> list[dict]:
    """The case's audit events as the dossier prints them."""
    return [
        {
            "n": e["seq"],
            "at": e["at"].astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M"),
            "action": _event_label(e["action"]),
            "actor": e["actor_name"] or "系统",
            "status": _status_change(e["from_status"], e["to_status"]),
            "reason": e["reason"] or "",
        }
        for e in case["timeline"]
    ]


def dossier(case: dict, names: Names, now: datetime) -> dict:
    """卷宗: cover, contents, every paper that applies (masked), the records and the timeline."""
    sections = [application(case, names)]
    for i, a in enumerate(case["agreements"]):
        one = {**case, "agreements": case["agreements"][: i + 1]}
        sections.append((agreement if a["form"] == "written" else oral_agreement)(one, names))
    if case["visits"]:
        sections.append(visits(case, names))
    a = latest_agreement(case)
    return {
        **_header(case, names),
        "kind": DOSSIER,
        "title": PAPER_TITLES[DOSSIER],
        "parties": parties(case),
        "status": STATUS_LABELS[case["status"]],
        "registered_on": day(case["registered_at"]),
        "accepted_on": day(case["accepted_at"]),
        "agreed_on": day(a["created_at"]) if a else "",
        "resolved_on": day(case["resolved_at"]),
        "closed_on": day(case["closed_at"]),
        "resolved_level": LEVEL_LABELS.get(case["resolved_level"], "")
        if case["resolved_level"]
        else "",
        "printed_on": day(now),
        "sections": sections,
        "sessions": _sessions(case),
        "timeline": timeline(case),
    }
