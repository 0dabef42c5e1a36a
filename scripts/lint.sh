#!/usr/bin/env bash
# The guards of issue 17: lint (ruff, with import sorting), types (mypy) and the import contracts
# (import-linter), all configured in pyproject.toml. Runs every check and fails if any failed.
# The test command runs the same three checks (tests/test_lint.py).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh test
status=0
echo "== ruff check" >&2
.venv/bin/ruff check . || status=1
echo "== mypy" >&2
.venv/bin/mypy || status=1
echo "== lint-imports" >&2
.venv/bin/lint-imports || status=1
exit $status
