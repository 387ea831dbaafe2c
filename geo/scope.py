"""Area scopes as SQL: the one helper every listing and lookup uses to stay inside a user's area.

A scope is a set of codes of any level (6 county, 9 township, 12 village, 15 cell). A record
carrying the codes of its cell, village, township and county is inside the scope when one of its
codes equals a scope code of the same length. No result is ever filtered afterwards in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, true


@dataclass(frozen=True)
class AreaScope:
    """Codes a user may see; `everything` for deployment-wide roles."""

    codes: frozenset[str] = field(default_factory=frozenset)
    everything: bool = False

    def by_length(self) -> dict[int, list[str]]:
        """Scope codes grouped by their length."""
        out: dict[int, list[str]] = {}
        for c in sorted(self.codes):
            out.setdefault(len(c), []).append(c)
        return out

    def contains_code(self, code: str) -> bool:
        """True when an area/cell code lies inside the scope (pure, for single objects)."""
        return self.everything or any(code.startswith(c) for c in self.codes)

    def sees_code(self, code: str) -> bool:
        """Inside the scope, or an ancestor of it (for navigating the area tree)."""
        return self.everything or any(code.startswith(c) or c.startswith(code) for c in self.codes)


def record_clause(
    scope: AreaScope, *, cell=None, village=None, township=None, county=None
) -> ColumnElement[bool]:
    """WHERE clause: a record whose code columns fall inside the scope."""
    if scope.everything:
        return true()
    columns = {15: cell, 12: village, 9: township, 6: county}
    parts = [
        columns[length].in_(codes)
        for length, codes in scope.by_length().items()
        if columns.get(length) is not None
    ]
    return or_(*parts) if parts else false()


def code_prefix_clause(scope: AreaScope, code_column) -> ColumnElement[bool]:
    """WHERE clause: an area/cell code inside the scope (by prefix)."""
    if scope.everything:
        return true()
    if not scope.codes:
        return false()
    return or_(*[code_column.startswith(c, autoescape=True) for c in sorted(scope.codes)])


def visible_area_clause(scope: AreaScope, code_column) -> ColumnElement[bool]:
    """WHERE clause: an area inside the scope or one of its ancestors."""
    if scope.everything:
        return true()
    ancestors = {c[:n] for c in scope.codes for n in (6, 9, 12) if n < len(c)}
    return or_(code_prefix_clause(scope, code_column), code_column.in_(sorted(ancestors)))


def sql_params(scope: AreaScope) -> dict:
    """Bind parameters for text SQL: `(:everything OR code LIKE ANY(:prefixes)
    OR code = ANY(:ancestors))` — the same rule as the clauses above."""
    return {
        "everything": scope.everything,
        "prefixes": [f"{c}%" for c in sorted(scope.codes)],
        "ancestors": sorted({c[:n] for c in scope.codes for n in (6, 9, 12) if n < len(c)}),
    }


SQL_VISIBLE = "(:everything OR {col} LIKE ANY(:prefixes) OR {col} = ANY(:ancestors))"
SQL_INSIDE = "(:everything OR {col} LIKE ANY(:prefixes))"
