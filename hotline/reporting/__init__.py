"""The hotline's numbers: KPIs (SPEC §7) and working time summed in the database, the
report as a table and an HTML page, business gauges for Prometheus. May import
domain, store and runtime.
"""
