#!/usr/bin/env bash
# Builds and runs the burrow-idmap, burrow-usernet and burrow-image fuzz targets, each for SECONDS
# (default 60).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      targets: subid args usernet unpack reference (default: all)
#
# Works with the pinned stable toolchain (rust-toolchain.toml): cargo-fuzz passes -Z flags
# (-Zsanitizer=address), which stable accepts under RUSTC_BOOTSTRAP=1. No nightly needed.
# cargo-fuzz is installed from crates.io when missing.
#
# Seeds are checked in under corpus/seed-<target>/ and copied into the scratch corpus
# corpus/<target>/ (ignored by git), which libFuzzer grows; keep it between runs for a head
# start. A crash fails the script (exit 1) and leaves the input in artifacts/<target>/. Before
# fuzzing, every seed and every saved crash is replayed once: a crash found by fuzzing is
# added to corpus/seed-<target>/ (and the code or the model fixed, never the seed).
#
# Environment: FUZZ_SANITIZER=address|none (default address), CARGO_FUZZ_VERSION (the
# version installed when cargo-fuzz is missing).
set -euo pipefail

secs=${1:-60}
shift || true
case $secs in '' | *[!0-9]*)
  echo "run.sh: SECONDS must be a number, not '$secs'" >&2
  exit 2
  ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(subid args usernet unpack reference)

here=$(cd "$(dirname "$0")" && pwd)
cd "$here" # so that the repository's rust-toolchain.toml picks the toolchain

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "run.sh: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz --version "${CARGO_FUZZ_VERSION:-0.13.2}"
fi

# -a: debug assertions and overflow checks, as in the helpers' release profile.
fuzz_flags=(--fuzz-dir "$here" --sanitizer "$sanitizer" --debug-assertions)

max_len_for() {
  case $1 in
    args) echo 16384 ;; # long enough for 340 triples and maps past 4095 bytes
    unpack) echo 16384 ;; # names past 4095 bytes (PATH_MAX) and a few entries
    *) echo 8192 ;;
  esac
}

logdir="$here/target/fuzz-logs"
mkdir -p "$logdir"
echo "== $(rustc --version), cargo-fuzz $(cargo fuzz --version | awk '{print $2}'), sanitizer $sanitizer, ${secs}s per target"

status=0
for t in "${targets[@]}"; do
  [ -f "fuzz_targets/$t.rs" ] || {
    echo "run.sh: no target $t" >&2
    exit 2
  }
  echo "== build $t"
  cargo fuzz build "${fuzz_flags[@]}" "$t"

  corpus="$here/corpus/$t"
  mkdir -p "$corpus" "$here/artifacts/$t"
  cp -n "$here/corpus/seed-$t"/* "$corpus"/ 2>/dev/null || true

  # Replay first, each input once: every checked-in seed (faults found earlier are kept there)
  # and every crash saved by an earlier run on this machine, so a fixed fault stays fixed.
  mapfile -t replay < <(find "$here/corpus/seed-$t" "$here/artifacts/$t" -type f | sort)
  if [ ${#replay[@]} -gt 0 ]; then
    echo "== replay $t: ${#replay[@]} seeds and saved crashes"
    if ! cargo fuzz run "${fuzz_flags[@]}" "$t" "${replay[@]}" -- -runs=1 >"$logdir/$t.replay.log" 2>&1; then
      status=1
      echo "!! $t: a seed or saved crash fails again; from $logdir/$t.replay.log:"
      grep -m 5 -B 2 -A 6 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|deadly signal' "$logdir/$t.replay.log" || tail -n 25 "$logdir/$t.replay.log"
      continue
    fi
  fi

  log="$logdir/$t.log"
  echo "== run $t for ${secs}s (corpus $corpus, log $log)"
  # Existing artifacts are from earlier runs; only new ones count.
  before=$(find "$here/artifacts/$t" -type f | sort)
  rc=0
  cargo fuzz run "${fuzz_flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$secs" -max_len="$(max_len_for "$t")" -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || rc=$?
  after=$(find "$here/artifacts/$t" -type f | sort)
  new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')

  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    status=1
    echo "!! $t FAILED (exit $rc); from $log:"
    grep -m 5 -A 4 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|deadly signal' "$log" || true
    echo "..."
    tail -n 25 "$log"
    for a in $new; do
      echo "!! crashing input $a:"
      od -c "$a" | head -n 20
    done
    continue
  fi
  done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)
  echo "ok $t: ${done_line:-no Done line} (execs ${execs:-?}; $cov)"
  if [ -z "$done_line" ]; then
    echo "!! $t: libFuzzer did not report completion; see $log"
    status=1
  fi
done
exit "$status"
