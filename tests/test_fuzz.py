"""Fuzzing the whole API from its own OpenAPI document (schemathesis), as every role and as nobody.

For every operation of `/api/openapi.json`, Hypothesis generates requests that fit the document
(positive) and requests that break it (negative: wrong types, missing fields, out-of-range
values …), each sent as one of the roles (or without a token), with path parameters either
generated or taken from real records of the test county (so the fuzzer gets past 404 into the
use cases). Every response must be:

* no 5xx;
* a status the document lists for the operation (there is no catch-all `default` response:
  `api/openapi.py` documents what policies, parameters, bodies and limits can answer);
* of the documented content type, and its body valid against the documented schema (errors: the
  one error shape);
* a 4xx for a request that breaks the document (negative data is rejected);
* 401 for a well-formed request without a token to an operation that needs one (a path that
  matches no route is 404 for everybody).

Each example runs in a savepoint of the test's transaction, rolled back after it: the examples
cannot change what the next one sees (a fuzzed logout or deactivation does not log the roles
out), and nothing is left behind. The CI run is short and deterministic (derandomized, a bounded
number of examples per operation and generation mode); `make fuzz` / `scripts/fuzz.sh` runs the
long one (FUZZ_EXAMPLES, FUZZ_SEED).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.factories import COUNTY, OTHER_TOWNSHIP, PASSWORD, TOWNSHIP, bearer, role_users

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # per operation and generation mode
SEED = os.environ.get("FUZZ_SEED")  # unset: derandomized (the same requests every run)

ROLES = [
    None,
    "grid_worker",
    "mediator",
    "village_admin",
    "center_staff",
    "leader",
    "county_admin",
    "admin",
]
ACCEPTABLE_FOR_VALID_DATA = ["2xx", "401", "403", "404", "409", "422", "428", "429"]
# One test per tag (= blueprint); test_every_tag_is_fuzzed keeps the list complete.
TAGS = [
    "health",
    "auth",
    "users",
    "geo",
    "disputes",
    "categories",
    "papers",
    "inbox",
    "screening",
    "sync",
    "console",
    "reports",
    "partners",
    "partner_api",
    "channels",
    "risks",
]


@pytest.fixture(scope="module")
def api_schema(app):
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    # The token is ours to send (per role), not a parameter to break; unknown query parameters
    # are ignored by design (cache-busters), so the fuzzer does not invent them.
    # positive_data_acceptance: a request that fits the document may still break a business
    # rule the document states as 409/422/428 (a wrong status, a bad ID checksum, a file that is
    # no photo), but never 400/413/415 or an undocumented status.
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"with-security-parameters": False, "allow-extra-parameters": False},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTABLE_FOR_VALID_DATA},
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)


def _checks():
    """Every check schemathesis has (`--checks all`). The stateful ones (use_after_free,
    ensure_resource_availability, object_level_authorization) need a recorded sequence of
    calls and pass on single requests; the coverage-phase ones (missing_required_header,
    unsupported_method) are tested directly in tests/test_i16_api.py."""
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return CHECKS.get_all()


# How to bring a registered case into each status through the real use cases: (role, action,
# payload) steps. Every status of the flow, and open cases waiting on an escalation, at the
# township, RED with a leader, extended, re-assessed.
AGREE = {
    "form": "written",
    "facts": "排水沟堵塞",
    "terms": "赔偿修缮费",
    "performance_method": "转账",
    "performance_place": "先进村",
}
PATHS = {
    "registered": [],
    "overdue": [],  # registered ten days ago, never accepted: the overdue list has a row
    "accepted": [("grid_worker", "accept", {})],
    "mediating": [
        ("grid_worker", "accept", {}),
        ("grid_worker", "start_mediation", {"rights_notice": "当面告知"}),
        ("grid_worker", "record_session", {"summary": "第一次调解", "held_at": "@now"}),
        ("grid_worker", "assess_risk", {"likelihood": 3, "severity": 3}),
    ],
    "agreed": "mediating+agree",
    "follow_up": "agreed+partly",
    "resolved": "agreed+performed",
    # an oral agreement: a written one's file needs the signed scan before archiving (Art 27)
    "archived": "mediating+agree_oral+performed+archive",
    "reopened": "agreed+not_performed",
    "rejected": [("grid_worker", "reject", {"ground": "not_civil_dispute"})],
    "terminated": "mediating+terminate",
    "referred": [("grid_worker", "refer", {"target": "police", "reason": "涉嫌违法"})],
    "withdrawn": [("grid_worker", "accept", {}), ("grid_worker", "withdraw", {"reason": "撤回"})],
    "escalated": [("grid_worker", "escalate", {"to_level": "village", "reason": "调解不成"})],
    "at_township": [
        ("grid_worker", "escalate", {"to_level": "township", "reason": "涉及多村"}),
        ("center_staff", "accept_escalation", {}),
        ("center_staff", "accept", {}),
    ],
    "red_with_leader": [
        ("grid_worker", "assess_risk", {"likelihood": 5, "severity": 5}),
        ("center_staff", "assign_leader", {"leader_id": "@leader"}),
    ],
    "extended": [
        ("grid_worker", "accept", {}),
        ("grid_worker", "start_mediation", {"rights_notice": "当面告知"}),
        (
            "grid_worker",
            "extend",
            {"new_due_date": "@later", "consent": {"applicant": True, "respondent": True}},
        ),
    ],
}
_SUFFIX = {
    "agree": [("grid_worker", "agree", {**AGREE, "performance_deadline": "@later"})],
    "agree_oral": [("grid_worker", "agree", {"form": "oral", "terms": "当场赔偿"})],
    "partly": [("grid_worker", "record_visit", {"method": "phone", "result": "partly"})],
    "performed": [("grid_worker", "record_visit", {"method": "in_person", "result": "performed"})],
    "not_performed": [
        ("grid_worker", "record_visit", {"method": "phone", "result": "not_performed"})
    ],
    "archive": [("village_admin", "archive", {})],
    "terminate": [("grid_worker", "terminate", {"reason": "双方分歧大", "routes": ["litigation"]})],
}


def _steps(name: str) -> list:
    path = PATHS[name]
    if isinstance(path, list):
        return path
    head, *tail = path.split("+")
    return [*_steps(head), *(step for t in tail for step in _SUFFIX[t])]


def _every_status(app, db_session, c) -> dict:
    """Cases in every status (and then some) in the users' village, through the use cases."""
    from datetime import UTC, datetime, timedelta

    from api.disputes import settings, store
    from api.schemas.disputes import ActionIn, DisputeIn
    from core.clock import business_date
    from mediation.disputes import flow, registration
    from mediation.pii import vault_for
    from mediation.users.actor import load_actor
    from tests.factories import dispute_payload

    now = datetime.now(UTC) - timedelta(hours=1)
    today = business_date(now)
    actors = {r: load_actor(db_session, user=u, today=today) for r, u in c["users"].items()}
    subst = {
        "@now": now.isoformat(),
        "@later": (today + timedelta(days=60)).isoformat(),
        "@leader": c["users"]["leader"].id,
    }
    out = {}

    def when(name):
        return now - timedelta(days=10) if name == "overdue" else now

    with app.test_request_context():
        for i, name in enumerate(PATHS):
            data = DisputeIn().load(
                dispute_payload(
                    db_session,
                    c["cells"][i % 2],
                    description=f"{name} 状态的案件",
                    amount="300.50",
                    occurred_at=(when(name) - timedelta(hours=2)).isoformat(),
                )
            )
            case, _, _ = registration.register_dispute(
                db_session,
                actor=actors["grid_worker"],
                data=data,
                photos=[],
                now=when(name),
                settings=settings(),
                vault=vault_for(app.config["PII_KEY"]),
                store=store(),
            )
            for role, action, payload in _steps(name):
                body = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
                if action == "assign_leader":
                    body["leader_id"] = subst["@leader"]
                case = flow.act(
                    db_session,
                    actor=actors[role],
                    dispute_id=case.id,
                    action=action,
                    payload=ActionIn().load(body),
                    expected_version=case.version,
                    now=now,
                    settings=settings(),
                )
            out[name] = case
    db_session.flush()
    statuses = {case.status for case in out.values()}
    assert statuses >= {
        "registered", "accepted", "mediating", "agreed", "follow_up", "resolved", "archived",
        "rejected", "terminated", "referred", "withdrawn", "reopened",
    }, statuses  # fmt: skip
    assert out["escalated"].escalation_target == "village"
    assert out["overdue"].next_due_at < now
    return out


