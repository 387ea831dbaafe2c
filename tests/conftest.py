"""Test fixtures: a migrated PostGIS test database holding the real county, one transaction per test.

The county is loaded once and kept between runs; it is rebuilt (schema dropped, migrations run,
county imported) whenever the migrations, the geo code or the demo data change. Each test runs
inside a transaction that is rolled back, so tests never see each other's writes.
"""

from __future__ import annotations

import glob
import hashlib
import os

import pytest
import sqlalchemy.orm
from flask_migrate import upgrade
from sqlalchemy import text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("DEMO_DATA_DIR", os.path.join(ROOT, "data", "zhuji"))
COUNTY = "330681"

pytest_plugins = ["tests.suite_report"]


def _fingerprint() -> str:
    h = hashlib.sha256()
    patterns = [
        "migrations/versions/*.py",
        "geo/*.py",
        "mediation/demo.py",
        "data/calendar/*.json",
        "tests/conftest.py",
    ]
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, "rb") as fh:
                h.update(fh.read())
    for path in sorted(glob.glob(os.path.join(DATA_DIR, "*.json*"))):
        h.update(os.path.basename(path).encode() + str(os.path.getsize(path)).encode())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def app():
    """The app on the test database, migrated, with the real county and its cells loaded."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.exit("TEST_DATABASE_URL is not set: run the tests with `make test`", returncode=2)
    if not glob.glob(os.path.join(DATA_DIR, "330681.json*")):
        pytest.exit(f"the county data is missing at {DATA_DIR} (set DEMO_DATA_DIR)", returncode=2)
    from api import create_app
    from core.db import db

    app = create_app("testing")
    with app.app_context():
        fp = _fingerprint()
        dbname = db.engine.url.database
        current = db.session.scalar(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :d"
            ),
            {"d": dbname},
        )
        if current != f"fixture:{fp}":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
                conn.execute(text("DROP EXTENSION IF EXISTS postgis CASCADE"))
            upgrade()
            _load_county(app)
            with db.engine.begin() as conn:
                conn.execute(text(f"COMMENT ON DATABASE {dbname} IS 'fixture:{fp}'"))
        db.session.remove()
    return app


def _load_county(app) -> None:
    from core.clock import business_date, utcnow
    from core.db import db
    from geo.cells import generate_cells
    from geo.geojson import parse_feature_collection, read_geojson
    from geo.importer import import_areas
    from mediation.demo import demo_files

    features = []
    for path in demo_files(DATA_DIR):
        features.extend(parse_feature_collection(read_geojson(path), "gcj02"))
    today = business_date(utcnow())
    import_areas(db.session, features=features, today=today)
    generate_cells(
        db.session,
        today=today,
        target_km2=app.config["CELL_TARGET_AREA_KM2"],
        target_households=app.config["CELL_TARGET_HOUSEHOLDS"],
        scope_code=COUNTY,
    )
    from mediation import calendar

    for path in sorted(glob.glob(os.path.join(ROOT, "data", "calendar", "*.json"))):
        calendar.import_year(db.session, doc=calendar.read_file(path))
    db.session.commit()


class _BoundSession(sqlalchemy.orm.Session):
    """Accepts (and ignores) the `db` argument Flask-SQLAlchemy's factory passes."""

    def __init__(self, db=None, **kwargs):
        super().__init__(**kwargs)


@pytest.fixture
def db_session(app):
    """A session inside a transaction rolled back after the test (commits become savepoints)."""
    from core.db import db

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        # A plain Session: Flask-SQLAlchemy's own Session routes mapped classes to the engine,
        # which would escape the test's transaction.
        session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": _BoundSession,
            }
        )
        original = db.session
        db.session = session
        try:
            yield session
        finally:
            session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app, db_session):
    """A test client whose requests share the test's transaction."""
    return app.test_client()


@pytest.fixture
def county_client(app, db_session, client):
    """A test client logged in as the county's comprehensive-governance centre (sees the county)."""
    from tests.factories import login, make_user

    make_user(app, db_session, "t_county_client", [{"role": "county_admin", "area_code": COUNTY}])
    token = login(client, "t_county_client")["access_token"]
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def committed(app):
    """A grid worker and a mediator committed for real; everything they made is removed after."""
    from core.db import db
    from tests.factories import cells_of, make_user, village_with_cells

    with app.app_context():
        village = village_with_cells(db.session, "330681104")  # 店口镇, away from other tests
        cells = cells_of(db.session, village)
        gw = make_user(app, db.session, "c_gw", [{"role": "grid_worker"}], cells[:1])
        make_user(app, db.session, "c_med", [{"role": "mediator", "area_code": village}])
        db.session.commit()
        yield {"cells": cells, "village": village, "gw_id": gw.id}
        db.session.rollback()
        with db.engine.begin() as conn:
            # Audit rows are append-only; the test lifts that for its own cleanup only.
            conn.execute(
                text("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only")
            )
            conn.execute(text("DELETE FROM dispute WHERE village_code = :v"), {"v": village})
            conn.execute(text("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only"))
            conn.execute(text("DELETE FROM case_counter WHERE village_code = :v"), {"v": village})
            conn.execute(text("DELETE FROM user_account WHERE username IN ('c_gw', 'c_med')"))
