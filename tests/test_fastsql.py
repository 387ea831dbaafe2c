"""core.fastsql, the ORM bypass of the hot paths, tested on its own: rows it writes are the rows a
flush would write, read back onto the objects, and the objects are then ordinary persistent ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select, text

from core import fastsql
from geo.models import Area
from mediation.reminders.models import PENDING, Reminder

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def _reminder(key: str, **over) -> Reminder:
    fields = dict(
        key=key,
        kind="test_fastsql",
        area_code="330681109",
        recipient_role="center_staff",
        recipient_area="330681109",
        due_at=NOW + timedelta(days=1),
        remind_at=NOW,
        title="测试",
        created_at=NOW,
    )
    fields.update(over)
    return Reminder(**fields)


def _columns(row) -> dict:
    return {c.key: getattr(row, c.key) for c in Reminder.__table__.columns if c.key != "id"}


def test_insert_new_writes_what_a_flush_writes_with_python_defaults(db_session):
    by_orm = _reminder("fastsql:orm")
    db_session.add(by_orm)
    db_session.flush()
    fast = _reminder("fastsql:fast")
    fastsql.insert_new(db_session, ([fast], ()))
    assert fast.id is not None and fast.id != by_orm.id  # the identity, read back
    assert fast.state == PENDING and fast.body == {}  # Python-side defaults, as a flush applies
    stored = db_session.execute(
        text("SELECT state, body, title FROM reminder WHERE id = :i"), {"i": fast.id}
    ).one()
    assert tuple(stored) == (PENDING, {}, "测试")
    orm_cols, fast_cols = _columns(by_orm), _columns(fast)
    orm_cols.pop("key"), fast_cols.pop("key")
    assert fast_cols == orm_cols


def test_insert_new_tells_rows_of_one_group_apart_by_the_match_columns(db_session):
    rows = [_reminder(f"fastsql:many:{i}", body={"n": i}) for i in range(3)]
    fastsql.insert_new(db_session, (rows, ("key",)))
    ids = [r.id for r in rows]
    assert len(set(ids)) == 3
    for r in rows:  # each object got the id of its own row, not of another one
        body = db_session.scalar(text("SELECT body FROM reminder WHERE id = :i"), {"i": r.id})
        assert body == r.body


def test_adopted_objects_are_persistent_and_update_by_flush(db_session):
    r = _reminder("fastsql:adopt")
    fastsql.insert_new(db_session, ([r], ()))
    fastsql.adopt(db_session, [r])
    assert db_session.get(Reminder, r.id) is r  # the session knows it: no second load
    r.state = "cancelled"
    db_session.flush()  # an UPDATE, not a second INSERT
    count, state = db_session.execute(
        text("SELECT count(*), max(state) FROM reminder WHERE key = 'fastsql:adopt'")
    ).one()
    assert (count, state) == (1, "cancelled")


def test_geometry_and_server_defaults_round_trip(db_session):
    square = MultiPolygon(
        [Polygon([(120.0, 29.0), (120.01, 29.0), (120.01, 29.01), (120.0, 29.0)])]
    )
    area = Area(
        code="330681999999",
        level="village",
        parent_code="330681999",
        name="测试村",
        geom=from_shape(square, srid=4326),
        geom_hash="x" * 64,
        valid_from=date(2026, 1, 1),
    )
    fastsql.insert_new(db_session, ([area], ()))
    assert area.id is not None and area.created_at is not None  # the server default, read back
    wkt, srid = db_session.execute(
        text("SELECT ST_AsText(geom), ST_SRID(geom) FROM area WHERE id = :i"), {"i": area.id}
    ).one()
    assert srid == 4326 and wkt.startswith("MULTIPOLYGON(((120 29,120.01 29")


def test_fetch_sees_pending_orm_changes_and_fetch_all_keeps_order(db_session):
    db_session.add(_reminder("fastsql:pending"))  # not flushed yet
    found = fastsql.fetch_one(
        db_session, "SELECT key FROM reminder WHERE key = %(k)s", {"k": "fastsql:pending"}
    )
    assert found is not None and found.key == "fastsql:pending"
    first, second, none = fastsql.fetch_all(
        db_session,
        [
            ("SELECT 1 AS n", None),
            ("SELECT %(v)s::int AS n", {"v": 2}),
            ("SELECT 1 AS n WHERE false", None),
        ],
    )
    assert (first[0].n, second[0].n, none) == (1, 2, [])
    assert db_session.scalar(select(Reminder.key).where(Reminder.key == "fastsql:pending"))
