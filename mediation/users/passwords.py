"""Password hashing (Argon2id) and the password rules."""

from __future__ import annotations

import re
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import ValidationFailed

MIN_LENGTH = 10
COMMON = {
    "password",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "admin12345",
    "a123456789",
}


@lru_cache(maxsize=4)
def hasher(*, time_cost: int = 3, memory_cost: int = 65536) -> PasswordHasher:
    """An Argon2id hasher (one per cost); tests pass a low cost."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)


def hasher_for(config) -> PasswordHasher:
    """The hasher for a deployment's configured cost (ARGON2_TIME_COST, ARGON2_MEMORY_COST)."""
    return hasher(time_cost=config["ARGON2_TIME_COST"], memory_cost=config["ARGON2_MEMORY_COST"])


def check_rules(password: str, *, username: str = "") -> None:
    """At least 10 characters from three of: lower, upper, digits, symbols; not the username."""
    problems = []
    if len(password or "") < MIN_LENGTH:
        problems.append(f"密码至少 {MIN_LENGTH} 位")
    classes = sum(
        bool(re.search(p, password or "")) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]")
    )
    if classes < 3:
        problems.append("密码需包含小写字母、大写字母、数字、符号中的至少三类")
    if username and username.lower() in (password or "").lower():
        problems.append("密码不能包含用户名")
    if (password or "").lower() in COMMON:
        problems.append("密码过于常见")
    if problems:
        raise ValidationFailed(
            "密码不符合要求", code="weak_password", fields={"password": problems}
        )


def verify(ph: PasswordHasher, stored_hash: str, password: str) -> bool:
    """True when the password matches (never raises)."""
    try:
        return ph.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
