"""JSON for the API: ISO 8601 times, dates, UUIDs and decimals as strings; UTF-8 text."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    """Flask's provider, with ISO dates instead of HTTP dates."""

    ensure_ascii = False

    @staticmethod
    def default(o):
        if isinstance(o, datetime | date):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        if isinstance(o, Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)
