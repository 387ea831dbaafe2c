"""A clone on its own is the whole product (issue 15): its data, no path outside the checkout,
one spelling of a time."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from geo.geojson import read_geojson
from mediation.demo import DEFAULT_DATA_DIR, demo_files, village_stems
from tests.factories import Api, dispute_payload, role_users

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Any path that climbs out of the checkout to a `shared` folder
OUTSIDE = re.compile(r"""\.\.\s*['"]?\s*[,/\\]\s*['"]?shared|\.\./shared""")


def test_the_demo_county_ships_inside_the_repository():
    assert os.path.realpath(DEFAULT_DATA_DIR).startswith(os.path.realpath(ROOT) + os.sep)
    stems = village_stems(DEFAULT_DATA_DIR)
    assert len(stems) == 23  # one file of villages per township
    villages = sum(len(read_geojson(p)["features"]) for p in demo_files(DEFAULT_DATA_DIR)[2:])
    assert villages == 518
    tracked = subprocess.run(
        ["git", "ls-files", "data/zhuji"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if tracked:  # in a git checkout: the files are committed, not left lying around
        assert "data/zhuji/README.md" in tracked and len(tracked) == 27


def test_no_code_reads_from_outside_the_checkout():
    offenders = []
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in {".venv", ".git", "var", "node_modules"}]
        for name in files:
            if not (name.endswith((".py", ".sh")) or name == "Makefile"):
                continue
            path = os.path.join(base, name)
            if path == os.path.abspath(__file__):
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    if OUTSIDE.search(line):
                        offenders.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_a_gzip_file_that_is_broken_is_a_clear_error(tmp_path):
    from core.errors import DomainError

    bad = tmp_path / "broken.json.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DomainError) as exc:
        read_geojson(str(bad))
    assert exc.value.code == "invalid_geojson"


@pytest.fixture
def gw(app, client, db_session):
    ctx = role_users(app, db_session)
    return Api(client, "t_gw"), ctx


def test_registration_answers_times_in_utc_as_the_replay_and_the_case_file_do(gw, db_session):
    api, ctx = gw
    shanghai = timezone(timedelta(hours=8))
    occurred = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    payload = dispute_payload(
        db_session,
        ctx["cells"][0],
        client_id=str(uuid.uuid4()),
        occurred_at=occurred.astimezone(shanghai).isoformat(),
    )
    first = api.register(payload)
    assert first.status_code == 201, first.get_json()
    replay = api.register(payload)
    assert replay.status_code == 200
    case_file = api.get(first.get_json()["id"])
    spelled = {r.get_json()["occurred_at"] for r in (first, replay, case_file)}
    assert spelled == {occurred.isoformat()}  # one spelling, UTC (+00:00)
