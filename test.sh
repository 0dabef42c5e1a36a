#!/usr/bin/env bash
# One command runs the tests: real time-skipping server, dev server, SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh test
exec .venv/bin/python -m pytest "$@"
