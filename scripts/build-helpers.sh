#!/usr/bin/env bash
# Builds the setuid helpers and the `burrow` front end as static binaries: no dynamic loader,
# no shared libraries, no NSS modules in a setuid process, and much less start-up cost (glibc's
# dynamic start is a large share of a container start; see bench/RESULTS.md).
# Prints the directory that holds them.
#   scripts/build-helpers.sh            -> target/<host>/release
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
cd "$top"
# --target keeps these flags away from build scripts and proc macros of the rest of the tree.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -q -p burrow-newidmap -p burrow-nic -p burrow --target "$host" >&2
echo "${CARGO_TARGET_DIR:-$top/target}/$host/release"
