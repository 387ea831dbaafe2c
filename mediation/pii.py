"""Personal information: validation, masking, encryption at rest and keyed hashes (domain §5, §6)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import date
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.clock import business_date, utcnow

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")


def resident_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalize_resident_id(value: str) -> str:
    """Validate an 18-char resident ID (upgrading a 15-digit one); raise ValueError in Chinese."""
    v = (value or "").strip().upper()
    if re.fullmatch(r"\d{15}", v):
        v17 = v[:6] + "19" + v[6:]
        v = v17 + resident_id_check_char(v17)
    if not re.fullmatch(r"\d{17}[\dX]", v):
        raise ValueError("身份证号应为 18 位（最后一位可以是 X）")
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError("身份证号中的出生日期不存在") from None
    if born.year < 1900 or born > business_date(utcnow()):
        raise ValueError("身份证号中的出生日期不合理")
    if resident_id_check_char(v[:17]) != v[17]:
        raise ValueError("身份证号校验位不正确，请核对")
    return v


def normalize_phone(value: str) -> str:
    """A mobile (without +86/0086) or a landline; raise ValueError in Chinese."""
    v = re.sub(r"[\s()]", "", value or "")
    for prefix in ("+86", "0086"):
        if v.startswith(prefix):
            v = v[len(prefix) :]
            break
    v = v.lstrip("-")
    if _MOBILE.match(v) or _LANDLINE.match(v):
        return v
    raise ValueError("电话号码格式不对：手机号为 11 位，固话如 0575-87001234")


def mask_id(value: str | None) -> str | None:
    """330681********123X: the area code and the last four stay visible."""
    if not value:
        return value
    if len(value) <= 10:
        return value[:2] + "*" * (len(value) - 2)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """张*, 欧阳**: the family name stays (lists in reports and exports)."""
    if not value:
        return value
    keep = 2 if len(value) >= 4 else 1
    return value[:keep] + "*" * (len(value) - keep)


def mask_phone(value: str | None) -> str | None:
    """138****5678 for mobiles; landlines keep the area code and the last four."""
    if not value:
        return value
    if _MOBILE.match(value):
        return value[:3] + "****" + value[-4:]
    return value[: max(0, len(value) - 8)] + "****" + value[-4:]


_TOWN = re.compile(r"^.*?(镇|乡|街道|村|社区)")


def mask_address(value: str | None) -> str | None:
    """浙江省诸暨市枫桥镇****: up to the first township, street or village named (or half of it,
    at most six characters), then masked; the house number never shows."""
    if not value:
        return value
    m = _TOWN.match(value)
    keep = m.group(0) if m and len(m.group(0)) < len(value) else value[: min(6, len(value) // 2)]
    return keep + "****"


class Vault:
    """Encrypts personal fields at rest (AES-GCM) and hashes them for matching (HMAC-SHA256).

    Both keys are derived from PII_KEY with HKDF; rotating PII_KEY needs a re-encryption job.
    """

    def __init__(self, secret: str):
        self._enc = _derive(secret, b"mediation pii encryption")
        self._mac = _derive(secret, b"mediation pii keyed hash")

    def encrypt(self, plaintext: str) -> bytes:
        """nonce ‖ ciphertext+tag."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self._enc).encrypt(nonce, plaintext.encode(), None)

    def decrypt(self, blob: bytes) -> str:
        """Inverse of encrypt."""
        blob = bytes(blob)
        return AESGCM(self._enc).decrypt(blob[:12], blob[12:], None).decode()

    def keyed_hash(self, value: str) -> str:
        """A stable hex HMAC of a normalised value, for duplicate and recurrence matching."""
        return hmac.new(self._mac, value.encode(), hashlib.sha256).hexdigest()


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mediation-v1", info=info).derive(
        secret.encode()
    )


@lru_cache(maxsize=4)
def vault_for(secret: str) -> Vault:
    """A cached Vault per key (HKDF runs once)."""
    return Vault(secret)
