"""URL tables for partner systems: the signed partner endpoints (work orders in, referral
results in) and the county's management of partners and their credentials."""

from __future__ import annotations

from flask import g, request
from flask.views import MethodView

from api.auth import allow, current_actor, request_now, vault
from api.disputes import settings, store
from api.inputs import Blueprint
from api.schemas.channels import (
    CallOut,
    CredentialOut,
    OrderReceiptOut,
    PartnerIn,
    PartnerOrderIn,
    PartnerOut,
    ReferralResultIn,
    ResultReceiptOut,
)
from core.db import db
from mediation.channels import intake, partners, results
from mediation.users.enums import COUNTY_ADMIN

SIGNATURE_DOC = """合作方系统（12345 平台、信访系统、110、法院）调用的接口。每个请求都须签名，不使用登录令牌。

**签名**（HMAC-SHA256）。县级综治中心为合作方签发密钥：密钥编号 `key_id`（如 `pk_3f…`）和密钥
`secret`（只在签发时显示一次）。每个请求带三个请求头：

- `X-Partner-Key`: 密钥编号 `key_id`
- `X-Partner-Timestamp`: 发送时刻的 Unix 时间（秒，十进制整数，UTC），与服务器时间相差不得超过
  300 秒（防重放），否则 401 `timestamp_out_of_window`
- `X-Partner-Signature`: `sha256=` 加上小写十六进制的 HMAC-SHA256(key = secret 的 UTF-8 字节,
  message = 待签字符串)

待签字符串是以下四行用换行符 `\\n`（0x0A）连接，末尾没有换行：

```
METHOD
PATH
TIMESTAMP
BODY_SHA256
```

其中 METHOD 为大写请求方法（如 `POST`），PATH 为请求路径、不含主机和查询串（如
`/api/v1/partner-api/orders`），TIMESTAMP 与 `X-Partner-Timestamp` 完全相同，BODY_SHA256 为请求体
原始字节（按发送的字节，UTF-8 JSON）的 SHA-256 小写十六进制；没有请求体时为空串的 SHA-256
`e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`。

签名错误（401）：`signature_missing` 缺少签名头、`unknown_credential` 密钥编号不存在、
`credential_revoked` 已吊销、`credential_expired` 已过期、`bad_timestamp` 时间戳格式不对、
`timestamp_out_of_window` 时间偏差过大、`bad_signature` 签名与请求方法、路径、时间戳或请求体不符、
`partner_inactive` 合作方已停用。被拒的请求不写入任何数据；每次调用（含被拒的）都记录调用日志
（合作方、工单号、结果），日志不含当事人信息。

**幂等**：同一合作方的同一工单号 `reference` 始终是同一案件。重发相同内容返回 200 和原案件（并发
重发也只生成一个案件）；同一工单号、内容不同返回 409 `reference_conflict`。

**结果回传**：来自合作方的案件化解、终止、移送（以及不予受理、撤回）时，本系统向合作方登记的
`result_url` POST 一条 JSON：`{"type": "case_result", "reference", "case_number", "outcome",
"outcome_label", "date", "summary", "mediator", "referred_to"}`，带请求头 `Idempotency-Key`（同一条
结果重发时不变，请据此去重）、`X-Mediation-Timestamp`（Unix 秒）和 `X-Mediation-Signature:
sha256=<hex>`，签名为 HMAC-SHA256(key = 合作方最新有效密钥的 secret, message = TIMESTAMP + "." +
请求体原始字节)。合作方返回 2xx 即为确认；否则按 30 秒起倍增、最长 1 小时的间隔重试，直至确认。
"""

partner_api_bp = Blueprint(
    "partner_api", __name__, url_prefix="/api/v1/partner-api", description=SIGNATURE_DOC
)
partners_bp = Blueprint(
    "partners", __name__, url_prefix="/api/v1/partners", description="合作方系统与密钥管理（县级）"
)
blueprints = [partner_api_bp, partners_bp]


@partner_api_bp.before_request
def _authenticate():
    """Every partner call is signed; checked before the body is read into a schema. The call's
    work runs in a savepoint, so that a refused call leaves nothing but its log row."""
    g.partner_caller = None
    g.partner_work = db.session.begin_nested()
    g.partner_caller = partners.authenticate(
        db.session,
        headers=request.headers,
        method=request.method,
        path=request.path,
        body=request.get_data(cache=True),
        now=request_now(),
        vault=vault(),
    )


@partner_api_bp.after_request
def _log(response):
    """One call-log row per call, its own commit (kept when the request's work is rolled back)."""
    body = request.get_json(silent=True) if request.is_json else None
    answer = response.get_json(silent=True) if response.is_json else None
    work = g.get("partner_work")
    if response.status_code >= 400 and work is not None and work.is_active:
        work.rollback()
    partners.log_call(
        db.session,
        caller=g.get("partner_caller"),
        key_id=request.headers.get("X-Partner-Key"),
        method=request.method,
        path=request.path,
        reference=(body or {}).get("reference") if isinstance(body, dict) else None,
        status=response.status_code,
        result=(answer or {}).get("code") or ("created" if response.status_code == 201 else "ok"),
        now=request_now(),
        dispute_id=g.get("partner_case_id"),
    )
    db.session.commit()
    return response


