"""Enumerations of the dispute domain: stable keys, Chinese labels (domain §3, §4)."""

# Statuses
REGISTERED = "registered"
ACCEPTED = "accepted"
MEDIATING = "mediating"
AGREED = "agreed"
FOLLOW_UP = "follow_up"
RESOLVED = "resolved"
ARCHIVED = "archived"
REJECTED = "rejected"
TERMINATED = "terminated"
REOPENED = "reopened"
WITHDRAWN = "withdrawn"
REFERRED = "referred"

STATUS_LABELS = {
    REGISTERED: "已登记",
    ACCEPTED: "已受理",
    MEDIATING: "调解中",
    AGREED: "已达成协议",
    FOLLOW_UP: "回访中",
    RESOLVED: "已化解",
    ARCHIVED: "已归档",
    REJECTED: "不予受理",
    TERMINATED: "调解终止",
    REOPENED: "已反复（重新调解）",
    WITHDRAWN: "已撤回",
    REFERRED: "已移送（待接收方反馈结果）",
}
STATUSES = tuple(STATUS_LABELS)
# A referred case stays open (and supervised) until the receiving body's result is recorded
# (issue 19 item 5, issue 20 item 4): 移送 is a loop, not an exit.
OPEN_STATUSES = frozenset({REGISTERED, ACCEPTED, MEDIATING, AGREED, FOLLOW_UP, REOPENED, REFERRED})
CLOSED_STATUSES = frozenset({RESOLVED, ARCHIVED, REJECTED, TERMINATED, WITHDRAWN})


def sql_list(statuses: frozenset[str]) -> str:
    """A set of statuses as an SQL literal list, e.g. `('registered', 'accepted')`, in the order
    of STATUSES (literals, not a bound array, so the planner can use partial indexes)."""
    return "(" + ", ".join(f"'{s}'" for s in STATUSES if s in statuses) + ")"


OPEN_STATUSES_SQL = sql_list(OPEN_STATUSES)

# Handling levels, lowest first
GRID = "grid"
VILLAGE = "village"
TOWNSHIP = "township"
COUNTY = "county"
REFERRED_OUT = "referred"
LEVELS = (GRID, VILLAGE, TOWNSHIP, COUNTY)
LEVEL_LABELS = {
    GRID: "网格",
    VILLAGE: "村（社区）",
    TOWNSHIP: "乡镇（街道）",
    COUNTY: "县（市、区）",
    REFERRED_OUT: "已移送",
}
LEVEL_BY_CODE_LENGTH = {15: GRID, 12: VILLAGE, 9: TOWNSHIP, 6: COUNTY}

# Categories (order of the 人民调解 statistics bulletins); kept as data, see DisputeCategory.
CATEGORIES = {
    "01": "婚姻家庭",
    "02": "邻里",
    "03": "房屋宅基地",
    "04": "合同",
    "05": "生产经营",
    "06": "损害赔偿",
    "07": "山林土地",
    "08": "征地拆迁",
    "09": "环境污染",
    "10": "劳动争议",
    "11": "消费",
    "12": "医疗",
    "13": "道路交通事故",
    "14": "物业",
    "20": "村务管理",
    "99": "其他",
}

KEY_AREAS = (
    "政治安全",
    "退役军人",
    "重大经济案件",
    "涉环保项目",
    "征地拆迁",
    "交通运输",
    "恶性或极端事件",
    "社会保障与欠薪",
    "涉农问题",
    "民族宗教",  # the key stays; its label adds 邪教 (KEY_AREA_LABELS)
    "涉法涉诉",
    "卫生健康",
    "信访突出问题",
    "教育",
    "网络舆情",
)

# Labels where they say more than the key (XX镇 plan: "民族宗教领域及邪教领域"); keys never change,
# they are stored on cases, screening rounds and campaigns.
KEY_AREA_LABELS = {k: k for k in KEY_AREAS} | {"民族宗教": "民族宗教及邪教"}

SOURCES = {
    "grid_patrol": "网格员排查",
    "party_application": "当事人申请",
    "police_transfer": "公安移交",
    "court_entrusted": "法院委托",
    "gov_assigned": "部门交办",
    "hotline": "12345/信访转办",
    "other": "其他",
}

