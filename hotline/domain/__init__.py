"""The domain: what a work order is and the rules it lives by, with no I/O and no framework.

Models and contracts, the transition table, the policy and working calendar, the order rules
(`order_rules`: every action and every deadline's follow-up, decided once for the workflow and
the simulator), the escalation ladder. Nothing here imports the store, the services, the API,
Temporal, the workflows or the activities.
"""
