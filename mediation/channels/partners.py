"""Partner systems and their credentials: create, issue, revoke, and check a signed request.

A request is signed with HMAC-SHA256 under the credential's secret over

    METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" hex(SHA-256(body))

(PATH without the query string, TIMESTAMP in Unix seconds), sent as the headers X-Partner-Key,
X-Partner-Timestamp and X-Partner-Signature: "sha256=<lowercase hex>". A timestamp more than
`WINDOW` away from the server's clock is refused (against replay). The secret is kept encrypted,
since the server must recompute the signature; it is shown once, when issued.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from geo.scope import AreaScope
from mediation.channels.enums import PARTNER_KINDS
from mediation.channels.models import Partner, PartnerCall, PartnerCredential
from mediation.pii import Vault
from mediation.users.actor import Actor
from mediation.users.enums import COUNTY_ADMIN, PARTNER_SYSTEM
from mediation.users.models import User

WINDOW = timedelta(minutes=5)
DEFAULT_VALIDITY = timedelta(days=365)


class PartnerUnauthorized(DomainError):
    """A partner request whose credential or signature does not hold."""

    code = "partner_unauthorized"
    message = "合作方身份验证失败"


def string_to_sign(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """What the partner signs (see the module docstring and the OpenAPI description)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{digest}".encode()


