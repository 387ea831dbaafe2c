"""Enumerations of the risk domain: stable keys, Chinese labels (issue 21)."""

from mediation.disputes.enums import KEY_AREAS, ORANGE, RISK_ORDER, YELLOW

# What a 稳评 item is
ITEM_KINDS = {"project": "重大项目", "policy": "重大政策", "event": "重大活动/事项"}

# The 稳评 rating (社会稳定风险评估等级): high / medium / low
HIGH, MEDIUM, LOW = "high", "medium", "low"
RATINGS = {HIGH: "高风险", MEDIUM: "中风险", LOW: "低风险"}

# The decision taken after the assessment
DECISIONS = {
    "proceed": "实施",
    "proceed_with_measures": "落实化解措施后实施",
    "postpone": "暂缓实施",
}

# Follow-up checks after the decision
CHECK_RESULTS = {
    "on_track": "措施落实，风险可控",
    "attention": "出现新情况，需关注",
    "escalate": "风险上升，需重新评估",
}

# Item stages (derived from what was recorded: registered → assessed → decided)
REGISTERED, ASSESSED, DECIDED = "registered", "assessed", "decided"
ITEM_STAGES = {REGISTERED: "已登记", ASSESSED: "已评估", DECIDED: "已决策"}

# Risk signals (隐患)
OPEN, CLOSED, CONVERTED, ATTACHED = "open", "closed", "converted", "attached"
SIGNAL_STATUSES = {
    OPEN: "跟进中",
    CLOSED: "已消除",
    CONVERTED: "已转为矛盾纠纷",
    ATTACHED: "已纳入稳评事项",
}
SIGNAL_SOURCES = {"grid_patrol": "网格员巡查", "screening": "排查", "other": "其他"}

# 研判 meetings
MEETING_KINDS = {"routine": "例行研判", "key_date": "重要节点研判", "special": "专题研判"}

# Decisions of a meeting (supervised tasks)
PENDING, DONE = "pending", "done"
DECISION_STATES = {PENDING: "落实中", DONE: "已落实"}

# How a 稳评 item raises the risk of the cases linked to it (product rule, see propagation.py)
FLOOR_BY_RATING = {HIGH: ORANGE, MEDIUM: YELLOW, LOW: None}
CLUSTER_MIN_OPEN = 2  # open linked cases from which the floor goes one level up
FLOOR_CAP = ORANGE  # RED stays a person's judgement (it needs a 包案领导)

__all__ = ["KEY_AREAS", "RISK_ORDER"]
