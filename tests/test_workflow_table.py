"""The transition table, exhaustively: every status × every action × every role (pure), against
an independent statement of the rules written here from domain.md §3, plus invariants."""

from __future__ import annotations

import itertools

import pytest

from api.errors import http_status
from core.errors import DomainError
from mediation.disputes import enums as E
from mediation.disputes import workflow as W

ROLES = [
    "grid_worker",
    "mediator",
    "village_admin",
    "center_staff",
    "leader",
    "county_admin",
    "admin",
]
STANDING = {  # where each role stands on a case of its area
    "grid_worker": "grid",
    "mediator": "village",
    "village_admin": "village",
    "center_staff": "township",
    "leader": "township",
    "county_admin": "county",
    "admin": None,
}
PAYLOAD = {  # everything any action may require
    "reason": "r",
    "ground": "not_civil_dispute",
    "party_id": 1,
    "court_outcome": "confirmed",
    "rights_notice": "n",
    "held_at": "t",
    "summary": "s",
    "to_level": "township",
    "form": "written",
    "terms": "t",
    "routes": ["litigation"],
    "target": "police",
    "new_due_date": "d",
    "consent": {"applicant": True, "respondent": True},
    "result": "performed",
    "likelihood": 1,
    "severity": 1,
    "leader_id": 1,
    "outcome": "resolved",
    "group_dispute": False,
}

# The rules, restated: statuses an action may start from …
FROM = {
    "accept": {"registered"},
    "reject": {"registered"},
    "refuse_mediation": {"accepted", "mediating", "reopened"},
    "record_court_outcome": {"agreed", "follow_up", "resolved", "terminated", "archived"},
    "start_mediation": {"accepted", "reopened"},
    "record_session": {"mediating"},
    "escalate": {"registered", "accepted", "mediating", "reopened"},
    "accept_escalation": {"registered", "accepted", "mediating", "reopened"},
    "return_escalation": {"registered", "accepted", "mediating", "reopened"},
    "return_down": {"registered", "accepted", "mediating", "reopened"},
    "agree": {"mediating"},
    "terminate": {"mediating"},
    "refer": {"registered", "accepted", "mediating", "agreed", "follow_up", "reopened"},
    "withdraw": {
        "registered",
        "accepted",
        "mediating",
        "agreed",
        "follow_up",
        "reopened",
        "referred",
    },
    "extend": {"mediating"},
    "record_visit": {"agreed", "follow_up", "resolved"},
    "assess_risk": {
        "registered",
        "accepted",
        "mediating",
        "agreed",
        "follow_up",
        "reopened",
        "referred",
    },
    "assign_leader": {
        "registered",
        "accepted",
        "mediating",
        "agreed",
        "follow_up",
        "reopened",
        "referred",
    },
    "set_group_flag": {
        "registered",
        "accepted",
        "mediating",
        "agreed",
        "follow_up",
        "reopened",
        "referred",
    },
    "archive": {"resolved", "rejected", "terminated", "withdrawn"},
    # a referral is a loop: the case stays open until the receiving body's result is recorded
    "record_referral_result": {"referred"},
}
# … where it goes …
TO = {
    "accept": "accepted",
    "reject": "rejected",
    "refuse_mediation": "terminated",
    "start_mediation": "mediating",
    "agree": "agreed",
    "terminate": "terminated",
    "refer": "referred",
    "withdraw": "withdrawn",
    "archive": "archived",
}
# … and who may take it on a case at the grid level (the village's people may step in).
WORK = {"grid_worker", "mediator", "village_admin"}
WHO = {a: WORK for a in FROM}
WHO.update(
    {
        "accept_escalation": set(),
        "return_escalation": set(),  # nothing pending in this sweep
        "record_visit": {"grid_worker", "mediator", "village_admin", "center_staff"},
        "assess_risk": {
            "grid_worker",
            "mediator",
            "village_admin",
            "center_staff",
            "leader",
            "county_admin",
        },
        "assign_leader": {"center_staff", "county_admin"},
        "set_group_flag": {"center_staff", "county_admin"},  # the township decides (issue 19)
        "record_court_outcome": {"mediator", "village_admin", "center_staff", "county_admin"},
        "archive": {"village_admin", "center_staff", "county_admin"},
        "record_referral_result": {"center_staff", "county_admin"},
    }
)


def standing(role):
    level = STANDING[role]
    return W.ActorStanding(frozenset({(role, level)} if level else set()))


