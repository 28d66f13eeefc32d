#!/usr/bin/env bash
# Networking: burrow-nic against LXC's lxc-user-nic (time to create a nic), a veth on a bridge
# against slirp4netns (container<->host TCP throughput), and `burrow run --net bridge` against
# lxc-execute with a veth (container start-up with a nic), in one run, as one unprivileged user.
#
#   bench/nic.sh [RUNS]        (as root; RUNS timed runs per command, default 300, at least 30)
#
# (a) nic creation, hyperfine -N, as BENCH_USER (default burrowbench): 
#       PREFIX/bin/burrow-nic          create /dev/null dummy PID veth BR eth%d
#       /usr/libexec/lxc/lxc-user-nic  create /dev/null dummy PID veth BR eth%d
#     PID is one long-lived `unshare -Urn sleep` of the user, BR a Linux bridge made here
#     (BENCH_BRIDGE, default nicbench0). Both helpers are run directly (no wrapper, so nothing is
#     subtracted). Between two runs hyperfine's --prepare (untimed, as the user) deletes the
#     container end eth0 from inside the namespace (`nsenter -U -n ... ip link del eth0`, which
#     deletes the pair), so every create starts from the same state: no nic, a count of 0 on a
#     65535 quota. The prepare step also fails the run if a create did not leave its eth0 or left
#     a host end behind. /bin/true is timed too, as context (the fork+exec floor); the target
#     ratio is of the raw medians.
# (b) throughput, iperf3 (BENCH_IPERF_SECONDS, default 10 s per test), server on the host as the
#     user, client in the user's `unshare -Urn` namespace, both directions:
#       veth  a burrow-nic veth on BR at the bridge's default MTU (1500), addresses by hand
#             (10.199.0.1/24 on BR, 10.199.0.2/24 on eth0)
#       veth  the same at MTU 65520 (BR's MTU raised before the veth is made; both ends get it)
#       user  a veth on the user's per-user bridge burrow<uid> with `mtu 65520` in nic.conf
#             (burrow-nic sets the bridge's and both ends' MTU), client to the bridge's gateway;
#             target: at least 0.85x host loopback
#       slirp slirp4netns --configure --mtu=65520 PID tap0, client to 10.0.2.2 (the host's
#             loopback through slirp4netns, so without --disable-host-loopback); and, for
#             context, the same without --mtu (slirp4netns's default, 1500)
#       lo    client on the host to 127.0.0.1 (the ceiling)
# (c) container start-up with a nic, hyperfine -N on a busybox-static rootfs R (as bench/run.sh),
#     in run.sh's benchmark mount namespace (the cgroup2 mount /sys/fs/cgroup/unified covered by
#     an empty tmpfs on a hybrid host, as for run.sh's lxc-execute figure):
#       PREFIX/bin/burrow run --rm --net none|bridge --rootfs R /bin/true   (BURROW_HELPERS_DIR=
#             PREFIX/bin; bridge: the setuid burrow-nic puts a veth on the user's per-user bridge
#             burrow<uid>, made on first use, addressed from BENCH_NIC_POOL (default
#             10.195.0.0/16, a /24 per user) by /etc/burrow/nic.conf; burrow sets eth0's
#             address, default route and resolv.conf inside)
#       lxc-execute -P P -n N -f CONF -- /bin/true, run.sh's unprivileged configuration with
#             lxc.net.0.type = empty, or = veth, link = BR (MTU set back to 1500), flags = up,
#             ipv4.address = 10.199.0.3/24, ipv4.gateway = 10.199.0.1 (the same work as
#             burrow's inside: an address and a default route; LXC runs lxc-user-nic), and, for
#             context, the same veth without the address and gateway
#     After each command's runs, hyperfine's --cleanup (untimed) waits until no veth of the user
#     (veth<uid>_*, the host ends both helpers make) is left, and fails the run if one is still
#     there after 10 s: the veths die with the container's network namespace (the kernel frees
#     them asynchronously, so some lag behind the command for a moment).
#
# Results go between the nic-bench markers of bench/RESULTS.md (the rest of the file is kept),
# or to BENCH_OUT. BENCH_NO_BUILD=1 skips the build and install into BENCH_PREFIX (default
# /var/tmp/burrow-bench-prefix); BENCH_REV=COMMIT builds a clean export of that commit instead
# of the work tree (as bench/run.sh). BENCH_QUIET_WAIT (default 300) is how long to wait for an
# idle machine before timing. BENCH_KEEP=1 keeps the scratch directory.
#
# It changes, and restores at exit (also on error or ctrl-c): /etc/burrow/usernet (saved,
# replaced by the lines "USER veth BR 65535" and "USER veth burrow%u 65535"), /etc/lxc/lxc-usernet
# (the line "USER veth BR 65535"), /etc/burrow/nic.conf ("ipv4 BENCH_NIC_POOL 24"), all put back
# or removed, the user's lines of burrow-nic's lease file /var/lib/burrow/nic-leases (the ones
# the run added are removed, under burrow-nic's lock; the file and its directory too if the run
# made them), the mode of /dev/net/tun (made 0666 for slirp4netns, as peers.md describes),
# /run/lxc/nics (removed if it did not exist). It creates and deletes the bridge BR with its
# veths, deletes the per-user bridge burrow<uid> (which must not exist before) with its veths,
# and starts and kills (by pid) its iperf3 server, slirp4netns and the sleeping namespace holders.
# The parts shared with the other benchmarks (user, build, quiet wait, report) are in bench/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 300 30
warmup=5
prefix=${BENCH_PREFIX:-/var/tmp/burrow-bench-prefix}
secs=${BENCH_IPERF_SECONDS:-10}
br=${BENCH_BRIDGE:-nicbench0}
port=${BENCH_IPERF_PORT:-5299}
burrow_nic=$prefix/bin/burrow-nic
burrow=$prefix/bin/burrow
pool=${BENCH_NIC_POOL:-10.195.0.0/16} # nic.conf's IPv4 pool for the per-user bridge (a /24 each)
lxc_addr=10.199.0.3 # the LXC container's address on BR in (c)
lxc_nic=/usr/libexec/lxc/lxc-user-nic
host_addr=10.199.0.1 ctr_addr=10.199.0.2 plen=24
big_mtu=65520
quota=65535 # the largest count burrow-usernet accepts