@pytest.fixture
def world(app, client, db_session):
    """Role users around 枫桥镇, cases in every status and real records to aim at, and a token
    per role."""
    from mediation.reminders.models import Reminder
    from tests.test_authorization_matrix import _cases, _report, _screening

    c = role_users(app, db_session)
    c["db_session"] = db_session
    cases, atts = _cases(app, db_session, c)
    populated = _every_status(app, db_session, c)
    rounds, campaigns = _screening(app, db_session, c)
    reports = [
        int(_report(status=status)(c, "village_admin", where)[0].rsplit("/", 1)[1])
        for status, where in (("draft", "in"), ("submitted", "in"), ("draft", "out"))
    ]
    now = datetime.now(UTC)
    reminders = []
    for role, user in c["users"].items():
        r = Reminder(
            key=f"fuzz:{role}",
            kind="acceptance",
            area_code=c["village"],
            recipient_id=user.id,
            dispute_id=cases["in"].id,
            due_at=now,
            remind_at=now,
            state="due",
            title="受理提醒",
            body={},
            created_at=now,
            fired_at=now,
        )
        db_session.add(r)
        reminders.append(r)
    db_session.flush()
    tokens = {}
    for role, user in c["users"].items():
        r = client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.get_json()
        tokens[role] = r.get_json()["access_token"]
    users = [*c["users"].values(), *c["targets"].values()]
    from mediation.disputes.workflow import TRANSITIONS

    known = {
        "dispute_id": [str(case.id) for case in [*cases.values(), *populated.values()]],
        "party_id": [p.id for case in cases.values() for p in case.parties],
        "attachment_id": [str(a.id) for a in atts.values()],
        "user_id": [u.id for u in users],
        "cell_code": [*c["cells"][:3], c["other_cells"][0]],
        "code": [COUNTY, TOWNSHIP, OTHER_TOWNSHIP, c["village"], c["other_village"], c["cells"][0]],
        "reminder_id": [r.id for r in reminders],
        "round_id": [str(r.id) for r in rounds.values()],
        "campaign_id": [str(x.id) for x in campaigns.values()],
        "report_id": reports,
        "month": ["2026-11", now.strftime("%Y-%m")],
        "sha256": [a.sha256 for a in atts.values()],
        "action": sorted(TRANSITIONS),
    }
    return {"tokens": tokens, "known": known, "users": c["users"]}


