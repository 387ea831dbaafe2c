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

# Guideline for a comprehensive cell (综合网格; 专属网格 cover a school, hospital, park or
# enterprise and have none): rural about 300 households, at most 2,500 people; urban 300–500
# households (domain §2). Warned about, never refused.
GUIDE_RURAL_HOUSEHOLDS = 300
GUIDE_URBAN_HOUSEHOLDS = 500
GUIDE_MAX_POPULATION = 2500
URBAN_NAME_ENDINGS = ("社区", "居委会", "居")
RURAL_NAME_ENDINGS = ("村",)


def is_urban_village(code: str, name: str | None) -> bool:
    """A 社区/居委会 (urban) rather than a 村 (rural): by the name where it says (real codes break
    the ranges: villages turned communities keep their 2xx code), else by the code's 10th–12th
    digits (001–199 居委会/社区, 200–399 村委会; GB/T 10114)."""
    name = (name or "").strip()
    if name.endswith(URBAN_NAME_ENDINGS):
        return True
    if name.endswith(RURAL_NAME_ENDINGS):
        return False
    return code[9:12].isdigit() and int(code[9:12]) < 200


def households_guideline(cell_code: str, village_name: str | None) -> int | None:
    """The household guideline of a cell: none for a 专属网格 (sequence 900–999); 300 in a
    village (村), 500 in a community (社区)."""
    if int(cell_code[12:]) >= 900:
        return None
    urban = is_urban_village(cell_code[:12], village_name)
    return GUIDE_URBAN_HOUSEHOLDS if urban else GUIDE_RURAL_HOUSEHOLDS


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
