"""Area levels and grid cell types (stable keys, Chinese labels)."""

COUNTY = "county"
TOWNSHIP = "township"
VILLAGE = "village"
LEVEL_BY_CODE_LENGTH = {6: COUNTY, 9: TOWNSHIP, 12: VILLAGE}
LEVEL_LABELS = {COUNTY: "县（市、区）", TOWNSHIP: "乡镇（街道）", VILLAGE: "村（社区）"}

CELL_COMPREHENSIVE = "comprehensive"
CELL_DEDICATED = "dedicated"

CELL_GENERATED = "generated"
CELL_IMPORTED = "imported"

# Guideline for a rural comprehensive cell: about 300 households, at most 2,500 people.
GUIDE_MAX_HOUSEHOLDS = 500
GUIDE_MAX_POPULATION = 2500


def level_of(code: str) -> str | None:
    """Level derived from the code's length (6 → county, 9 → township, 12 → village)."""
    return LEVEL_BY_CODE_LENGTH.get(len(code)) if code.isdigit() else None


def parent_code_of(code: str) -> str | None:
    """Parent code derived from the code: village → code[:9], township → code[:6]."""
    if len(code) == 12:
        return code[:9]
    if len(code) == 9:
        return code[:6]
    return None
