"""Screening rounds (排查), zero reports (零报告), campaigns (专项排查) and their coverage."""
