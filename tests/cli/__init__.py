"""The operator commands (starter.py)."""
