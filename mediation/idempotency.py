"""One client-id rule for every offline write (cases, screening rounds, …).

A phone names what it creates with its own id (a UUID) so that a retry after a lost answer is
recognised: the same id from the same person with the same content is the record already made;
the same id from someone else is refused (`client_id_taken`); the same id with other content is
refused too (`client_id_conflict`) — a change is an action on the record, never a silent
overwrite. The content is compared by a fingerprint of its canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from core.errors import Conflict
from mediation.users.actor import Actor

T = TypeVar("T")


def _default(o: Any) -> str:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o.quantize(Decimal("0.01")))
    return str(o)


def canonical(body: dict) -> str:
    """Key-sorted JSON: two equal bodies give the same text whatever their key order."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False, default=_default)


def fingerprint(body: dict) -> str:
    return hashlib.sha256(canonical(body).encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    """How a kind of record names itself in the two refusals."""

    taken: str  # the id belongs to another person's record
    changed: str  # the same id came back with other content
    conflict_code: str = "client_id_conflict"
    field: str = "client_id"


def same_or_conflict(
    existing: T,
    *,
    owner_id: int,
    stored_digest: str,
    digest: str,
    actor: Actor,
    record: Record,
    details: dict | None = None,
) -> T:
    """The existing record when this is a true retry; otherwise the refusal that explains why."""
    if owner_id != actor.user_id:
        raise Conflict(record.taken, code="client_id_taken", field=record.field)
    if stored_digest != digest:
        raise Conflict(
            record.changed, code=record.conflict_code, field=record.field, details=details
        )
    return existing