@partner_api_bp.route("/orders")
class Orders(MethodView):
    @allow(public=True)  # authenticated by its signature (see the tag's description)
    @partner_api_bp.arguments(PartnerOrderIn)
    @partner_api_bp.response(201, OrderReceiptOut)
    @partner_api_bp.alt_response(200, schema=OrderReceiptOut, description="同一工单号原样重发")
    @partner_api_bp.alt_response(401, description="签名不通过（见上方签名说明）")
    @partner_api_bp.alt_response(403, description="地点不在合作方范围内 outside_partner_scope")
    @partner_api_bp.alt_response(409, description="同一工单号内容不同 reference_conflict")
    def post(self, order):
        """Push a work order: one case per (partner, reference); point or village + address."""
        done = intake.receive_order(
            db.session,
            caller=g.partner_caller,
            order=order,
            now=request_now(),
            settings=settings(),
            vault=vault(),
            store=store(),
        )
        db.session.commit()
        g.partner_case_id = done.dispute.id
        return _receipt(done.dispute), 201 if done.created else 200


def _receipt(d) -> dict:
    return {
        "case_id": d.id,
        "case_number": d.case_number,
        "reference": d.partner_reference,
        "status": d.status,
        "located": d.located,
        "village_code": d.village_code,
        "deadline": d.external_due_on,
    }


@partner_api_bp.route("/cases/<string:case_number>/referral-result")
class ReferralResult(MethodView):
    @allow(public=True)  # authenticated by its signature
    @partner_api_bp.arguments(ReferralResultIn)
    @partner_api_bp.response(200, ResultReceiptOut)
    @partner_api_bp.alt_response(404, description="没有移送给贵单位的该案件 referral_not_found")
    @partner_api_bp.alt_response(409, description="结果已登记且内容不同 result_conflict")
    def post(self, result, case_number):
        """The receiving body's result of a case referred to it (court, police, 信访 …)."""
        d = results.record_from_partner(
            db.session,
            caller=g.partner_caller,
            case_number=case_number,
            result=result,
            now=request_now(),
            settings=settings(),
        )
        db.session.commit()
        g.partner_case_id = d.id
        return {
            "case_number": d.case_number,
            "status": d.status,
            "resolved_level": d.resolved_level,
        }


@partners_bp.route("")
class Partners(MethodView):
    @allow(COUNTY_ADMIN)
    @partners_bp.response(200, PartnerOut(many=True))
    def get(self):
        """The partner systems of my county."""
        return partners.list_partners(db.session, actor=current_actor())

    @allow(COUNTY_ADMIN)
    @partners_bp.arguments(PartnerIn)
    @partners_bp.response(201, PartnerOut)
    @partners_bp.alt_response(404, description="范围不在本县 area_not_found")
    def post(self, data):
        """Register a partner system, scoped to my county or one of its townships, with its
        first credential (the secret is shown once)."""
        now, actor = request_now(), current_actor()
        partner = partners.create_partner(db.session, actor=actor, now=now, **data)
        cred, secret = partners.issue_credential(
            db.session, actor=actor, partner_id=partner.id, now=now, vault=vault()
        )
        db.session.commit()
        return {**_row(partner), "credential": {**_row(cred), "secret": secret}}


def _row(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key != "secret_enc"}


@partners_bp.route("/<int:partner_id>/credentials")
class Credentials(MethodView):
    @allow(COUNTY_ADMIN)
    @partners_bp.response(201, CredentialOut)
    def post(self, partner_id):
        """Issue a new credential (rotation: the old one stays valid until revoked)."""
        cred, secret = partners.issue_credential(
            db.session,
            actor=current_actor(),
            partner_id=partner_id,
            now=request_now(),
            vault=vault(),
        )
        db.session.commit()
        return {**_row(cred), "secret": secret}


@partners_bp.route("/credentials/<string:key_id>/revoke")
class Revoke(MethodView):
    @allow(COUNTY_ADMIN)
    @partners_bp.response(200, CredentialOut)
    def post(self, key_id):
        """Revoke a credential at once."""
        cred = partners.revoke_credential(
            db.session, actor=current_actor(), key_id=key_id, now=request_now()
        )
        db.session.commit()
        return cred


@partners_bp.route("/<int:partner_id>/calls")
class Calls(MethodView):
    @allow(COUNTY_ADMIN)
    @partners_bp.response(200, CallOut(many=True))
    def get(self, partner_id):
        """The partner's latest 200 calls (partner, reference, answer; no personal data)."""
        return partners.list_calls(db.session, actor=current_actor(), partner_id=partner_id)