CASES = list(itertools.product(E.STATUSES, W.ACTIONS, ROLES))


@pytest.mark.parametrize(("status", "action", "role"), CASES)
def test_every_status_action_role(status, action, role):
    case = W.CaseState(status=status, handling_level="grid")
    allowed = status in FROM[action] and role in WHO[action]
    try:
        result = W.decide(action, case, standing(role), PAYLOAD)
    except DomainError as exc:
        assert not allowed, f"{action} by {role} from {status} refused: {exc.code}"
        assert exc.code in W.REFUSALS and exc.message
        return
    assert allowed, f"{action} by {role} from {status} was allowed"
    if action in TO:
        assert result == TO[action]
    elif action in ("record_visit", "record_referral_result"):
        assert result == "by_result"
    else:
        assert result == status


def test_table_covers_every_status_and_action():
    assert set(FROM) == set(W.ACTIONS)
    assert len(CASES) == len(E.STATUSES) * len(W.ACTIONS) * len(ROLES)


def test_only_a_confirming_visit_resolves():
    for action in W.ACTIONS:
        assert W.TRANSITIONS[action].target != E.RESOLVED
    outcomes = {r: W.visit_outcome(r, "follow_up") for r in E.VISIT_RESULTS}
    assert [r for r, o in outcomes.items() if o == "resolved"] == ["performed"]
    assert {outcomes[r] for r in ("not_performed", "retracted", "recurred")} == {"reopened"}
    assert W.visit_outcome("partly", "resolved") == "reopened"  # a later visit finds it unresolved


def test_levels_and_escalation_rules():
    pending = W.CaseState(
        status="mediating", handling_level="village", escalation_target="township"
    )
    med = W.ActorStanding(frozenset({("mediator", "village")}))
    center = W.ActorStanding(frozenset({("center_staff", "township")}))
    with pytest.raises(DomainError, match="等待"):
        W.decide("record_session", pending, med, PAYLOAD)
    assert W.decide("accept_escalation", pending, center, PAYLOAD) == "mediating"
    with pytest.raises(DomainError) as exc:
        W.decide("accept_escalation", pending, med, PAYLOAD)
    assert exc.value.code == "wrong_level"  # a village mediator cannot accept for the township
    with pytest.raises(DomainError) as exc:
        W.decide(
            "accept_escalation",
            pending,
            W.ActorStanding(frozenset({("grid_worker", "grid")})),
            PAYLOAD,
        )
    assert exc.value.code == "role_not_allowed"
    township_case = W.CaseState(status="mediating", handling_level="township")
    with pytest.raises(DomainError) as exc:
        W.decide(
            "agree", township_case, W.ActorStanding(frozenset({("mediator", "village")})), PAYLOAD
        )
    assert exc.value.code == "wrong_level"
    for action, cur, to, ok in [
        ("escalate", "grid", "township", True),
        ("escalate", "township", "village", False),
        ("return_down", "township", "village", True),
        ("return_down", "village", "village", False),
    ]:
        if ok:
            W.check_level_move(action, cur, to)
        else:
            with pytest.raises(DomainError):
                W.check_level_move(action, cur, to)


def test_red_case_without_leader_is_accepted_and_started_but_not_concluded():
    med = W.ActorStanding(frozenset({("mediator", "village")}))
    red = W.CaseState(status="registered", handling_level="village", red_without_leader=True)
    assert W.decide("accept", red, med, PAYLOAD) == "accepted"
    assert W.decide("escalate", red, med, PAYLOAD) == "registered"
    accepted = W.CaseState(status="accepted", handling_level="village", red_without_leader=True)
    assert W.decide("start_mediation", accepted, med, PAYLOAD) == "mediating"
    mediating = W.CaseState(status="mediating", handling_level="village", red_without_leader=True)
    for action in ("agree", "terminate", "extend", "return_down"):
        with pytest.raises(DomainError) as exc:
            W.decide(action, mediating, med, PAYLOAD)
        assert exc.value.code == "leader_required", action
    with pytest.raises(DomainError) as exc:
        W.decide("reject", red, med, PAYLOAD)
    assert exc.value.code == "leader_required"


def test_missing_required_fields_are_field_errors():
    case = W.CaseState(status="mediating", handling_level="village")
    with pytest.raises(DomainError) as exc:
        W.decide(
            "agree", case, W.ActorStanding(frozenset({("mediator", "village")})), {"form": "oral"}
        )
    assert http_status(exc.value) == 422 and "terms" in exc.value.fields
