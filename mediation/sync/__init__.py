"""Offline-first sync for phones: a change log with a commit-safe cursor (pull) and idempotent
batches of offline operations (push)."""
