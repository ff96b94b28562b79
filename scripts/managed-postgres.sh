#!/usr/bin/env bash
# A second Postgres 15 cluster on this machine, configured as managed Postgres (RDS, Cloud SQL,
# Neon, Supabase) often is, so the suite can run against it as well as against the plain one:
#   - the default collation comes from ICU (en-US), not C: 'a' < 'B' is true, and text ordering
#     (and so any tie-break on text) differs from the C collation;
#   - default_transaction_isolation is REPEATABLE READ for the cluster;
#   - a role `serializable` whose sessions default to SERIALIZABLE.
# It listens on 127.0.0.1:5433 with trust auth for postgres, root and serializable:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5433/postgres      (repeatable read)
#   DATABASE_URL=postgres://serializable@127.0.0.1:5433/postgres  (serializable)
# Idempotent: it creates the cluster only if it does not exist, rewrites its settings, starts
# it if it is down (or reloads it if it runs), and prints proof of the configuration.
# Run it as root (pg_createcluster and pg_ctlcluster need to be able to become `postgres`).
#   scripts/managed-postgres.sh
set -euo pipefail

version=15
cluster=managed
port=5433
started=$SECONDS

# Debian's server packages (a fresh machine of this kind has them; another may not).
if [ ! -x "/usr/lib/postgresql/$version/bin/initdb" ] || ! command -v pg_createcluster > /dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$version" postgresql-common
fi
# ICU collations need a server built with ICU (Debian's is); fail loudly rather than test C.
if ! "/usr/lib/postgresql/$version/bin/pg_config" --configure | grep -q -- --with-icu; then
  echo "managed-postgres: postgresql-$version is built without ICU" >&2
  exit 1
fi

conf=/etc/postgresql/$version/$cluster
if [ ! -f "$conf/postgresql.conf" ]; then
  # What a dropped cluster leaves behind (our conf.d) would make pg_createcluster refuse.
  rm -rf "$conf"
  # lc_collate/lc_ctype stay C.UTF-8 (always present on Debian, and ICU needs a UTF-8
  # encoding); the collation of every database comes from ICU. --auth=trust: pg_createcluster
  # leaves pg_hba.conf alone (it is rewritten below anyway).
  pg_createcluster "$version" "$cluster" --port "$port" --start-conf manual \
    --locale C.UTF-8 --encoding UTF8 -- \
    --locale-provider=icu --icu-locale=en-US --auth=trust
fi

# Settings, rewritten on every run; a running cluster restarts when they changed (the address
# and port need it), else reloads (for pg_hba.conf).
mkdir -p "$conf/conf.d"
settings="# Written by scripts/managed-postgres.sh.
listen_addresses = '127.0.0.1'
port = $port
default_transaction_isolation = 'repeatable read'
"
hba="# Written by scripts/managed-postgres.sh: as the main cluster, trust on the socket and loopback.
local all all trust
host all all 127.0.0.1/32 trust
"
changed=no
if [ "$(cat "$conf/conf.d/90-managed.conf" 2> /dev/null)" != "$(printf %s "$settings")" ]; then
  changed=yes
  printf %s "$settings" > "$conf/conf.d/90-managed.conf"
fi
printf %s "$hba" > "$conf/pg_hba.conf"
chown -R postgres:postgres "$conf"

status=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $4 }')
if [ "$status" != online ]; then
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
elif [ "$changed" = yes ]; then
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" restart
else
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload
fi
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
pg_isready -h 127.0.0.1 -p "$port"

# No NOTICEs ("does not exist, skipping") in the output.
export PGOPTIONS='-c client_min_messages=warning'
psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)
# Superusers, so that `#[sqlx::test]` may create and drop its databases as either of them.
"${psql[@]}" -d postgres <<'SQL'
select format('create role %I superuser login', name)
from unnest(array['root', 'serializable']) as name
where not exists (select from pg_roles where rolname = name)
\gexec
select 'create database root'
where not exists (select from pg_database where datname = 'root')
\gexec
alter role serializable set default_transaction_isolation = 'serializable';
-- Except in `postgres`, where `#[sqlx::test]` keeps its own bookkeeping (_sqlx_test.databases):
-- concurrent tests registering their databases there abort each other with 40001 under
-- serializable, before any of our code runs. A role-in-database setting wins over the role's,
-- so every test database (and our code) stays serializable.
alter role serializable in database postgres set default_transaction_isolation = 'read committed';
SQL

# Proof: a database created now (as `#[sqlx::test]` does, from template1) gets the ICU
# collation, and each role gets its isolation level.
check=managed_postgres_check
"${psql[@]}" -d postgres -c "drop database if exists $check" -c "create database $check"
echo "== databases (locale provider i = ICU)"
"${psql[@]}" -d postgres -P footer=off -c "
  select datname, datlocprovider, daticulocale, datcollate from pg_database
  where datname in ('template1', 'postgres', '$check') order by datname"
echo "== in a new database"
"${psql[@]}" -d "$check" -P footer=off \
  -c "select 'a' < 'B' as \"'a' < 'B'\", 'a' < 'B' collate \"C\" as \"in C\", current_setting('default_transaction_isolation') as \"isolation of postgres\""
psql -X -q -h 127.0.0.1 -p "$port" -U serializable -d "$check" -P footer=off \
  -c "select current_setting('transaction_isolation') as \"isolation of serializable\""
serializable=$(psql -X -q -h 127.0.0.1 -p "$port" -U serializable -d "$check" -Atc "show transaction_isolation")
icu=$("${psql[@]}" -d "$check" -Atc "select datlocprovider = 'i' and 'a' < 'B' from pg_database where datname = current_database()")
"${psql[@]}" -d postgres -c "drop database $check"
if [ "$serializable" != serializable ]; then
  echo "managed-postgres: the serializable role's new databases are $serializable" >&2
  exit 1
fi
if [ "$icu" != t ]; then
  echo "managed-postgres: new databases do not get the ICU collation" >&2
  exit 1
fi
echo "managed-postgres: 127.0.0.1:$port ready in $((SECONDS - started))s"
