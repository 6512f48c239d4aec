#!/usr/bin/env bash
# Installs the dev environment and runs every check: ruff, mypy, and the test suite.
# The PostgreSQL tests run when a server is available (scripts/start-test-postgres.sh starts one
# where PostgreSQL is installed); elsewhere they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [ -z "${DREAMLOOM_TEST_POSTGRES_URL:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  DREAMLOOM_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh)"
  export DREAMLOOM_TEST_POSTGRES_URL
fi
if [ "${CI:-}" = "true" ] && [ -z "${DREAMLOOM_TEST_POSTGRES_URL:-}" ]; then
  echo "CI runs the PostgreSQL tests for real: install postgresql (see .ci/run)" >&2
  exit 1
fi
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
