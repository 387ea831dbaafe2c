"""Every channel in (partner systems, the window) and every referral supervised until it comes
back: partners and their signed intake, results going back, the registry of mediation bodies,
dispatch (派单), referrals, 挂牌督办/领导批示 and 包案 progress (issue 20)."""
