"""One JSON error shape for every failure: stable `code`, Chinese `message`, field errors."""

from __future__ import annotations

import logging
import re

import psycopg
from flask import jsonify
from marshmallow import Schema
from marshmallow import fields as ma
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from mediation.attachments import StorageFull
from mediation.channels.partners import PartnerUnauthorized
from mediation.disputes.workflow import Refused
from mediation.users.logins import AccountLocked, InvalidCredentials, RefreshReused, TokenRevoked

log = logging.getLogger(__name__)


class ErrorSchema(Schema):
    """The error body of every non-2xx response."""

    code = ma.String(required=True, metadata={"description": "稳定的机器可读错误码"})
    message = ma.String(required=True, metadata={"description": "给用户看的中文说明"})
    field_errors = ma.Dict(
        data_key="fields",
        keys=ma.String(),
        values=ma.List(ma.String()),
        metadata={"description": "出错的字段及原因"},
    )
    details = ma.Dict(metadata={"description": "补充信息（如冲突时的服务器状态）"})


HTTP_CODES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "您没有执行此操作的权限"),
    404: ("not_found", "未找到该记录"),
    405: ("method_not_allowed", "不支持该请求方式"),
    409: ("conflict", "数据已被修改，请刷新后重试"),
    412: ("precondition_failed", "数据已被他人修改，请刷新后重试"),
    413: ("payload_too_large", "提交的内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型，请以 JSON 提交"),
    422: ("validation_error", "提交的内容有误，请检查标出的字段"),
    428: ("precondition_required", "请带上数据版本（If-Match）后重试"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，请稍后重试"),
    503: ("service_unavailable", "服务暂时不可用，请稍后重试"),
}

# marshmallow/webargs messages → Chinese, so a grid worker reads every field error in Chinese.
_TRANSLATIONS = [
    (r"^Missing data for required field\.$", "必填项不能为空"),
    (r"^Field may not be null\.$", "不能为空"),
    (r"^Unknown field\.$", "不认识的字段"),
    (r"^Not a valid integer\.$", "应为整数"),
    (r"^Not a valid number\.$", "应为数字"),
    (r"^Not a valid string\.$", "应为文本"),
    (r"^Not a valid boolean\.$", "应为是或否（true/false）"),
    (r"^Not a valid list\.$", "应为列表"),
    (r"^Not a valid mapping type\.$", "应为对象"),
    (r"^Not a valid UUID\.$", "应为 UUID"),
    (r"^Not a valid datetime\.$", "应为时间，格式如 2026-05-01T08:30:00+08:00"),
    (r"^Not a valid date\.$", "应为日期，格式如 2026-05-01"),
    (r"^Not a valid aware datetime\.$", "应为带时区的时间，格式如 2026-05-01T08:30:00+08:00"),
    (r"^Not a valid email address\.$", "邮箱格式不对"),
    (r"^Invalid input type\.$", "类型不对"),
    (r"^Invalid JSON body\.$", "JSON 格式有误"),
    (r"^Special numeric values \(nan or infinity\) are not permitted\.$", "应为有效数字"),
    (r"^Must be one of: (.*)\.$", r"应为以下之一：\1"),
    (
        r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$",
        r"应在 \1 到 \2 之间",
    ),
    (r"^Must be greater than or equal to (\S+)\.$", r"应不小于 \1"),
    (r"^Must be less than or equal to (\S+)\.$", r"应不大于 \1"),
    (r"^Length must be between (\d+) and (\d+)\.$", r"长度应在 \1 到 \2 之间"),
    (r"^Shorter than minimum length (\d+)\.$", r"长度不能少于 \1"),
    (r"^Longer than maximum length (\d+)\.$", r"长度不能超过 \1"),
    (r"^String does not match expected pattern\.$", "格式不对"),
]
_COMPILED = [(re.compile(p), r) for p, r in _TRANSLATIONS]


def translate(message: str) -> str:
    """Chinese for a marshmallow message (unchanged when it is already ours)."""
    for pattern, repl in _COMPILED:
        if pattern.match(message):
            return pattern.sub(repl, message)
    return message


def flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow messages → {"parties[0].id_number": ["…"]}."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "_schema"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = [translate(m) for m in messages]
        else:
            for m in messages:
                for k, v in flatten(m, prefix).items():
                    out.setdefault(k, []).extend(v)
    elif isinstance(messages, str):
        out[prefix or "_schema"] = [translate(messages)]
    return out


