"""The production-like stack's files: compose, Dockerfile, Prometheus, Grafana."""
