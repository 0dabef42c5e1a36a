#!/usr/bin/env bash
# A development CA and the mTLS certificates for Temporal (hotline/runtime/devcerts.py):
#   scripts/dev-certs.sh [DIR] [--server-name NAME] [--force]      (DIR defaults to var/certs)
# docker-compose.yml mounts var/certs; create it before `docker compose up`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""  # no extras (and not this script's arguments)
umask 077  # the directory and the CA key stay private on this host
exec .venv/bin/python -m hotline.runtime.devcerts "$@"
