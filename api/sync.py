"""URL table for offline sync: pull the change stream, push offline operations, upload photos."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import ValidationError

from api.auth import allow, current_actor, request_now, vault
from api.disputes import check_dates, checked_upload, inline_photos, settings, store
from api.errors import flatten
from api.inputs import Blueprint, dates_out_of_range, json_type_errors, large_json
from api.schemas.disputes import ActionIn, DisputeIn
from api.schemas.risks import SYNC_PAYLOADS as RISK_PAYLOADS
from api.schemas.sync import (
    AttachPhotoIn,
    ChangesOut,
    ChangesQuery,
    OperationsIn,
    OperationsOut,
    PhotoForm,
    PhotoOut,
)
from core.db import db
from core.errors import ValidationFailed
from mediation import attachments
from mediation.sync import photos, pull, push
from mediation.users.enums import (
    CENTER_STAFF,
    COUNTY_ADMIN,
    GRID_WORKER,
    LEADER,
    MEDIATOR,
    VILLAGE_ADMIN,
)

PROTOCOL = """
离线同步协议（网格员手机离线登记、记录调解和回访，有信号时同步）。

**拉取** `GET /api/v1/sync/changes?cursor=…&limit=…`：返回“自游标以来与我有关的变化”，
是一个有序的流：`upsert`（以 `data` 覆盖本地）或 `delete`（墓碑，删除本地：`out_of_scope`
网格被调走/案件不再可见，`deleted` 已删除，`retired` 网格已撤销）。案件只含摘要（无个人信息）
和未办结的提醒；网格的 `geometry` 只在第一次或边界变化时才发。不带游标即完整同步：第一页
`reset=true`（先清空本地缓存）并带 `enumerations` 和 `config`。`has_more=true` 时立即拉下一页；
**处理完一页后再保存它的 `cursor`**。游标不会跳过任何已提交的变化（按事务号排序，只发比所有
仍在运行的事务更早的变化）；偶尔会重复发送同一案件的当前状态，覆盖即可。游标无效 → 422
`invalid_cursor`：不带游标重新完整同步。用户的角色或辖区变了会收到 `{"type": "scope",
"op": "resync"}`：清空本地缓存和游标，重新完整同步。

**推送** `POST /api/v1/sync/operations`：一批离线操作（最多 100 个），按顺序执行，每个都有客户端
生成的 `op_id`（重发时不变）和所依据的案件版本 `base_version`。`kind`：`register`（`case_id` 为
客户端生成的新案件 UUID，`payload` 同登记接口）、`record_session`、`record_visit`、`transition`
（`action` 如 `accept`、`agree`）、`attach_photo`（`payload.sha256`）、`record_signal`（记录风险
隐患，`payload` 同 `POST /api/v1/risks/signals`，隐患编号为 `payload.client_id`，未填则为 `op_id`）、
`convert_signal`（`payload.signal_id` + `payload.dispute_id`：隐患已转为同一批登记的矛盾纠纷）。
每个操作单独回答：

* `applied`：已执行，`result` 里有新的 `version`。同一案件上的下一个离线操作用这个版本（每个
  流程操作使案件版本加 1，附照片不改变版本）。
* `already_applied`：这个 `op_id` 已执行过（响应丢了后重发），`result` 与第一次相同。
* `conflict`：`base_version` 已过时（别人改过这个案件）。`server` 是服务器上的当前状态，手机
  把两者都给用户看；用户决定后用**新的** `op_id` 和新版本再发。
* `rejected`：`error.code` / `error.fields` 说明原因。`retryable=false` 的拒绝会被记住，同一
  `op_id` 重发得到同样的回答；`retryable=true`（`case_unknown` 服务器还没有这个案件、
  `photo_not_uploaded` 照片未上传、`server_error`）不记住，条件满足后用同一 `op_id` 重发即可。
  同一 `op_id` 内容不同 → `operation_id_reused`。

一个操作失败不影响同一批的其他操作；同一批里后面的操作可以引用前面 `register` 创建的案件。
`happened_at` 是设备时间（发生时），`received_at` 是服务器时间（收到时），两者都保存。

**照片** `PUT /api/v1/sync/photos/{sha256}`（multipart 字段 `file`）：按校验和保存，可随时、
重复上传（已有 → `stored=existing`，无需再传内容以外的东西；内容与校验和不符 → 422
`checksum_mismatch`，重新上传）。再用 `attach_photo` 操作把它附到案件上。回访可用
`payload.photo_sha256` 引用已附到该案件的照片。

**示例**

1. 完整同步：`GET /api/v1/sync/changes` →
   `{"reset": true, "changes": [{"type": "cell", "op": "upsert", "id": "330681109201001",
   "data": {"geometry": {…}}}, {"type": "case", "op": "upsert", "id": "8f0c…",
   "data": {"version": 4, "status": "agreed", "reminders": […]}}], "cursor": "YjE6…",
   "has_more": false, "enumerations": {…}, "config": {…}}`，保存 `cursor`。
