#!/usr/bin/env bash
# Published ports: throughput and connection latency through `burrow run --net bridge -p`
# (burrow-nic's kernel DNAT) against the direct path to the container's leased address, against
# podman's `-p` (rootlessport) and, for context, burrow's user-space forwarder (`--net none -p`),
# in one run, from one "remote" client.
#
#   bench/ports.sh [N]         (as root; N timed connections per path for the latency, default
#                              2000, at least 200)
#
# The client is "remote": a network namespace made by root (BENCH_REMOTE_NS, default burrowpb)
# linked to the host by a veth (pbhost0 with 10.198.0.1/24 on the host, pbpeer0 with
# 10.198.0.2/24 and a default route via 10.198.0.1 in the namespace), at MTU 1500. It reaches:
#   direct   the container's leased address (a /24 of BENCH_NIC_POOL, default 10.195.0.0/16, on
#            the user's per-user bridge burrow<uid>), routed by the host: no NAT
#   kernel   10.198.0.1:P, P published by `burrow run -d --net bridge -p P:5201` (burrow-nic's
#            DNAT in nftables table `ip burrow_ports`; the port grant "USER ports LIST" in
#            /etc/burrow/usernet), the same container as direct
#   user     10.198.0.1:P of `burrow run -d --net none -p P:5201` (burrow-portfwd)
#   podman   10.198.0.1:P of `podman run -d -p P:5201` (rootless: slirp4netns and rootlessport;
#            runc, cgroupfs, a local image made by `podman import` of the same rootfs)
# Every container runs the same rootfs: busybox-static (as bench/run.sh), the host's iperf3 with
# the libraries ldd lists, and a static request/response server (rrserver, C, built here), as
# `/bin/sh -c '/rrserver 7000 & exec iperf3 -s -B 0.0.0.0 -p 5201'`, as BENCH_USER (default
# burrowbench). Published ports: BENCH_PORTS_BASE (15200) + 1 and + 2 (kernel), + 11 and + 12
# (user), + 21 and + 22 (podman), for 5201 and 7000.
#   throughput  iperf3 from the remote namespace, BENCH_IPERF_SECONDS (10) s per test, one
#               stream, both directions (up = the client sends, down = -R), BENCH_IPERF_REPS (3)
#               rounds over the four paths (interleaved), median per path and direction; the CPU
#               time of burrow-portfwd and rootlessport during their tests. Targets: kernel at
#               least 0.9x direct; kernel at least 3x podman
#   latency     python3 in the remote namespace: per connection, connect(), send one byte, read
#               the echoed byte, close; the time to connect() and to the reply, median and p99
#               per path over N connections (after 50 warmup each; blocks of 100 per path, in
#               turn). Reported: the ratios kernel / direct (and the others, context)
#
# Results go between the ports-bench markers of bench/RESULTS.md (the rest is kept), or to
# BENCH_OUT. BENCH_NO_BUILD=1 skips the build and install into BENCH_PREFIX (default
# /var/tmp/burrow-bench-prefix); BENCH_REV=COMMIT builds a clean export of that commit.
# BENCH_QUIET_WAIT (default 300) is how long to wait for an idle machine before timing.
# BENCH_KEEP=1 keeps the scratch directory.
#
# It changes, and restores at exit (also on error or ctrl-c): /etc/burrow/usernet (the lines
# "USER veth burrow%u 65535" and "USER ports P1,P2"), /etc/burrow/nic.conf ("ipv4 POOL 24"),
# the user's lines the run adds to burrow-nic's lease file /var/lib/burrow/nic-leases (removed
# under burrow-nic's lock), net.ipv4.ip_forward (set to 1), the mode of /dev/net/tun (0666 for
# podman's slirp4netns). It makes and deletes the namespace and its veth, deletes the per-user
# bridge burrow<uid> (which must not exist before) with its veths, removes its containers
# (`burrow rm -f`, `podman rm -f`) and kills, one pid at a time, the user's processes that carry
# the run's private XDG_RUNTIME_DIR. The shared parts are in bench/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 2000 200
prefix=${BENCH_PREFIX:-/var/tmp/burrow-bench-prefix}
secs=${BENCH_IPERF_SECONDS:-10}
reps=${BENCH_IPERF_REPS:-3}
pool=${BENCH_NIC_POOL:-10.195.0.0/16}
ns=${BENCH_REMOTE_NS:-burrowpb}
base=${BENCH_PORTS_BASE:-15200}
burrow=$prefix/bin/burrow
burrow_nic=$prefix/bin/burrow-nic
hveth=pbhost0 rveth=pbpeer0
haddr=10.198.0.1 raddr=10.198.0.2 lplen=24
quota=65535
py=/usr/bin/python3 # not root's PATH (pyenv shims)
image=localhost/burrow-ports-bench:1
declare -A hp=([kernel]=$((base + 1)) [user]=$((base + 11)) [podman]=$((base + 21)))
declare -A rp=([kernel]=$((base + 2)) [user]=$((base + 12)) [podman]=$((base + 22)))