[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers, edits /etc/burrow/usernet and /etc/lxc/lxc-usernet, makes a bridge)"
case $secs in '' | *[!0-9]* | 0) die "BENCH_IPERF_SECONDS must be a positive number" ;; esac
[[ $br =~ ^[a-z][a-z0-9]{0,14}$ ]] || die "BENCH_BRIDGE=$br: use 1 to 15 lower-case letters and digits"
[[ $pool =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/(1[6-9]|2[0-3])$ ]] || die "BENCH_NIC_POOL=$pool: give an IPv4 network of prefix length 16 to 23"

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x "$lxc_nic" ] && command -v lxc-execute >/dev/null || missing+=(lxc)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v slirp4netns >/dev/null || missing+=(slirp4netns)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
install_missing "${missing[@]}"
[ -u "$lxc_nic" ] || die "$lxc_nic is not setuid root"
check_busybox
ipbin=$(command -v ip) || die "ip (iproute2) not found"

# --- user ------------------------------------------------------------------------------------
setup_user
ubr=burrow$uid # the user's per-user bridge (burrow%u), made by burrow-nic on first use
# The same user as bench/run.sh (which maps the first range); nothing here needs more than
# `unshare -Urn`, but the user is given its ranges the same way.
setup_subids

# --- build and install (as bench/run.sh) -----------------------------------------------------
build_install rev
need_bins burrow-nic:setuid burrow burrow-newuidmap:setuid burrow-newgidmap:setuid

# --- preflight: nothing of ours may be in the way --------------------------------------------
[ ! -e "/sys/class/net/$br" ] || die "a link named $br exists already (delete it, or set BENCH_BRIDGE)"
if "$ipbin" -4 -o addr show | grep -q " ${host_addr%.*}\."; then
  die "${host_addr%.*}.0/$plen is in use on this host"
fi
if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
  die "TCP port $port is in use (set BENCH_IPERF_PORT)"
fi
[ ! -e "/sys/class/net/$ubr" ] || die "$user's per-user bridge $ubr exists already (it is made, and deleted, here: delete it first)"
# The pool must not overlap an address or route of the host (the per-user bridge gets a /24 of it).
clash=$({ "$ipbin" -4 -o addr show | awk '{ print $4 }'; "$ipbin" -4 route show table all | awk '$1 != "default" && $1 != "broadcast" && $1 != "local" { print $1 }'; } |
  python3 -c 'import ipaddress, sys
p = ipaddress.ip_network(sys.argv[1], strict=True)
for w in sys.stdin.read().split():
    try:
        n = ipaddress.ip_network(w, strict=False)
    except ValueError:
        continue
    if n.overlaps(p):
        print(w)' "$pool") || die "BENCH_NIC_POOL=$pool is not a network address"
[ -z "$clash" ] || die "BENCH_NIC_POOL=$pool overlaps what the host uses ($(echo "$clash" | tr '\n' ' ')): set another"
if "$ipbin" -o link show type veth | awk -F': ' '{ print $2 }' | grep -q "^veth${uid}_"; then
  die "veths of $user (veth${uid}_*) exist already: (c) checks that none is left, so delete them first"
fi

# --- state to restore, and cleanup -----------------------------------------------------------
# burrow-nic's lease file (written once nic.conf exists): the user's lines before the run, kept
# (the lines the run adds are removed at exit, under burrow-nic's lock)
leases=/var/lib/burrow/nic-leases
nic_lock=/run/burrow/nic.lock
had_leases_dir=1
[ -d "${leases%/*}" ] || had_leases_dir=0
had_leases=1
[ -e "$leases" ] || had_leases=0
made_ubr=0 # the per-user bridge is ours to delete (it did not exist before)
# Backups live in a root-only directory (the scratch directory belongs to the user).
save=$(mktemp -d /var/tmp/burrow-nic-bench-save.XXXXXX)
# (the first line keeps the file non-empty, which the awk at exit relies on)
{ echo "# nic.sh: the lease lines of uid $uid before the run"
  [ "$had_leases" = 0 ] || awk -v u="$uid" -v b="$ubr" '($1 == "subnet" || $1 == "nic") && ($2 == u || $2 == b)' "$leases"; } >"$save/leases-before"
work=$(mktemp -d /var/tmp/burrow-nic-bench.XXXXXX)
chmod 0755 "$work"
chown "$user:" "$work"
case "$work$prefix" in *[[:space:]]*) die "paths with white space are not supported" ;; esac
pids=()        # processes to kill at exit, one by one
made_br=0      # the bridge is ours
declare -A had # config files: 1 = existed (backed up), 0 = did not
had_etc_burrow=1
[ -d /etc/burrow ] || had_etc_burrow=0
had_lxc_nics=1
[ -e /run/lxc/nics ] || had_lxc_nics=0
tun_mode=$(stat -c %a /dev/net/tun 2>/dev/null || echo '')