2. 离线一天后推送三个操作：
   `POST /api/v1/sync/operations`
   `{"operations": [
   {"op_id": "0b6e…", "kind": "register", "case_id": "5d1a…", "happened_at":
   "2026-05-01T09:12:00+08:00", "payload": {"location": {…}, "occurred_at": "…", "category": "02",
   "description": "…", "parties": […]}},
   {"op_id": "7c21…", "kind": "attach_photo", "case_id": "5d1a…", "payload": {"sha256": "9f86…"}},
   {"op_id": "e4d9…", "kind": "record_visit", "case_id": "8f0c…", "base_version": 4,
   "happened_at": "2026-05-01T15:40:00+08:00", "payload": {"method": "in_person",
   "result": "performed", "satisfaction": "satisfied"}}]}` →
   `{"results": [{"op_id": "0b6e…", "status": "applied", "result": {"case_number":
   "2026-330681109201-0007", "version": 1}}, {"op_id": "7c21…", "status": "applied"},
   {"op_id": "e4d9…", "status": "conflict", "error": {"code": "version_conflict"},
   "server": {"version": 5, "status": "follow_up"}}]}`。
   响应没收到？原样重发整批：前两个回答 `already_applied`，第三个仍是 `conflict`。
3. 增量拉取：`GET /api/v1/sync/changes?cursor=YjE6…` → 新登记的案件、调解员改过的案件
   （version 5）等；`has_more=false` 时保存新游标。
"""

sync_bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync", description=PROTOCOL)
blueprints = [sync_bp]

CASE_ROLES = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN)
UPLOADERS = (GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN)


def sync_config() -> dict:
    """Configuration phones need offline."""
    cfg = current_app.config
    return {
        "deadlines": dict(cfg["DEADLINES"]),
        "working_day_rules": list(cfg["WORKING_DAY_RULES"]),
        "group_min_one_side": cfg["GROUP_MIN_ONE_SIDE"],
        "group_min_people": cfg["GROUP_MIN_PEOPLE"],
        "max_photo_bytes": cfg["MAX_PHOTO_BYTES"],
        "max_operations_per_batch": 100,
    }


def load_payload(kind: str, payload: dict, now) -> dict:
    """Validate an operation's payload with the same schemas as the plain endpoints."""
    schemas = {"register": DisputeIn, "attach_photo": AttachPhotoIn, **RISK_PAYLOADS}
    schema = schemas.get(kind, ActionIn)()
    wrong = json_type_errors(schema, payload, "payload")
    if wrong:
        raise ValidationFailed(fields=wrong)
    try:
        data = schema.load(payload)
    except ValidationError as exc:
        raise ValidationFailed(fields=flatten(exc.messages, "payload")) from None
    bad = dates_out_of_range(data, "payload")
    if bad:
        raise ValidationFailed(fields=bad)
    if kind == "register":
        check_dates(data, now)
        data["_photos"] = inline_photos(data)
    return data


@sync_bp.route("/changes")
class Changes(MethodView):
    @allow(*CASE_ROLES)
    @sync_bp.arguments(ChangesQuery, location="query")
    @sync_bp.response(200, ChangesOut)
    def get(self, args):
        """Everything that changed for me since the cursor (no cursor: a first, full sync)."""
        return pull.pull_changes(
            db.session,
            actor=current_actor(),
            cursor=args.get("cursor"),
            limit=args["limit"],
            now=request_now(),
            config=sync_config(),
        )


@sync_bp.route("/operations")
class Operations(MethodView):
    @allow(*CASE_ROLES)
    @large_json
    @sync_bp.arguments(OperationsIn)
    @sync_bp.response(200, OperationsOut)
    def post(self, data):
        """Apply a batch of offline operations; one answer per operation, in order."""
        results = push.push_operations(
            db.session,
            actor=current_actor(),
            operations=data["operations"],
            load=load_payload,
            now=request_now(),
            settings=settings(),
            vault=vault(),
            store=store(),
        )
        db.session.commit()
        return {"results": results}


@sync_bp.route("/photos/<string:sha256>")
class Photo(MethodView):
    @allow(*UPLOADERS)
    @sync_bp.arguments(PhotoForm, location="form", content_type="multipart/form-data")
    @sync_bp.response(200, PhotoOut)
    @sync_bp.alt_response(201, schema=PhotoOut, description="新保存的照片")
    def put(self, _form, sha256):
        """Upload a photo by its checksum (multipart `file`); the same photo twice is kept once."""
        checked = checked_upload(attachments.PHOTO_TYPES, "MAX_PHOTO_BYTES")
        new = photos.store_photo(checked=checked, sha256=sha256, store=store())
        body = {
            "sha256": checked.sha256,
            "size": len(checked.data),
            "content_type": checked.content_type,
            "stored": "new" if new else "existing",
        }
        return body, 201 if new else 200