def error_response(
    status: int, code: str, message: str, *, fields=None, details=None, headers=None
):
    """Build the one error body."""
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def handle_http_exception(error: HTTPException):
    """werkzeug/flask-smorest HTTP errors (routing, webargs 422, 413 …) in our shape."""
    status = error.code or 500
    code, message = HTTP_CODES.get(status, ("http_error", error.description or "请求失败"))
    data = getattr(error, "data", None) or {}
    field_errors = None
    messages = data.get("messages") or data.get("errors")
    if messages:
        # webargs nests per location ({"json": {...}, "query": {...}}); drop the location level.
        merged: dict = {}
        for location, msgs in messages.items() if isinstance(messages, dict) else []:
            if location in ("json", "query", "form", "files", "headers", "path", "view_args"):
                if isinstance(msgs, dict):
                    merged.update(msgs)
                else:
                    merged["_schema"] = msgs
            else:
                merged[location] = msgs
        field_errors = flatten(merged)
        if status == 400 and any("JSON" in m for v in field_errors.values() for m in v):
            code, message = "malformed_json", "提交的内容不是有效的 JSON"
    if data.get("code") and isinstance(data.get("code"), str):
        code = data["code"]
    if data.get("zh_message"):
        message = data["zh_message"]
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(error.valid_methods))  # RFC 9110 §15.5.6
    return error_response(status, code, message, fields=field_errors, headers=headers)


# The one place a domain error gets its HTTP status: by its code where the code says more than
# its class, else by its class (the nearest in its MRO), else 400.
STATUS_BY_CODE = {
    "username_taken": 409,
    "outside_your_cells": 422,
    "outside_your_area": 422,
    "precondition_required": 428,
    "unknown_action": 404,  # POST /disputes/{id}/actions/{action} with no such action
    "role_not_allowed": 403,
    "wrong_level": 403,
    "missing_field": 422,
    "invalid_level": 422,
    "invalid_geojson": 422,
    "csrf_failed": 400,
    "risk_lowering_not_allowed": 403,
    "reason_required": 422,
}
STATUS_BY_CLASS = {
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    Refused: 409,
    InvalidCredentials: 401,
    RefreshReused: 401,
    TokenRevoked: 401,
    AccountLocked: 423,
    PartnerUnauthorized: 401,  # a partner's signature or credential does not hold
    StorageFull: 507,  # Insufficient Storage: the server cannot store what was sent, for now
}


def http_status(error: DomainError) -> int:
    """The HTTP status of a domain error (STATUS_BY_CODE, then STATUS_BY_CLASS, then 400)."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for cls in type(error).__mro__:
        if cls in STATUS_BY_CLASS:
            return STATUS_BY_CLASS[cls]
    return 400


def handle_domain_error(error: DomainError):
    """Domain refusals keep their own code and message (and say when to retry, if they know)."""
    retry_after = getattr(error, "retry_after", None)
    return error_response(
        http_status(error),
        error.code,
        error.message,
        fields=error.fields or None,
        details=error.details or None,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


def handle_database_unavailable(error: Exception):
    """The database is down or restarting: fail fast and tell the client when to retry."""
    log.warning("database unavailable: %s", type(error).__name__)
    code, message = HTTP_CODES[503]
    return error_response(503, code, message, headers={"Retry-After": "5"})


def handle_unexpected(error: Exception):
    """Anything else: log it with its traceback, answer without internals."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error")
    code, message = HTTP_CODES[500]
    return error_response(500, code, message)


def register(app) -> None:
    """Install the handlers on the app."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)

    def _db_error(error: DBAPIError):
        # OperationalError: cannot connect, connection cut (restart, crash, failover);
        # InterfaceError: a connection already closed under us.
        if isinstance(error, OperationalError | InterfaceError) or getattr(
            error, "connection_invalidated", False
        ):
            return handle_database_unavailable(error)
        return handle_unexpected(error)

    app.register_error_handler(DBAPIError, _db_error)
    # A driver error that escaped SQLAlchemy's wrapping (statements run on the driver connection
    # itself): a lost connection is still "the database is unavailable", never a 500.
    app.register_error_handler(psycopg.OperationalError, handle_database_unavailable)
    app.register_error_handler(psycopg.InterfaceError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
