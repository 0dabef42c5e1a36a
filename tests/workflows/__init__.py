"""Workflows on the real time-skipping server, replay and determinism."""
