"""The history simulator."""
