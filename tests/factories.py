"""Factories for tests: users with roles and cells, logins, well-known places of the county."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from core.clock import utcnow
from mediation.pii import vault_for
from mediation.users import accounts
from mediation.users.actor import system_actor
from mediation.users.passwords import hasher_for

PASSWORD = "Test#Passw0rd"
TOWNSHIP = "330681109"  # 枫桥镇
OTHER_TOWNSHIP = "330681108"  # 山下湖镇
COUNTY = "330681"


def village_with_cells(db_session, township: str = TOWNSHIP, min_cells: int = 5) -> str:
    """The first village of a township with at least `min_cells` cells."""
    return db_session.scalar(
        text(
            "SELECT village_code FROM grid_cell WHERE valid_to IS NULL AND village_code LIKE :t "
            "GROUP BY village_code HAVING count(*) >= :n ORDER BY village_code LIMIT 1"
        ),
        {"t": township + "%", "n": min_cells},
    )


def cells_of(db_session, village: str) -> list[str]:
    """Current cell codes of a village, in order."""
    return list(
        db_session.scalars(
            text(
                "SELECT code FROM grid_cell WHERE valid_to IS NULL AND village_code = :v ORDER BY code"
            ),
            {"v": village},
        )
    )


def point_in(db_session, cell_code: str) -> tuple[float, float]:
    """A WGS-84 point inside a cell."""
    row = db_session.execute(
        text(
            "SELECT ST_X(p) x, ST_Y(p) y FROM (SELECT ST_PointOnSurface(geom) p FROM grid_cell "
            "WHERE code = :c AND valid_to IS NULL) s"
        ),
        {"c": cell_code},
    ).one()
    return row.x, row.y


def make_user(app, db_session, username: str, roles: list[dict], cells: list[str] = (), phone=None):
    """A user created through the use case (so the rules apply), with cells from 2026-01-01."""
    cfg = app.config
    user = accounts.create_user(
        db_session,
        actor=system_actor(),
        username=username,
        display_name=username,
        password=PASSWORD,
        roles=roles,
        phone=phone,
        vault=vault_for(cfg["PII_KEY"]),
        ph=hasher_for(cfg),
        now=utcnow(),
    )
    for cell in cells:
        accounts.assign_cell(
            db_session,
            actor=system_actor(),
            user_id=user.id,
            cell_code=cell,
            valid_from=date(2026, 1, 1),
        )
    db_session.flush()
    return user


def login(client, username: str, password: str = PASSWORD, device: str = "test") -> dict:
    """Log in; returns the token response (raises on failure)."""
    r = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password, "device_name": device},
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def bearer(token: str) -> dict:
    """Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def role_users(app, db_session) -> dict:
    """One user per role around 枫桥镇, plus targets inside and outside their areas."""
    village = village_with_cells(db_session)
    cells = cells_of(db_session, village)
    other_village = village_with_cells(db_session, OTHER_TOWNSHIP, min_cells=2)
    other_cells = cells_of(db_session, other_village)
    users = {
        "grid_worker": make_user(
            app, db_session, "t_gw", [{"role": "grid_worker"}], cells[:2], phone="13900001111"
        ),
        "mediator": make_user(
            app, db_session, "t_med", [{"role": "mediator", "area_code": village}]
        ),
        "village_admin": make_user(
            app, db_session, "t_vil", [{"role": "village_admin", "area_code": village}]
        ),
        "center_staff": make_user(
            app, db_session, "t_center", [{"role": "center_staff", "area_code": TOWNSHIP}]
        ),
        "leader": make_user(
            app, db_session, "t_leader", [{"role": "leader", "area_code": TOWNSHIP}]
        ),
        "county_admin": make_user(
            app, db_session, "t_county", [{"role": "county_admin", "area_code": COUNTY}]
        ),
        "admin": make_user(app, db_session, "t_admin", [{"role": "admin"}]),
    }
    targets = {
        "gw_in": make_user(
            app, db_session, "t_gw_in", [{"role": "grid_worker"}], cells[2:4], phone="13900002222"
        ),
        "gw_out": make_user(
            app,
            db_session,
            "t_gw_out",
            [{"role": "grid_worker"}],
            other_cells[:1],
            phone="13900003333",
        ),
    }
    return {
        "users": users,
        "targets": targets,
        "village": village,
        "cells": cells,
        "other_village": other_village,
        "other_cells": other_cells,
    }


