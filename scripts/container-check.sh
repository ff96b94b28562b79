#!/usr/bin/env bash
# Builds the Dockerfile's image with podman and runs it against the local Postgres, as CI does:
# /healthz answers 200, the image's own HEALTHCHECK passes, a signed delivery is stored, the
# process does not run as root, and the image stays small. Also checks compose.yaml's shape.
#
# Docker Hub cannot be reached from CI machines (../shared/CONTAINERS.md), so the base images
# the Dockerfile names are built here as local stand-ins and tagged with those exact names; the
# Dockerfile itself is built unchanged. Idempotent; works on a fresh machine (installs podman,
# runc and debootstrap when missing) and caches the Debian base under $CACHE (that set-up is
# scripts/podman-env.sh, shared with compose-check.sh). Run as root (apt, rootful podman). Each
# build after a source change leaves its old image behind; `podman image prune` reclaims them,
# and the build cache with them (the next run builds the dependencies again).
#
#   scripts/container-check.sh        # CLERK_SYNC_IMAGE_CACHE, CLERK_SYNC_CHECK_PORT override
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/podman-env.sh
# A port nothing listens on (the container shares the host's network).
PORT=${CLERK_SYNC_CHECK_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
IMAGE=localhost/clerk-sync:check
CONTAINER=clerk-sync-check-$$
PG=postgres://postgres@127.0.0.1:5432
DB=clerk_sync_container_check_$$
# The test suite's signing secret (crates/test-support/src/lib.rs).
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
# An image may weigh this much above its runtime base (issue #12 aims under 40 MB).
MAX_ABOVE_BASE_MB=40

cleanup() {
  local status=$?
  if [ "$status" != 0 ] && [ -n "$step_name" ]; then
    echo "container-check: FAILED at \"$step_name\" after $((SECONDS - step_started))s" >&2
    podman logs "$CONTAINER" 2> /dev/null | tail -n 30 >&2 || true
  fi
  podman rm -f -t 2 "$CONTAINER" > /dev/null 2>&1 || true
  dropdb --if-exists --force -h 127.0.0.1 -U postgres "$DB" 2> /dev/null || true
  exit "$status"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run it as root (apt-get, rootful podman)"

step "podman, runc and debootstrap"
podman_setup

# The base images the Dockerfile names: the builder (`... AS builder`) and the last stage's.
builder_image=$(awk 'toupper($1) == "FROM" && toupper($3) == "AS" && $4 == "builder" { print $2 }' Dockerfile)
runtime_image=$(awk 'toupper($1) == "FROM" { image = $2 } END { print image }' Dockerfile)
[ -n "$builder_image" ] && [ -n "$runtime_image" ] || fail "no builder or runtime FROM in Dockerfile"
# The stand-in builder carries this machine's toolchain: it should be the version the tag names.
rust_version=$(sed -nE 's/.*:([0-9]+\.[0-9]+(\.[0-9]+)?)-.*/\1/p' <<< "$builder_image")
host_rust=$(rustc --version | awk '{ print $2 }')
case "$host_rust" in
  "$rust_version" | "$rust_version".*) ;;
  # Loud but not fatal: a toolchain update on the machine should not stop CI; bump the FROM line.
  *) echo "warning: the Dockerfile names Rust $rust_version but this machine has $host_rust: the stand-in builds with $host_rust, so $rust_version itself is not tested" >&2 ;;
esac

step "a Debian bookworm base (debootstrap, cached in $CACHE)"
debian_base

