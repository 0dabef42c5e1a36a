#!/usr/bin/env bash
# One command runs the system: Temporal dev server + UI, SQLite database, worker, HTTP gateway.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
exec .venv/bin/python stack.py "$@"