PARTY_ROLES = {
    "applicant": "申请人",
    "respondent": "被申请人",
    "third_party": "第三人",
    "agent": "代理人",
}
PARTY_KINDS = {"person": "自然人", "organisation": "单位"}
SEXES = {"male": "男", "female": "女"}
# The 56 ethnic groups as the 受理登记表 writes them (GB 3304); "其他" for a foreign national.
ETHNICITIES = tuple(
    (
        "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 "
        "哈尼族 哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 "
        "柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 "
        "塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 "
        "鄂伦春族 赫哲族 门巴族 珞巴族 基诺族 其他"
    ).split()
)
ID_TYPES = {
    "resident_id": "居民身份证",
    "hk_mo_tw_permit": "港澳台居民通行证/居住证",
    "foreign_pr": "外国人永久居留身份证",
    "passport": "护照",
    "other": "其他",
}

AGREEMENT_FORMS = {"written": "书面", "oral": "口头"}
VISIT_METHODS = {"in_person": "上门", "phone": "电话"}
VISIT_RESULTS = {
    "performed": "已履行完毕",
    "partly": "部分履行",
    "not_performed": "未履行",
    "retracted": "反悔",
    "judicial_confirmation": "已申请司法确认",
    "sued": "已起诉",
    "recurred": "纠纷复发/激化",
}
# Why a registered case is not accepted: the legal grounds (人民调解法 Art 2, 17; 人民调解工作
# 若干规定 Art 22). `other` needs a written reason.
REJECT_GROUNDS = {
    "not_civil_dispute": "不属于民间纠纷（人民调解法第二条）",
    "party_refused": "一方当事人明确拒绝调解（人民调解法第十七条）",
    "exclusive_jurisdiction": "法律、法规规定只能由专门机关管辖处理，或禁止采用民间调解方式解决"
    "（若干规定第二十二条第一项）",
    "handled_by_authority": "人民法院、公安机关或其他行政机关已经受理或解决（若干规定第二十二条"
    "第二项）",
    "other": "其他（须写明理由）",
}
# The court's answer to a joint application for judicial confirmation (人民调解法 Art 33).
COURT_OUTCOMES = {
    "applied": "已申请司法确认",
    "filed": "法院已立案",
    "confirmed": "法院裁定确认协议有效",
    "refused": "法院裁定驳回申请（协议未获确认）",
}
SATISFACTION = {"satisfied": "满意", "basically": "基本满意", "unsatisfied": "不满意"}
TERMINATION_ROUTES = {"arbitration": "仲裁", "administrative": "行政途径", "litigation": "诉讼"}
REFERRAL_TARGETS = {
    "court": "人民法院（诉前调解）",
    "police": "公安派出所",
    "petition": "信访部门",
    "committee": "行业性专业性调解委员会",
    "department": "职能部门",
}
# The receiving body's result of a referral (the case stays open until one is recorded).
REFERRAL_OUTCOMES = {
    "resolved": "已化解",
    "not_resolved": "未化解（已判决、终止或告知其他途径）",
    "returned": "接收方退回（不属其受理范围）",
}

# Risk (product rule): L × S; forced RED conditions.
RED = "red"
ORANGE = "orange"
YELLOW = "yellow"
BLUE = "blue"
# A case nobody has assessed yet (registration without a risk block): shown, filtered and
# counted as 未研判, never as BLUE (issue 19), until someone takes the assess_risk action.
UNASSESSED = "unassessed"
RISK_LABELS = {RED: "红色", ORANGE: "橙色", YELLOW: "黄色", BLUE: "蓝色", UNASSESSED: "未研判"}
RISK_ORDER = {BLUE: 0, YELLOW: 1, ORANGE: 2, RED: 3}  # unassessed has no rank: nothing to lower
# The forcing condition computed from the parties and people (risk.is_group), not sent by users.
GROUP_FLAG = "group_dispute"
FORCED_RED_FLAGS = {
    "violence_threat": "有暴力威胁或民转刑苗头",
    "death": "涉及人员死亡",
    "collective_petition": "可能引发集体访或群体性事件",
    "repeated_failure_police": "多次调解失败且有警情",
}
