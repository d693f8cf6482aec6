#!/usr/bin/env bash
# Fresh machine → a virtualenv with esync and its test tools → lint and the whole suite, on
# SQLite and again on PostgreSQL. Outside CI, parts whose services are missing are skipped with
# a message; with CI=true they are required. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
# Compiled once here: where PYTHONDONTWRITEBYTECODE is set, every esync process would
# otherwise compile the project's modules from source at each start.
.venv/bin/python -m compileall -q esync_site cms certificates relationships profiles syncengine \
  >/dev/null
if [ "${CI:-}" = "true" ]; then
  bash scripts/ci-services.sh
fi

echo "== ruff"
.venv/bin/ruff check .

echo "== the suite on SQLite (real instances on SQLite and PostgreSQL)"
# Four test processes: real-instance tests spend much of their time waiting on each other.
.venv/bin/pytest -n "${ESYNC_TEST_PROCESSES:-4}" "$@"

PG_URL="${ESYNC_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if .venv/bin/python -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3)" \
    "$PG_URL" 2>/dev/null; then
  echo "== the in-process suite on PostgreSQL"
  # Two test processes (each with its own test database): the pass is CPU-bound.
  DATABASE_URL="${PG_URL%/*}/esync" .venv/bin/pytest -n 2 -m "not slow and not browser" "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is required in CI and is not reachable at $PG_URL" >&2
  exit 1
else
  echo "== PostgreSQL not reachable at $PG_URL: skipped the PostgreSQL pass (CI runs it)"
fi
