"""Temporal workflows: they decide. No I/O here; activities do it."""
