#!/usr/bin/env bash
# Installs the freshly built helpers into a private prefix, as a distribution would:
#   PREFIX/bin/burrow-newuidmap, burrow-newgidmap   setuid root (4755 root:root)
#   PREFIX/bin/burrow-nic                           setuid root (4755 root:root)
#   PREFIX/bin/burrow                               the front end (0755)
#   PREFIX/fcaps/burrow-newuidmap, burrow-newgidmap  0755 with file capabilities
#                                                    (cap_setuid+ep / cap_setgid+ep)
# Usage: tests/install-helpers.sh PREFIX   (as root, after cargo build --release)
set -euo pipefail
prefix=${1:?usage: install-helpers.sh PREFIX}
top=$(cd "$(dirname "$0")/.." && pwd)
rel=${CARGO_TARGET_DIR:-$top/target}/release
host=$(rustc -vV | sed -n 's/^host: //p')
# The helpers come from scripts/build-helpers.sh (static); fall back to the plain build.
hrel=${CARGO_TARGET_DIR:-$top/target}/$host/release
[ -x "$hrel/burrow-newuidmap" ] || hrel=$rel
[ "$(id -u)" = 0 ] || { echo "install-helpers.sh: must run as root" >&2; exit 1; }
for b in burrow-newuidmap burrow-newgidmap burrow-nic; do
  [ -x "$hrel/$b" ] || { echo "install-helpers.sh: $hrel/$b missing: run scripts/build-helpers.sh first" >&2; exit 1; }
done
# Every directory on the way must be root-owned and not writable by others, or a test user
# could swap the binaries.
install -d -o root -g root -m 0755 "$prefix" "$prefix/bin" "$prefix/fcaps"
for b in burrow-newuidmap burrow-newgidmap; do
  install -o root -g root -m 4755 "$hrel/$b" "$prefix/bin/$b.new" && mv -f "$prefix/bin/$b.new" "$prefix/bin/$b"
  install -o root -g root -m 0755 "$hrel/$b" "$prefix/fcaps/$b.new" && mv -f "$prefix/fcaps/$b.new" "$prefix/fcaps/$b"
done
install -o root -g root -m 4755 "$hrel/burrow-nic" "$prefix/bin/burrow-nic.new" && mv -f "$prefix/bin/burrow-nic.new" "$prefix/bin/burrow-nic"
# The front end is an ordinary program.
fe=$hrel/burrow
[ -x "$fe" ] || fe=$rel/burrow
if [ -x "$fe" ]; then
  install -o root -g root -m 0755 "$fe" "$prefix/bin/burrow.new" && mv -f "$prefix/bin/burrow.new" "$prefix/bin/burrow"
fi
setcap cap_setuid+ep "$prefix/fcaps/burrow-newuidmap"
setcap cap_setgid+ep "$prefix/fcaps/burrow-newgidmap"
