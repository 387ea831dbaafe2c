"""Partner kinds, channels, mediation-body kinds, dispatch states (stable keys, Chinese labels)."""

PARTNER_KINDS = {
    "hotline": "12345 政务服务便民热线",
    "petition": "信访信息系统",
    "police": "110 非警务警情",
    "court": "人民法院（诉前委派调解）",
}
# How a case came in (dispute.channel): a user's phone or the console, or a partner system.
CHANNELS = {"app": "网格员/调解员登记", "window": "综治中心窗口", **PARTNER_KINDS}
# The dispute source (domain §4) a partner's order is registered with.
SOURCE_OF_PARTNER = {
    "hotline": "hotline",
    "petition": "hotline",
    "police": "police_transfer",
    "court": "court_entrusted",
}
BODY_KINDS = {
    "village_committee": "村（社区）人民调解委员会",
    "township_committee": "乡镇（街道）人民调解委员会",
    "labour": "劳动争议调解委员会",
    "medical": "医疗纠纷人民调解委员会",
    "traffic": "道路交通事故纠纷调解委员会",
    "property": "物业纠纷调解委员会",
    "family": "婚姻家庭纠纷调解委员会",
    "court": "人民法院/人民法庭",
    "police": "公安派出所",
    "petition": "信访部门",
    "department": "职能部门",
}
PENDING, ACCEPTED, RETURNED = "pending", "accepted", "returned"
