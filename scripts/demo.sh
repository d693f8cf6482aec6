#!/usr/bin/env bash
# Fresh machine → a virtualenv with esync → the demo: staging (:8000) and production (:8001)
# on SQLite with the embedded broker. Needs only Python 3.11. Extra arguments go to `esync demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
# Compiled once here: where PYTHONDONTWRITEBYTECODE is set, every esync process would
# otherwise compile the project's modules from source at each start.
.venv/bin/python -m compileall -q esync_site cms certificates relationships profiles syncengine \
  >/dev/null
exec .venv/bin/esync demo "$@"
