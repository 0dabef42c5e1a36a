"""Temporal activities: the only code that does I/O (database, notifications, Temporal client)."""
