"""12345 hotline: the rules, the store and the web side. Knows nothing of Temporal.

Layers, each importing only those below it (import-linter checks it, pyproject.toml):

  api/, console/        the HTTP API (Open311 included) and the staff web console
  services/             use cases they share; `port.WorkOrderPort`, what they need of workflows
  reporting/, simulation/  KPIs and reports; the history simulator
  store/                database, tables, migrations, rows read and written
  runtime/              settings, logging, tracing, TLS, key ring, metrics
  domain/               pure rules: models, order rules, transitions, policy, calendar, routing, ladder

The Temporal side (top-level `workflows/` and `activities/`) uses domain, store and services;
the operator commands (top-level `cli/`, behind starter.py) wire services to it.
"""