stop_pid() { # PID: kill it (once it is dead it is no longer ours to kill: drop it from pids)
  local q keep=()
  kill "$1" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null || true
  for q in "${pids[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
  pids=("${keep[@]}")
}
cleanup() {
  local rc=$? p l
  trap - EXIT INT TERM
  set +e
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do # give them a moment, then make sure
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if [ "$made_br" = 1 ]; then
    del_bridge "$br"
  fi
  if [ "$made_ubr" = 1 ] && [ -e "/sys/class/net/$ubr" ]; then
    del_bridge "$ubr"
  fi
  # The user's leases the run added (burrow-nic rewrites the file in place under flock(2) of
  # its lock file; so does this)
  leases_restore
  restore_file /etc/burrow/usernet
  restore_file /etc/burrow/nic.conf
  restore_file /etc/lxc/lxc-usernet
  [ "$had_etc_burrow" = 1 ] || rmdir /etc/burrow 2>/dev/null
  [ "$had_lxc_nics" = 1 ] || rm -f /run/lxc/nics
  [ -z "$tun_mode" ] || chmod "$tun_mode" /dev/net/tun
  drop_work
  rm -rf "$save"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- policy files: the user on BR (both helpers) and on its per-user bridge (burrow-nic) -------
set_policy /etc/burrow/usernet "$user veth $br $quota" "$user veth burrow%u $quota"
set_policy /etc/burrow/nic.conf "ipv4 $pool 24"
set_policy /etc/lxc/lxc-usernet "$user veth $br $quota"
made_ubr=1 # from here burrow-nic may make it (the preflight saw none)

say "bridge $br"
"$ipbin" link add "$br" type bridge
made_br=1
"$ipbin" link set "$br" up

# (an array, not a function: started with &, a function would run in a forked shell, and $!
# would not be the process to kill)
as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups --
  env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8
  BURROW_HELPERS_DIR="$prefix/bin")
as_user() { "${as_user[@]}" "$@"; }
# As bench/run.sh: on a hybrid cgroup host the timings of (c) run in a private mount namespace
# where the cgroup2 mount is covered by an empty read-only tmpfs (run.sh's lxc-execute figure
# comes from there; crun needs it, the others run the same either way).
cgroup2_hidden # in_bench_ns: the covered mount namespace if hidden=yes
# A sleeping process of the user in a new user and network namespace; prints its pid (it runs
# in a command substitution: the caller adds the pid to pids).
new_target() {
  local p
  "${as_user[@]}" unshare -Urn sleep 1000000 </dev/null >/dev/null 2>&1 &
  p=$!
  # unshare execs sleep once the namespaces and the maps are done
  for _ in $(seq 100); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && break
    kill -0 "$p" 2>/dev/null || die "unshare -Urn failed for $user"
    sleep 0.05
  done
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] || { kill "$p"; die "unshare -Urn did not get going"; }
  echo "$p"
}
in_ns() { # PID CMD...: as the user, in PID's user and network namespaces
  local p=$1
  shift
  as_user nsenter -t "$p" -U -n --preserve-credentials "$@"
}
link_mtu() { # PID IFNAME (not /sys/class/net: that is the host's namespace's)
  in_ns "$1" "$ipbin" -o link show dev "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'
}
host_ends() { "$ipbin" -o link show master "$br" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'; }

# --- (a) nic creation ------------------------------------------------------------------------
tpid=$(new_target)
pids+=("$tpid")
echo "$tpid" >"$work/target"
create_cmd() { echo "$1 create /dev/null dummy $tpid veth $br eth%d"; }

say "checking both helpers (as $user, target $tpid)"
for h in "$burrow_nic" "$lxc_nic"; do
  # shellcheck disable=SC2046 # the command is a word list
  got=$(as_user $(create_cmd "$h") 2>"$work/err") || die "$h failed: $(cat "$work/err")"
  [ ! -s "$work/err" ] || die "$h wrote to stderr on success: $(cat "$work/err")"
  [[ $got =~ ^eth0:[0-9]+:(veth[0-9A-Za-z_]+):[0-9]+$ ]] || die "$h printed '$got', expected eth0:N:vethX:M"
  hostnic=${BASH_REMATCH[1]}
  [ "$(host_ends)" = "$hostnic" ] || die "$h: the host end $hostnic is not the one port of $br ($(host_ends | tr '\n' ' '))"
  in_ns "$tpid" ip link show eth0 >/dev/null || die "$h: no eth0 in the target"
  echo "  $h: $got, host end on $br: ok" >&2
  in_ns "$tpid" ip link del eth0
  [ -z "$(host_ends)" ] || die "deleting eth0 in the target left the host end of $h"
done
as_user "$burrow_nic" check veth "$br" >&2

# prepare.sh prepare|none|cleanup, as the user. prepare: from the second call of a command on,
# the previous (timed) create must have left eth0 in the target: delete it (the host end goes
# with it). cleanup (after the last run of each command): the same if armed, then disarm. none:
# for the /bin/true floor. All check that no host end is left.
cat >"$work/prepare.sh" <<EOF
#!/bin/bash
set -eu
d=$work
ns() { nsenter -t $tpid -U -n --preserve-credentials "\$@"; }
if [ "\$1" != none ] && [ -e "\$d/armed" ]; then
  ns $ipbin link del eth0 || { echo "prepare: no eth0 in the target: the timed create did not make one" >&2; exit 1; }
fi
case \$1 in
cleanup) rm -f "\$d/armed" ;;
prepare) touch "\$d/armed" ;;
esac
if [ -n "\$($ipbin -o link show master $br)" ]; then
  echo "prepare: host ends left on $br" >&2
  exit 1
fi
EOF
chmod 0755 "$work/prepare.sh"

wait_quiet
note_load

say "(a) nic creation, $runs runs + $warmup warmup each"
hf=(hyperfine -N --style basic --time-unit millisecond --warmup "$warmup" --runs "$runs")
as_user "${hf[@]}" --export-csv "$work/create.csv" \
  --cleanup "$work/prepare.sh cleanup" \
  --prepare "$work/prepare.sh none" -n true /bin/true \
  --prepare "$work/prepare.sh prepare" -n burrow-nic "$(create_cmd "$burrow_nic")" \
  --prepare "$work/prepare.sh prepare" -n lxc-user-nic "$(create_cmd "$lxc_nic")"
busy_after_a=$(cpu_busy)
[ -z "$(host_ends)" ] || die "host ends left on $br after the timing"

# --- (b) throughput --------------------------------------------------------------------------
say "(b) iperf3, ${secs}s per test"
"${as_user[@]}" iperf3 -s -p "$port" </dev/null >"$work/iperf3-server.log" 2>&1 &
spid=$!
pids+=("$spid")
for _ in $(seq 50); do
  ss -Hltn "sport = :$port" | grep -q . && break
  sleep 0.1
