#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite and print its SQLAlchemy URL.
#
# Installs nothing: PostgreSQL must already be installed (e.g. `apt-get install postgresql`).
# Idempotent: an existing cluster, role or database is reused. Only the URL goes to stdout, so
#
#   export DREAMLOOM_TEST_POSTGRES_URL="$(scripts/start-test-postgres.sh)"
#
# works in CI. Knobs: PGPORT (default 5432), DREAMLOOM_TEST_PG_USER / _PASSWORD / _DB, and
# DREAMLOOM_TEST_PGDATA (data directory, only used where there is no Debian cluster tooling).
set -euo pipefail

port="${PGPORT:-5432}"
user="${DREAMLOOM_TEST_PG_USER:-dreamloom}"
password="${DREAMLOOM_TEST_PG_PASSWORD:-dreamloom}"
db="${DREAMLOOM_TEST_PG_DB:-dreamloom_test}"

log() { echo "start-test-postgres: $*" >&2; }

if command -v pg_lsclusters >/dev/null 2>&1; then
    # Debian/Ubuntu packaging: clusters are managed by pg_createcluster / pg_ctlcluster and the
    # superuser is the local `postgres` account (peer authentication over the Unix socket).
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "${version}/main"; then
        log "creating cluster ${version}/main on port ${port}"
        pg_createcluster "${version}" main --port "${port}" >&2
    fi
    port="$(pg_lsclusters -h | awk -v v="${version}" '$1 == v && $2 == "main" {print $3}')"
    if ! pg_lsclusters -h | awk -v v="${version}" '$1 == v && $2 == "main" {print $4}' \
        | grep -q online; then
        log "starting cluster ${version}/main"
        pg_ctlcluster "${version}" main start >&2
    fi
    run_psql() {
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- psql -p "${port}" -X -q -v ON_ERROR_STOP=1 "$@"
        else
            sudo -u postgres psql -p "${port}" -X -q -v ON_ERROR_STOP=1 "$@"
        fi
    }
else
    # Any other installation: a private data directory owned by the current (non-root) user,
    # listening on loopback only, with trust authentication for the bootstrap superuser.
    bindir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -z "${bindir}" ] || [ ! -x "${bindir}/initdb" ]; then
        bindir="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")"
    fi
    [ -x "${bindir}/initdb" ] || { log "PostgreSQL (initdb) not found"; exit 1; }
    pgdata="${DREAMLOOM_TEST_PGDATA:-${TMPDIR:-/tmp}/dreamloom-test-pgdata}"
    if [ ! -f "${pgdata}/PG_VERSION" ]; then
        log "initialising ${pgdata}"
        "${bindir}/initdb" -D "${pgdata}" -U postgres --auth-local=trust --auth-host=trust >&2
    fi
    if ! "${bindir}/pg_ctl" -D "${pgdata}" status >/dev/null 2>&1; then
        log "starting server on 127.0.0.1:${port}"
        "${bindir}/pg_ctl" -D "${pgdata}" -l "${pgdata}/server.log" -w \
            -o "-p ${port} -c listen_addresses=127.0.0.1 -k ${pgdata}" start >&2
    fi
    run_psql() {
        "${bindir}/psql" -h 127.0.0.1 -p "${port}" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"
    }
fi

# Wait until the server accepts connections (a freshly started cluster may need a moment).
for _ in $(seq 1 30); do
    run_psql -d postgres -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
done

run_psql -d postgres -v user="${user}" -v password="${password}" -v db="${db}" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'user', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL

echo "postgresql+psycopg://${user}:${password}@127.0.0.1:${port}/${db}"
