"""Reminder kinds (their Chinese titles) and recipients: a person, or a role over an area."""

from __future__ import annotations

from dataclasses import dataclass

TITLES = {
    "acceptance": "请在期限内作出是否受理的决定",
    "mediation": "调解期限将到，请及时办结或经双方同意延期",
    "escalation_acceptance": "有上报案件等待接收",
    "follow_up_visit": "请按期回访，核实协议履行情况",
    "second_visit": "红橙风险案件第二次回访",
    "red_case": "红色风险案件，请当日处置并指定包案领导",
    "red_case_leader": "您包案的红色风险案件",
    "orange_case": "橙色风险案件，请在24小时内掌握情况",
    "risk_assessment": "新登记的案件尚未风险研判，请及时研判",
    "judicial_confirmation": "调解协议司法确认申请期限将到",
    "referral_result": "移送案件的接收方结果尚未反馈，请跟踪督办",
    "dispatch_acceptance": "有派单等待您接收或退回",
    "listed_supervision": "挂牌督办/领导批示：请在期限内办理并答复",
    "supervision": "督办：下级事项已逾期",
    "daily_digest": "综治中心每日摘要",
    "monthly_report": "本月矛盾纠纷排查化解情况请按时报送",
    "screening_due": "本网格矛盾纠纷排查尚未完成，请按时排查（无发现也须零报告）",
    "calendar_missing": "下一年度节假日安排尚未导入，跨年期限为暂定",
}


@dataclass(frozen=True)
class Recipient:
    """A person, or whoever holds a role over an area."""

    user_id: int | None = None
    role: str | None = None
    area: str | None = None

    @property
    def key(self) -> str:
        """Stable text for the reminder key."""
        return f"user:{self.user_id}" if self.user_id else f"{self.role}@{self.area}"
