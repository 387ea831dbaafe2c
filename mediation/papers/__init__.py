"""The papers a mediator prints: 申请书/受理登记表, 协议书, 口头协议登记表, 回访记录, 卷宗 (PDF)."""
