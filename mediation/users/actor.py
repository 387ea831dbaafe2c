"""The acting user as the domain sees it: roles with their areas, and the scopes they imply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from geo.scope import AreaScope
from mediation.users.enums import ADMIN, GRID_WORKER
from mediation.users.models import CellAssignment, User


@dataclass(frozen=True)
class Actor:
    """Who acts: id, roles → area codes, current cells (grid workers)."""

    user_id: int | None
    username: str
    display_name: str
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    cells: frozenset[str] = frozenset()

    def has(self, *roles: str) -> bool:
        """True when the actor holds any of the roles."""
        return any(r in self.roles for r in roles)

    def scope_for(self, *roles: str) -> AreaScope:
        """The codes the actor covers through the given roles (all roles when none given)."""
        codes: set[str] = set()
        for role, areas in self.roles.items():
            if roles and role not in roles:
                continue
            codes |= self.cells if role == GRID_WORKER else areas
        return AreaScope(frozenset(codes))

    @property
    def case_scope(self) -> AreaScope:
        """Where the actor sees disputes (the system administrator sees none)."""
        return self.scope_for(*[r for r in self.roles if r != ADMIN])

    @property
    def map_scope(self) -> AreaScope:
        """Where the actor may browse boundaries: grid workers see their whole village's map."""
        if ADMIN in self.roles:
            return AreaScope(everything=True)
        codes = {c[:12] if len(c) == 15 else c for c in self.case_scope.codes}
        return AreaScope(frozenset(codes))


def current_cells_clause(user_id, today: date):
    """The cell assignments of a user that are valid on `today`."""
    return and_(
        CellAssignment.user_id == user_id,
        CellAssignment.valid_from <= today,
        or_(CellAssignment.valid_to.is_(None), CellAssignment.valid_to > today),
    )


def load_actor(
    db_session: Session, *, user: User, today: date, cells: frozenset[str] | None = None
) -> Actor:
    """Build the Actor for a user, with the cells assigned to them today (`cells` when the caller
    read them already, as the token check does in the same statement)."""
    roles: dict[str, set[str]] = {}
    for r in user.roles:
        roles.setdefault(r.role, set())
        if r.area_code:
            roles[r.role].add(r.area_code)
    if cells is None:
        cells = frozenset(
            db_session.scalars(
                select(CellAssignment.cell_code).where(current_cells_clause(user.id, today))
            )
        )
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles={k: frozenset(v) for k, v in roles.items()},
        cells=cells,
    )


def system_actor() -> Actor:
    """The operator at the command line: administrator powers, no user row."""
    return Actor(user_id=None, username="system", display_name="系统", roles={ADMIN: frozenset()})
