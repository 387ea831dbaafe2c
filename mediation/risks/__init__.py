"""Major risks before they become disputes (issue 21): the 稳评 register, risk signals (隐患),
研判 review meetings with supervised decisions, and their monthly-report figures."""
