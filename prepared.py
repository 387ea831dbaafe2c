"""Hot-path statements as prepared statements on the session's own driver connection.

On the paths measured by bench/run.py (locate, the token check on every request, registration)
SQLAlchemy's statement and result machinery cost more CPU than the statement itself did in the
database. These helpers run a SQL string through psycopg directly, in the session's transaction,
as a server-side prepared statement (psycopg prepares a statement after it has run once; see
`prepare=True`).

Errors keep SQLAlchemy's contract: the driver's error is wrapped in the matching
`sqlalchemy.exc.DBAPIError` subclass (a lost connection is an OperationalError, which the API
answers with 503) and a dead connection is invalidated, so the pool never hands it out again.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def fetch(db_session: Session, sql: str, params: dict | None = None) -> list:
    """All rows (named tuples) of `sql` with psycopg placeholders (%(name)s). Pending ORM changes
    are flushed first, as the session's own queries do (autoflush)."""
    if db_session.autoflush:
        db_session.flush()
    connection = db_session.connection()
    driver = connection.connection.driver_connection
    try:
        with driver.cursor(row_factory=namedtuple_row) as cur:
            cur.execute(sql, params, prepare=True)
            return cur.fetchall() if cur.description is not None else []
    except psycopg.Error as error:
        dialect = connection.dialect
        lost = dialect.is_disconnect(error, driver, None)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql, params, error, psycopg.Error, connection_invalidated=lost, dialect=dialect
        ) from error


def fetch_one(db_session: Session, sql: str, params: dict | None = None):
    """The first row of `sql`, or None."""
    rows = fetch(db_session, sql, params)
    return rows[0] if rows else None
