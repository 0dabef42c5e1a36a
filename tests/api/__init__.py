"""The HTTP API on the app itself (and a worker on the time-skipping server where needed)."""
