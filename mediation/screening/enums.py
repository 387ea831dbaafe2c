"""Enumerations of screening: campaign kinds, cell coverage states (stable keys, zh-CN labels)."""

from mediation.disputes.enums import KEY_AREAS  # the fifteen 重点领域, shared with disputes

ROUTINE = "routine"
SPECIAL = "special"
CAMPAIGN_KINDS = {ROUTINE: "每月例行排查", SPECIAL: "专项排查"}

# A cell's standing in a campaign
SCREENED = "screened"
MISSING = "missing"  # no round yet, the due date has not passed
OVERDUE = "overdue"  # no round and the due date has passed
CELL_STATES = {SCREENED: "已排查", MISSING: "未排查", OVERDUE: "逾期未排查"}

__all__ = ["CAMPAIGN_KINDS", "KEY_AREAS", "MISSING", "OVERDUE", "ROUTINE", "SCREENED", "SPECIAL"]
