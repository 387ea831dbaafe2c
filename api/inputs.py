"""What every request must be before a schema sees it, checked once for every endpoint.

* JSON bodies come as `application/json` (415 otherwise), are at most `MAX_JSON_BYTES` (413;
  endpoints that take inline photos, marked `@large_json`, up to `MAX_CONTENT_LENGTH`), are real
  JSON (no NaN/Infinity) and nest at most `MAX_JSON_DEPTH` levels (400 `nesting_too_deep`:
  Python's parser would otherwise run out of stack on `[[[[…]]]]`).
* Form bodies (uploads) come as multipart (415 otherwise).
* No parameter or body holds a NUL character: PostgreSQL text cannot store one, so it would fail
  deep inside a query. 422 with the field at fault; in a path it names no record (404).
* Dates and times lie between 1900 and 2999 (422): year 1 or 9999 overflows as soon as it is
  moved to another time zone or a month is added, deep inside a report.
* Integer ids in paths fit the database column (`int`: PostgreSQL integer; a larger number
  names no record and answers 404 instead of overflowing in SQL).
* JSON values have the JSON type the document states: a number is a JSON number (`"120.1"`
  is refused, not converted), a boolean is true/false, an integer has no fraction (422).
* A query or form parameter that is not a list is given once: `?limit=1&limit=500` is refused
  (422) rather than read as the first value.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import flask_smorest
from flask import current_app, request
from flask_smorest import abort
from marshmallow import ValidationError, fields
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import NotFound, UnsupportedMediaType
from werkzeug.routing import IntegerConverter

INT32_MAX = 2**31 - 1  # PostgreSQL integer
INT64_MAX = 2**63 - 1  # PostgreSQL bigint
NUL_MESSAGE = "不能包含空字符（NUL）"
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class IdConverter(IntegerConverter):
    """`<int:…>` bounded by PostgreSQL's integer (use `<int(max=…):…>` for bigint ids)."""

    def __init__(self, map, fixed_digits=0, min=None, max=INT32_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def large_json(fn):
    """Mark a view whose JSON body may carry inline photos (up to MAX_CONTENT_LENGTH)."""
    fn._large_json = True
    return fn


def _json_limit() -> int:
    view = current_app.view_functions.get(request.endpoint)
    cls = getattr(view, "view_class", None)
    method = getattr(cls, request.method.lower(), view) if cls is not None else view
    if getattr(method, "_large_json", False):
        return current_app.config["MAX_CONTENT_LENGTH"]
    return current_app.config["MAX_JSON_BYTES"]


def _has_body(req) -> bool:
    return bool(req.content_length) or bool(req.headers.get("Transfer-Encoding"))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def nul_fields(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """Paths (`parties[0].name`, keys too) of every string holding a NUL character."""
    out: dict[str, list[str]] = {}
    if isinstance(data, str):
        if "\x00" in data:
            out[prefix or "_schema"] = [NUL_MESSAGE]
    elif isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and "\x00" in key:
                out[path.replace("\x00", "\\u0000")] = [NUL_MESSAGE]
            else:
                out.update(nul_fields(value, path))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            out.update(nul_fields(value, f"{prefix}[{i}]"))
    return out


EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
DATE_MESSAGE = "日期超出范围：应在 1900 年到 2999 年之间"


def dates_out_of_range(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """Paths of every loaded date or datetime outside 1900–2999."""
    out: dict[str, list[str]] = {}
    if isinstance(data, date):
        day = data.date() if isinstance(data, datetime) else data
        if not EARLIEST <= day <= LATEST:
            out[prefix or "_schema"] = [DATE_MESSAGE]
    elif isinstance(data, dict):
        for key, value in data.items():
            out.update(dates_out_of_range(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            out.update(dates_out_of_range(value, f"{prefix}[{i}]"))
    return out


TYPE_MESSAGES = {"number": "应为数字", "integer": "应为整数", "boolean": "应为是或否（true/false）"}


def _json_type(field) -> str | None:
    if isinstance(field, fields.Boolean):
        return "boolean"
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, fields.Float):
        return "number"
    return None


def json_type_errors(schema, data: Any, prefix: str = "") -> dict[str, list[str]]:
    """Paths of every JSON value whose type is not the one its field documents (strings for
    numbers or booleans, 1.5 for an integer), through nested objects and lists."""
    out: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return out
    by_key = {f.data_key or name: f for name, f in schema.fields.items() if not f.dump_only}
    for key, value in data.items():
        field = by_key.get(key)
        if field is not None:
            out.update(_field_type_errors(field, value, f"{prefix}.{key}" if prefix else key))
    return out


def _field_type_errors(field, value, path: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if isinstance(field, fields.Nested):
        nested = field.schema
        if isinstance(value, list) and field.many:
            out: dict = {}
            for i, item in enumerate(value):
                out.update(json_type_errors(nested, item, f"{path}[{i}]"))
            return out
        return json_type_errors(nested, value, path)
    if isinstance(field, fields.List) and isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_field_type_errors(field.inner, item, f"{path}[{i}]"))
        return out
    kind = _json_type(field)
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    elif kind == "number":
        ok = not isinstance(value, bool) and isinstance(value, int | float)
    else:
        return {}
    return {} if ok else {path: [TYPE_MESSAGES[kind]]}


def repeated_scalars(schema, multi) -> dict[str, list[str]]:
    """Query/form parameters given more than once whose field is not a list."""
    by_key = {f.data_key or name: f for name, f in schema.fields.items()}
    return {
        key: ["该参数只能出现一次"]
        for key, values in multi.lists()
        if len(values) > 1 and key in by_key and not isinstance(by_key[key], fields.List)
    }


def _rename(path: str, names: dict[str, str]) -> str:
    head, sep, rest = path.partition(".")
    bracket = head.find("[")
    key, tail = (head, "") if bracket < 0 else (head[:bracket], head[bracket:])
    return names.get(key, key) + tail + sep + rest


def _depth(data: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, counted up to limit + 1 (iterative: no recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep():
    limit = current_app.config["MAX_JSON_DEPTH"]
    abort(400, code="nesting_too_deep", zh_message=f"JSON 嵌套层数过多（最多 {limit} 层）")


class Parser(FlaskParser):
    """webargs' Flask parser with the checks of this module."""

    def _raw_load_json(self, req):
        if not _has_body(req):
            return core.missing
        if not is_json_request(req):
            raise UnsupportedMediaType()
        limit = _json_limit()
        if (req.content_length or 0) > limit:
            _payload_too_large(limit)
        raw = req.get_data(cache=True)
        if len(raw) > limit:
            _payload_too_large(limit)
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            _too_deep()
        except (ValueError, UnicodeDecodeError) as exc:
            return self._handle_invalid_json_error(exc, req)

    def load_form(self, req, schema):
        if _has_body(req) and req.mimetype not in FORM_TYPES:
            raise UnsupportedMediaType()
        return super().load_form(req, schema)

    def pre_load(self, location_data, *, schema, req, location):
        if (
            location == "json"
            and _depth(location_data, current_app.config["MAX_JSON_DEPTH"])
            > (current_app.config["MAX_JSON_DEPTH"])
        ):
            _too_deep()
        values = location_data
        multi = getattr(location_data, "data", location_data)
        bad = {}
        if hasattr(multi, "lists"):  # query strings and forms: every value of every key
            values = {k: v[0] if len(v) == 1 else v for k, v in multi.lists()}
            bad.update(repeated_scalars(schema, multi))
        elif location == "json":
            bad.update(json_type_errors(schema, location_data))
        bad.update(nul_fields(values))
        if bad:
            raise ValidationError(bad)
        return location_data

    def _process_location_data(self, location_data, schema, req, location, unknown, validators):
        data = super()._process_location_data(
            location_data, schema, req, location, unknown, validators
        )
        bad = dates_out_of_range(data)
        if bad:
            # name the fields as the request does (`from`, not the attribute `from_`)
            names = {f.attribute or n: f.data_key or n for n, f in schema.fields.items()}
            raise ValidationError({_rename(path, names): msgs for path, msgs in bad.items()})
        return data


def _payload_too_large(limit: int):
    size = f"{limit // 1024} KB" if limit < 1024 * 1024 else f"{limit // (1024 * 1024)} MB"
    abort(413, zh_message=f"提交的内容过大：最大 {size}")


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint parsing arguments with this module's Parser."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, with the schema made once, here: given a class, webargs builds a
        new schema on every request (deep-copying its fields; a tenth of a registration's
        parsing, bench/run.py --profile-register). Our schemas keep no per-request state."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


def refuse_nul_in_path(endpoint, values) -> None:
    """url_value_preprocessor: a path with a NUL character names no record."""
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        raise NotFound()


def register(app) -> None:
    """Install the bounded id converter (before any blueprint) and the path check."""
    app.url_map.converters["int"] = IdConverter
    app.url_value_preprocessor(refuse_nul_in_path)