def _operations(api_schema, tag):
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if tag in operation.definition.raw.get("tags", []):
            yield operation


def _strategy(operation, mode, known):
    """Generated requests, or the same with path parameters aimed at real records."""
    from schemathesis import GenerationMode

    mode = GenerationMode(mode)
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not names or any(n not in known for n in names):
        return generated
    aimed = st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names}).flatmap(
        lambda values: operation.as_strategy(generation_mode=mode, path_parameters=values)
    )
    return st.one_of(aimed, aimed, generated)


def _has_inputs(operation) -> bool:
    return bool(len(operation.query) or len(operation.body) or len(operation.headers))


def test_every_tag_is_fuzzed(api_schema):
    tags = {t for r in api_schema.get_all_operations() for t in r.ok().definition.raw["tags"]}
    assert tags == set(TAGS)


@pytest.mark.parametrize("tag", TAGS)
def test_fuzz(app, api_schema, db_session, world, suite, tag):
    """No 5xx, documented statuses and schemas, negative data rejected, as every role."""
    from api.extensions import limiter

    checks = _checks()
    connection = db_session.get_bind()
    sent = 0
    failures = []

    def run(operation, mode):
        nonlocal sent

        @settings(
            max_examples=EXAMPLES,
            derandomize=SEED is None,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(role=st.sampled_from(ROLES), case=_strategy(operation, mode, world["known"]))
        def fuzz_one(role, case):
            nonlocal sent
            headers = bearer(world["tokens"][role]) if role else {}
            db_session.remove()
            savepoint = connection.begin_nested()
            try:
                response = case.call(headers=headers)
                sent += 1
                case.validate_response(response, checks=checks, headers=headers)
                if mode == "positive" and role is None and operation.definition.raw["security"]:
                    assert response.status_code == 401, (
                        f"{operation.label} without a token answered {response.status_code}"
                    )
            except BaseException as exc:
                exc.add_note(f"as: {role or 'no token'}")
                raise
            finally:
                db_session.remove()
                if savepoint.is_active:
                    savepoint.rollback()
                limiter.reset()

        if SEED is not None:
            fuzz_one = seed(int(SEED))(fuzz_one)
        fuzz_one()

    limiter.reset()
    for operation in _operations(api_schema, tag):
        for mode in ("positive", "negative"):
            if mode == "negative" and not _has_inputs(operation):
                continue
            try:
                run(operation, mode)
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                notes = "\n".join(getattr(exc, "__notes__", []))
                failures.append(f"--- {operation.label} [{mode}]\n{exc}\n{notes}")
    suite.tried(sent)
    assert not failures, "\n\n".join(failures)
