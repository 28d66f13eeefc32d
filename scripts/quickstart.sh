#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root:
#   sudo bash scripts/quickstart.sh [USER]
# Builds Burrow, installs `burrow` and the setuid helpers into /usr/local/bin, sets USER
# (default: $SUDO_USER, else a new user "burrow-demo") up with `burrow admin add-user` (a
# subordinate id range, cgroup delegation where possible, and 4 nics on a per-user bridge in
# /etc/burrow/usernet), writes /etc/burrow/nic.conf (10.77.0.0/16, a /24 per user) if there is
# none, makes a busybox root filesystem in that user's home, and starts a first rootless
# container as that user, then one with a veth on the user's own bridge (--net bridge).
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
install -o root -g root -m 4755 "$hdir/burrow-newuidmap" "$hdir/burrow-newgidmap" "$hdir/burrow-nic" /usr/local/bin/
install -o root -g root -m 0755 "$hdir/burrow" /usr/local/bin/
echo "installed /usr/local/bin/burrow, and burrow-newuidmap, burrow-newgidmap and burrow-nic (setuid root)"
# Manual pages and shell completions, generated from the binary's own option tree.
install -d /usr/local/share/man/man1 /usr/local/share/bash-completion/completions \
  /usr/local/share/zsh/site-functions /usr/local/share/fish/vendor_completions.d
"$hdir/burrow-docs" man /usr/local/share/man/man1 >/dev/null
"$hdir/burrow-docs" completion bash >/usr/local/share/bash-completion/completions/burrow
"$hdir/burrow-docs" completion zsh >/usr/local/share/zsh/site-functions/_burrow
"$hdir/burrow-docs" completion fish >/usr/local/share/fish/vendor_completions.d/burrow.fish
echo "installed burrow(1) and a page per subcommand (man burrow-run), and bash/zsh/fish completions"

id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
install -d -o root -g root -m 0755 /etc/burrow
if [ ! -e /etc/burrow/nic.conf ]; then
  printf '# burrow-nic addressing for per-user bridges (see burrow-usernet(5))\nipv4 10.77.0.0/16 24\n' >/etc/burrow/nic.conf
  echo "wrote /etc/burrow/nic.conf (per-user subnets from 10.77.0.0/16)"
fi
/usr/local/bin/burrow admin add-user "$user" ||
  echo "quickstart.sh: burrow admin add-user reported a problem (above); continuing: \`burrow admin check\` says more" >&2

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
echo "as $user: burrow run --rm --net bridge --rootfs $rootfs /bin/sh -c '...'"
as_user burrow run --rm --net bridge --rootfs "$rootfs" -- /bin/sh -c \
  'ip -4 -o addr show dev eth0; gw=$(ip route | awk "/^default/{print \$3}"); ping -c1 -W2 "$gw" >/dev/null && echo "reached the gateway $gw through the per-user bridge"' ||
  echo "quickstart.sh: --net bridge did not work on this machine; \`burrow doctor\` (as $user) and \`burrow admin check\` say why" >&2
