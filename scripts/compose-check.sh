#!/usr/bin/env bash
# The README's compose path, as CI runs it after container-check.sh: from a copy of the project
# with `cp .env.example .env`, `podman-compose up -d --build` starts Postgres and clerk-sync,
# `/healthz` answers 200, `exec clerk-sync clerk-sync send user.created` is applied and the row is
# in clerk.users; the row survives `down` and `up` (the named volume), and `down -v` removes it all.
#
# Docker Hub cannot be reached here (../shared/CONTAINERS.md): compose.yaml's Postgres image is a
# local stand-in of that exact name, built from the Debian base with Debian's PostgreSQL (15 in
# bookworm, where compose.yaml names 17) and an entrypoint doing what compose.yaml uses of the
# official one. The Dockerfile's base images (stand-ins) and its cached layers come from
# container-check.sh, which must have run first (the podman set-up both use:
# scripts/podman-env.sh). podman-compose 1.0.3 ignores `condition: service_healthy`: clerk-sync may
# start before Postgres and restart (`restart: unless-stopped`) until it connects. Run as root.
#
#   scripts/compose-check.sh      # CLERK_SYNC_IMAGE_CACHE; CLERK_SYNC_COMPOSE_PORT (8000 when free)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/podman-env.sh

PROJECT=clerk-sync-compose-check-$$
WORK=$(mktemp -d /tmp/clerk-sync-compose-check.XXXXXX)
USER_ID=user_2g7np7Hrk0SN6kj5EDMLDaKNL0S # the id in Clerk's example user.created
# 8000 as compose.yaml publishes it, unless something listens there.
port_free() { python3 -c 'import socket, sys; socket.socket().bind(("0.0.0.0", int(sys.argv[1])))' "$1" 2> /dev/null; }
if [ -n "${CLERK_SYNC_COMPOSE_PORT:-}" ]; then
  PORT=$CLERK_SYNC_COMPOSE_PORT
elif port_free 8000; then
  PORT=8000
else
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
fi

# `compose ARGS...`: podman-compose in the copy. Its output, with every podman command it runs,
# goes to $WORK.out and the log. 1.0.3 exits 0 even when a podman command (build, run, exec)
# failed: it prints "exit code: N", so that is checked.
compose() {
  local status=0
  (cd "$WORK" && podman-compose -p "$PROJECT" "$@") < /dev/null > "$WORK.out" 2>&1 || status=$?
  cat "$WORK.out" >> "$WORK.log"
  [ "$status" = 0 ] && ! grep -q '^exit code: [1-9]' "$WORK.out"
}
# The output of the command a `compose exec` ran: without podman-compose's own lines.
exec_output() { grep -v "^\['podman'\|^using podman\|^podman \|^exit code:" "$WORK.out" || true; }
# `sql QUERY`: psql in the Postgres container, as the README does it (-T: CI has no terminal).
sql() {
  compose exec -T postgres psql -U postgres -d clerk_sync -tAc "$1" || fail "psql failed: $(cat "$WORK.out")"
  exec_output
}
container() { echo "${PROJECT}_$1_1"; } # podman-compose 1.0.3 names containers so
# `wait_healthy`: until the published port answers /healthz 200 (two minutes at most).
wait_healthy() {
  local started=$SECONDS
  until curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2> /dev/null; do
    [ $((SECONDS - started)) -lt 120 ] || fail "/healthz did not answer 200 in 120s"
    sleep 1
  done
  echo "    /healthz 200 after $((SECONDS - started))s; clerk-sync restarted" \
    "$(podman inspect -f '{{ .RestartCount }}' "$(container clerk-sync)") times"
}

cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then
    echo "compose-check: FAILED at \"$step_name\" after $((SECONDS - step_started))s" >&2
    tail -n 30 "$WORK.log" >&2 || true
    for service in postgres clerk-sync; do
      echo "--- podman logs $(container $service)" >&2
      podman logs "$(container $service)" 2>&1 | tail -n 20 >&2 || true
    done
  fi
  [ ! -f "$WORK/compose.yaml" ] || compose down -v || true
  # What down leaves: podman-compose 1.0.3 removes no network, and a failed up may leave more.
  podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f > /dev/null 2>&1 || true
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f > /dev/null 2>&1 || true
  podman network rm -f "${PROJECT}_default" > /dev/null 2>&1 || true
  rm -rf "$WORK" "$WORK.log" "$WORK.out"
  exit "$status"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run it as root (apt-get, rootful podman)"

step "podman, runc, debootstrap and podman-compose"
podman_setup
if ! command -v podman-compose > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose > /dev/null
fi
echo "podman-compose $(podman-compose version 2> /dev/null | awk '/podman-compose/ { print $NF }')"

step "a Debian bookworm base (debootstrap, cached in $CACHE)"
debian_base
# The Dockerfile's base images (a registry's names, not its own stages).
while read -r image; do
  podman image exists "$image" || fail "no stand-in $image: run scripts/container-check.sh first"
done < <(awk 'toupper($1) == "FROM" && $2 ~ /\./ { print $2 }' Dockerfile)

