"""The operator commands behind `starter.py` (calendar, merge, report, routing, users,
demo). Beside hotline/, like workflows/ and activities/: an entry point that wires the
hotline's services to Temporal (workflows.connect, workflows.client). hotline/ never
imports it.
"""