step "stand-in $builder_image: the Debian base with this machine's Rust $host_rust"
sysroot=$(rustc --print sysroot)
mkdir -p "$CACHE/rust/ca"
# Outgoing HTTPS (crates.io) is trusted here only with this machine's local CAs.
rm -f "$CACHE/rust/ca/"*
cp /usr/local/share/ca-certificates/*.crt "$CACHE/rust/ca/" 2> /dev/null || true
# The official image's layout: RUSTUP_HOME, CARGO_HOME, cargo on PATH; gcc and libc6-dev for
# crates that compile C (ring). No documentation (rust-docs is 800 MB).
cat > "$CACHE/rust/Containerfile" << EOF
FROM localhost/debian:bookworm
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$host_rust
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \\
    && update-ca-certificates && rm -rf /var/lib/apt/lists/*
RUN mkdir -p \$RUSTUP_HOME/toolchains/$host_rust \$CARGO_HOME/bin \\
    && cd /toolchain && cp -a bin lib libexec etc \$RUSTUP_HOME/toolchains/$host_rust/ \\
    && ln -s \$RUSTUP_HOME/toolchains/$host_rust/bin/* \$CARGO_HOME/bin/ \\
    && cargo --version && rustc --version
# ca-certificates: $(sha256sum "$CACHE"/rust/ca/* 2> /dev/null | cut -c1-16 | tr '\n' ' ')
EOF
build_stand_in "$builder_image" "$CACHE/rust" -v "$sysroot:/toolchain:ro"

step "stand-in $runtime_image: glibc, libgcc, CA certificates, user nonroot (65532), no shell"
# As distroless cc is, but only what the binary links (ldd: libc, libm, libgcc_s), from the Debian
# base: no shell, so the image's HEALTHCHECK and `podman exec` must do without one, as they will.
mkdir -p "$CACHE/runtime"
cat > "$CACHE/runtime/Containerfile" << 'EOF'
FROM localhost/debian:bookworm AS debian
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && mkdir -p /rootfs/etc/ssl/certs /rootfs/usr/lib/x86_64-linux-gnu /rootfs/usr/lib64 \
        /rootfs/tmp /rootfs/home/nonroot \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
    && cp /etc/nsswitch.conf /etc/ld.so.cache /rootfs/etc/ \
    && for lib in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libgcc_s.so.1; do \
        cp -L /usr/lib/x86_64-linux-gnu/$lib /rootfs/usr/lib/x86_64-linux-gnu/; done \
    && ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /rootfs/usr/lib64/ \
    && ln -s usr/lib /rootfs/lib && ln -s usr/lib64 /rootfs/lib64 \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
        > /rootfs/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
    && chmod 1777 /rootfs/tmp && chown 65532:65532 /rootfs/home/nonroot
FROM scratch
COPY --from=debian /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
EOF
build_stand_in "$runtime_image" "$CACHE/runtime"

# --format docker: the OCI format drops HEALTHCHECK.
step "podman build the Dockerfile (--format docker --pull=never)"
set +e
podman build --format docker --pull=never -t "$IMAGE" . 2>&1 | tee "$CACHE/build.log" |
  grep --line-buffered -E 'STEP [0-9]+/|--> Using cache|Compiling clerk-sync|Finished'
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" = 0 ] || { tail -n 40 "$CACHE/build.log" >&2; fail "podman build failed"; }

step "run it against the host's Postgres (database $DB, port $PORT)"
createdb -h 127.0.0.1 -U postgres "$DB"
podman run -d --name "$CONTAINER" --network host \
  -e ROCKET_PORT="$PORT" -e DATABASE_URL="$PG/$DB" -e CLERK_WEBHOOK_SIGNING_SECRET="$SECRET" \
  "$IMAGE" > /dev/null
for _ in $(seq 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2> /dev/null && break
  [ "$(podman inspect -f '{{ .State.Running }}' "$CONTAINER")" = true ] || fail "the container exited"
  sleep 0.5
done

step "GET /healthz from the host: 200"
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
echo "    /healthz answered $status"
[ "$status" = 200 ] || fail "/healthz answered $status"

step "podman healthcheck run: the image's HEALTHCHECK (clerk-sync healthcheck) passes"
podman inspect -f '{{ .Config.Healthcheck.Test }}' "$CONTAINER"
podman healthcheck run "$CONTAINER" || fail "the container's health check failed"
echo "    healthy"

step "clerk-sync send user.created inside the container: the row is stored"
# No --url or --secret: send's defaults (ROCKET_PORT, CLERK_WEBHOOK_SIGNING_SECRET) must work.
podman exec "$CONTAINER" clerk-sync send user.created
users=$(psql -h 127.0.0.1 -U postgres -d "$DB" -tAc "select first_name from clerk.users")
echo "    clerk.users: $users"
[ "$users" = John ] || fail "clerk.users holds \"$users\", not the example's John"

step "the app's own route: the profile its hook wrote, beside the synced user"
profile=$(curl -fsS "http://127.0.0.1:$PORT/profiles/user_2g7np7Hrk0SN6kj5EDMLDaKNL0S") ||
  fail "GET /profiles/<the example user> failed"
echo "    $profile"
case $profile in *'"first_name":"John"'*) ;; *) fail "the profile is not the example user's" ;; esac

step "the service does not run as root"
pid=$(podman inspect -f '{{ .State.Pid }}' "$CONTAINER")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
echo "    PID 1 of the container (host pid $pid) runs as uid $uid"
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "the service runs as root"

step "memory: the service's peak RSS after every example event"
# What deploy/ sizes its memory requests and limits from (requests 32Mi, limits 128Mi).
podman exec "$CONTAINER" clerk-sync send --all > /dev/null || fail "an example event was refused"
echo "    peak RSS (VmHWM) after $(podman exec "$CONTAINER" clerk-sync send --list | wc -l) events:" \
  "$(awk '/^VmHWM:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status")"

step "image size"
size=$(podman image inspect -f '{{ .Size }}' "$IMAGE")
base=$(podman image inspect -f '{{ .Size }}' "$runtime_image")
above=$((size - base))
echo "    $IMAGE: $((size / 1000000)) MB; base $runtime_image (stand-in): $((base / 1000000)) MB;" \
  "above the base: $((above / 1000000)) MB (at most $MAX_ABOVE_BASE_MB)"
[ "$above" -le $((MAX_ABOVE_BASE_MB * 1000000)) ] || fail "the image is too large above its base"

step "compose.yaml: parses, and has the stack's shape"
if ! python3 -c 'import yaml' 2> /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml > /dev/null
fi
python3 scripts/check-compose.py compose.yaml

step ""
echo "container-check passed"
