"""The OpenAPI document states every status a view can answer, derived from what enforces it.

flask-smorest documents the success response and 422 for validated arguments; everything else a
request can meet on its way is added here, from the same facts the app acts on: the view's access
policy (401 for a missing, expired or revoked token, 403 for a role that may not call it), path
parameters and `area` query parameters (404: the record does not exist or is outside the user's
area), a request body (400
malformed JSON, 413 too large, 415 wrong content type), a rate limit (429), the database (503) and
gunicorn's request-line limit (414, before the app). No catch-all `default` response: a status
that is not listed is a bug the fuzzer reports.

The field rules the parser enforces for every schema are stated on the fields too (`field_rules`):
dates and times between 1900 and 2999 (a pattern on the year), no NUL in any text; a multipart
body's file part is required.
"""

from __future__ import annotations

from apispec import BasePlugin

BEARER = "bearerAuth"
PARTNER = "partnerSignature"  # the signed partner endpoints (api/partners.py)

# status → (component response name, description naming the stable codes it carries)
RESPONSES = {
    400: ("MalformedJson", "请求体不是有效的 JSON 或嵌套过深 (malformed_json)"),
    401: (
        "Unauthenticated",
        "未登录或登录凭证无效、过期、已注销 "
        "(unauthorized, invalid_token, token_expired, token_revoked)",
    ),
    403: ("Forbidden", "角色无权调用此接口 (forbidden)"),
    404: ("NotFound", "记录不存在或不在您的辖区内 (not_found, area_not_found …)"),
    413: ("PayloadTooLarge", "提交的内容过大 (payload_too_large)"),
    415: ("UnsupportedMediaType", "请求体的内容类型不对 (unsupported_media_type)"),
    429: ("TooManyRequests", "操作过于频繁，稍后再试 (too_many_requests)"),
    503: ("ServiceUnavailable", "数据库暂时不可用，稍后重试 (service_unavailable)"),
}


URI_TOO_LONG = "请求行（地址和查询参数）超过 4094 字节，服务器在应用之前拒绝（gunicorn，HTML 正文）"
YEAR_PATTERN = "^(19[0-9]{2}|2[0-9]{3})-"  # api.inputs: dates between 1900 and 2999
NO_NUL_PATTERN = "^[^\\u0000]*$"  # api.inputs: no NUL in any parameter or body


def field_rules(self, field, ret=None, **kwargs) -> dict:
    """apispec attribute function: what api.inputs enforces for every field, on the field."""
    from marshmallow import fields

    ret = ret or {}
    if isinstance(field, fields.Date | fields.DateTime):
        return {"pattern": YEAR_PATTERN}
    if (
        type(field) is fields.String
        and ret.get("type") == "string"
        and not ({"pattern", "enum", "format"} & set(ret))
    ):
        return {"pattern": NO_NUL_PATTERN}
    return {}


class StatusPlugin(BasePlugin):
    """apispec plugin: complete each operation's responses and security from the app's rules."""

    def __init__(self, app) -> None:
        self.app = app

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        self.spec = spec
        spec.components.security_scheme(
            BEARER,
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "POST /api/v1/auth/login 得到的 access_token（刷新接口用 refresh_token）",
            },
        )
        spec.components.security_scheme(
            PARTNER,
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Partner-Signature",
                "description": "合作方签名：X-Partner-Key、X-Partner-Timestamp、X-Partner-Signature 三个"
                "请求头，HMAC-SHA256，算法见 partner_api 标签的说明",
            },
        )
        for name, description in RESPONSES.values():
            spec.components.response(
                name,
                {"description": description, "content": {"application/json": {"schema": "Error"}}},
                lazy=True,
            )

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        from api.auth import policy_for

        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self.app.view_functions.get(rule.endpoint)
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("default", None)
            policy = policy_for(view, method.upper())
            statuses = [503]
            if rule.endpoint.startswith("partner_api."):
                operation["security"] = [{PARTNER: []}]
                statuses += [401, 403]
            elif policy is None or not policy.public:
                operation["security"] = [{BEARER: []}]
                statuses += [401] if policy is not None and policy.refresh else [401, 403]
            else:
                operation["security"] = []
            if rule.arguments or _names_an_area(operation):
                statuses.append(404)
            if "requestBody" in operation:
                statuses += [413, 415]
                if "application/json" in operation["requestBody"].get("content", {}):
                    statuses.append(400)
            if getattr(_unwrap_method(view, method), "_rate_limited", False):
                statuses.append(429)
            for status in statuses:
                responses.setdefault(str(status), RESPONSES[status][0])
            responses.setdefault(
                "414", {"description": URI_TOO_LONG, "content": {"text/html": {"schema": {}}}}
            )
            self._require_file_parts(operation)
            for status, response in responses.items():
                # Refusals documented with alt_response(description=…) only: the one error shape.
                if int(status) >= 400 and isinstance(response, dict) and "content" not in response:
                    response["content"] = {"application/json": {"schema": "Error"}}

    def _require_file_parts(self, operation) -> None:
        """A multipart body's binary part is required (the view answers 422 `file_required`
        without it); the schema is shared, so it is marked on its component."""
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("multipart/form-data", {}).get("schema")
        if not schema:
            return
        ref = schema.get("$ref", "") if isinstance(schema, dict) else str(schema)
        definition = self.spec.components.schemas.get(ref.rsplit("/", 1)[-1])
        if not definition:
            return
        binary = [
            name
            for name, prop in definition.get("properties", {}).items()
            if prop.get("format") == "binary"
        ]
        required = definition.setdefault("required", [])
        required.extend(name for name in binary if name not in required)


def _names_an_area(operation) -> bool:
    """A query parameter `area` names a record: an unknown one answers 404 area_not_found."""
    return any(
        isinstance(p, dict) and p.get("in") == "query" and p.get("name") == "area"
        for p in operation.get("parameters", [])
    )


def _unwrap_method(view, method: str):
    cls = getattr(view, "view_class", None)
    return getattr(cls, method, None) if cls is not None else view
