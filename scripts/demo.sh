#!/usr/bin/env bash
# Fresh machine → a virtualenv with esync → the demo: staging (:8000) and production (:8001)
# on SQLite with the embedded broker. Needs only Python 3.11. Extra arguments go to `esync demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/esync demo "$@"
