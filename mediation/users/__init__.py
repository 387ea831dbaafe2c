"""Accounts, roles, area scopes, grid-cell assignments, token families and the access log."""
