#!/usr/bin/env bash
# Runs the store's PostgreSQL unit tests and the whole integration suite against a local
# PostgreSQL: `scripts/pg-test.sh [BUILD_DIR]` (default: build). Extra ctest arguments
# come from CTEST_ARGS (e.g. CTEST_ARGS="-j 2").
#
# What it does, on Debian 12:
#   1. installs postgresql (Debian's, version 15) when it is missing (root or sudo);
#   2. starts the first cluster pg_lsclusters lists (creating 15/main when there is none)
#      with pg_ctlcluster, and waits until it accepts;
#   3. makes sure a PostgreSQL role named after the user running this exists, with LOGIN
#      and CREATEDB (created through the postgres account). Authentication is Debian's
#      default "peer" on the Unix socket: the OS user root is the role root, no password,
#      nothing in pg_hba.conf changes, nothing listens on TCP for this;
#   4. builds BUILD_DIR (which must have been configured with libpq found) and runs
#      `ctest -R test_store_pg` and `ctest -L integration` with
#      OTA_TEST_PG_URL=postgresql:///postgres?host=/var/run/postgresql&port=PORT.
#      Each test environment then creates its own database ota_<random> through that URL,
#      gives otad OTA_DB=<its URL>, and drops it at the end (tests/harness/ota_harness.c).
# Exits non-zero when a step or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
ME=$(id -un)

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  echo "pg-test: installing postgresql" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
fi

# the first cluster: "VERSION NAME PORT STATUS ..."
read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | head -n 1) || true
if [ -z "${VER:-}" ]; then
  VER=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  NAME=main
  echo "pg-test: creating cluster $VER/$NAME" >&2
  $SUDO pg_createcluster "$VER" "$NAME" >&2
  read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | grep -E "^$VER +$NAME ")
fi
if [ "$STATUS" != online ]; then
  echo "pg-test: starting cluster $VER/$NAME (port $PORT)" >&2
  $SUDO pg_ctlcluster "$VER" "$NAME" start
fi
SOCK=/var/run/postgresql
for _ in $(seq 1 50); do
  pg_isready -q -h "$SOCK" -p "$PORT" && break
  sleep 0.2
done
pg_isready -q -h "$SOCK" -p "$PORT" || { echo "pg-test: PostgreSQL does not answer on $SOCK:$PORT" >&2; exit 1; }

# a role for this OS user (peer authentication on the socket), allowed to create databases
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
if ! as_postgres psql -X -q -h "$SOCK" -p "$PORT" -d postgres -Atc \
    "SELECT 1 FROM pg_roles WHERE rolname = '$ME'" | grep -q 1; then
  echo "pg-test: creating PostgreSQL role $ME (LOGIN CREATEDB)" >&2
  as_postgres psql -X -q -h "$SOCK" -p "$PORT" -d postgres -c "CREATE ROLE \"$ME\" LOGIN CREATEDB"
fi

export OTA_TEST_PG_URL="postgresql:///postgres?host=$SOCK&port=$PORT"
psql -X -q -d "$OTA_TEST_PG_URL" -c "SELECT 1" >/dev/null

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOTA_TESTS=ON >/dev/null
fi
if ! grep -q '^LIBPQ_FOUND:INTERNAL=1' "$BUILD/CMakeCache.txt"; then
  echo "pg-test: $BUILD was configured without libpq (install libpq-dev, delete $BUILD/CMakeCache.txt)" >&2
  exit 1
fi
cmake --build "$BUILD" -j "$(nproc)"

echo "pg-test: OTA_TEST_PG_URL=$OTA_TEST_PG_URL" >&2
cd "$BUILD"
rc=0
# shellcheck disable=SC2086
ctest --output-on-failure -R '^test_store_pg$' ${CTEST_ARGS:-} || rc=1
# shellcheck disable=SC2086
ctest --output-on-failure -L integration ${CTEST_ARGS:-} || rc=1
# the firmware store in PostgreSQL too (OTA_BLOB=postgresql): its unit test, then the
# upload and download tests once more
# shellcheck disable=SC2086
OTA_TEST_BLOB=postgresql ctest --output-on-failure \
  -R '^(test_blob|test_api_firmware|test_batch_api|test_agent|test_sdk_download)$' ${CTEST_ARGS:-} || rc=1
exit $rc
