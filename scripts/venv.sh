# Sourced by run.sh and test.sh: create .venv and (re)install the project when needed.
# Re-installs only when pyproject.toml changed since the last install (a stamp file).
set -euo pipefail
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating virtual environment in .venv" >&2
  "$PY" -m venv .venv
fi
extras="${1:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing the project${extras:+ with [$extras]} (first run takes a minute)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}" >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    echo "error: installing the project failed (log above)" >&2
    exit 1
  fi
  touch "$stamp"
fi