def resident_id(first17: str = "33068119900101123") -> str:
    """A valid resident ID number (check character computed)."""
    from mediation.pii import resident_id_check_char

    return first17 + resident_id_check_char(first17)


def dispute_payload(db_session, cell_code: str, **overrides) -> dict:
    """A registration as the phone sends it: GCJ-02 location inside a cell, two parties, the
    worker's risk assessment (BLUE; `risk=None` registers it unassessed, 未研判)."""
    from datetime import UTC, datetime, timedelta

    from geo import crs

    x, y = point_in(db_session, cell_code)
    gx, gy = crs.wgs84_to_gcj02(x, y)
    payload = {
        "location": {"lon": float(gx), "lat": float(gy), "crs": "gcj02"},
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "category": "02",
        "key_areas": ["涉农问题"],
        "source": "grid_patrol",
        "description": "两户因排水沟堵塞发生争执",
        "people_involved": 4,
        "amount": "1200.00",
        "parties": [
            {
                "role": "applicant",
                "kind": "person",
                "name": "张三",
                "id_type": "resident_id",
                "id_number": resident_id(),
                "phone": "13800138000",
            },
            {"role": "respondent", "kind": "person", "name": "李四", "phone": "+86 139 0013 9000"},
        ],
        "risk": {"likelihood": 1, "severity": 2},
    }
    payload.update(overrides)
    return payload


class Api:
    """Small client for the dispute API as one logged-in user."""

    def __init__(self, client, username: str):
        self.client = client
        self.token = login(client, username)["access_token"]

    def h(self, **extra):
        return {**bearer(self.token), **extra}

    def register(self, payload):
        return self.client.post("/api/v1/disputes", json=payload, headers=self.h())

    def get(self, dispute_id):
        return self.client.get(f"/api/v1/disputes/{dispute_id}", headers=self.h())

    def act(self, dispute_id, action, version=None, **payload):
        if version is None:
            version = self.get(dispute_id).get_json()["version"]
        return self.client.post(
            f"/api/v1/disputes/{dispute_id}/actions/{action}",
            json=payload,
            headers=self.h(**{"If-Match": f'"{version}"'}),
        )


def upload_signed_agreement(api: Api, dispute_id: str) -> None:
    """The scan of the agreement the parties signed (kind `agreement`, a PDF)."""
    import io

    pdf = b"%PDF-1.4\n" + dispute_id.encode() * 20 + b"\n%%EOF\n"
    r = api.client.post(
        f"/api/v1/disputes/{dispute_id}/attachments",
        data={"kind": "agreement", "file": (io.BytesIO(pdf), "协议书.pdf")},
        headers=api.h(),
        content_type="multipart/form-data",
    )
    assert r.status_code in (200, 201), r.get_json()


def case_world(app, db_session, *, today) -> dict:
    """role_users plus `register(now, **payload)` and `act(role, case, action, now, **payload)`
    through the use-case layer with an explicit `now`."""
    from api.disputes import store
    from api.schemas.disputes import DisputeIn
    from mediation.calendar import load_calendar
    from mediation.disputes import flow, registration
    from mediation.disputes import settings as case_settings
    from mediation.disputes.deadlines import Limits
    from mediation.pii import vault_for
    from mediation.users.actor import load_actor

    ctx = role_users(app, db_session)
    settings = case_settings.Settings(
        limits=Limits(calendar=load_calendar(db_session)), locate_tolerance_m=150
    )
    actors = {k: load_actor(db_session, user=u, today=today) for k, u in ctx["users"].items()}

    def register(now, cell=None, settings_=None, **over):
        from datetime import timedelta

        over.setdefault("occurred_at", (now - timedelta(hours=2)).isoformat())
        with app.test_request_context():
            payload = dispute_payload(db_session, cell or ctx["cells"][0], **over)
            data = DisputeIn().load(payload)
            d, _, _ = registration.register_dispute(
                db_session,
                actor=actors["grid_worker"],
                data=data,
                photos=[],
                now=now,
                settings=settings_ or settings,
                vault=vault_for(app.config["PII_KEY"]),
                store=store(),
            )
        return d

    def act(role, d, action, now, **payload):
        return flow.act(
            db_session,
            actor=actors[role],
            dispute_id=d.id,
            action=action,
            payload=payload,
            expected_version=d.version,
            now=now,
            settings=settings,
        )

    return {**ctx, "register": register, "act": act, "actors": actors, "settings": settings}
