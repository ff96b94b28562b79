#!/usr/bin/env bash
# An app outside this workspace that adds the library as users do, by path here (by version from
# crates.io), with its default features: it builds the library's `examples/existing_app.rs`
# unchanged, and its dependency tree holds none of the tool's, Shuttle's, telemetry's, metrics' or the session guard's crates.
#   scripts/check-scratch-app.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
app=$(mktemp -d /tmp/scratch-app.XXXXXX)
trap 'rm -rf "$app"' EXIT

cat > "$app/Cargo.toml" <<TOML
[package]
name = "scratch-app"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
clerk-sync = { path = "$root/crates/clerk-sync" }
rocket = { version = "0.5.1", features = ["json"] }
sqlx = { version = "0.8", default-features = false, features = ["runtime-tokio", "postgres", "macros"] }
serde = { version = "1", features = ["derive"] }

# Not a member of the workspace above it.
[workspace]
TOML
mkdir "$app/src"
cp crates/clerk-sync/examples/existing_app.rs "$app/src/main.rs"
# The workspace's versions, so the build reuses its compiled crates; cargo drops what it does not need.
cp Cargo.lock "$app/"

cd "$app"
CARGO_TARGET_DIR=$root/target cargo build
tree=$(cargo tree -e normal --prefix none --format '{p}' | awk '{ print $1 }' | sort -u)
echo "scratch app: $(echo "$tree" | wc -l) crates with clerk-sync's default features"
unwanted=$(echo "$tree" | grep -xE 'clap|reqwest|indicatif|shuttle-.*|anyhow|tracing-subscriber|opentelemetry.*|prometheus|wiremock|jsonwebtoken' || true)
if [ -n "$unwanted" ]; then
  echo "the library's default features pull in: $(echo "$unwanted" | tr '\n' ' ')" >&2
  exit 1
fi
echo "no clap, reqwest, indicatif, shuttle, anyhow, tracing-subscriber, opentelemetry, prometheus or jsonwebtoken crate in it"
