#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root:
#   sudo bash scripts/quickstart.sh [USER]
# Builds Burrow, installs `burrow` and the setuid helpers into /usr/local/bin, gives USER
# (default: $SUDO_USER, else a new user "burrow-demo") a subordinate id range if it has none,
# makes a busybox root filesystem in that user's home, and starts a first rootless container
# as that user.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run as root (it installs setuid helpers)" >&2; exit 1; }
user=${1:-${SUDO_USER:-burrow-demo}}
[ "$user" != root ] || user=burrow-demo

need=()
for p in busybox-static util-linux; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
hdir=$(bash scripts/build-helpers.sh)
install -o root -g root -m 4755 "$hdir/burrow-newuidmap" "$hdir/burrow-newgidmap" /usr/local/bin/
install -o root -g root -m 0755 "$hdir/burrow" /usr/local/bin/
echo "installed /usr/local/bin/burrow, and burrow-newuidmap and burrow-newgidmap (setuid root)"

id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
if ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
  start=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}')
  usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
  echo "gave $user the subordinate ids $start-$((start + 65535))"
fi

home=$(getent passwd "$user" | cut -d: -f6)
as_user() { setpriv --reuid "$(id -u "$user")" --regid "$(id -g "$user")" --init-groups -- env HOME="$home" "$@"; }
rootfs=$home/.local/share/burrow/rootfs-busybox
if [ ! -x "$rootfs/bin/busybox" ]; then
  as_user bash "$top/scripts/make-busybox-rootfs.sh" "$rootfs"
fi
echo "as $user: burrow run --rm --rootfs $rootfs /bin/sh -c '...'"
cd /
as_user burrow run --rm --rootfs "$rootfs" -- /bin/sh -c \
  'echo "hello from a rootless container: uid $(id -u) on $(hostname)"; echo uid_map:; cat /proc/self/uid_map; ip -o link'