def sign(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    """The X-Partner-Signature value."""
    mac = hmac.new(secret.encode(), string_to_sign(method, path, timestamp, body), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class Caller:
    """An authenticated partner: its row, the key it used, and the actor it acts as."""

    partner: Partner
    key_id: str
    actor: Actor


def partner_actor(partner: Partner) -> Actor:
    """The partner as the domain sees it: its service account, scoped to its county/township."""
    return Actor(
        user_id=partner.user_id,
        username=f"partner:{partner.code}",
        display_name=partner.name,
        roles={PARTNER_SYSTEM: frozenset({partner.area_code})},
    )


def authenticate(
    db_session: Session,
    *,
    headers,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    vault: Vault,
) -> Caller:
    """Check the key, its validity and the signature; raise PartnerUnauthorized with a code."""
    key_id = headers.get("X-Partner-Key")
    ts = headers.get("X-Partner-Timestamp")
    signature = headers.get("X-Partner-Signature")
    if not key_id or not ts or not signature:
        raise PartnerUnauthorized(
            "缺少签名头 X-Partner-Key、X-Partner-Timestamp 或 X-Partner-Signature",
            code="signature_missing",
        )
    cred = db_session.get(PartnerCredential, key_id[:40])
    if cred is None:
        raise PartnerUnauthorized("密钥编号不存在", code="unknown_credential")
    if cred.revoked_at is not None and cred.revoked_at <= now:
        raise PartnerUnauthorized("该密钥已被吊销", code="credential_revoked")
    if cred.expires_at <= now:
        raise PartnerUnauthorized("该密钥已过期，请申请新密钥", code="credential_expired")
    try:
        at = datetime.fromtimestamp(int(ts), tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise PartnerUnauthorized("时间戳应为 Unix 秒数", code="bad_timestamp") from None
    if abs(at - now) > WINDOW:
        raise PartnerUnauthorized(
            "请求时间与服务器时间相差超过 5 分钟，请校准时钟后重发", code="timestamp_out_of_window"
        )
    expected = sign(vault.decrypt(cred.secret_enc), method, path, ts, body)
    if not hmac.compare_digest(expected, signature.strip()):
        raise PartnerUnauthorized(
            "签名不正确（签名须覆盖请求方法、路径、时间戳和请求体）", code="bad_signature"
        )
    partner = db_session.get(Partner, cred.partner_id)
    if not partner.active:
        raise PartnerUnauthorized("该合作方已停用", code="partner_inactive")
    return Caller(partner, cred.key_id, partner_actor(partner))


def log_call(
    db_session: Session,
    *,
    caller: Caller | None,
    key_id: str | None,
    method: str,
    path: str,
    reference: str | None,
    status: int,
    result: str,
    now: datetime,
    dispute_id=None,
) -> None:
    """One row per call: partner, key, reference, answer — no parties, no description."""
    db_session.add(
        PartnerCall(
            partner_id=caller.partner.id if caller else None,
            key_id=(key_id or "")[:40] or None,
            at=now,
            method=method[:8],
            path=path[:200],
            reference=(reference or "")[:64] or None,
            status=status,
            result=result[:40],
            dispute_id=dispute_id,
        )
    )
    db_session.flush()


def _county_scope(actor: Actor, area_code: str) -> None:
    if not actor.scope_for(COUNTY_ADMIN).contains_code(area_code):
        raise NotFound("未找到该区域", code="area_not_found", field="area_code")


def create_partner(
    db_session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    kind: str,
    area_code: str,
    result_url: str | None,
    now: datetime,
) -> Partner:
    """A county registers a partner system scoped to its county or one of its townships."""
    if kind not in PARTNER_KINDS:
        raise ValidationFailed("合作方类型不正确", code="invalid_partner_kind", field="kind")
    if len(area_code) not in (6, 9):
        raise ValidationFailed(
            "合作方范围应为县或乡镇代码", code="invalid_partner_scope", field="area_code"
        )
    _county_scope(actor, area_code)
    if db_session.scalar(select(Partner.id).where(Partner.code == code)):
        raise ValidationFailed("合作方编号已存在", code="partner_code_taken", field="code")
    if result_url and not result_url.startswith(("http://", "https://")):
        raise ValidationFailed("回传地址应为 http(s) 地址", code="invalid_url", field="result_url")
    user = User(
        username=f"partner:{code}"[:64],
        display_name=name[:64],
        password_hash="!partner-system (no login)",  # noqa: S106 - not a password: never matches
        is_active=False,  # a service account: it never logs in
    )
    db_session.add(user)
    db_session.flush()
    partner = Partner(
        code=code,
        name=name,
        kind=kind,
        area_code=area_code,
        result_url=result_url,
        user_id=user.id,
        active=True,
        created_at=now,
    )
    db_session.add(partner)
    db_session.flush()
    return partner


def get_partner(db_session: Session, *, actor: Actor, partner_id: int) -> Partner:
    """A partner of the actor's county, or NotFound."""
    partner = db_session.get(Partner, partner_id)
    if partner is None or not actor.scope_for(COUNTY_ADMIN).contains_code(partner.area_code):
        raise NotFound("未找到该合作方", code="partner_not_found")
    return partner


def list_partners(db_session: Session, *, actor: Actor) -> list[Partner]:
    """The partners of the actor's counties."""
    scope: AreaScope = actor.scope_for(COUNTY_ADMIN)
    rows = db_session.scalars(select(Partner).order_by(Partner.id)).all()
    return [p for p in rows if scope.contains_code(p.area_code)]


def issue_credential(
    db_session: Session,
    *,
    actor: Actor,
    partner_id: int,
    now: datetime,
    vault: Vault,
    valid_for: timedelta = DEFAULT_VALIDITY,
) -> tuple[PartnerCredential, str]:
    """A new key id and secret (the secret is returned once and kept only encrypted)."""
    partner = get_partner(db_session, actor=actor, partner_id=partner_id)
    secret = secrets.token_urlsafe(32)
    cred = PartnerCredential(
        key_id=f"pk_{secrets.token_hex(12)}",
        partner_id=partner.id,
        secret_enc=vault.encrypt(secret),
        created_at=now,
        expires_at=now + valid_for,
    )
    db_session.add(cred)
    db_session.flush()
    return cred, secret


def revoke_credential(
    db_session: Session, *, actor: Actor, key_id: str, now: datetime
) -> PartnerCredential:
    """Revoke a key at once (idempotent: the first revocation time is kept)."""
    cred = db_session.get(PartnerCredential, key_id)
    if cred is None:
        raise NotFound("未找到该密钥", code="credential_not_found")
    get_partner(db_session, actor=actor, partner_id=cred.partner_id)
    if cred.revoked_at is None:
        cred.revoked_at = now
    db_session.flush()
    return cred


def signing_secret(
    db_session: Session, partner: Partner, vault: Vault, now: datetime
) -> str | None:
    """The secret results going back are signed with: the partner's newest valid credential."""
    cred = db_session.scalar(
        select(PartnerCredential)
        .where(
            PartnerCredential.partner_id == partner.id,
            PartnerCredential.revoked_at.is_(None),
            PartnerCredential.expires_at > now,
        )
        .order_by(PartnerCredential.created_at.desc())
        .limit(1)
    )
    return vault.decrypt(cred.secret_enc) if cred else None


def check_in_scope(partner: Partner, code: str, field: str) -> None:
    """A partner's order must lie in its county or township."""
    if not code.startswith(partner.area_code):
        raise Forbidden(
            "该村（社区）不在合作方的服务范围内", code="outside_partner_scope", field=field
        )


def list_calls(db_session: Session, *, actor: Actor, partner_id: int) -> list[PartnerCall]:
    """A partner's latest calls, newest first."""
    partner = get_partner(db_session, actor=actor, partner_id=partner_id)
    return list(
        db_session.scalars(
            select(PartnerCall)
            .where(PartnerCall.partner_id == partner.id)
            .order_by(PartnerCall.id.desc())
            .limit(200)
        )
    )
