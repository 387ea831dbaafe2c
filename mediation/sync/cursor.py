"""The opaque sync cursor: where a phone stands in its sync.

Two kinds, both opaque to the phone (base64 text it stores and sends back):

* `Position(txid, id)` — the last change-log row served: everything at or before it is done.
* `Bootstrap(watermark, after, cell)` — a first sync in progress, paging through my cells (by
  code, while `cell` is set) and then the current cases (by id); when it is done the phone
  continues from the log at `watermark`.

A page holds at most `limit` entries, however many a log row expands to (a cell assigned to me
brings its boundary and all its cases): a Position may stop inside a row (`within`: the sort key
of the last entry of that row already served).

Why not a plain sequence or timestamp: both are drawn before commit, so a slow transaction can
commit a row *behind* a position a phone already holds, and that row would never be served.
Filtering "txid < xmin" on a seq-ordered log is not enough either: a transaction with a later
txid can draw a smaller seq and commit after one with an earlier txid. So the log is read in
(txid, id) order and only below the xmin of the reader's snapshot: every transaction with a txid
below xmin has ended, so no row can ever appear at or before a served position. The price is that
a change waits until every transaction older than it has ended (a long transaction delays sync;
it never loses changes).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass

from core.errors import ValidationFailed

MAX_ID = 2**63 - 1
_POSITION = re.compile(r"^s1:(\d{1,19}):(\d{1,19})$")
_WITHIN = re.compile(r"^s2:(\d{1,19}):(\d{1,19}):(#|[0-9a-f-]{36})$")
_BOOTSTRAP = re.compile(r"^b1:(\d{1,19}):([0-9a-f-]{36})?$")
_CELLS = re.compile(r"^b2:(\d{1,19}):(\d{0,20})$")


@dataclass(frozen=True, order=True)
class Position:
    """A place in the change log: every row before (txid, id) has been served, and so has that
    row — entirely when `within` is empty, else its entries up to the sort key `within`."""

    txid: int
    id: int
    within: str = ""


@dataclass(frozen=True)
class Bootstrap:
    """A first sync in progress: cases after `after` still to send, then the log from
    `watermark` (the xmin when the first sync started: older transactions are in the tables)."""

    watermark: int
    after: uuid.UUID | None = None
    cell: str | None = None  # still serving my cells: those with a code above this one

    @property
    def position(self) -> Position:
        """The log position that continues this first sync (all rows with txid >= watermark)."""
        return Position(self.watermark - 1, MAX_ID)


def encode(cursor: Position | Bootstrap) -> str:
    """Opaque, URL-safe cursor text."""
    if isinstance(cursor, Bootstrap) and cursor.cell is not None:
        raw = f"b2:{cursor.watermark}:{cursor.cell}"
    elif isinstance(cursor, Bootstrap):
        raw = f"b1:{cursor.watermark}:{cursor.after or ''}"
    elif cursor.within:
        raw = f"s2:{cursor.txid}:{cursor.id}:{cursor.within}"
    else:
        raw = f"s1:{cursor.txid}:{cursor.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        "同步游标无效，请不带游标重新做一次完整同步", code="invalid_cursor", field="cursor"
    )


def decode(text: str) -> Position | Bootstrap:
    """Inverse of encode; anything else is a 422 `invalid_cursor`."""
    try:
        padded = text + "=" * (-len(text) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, ValueError, UnicodeError):
        raise _invalid() from None
    if m := _POSITION.match(raw) or _WITHIN.match(raw):
        txid, row = int(m.group(1)), int(m.group(2))
        if txid > MAX_ID or row > MAX_ID:
            raise _invalid()
        within = m.group(3) if m.re is _WITHIN else ""
        if within not in ("", "#"):
            try:
                within = str(uuid.UUID(within))
            except ValueError:
                raise _invalid() from None
        return Position(txid, row, within)
    if m := _CELLS.match(raw):
        watermark = int(m.group(1))
        if watermark < 1 or watermark > MAX_ID:
            raise _invalid()
        return Bootstrap(watermark, None, m.group(2))
    if m := _BOOTSTRAP.match(raw):
        watermark = int(m.group(1))
        try:
            after = uuid.UUID(m.group(2)) if m.group(2) else None
        except ValueError:
            raise _invalid() from None
        if watermark < 1 or watermark > MAX_ID:
            raise _invalid()
        return Bootstrap(watermark, after)
    raise _invalid()
