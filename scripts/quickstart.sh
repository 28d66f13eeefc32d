#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root:
#   sudo bash scripts/quickstart.sh [USER]
# Builds Burrow, installs the helpers setuid root into /usr/local/bin, gives USER (default:
# $SUDO_USER, else a new user "burrow-demo") a subordinate id range if it has none, and, as
# that unprivileged user, starts a process in a new user namespace mapped by the helpers:
# inside, root is the user and ids 1..65536 are the user's subuid range.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run as root (it installs setuid helpers)" >&2; exit 1; }
user=${1:-${SUDO_USER:-burrow-demo}}
[ "$user" != root ] || user=burrow-demo

command -v unshare >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux; }
hdir=$(bash scripts/build-helpers.sh)
install -o root -g root -m 4755 "$hdir/burrow-newuidmap" "$hdir/burrow-newgidmap" /usr/local/bin/
echo "installed /usr/local/bin/burrow-newuidmap and burrow-newgidmap (setuid root)"

id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
if ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
  start=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}')
  usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
  echo "gave $user the subordinate ids $start-$((start + 65535))"
fi

exec setpriv --reuid "$(id -u "$user")" --regid "$(id -g "$user")" --init-groups -- bash "$top/scripts/demo-map.sh"
