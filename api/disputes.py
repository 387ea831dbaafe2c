"""URL table for disputes: register, lists, case file, actions, personal data, attachments."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from flask import current_app, request, send_file
from flask.views import MethodView

from api.auth import allow, current_actor, request_now, vault
from api.inputs import Blueprint, large_json
from api.schemas.disputes import (
    ActionIn,
    AttachmentForm,
    AttachmentOut,
    DetailOut,
    DetailQuery,
    DisputeIn,
    EventOut,
    ListQuery,
    PageOut,
    PartyRevealIn,
    SummaryOut,
    TaskQuery,
)
from api.schemas.users import RevealOut
from api.security import limited
from core.db import db
from core.errors import DomainError, ValidationFailed
from geo.crs import WGS84
from mediation import attachments
from mediation.calendar import load_calendar
from mediation.disputes import files as case_files
from mediation.disputes import flow, queries, registration
from mediation.disputes import settings as case_settings
from mediation.disputes.deadlines import limits_from_config
from mediation.disputes.enums import LEVEL_LABELS, LEVELS, STATUS_LABELS, STATUSES
from mediation.disputes.workflow import TRANSITIONS, workers_at
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    ROLE_LABELS,
    VILLAGE_ADMIN,
)

disputes_bp = Blueprint("disputes", __name__, url_prefix="/api/v1/disputes", description="矛盾纠纷")
blueprints = [disputes_bp]

CASE_ROLES = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
REGISTRARS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)
WORKERS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)


def settings() -> case_settings.Settings:
    """Use-case settings from the app config."""
    cfg = current_app.config
    return case_settings.Settings(
        limits=limits_from_config(cfg, load_calendar(db.session)),
        locate_tolerance_m=cfg["LOCATE_TOLERANCE_M"],
        group_min_one_side=cfg["GROUP_MIN_ONE_SIDE"],
        group_min_people=cfg["GROUP_MIN_PEOPLE"],
        max_photo_bytes=cfg["MAX_PHOTO_BYTES"],
        clock_skew=timedelta(seconds=cfg["CLOCK_SKEW_SECONDS"]),
        red_alert_levels=tuple(cfg["RED_ALERT_LEVELS"]),
        archive_requires_signed_agreement=cfg["ARCHIVE_REQUIRE_SIGNED_AGREEMENT"],
    )


def store() -> attachments.FileStore:
    """Where attachments live."""
    return attachments.FileStore(current_app.config["ATTACHMENT_DIR"])


def inline_photos(data: dict) -> list[attachments.Checked]:
    """Photos sent inline (base64) in a JSON body, checked on their bytes."""
    out = []
    for i, photo in enumerate(data.get("photos") or []):
        field = f"photos[{i}]"
        try:
            raw = base64.b64decode(photo["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed(
                "照片内容不是有效的 base64", code="invalid_file", field=field
            ) from None
        out.append(
            attachments.check(
                raw,
                filename=photo.get("filename"),
                allowed=attachments.PHOTO_TYPES,
                max_bytes=current_app.config["MAX_PHOTO_BYTES"],
                field=field,
            )
        )
    return out


def _etag(dispute_version: int) -> dict:
    return {"ETag": f'"{dispute_version}"'}


def _expected_version(payload: dict) -> int | None:
    header = request.headers.get("If-Match")
    if header:
        try:
            return int(header.strip().removeprefix("W/").strip('"'))
        except ValueError:
            raise ValidationFailed(
                "If-Match 应为案件版本号", code="invalid_if_match", field="If-Match"
            ) from None
    return payload.get("expected_version")


def _detail(dispute_id, system: str = WGS84):
    body = queries.detail(
        db.session, actor=current_actor(), dispute_id=dispute_id, now=request_now(), system=system
    )
    return body, 200, _etag(body["version"])


@disputes_bp.route("")
class Disputes(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.arguments(ListQuery, location="query")
    @disputes_bp.response(200, PageOut)
    def get(self, args):
        """Cases in my area: filter by status, level, risk, category, key area, overdue, dates,
        area; newest first with a keyset cursor and the total count."""
        limit, cursor, system = args.pop("limit"), args.pop("cursor", None), args.pop("crs")
        return queries.list_disputes(
            db.session,
            actor=current_actor(),
            filters=args,
            now=request_now(),
            limit=limit,
            cursor=cursor,
            system=system,
        )

    @allow(*REGISTRARS)
    @large_json
    @disputes_bp.arguments(DisputeIn)
    @disputes_bp.response(201, DetailOut)
    @disputes_bp.alt_response(
        200, schema=DetailOut, description="同一 client_id 与相同内容的重发：返回已登记的案件"
    )
    @disputes_bp.alt_response(409, description="同一 client_id 但内容不同 (client_id_conflict)")
    def post(self, data):
        """Register a dispute where it happened; routed to its cell, village and township."""
        done = register(current_actor(), data, photos=inline_photos(data))
        if not done.created:
            db.session.commit()
            return _detail(done.dispute.id)
        # Answer from what was just written (reading 11 tables back cost a third of the request).
        body = queries.case_file(done.dispute, request_now(), done.children)
        db.session.commit()
        return body, 201, _etag(body["version"])


def register(actor, data: dict, *, photos: list[attachments.Checked]):
    """Register a dispute — the API's and the console's walk-in form: dates checked first."""
    now = request_now()
    check_dates(data, now)
    return registration.register_dispute(
        db.session,
        actor=actor,
        data=data,
        photos=photos,
        now=now,
        settings=settings(),
        vault=vault(),
        store=store(),
    )


def checked_upload(allowed, limit_key: str) -> attachments.Checked:
    """The multipart field `file`, read up to the configured limit and checked on content."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("请选择要上传的文件", code="file_required", field="file")
    max_bytes = current_app.config[limit_key]
    return attachments.check(
        upload.read(max_bytes + 1),
        filename=upload.filename,
        allowed=allowed,
        max_bytes=max_bytes,
        field="file",
    )