postgres_image=$(python3 -c 'import yaml; print(yaml.safe_load(open("compose.yaml"))["services"]["postgres"]["image"])')
step "stand-in $postgres_image: Debian's PostgreSQL 15"
mkdir -p "$CACHE/postgres"
# What compose.yaml uses of the official image's entrypoint: POSTGRES_PASSWORD, POSTGRES_DB, data
# in $PGDATA (initdb on the first start), listening on every interface, passwords over the network.
cat > "$CACHE/postgres/entrypoint.sh" << 'EOF'
#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ]; then
  # A new volume belongs to root: hand it to postgres, then run as postgres.
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?the official image refuses to start without it}"
  echo "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "$PGDATA" -U postgres --pwfile=/tmp/pwfile --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 > /dev/null
  rm /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "${POSTGRES_DB:-postgres}" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres > /dev/null
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
# The entrypoint's hash is in the recipe, so a change to it rebuilds the stand-in too. Debian's
# own cluster is not created (create_main_cluster = false); its binaries go on PATH (pg_isready,
# psql, initdb, postgres). uid 999, as in the official image.
cat > "$CACHE/postgres/Containerfile" << EOF
FROM localhost/debian:bookworm
RUN groupadd -r -g 999 postgres && useradd -r -g postgres -u 999 -d /var/lib/postgresql postgres \\
    && apt-get update && apt-get install -y --no-install-recommends postgresql-common \\
    && sed -ri 's/#?(create_main_cluster) .*/\1 = false/' /etc/postgresql-common/createcluster.conf \\
    && apt-get install -y --no-install-recommends postgresql-15 \\
    && rm -rf /var/lib/apt/lists/*
COPY --chmod=755 entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
# entrypoint.sh: $(sha256sum < "$CACHE/postgres/entrypoint.sh" | cut -c1-16)
EOF
build_stand_in "$postgres_image" "$CACHE/postgres"

step "a copy of the project, with cp .env.example .env (port $PORT)"
# What the build context would not take (.dockerignore) need not be copied either.
tar -c --exclude=./target --exclude=./.git --exclude=./.env --exclude=./fuzz/target \
  --exclude=./fuzz/corpus --exclude=./fuzz/artifacts . | tar -C "$WORK" -x
(cd "$WORK" && cp .env.example .env)
if [ "$PORT" != 8000 ]; then
  # 8000 is taken on this machine: publish another port. Not an override file: compose (and
  # podman-compose) append an override's ports to the file's, so 8000 would still be asked for.
  sed -i "s/\"8000:8000\"/\"$PORT:8000\"/" "$WORK/compose.yaml"
  grep -q "\"$PORT:8000\"" "$WORK/compose.yaml" || fail "compose.yaml publishes no \"8000:8000\""
  diff compose.yaml "$WORK/compose.yaml" || true
fi

step "podman-compose up -d --build (the Dockerfile's layers cached by container-check.sh)"
# docker format, as container-check.sh builds: the same layers, and the HEALTHCHECK kept.
BUILDAH_FORMAT=docker compose up -d --build || fail "podman-compose up failed"
grep -E 'STEP [0-9]+/|Using cache|Compiling clerk-sync|Finished' "$WORK.log" | sed 's/^/    /' || true

step "GET /healthz on :$PORT answers 200"
wait_healthy

step "podman-compose exec clerk-sync clerk-sync send user.created: 200, applied"
compose exec -T clerk-sync clerk-sync send user.created || fail "send failed: $(cat "$WORK.out")"
answer=$(exec_output)
echo "    $answer"
grep -q -- '-> 200 .*applied' <<< "$answer" || fail "send was not answered 200 applied"

step "the row is in clerk.users (podman-compose exec postgres psql)"
row=$(sql "select id, first_name from clerk.users where id = '$USER_ID'")
echo "    $row"
[ "$row" = "$USER_ID|John" ] || fail "clerk.users has no row $USER_ID"

# up starts Postgres first and podman-compose sleeps 1 s after each `podman run`: that, not the
# health condition, usually has Postgres ready in time. Without Postgres, the service must exit
# and be restarted (restart: unless-stopped) until Postgres is back.
step "podman-compose stop postgres, restart clerk-sync: it restarts until Postgres is back"
compose stop postgres || fail "podman-compose stop postgres failed"
compose restart clerk-sync || fail "podman-compose restart clerk-sync failed"
sleep 3
restarts=$(podman inspect -f '{{ .RestartCount }}' "$(container clerk-sync)")
echo "    without Postgres, clerk-sync restarted $restarts times in 3s"
[ "$restarts" -gt 0 ] || fail "clerk-sync did not restart without Postgres"
compose start postgres || fail "podman-compose start postgres failed"
wait_healthy

step "podman-compose down, up -d (no -v): the row survived in the volume"
compose down || fail "podman-compose down failed"
compose up -d || fail "podman-compose up failed"
wait_healthy
row=$(sql "select id from clerk.users where id = '$USER_ID'")
[ "$row" = "$USER_ID" ] || fail "the row did not survive down and up"
echo "    $row is still there"

step "podman-compose down -v: containers and volume gone"
compose down -v || fail "podman-compose down -v failed"
left=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT")
[ -z "$left" ] || fail "left behind: $left"

step ""
echo "compose-check passed"