done
ss -Hltn "sport = :$port" | grep -q . || die "the iperf3 server did not start: $(cat "$work/iperf3-server.log")"

# iperf NAME DIR PID|- ADDR: one client run (DIR: up = client sends, container->host; down = -R),
# in PID's namespaces or on the host (-); the JSON goes to $work/iperf-NAME-DIR.json
iperf() {
  local name=$1 dir=$2 p=$3 addr=$4 r=()
  [ "$dir" = down ] && r=(-R)
  local c=(iperf3 -c "$addr" -p "$port" -t "$secs" --connect-timeout 5000 -J "${r[@]}")
  echo "  $name, $dir: ${c[*]}" >&2
  if [ "$p" = - ]; then
    as_user "${c[@]}" >"$work/iperf-$name-$dir.json" || die "iperf3 $name $dir failed: $(tail -5 "$work/iperf-$name-$dir.json")"
  else
    in_ns "$p" "${c[@]}" >"$work/iperf-$name-$dir.json" || die "iperf3 $name $dir failed: $(tail -5 "$work/iperf-$name-$dir.json")"
  fi
}
gbps() { # NAME DIR: receiver's Gbit/s
  python3 -c 'import json, sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$work/iperf-$1-$2.json"
}
retr() { # NAME DIR: TCP retransmits of the sender
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["end"]["sum_sent"].get("retransmits", "?"))' "$work/iperf-$1-$2.json"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

"$ipbin" addr add "$host_addr/$plen" dev "$br"
veth_up() { # a burrow-nic veth in the target, addressed; prints its MTU
  local got
  got=$(as_user "$burrow_nic" create /dev/null dummy "$tpid" veth "$br" eth%d) || die "burrow-nic create failed"
  [[ $got == eth0:* ]] || die "burrow-nic printed '$got'"
  # (the host end is up and, without STP, forwards at once)
  in_ns "$tpid" sh -c "ip addr add $ctr_addr/$plen dev eth0 && ip link set eth0 up && ip link set lo up"
  link_mtu "$tpid" eth0
}
mtu_veth=$(veth_up)
iperf veth up "$tpid" "$host_addr"
iperf veth down "$tpid" "$host_addr"
in_ns "$tpid" ip link del eth0
"$ipbin" link set "$br" mtu "$big_mtu"
mtu_veth_big=$(veth_up)
[ "$mtu_veth_big" = "$big_mtu" ] || die "the veth got MTU $mtu_veth_big on a bridge of MTU $big_mtu"
iperf vethbig up "$tpid" "$host_addr"
iperf vethbig down "$tpid" "$host_addr"
in_ns "$tpid" ip link del eth0
# The same on the user's per-user bridge with its MTU from nic.conf's `mtu` line, as an admin
# sets it (burrow-nic raises the bridge and gives both veth ends that MTU); the client talks to
# the bridge's gateway address. nic.conf goes back to the pool alone after, and the bridge to
# 1500 for (c).
conf_write() { # LINE...: /etc/burrow/nic.conf (its original was saved by set_policy)
  printf '# bench/nic.sh (temporary; the original is restored at exit)\n' >/etc/burrow/nic.conf.bench-new
  printf '%s\n' "$@" >>/etc/burrow/nic.conf.bench-new
  chmod 0644 /etc/burrow/nic.conf.bench-new && mv -f /etc/burrow/nic.conf.bench-new /etc/burrow/nic.conf
}
conf_write "ipv4 $pool 24" "mtu $big_mtu"
mjson=$(as_user "$burrow_nic" create --json /dev/null mtubench "$tpid" veth 'burrow%u' eth0) || die "burrow-nic create on $ubr failed"
read -r m_addr m_plen m_gw < <(python3 -c 'import json, sys; f = json.loads(sys.argv[1])["ipv4"]; print(f["address"], f["prefix"], f["gateway"])' "$mjson") ||
  die "burrow-nic gave no IPv4 address on $ubr: $mjson"
in_ns "$tpid" sh -c "ip addr add $m_addr/$m_plen dev eth0 && ip link set eth0 up"
mtu_user=$(link_mtu "$tpid" eth0)
if [ "$mtu_user" != "$big_mtu" ] || [ "$(cat "/sys/class/net/$ubr/mtu")" != "$big_mtu" ]; then
  die "nic.conf's mtu $big_mtu gave eth0 MTU $mtu_user and $ubr MTU $(cat "/sys/class/net/$ubr/mtu")"
fi
iperf usermtu up "$tpid" "$m_gw"
iperf usermtu down "$tpid" "$m_gw"
in_ns "$tpid" ip link del eth0
conf_write "ipv4 $pool 24"
"$ipbin" link set "$ubr" mtu 1500

# slirp4netns opens /dev/net/tun as the user (peers.md: no udev here, the node is 0600)
chmod 0666 /dev/net/tun
declare -A slirp_cpu slirp_desc slirp_mtu
# slirp NAME [OPTION...]: slirp4netns --configure [OPTION...] PID tap0 for a fresh target, both
# directions, then stop it
slirp() {
  local name=$1 p s t0 t1 s0 s1 dir
  shift
  p=$(new_target)
  pids+=("$p")
  local c=(slirp4netns --configure "$@" "$p" tap0)
  "${as_user[@]}" "${c[@]}" </dev/null >"$work/slirp-$name.log" 2>&1 &
  s=$!
  pids+=("$s")
  for _ in $(seq 100); do
    in_ns "$p" "$ipbin" -4 -o addr show dev tap0 2>/dev/null | grep -q 10.0.2.100 && break
    kill -0 "$s" 2>/dev/null || die "slirp4netns exited: $(cat "$work/slirp-$name.log")"
    sleep 0.05
  done
  in_ns "$p" "$ipbin" -4 -o addr show dev tap0 | grep -q 10.0.2.100 || die "slirp4netns did not configure tap0: $(cat "$work/slirp-$name.log")"
  slirp_desc[$name]="${c[*]/$p/PID}"
  slirp_mtu[$name]=$(link_mtu "$p" tap0)
  for dir in up down; do
    t0=$(cpu_ticks "$s") s0=$(date +%s.%N)
    iperf "$name" "$dir" "$p" 10.0.2.2
    t1=$(cpu_ticks "$s") s1=$(date +%s.%N)
    slirp_cpu[$name-$dir]=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.0f", 100 * t / hz / (s1 - s0) }')
  done
  stop_pid "$s"
  stop_pid "$p"
}
slirp slirp --mtu="$big_mtu"
# slirp4netns's own default MTU (1500), which RootlessKit's published figures use: context only
slirp slirp1500
iperf lo up - 127.0.0.1
iperf lo down - 127.0.0.1
busy_after=$(cpu_busy)

