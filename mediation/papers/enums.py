"""The kinds of paper, their Chinese titles, and why a paper may not apply to a case."""

APPLICATION = "application"
AGREEMENT = "agreement"
ORAL_AGREEMENT = "oral_agreement"
VISITS = "visits"
DOSSIER = "dossier"

PAPER_TITLES = {
    APPLICATION: "人民调解申请书（受理登记表）",
    AGREEMENT: "人民调解协议书",
    ORAL_AGREEMENT: "口头调解协议登记表",
    VISITS: "人民调解回访记录",
    DOSSIER: "人民调解卷宗",
}
KINDS = tuple(PAPER_TITLES)

# Refusals of a paper that does not apply to the case (409, stable codes).
NO_AGREEMENT = "paper_no_agreement"
AGREEMENT_IS_ORAL = "paper_agreement_oral"
AGREEMENT_IS_WRITTEN = "paper_agreement_written"
NO_VISITS = "paper_no_visits"
NOT_APPLICABLE = {
    NO_AGREEMENT: "该案件尚未达成调解协议，没有可打印的协议",
    AGREEMENT_IS_ORAL: "该案件达成的是口头协议，请打印口头调解协议登记表（人民调解法第二十八条）",
    AGREEMENT_IS_WRITTEN: "该案件达成的是书面协议，请打印人民调解协议书（人民调解法第二十九条）",
    NO_VISITS: "该案件尚无回访记录",
}
