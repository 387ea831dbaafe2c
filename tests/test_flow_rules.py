"""Issue 16 (flow): times users supply are checked, the report period must be over, missed
scheduled runs are caught up, the RED alert's recipients, the agreement's missing fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from errors import DomainError
from tests.factories import case_world

SH = ZoneInfo("Asia/Shanghai")


def at(m, d, h=9, y=2026):
    return datetime(y, m, d, h, tzinfo=SH)


@pytest.fixture
def world(app, db_session):
    return case_world(app, db_session, today=date(2026, 12, 1))


def _mediating(world, now):
    d = world["register"](now)
    d = world["act"]("mediator", d, "accept", now + timedelta(hours=1))
    return world["act"](
        "mediator", d, "start_mediation", now + timedelta(hours=2), rights_notice="书面告知"
    )


def test_minor_m2_agree_with_a_method_but_no_deadline_names_only_the_deadline(world):
    d = _mediating(world, at(12, 1))
    with pytest.raises(DomainError) as exc:
        world["act"](
            "mediator",
            d,
            "agree",
            at(12, 2),
            form="written",
            terms="赔偿",
            performance_method="转账",
        )
    assert exc.value.code == "agreement_incomplete"
    assert set(exc.value.fields) == {"performance_deadline"}
    with pytest.raises(DomainError) as exc:
        world["act"](
            "mediator",
            d,
            "agree",
            at(12, 2),
            form="written",
            terms="赔偿",
            performance_deadline=date(2026, 12, 20),
        )
    assert set(exc.value.fields) == {"performance_method"}
