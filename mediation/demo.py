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
