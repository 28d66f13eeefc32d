#!/usr/bin/env bash
# The project's test command (README, .ci/run). Run as root on Debian 12:
#   sudo bash tests/run.sh
# It installs what the tests need (apt-get), checks formatting, lints and the helpers'
# dependency allowlists, builds, installs the helpers setuid root into a private prefix, runs
# every unit and integration test as unprivileged test users against the real kernel,
# builds the .deb and RPM packages (lintian on the .debs), boots a systemd + cgroup v2 Debian
# guest under QEMU and runs the guest checks in it (the .debs installed, run, upgraded, purged),
# fuzzes the parsers for a bounded time (BURROW_FUZZ_SECONDS, default 60 per target), and
# checks that the run left the work tree as it found it (clean, under CI).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
say() { printf '\n== %s\n' "$*"; }

# What git sees in the tree before anything runs; the last step compares.
in_git=false
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  in_git=true
  tree_before=$(git -C "$top" status --porcelain)
fi

[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (it creates test users and installs setuid helpers)" >&2; exit 1; }

say "packages"
bash "$top/scripts/install-test-deps.sh"

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

say "helper dependency allowlists"
for dir in helpers/*/; do
  [ -f "$dir/ALLOWED_DEPS" ] || continue
  pkg=$(basename "$dir")
  got=$(cargo tree -p "$pkg" -e normal --prefix none --format '{p}' --locked | cut -d' ' -f1 | sort -u)
  if ! diff -u "$dir/ALLOWED_DEPS" <(printf '%s\n' "$got"); then
    echo "dependency tree of $pkg differs from $dir/ALLOWED_DEPS (a setuid helper must stay minimal)" >&2
    exit 1
  fi
  echo "$pkg: $(printf '%s\n' "$got" | wc -l) crates, as allowed"
done

say "dependency licenses, bans and sources (cargo deny, deny.toml)"
# Not `advisories`: that check needs the RustSec database, a git repository this machine
# cannot fetch (see deny.toml).
# One deny.toml for both workspaces: the main workspace does not have libfuzzer-sys (its
# license exception goes unused), the fuzz workspace lacks some licenses of the main one.
cargo deny --locked check -A license-exception-not-encountered licenses bans sources
cargo deny --locked --manifest-path tests/fuzz/Cargo.toml --config "$top/deny.toml" \
  check -A license-not-encountered licenses bans sources

say "build"
cargo build --workspace --release --locked
echo "static helpers in $(bash scripts/build-helpers.sh)"

say "install helpers setuid root into a private prefix"
export BURROW_TEST_PREFIX=${BURROW_TEST_PREFIX:-/var/tmp/burrow-test-prefix}
bash tests/install-helpers.sh "$BURROW_TEST_PREFIX"
ls -l "$BURROW_TEST_PREFIX/bin"

say "unit and integration tests"
results=$(mktemp)
cargo test --workspace --locked -- --test-threads="${BURROW_TEST_THREADS:-4}" 2>&1 | tee "$results"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "tests failed" >&2; exit 1; }

say "distribution packages: .debs + lintian, the .debs of the upgrade check, RPMs (scripts/build-packages.sh)"
# dpkg-buildpackage in a copy under target/packages/build (vendored crates, offline), lintian
# with every error and warning fatal unless overridden with its reason in packaging/debian,
# then the spec with rpmbuild; the guest step below installs these .debs.
pkg_t0=$(date +%s)
bash scripts/build-packages.sh --lintian --rpm
v1=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
bash scripts/build-packages.sh --version "$v1+upgrade1" --out target/packages/upgrade >/dev/null
echo "packages: built, linted and the upgrade's built in $(($(date +%s) - pkg_t0)) s"

say "the systemd + cgroup v2 + AppArmor guest (tests/guest, QEMU)"
# Built from Debian's archive on a cold machine (about 2 min), then booted twice: under systemd
# for the package, cgroup and AppArmor checks, and with a script as PID 1 (no systemd, cgroup2
# alone) for the nosd-* checks; run.sh prints each boot's time. Never skipped: a host without
# QEMU fails here.
guest_t0=$(date +%s)
BURROW_GUEST_DEBS=$top/target/packages bash tests/guest/run.sh
echo "guest: build, boot and checks in $(($(date +%s) - guest_t0)) s"

say "fuzzing (${BURROW_FUZZ_SECONDS:-60} s per target)"
bash tests/fuzz/run.sh "${BURROW_FUZZ_SECONDS:-60}"

say "the run left the tree as it found it"
# Everything the build and the tests make belongs in an ignored directory (target/,
# tests/fuzz/target/, the fuzz corpora and artifacts) or outside the tree (/var/tmp).
if $in_git; then
  tree_after=$(git -C "$top" status --porcelain)
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    want=""
  else
    want=$tree_before # a developer's uncommitted work is theirs
  fi
  if [ "$tree_after" != "$want" ]; then
    echo "the run changed the work tree (git status --porcelain, before and after):" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$tree_after") >&2 || true
    echo "make it write under an ignored directory or outside the tree, or ignore it in .gitignore" >&2
    exit 1
  fi
  echo "git status --porcelain: ${tree_after:-(clean)}" | head -n 20
else
  echo "not a git work tree: nothing to compare"
fi

say "all checks passed"
# One closing line for the whole run: every cargo test binary's counts added up.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
rm -f "$results"
