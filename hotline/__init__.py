"""12345 hotline: the rules, the store and the web side. Knows nothing of Temporal.

Layers, each importing only those below it:

  api/, console/        the HTTP API (Open311 included) and the staff web console
  services/             use cases they share; `port.WorkOrderPort`, what they need of workflows
  reporting/, simulation/  KPIs and reports; the history simulator
  store/                database, tables, migrations, rows read and written
  domain/               pure rules: models, transitions, policy, calendar, routing, ladder
  runtime/              settings, logging, tracing, TLS, key ring, metrics

The Temporal side (top-level `workflows/` and `activities/`) uses domain, store and services;
the operator commands (top-level `cli/`, behind starter.py) wire services to it.
"""
