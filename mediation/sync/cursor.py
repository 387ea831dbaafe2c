"""The opaque sync cursor: where a phone stands in its sync.

Two kinds, both opaque to the phone (base64 text it stores and sends back):

* `Position(txid, id)` — the last change-log row served: everything at or before it is done.
* `Bootstrap(watermark, after)` — a first sync in progress, paging through the current tables by
  case id; when it is done the phone continues from the log at `watermark`.

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

from errors import ValidationFailed

MAX_ID = 2**63 - 1
_POSITION = re.compile(r"^s1:(\d{1,19}):(\d{1,19})$")
_BOOTSTRAP = re.compile(r"^b1:(\d{1,19}):([0-9a-f-]{36})?$")


@dataclass(frozen=True, order=True)
class Position:
    """A place in the change log: every row at or before (txid, id) has been served."""

    txid: int
    id: int


@dataclass(frozen=True)
class Bootstrap:
    """A first sync in progress: cases after `after` still to send, then the log from
    `watermark` (the xmin when the first sync started: older transactions are in the tables)."""

    watermark: int
    after: uuid.UUID | None = None

    @property
    def position(self) -> Position:
        """The log position that continues this first sync (all rows with txid >= watermark)."""
        return Position(self.watermark - 1, MAX_ID)


def encode(cursor: Position | Bootstrap) -> str:
    """Opaque, URL-safe cursor text."""
    if isinstance(cursor, Bootstrap):
        raw = f"b1:{cursor.watermark}:{cursor.after or ''}"
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
    if m := _POSITION.match(raw):
        txid, row = int(m.group(1)), int(m.group(2))
        if txid > MAX_ID or row > MAX_ID:
            raise _invalid()
        return Position(txid, row)
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