def check_dates(data: dict, now) -> None:
    occurred = data["occurred_at"]
    if occurred > now + timedelta(minutes=10):
        raise ValidationFailed("发生时间不能晚于现在", code="invalid_date", field="occurred_at")
    if occurred.year < 1900:
        raise ValidationFailed(
            "发生时间不合理（早于 1900 年）", code="invalid_date", field="occurred_at"
        )


@disputes_bp.route("/tasks")
class Tasks(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.arguments(TaskQuery, location="query")
    @disputes_bp.response(200, SummaryOut(many=True))
    def get(self, args):
        """What I must do next: my open cases and due visits, overdue and most urgent first."""
        return queries.task_list(
            db.session,
            actor=current_actor(),
            now=request_now(),
            limit=args["limit"],
            system=args["crs"],
        )


@disputes_bp.route("/<string:dispute_id>")
class DisputeDetail(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.arguments(DetailQuery, location="query")
    @disputes_bp.response(200, DetailOut)
    def get(self, args, dispute_id):
        """The case file: parties (masked), sessions, agreement, visits, risk, timeline; ETag.
        Its point in `crs` (default WGS-84)."""
        return _detail(dispute_id, args["crs"])


@disputes_bp.route("/<string:dispute_id>/timeline")
class Timeline(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.response(200, EventOut(many=True))
    def get(self, dispute_id):
        """Every change of the case, oldest first (append-only audit)."""
        return queries.timeline(db.session, actor=current_actor(), dispute_id=dispute_id)


def _action_roles(t) -> str:
    """Who may take an action, as the workflow table says (pure: no database)."""
    if t.roles:
        return "、".join(ROLE_LABELS[r] for r in ROLE_LABELS if r in t.roles)
    if t.at_level == "escalation_target":
        return "所上报层级的办理人"
    return "案件所在层级的办理人（网格案件村里也可办理）"


def _statuses(names) -> str:
    return "、".join(STATUS_LABELS[x] for x in STATUSES if x in names)


def action_catalogue() -> dict:
    """Every action of the workflow table: label, from → to, roles, required fields (the
    document's `x-actions`, and the same facts as the description)."""
    return {
        t.action: {
            "label": t.label,
            "from": [x for x in STATUSES if x in t.sources],
            "to": t.target if t.target in STATUSES else None,
            "roles": sorted(t.roles) or None,
            "at_level": t.at_level,
            "requires": list(t.requires),
        }
        for t in TRANSITIONS.values()
    }


def _action_description() -> str:
    rows = [
        "Take one step of the flow. Send the case version in If-Match (or expected_version).",
        "",
        "| 操作 `action` | 名称 | 从状态 | 到状态 | 谁可以办理 | 必填字段 |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS.values():
        to = (
            STATUS_LABELS[t.target]
            if t.target in STATUSES
            else ("按回访结果" if t.target == "by_result" else "不变")
        )
        rows.append(
            f"| `{t.action}` | {t.label} | {_statuses(t.sources)} | {to} | {_action_roles(t)} | "
            + ("、".join(f"`{f}`" for f in t.requires) or "—")
            + " |"
        )
    rows += ["", "各层级的办理人："]
    rows += [
        f"* {LEVEL_LABELS[lv]}：{'、'.join(ROLE_LABELS[r] for r in ROLE_LABELS if r in workers_at(lv))}"
        for lv in LEVELS
    ]
    rows += ["", "缺少必填字段 → 422 `missing_field`（`fields` 列出缺的字段）。"]
    rows += [
        "",
        "风险研判 `assess_risk`：此前记录的强制红色情形保留，除非列入 `clear_flags`（须写 `reason`，"
        "否则 422 `reason_required`；未记录的情形 422 `flag_not_recorded`）。降低风险等级须写 "
        "`reason`；红色、橙色案件只能由综治中心工作人员、包案领导或县级综治中心降级（否则 403 "
        "`risk_lowering_not_allowed`）。群体性纠纷由 `set_group_flag` 认定或撤销（`group_dispute` "
        "true/false 与 `reason`），此后重新研判不再自动改变该认定。",
        "",
        "红色风险案件未指定包案领导时（409 `leader_required`），仍可受理、开始调解、记录调解过程、"
        "研判、上报、移送、撤回；达成协议、终止、不予受理、交办、延期须先指定包案领导。",
    ]
    return "\n".join(rows)


ACTION_PARAMETER = {
    "in": "path",
    "name": "action",
    "required": True,
    "schema": {"type": "string", "enum": list(TRANSITIONS)},
    "description": "流程操作，见上表",
}


@disputes_bp.route("/<string:dispute_id>/actions/<string:action>", parameters=[ACTION_PARAMETER])
class Action(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.doc(description=_action_description(), **{"x-actions": action_catalogue()})
    @disputes_bp.arguments(ActionIn)
    @disputes_bp.response(200, DetailOut)
    @disputes_bp.alt_response(
        409, description="状态不允许 (transition_refused 等) 或版本冲突 (version_conflict)"
    )
    @disputes_bp.alt_response(428, description="缺少版本号 (precondition_required)")
    def post(self, data, dispute_id, action):
        """Take one step of the flow (the table of actions is generated from the workflow)."""
        if action not in TRANSITIONS:
            raise DomainError("未知的操作", code="unknown_action")
        act(current_actor(), dispute_id, action, data, _expected_version(data))
        db.session.commit()
        return _detail(dispute_id)


def act(actor, dispute_id: str, action: str, payload: dict, expected_version: int | None):
    """One step of the flow — the API's and the console's."""
    flow.act(
        db.session,
        actor=actor,
        dispute_id=dispute_id,
        action=action,
        payload=payload,
        expected_version=expected_version,
        now=request_now(),
        settings=settings(),
    )


@disputes_bp.route("/<string:dispute_id>/parties/<int:party_id>/reveal")
class PartyReveal(MethodView):
    @allow(*CASE_ROLES)
    @limited("REVEAL_RATE_LIMIT")
    @disputes_bp.arguments(PartyRevealIn)
    @disputes_bp.response(200, RevealOut)
    def post(self, data, dispute_id, party_id):
        """A party's full ID number, phone or address, for roles that need it; written to the
        access log."""
        value = reveal_party(current_actor(), dispute_id, party_id, data["field"], data["purpose"])
        db.session.commit()
        return {"field": data["field"], "value": value}


def reveal_party(actor, dispute_id: str, party_id: int, field: str, purpose: str):
    """A party's full ID number, phone or address, access-logged — the API's and the console's."""
    return case_files.reveal_party_field(
        db.session,
        actor=actor,
        dispute_id=dispute_id,
        party_id=party_id,
        field=field,
        purpose=purpose,
        vault=vault(),
        ip=request.remote_addr,
        now=request_now(),
    )


@disputes_bp.route("/<string:dispute_id>/attachments")
class Attachments(MethodView):
    @allow(*WORKERS)
    @disputes_bp.arguments(AttachmentForm, location="form", content_type="multipart/form-data")
    @disputes_bp.response(201, AttachmentOut)
    @disputes_bp.alt_response(
        200, schema=AttachmentOut, description="同一文件已上传过（按校验和幂等）"
    )
    def post(self, form, dispute_id):
        """Upload a photo or a signed agreement (multipart field `file`); checked on content."""
        allowed = attachments.PHOTO_TYPES if form["kind"] == "photo" else attachments.DOCUMENT_TYPES
        checked = checked_upload(allowed, "MAX_ATTACHMENT_BYTES")
        att, created = case_files.add_attachment(
            db.session,
            actor=current_actor(),
            dispute_id=dispute_id,
            checked=checked,
            kind=form["kind"],
            now=request_now(),
            store=store(),
        )
        db.session.commit()
        return att, 201 if created else 200


@disputes_bp.route("/<string:dispute_id>/attachments/<string:attachment_id>")
class AttachmentFile(MethodView):
    @allow(*CASE_ROLES)
    @disputes_bp.response(200, description="文件内容")
    def get(self, dispute_id, attachment_id):
        """Download an attachment of a case you may see."""
        att = case_files.get_attachment(
            db.session, actor=current_actor(), dispute_id=dispute_id, attachment_id=attachment_id
        )
        path = store().path(att.sha256)
        return send_file(path, mimetype=att.content_type, download_name=att.filename, max_age=0)