# --- (c) container start-up with a nic --------------------------------------------------------
say "(c) container start-up: burrow run --net bridge against lxc-execute with a veth"
# The rootfs of bench/run.sh: busybox-static, one symlink per applet, owned by the user; plus
# the probe each command runs once (instead of /bin/true) before the timing.
rootfs=$work/rootfs
make_rootfs "$rootfs"
cat >"$rootfs/probe.sh" <<'EOF'
readlink /proc/self/ns/net
ip -o link show
ip -o -4 addr show
ip route
gw=$(ip route | sed -n 's/^default via \([0-9.]*\) .*/\1/p')
if [ -n "$gw" ]; then
  if ping -c 1 -W 2 "$gw" >/dev/null; then echo ping-ok; else echo ping-failed; fi
fi
EOF
# LXC: run.sh's unprivileged configuration (peers.md), with the network as given (lxc_conf)
lxc_veth=('lxc.net.0.type = veth' "lxc.net.0.link = $br" 'lxc.net.0.flags = up')
lxc_conf "$work/lxc-empty.conf" nicbench 'lxc.net.0.type = empty'
lxc_conf "$work/lxc-veth.conf" nicbench "${lxc_veth[@]}" "lxc.net.0.ipv4.address = $lxc_addr/$plen" "lxc.net.0.ipv4.gateway = $host_addr"
lxc_conf "$work/lxc-veth-bare.conf" nicbench "${lxc_veth[@]}"
mkdir -p "$work/lxcpath"
chown -R "$user:" "$rootfs" "$work/lxcpath" "$work"/lxc-*.conf
# (b) raised BR's MTU; the per-user bridge has the default, 1500, and so must BR here. BR keeps
# $host_addr/$plen from (b): the LXC container's gateway.
"$ipbin" link set "$br" mtu 1500
[ -z "$(host_ends)" ] || die "host ends left on $br before (c)"

cnames=(burrow-none burrow-bridge lxc-empty lxc-veth lxc-veth-bare)
declare -A ccmd=(
  [burrow-none]="$burrow run --rm --net none --rootfs $rootfs /bin/true"
  [burrow-bridge]="$burrow run --rm --net bridge --rootfs $rootfs /bin/true"
  [lxc-empty]="lxc-execute -P $work/lxcpath -n nbempty -f $work/lxc-empty.conf -- /bin/true"
  [lxc-veth]="lxc-execute -P $work/lxcpath -n nbveth -f $work/lxc-veth.conf -- /bin/true"
  [lxc-veth-bare]="lxc-execute -P $work/lxcpath -n nbbare -f $work/lxc-veth-bare.conf -- /bin/true"
)
declare -A clabel=(
  [burrow-none]='burrow run --rm --net none'
  [burrow-bridge]='burrow run --rm --net bridge'
  [lxc-empty]='lxc-execute, net empty'
  [lxc-veth]='lxc-execute, veth on a bridge, address + gateway'
  [lxc-veth-bare]='lxc-execute, veth on a bridge, no address (context)'
)
declare -A ckind=([burrow-none]=none [burrow-bridge]=pool [lxc-empty]=none [lxc-veth]=fixed [lxc-veth-bare]=bare)

# gone.sh: hyperfine's --cleanup after each command's runs (and after the probes), as the user:
# waits up to 10 s for the user's veths (veth<uid>_*, the host ends both helpers make, and any
# port of BR or of the per-user bridge) to go; logs "LEFT-AT-START MS-WAITED LEFT-AT-END".
cat >"$work/gone.sh" <<EOF
#!/bin/bash
set -u
ours() {
  {
    $ipbin -o link show type veth | awk -F': ' '{ sub(/@.*/, "", \$2); print \$2 }' | grep '^veth${uid}_'
    $ipbin -o link show master $br | awk -F': ' '{ sub(/@.*/, "", \$2); print \$2 }'
    [ ! -e /sys/class/net/$ubr ] || $ipbin -o link show master $ubr | awk -F': ' '{ sub(/@.*/, "", \$2); print \$2 }'
  } | sort -u | grep -c . || true
}
t0=\$(date +%s%N)
n0=\$(ours)
n=\$n0
for _ in \$(seq 1000); do
  [ "\$n" -gt 0 ] || break
  sleep 0.01
  n=\$(ours)
done
echo "\$n0 \$(( (\$(date +%s%N) - t0) / 1000000 )) \$n" >>$work/gone.log
[ "\$n" = 0 ] || { echo "gone.sh: \$n veths of $user still there after 10 s" >&2; exit 1; }
EOF
chmod 0755 "$work/gone.sh"
: >"$work/gone.log"
chown "$user:" "$work/gone.log"

