"""Domain errors with a stable machine code, a Chinese message and the fields at fault, shared by
every layer. They carry no HTTP status: api/errors.py maps them, in one table."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on: stable `code`, Chinese `message`, optional field errors."""

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
    ):
        self.message = message or self.message
        self.code = code or self.code
        self.fields = dict(fields or {})
        if field:
            self.fields.setdefault(field, []).append(self.message)
        self.details = details or {}
        super().__init__(f"{self.code}: {self.message}")


class ValidationFailed(DomainError):
    """Input that is well-formed JSON but wrong in content."""

    code = "validation_error"
    message = "提交的内容有误，请检查标出的字段"


class NotFound(DomainError):
    """A record that does not exist or is outside the user's area (never say which)."""

    code = "not_found"
    message = "未找到该记录"


class Conflict(DomainError):
    """A write that conflicts with the current state."""

    code = "conflict"
    message = "数据已被修改，请刷新后重试"


class Forbidden(DomainError):
    """The user's role does not allow this action."""

    code = "forbidden"
    message = "您没有执行此操作的权限"
