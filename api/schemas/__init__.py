"""Input and output schemas (shape only: no queries, no config, no current user)."""
