"""Roles (stable keys, Chinese labels) and who may reveal which personal field."""

GRID_WORKER = "grid_worker"
MEDIATOR = "mediator"
VILLAGE_ADMIN = "village_admin"
CENTER_STAFF = "center_staff"
LEADER = "leader"
COUNTY_ADMIN = "county_admin"
ADMIN = "admin"

ROLE_LABELS = {
    GRID_WORKER: "网格员",
    MEDIATOR: "人民调解员",
    VILLAGE_ADMIN: "村（社区）负责人",
    CENTER_STAFF: "综治中心工作人员",
    LEADER: "包案领导",
    COUNTY_ADMIN: "县级综治中心",
    ADMIN: "系统管理员",
}
ROLES = tuple(ROLE_LABELS)
# A partner system (12345, 信访, 110, a court) acting through its signed endpoint: never a login
# role, never in ROLES; scoped to the partner's county or township (mediation/channels).
PARTNER_SYSTEM = "partner_system"

# The area level a role's scope may be set at (grid workers are scoped by their cells).
SCOPE_LEVELS = {
    GRID_WORKER: ("cell",),
    MEDIATOR: ("village", "township"),
    VILLAGE_ADMIN: ("village",),
    CENTER_STAFF: ("township",),
    LEADER: ("township", "county"),
    COUNTY_ADMIN: ("county",),
    ADMIN: (),
}

# Who may see a party's full ID number or phone (PIPL minimisation; every reveal is logged).
# The system administrator manages the deployment and sees no parties' personal data.
REVEAL_ROLES = {
    "id_number": frozenset({MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, COUNTY_ADMIN}),
    "phone": frozenset({GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN}),
    "address": frozenset(
        {GRID_WORKER, MEDIATOR, VILLAGE_ADMIN, CENTER_STAFF, LEADER, COUNTY_ADMIN}
    ),
}
# Staff contact numbers: those who manage staff.
STAFF_PHONE_REVEAL_ROLES = frozenset({ADMIN, COUNTY_ADMIN, CENTER_STAFF})

ACCESS_REVEAL = "reveal"
ACCESS_EXPORT = "export"
