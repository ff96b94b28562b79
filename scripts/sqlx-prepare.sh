#!/usr/bin/env bash
# Writes crates/clerk-sync/.sqlx/, the descriptions of the library's `query!` statements that
# let it build without a database (the Docker build, `cargo publish`, an app that depends on
# it). With --check, writes nothing and fails when the committed data is stale: a statement
# or a migration changed without running this script.
#
#   scripts/sqlx-prepare.sh [--check]
#
# A scratch database on the server in $SQLX_PREPARE_SERVER (default: the local Postgres on
# :5432) gets the library's migrations; the library is compiled against it with the macros
# online (CLERK_SYNC_SQLX_ONLINE=1, see crates/clerk-sync/build.rs) and SQLX_OFFLINE_DIR set,
# which makes them write one file per statement. No sqlx-cli needed.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1-}" in
  --check) check=true ;;
  "") ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

server=${SQLX_PREPARE_SERVER:-postgres://postgres@127.0.0.1:5432}
committed=crates/clerk-sync/.sqlx
database=clerk_sync_sqlx_prepare_$$
fresh=$(mktemp -d)
cleanup() {
  rm -rf "$fresh"
  psql -q "$server/postgres" -c "drop database if exists $database" > /dev/null 2>&1 || true
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$server/postgres" -c "create database $database" > /dev/null
# In file order, each in a transaction of its own, as sqlx's migrator runs them.
for migration in crates/clerk-sync/migrations/*.sql; do
  psql -q -v ON_ERROR_STOP=1 --single-transaction "$server/$database" -f "$migration" > /dev/null
done

# A new SQLX_OFFLINE_DIR reruns the build script, so the library is compiled again even when
# nothing else changed, and every statement is described afresh.
CLERK_SYNC_SQLX_ONLINE=1 DATABASE_URL="$server/$database" SQLX_OFFLINE_DIR="$fresh" \
  cargo check --quiet --locked -p clerk-sync --lib

if [ -z "$(ls -A "$fresh")" ]; then
  echo "sqlx-prepare: the build described no statement (was the library compiled?)" >&2
  exit 1
fi

if $check; then
  if ! diff -r "$committed" "$fresh" > /dev/null 2>&1; then
    echo "sqlx-prepare: $committed is stale; run scripts/sqlx-prepare.sh and commit it:" >&2
    diff -r "$committed" "$fresh" | sed "s#$fresh#(fresh)#g" | head -40 >&2 || true
    exit 1
  fi
  echo "sqlx-prepare: $committed is up to date ($(ls "$fresh" | wc -l) statements)"
else
  rm -rf "$committed"
  mkdir -p "$committed"
  cp "$fresh"/*.json "$committed"/
  echo "sqlx-prepare: wrote $(ls "$committed" | wc -l) statements to $committed"
fi
