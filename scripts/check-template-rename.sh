#!/usr/bin/env bash
# A project started from this template (`shuttle init --from`, or a clone renamed by hand) gets a
# new package name and nothing else. Prove that such a copy still builds and passes its tests.
#   scripts/check-template-rename.sh [NEW_NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-my-clerk-app}
copy=$(mktemp -d "/tmp/${name}.XXXXXX")
trap 'rm -rf "$copy"' EXIT

git ls-files -z | xargs -0 cp --parents -t "$copy"
# What `shuttle init` does: rewrite package.name, and only that.
sed -i "0,/^name = \"clerk-sync-app\"/s//name = \"$name\"/" "$copy/Cargo.toml"
grep -q "^name = \"$name\"" "$copy/Cargo.toml"

cd "$copy"
# Share the compiled dependencies of the original checkout.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OLDPWD/target}
# The app (the top-level package) builds under the new name, and its own tests pass: they run
# its server binary. (The library's and the tool's suites run in CI on the original.)
cargo build --all-targets
cargo test
echo "renamed copy '$name' builds and passes its tests"
