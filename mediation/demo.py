"""The demo deployment: the real county of 诸暨市 with generated grid cells."""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile

from geo.geojson import read_geojson

COUNTY_CODE = "330681"
# The county's boundaries ship with the project (gzip-compressed GeoJSON, see its README).
DEFAULT_DATA_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "zhuji"
)


def demo_file(data_dir: str, stem: str) -> str:
    """The file `stem.json` or `stem.json.gz` in `data_dir` (plain wins when both exist)."""
    for name in (f"{stem}.json", f"{stem}.json.gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(os.path.join(data_dir, f"{stem}.json[.gz]"))


def village_stems(data_dir: str) -> list[str]:
    """The township codes that have a file of villages in `data_dir`, in code order."""
    stems = {
        re.sub(r"\.json(\.gz)?$", "", os.path.basename(p))
        for p in glob.glob(os.path.join(data_dir, f"{COUNTY_CODE}[0-9][0-9][0-9].json*"))
    }
    return sorted(s for s in stems if re.fullmatch(r"\d{9}", s))


def county_feature_collection(data_dir: str) -> dict:
    """The county's own polygon, cut from its city's file, as a root (no parent)."""
    city = read_geojson(demo_file(data_dir, "330600"))
    features = [f for f in city["features"] if str(f["properties"]["adcode"]) == COUNTY_CODE]
    for f in features:
        f["properties"].pop("parent", None)  # the city is not loaded; the county is a root
    return {"type": "FeatureCollection", "features": features}


def demo_files(data_dir: str) -> list[str]:
    """The county's own file (cut from its city's file), its townships, then its villages."""
    path = os.path.join(tempfile.gettempdir(), f"mediation-demo-{COUNTY_CODE}.json")
    tmp = f"{path}.{os.getpid()}"  # written whole, then renamed: concurrent loaders never clash
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(county_feature_collection(data_dir), fh, ensure_ascii=False)
    os.replace(tmp, path)
    villages = [demo_file(data_dir, stem) for stem in village_stems(data_dir)]
    return [path, demo_file(data_dir, COUNTY_CODE), *villages]


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

    from core.clock import business_date
    from mediation.users import accounts
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
        user = accounts.create_user(
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
            accounts.assign_cell(
                db_session,
                actor=actor,
                user_id=user.id,
                cell_code=cell,
                valid_from=business_date(now),
            )
        created.append(spec["username"])
    return created
