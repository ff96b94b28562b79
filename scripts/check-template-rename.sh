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
sed -i "0,/^name = \"clerk-sync\"/s//name = \"$name\"/" "$copy/Cargo.toml"
grep -q "^name = \"$name\"" "$copy/Cargo.toml"

cd "$copy"
# Share the compiled dependencies of the original checkout.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OLDPWD/target}
cargo build --all-targets
# Everything compiles under the new name; what a rename could break at run time is the crate's
# own name and its binaries', so the unit and doc tests and the tests that run the binaries and
# the example app run here. (The whole suite runs in CI on the original, twice.)
cargo test --lib --bins
cargo test --doc
cargo test --test api -- standalone:: cli:: example_app::
echo "renamed copy '$name' builds and passes its tests"
