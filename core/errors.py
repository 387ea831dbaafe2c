"""Domain errors with a stable machine code and a Chinese message, shared by every layer."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on: stable `code`, Chinese `message`, optional field errors."""

    status = 400
    code = "domain_error"
    message = "请求无法处理"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        fields: dict[str, list[str]] | None = None,
        details: dict | None = None,
        status: int | None = None,
    ):
        self.message = message or self.message
        self.code = code or self.code
        self.fields = dict(fields or {})
        if field:
            self.fields.setdefault(field, []).append(self.message)
        self.details = details or {}
        if status:
            self.status = status
        super().__init__(f"{self.code}: {self.message}")


class ValidationFailed(DomainError):
    """Input that is well-formed JSON but wrong in content."""

    status = 422
    code = "validation_error"
    message = "提交的内容有误，请检查标出的字段"


class NotFound(DomainError):
    """A record that does not exist or is outside the user's area (never say which)."""

    status = 404
    code = "not_found"
    message = "未找到该记录"


class Conflict(DomainError):
    """A write that conflicts with the current state."""

    status = 409
    code = "conflict"
    message = "数据已被修改，请刷新后重试"


class Forbidden(DomainError):
    """The user's role does not allow this action."""

    status = 403
    code = "forbidden"
    message = "您没有执行此操作的权限"