[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers, edits /etc/burrow/usernet and nic.conf, makes a network namespace)"
case $secs in '' | *[!0-9]* | 0) die "BENCH_IPERF_SECONDS must be a positive number" ;; esac
case $reps in '' | *[!0-9]* | 0) die "BENCH_IPERF_REPS must be a positive number" ;; esac
case $base in '' | *[!0-9]*) die "BENCH_PORTS_BASE must be a number" ;; esac
if [ "$base" -lt 1024 ] || [ "$base" -gt 65000 ]; then die "BENCH_PORTS_BASE must be 1024..65000"; fi
[[ $ns =~ ^[a-z][a-z0-9]{0,14}$ ]] || die "BENCH_REMOTE_NS=$ns: use 1 to 15 lower-case letters and digits"
[[ $pool =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/(1[6-9]|2[0-3])$ ]] || die "BENCH_NIC_POOL=$pool: give an IPv4 network of prefix length 16 to 23"

# --- tools -----------------------------------------------------------------------------------
missing=()
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v slirp4netns >/dev/null || missing+=(slirp4netns)
command -v newuidmap >/dev/null || missing+=(uidmap)
command -v gcc >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(gcc libc6-dev)
command -v nft >/dev/null || missing+=(nftables)
[ -x "$py" ] || missing+=(python3)
install_missing "${missing[@]}"
check_busybox
ipbin=$(command -v ip) || die "ip (iproute2) not found"
iperf3_bin=$(command -v iperf3)

setup_user
ubr=burrow$uid
setup_subids
if [ "$su_count" -lt 65536 ] || [ "$sg_count" -lt 65536 ]; then
  die "$user's first subuid/subgid ranges must hold 65536 ids (podman's map), not $su_count/$sg_count"
fi

build_install rev
need_bins burrow burrow-nic:setuid burrow-newuidmap:setuid burrow-newgidmap:setuid

# --- preflight ---------------------------------------------------------------------------------
[ ! -e "/sys/class/net/$ubr" ] || die "$user's per-user bridge $ubr exists already (it is made, and deleted, here: delete it first)"
[ ! -e "/run/netns/$ns" ] || die "a network namespace $ns exists already (set BENCH_REMOTE_NS)"
for l in "$hveth" "$rveth"; do [ ! -e "/sys/class/net/$l" ] || die "a link named $l exists already"; done
if "$ipbin" -4 -o addr show | grep -q " ${haddr%.*}\."; then die "${haddr%.*}.0/$lplen is in use on this host"; fi
for p in "${hp[@]}" "${rp[@]}"; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then die "TCP port $p is in use (set BENCH_PORTS_BASE)"; fi
done
clash=$({ "$ipbin" -4 -o addr show | awk '{ print $4 }'; "$ipbin" -4 route show table all | awk '$1 != "default" && $1 != "broadcast" && $1 != "local" { print $1 }'; } |
  "$py" -c 'import ipaddress, sys
p = ipaddress.ip_network(sys.argv[1], strict=True)
for w in sys.stdin.read().split():
    try:
        n = ipaddress.ip_network(w, strict=False)
    except ValueError:
        continue
    if n.overlaps(p):
        print(w)' "$pool") || die "BENCH_NIC_POOL=$pool is not a network address"
[ -z "$clash" ] || die "BENCH_NIC_POOL=$pool overlaps what the host uses ($(echo "$clash" | tr '\n' ' ')): set another"

# --- state to restore, and cleanup ---------------------------------------------------------------
leases=/var/lib/burrow/nic-leases
nic_lock=/run/burrow/nic.lock
had_leases_dir=1
[ -d "${leases%/*}" ] || had_leases_dir=0
had_leases=1
[ -e "$leases" ] || had_leases=0
save=$(mktemp -d /var/tmp/burrow-ports-bench-save.XXXXXX)
{ echo "# ports.sh: the lease lines of uid $uid before the run"
  [ "$had_leases" = 0 ] || awk -v u="$uid" -v b="$ubr" '($1 == "subnet" || $1 == "nic") && ($2 == u || $2 == b)' "$leases"; } >"$save/leases-before"
work=$(mktemp -d /var/tmp/burrow-ports-bench.XXXXXX)
chmod 0755 "$work"
case "$work$prefix" in *[[:space:]]*) die "paths with white space are not supported" ;; esac
declare -A had
had_etc_burrow=1
[ -d /etc/burrow ] || had_etc_burrow=0
tun_mode=$(stat -c %a /dev/net/tun 2>/dev/null || echo '')
fwd_before=$(sysctl -n net.ipv4.ip_forward)
made_ns=0 made_ubr=0
xdg=$work/xdg
pargs="--root $work/podman/storage --runroot $work/podman/run --runtime runc"
started_burrow=()
started_podman=()

