"""Deadlines become reminder rows; a sweep makes them due, supervision escalates, an outbox delivers."""