say "checking the five commands (as $user, once each with /bin/sh /probe.sh; cgroup2 mount covered: $hidden)"
host_netns=$(readlink /proc/self/ns/net)
declare -A cdesc
for n in "${cnames[@]}"; do
  # shellcheck disable=SC2086 # the command is a word list
  in_bench_ns ${ccmd[$n]% /bin/true} /bin/sh /probe.sh >"$work/probe-$n" 2>"$work/err" || die "$n failed: $(cat "$work/err")"
  f=$work/probe-$n
  ns=$(grep -m1 '^net:\[' "$f") || die "$n: no network namespace in its output: $(cat "$f")"
  [ "$ns" != "$host_netns" ] || die "$n: the container is in the host's network namespace"
  e0=$(grep -E '^[0-9]+: eth0[@:]' "$f" || true)
  ea=$(awk '$2 == "eth0" && $3 == "inet" { print $4 }' "$f")
  gw=$(sed -n 's/^default via \([0-9.]*\) .*/\1/p' "$f")
  mtu=$(printf '%s\n' "$e0" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  case ${ckind[$n]} in
  none)
    [ -z "$e0" ] || die "$n: the container has an eth0: $e0"
    cdesc[$n]="no eth0"
    ;;
  pool | fixed)
    [[ $e0 == *'<'*UP*'>'* ]] || die "$n: no eth0 that is up: $(cat "$f")"
    if [ -z "$ea" ] || [ -z "$gw" ]; then die "$n: eth0 has no address or no default route: $(cat "$f")"; fi
    if [ "${ckind[$n]}" = pool ]; then
      python3 -c 'import ipaddress as i, sys
a = i.ip_interface(sys.argv[1]); p = i.ip_network(sys.argv[2]); g = i.ip_address(sys.argv[3])
sys.exit(not (a.network.prefixlen == 24 and a.network.subnet_of(p) and g == a.network.network_address + 1))' "$ea" "$pool" "$gw" ||
        die "$n: eth0 $ea via $gw is not an address of a /24 of $pool with its .1 as the gateway"
    else
      if [ "$ea" != "$lxc_addr/$plen" ] || [ "$gw" != "$host_addr" ]; then
        die "$n: eth0 $ea via $gw, expected $lxc_addr/$plen via $host_addr"
      fi
    fi
    grep -qx ping-ok "$f" || die "$n: the gateway $gw does not answer a ping from the container"
    cdesc[$n]="eth0 $ea, default via $gw (answers ping), MTU $mtu"
    ;;
  bare)
    [[ $e0 == *'<'*UP*'>'* ]] || die "$n: no eth0 that is up: $(cat "$f")"
    [ -z "$ea" ] || die "$n: eth0 has an address ($ea)"
    cdesc[$n]="eth0 up without an address, MTU $mtu"
    ;;
  esac
  "$work/gone.sh" || die "$n: its veth outlived the container"
  echo "  $n: ${cdesc[$n]}: ok" >&2
done
[ -e "/sys/class/net/$ubr" ] || die "burrow-nic did not make the per-user bridge $ubr"
ubr_addr=$("$ipbin" -4 -o addr show dev "$ubr" | awk '{ print $4 }' | head -n1)
: >"$work/gone.log"

wait_quiet
busy_before_c=$(cpu_busy)
say "(c) start-up, $runs runs + $warmup warmup each (cgroup2 mount covered: $hidden)"
hf_args=()
for n in "${cnames[@]}"; do hf_args+=(-n "$n" "${ccmd[$n]}"); done
in_bench_ns "${hf[@]}" --export-csv "$work/start.csv" --export-json "$work/start.json" \
  --cleanup "$work/gone.sh" "${hf_args[@]}"
busy_after_c=$(cpu_busy)
[ "$(wc -l <"$work/gone.log")" = "${#cnames[@]}" ] || die "gone.sh ran $(wc -l <"$work/gone.log") times, expected ${#cnames[@]}"
"$work/gone.sh" || die "veths of $user left after (c)"
declare -A gone
i=0
while read -r n0 ms n1; do
  gone[${cnames[$i]}]="$n0 $ms $n1"
  i=$((i + 1))
done < <(head -n "${#cnames[@]}" "$work/gone.log")
nic_leases=$(awk -v u="$uid" -v b="$ubr" '$1 == "nic" && ($2 == u || $2 == b)' "$leases" 2>/dev/null | wc -l)
# The medians of the first and the last K runs of each command (K = 50, or a third of the runs)
k=$((runs / 3 < 50 ? runs / 3 : 50))
declare -A drift
while read -r n first last; do drift[$n]="$first $last"; done < <(python3 -c 'import json, statistics, sys
k = int(sys.argv[2])
for r in json.load(open(sys.argv[1]))["results"]:
    t = r["times"]
    print(r["command"], "%.2f" % (statistics.median(t[:k]) * 1000), "%.2f" % (statistics.median(t[-k:]) * 1000))' "$work/start.json" "$k")

# --- report --------------------------------------------------------------------------------------
row() { # CSV NAME LABEL
  awk -F, -v n="$2" -v l="$3" 'NR > 1 && $1 == n {
    printf "| %s | %.2f | %.2f ± %.2f | %.2f | %.2f |\n", l, $4*1000, $2*1000, $3*1000, $7*1000, $8*1000 }' "$1"
}
m_b=$(med "$work/create.csv" burrow-nic)
m_l=$(med "$work/create.csv" lxc-user-nic)
m_t=$(med "$work/create.csv" true)
r_create=$(calc "$m_b / $m_l")
r_net=$(calc "($m_b - $m_t) / ($m_l - $m_t)")
declare -A g
for n in veth vethbig usermtu slirp slirp1500 lo; do
  for dir in up down; do g[$n-$dir]=$(gbps "$n" "$dir"); done
