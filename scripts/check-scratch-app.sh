#!/usr/bin/env bash
# An app outside this workspace that adds the library as users do, by path here (by version from
# crates.io), with feature `session` (the example's routes take the session guards): it builds the
# library's `examples/existing_app.rs` unchanged, and its dependency tree holds none of the
# tool's, Shuttle's, telemetry's or metrics' crates. The library alone, with its default features,
# holds none of those nor the session guard's `jsonwebtoken`.
#   scripts/check-scratch-app.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
app=$(mktemp -d /tmp/scratch-app.XXXXXX)
trap 'rm -rf "$app"' EXIT

# The crates of a dependency tree (normal edges only), one per line.
crates() { cargo tree -e normal --prefix none --format '{p}' "$@" | awk '{ print $1 }' | sort -u; }
forbidden='clap|reqwest|indicatif|shuttle-.*|anyhow|tracing-subscriber|opentelemetry.*|prometheus|wiremock'

# The library alone with its default features, resolved from the workspace: without dev edges,
# the test support's features (`session`, `metrics`, ...) do not count.
tree=$(crates -p clerk-sync)
echo "clerk-sync: $(echo "$tree" | wc -l) crates with its default features"
unwanted=$(echo "$tree" | grep -xE "$forbidden|jsonwebtoken" || true)
if [ -n "$unwanted" ]; then
  echo "the library's default features pull in: $(echo "$unwanted" | tr '\n' ' ')" >&2
  exit 1
fi

cat > "$app/Cargo.toml" <<TOML
[package]
name = "scratch-app"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
clerk-sync = { path = "$root/crates/clerk-sync", features = ["session"] }
rocket = { version = "0.5.1", features = ["json"] }
sqlx = { version = "0.8", default-features = false, features = ["runtime-tokio", "postgres", "macros"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# Not a member of the workspace above it.
[workspace]
TOML
mkdir "$app/src"
cp crates/clerk-sync/examples/existing_app.rs "$app/src/main.rs"
# The workspace's versions, so the build reuses its compiled crates; cargo drops what it does not need.
cp Cargo.lock "$app/"

cd "$app"
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} cargo build
tree=$(crates)
echo "scratch app: $(echo "$tree" | wc -l) crates with clerk-sync's feature session"
unwanted=$(echo "$tree" | grep -xE "$forbidden" || true)
if [ -n "$unwanted" ]; then
  echo "the scratch app (clerk-sync with feature session) pulls in: $(echo "$unwanted" | tr '\n' ' ')" >&2
  exit 1
fi
echo "no clap, reqwest, indicatif, shuttle, anyhow, tracing-subscriber, opentelemetry, prometheus or wiremock crate in either; no jsonwebtoken without feature session"
