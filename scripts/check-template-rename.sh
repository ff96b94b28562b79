#!/usr/bin/env bash
# A project started from this template (`shuttle init --from`, or a copy renamed by hand, with or
# without its git history) gets a new package name for the app and nothing else. Prove that
# such a copy still builds and passes the app's tests.
#   scripts/check-template-rename.sh [NEW_NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-my-clerk-app}
copy=$(mktemp -d "/tmp/${name}.XXXXXX")
trap 'rm -rf "$copy"' EXIT

# The tree as a template user gets it: no build output, no history (`shuttle init` copies files).
tar -c --exclude=./target --exclude=./.git --exclude=./fuzz/target --exclude=./fuzz/artifacts \
  --exclude=./fuzz/corpus --exclude=./.env --exclude='./Secrets*.toml' . | tar -x -C "$copy"
# What `shuttle init` does: rewrite the app's package.name, and only that. Whatever it is called
# now (this script also runs in projects made from the template).
current=$(awk '/^\[package\]/ { in_package = 1; next } /^\[/ { in_package = 0 }
  in_package && /^name = / { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
[ -n "$current" ] || { echo "no [package] name in Cargo.toml" >&2; exit 1; }
sed -i "0,/^name = \"$current\"/s//name = \"$name\"/" "$copy/Cargo.toml"
grep -q "^name = \"$name\"" "$copy/Cargo.toml"

cd "$copy"
# Share the compiled dependencies of the original checkout.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OLDPWD/target}
# The app (the top-level package) builds under the new name and its own tests pass; so does
# the Shuttle entry point. (The library's and the tool's suites run in CI on the original.)
cargo build --all-targets
cargo check --features shuttle --bin shuttle
cargo test
echo "renamed copy '$current' -> '$name' builds and passes its tests"
