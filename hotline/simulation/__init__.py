"""Simulated history: orders taken through the real order rules at drawn times, written to the
read model through the store's own code, so the reports and KPIs can be seen on data.

`scenario` draws what happens (volumes, units, discipline, the 首接责任制 reform); `life` runs
one order through hotline.domain.order_rules; `clock` answers its deadlines; `sinks` write its
rows. Nothing here talks to Temporal.
"""
