"""Files (photos, signed agreements): type and size checked on the content, stored by checksum."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass

from core.errors import DomainError, ValidationFailed

# Magic numbers: the type is decided by the bytes, never by the name or the declared type.
SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
]
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/heic"}
DOCUMENT_TYPES = PHOTO_TYPES | {"application/pdf"}


def sniff(data: bytes) -> str | None:
    """The content type of a file from its first bytes, or None."""
    for magic, ctype, _ in SIGNATURES:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"heim"):
        return "image/heic"
    return None


def safe_filename(name: str | None) -> str:
    """A display name without paths or control characters (never used on disk)."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip(". ")
    return (base or "file")[:200]


@dataclass(frozen=True)
class Checked:
    """A file that passed the checks."""

    data: bytes
    content_type: str
    sha256: str
    filename: str


def check(
    data: bytes, *, filename: str | None, allowed: set[str], max_bytes: int, field: str
) -> Checked:
    """Refuse empty, oversize or wrongly typed files with a field-level error."""
    if not data:
        raise ValidationFailed("文件为空", code="empty_file", field=field)
    if len(data) > max_bytes:
        raise ValidationFailed(
            f"文件过大：最大 {max_bytes // (1024 * 1024)} MB", code="file_too_large", field=field
        )
    ctype = sniff(data)
    if ctype not in allowed:
        raise ValidationFailed(
            "文件类型不支持：照片请用 JPG、PNG、WebP 或 HEIC，协议书可用 PDF",
            code="unsupported_file_type",
            field=field,
        )
    return Checked(data, ctype, hashlib.sha256(data).hexdigest(), safe_filename(filename))


# No space (or inodes) left, over quota: the server's problem, not the file's; retry later.
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class StorageFull(DomainError):
    """The attachment store has no room: nothing was stored, the case itself is unchanged."""

    code = "storage_full"
    message = "服务器存储空间已满，文件未能保存（案件信息不受影响），请稍后重新上传"
    retry_after = 600


class FileStore:
    """Content-addressed files under a root folder: <root>/ab/cd/<sha256>."""

    def __init__(self, root: str):
        self.root = root

    def path(self, sha256: str) -> str:
        """Where a file with this checksum lives."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("bad checksum")
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

    def put(self, checked: Checked) -> bool:
        """Write atomically (temp file + rename); True when the file is new. A full disk raises
        StorageFull and leaves nothing behind."""
        path = self.path(checked.sha256)
        if os.path.exists(path):
            return False
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".upload-")
        except OSError as exc:
            raise _full(exc) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(checked.data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise _full(exc) from exc
            raise
        return True

    def discard(self, sha256: str) -> None:
        """Remove a file written for a transaction that did not commit."""
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            pass


def _full(exc: OSError) -> Exception:
    """StorageFull for a full disk; any other I/O error stays what it is (a server error)."""
    return StorageFull() if exc.errno in FULL_ERRNOS else exc
