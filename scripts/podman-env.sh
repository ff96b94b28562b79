# shellcheck shell=bash
# Sourced by container-check.sh and compose-check.sh: podman as it works on CI machines, and the
# local images Docker Hub would serve (it cannot be reached: ../shared/CONTAINERS.md). Defines
# CACHE, step, fail, podman_setup, debian_base and build_stand_in; the caller is in the project's
# root, under `set -euo pipefail`, as root.

CACHE=${CLERK_SYNC_IMAGE_CACHE:-/var/tmp/clerk-sync-images}

# `step NAME`: closes the previous step with its time and opens the next.
step_name='' step_started=$SECONDS
step() {
  [ -z "$step_name" ] || echo "    $step_name: $((SECONDS - step_started))s"
  step_name=$1 step_started=$SECONDS
  [ -z "$1" ] || echo "--- $1"
}
# Messages name the script: `container-check: ...`.
fail() {
  echo "$(basename "$0" .sh): $*" >&2
  exit 1
}

# podman, runc and debootstrap (installed when missing), and a containers.conf of our own.
podman_setup() {
  if ! command -v podman > /dev/null || ! command -v runc > /dev/null ||
    ! command -v debootstrap > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap > /dev/null
  fi
  mkdir -p "$CACHE"
  # The sandbox allows no more than 20000 open files and refuses crun; health checks are run by
  # hand (no systemd to schedule them).
  cat > "$CACHE/containers.conf" << 'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF=$CACHE/containers.conf DISABLE_HC_SYSTEMD=true
  # Not before: with CONTAINERS_CONF already pointing here (a shell that ran this before, on a
  # fresh machine), podman fails while the file does not exist yet.
  podman --version
}

# localhost/debian:bookworm, the base of every stand-in: debootstrap once, cached in $CACHE.
debian_base() {
  if [ ! -s "$CACHE/debian-bookworm.tar" ]; then
    # This machine's Debian mirror (a proxy, maybe), else Debian's own.
    local mirror
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2> /dev/null |
      awk 'NR == 1 { print $1 }' || true)
    rm -rf "$CACHE/rootfs"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs" "${mirror:-http://deb.debian.org/debian}" \
      > "$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log"; fail "debootstrap failed"; }
    tar -C "$CACHE/rootfs" -c . > "$CACHE/debian-bookworm.tar.part"
    mv "$CACHE/debian-bookworm.tar.part" "$CACHE/debian-bookworm.tar"
    rm -rf "$CACHE/rootfs"
  fi
  podman image exists localhost/debian:bookworm ||
    podman import -q "$CACHE/debian-bookworm.tar" localhost/debian:bookworm > /dev/null
}

# A stand-in is rebuilt only when its recipe changes: its label carries the recipe's hash.
# `build_stand_in NAME CONTEXT [podman build options...]`: builds CONTEXT/Containerfile as NAME.
build_stand_in() {
  local name=$1 context=$2 hash
  shift 2
  hash=$(sha256sum < "$context/Containerfile" | cut -c1-16)
  if [ "$(podman image inspect -f '{{ index .Labels "clerk-sync.stand-in" }}' "$name" 2> /dev/null)" != "$hash" ]; then
    podman build -q --format docker --pull=never --label "clerk-sync.stand-in=$hash" -t "$name" "$@" "$context" > /dev/null
  fi
}
