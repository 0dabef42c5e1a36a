#!/usr/bin/env bash
# One command runs a benchmark from a fresh clone, with what it needs installed ([bench] extra):
#   bench/run.sh lifecycle --orders 100 --rounds 2
#   bench/run.sh faults
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bench/run.sh NAME [ARGS...], NAME one of: $(cd bench && ls *.py | grep -v -e common -e _workflow -e profile_summary | sed 's/\.py$//' | tr '\n' ' ')}"
shift
[ -f "bench/$name.py" ] || { echo "error: no benchmark bench/$name.py" >&2; exit 2; }
source scripts/venv.sh bench
exec .venv/bin/python "bench/$name.py" "$@"