set_as_user
remote() { "$ipbin" netns exec "$ns" "$@"; }

cleanup() {
  local rc=$? p l
  trap - EXIT INT TERM
  set +e
  say "cleaning up"
  [ ${#started_burrow[@]} -eq 0 ] || u "$burrow" rm -f "${started_burrow[@]}" >/dev/null 2>&1
  # shellcheck disable=SC2086 # pargs is a word list
  [ ${#started_podman[@]} -eq 0 ] || u podman $pargs rm -f -t 0 "${started_podman[@]}" >/dev/null 2>&1
  # podman's pause process, slirp4netns, rootlessport, a late cleanup, burrow's monitors: every
  # process of the user with the run's XDG_RUNTIME_DIR, one pid at a time
  kill_user_xdg
  if nft list table ip burrow_ports 2>/dev/null | grep -q "burrow-nic $uid "; then
    echo "$me: warning: rules of uid $uid left in table ip burrow_ports (burrow-nic's next create or publish removes them)" >&2
  fi
  if [ "$made_ns" = 1 ]; then
    "$ipbin" link del "$hveth" 2>/dev/null
    "$ipbin" netns del "$ns" 2>/dev/null
  fi
  if [ "$made_ubr" = 1 ] && [ -e "/sys/class/net/$ubr" ]; then
    del_bridge "$ubr"
  fi
  leases_restore
  restore_file /etc/burrow/usernet
  restore_file /etc/burrow/nic.conf
  [ "$had_etc_burrow" = 1 ] || rmdir /etc/burrow 2>/dev/null
  sysctl -q -w net.ipv4.ip_forward="$fwd_before" >/dev/null
  [ -z "$tun_mode" ] || chmod "$tun_mode" /dev/net/tun
  drop_work
  rm -rf "$save"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

grant="${hp[kernel]},${rp[kernel]}"
set_policy /etc/burrow/usernet "$user veth burrow%u $quota" "$user ports $grant"
set_policy /etc/burrow/nic.conf "ipv4 $pool 24"
made_ubr=1
sysctl -q -w net.ipv4.ip_forward=1
chmod 0666 /dev/net/tun # podman's slirp4netns opens it as the user (peers.md: no udev here)

# --- the rootfs: busybox, iperf3 with its libraries, rrserver ---------------------------------
say "rootfs, image and the remote namespace in $work"
rootfs=$work/rootfs
make_rootfs "$rootfs"
install -D -m 0755 "$iperf3_bin" "$rootfs/usr/bin/iperf3"
for f in $(ldd "$iperf3_bin" | grep -o '/[^ ]*'); do
  cp -L --parents "$f" "$rootfs/"
done
cat >"$work/rrserver.c" <<'EOF'
/* rrserver PORT: accept on 0.0.0.0:PORT; per connection read one byte, write it back, close. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 7000)};
  if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1024))
    return 1;
  for (;;) {
    char c;
    int f = accept(s, 0, 0);
    if (f < 0) continue;
    setsockopt(f, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (read(f, &c, 1) == 1) (void)!write(f, &c, 1);
    close(f);
  }
}
EOF
gcc -O2 -static -o "$rootfs/rrserver" "$work/rrserver.c"
ctr_cmd=(/bin/sh -c '/rrserver 7000 & exec /usr/bin/iperf3 -s -B 0.0.0.0 -p 5201')
mkdir -p "$work/podman"
user_dirs
tar -C "$rootfs" --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
chown -R "$user:" "$work"

# --- the remote namespace ------------------------------------------------------------------------
"$ipbin" netns add "$ns"
made_ns=1
"$ipbin" link add "$hveth" type veth peer name "$rveth" netns "$ns"
"$ipbin" addr add "$haddr/$lplen" dev "$hveth"
"$ipbin" link set "$hveth" up
remote "$ipbin" link set lo up
remote "$ipbin" addr add "$raddr/$lplen" dev "$rveth"
remote "$ipbin" link set "$rveth" up
remote "$ipbin" route add default via "$haddr"

# --- the containers ------------------------------------------------------------------------------
say "containers (as $user)"
started_burrow+=(pbk)
u "$burrow" run -d --name pbk --net bridge -p "${hp[kernel]}:5201" -p "${rp[kernel]}:7000" --rootfs "$rootfs" "${ctr_cmd[@]}" \
  >/dev/null 2>"$work/err" || die "burrow run --net bridge -p failed: $(cat "$work/err")"
started_burrow+=(pbu)
u "$burrow" run -d --name pbu --net none -p "${hp[user]}:5201" -p "${rp[user]}:7000" --rootfs "$rootfs" "${ctr_cmd[@]}" \
  >/dev/null 2>"$work/err-user" || die "burrow run --net none -p failed: $(cat "$work/err-user")"
# shellcheck disable=SC2086 # pargs is a word list
u podman $pargs import - "$image" <"$work/rootfs.tar" >/dev/null 2>"$work/err" || die "podman import failed: $(cat "$work/err")"
started_podman+=(pbp)
# shellcheck disable=SC2086
u podman $pargs run -d --name pbp -p "${hp[podman]}:5201" -p "${rp[podman]}:7000" "$image" "${ctr_cmd[@]}" \
  >/dev/null 2>"$work/err" || die "podman run -p failed: $(cat "$work/err")"

ctr_addr=$(u "$burrow" exec pbk ip -4 -o addr show dev eth0 | awk '{ print $4 }' | head -n1)
ctr_addr=${ctr_addr%/*}
[ -n "$ctr_addr" ] || die "no IPv4 address on pbk's eth0"
declare -A addr=([direct]=$ctr_addr [kernel]=$haddr [user]=$haddr [podman]=$haddr)
declare -A port=([direct]=5201 [kernel]=${hp[kernel]} [user]=${hp[user]} [podman]=${hp[podman]})
declare -A rport=([direct]=7000 [kernel]=${rp[kernel]} [user]=${rp[user]} [podman]=${rp[podman]})
paths=(direct kernel user podman)
nft list table ip burrow_ports >"$work/nft.txt" 2>&1 || true
grep -q "tcp dport ${hp[kernel]} dnat to $ctr_addr:5201" "$work/nft.txt" ||
  die "no DNAT rule ${hp[kernel]} -> $ctr_addr:5201 in table ip burrow_ports: $(cat "$work/nft.txt")"
dnat_rule=$(grep -m1 "tcp dport ${hp[kernel]} dnat" "$work/nft.txt" | sed 's/^[[:space:]]*//')
userwarn=$(grep -m1 'warning' "$work/err-user" || true)

# rr.py: the latency client; also the readiness check (MODE wait)
cat >"$work/rr.py" <<'EOF'
import socket, statistics, sys, time
def one(host, port):
    s = socket.socket()
    s.settimeout(5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter_ns()
    s.connect((host, port))
    t1 = time.perf_counter_ns()
    s.sendall(b"x")
    d = s.recv(1)
    t2 = time.perf_counter_ns()
    s.close()
    if d != b"x":
        raise SystemExit("%s:%d: no echo" % (host, port))
    return (t1 - t0) / 1000, (t2 - t0) / 1000
mode, n = sys.argv[1], int(sys.argv[2])
paths = [(a.split(",")[0], a.split(",")[1], int(a.split(",")[2])) for a in sys.argv[3:]]
if mode == "wait":
    for name, h, p in paths:
        for i in range(100):
            try:
                one(h, p)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("%s (%s:%d) does not answer" % (name, h, p))
    sys.exit(0)
res = {name: ([], []) for name, _, _ in paths}
for name, h, p in paths:
    for _ in range(50):
        one(h, p)
block = 100
for r in range((n + block - 1) // block):
    for name, h, p in paths:
        for _ in range(min(block, n - r * block)):
            c, t = one(h, p)
            res[name][0].append(c)
            res[name][1].append(t)
def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.99 * len(v))) - 1)]
for name, _, _ in paths:
    c, t = res[name]
    print(name, len(t), "%.1f %.1f %.1f %.1f" % (statistics.median(c), p99(c), statistics.median(t), p99(t)))
EOF
rr_args=()
for p in "${paths[@]}"; do rr_args+=("$p,${addr[$p]},${rport[$p]}"); done
remote "$py" "$work/rr.py" wait 0 "${rr_args[@]}" || die "the request/response servers do not answer from $ns"

# iperf NAME DIR TAG: one client run from the remote namespace; JSON in $work/iperf-NAME-DIR-TAG.json
iperf() {
  local name=$1 dir=$2 tag=$3 r=() c
  [ "$dir" = down ] && r=(-R)
  c=(iperf3 -c "${addr[$name]}" -p "${port[$name]}" -t "$4" --connect-timeout 5000 -J "${r[@]}")
  echo "  $name, $dir ($tag): ${c[*]}" >&2
  remote "${c[@]}" >"$work/iperf-$name-$dir-$tag.json" || die "iperf3 $name $dir failed: $(tail -5 "$work/iperf-$name-$dir-$tag.json")"
}
gbps_of() { "$py" -c 'import json, sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$1"; }
retr_of() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["end"]["sum_sent"].get("retransmits", "?"))' "$1"; }
# The CPU ticks of the user's processes whose comm starts with PREFIX
ticks() {
  local p t=0 c
  for p in /proc/[0-9]*; do
    [ "$(stat -c %u "$p" 2>/dev/null)" = "$uid" ] || continue
    c=$(cat "$p/comm" 2>/dev/null) || continue
    case $c in "$1"*) t=$((t + $(awk '{ print $14 + $15 }' "$p/stat" 2>/dev/null || echo 0))) ;; esac
  done
  echo "$t"
}
declare -A fwd=([user]=burrow-portfwd [podman]=rootlessport)
fwd_pids() { # NAME: the forwarder processes, for the report
  local p n=0
  for p in /proc/[0-9]*; do
    [ "$(stat -c %u "$p" 2>/dev/null)" = "$uid" ] || continue
    case $(cat "$p/comm" 2>/dev/null) in "${fwd[$1]}"*) n=$((n + 1)) ;; esac
  done
  echo "$n"
}
say "checking the four paths (iperf3 1 s each, from $ns)"
for p in "${paths[@]}"; do iperf "$p" up check 1; done
for p in user podman; do [ "$(fwd_pids "$p")" -gt 0 ] || die "no ${fwd[$p]} process of $user"; done
nproc_fwd_user=$(fwd_pids user) nproc_fwd_podman=$(fwd_pids podman)

wait_quiet
note_load
say "throughput: $reps rounds x ${#paths[@]} paths x 2 directions, ${secs}s each"
declare -A cpu
hz=$(getconf CLK_TCK)
for rep in $(seq "$reps"); do
  for p in "${paths[@]}"; do
    for dir in up down; do
      t0=0
      [ -z "${fwd[$p]:-}" ] || t0=$(ticks "${fwd[$p]}")
      s0=$(date +%s.%N)
      iperf "$p" "$dir" "$rep" "$secs"
      s1=$(date +%s.%N)
      if [ -n "${fwd[$p]:-}" ]; then
        t1=$(ticks "${fwd[$p]}")
        cpu[$p-$dir-$rep]=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.0f", 100 * t / hz / (s1 - s0) }')
      fi
    done
  done
done
busy_after_t=$(cpu_busy)
say "latency: $runs connections per path (+50 warmup), from $ns"
remote "$py" "$work/rr.py" run "$runs" "${rr_args[@]}" >"$work/rr.txt" || die "the latency client failed"
busy_after=$(cpu_busy)

# --- report --------------------------------------------------------------------------------------
declare -A g gall rt cpum
medof() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for p in "${paths[@]}"; do
  for dir in up down; do
    vals=() rts=() cs=()
    for rep in $(seq "$reps"); do
      vals+=("$(gbps_of "$work/iperf-$p-$dir-$rep.json")")
      rts+=("$(retr_of "$work/iperf-$p-$dir-$rep.json")")
      [ -z "${cpu[$p-$dir-$rep]:-}" ] || cs+=("${cpu[$p-$dir-$rep]}")
    done
    g[$p-$dir]=$(medof "${vals[@]}")
    gall[$p-$dir]=$(
      IFS=/
      echo "${vals[*]}"
    )
    rt[$p-$dir]=$(
      IFS=/
      echo "${rts[*]}"
    )
    cpum[$p-$dir]=–
    [ ${#cs[@]} -eq 0 ] || cpum[$p-$dir]="$(medof "${cs[@]}" | cut -d. -f1)%"
  done
done
declare -A lat
while read -r name n cm c99 tm t99; do lat[$name]="$n $cm $c99 $tm $t99"; done <"$work/rr.txt"
lf() { # NAME FIELD(1..5)
  local a
  read -r -a a <<<"${lat[$1]}"
  echo "${a[$(($2 - 1))]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'; }
r_kd_up=$(ratio "${g[kernel-up]}" "${g[direct-up]}")
r_kd_down=$(ratio "${g[kernel-down]}" "${g[direct-down]}")
r_kp_up=$(ratio "${g[kernel-up]}" "${g[podman-up]}")
r_kp_down=$(ratio "${g[kernel-down]}" "${g[podman-down]}")
tput_row() { # NAME
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${plabel[$1]}" "${g[$1-up]}" "${gall[$1-up]}" "${rt[$1-up]}" "${g[$1-down]}" "${gall[$1-down]}" "${rt[$1-down]}" \
    "$(ratio "${g[$1-up]}" "${g[direct-up]}") / $(ratio "${g[$1-down]}" "${g[direct-down]}")" "${cpum[$1-up]} / ${cpum[$1-down]}"
}
lat_row() { # NAME
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${plabel[$1]}" "$(lf "$1" 2)" "$(lf "$1" 3)" "$(lf "$1" 4)" "$(lf "$1" 5)" \
    "$(ratio "$(lf "$1" 4)" "$(lf direct 4)")" "$(ratio "$(lf "$1" 5)" "$(lf direct 5)")"
}
userline=
[ -z "$userwarn" ] || userline="burrow's message at the start of the user-mode container: \`$userwarn\`"
# shellcheck disable=SC2016 # the backquotes are Markdown
declare -A plabel=(
  [direct]='direct (leased address)'
  [kernel]='burrow, kernel (`--net bridge -p`)'
  [user]='burrow, user-space (`--net none -p`, context)'
  [podman]='podman `-p` (rootlessport)'
)
rev=$(built_from "built (scripts/build-helpers.sh)")
block=$(
  cat <<EOF
<!-- ports-bench:begin (generated by bench/ports.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after the throughput tests: ${busy_after_t}%, after the latency test: ${busy_after}%
- burrow: $burrow and burrow-nic, $rev, $(linkage "$burrow_nic") burrow-nic; $(podman --version) with $(runc --version | head -n1), $(slirp4netns --version | head -n1); $(iperf3 --version | head -n1 | cut -d' ' -f1-2), Python $("$py" -c 'import platform; print(platform.python_version())')
- As $user (uid $uid) via \`setpriv\`, private XDG directories, podman with \`--root/--runroot\` in the scratch directory, \`--runtime runc\`, \`cgroup_manager = "cgroupfs"\`; \`/etc/burrow/usernet\`: \`$user veth burrow%u $quota\`, \`$user ports $grant\`; \`/etc/burrow/nic.conf\`: \`ipv4 $pool 24\` (MTU 1500); \`net.ipv4.ip_forward=1\` for the run
- Remote client: network namespace \`$ns\` (made by root), veth \`$rveth\` $raddr/$lplen, default via $haddr (\`$hveth\` on the host), MTU 1500
- One rootfs for every container: busybox-static, the host's iperf3 with its libraries (ldd), a static \`rrserver\` (accept, read 1 byte, write it back, close); command \`${ctr_cmd[*]:0:2} '${ctr_cmd[2]}'\`

| path | started as | the client connects to |
|---|---|---|
| direct | \`burrow run -d --name pbk --net bridge -p ${hp[kernel]}:5201 -p ${rp[kernel]}:7000 --rootfs R ...\` | the container's leased address $ctr_addr:5201 (routed by the host, no NAT) |
| kernel | the same container | $haddr:${hp[kernel]}; burrow-nic's rule: \`$dnat_rule\` |
| user (context) | \`burrow run -d --name pbu --net none -p ${hp[user]}:5201 -p ${rp[user]}:7000 --rootfs R ...\` ($nproc_fwd_user burrow-portfwd process(es)) | $haddr:${hp[user]} |
| podman | \`podman run -d --name pbp -p ${hp[podman]}:5201 -p ${rp[podman]}:7000 $image ...\` (\`podman import\` of R; slirp4netns + rootlessport, $nproc_fwd_podman rootlessport process(es)) | $haddr:${hp[podman]} |

### Throughput through a published port

iperf3 from \`$ns\`, ${secs} s per test, one stream, $reps rounds over the four paths in turn;
the median of the rounds (each round's figure after it). "up" = remote → container, "down" =
container → remote (\`-R\`). Gbit/s as received; retr = the sender's retransmissions per round;
forwarder CPU = the CPU time of burrow-portfwd or rootlessport (\`rootlessport*\`) during the
test, per cent of one core (median).

| target | result |
|---|---|
| kernel published port at least 0.9× direct | up: $(verdict "$r_kd_up >= 0.9" "${g[kernel-up]} / ${g[direct-up]} Gbit/s = ${r_kd_up}×"); down: $(verdict "$r_kd_down >= 0.9" "${g[kernel-down]} / ${g[direct-down]} Gbit/s = ${r_kd_down}×") |
| kernel published port at least 3× podman's \`-p\` | up: $(verdict "$r_kp_up >= 3" "${g[kernel-up]} / ${g[podman-up]} Gbit/s = ${r_kp_up}×"); down: $(verdict "$r_kp_down >= 3" "${g[kernel-down]} / ${g[podman-down]} Gbit/s = ${r_kp_down}×") |
| (context) burrow's user-space forwarder against podman's \`-p\` | up: $(ratio "${g[user-up]}" "${g[podman-up]}")×; down: $(ratio "${g[user-down]}" "${g[podman-down]}")× |

| path | up Gbit/s | up per round | up retr | down Gbit/s | down per round | down retr | × direct (up / down) | forwarder CPU (up / down) |
|---|---:|---|---|---:|---|---|---:|---:|
$(for p in "${paths[@]}"; do tput_row "$p"; done)

### Connection latency through a published port

\`python3\` in \`$ns\`, per connection: \`connect()\`, send 1 byte, read the echo, \`close()\`;
$(lf direct 1) connections per path after 50 warmup, in blocks of 100 per path in turn. "connect" =
the time \`connect()\` took (with a user-space forwarder the host's socket completes it before the
forwarder has connected inside); "reply" = from before \`connect()\` to the echoed byte, the
connection's set-up through to the server. µs.

| path | connect median | connect p99 | reply median | reply p99 | reply median × direct | reply p99 × direct |
|---|---:|---:|---:|---:|---:|---:|
$(for p in "${paths[@]}"; do lat_row "$p"; done)

Published (kernel) against direct, reply: median $(ratio "$(lf kernel 4)" "$(lf direct 4)")×, p99 $(ratio "$(lf kernel 5)" "$(lf direct 5)")×;
podman's \`-p\` against the kernel published port, reply: median $(ratio "$(lf podman 4)" "$(lf kernel 4)")×, p99 $(ratio "$(lf podman 5)" "$(lf kernel 5)")× (no target is set for the latency: the ratios are reported).
$userline
<!-- ports-bench:end -->
EOF
)
write_report '<!-- ports-bench:begin' '<!-- ports-bench:end' 'Published ports (bench/ports.sh)'
