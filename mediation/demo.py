"""The demo deployment: the real county of 诸暨市 with generated grid cells."""

from __future__ import annotations

import glob
import json
import os
import tempfile

COUNTY_CODE = "330681"


def demo_files(data_dir: str) -> list[str]:
    """The county's own file (cut from its city's file), its townships, then its villages."""
    with open(os.path.join(data_dir, "330600.json"), encoding="utf-8") as fh:
        city = json.load(fh)
    county = {
        "type": "FeatureCollection",
        "features": [f for f in city["features"] if str(f["properties"]["adcode"]) == COUNTY_CODE],
    }
    for f in county["features"]:
        f["properties"].pop("parent", None)  # the city is not loaded; the county is a root
    tmp = os.path.join(tempfile.gettempdir(), f"mediation-demo-{COUNTY_CODE}.json")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(county, fh, ensure_ascii=False)
    villages = sorted(glob.glob(os.path.join(data_dir, f"{COUNTY_CODE}[0-9][0-9][0-9].json")))
    return [tmp, os.path.join(data_dir, f"{COUNTY_CODE}.json"), *villages]


DEMO_PASSWORD = "Fengqiao#2026"  # noqa: S105 - demo accounts only; `demo load` refuses production
DEMO_TOWNSHIP = "330681109"  # 枫桥镇, where the Fengqiao experience began


def demo_accounts(village: str, cells: list[str]) -> list[dict]:
    """One account per role in 枫桥镇, named in the README."""
    return [
        {"username": "admin", "display_name": "系统管理员", "roles": [{"role": "admin"}]},
        {
            "username": "county_zj",
            "display_name": "诸暨市综治中心",
            "roles": [{"role": "county_admin", "area_code": "330681"}],
        },
        {
            "username": "center_fq",
            "display_name": "枫桥镇综治中心",
            "roles": [{"role": "center_staff", "area_code": DEMO_TOWNSHIP}],
        },
        {
            "username": "leader_fq",
            "display_name": "枫桥镇包案领导",
            "roles": [{"role": "leader", "area_code": DEMO_TOWNSHIP}],
        },
        {
            "username": "village_fq",
            "display_name": "村调委会主任",
            "roles": [{"role": "village_admin", "area_code": village}],
        },
        {
            "username": "mediator_fq",
            "display_name": "村人民调解员",
            "roles": [{"role": "mediator", "area_code": village}],
        },
        {
            "username": "gw_fq",
            "display_name": "网格员",
            "phone": "13800001111",
            "roles": [{"role": "grid_worker"}],
            "cells": cells[:2],
        },
        {
            "username": "gw_fq2",
            "display_name": "网格员（二）",
            "phone": "13800002222",
            "roles": [{"role": "grid_worker"}],
            "cells": cells[2:4],
        },
    ]


def ensure_demo_accounts(db_session, *, vault, ph, now) -> list[str]:
    """Create the demo accounts that do not exist yet; returns the usernames created."""
    from sqlalchemy import select, text

    from clock import business_date
    from mediation.users import service
    from mediation.users.actor import system_actor
    from mediation.users.models import User

    village = db_session.scalar(
        text(
            "SELECT village_code FROM grid_cell WHERE valid_to IS NULL AND village_code LIKE :t "
            "GROUP BY village_code HAVING count(*) >= 4 ORDER BY village_code LIMIT 1"
        ),
        {"t": DEMO_TOWNSHIP + "%"},
    )
    cells = list(
        db_session.scalars(
            text(
                "SELECT code FROM grid_cell WHERE valid_to IS NULL AND village_code = :v ORDER BY code"
            ),
            {"v": village},
        )
    )
    actor = system_actor()
    created = []
    for spec in demo_accounts(village, cells):
        if db_session.scalar(select(User.id).where(User.username == spec["username"])):
            continue
        user = service.create_user(
            db_session,
            actor=actor,
            username=spec["username"],
            display_name=spec["display_name"],
            password=DEMO_PASSWORD,
            roles=spec["roles"],
            phone=spec.get("phone"),
            vault=vault,
            ph=ph,
            now=now,
        )
        for cell in spec.get("cells", []):
            service.assign_cell(
                db_session,
                actor=actor,
                user_id=user.id,
                cell_code=cell,
                valid_from=business_date(now),
            )
        created.append(spec["username"])
    return created
