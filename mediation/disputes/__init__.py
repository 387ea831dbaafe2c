"""Disputes and the Fengqiao mediation flow (domain §3–§5)."""