done
r_up=$(calc "${g[veth-up]} / ${g[slirp-up]}")
r_down=$(calc "${g[veth-down]} / ${g[slirp-down]}")
rb_up=$(calc "${g[vethbig-up]} / ${g[slirp-up]}")
rb_down=$(calc "${g[vethbig-down]} / ${g[slirp-down]}")
rm_up=$(calc "${g[usermtu-up]} / ${g[lo-up]}")
rm_down=$(calc "${g[usermtu-down]} / ${g[lo-down]}")
tput_row() { # NAME LABEL MTU
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "${g[$1-up]}" "$(retr "$1" up)" "${g[$1-down]}" "$(retr "$1" down)" \
    "$(calc "${g[$1-up]} / ${g[slirp-up]}")" "$(calc "${g[$1-down]} / ${g[slirp-down]}")"
}
rev=$(built_from "built (scripts/build-helpers.sh)")
m_bn=$(med "$work/start.csv" burrow-none)
m_bb=$(med "$work/start.csv" burrow-bridge)
m_le=$(med "$work/start.csv" lxc-empty)
m_lv=$(med "$work/start.csv" lxc-veth)
m_lb=$(med "$work/start.csv" lxc-veth-bare)
o_b=$(calc "$m_bb - $m_bn")
o_l=$(calc "$m_lv - $m_le")
o_lb=$(calc "$m_lb - $m_le")
start_cmds=$(for n in "${cnames[@]}"; do echo "${ccmd[$n]}"; done | sed "s#$work#\$W#g")
gone_row() { # NAME
  local g
  read -r -a g <<<"${gone[$1]}"
  if [ "${g[0]}" = 0 ]; then
    echo "none"
  else
    echo "${g[0]}, gone after ${g[1]} ms"
  fi
}
ratio_ms() { # A B: A / B, or – if B is not positive
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'
}

