"""Offline sync, photos: stored by checksum before the operation that attaches them."""

from __future__ import annotations

from core.errors import ValidationFailed
from mediation import attachments

# ------------------------------------------------------------------ photos


def store_photo(*, checked: attachments.Checked, sha256: str, store: attachments.FileStore) -> bool:
    """Keep an uploaded photo by its checksum until an attach_photo operation uses it; the same
    bytes twice are stored once. True when the file is new."""
    if checked.sha256 != sha256.lower():
        raise ValidationFailed(
            "文件内容与校验和不符（上传不完整？请重新上传）",
            code="checksum_mismatch",
            field="file",
            details={"expected": sha256.lower(), "received": checked.sha256},
        )
    return store.put(checked)
