"""Rules of docs/domain.md that no test named before (docs/rules.md maps every rule to its test)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import DomainError
from mediation.disputes import enums as E
from mediation.disputes import risk
from tests.factories import case_world, make_user

SH = ZoneInfo("Asia/Shanghai")


def at(m, d, h=9, y=2026):
    return datetime(y, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


# ------------------------------------------------------------------ §1 who uses it


def test_one_person_may_hold_several_roles(app, db_session, world):
    from mediation.disputes.access import get_dispute
    from mediation.users.actor import load_actor

    both = make_user(
        app,
        db_session,
        "t_gw_med",
        [{"role": "grid_worker"}, {"role": "mediator", "area_code": world["village"]}],
        [world["cells"][0]],
    )
    actor = load_actor(db_session, user=both, today=date(2026, 12, 1))
    assert actor.has("grid_worker") and actor.has("mediator")
    d = world["register"](at(12, 1), cell=world["cells"][-1])  # not one of their cells
    assert get_dispute(db_session, actor=actor, dispute_id=d.id).id == d.id  # as the mediator
    from mediation.disputes import flow

    d = flow.act(
        db_session,
        actor=actor,
        dispute_id=d.id,
        action="accept",
        payload={},
        expected_version=d.version,
        now=at(12, 1, 10),
        settings=world["settings"],
    )
    assert d.status == "accepted"


def test_an_escalated_case_is_visible_to_the_level_it_was_escalated_to(world, db_session):
    from mediation.disputes.access import get_dispute

    d = world["register"](at(12, 1))
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    d = world["act"]("mediator", d, "escalate", at(12, 1, 11), to_level="county", reason="跨镇")
    for role in ("county_admin", "center_staff", "mediator"):  # and the levels below keep sight
        assert get_dispute(db_session, actor=world["actors"][role], dispute_id=d.id).id == d.id
    d = world["act"]("county_admin", d, "accept_escalation", at(12, 1, 12))
    assert d.handling_level == "county"


# ------------------------------------------------------------------ §3 the flow


def test_rights_notice_is_recorded_before_mediation_starts(world):
    d = world["register"](at(12, 1))
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    with pytest.raises(DomainError) as exc:
        world["act"]("mediator", d, "start_mediation", at(12, 1, 11))
    assert exc.value.code == "missing_field" and set(exc.value.fields) == {"rights_notice"}
    d = world["act"](
        "mediator", d, "start_mediation", at(12, 1, 11), rights_notice="当面告知并签字"
    )
    assert d.rights_notice == "当面告知并签字" and d.rights_notified_at == at(12, 1, 11)


def test_an_oral_agreement_is_recorded_by_the_mediator(world, db_session):
    from sqlalchemy import select

    from mediation.disputes.models import Agreement

    d = world["register"](at(12, 1))
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    d = world["act"]("mediator", d, "start_mediation", at(12, 1, 11), rights_notice="口头告知")
    d = world["act"]("mediator", d, "agree", at(12, 2), form="oral", terms="李四当场道歉")
    a = db_session.scalar(select(Agreement).where(Agreement.dispute_id == d.id))
    assert (a.form, a.terms, a.recorded_by) == (
        "oral",
        "李四当场道歉",
        world["users"]["mediator"].id,
    )


def test_mediation_is_free_of_charge_no_fee_is_ever_asked():
    from api.schemas.disputes import ActionIn, DisputeIn

    names = set(ActionIn().fields) | set(DisputeIn().fields)
    assert not {n for n in names if any(w in n for w in ("fee", "charge", "price", "cost"))}


@pytest.mark.parametrize(
    ("likelihood", "severity", "level"),
    [
        (5, 4, "red"),
        (4, 5, "red"),
        (4, 3, "orange"),
        (3, 4, "orange"),
        (4, 4, "orange"),
        (2, 3, "yellow"),
        (3, 3, "yellow"),
        (1, 5, "blue"),
        (1, 1, "blue"),
    ],
)
def test_risk_is_likelihood_times_severity_red_20_orange_12_yellow_6_blue_below(
    likelihood, severity, level
):
    r = risk.assess(likelihood=likelihood, severity=severity)
    assert (r.score, r.level) == (likelihood * severity, level)


@pytest.mark.parametrize("flag", list(E.FORCED_RED_FLAGS))
def test_risk_forced_red_conditions_whatever_the_score(flag):
    r = risk.assess(likelihood=1, severity=1, flags=[flag])
    assert r.level == "red" and r.forced_reasons == (flag,)


def test_every_risk_reassessment_is_kept(world, db_session):
    from sqlalchemy import select

    from mediation.disputes.models import RiskAssessment

    d = world["register"](at(12, 1))
    # raised by the village; lowered from ORANGE by the township, with a reason (issue 19 item 3)
    steps = (("village_admin", 2, 2, {}), ("village_admin", 3, 4, {}))
    steps += (("center_staff", 1, 2, {"reason": "复核后风险已降低"}),)
    for i, (who, lk, sv, more) in enumerate(steps):
        d = world["act"](
            who, d, "assess_risk", at(12, 1, 10 + i), likelihood=lk, severity=sv, **more
        )
    rows = db_session.scalars(
        select(RiskAssessment).where(RiskAssessment.dispute_id == d.id).order_by(RiskAssessment.id)
    ).all()
    assert [r.level for r in rows][-3:] == ["blue", "orange", "blue"]
    assert d.risk_level == "blue"


# ------------------------------------------------------------------ §4, §5 enumerations, formats


def test_enumerations_keep_their_stable_keys():
    assert list(E.CATEGORIES)[:3] == ["01", "02", "03"] and E.CATEGORIES["99"] == "其他"
    assert len(E.KEY_AREAS) == 15
    assert set(E.SOURCES) == {
        "grid_patrol",
        "party_application",
        "police_transfer",
        "court_entrusted",
        "gov_assigned",
        "hotline",
        "other",
    }
    assert set(E.PARTY_ROLES) == {"applicant", "respondent", "third_party", "agent"}
    assert set(E.AGREEMENT_FORMS) == {"written", "oral"}
    assert set(E.VISIT_RESULTS) == {
        "performed",
        "partly",
        "not_performed",
        "retracted",
        "judicial_confirmation",
        "sued",
        "recurred",
    }
    assert set(E.SATISFACTION) == {"satisfied", "basically", "unsatisfied"}
    assert len(E.ETHNICITIES) == 57 and E.ETHNICITIES[0] == "汉族"


def test_resident_id_check_character_and_real_birth_date_any_area_prefix():
    from mediation.pii import normalize_resident_id, resident_id_check_char

    assert resident_id_check_char("11010519491231002") == "X"  # the GB 11643 example
    assert normalize_resident_id("11010519491231002x") == "11010519491231002X"
    assert normalize_resident_id("99999919900101123" + resident_id_check_char("99999919900101123"))
    with pytest.raises(ValueError, match="校验位"):
        normalize_resident_id("110105194912310021")
    with pytest.raises(ValueError, match="出生日期"):
        normalize_resident_id(
            "11010519490230" + "002" + resident_id_check_char("11010519490230002")
        )


@pytest.mark.parametrize(
    "raw", ["13800138000", "+8613800138000", "008613800138000", "+86 138 0013 8000"]
)
def test_mobile_numbers_drop_a_leading_plus86_or_0086(raw):
    from mediation.pii import normalize_phone

    assert normalize_phone(raw) == "13800138000"


def test_mobile_number_must_start_1_3_to_9_with_11_digits():
    from mediation.pii import normalize_phone

    for bad in ("12800138000", "1380013800", "138001380001"):
        with pytest.raises(ValueError):
            normalize_phone(bad)


def test_deadlines_use_the_business_date_in_asia_shanghai(world):
    # registered at 23:30 Beijing time on 12-01 (15:30 UTC): the 3 working days count from 12-01
    from mediation.disputes.deadlines import accept_due

    late = datetime(2026, 12, 1, 23, 30, tzinfo=SH)
    assert accept_due(late, world["settings"].limits).astimezone(SH).date() == date(2026, 12, 4)
    assert accept_due(late + timedelta(hours=1), world["settings"].limits).astimezone(
        SH
    ).date() == (date(2026, 12, 7))  # 00:30 on 12-02: three working days from Wednesday → Monday