block=$(
  cat <<EOF
<!-- nic-bench:start (generated by bench/nic.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after the creates: ${busy_after_a}%, after the throughput tests: ${busy_after}%, before the start-ups: ${busy_before_c}%, after them: ${busy_after_c}%
- burrow-nic: $burrow_nic, $rev, $(stat -c '%s bytes, mode %a' "$burrow_nic"), $(linkage "$burrow_nic")
- lxc-user-nic: $lxc_nic from liblxc-common $(dpkg-query -W -f '${Version}' liblxc-common 2>/dev/null || echo '?'), $(stat -c '%s bytes, mode %a' "$lxc_nic"), $(linkage "$lxc_nic")
- $(hyperfine --version), $(iperf3 --version | head -n1 | cut -d' ' -f1-2), slirp4netns $(slirp4netns --version | sed -n 's/^slirp4netns version //p') (libslirp $(slirp4netns --version | sed -n 's/^libslirp: //p'))
- As $user (uid $uid) via \`setpriv\`; the target of every create is one \`unshare -Urn sleep\` of the user; the bridge \`$br\` (Linux bridge, no STP) was made for the run; \`/etc/burrow/usernet\` and \`/etc/lxc/lxc-usernet\` held the line \`$user veth $br $quota\` (and \`/etc/burrow/usernet\` \`$user veth burrow%u $quota\` for the start-ups below)

### Creating a nic (burrow-nic against lxc-user-nic)

Timed commands (\`hyperfine -N\`, $runs runs + $warmup warmup each; before every run \`--prepare\`
deletes the previous run's eth0 from inside the namespace, untimed, and checks that it was
there and that no host end is left, so every create starts with no nic and a count of 0):

\`\`\`
/bin/true
$(create_cmd "$burrow_nic")
$(create_cmd "$lxc_nic")
\`\`\`

| target | result |
|---|---|
| burrow-nic at most 0.5× lxc-user-nic | $(verdict "$r_create <= 0.5" "$m_b / $m_l ms = ${r_create}×") |
| (context) the same above the \`/bin/true\` floor (fork+exec of a small dynamic binary, $m_t ms; nothing is subtracted in the target) | $(calc "$m_b - $m_t") / $(calc "$m_l - $m_t") ms = ${r_net}× |

| command | median ms | mean ± σ ms | min ms | max ms |
|---|---:|---:|---:|---:|
$(row "$work/create.csv" true '/bin/true (floor, context)')
$(row "$work/create.csv" burrow-nic 'burrow-nic create')
$(row "$work/create.csv" lxc-user-nic 'lxc-user-nic create')

### Container↔host TCP throughput (veth on a bridge against slirp4netns)

iperf3, ${secs} s per test, one stream; the server runs on the host as $user, the client as $user
in an \`unshare -Urn\` namespace. "up" = container → host (the client sends), "down" = host →
container (\`-R\`). Gbit/s as received; retr = TCP retransmissions of the sender.

- veth: \`burrow-nic create /dev/null dummy PID veth $br eth%d\`, then \`$host_addr/$plen\` on \`$br\`,
  \`$ctr_addr/$plen\` on eth0 (by hand), MTU of both ends = the bridge's: $mtu_veth (the bridge's default), and
  $mtu_veth_big (\`ip link set $br mtu $big_mtu\` before the create); and on the per-user bridge \`$ubr\` with
  \`mtu $big_mtu\` in \`/etc/burrow/nic.conf\` (\`burrow-nic create --json /dev/null mtubench PID veth burrow%u eth0\`,
  eth0 given the leased address, the client to the bridge's gateway address $m_gw): MTU $mtu_user
- slirp4netns: \`${slirp_desc[slirp]}\` (MTU ${slirp_mtu[slirp]}), client to 10.0.2.2 (the host's loopback; so
  no \`--disable-host-loopback\`); slirp4netns's own CPU use: up ${slirp_cpu[slirp-up]}%, down ${slirp_cpu[slirp-down]}% of one core.
  For context, the same at slirp4netns's default MTU: \`${slirp_desc[slirp1500]}\` (MTU ${slirp_mtu[slirp1500]}; CPU up
  ${slirp_cpu[slirp1500-up]}%, down ${slirp_cpu[slirp1500-down]}%)
- lo: the client on the host, to 127.0.0.1 (the ceiling)

| target | result |
|---|---|
| veth (MTU $mtu_veth) at least 10× slirp4netns (MTU ${slirp_mtu[slirp]}) | up: $(verdict "$r_up >= 10" "${g[veth-up]} / ${g[slirp-up]} Gbit/s = ${r_up}×"); down: $(verdict "$r_down >= 10" "${g[veth-down]} / ${g[slirp-down]} Gbit/s = ${r_down}×") |
| veth (MTU $mtu_veth_big) at least 10× slirp4netns (MTU ${slirp_mtu[slirp]}) | up: $(verdict "$rb_up >= 10" "${rb_up}×"); down: $(verdict "$rb_down >= 10" "${rb_down}×") |
| per-user bridge with nic.conf \`mtu $big_mtu\` (MTU $mtu_user) at least 0.85× host loopback | up: $(verdict "$rm_up >= 0.85" "${g[usermtu-up]} / ${g[lo-up]} Gbit/s = ${rm_up}×"); down: $(verdict "$rm_down >= 0.85" "${g[usermtu-down]} / ${g[lo-down]} Gbit/s = ${rm_down}×") |
| (context) veth (MTU $mtu_veth) against host loopback | up: $(calc "${g[veth-up]} / ${g[lo-up]}")×; down: $(calc "${g[veth-down]} / ${g[lo-down]}")× |
| (context) veth (MTU $mtu_veth) against slirp4netns at its default MTU (${slirp_mtu[slirp1500]}) | up: $(calc "${g[veth-up]} / ${g[slirp1500-up]}")×; down: $(calc "${g[veth-down]} / ${g[slirp1500-down]}")× |
| (context) host loopback against slirp4netns (MTU ${slirp_mtu[slirp]}): the most any path could reach | up: $(calc "${g[lo-up]} / ${g[slirp-up]}")×; down: $(calc "${g[lo-down]} / ${g[slirp-down]}")× |

| path | MTU | up Gbit/s | up retr | down Gbit/s | down retr | up × slirp4netns (MTU ${slirp_mtu[slirp]}) | down × slirp4netns (MTU ${slirp_mtu[slirp]}) |
|---|---:|---:|---:|---:|---:|---:|---:|
$(tput_row veth 'veth on a bridge (burrow-nic)' "$mtu_veth")
$(tput_row vethbig 'veth on a bridge (burrow-nic)' "$mtu_veth_big")
$(tput_row usermtu 'veth on the per-user bridge, nic.conf mtu' "$mtu_user")
$(tput_row slirp 'slirp4netns' "${slirp_mtu[slirp]}")
$(tput_row slirp1500 'slirp4netns, default MTU' "${slirp_mtu[slirp1500]}")
$(tput_row lo 'host loopback (ceiling)' 65536)

### Container start-up with a nic (\`burrow run --net bridge\` against \`lxc-execute\` with a veth)

\`hyperfine -N\`, $runs runs + $warmup warmup each, as $user, on a busybox-static rootfs
(\`\$W/rootfs\`, as bench/run.sh), in run.sh's benchmark mount namespace (/sys/fs/cgroup/unified
covered by an empty read-only tmpfs on this hybrid cgroup host: $hidden). burrow: $burrow
($(stat -c '%s bytes' "$burrow"), $(linkage "$burrow")) with \`BURROW_HELPERS_DIR=$prefix/bin\`, whose
burrow-nic (above) reads \`/etc/burrow/usernet\` (\`$user veth burrow%u $quota\`) and
\`/etc/burrow/nic.conf\` (\`ipv4 $pool 24\`); the per-user bridge \`$ubr\` was made by burrow-nic
on the first create ($ubr_addr). LXC: lxc $(lxc-execute --version), run.sh's unprivileged
configuration (full idmap, shadow's newuidmap/newgidmap) with \`lxc.net.0.type = empty\`, or
\`veth\`, \`lxc.net.0.link = $br\` (MTU 1500, $host_addr/$plen), \`lxc.net.0.flags = up\`, with
\`lxc.net.0.ipv4.address = $lxc_addr/$plen\` and \`lxc.net.0.ipv4.gateway = $host_addr\` (what burrow
does inside too: an address and a default route) or, for context, without them. Each command
was first run once with \`/bin/sh /probe.sh\` (a new network namespace; eth0 as below; the
gateway answers a ping):

- burrow \`--net none\`: ${cdesc[burrow-none]}; \`--net bridge\`: ${cdesc[burrow-bridge]}
- lxc-execute \`empty\`: ${cdesc[lxc-empty]}; \`veth\`: ${cdesc[lxc-veth]}; \`veth\` without address: ${cdesc[lxc-veth-bare]}

\`\`\`
$start_cmds
\`\`\`

| | burrow | lxc-execute | burrow / lxc-execute |
|---|---:|---:|---:|
| veth on a bridge, addressed (\`--net bridge\` / \`veth\` + address + gateway), median ms | $m_bb | $m_lv | $(ratio_ms "$m_bb" "$m_lv") |
| no nic (\`--net none\` / \`empty\`), median ms | $m_bn | $m_le | $(ratio_ms "$m_bn" "$m_le") |
| network overhead (veth − no nic), ms | $o_b | $o_l | $(ratio_ms "$o_b" "$o_l") |
| (context) lxc-execute \`veth\` without address: median, overhead ms | | $m_lb, $o_lb | $(ratio_ms "$m_bb" "$m_lb"), $(ratio_ms "$o_b" "$o_lb") |

| command | median ms | mean ± σ ms | min ms | max ms | median of the first / last $k runs ms | veths of $user left right after the last run |
|---|---:|---:|---:|---:|---:|---|
$(for n in "${cnames[@]}"; do
    awk -F, -v n="$n" -v l="${clabel[$n]}" -v d="${drift[$n]/ / / }" -v g="$(gone_row "$n")" 'NR > 1 && $1 == n {
      printf "| %s | %.2f | %.2f ± %.2f | %.2f | %.2f | %s | %s |\n", l, $4*1000, $2*1000, $3*1000, $7*1000, $8*1000, d, g }' "$work/start.csv"
  done)

The veths die with the container's network namespace, which the kernel frees asynchronously:
after each command's runs, hyperfine's \`--cleanup\` waited until none of the user's was left
(and would have failed the run after 10 s). burrow-nic leases a host number to every
(container name, eth0) and rewrites its whole lease file, with an fsync, on every create; each
\`--rm\` container has a new name, so the run ended with $nic_leases nic leases of the user in
$leases (once every host number of the /24 is leased, the oldest lease not in use is given
again; the run's leases are removed at exit).
<!-- nic-bench:end -->
EOF
)
write_report '<!-- nic-bench:start' '<!-- nic-bench:end' 'Networking: nic creation and throughput (bench/nic.sh)'
