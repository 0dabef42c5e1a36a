"""Use cases the HTTP API, the console and the command line share: intake, merging,
progress lookup, the calendar the hotline office manages, duplicate candidates,
learning from routing corrections, and `port` (`WorkOrderPort`, what they need from
the workflow side without naming Temporal). May import domain, store and runtime.
"""
