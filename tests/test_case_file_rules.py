"""Issue 19 (part B): the rules of the case file — legal grounds of a rejection, a party's refusal
(Art 17), what a written agreement states (Art 29), judicial confirmation of written agreements
only and the court's outcome (Art 33), archiving a complete file (Art 27), the parties' details
of the 受理登记表 — and the rules nothing tested before. Each test is named after its rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from core.errors import DomainError
from mediation.disputes.models import Attachment, CourtOutcome, FollowUpVisit
from mediation.reminders.models import Reminder
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")
WRITTEN = {
    "form": "written",
    "facts": "两户因排水沟堵塞发生争执",
    "terms": "双方各承担一半清理费用",
    "performance_method": "现金",
    "performance_place": "先进村村委会",
    "performance_deadline": date(2026, 12, 20),
}


def at(m, d, h=9, y=2026):
    return datetime(y, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def refused(world, role, d, action, now, **payload) -> DomainError:
    with pytest.raises(DomainError) as exc:
        world["act"](role, d, action, now, **payload)
    return exc.value


def mediating(world, now=None):
    now = now or at(12, 1)
    d = world["register"](now)
    d = world["act"]("mediator", d, "accept", now + timedelta(hours=1))
    return world["act"](
        "mediator", d, "start_mediation", now + timedelta(hours=2), rights_notice="书面告知"
    )


def live(db_session, d, kind):
    return db_session.scalars(
        select(Reminder).where(
            Reminder.dispute_id == d.id, Reminder.kind == kind, Reminder.state != "cancelled"
        )
    ).all()


def attach(db_session, d, kind, user_id, sha="a" * 64) -> Attachment:
    import uuid

    a = Attachment(
        id=uuid.uuid4(),
        dispute_id=d.id,
        kind=kind,
        filename="协议书.pdf",
        content_type="application/pdf",
        size=10,
        sha256=sha,
        uploaded_by=user_id,
        created_at=at(12, 2),
    )
    db_session.add(a)
    db_session.flush()
    return a


# ------------------------------------------------------------------ rejection and Art 17


def test_reject_takes_one_of_the_legal_grounds_and_other_needs_a_reason(world):
    d = world["register"](at(12, 1))
    e = refused(world, "mediator", d, "reject", at(12, 1, 10), reason="不归我们管")
    assert e.code == "missing_field" and set(e.fields) == {"ground"}
    e = refused(world, "mediator", d, "reject", at(12, 1, 10), ground="other")
    assert e.code == "reason_required" and set(e.fields) == {"reason"}
    d = world["act"]("mediator", d, "reject", at(12, 1, 10), ground="handled_by_authority")
    assert d.status == "rejected"
    assert d.exit_detail["ground"] == "handled_by_authority"
    assert "已经受理或解决" in d.exit_detail["ground_label"]


def test_art17_a_party_who_clearly_refuses_ends_the_mediation_with_its_legal_basis(world):
    d = mediating(world)
    e = refused(world, "mediator", d, "refuse_mediation", at(12, 2), party_id=10**9)
    assert e.code == "party_not_found" and set(e.fields) == {"party_id"}
    respondent = next(p for p in d.parties if p.role == "respondent")
    d = world["act"](
        "mediator",
        d,
        "refuse_mediation",
        at(12, 2),
        party_id=respondent.id,
        reason="被申请人明确表示不接受调解",
        routes=["litigation"],
    )
    assert d.status == "terminated" and d.closed_at is not None
    assert d.exit_detail["ground"] == "party_refused"
    assert d.exit_detail["legal_basis"] == "人民调解法第十七条"
    assert d.exit_detail["party_role"] == "respondent"
    assert d.next_due_at is None  # nothing more is due: the case cannot be mediated


# ------------------------------------------------------------------ Art 29


def test_art29_written_agreement_states_facts_duties_and_how_where_when(world):
    d = mediating(world)
    e = refused(world, "mediator", d, "agree", at(12, 2), form="written", terms="赔偿")
    assert e.code == "agreement_incomplete"
    assert set(e.fields) == {
        "facts",
        "performance_method",
        "performance_place",
        "performance_deadline",
    }
    # performed on the spot: no deadline, but still how and where
    e = refused(
        world,
        "mediator",
        d,
        "agree",
        at(12, 2),
        form="written",
        terms="赔偿",
        performed_immediately=True,
        facts="争执",
    )
    assert set(e.fields) == {"performance_method", "performance_place"}
    d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
    assert d.status == "agreed"


def test_art29_written_agreement_needs_both_sides_as_parties(world):
    d = world["register"](
        at(12, 1),
        parties=[{"role": "applicant", "kind": "person", "name": "张三", "phone": "13800138000"}],
    )
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    d = world["act"]("mediator", d, "start_mediation", at(12, 1, 11), rights_notice="口头告知")
    e = refused(world, "mediator", d, "agree", at(12, 2), **WRITTEN)
    assert set(e.fields) == {"parties"}
    # an oral agreement is recorded by the mediator (Art 28): no such list
    assert world["act"]("mediator", d, "agree", at(12, 2), form="oral", terms="当场道歉")


# ------------------------------------------------------------------ Art 33: judicial confirmation


def test_judicial_confirmation_reminder_only_for_a_written_agreement(world, db_session):
    oral = mediating(world)
    oral = world["act"](
        "mediator",
        oral,
        "agree",
        at(12, 2),
        form="oral",
        terms="当场赔偿",
        performed_immediately=True,
    )
    assert live(db_session, oral, "judicial_confirmation") == []
    written = mediating(world)
    written = world["act"]("mediator", written, "agree", at(12, 2), **WRITTEN)
    [r] = live(db_session, written, "judicial_confirmation")
    assert r.due_at.astimezone(SH).date() == date(2027, 1, 1)  # 30 days after 12-02


def test_only_a_written_agreement_can_be_confirmed_by_a_court(world):
    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), form="oral", terms="当场赔偿")
    e = refused(
        world,
        "grid_worker",
        d,
        "record_visit",
        at(12, 3),
        method="phone",
        result="judicial_confirmation",
    )
    assert e.code == "not_written" and set(e.fields) == {"result"}
    e = refused(world, "mediator", d, "record_court_outcome", at(12, 3), court_outcome="applied")
    assert e.code == "not_written"


def test_court_outcome_is_recorded_and_an_application_ends_the_window_reminder(world, db_session):
    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
    assert live(db_session, d, "judicial_confirmation")
    d = world["act"](
        "grid_worker", d, "record_visit", at(12, 5), method="phone", result="judicial_confirmation"
    )
    assert live(db_session, d, "judicial_confirmation") == []  # applied: nothing to remind
    e = refused(
        world,
        "mediator",
        d,
        "record_court_outcome",
        at(12, 6),
        court_outcome="confirmed",
        decided_on=date(2026, 12, 1),
    )
    assert e.code == "before_agreement" and set(e.fields) == {"decided_on"}
    e = refused(
        world,
        "mediator",
        d,
        "record_court_outcome",
        at(12, 6),
        court_outcome="confirmed",
        decided_on=date(2026, 12, 7),
    )
    assert e.code == "time_in_future"
    d = world["act"](
        "mediator",
        d,
        "record_court_outcome",
        at(12, 20),
        court_outcome="confirmed",
        court="诸暨市人民法院",
        decided_on=date(2026, 12, 18),
    )
    rows = db_session.scalars(
        select(CourtOutcome).where(CourtOutcome.dispute_id == d.id).order_by(CourtOutcome.id)
    ).all()
    assert [(r.outcome, r.decided_on) for r in rows] == [
        ("applied", date(2026, 12, 5)),
        ("confirmed", date(2026, 12, 18)),
    ]
    assert d.status == "follow_up"  # confirmation is not performance: still to be verified


def test_sued_after_an_agreement_ends_the_case_once_as_an_agreement_not_a_termination(world):
    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
    d = world["act"]("grid_worker", d, "record_visit", at(12, 21), method="phone", result="sued")
    assert d.status == "terminated" and d.agreed_at is not None
    assert d.exit_detail["after_agreement"] is True  # the report counts it as an agreement only


# ------------------------------------------------------------------ Art 27: archiving


def test_archive_only_a_complete_file_and_say_what_is_missing(world, db_session):
    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
    d = world["act"](
        "village_admin", d, "assess_risk", at(12, 3), likelihood=3, severity=4
    )  # ORANGE: two visits
    d = world["act"](
        "grid_worker", d, "record_visit", at(12, 21), method="phone", result="performed"
    )
    assert d.status == "resolved"
    e = refused(world, "village_admin", d, "archive", at(12, 22))
    assert e.code == "file_incomplete"
    assert set(e.fields) == {"signed_agreement", "visits"}
    assert "需要 2 次，已有 1 次" in e.fields["visits"][0] and "卷宗不完整" in e.message
    attach(db_session, d, "agreement", world["users"]["mediator"].id)
    d = world["act"](
        "grid_worker", d, "record_visit", at(12, 28), method="phone", result="performed"
    )
    d = world["act"]("village_admin", d, "archive", at(12, 29))
    assert d.status == "archived" and d.archived_at == at(12, 29)


def test_archive_without_a_signed_scan_when_the_township_says_so(world, db_session):
    from dataclasses import replace

    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
    d = world["act"](
        "grid_worker", d, "record_visit", at(12, 21), method="phone", result="performed"
    )
    assert world["settings"].archive_requires_signed_agreement is True  # the default
    from mediation.disputes import dossier

    lenient = replace(world["settings"], archive_requires_signed_agreement=False)
    assert set(dossier.missing(db_session, d, world["settings"])) == {"signed_agreement"}
    assert dossier.missing(db_session, d, lenient) == {}


# ------------------------------------------------------------------ tested by nothing before


def test_extension_needs_both_parties_consent(world):
    d = mediating(world)
    for consent in (
        {"applicant": True, "respondent": False},
        {"applicant": False, "respondent": True},
    ):
        e = refused(
            world,
            "mediator",
            d,
            "extend",
            at(12, 10),
            new_due_date=date(2027, 1, 20),
            consent=consent,
        )
        assert e.code == "consent_required" and set(e.fields) == {"consent"}
    due = d.mediation_due_on
    d = world["act"](
        "mediator",
        d,
        "extend",
        at(12, 10),
        new_due_date=due + timedelta(days=15),
        consent={"applicant": True, "respondent": True},
    )
    assert d.mediation_due_on == due + timedelta(days=15)


def test_second_visit_30_days_after_the_first_for_red_and_orange(world, db_session):
    for likelihood, severity, second in ((3, 4, True), (5, 4, True), (2, 3, False)):
        d = mediating(world)
        d = world["act"](
            "village_admin",
            d,
            "assess_risk",
            at(12, 1, 12),
            likelihood=likelihood,
            severity=severity,
        )
        if d.risk_level == "red":
            d = world["act"](
                "center_staff",
                d,
                "assign_leader",
                at(12, 1, 13),
                leader_id=world["users"]["leader"].id,
            )
        d = world["act"]("mediator", d, "agree", at(12, 2), **WRITTEN)
        d = world["act"](
            "grid_worker", d, "record_visit", at(12, 20), method="phone", result="performed"
        )
        if second:
            assert d.next_due_kind == "second_visit", d.risk_level
            assert d.next_due_at.astimezone(SH).date() == date(2027, 1, 19)  # 12-20 + 30
        else:
            assert d.next_due_at is None, d.risk_level


def test_first_visit_15_days_after_an_agreement_performed_on_the_spot(world):
    d = mediating(world)
    d = world["act"](
        "mediator",
        d,
        "agree",
        at(12, 2),
        form="oral",
        terms="当场赔偿",
        performed_immediately=True,
    )
    assert d.next_due_kind == "follow_up_visit"
    assert d.next_due_at == datetime(2026, 12, 17, 23, 59, 59, tzinfo=SH)


def test_15_digit_resident_id_upgrades_to_18_with_its_check_character():
    from mediation.pii import normalize_resident_id, resident_id_check_char

    upgraded = normalize_resident_id("330681900101123")
    assert upgraded[:17] == "33068119900101123"
    assert upgraded[17] == resident_id_check_char("33068119900101123")
    with pytest.raises(ValueError, match="出生日期"):
        normalize_resident_id("330681901301123")  # month 13


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("0575-87001234", "0575-87001234"),
        ("057587001234", "057587001234"),
        ("010-12345678", "010-12345678"),
        ("0575-8700123-801", "0575-8700123-801"),
        ("+86 0575-87001234", "0575-87001234"),
    ],
)
def test_landline_formats(raw, kept):
    from mediation.pii import mask_phone, normalize_phone

    assert normalize_phone(raw) == kept
    assert mask_phone(kept).endswith(kept[-4:]) and "****" in mask_phone(kept)


@pytest.mark.parametrize("raw", ["575-87001234", "0575-123456", "0575-87001234-1234567"])
def test_landline_formats_refused(raw):
    from mediation.pii import normalize_phone

    with pytest.raises(ValueError, match="固话"):
        normalize_phone(raw)


def _links(db_session, d):
    return {
        (r.kind, r.reason)
        for r in db_session.execute(
            text("SELECT kind, reason FROM dispute_link WHERE dispute_id = :d"), {"d": d.id}
        )
    }


def _far_cell(world):
    return world["cells"][-1]


def test_duplicate_detected_by_name_and_phone(world, db_session):
    no_id = [
        {"role": "applicant", "kind": "person", "name": "王五", "phone": "13700137000"},
        {"role": "respondent", "kind": "person", "name": "赵六"},
    ]
    first = world["register"](at(12, 1), parties=no_id)
    other_phone = [{**no_id[0], "phone": "13700137001"}, no_id[1]]
    again = world["register"](at(12, 2), cell=_far_cell(world), parties=other_phone, category="04")
    assert ("possible_duplicate", "same_party") not in _links(db_session, again)
    again = world["register"](at(12, 2), cell=_far_cell(world), parties=no_id, category="04")
    assert ("possible_duplicate", "same_party") in _links(db_session, again)
    assert first.id != again.id  # flagged, never blocked


def test_recurrence_window_is_180_days(world, db_session):
    from dataclasses import replace

    def resolved_case(now):
        d = mediating(world, now)
        d = world["act"](
            "mediator",
            d,
            "agree",
            now + timedelta(days=1),
            form="oral",
            terms="当场赔偿",
            performed_immediately=True,
        )
        return world["act"](
            "grid_worker",
            d,
            "record_visit",
            now + timedelta(days=2),
            method="phone",
            result="performed",
        )

    old = resolved_case(at(1, 5))  # resolved 2026-01-07
    assert old.resolved_at.astimezone(SH).date() == date(2026, 1, 7)
    assert world["settings"].recurrence_days == 180
    inside = world["register"](at(7, 5), cell=_far_cell(world))  # 179 days later
    assert ("recurrence", "same_party") in _links(db_session, inside)
    outside = world["register"](at(7, 7), cell=_far_cell(world))  # 181 days later
    assert ("recurrence", "same_party") not in _links(db_session, outside)
    wider = replace(world["settings"], recurrence_days=200)
    later = world["register"](at(7, 7), cell=_far_cell(world), settings_=wider)
    assert ("recurrence", "same_party") in _links(db_session, later)


def test_a_case_keeps_its_cell_after_its_boundary_is_replaced(world, db_session):
    from shapely.geometry import MultiPolygon, box

    from geo.cells import import_cells
    from geo.geojson import ParsedFeature
    from mediation.disputes.access import get_dispute
    from tests.factories import point_in

    cell = world["cells"][0]
    d = world["register"](at(12, 1))
    x, y = point_in(db_session, cell)
    redrawn = MultiPolygon([box(x - 0.001, y - 0.001, x + 0.001, y + 0.001)])
    result = import_cells(
        db_session,
        features=[ParsedFeature(0, cell, "第1网格（重划）", redrawn, False)],
        today=date(2026, 12, 2),
    )
    assert result.replaced == 1
    versions = db_session.execute(
        text("SELECT valid_to FROM grid_cell WHERE code = :c ORDER BY valid_from"), {"c": cell}
    ).all()
    assert sorted(str(v.valid_to) for v in versions) == ["2026-12-02", "None"]
    db_session.expire(d)
    assert d.cell_code == cell
    seen = get_dispute(db_session, actor=world["actors"]["grid_worker"], dispute_id=d.id)
    assert seen.id == d.id  # the cell's grid worker still sees it and is still told
    d = world["act"]("mediator", d, "accept", at(12, 3))
    assert d.cell_code == cell


def test_an_escalation_awaiting_acceptance_is_itself_supervised(world, db_session):
    from mediation import scheduler

    d = world["register"](at(12, 1))
    d = world["act"]("mediator", d, "accept", at(12, 1, 10))
    d = world["act"](
        "mediator", d, "escalate", at(12, 1, 11), to_level="township", reason="涉及多村"
    )
    [esc] = live(db_session, d, "escalation_acceptance")
    assert esc.recipient_role == "center_staff" and esc.recipient_area == "330681109"
    from mediation.reminders import service

    service.sweep(db_session, now=esc.due_at + timedelta(hours=1), webhook=False)
    made = scheduler.supervise(
        db_session, now=esc.due_at + timedelta(hours=25), delay=timedelta(hours=24)
    )
    assert made >= 1
    sup = db_session.scalar(
        select(Reminder).where(Reminder.kind == "supervision", Reminder.parent_id == esc.id)
    )
    assert (sup.recipient_role, sup.recipient_area) == ("county_admin", "330681")


def test_a_visit_records_its_photo_and_location(world, db_session):
    d = mediating(world)
    d = world["act"]("mediator", d, "agree", at(12, 2), form="oral", terms="当场赔偿")
    photo = attach(db_session, d, "photo", world["users"]["grid_worker"].id, sha="b" * 64)
    other = world["register"](at(12, 1))
    foreign = attach(db_session, other, "photo", world["users"]["grid_worker"].id, sha="c" * 64)
    e = refused(
        world,
        "grid_worker",
        d,
        "record_visit",
        at(12, 3),
        method="in_person",
        result="performed",
        photo_id=foreign.id,
    )
    assert e.code == "attachment_not_found" and set(e.fields) == {"photo_id"}
    d = world["act"](
        "grid_worker",
        d,
        "record_visit",
        at(12, 3),
        method="in_person",
        result="performed",
        photo_id=photo.id,
        location={"lon": 120.4235, "lat": 29.8286, "crs": "wgs84"},
    )
    v = db_session.scalar(select(FollowUpVisit).where(FollowUpVisit.dispute_id == d.id))
    assert v.photo_id == photo.id
    lon, lat = db_session.execute(
        select(func.ST_X(FollowUpVisit.location), func.ST_Y(FollowUpVisit.location)).where(
            FollowUpVisit.id == v.id
        )
    ).one()
    assert (round(lon, 4), round(lat, 4)) == (120.4235, 29.8286)
