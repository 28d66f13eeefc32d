#!/usr/bin/env bash
# As an unprivileged user: start a process in a new user namespace, map it with
# burrow-newuidmap/burrow-newgidmap (container root = you, 1..65536 = your subid range), and
# show what it sees.
set -euo pipefail
me=$(id -un); uid=$(id -u); gid=$(id -g)
range() { awk -F: -v u="$me" -v n="$uid" '$1==u || $1==n {print $2; exit}' "$1"; }
su=$(range /etc/subuid); sg=$(range /etc/subgid)
[ -n "$su" ] && [ -n "$sg" ] || { echo "no subordinate ids for $me: ask your admin (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $me)" >&2; exit 1; }
bin=$(dirname "$(command -v burrow-newuidmap || echo /usr/local/bin/burrow-newuidmap)")
fifo=$(mktemp -u); mkfifo -m 600 "$fifo"
unshare -U -- bash -c 'read -r _ < "$1"; echo "inside: uid=$(id -u) gid=$(id -g)"; echo "uid_map:"; cat /proc/self/uid_map; echo "gid_map:"; cat /proc/self/gid_map' _ "$fifo" &
pid=$!
while [ "$(readlink /proc/$pid/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.01; done
"$bin/burrow-newuidmap" "$pid" 0 "$uid" 1 1 "$su" 65536
"$bin/burrow-newgidmap" "$pid" 0 "$gid" 1 1 "$sg" 65536
echo go > "$fifo"
wait "$pid"
rm -f "$fifo"
