"""Cases a new registration may repeat or continue: same parties (by their keyed hashes) or
the same place (within the duplicate radius) and the same category. Flagged as links, never
blocking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core import fastsql
from geo.near import metres_as_degrees, within_metres_sql
from mediation.disputes.enums import RESOLVED
from mediation.disputes.models import Dispute, DisputeLink
from mediation.disputes.settings import Settings

SQL_SAME_PARTIES = """
    SELECT 'party' AS via, d.id, d.status, d.resolved_at, d.closed_at, d.category, d.registered_at
    FROM dispute d
    WHERE d.id <> %(id)s AND d.id IN (
        SELECT p.dispute_id FROM party p
        WHERE p.id_number_hash = ANY(%(id_hashes)s) OR p.name_phone_hash = ANY(%(np_hashes)s))"""
SQL_RELATED = (
    SQL_SAME_PARTIES
    + """
    UNION ALL
    SELECT 'near', d.id, d.status, d.resolved_at, d.closed_at, d.category, d.registered_at
    FROM dispute d
    WHERE d.id <> %(id)s
      AND """
    + within_metres_sql("d.location")
)


def related_links(
    db_session: Session,
    dispute: Dispute,
    point: tuple[float, float] | None,
    settings: Settings,
    now: datetime,
) -> list[DisputeLink]:
    """Flag (never block) likely duplicates and recurrences: the links to add with the case,
    found in one prepared statement (same parties; same place, when the case has a point)."""
    found: dict = {}
    params = {
        "id": dispute.id,
        "id_hashes": [p.id_number_hash for p in dispute.parties if p.id_number_hash],
        "np_hashes": [p.name_phone_hash for p in dispute.parties if p.name_phone_hash],
    }
    if point is None:  # not located (an address only): the same parties are all we can match
        rows = fastsql.fetch(db_session, SQL_SAME_PARTIES, params)
    else:
        params |= {
            "x": point[0],
            "y": point[1],
            "deg": metres_as_degrees(settings.duplicate_radius_m, point[1]),
            "m": settings.duplicate_radius_m,
        }
        rows = fastsql.fetch(db_session, SQL_RELATED, params)
    # Same parties first: a case found both ways is flagged for its parties.
    for r in sorted(rows, key=lambda r: r.via != "party"):
        if r.via == "party":
            kind = _relation(r, settings, now)
            if kind:
                found.setdefault((r.id, kind), "same_party")
            continue
        recent = (now - r.registered_at).days <= settings.duplicate_days
        if r.category == dispute.category and recent and r.closed_at is None:
            found.setdefault((r.id, "possible_duplicate"), "nearby_same_category")
        elif r.category == dispute.category and (r.status == RESOLVED or r.resolved_at is not None):
            # Same place alone is a neighbour's other matter; a recurrence is the same dispute
            # (same category) coming back where it was resolved (issue 19).
            if r.resolved_at and (now - r.resolved_at).days <= settings.recurrence_days:
                found.setdefault((r.id, "recurrence"), "same_place")
    return [
        DisputeLink(dispute_id=dispute.id, other_id=other, kind=kind, reason=reason)
        for (other, kind), reason in found.items()
    ]


def _relation(r, settings: Settings, now: datetime) -> str | None:
    if r.closed_at is None:
        return "possible_duplicate"
    if r.resolved_at is not None and (now - r.resolved_at).days <= settings.recurrence_days:
        return "recurrence"
    return None
