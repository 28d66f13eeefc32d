#!/usr/bin/env bash
# Start-up time and peak memory of `burrow run --rm --rootfs R /bin/true` against its peers,
# with hyperfine, in one run, on one busybox-static rootfs, as one unprivileged user.
#
#   bench/run.sh [RUNS]        (as root; RUNS timed runs per command, default 100, at least 30)
#
# Compared (all as BENCH_USER, default burrowbench, created with useradd -m if missing and
# given a subuid/subgid range if it has none):
#   burrow      PREFIX/bin/burrow run --rm --rootfs R /bin/true, BURROW_HELPERS_DIR=PREFIX/bin
#               (setuid burrow-newuidmap/newgidmap), full map
#   crun        crun run of a rootless OCI bundle (`crun spec --rootless`, process /bin/true,
#               root R read-write, + cgroup namespace, full uid/gid mappings: crun calls
#               shadow's newuidmap/newgidmap)
#   lxc-execute unprivileged, lxc.net.0.type = empty, full idmap (shadow's helpers)
#   bwrap       --unshare-all --uid 0 --gid 0 --bind R / --proc /proc --dev /dev /bin/true
#               (one id mapped: bwrap cannot call newuidmap)
#   minimal     bench/minimal.c (gcc -O2): clone with the 7 namespaces, shadow's
#               newuidmap+newgidmap by fork/exec from the parent (both at once, as burrow
#               does; `-s`: one after the other), pivot_root into R, mount proc, exec.
#               `-1`: one id mapped directly, no helper (the floor).
# On a hybrid cgroup host crun refuses to run while /sys/fs/cgroup/unified is visible, so
# everything (timings and memory) runs in one private mount namespace where that cgroup2 mount
# is covered by an empty read-only tmpfs. A control pass times the other commands in the host's
# mount namespace too, to show that the covering changes nothing for them.
#
# Peak memory: bench/peakrss.c, median of BENCH_RSS_RUNS (default 10) runs per command, two
# figures: "own" = VmHWM of the command's top process (for burrow: the `burrow` parent; the
# container's pid 1 is a clone of it that execs busybox), read at its exit through a ptrace
# exit stop; "tree" = ru_maxrss from wait4, the largest peak of any process in the waited-for
# tree (what /usr/bin/time -f %M prints; it includes the setuid helpers and the container's
# pid 1 before its exec).
#
# Writes between the run-bench markers of bench/RESULTS.md (the rest of that file is kept), or
# to BENCH_OUT. BENCH_NO_BUILD=1 skips the build (`cargo build --release --locked`, then
# scripts/build-helpers.sh for the static helpers) and the install (tests/install-helpers.sh)
# into BENCH_PREFIX (default /var/tmp/burrow-bench-prefix). BENCH_KEEP=1 keeps the scratch directory.
# BENCH_QUIET_WAIT (default 300) is how long to wait for the CPUs to go quiet before timing.
# BENCH_REV=COMMIT builds a clean export of that commit instead of the work tree.
set -euo pipefail

runs=${1:-100}
case $runs in '' | *[!0-9]*)
  echo "run.sh: RUNS must be a number" >&2
  exit 2
  ;;
esac
[ "$runs" -ge 30 ] || {
  echo "run.sh: RUNS must be at least 30" >&2
  exit 2
}
warmup=3
rss_runs=${BENCH_RSS_RUNS:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${BENCH_PREFIX:-/var/tmp/burrow-bench-prefix}
user=${BENCH_USER:-burrowbench}
out=${BENCH_OUT:-$top/bench/RESULTS.md}
burrow=$prefix/bin/burrow

die() {
  echo "run.sh: $*" >&2
  exit 1
}
say() { printf '\n== %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers, hides a cgroup mount, runs the peers as $user)"

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/newuidmap ] && [ -x /usr/bin/newgidmap ] || missing+=(uidmap)
command -v crun >/dev/null || missing+=(crun)
command -v lxc-execute >/dev/null || missing+=(lxc)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
echo '#include <sys/mount.h>' | gcc -E -x c - >/dev/null 2>&1 || missing+=(libc6-dev)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
for h in /usr/bin/newuidmap /usr/bin/newgidmap; do
  [ -u "$h" ] || die "$h is not setuid root"
done
busybox=/bin/busybox
case $(LC_ALL=C ldd "$busybox" 2>&1 || true) in
*'not a dynamic executable'*) ;;
*) die "$busybox is not statically linked (install busybox-static)" ;;
esac

# --- user and its subordinate ranges ---------------------------------------------------------
if ! id -u "$user" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)
first_range() { # FILE: "start count" of the user's first range, by name or uid
  awk -F: -v n="$user" -v u="$uid" '($1 == n || $1 == u) && NF == 3 { print $2, $3; exit }' "$1"
}
for f in /etc/subuid /etc/subgid; do
  if [ -z "$(first_range "$f")" ]; then
    # Debian's useradd normally gives one; if not, take 65536 ids above every existing range.
    s=$(awk -F: 'NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print (m < 100000 ? 100000 : m) }' /etc/subuid /etc/subgid)
    say "giving $user the range $s-$((s + 65535)) in $f"
    if [ "$f" = /etc/subuid ]; then
      usermod --add-subuids "$s-$((s + 65535))" "$user"
    else
      usermod --add-subgids "$s-$((s + 65535))" "$user"
    fi
  fi
done
read -r su_start su_count < <(first_range /etc/subuid)
read -r sg_start sg_count < <(first_range /etc/subgid)
# burrow maps the whole first range; every peer gets the same map.
umap="0 $uid 1 1 $su_start $su_count"
gmap="0 $gid 1 1 $sg_start $sg_count"

# --- build and install -------------------------------------------------------------------------
# BENCH_REV=REV builds a clean `git archive` export of that commit instead of the work tree
# (in /var/tmp/burrow-run-bench-src, target dir /var/tmp/burrow-run-bench-target).
src=$top
if [ -n "${BENCH_REV:-}" ] && [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  full_rev=$(git -C "$top" rev-parse --verify "${BENCH_REV}^{commit}") || die "BENCH_REV=$BENCH_REV is not a commit"
  src=/var/tmp/burrow-run-bench-src
  rm -rf "$src" && mkdir -p "$src"
  git -C "$top" archive "$full_rev" | tar -x -C "$src"
  export CARGO_TARGET_DIR=/var/tmp/burrow-run-bench-target
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  say "cargo build --release (in $src)"
  (cd "$src" && cargo build --release --locked --quiet)
  # The helpers as the project ships them (static); install-helpers.sh prefers that build.
  if [ -f "$src/scripts/build-helpers.sh" ]; then
    say "scripts/build-helpers.sh"
    bash "$src/scripts/build-helpers.sh" >/dev/null
  fi
  bash "$src/tests/install-helpers.sh" "$prefix"
fi
[ -x "$burrow" ] || die "$burrow is missing (run without BENCH_NO_BUILD)"
for h in burrow-newuidmap burrow-newgidmap; do
  [ -u "$prefix/bin/$h" ] || die "$prefix/bin/$h is missing or not setuid"
done

# --- scratch directory, owned by the user ------------------------------------------------------
work=$(mktemp -d /var/tmp/burrow-run-bench.XXXXXX)
cleanup() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "run.sh: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
chmod 0755 "$work"
case "$work$prefix" in *[[:space:]]*) die "paths with white space are not supported" ;; esac
rootfs=$work/rootfs

say "rootfs, bundles, programs in $work"
# busybox-static with one symlink per applet.
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
cp "$busybox" "$rootfs/bin/busybox"
for p in $("$busybox" --list-full); do
  [ -e "$rootfs/$p" ] || [ -L "$rootfs/$p" ] || ln -s /bin/busybox "$rootfs/$p"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

gcc -O2 -Wall -Wextra -Werror -o "$work/minimal" "$top/bench/minimal.c"
gcc -O2 -Wall -Wextra -Werror -o "$work/peakrss" "$top/bench/peakrss.c"

# crun: the rootless spec, run /bin/true in R (read-write, as for the others), plus a cgroup
# namespace (the others have one) and the full mappings (crun then runs newuidmap/newgidmap).
crun_bundle() { # DIR ARGS_JSON
  mkdir -p "$1"
  (cd "$1" && crun spec --rootless)
  python3 - "$1/config.json" "$2" "$rootfs" "$uid" "$su_start" "$su_count" "$gid" "$sg_start" "$sg_count" <<'EOF'
import json, sys
path, args, rootfs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
u, us, uc, g, gs, gc = map(int, sys.argv[4:10])
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"] = {"path": rootfs, "readonly": False}
if not any(n["type"] == "cgroup" for n in c["linux"]["namespaces"]):
    c["linux"]["namespaces"].append({"type": "cgroup"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u, "size": 1}, {"containerID": 1, "hostID": us, "size": uc}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": g, "size": 1}, {"containerID": 1, "hostID": gs, "size": gc}]
json.dump(c, open(path, "w"), indent=1)
EOF
}
probe='for n in user mnt pid ipc uts net cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map /proc/self/gid_map'
crun_bundle "$work/crun" '["/bin/true"]'
crun_bundle "$work/crun-probe" "$(python3 -c 'import json, sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$probe")"
mkdir -p "$work/crun-state" "$work/lxcpath"

# LXC: peers.md's working unprivileged configuration.
cat >"$work/lxc.conf" <<EOF
lxc.uts.name = rbench
lxc.rootfs.path = dir:$rootfs
lxc.idmap = u 0 $uid 1
lxc.idmap = u 1 $su_start $su_count
lxc.idmap = g 0 $gid 1
lxc.idmap = g 1 $sg_start $sg_count
lxc.net.0.type = empty
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.pty.max = 0
lxc.tty.max = 0
lxc.console.path = none
lxc.apparmor.profile = unconfined
EOF
chown -R "$user:" "$work"
chmod 0755 "$work/minimal" "$work/peakrss"

# The commands, by name. Words are split on spaces (hyperfine -N does the same).
names=(burrow crun lxc-execute bwrap minimal minimal-seq minimal-1id)
declare -A cmd=(
  [burrow]="$burrow run --rm --rootfs $rootfs /bin/true"
  [crun]="crun --root $work/crun-state run --bundle $work/crun rbench"
  [lxc-execute]="lxc-execute -P $work/lxcpath -n rbench -f $work/lxc.conf -- /bin/true"
  [bwrap]="bwrap --unshare-all --uid 0 --gid 0 --bind $rootfs / --proc /proc --dev /dev /bin/true"
  [minimal]="$work/minimal $rootfs"
  [minimal-seq]="$work/minimal -s $rootfs"
  [minimal-1id]="$work/minimal -1 $rootfs"
)
declare -A label=(
  [burrow]='burrow run --rm'
  [crun]='crun run (rootless bundle)'
  [lxc-execute]='lxc-execute (net empty)'
  [bwrap]='bwrap --unshare-all'
  [minimal]='minimal C, helpers at once'
  [minimal-seq]='minimal C, helpers one after the other'
  [minimal-1id]='minimal C, 1 id written directly (no helper)'
)
declare -A maps=(
  [burrow]=full [crun]=full [lxc-execute]=full [bwrap]='1 id' [minimal]=full [minimal-seq]=full [minimal-1id]='1 id'
)
declare -A probe_cmd=(
  [burrow]="$burrow run --rm --rootfs $rootfs /bin/sh -c"
  [crun]="crun --root $work/crun-state run --bundle $work/crun-probe rbench-probe"
  [lxc-execute]="lxc-execute -P $work/lxcpath -n rbench -f $work/lxc.conf -- /bin/sh -c"
  [bwrap]="bwrap --unshare-all --uid 0 --gid 0 --bind $rootfs / --proc /proc --dev /dev /bin/sh -c"
  [minimal]="$work/minimal $rootfs /bin/sh -c"
  [minimal-seq]="$work/minimal -s $rootfs /bin/sh -c"
  [minimal-1id]="$work/minimal -1 $rootfs /bin/sh -c"
)

# --- the environment: the user, and the cgroup2 mount covered if crun needs it ----------------
as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups --
  env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin LANG=C.UTF-8
  BURROW_HELPERS_DIR="$prefix/bin")
hidden=no
if [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2 ]; then
  hidden=yes
fi
in_bench_ns() { # run "$@" as the user in the benchmark's mount namespace
  if [ "$hidden" = yes ]; then
    unshare -m --propagation private sh -c \
      'mount -t tmpfs -o ro,size=4k none /sys/fs/cgroup/unified && exec "$@"' x "${as_user[@]}" "$@"
  else
    "${as_user[@]}" "$@"
  fi
}
in_host_ns() { "${as_user[@]}" "$@"; }

# --- sanity: every command makes the 7 namespaces and the expected map ------------------------
say "checking namespaces and id maps (as $user, uid $uid)"
host_ns=$(for n in user mnt pid ipc uts net cgroup; do readlink /proc/$$/ns/$n; done)
full_maps=$(printf '0 %s 1\n1 %s %s\n0 %s 1\n1 %s %s' "$uid" "$su_start" "$su_count" "$gid" "$sg_start" "$sg_count")
one_maps=$(printf '0 %s 1\n0 %s 1' "$uid" "$gid")
for n in "${names[@]}"; do
  # shellcheck disable=SC2086 # the command is a word list
  if [ "$n" = crun ]; then
    got=$(in_bench_ns ${probe_cmd[$n]} 2>"$work/err") || die "$n probe failed: $(cat "$work/err")"
  else
    got=$(in_bench_ns ${probe_cmd[$n]} "$probe" 2>"$work/err") || die "$n probe failed: $(cat "$work/err")"
  fi
  ns=$(printf '%s\n' "$got" | grep ':\[' || true)
  [ "$(printf '%s\n' "$ns" | wc -l)" = 7 ] || die "$n: expected 7 namespace links, got: $got"
  shared=$(comm -12 <(printf '%s\n' "$ns" | sort) <(printf '%s\n' "$host_ns" | sort))
  [ -z "$shared" ] || die "$n shares namespaces with the host: $shared"
  m=$(printf '%s\n' "$got" | grep -v ':\[' | awk '{ print $1, $2, $3 }')
  want=$full_maps
  [ "${maps[$n]}" = full ] || want=$one_maps
  [ "$m" = "$want" ] || die "$n: id maps are
$m
expected
$want"
  # shellcheck disable=SC2086
  in_bench_ns ${cmd[$n]} >/dev/null 2>&1 || die "$n: '${cmd[$n]}' failed"
  echo "  $n: 7 new namespaces, ${maps[$n]} map: ok" >&2
done

# --- timings -----------------------------------------------------------------------------------
cpu_busy() { # percentage of CPU time not idle over one second
  local a b
  a=($(head -n1 /proc/stat))
  sleep 1
  b=($(head -n1 /proc/stat))
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); t = 0
    for (i = 2; i <= n; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", t ? 100 * (t - idle) / t : 0 }'
}
# Other load shows up directly in these few-ms timings: wait (up to BENCH_QUIET_WAIT seconds,
# default 300, 0 = don't) for 5 seconds in a row with the CPUs under 10% busy.
quiet_wait=${BENCH_QUIET_WAIT:-300}
if [ "$quiet_wait" -gt 0 ]; then
  say "waiting up to ${quiet_wait}s for a quiet machine"
  waited=0 calm=0
  while [ "$waited" -lt "$quiet_wait" ] && [ "$calm" -lt 5 ]; do
    if [ "$(cpu_busy)" -lt 10 ]; then calm=$((calm + 1)); else calm=0; fi
    waited=$((waited + 1))
  done
  [ "$calm" -ge 5 ] || echo "run.sh: warning: still busy after ${quiet_wait}s, going on" >&2
fi
load_before=$(cut -d" " -f1-3 /proc/loadavg)
busy_before=$(cpu_busy)
[ "$busy_before" -le 10 ] || echo "run.sh: warning: the CPUs were ${busy_before}% busy before the run: expect noisy numbers" >&2

hf=(hyperfine -N --style basic --time-unit millisecond --warmup "$warmup" --runs "$runs")
hf_args=()
for n in "${names[@]}"; do hf_args+=(-n "$n" "${cmd[$n]}"); done
say "timing, $runs runs + $warmup warmup each (cgroup2 mount covered: $hidden)"
in_bench_ns "${hf[@]}" --export-csv "$work/time.csv" "${hf_args[@]}"

hf_args=()
control=()
for n in "${names[@]}"; do
  [ "$n" = crun ] && continue
  control+=("$n")
  hf_args+=(-n "$n" "${cmd[$n]}")
done
say "control: the same without crun, in the host's mount namespace"
in_host_ns "${hf[@]}" --export-csv "$work/control.csv" "${hf_args[@]}"
busy_after=$(cpu_busy)

# --- peak memory -------------------------------------------------------------------------------
say "peak RSS, $rss_runs runs each"
for n in "${names[@]}"; do
  : >"$work/rss-$n"
  chown "$user:" "$work/rss-$n"
  for _ in $(seq "$rss_runs"); do
    # shellcheck disable=SC2086
    in_bench_ns "$work/peakrss" "$work/rss-$n" ${cmd[$n]} >/dev/null 2>&1 || die "$n failed under peakrss"
  done
done
rss_median() { # FILE COLUMN
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
rss_range() { # FILE COLUMN
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'
}

# --- report --------------------------------------------------------------------------------------
med() { # CSV NAME: median in ms
  awk -F, -v n="$2" 'NR > 1 && $1 == n { printf "%.2f", $4 * 1000 }' "$1"
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
m_min=$(med "$work/time.csv" minimal)
m_crun=$(med "$work/time.csv" crun)
m_lxc=$(med "$work/time.csv" lxc-execute)
m_burrow=$(med "$work/time.csv" burrow)
table=$(
  echo "| command | maps | median ms | mean ± σ ms | min ms | × minimal C | × crun | × lxc-execute | own peak RSS KiB | tree peak RSS KiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${names[@]}"; do
    m=$(med "$work/time.csv" "$n")
    ms=$(awk -F, -v n="$n" 'NR > 1 && $1 == n { printf "%.2f ± %.2f | %.2f", $2 * 1000, $3 * 1000, $7 * 1000 }' "$work/time.csv")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${label[$n]}" "${maps[$n]}" "$m" "$ms" \
      "$(calc "$m / $m_min")" "$(calc "$m / $m_crun")" "$(calc "$m / $m_lxc")" \
      "$(rss_median "$work/rss-$n" 1)" "$(rss_median "$work/rss-$n" 2)"
  done
)
control_table=$(
  echo "| command | median ms, covered cgroup2 (above) | median ms, host mount namespace |"
  echo "|---|---:|---:|"
  for n in "${control[@]}"; do
    printf '| %s | %s | %s |\n' "${label[$n]}" "$(med "$work/time.csv" "$n")" "$(med "$work/control.csv" "$n")"
  done
)
rss_table=$(
  echo "| command | own: median (range) KiB | tree: median (range) KiB |"
  echo "|---|---:|---:|"
  for n in "${names[@]}"; do
    printf '| %s | %s (%s) | %s (%s) |\n' "${label[$n]}" "$(rss_median "$work/rss-$n" 1)" "$(rss_range "$work/rss-$n" 1)" \
      "$(rss_median "$work/rss-$n" 2)" "$(rss_range "$work/rss-$n" 2)"
  done
)
verdict() { # OK-CONDITION TEXT
  if awk "BEGIN { exit !($1) }"; then echo "met: $2"; else echo "**missed**: $2"; fi
}
r_min=$(calc "$m_burrow / $m_min")
r_crun=$(calc "$m_crun / $m_burrow")
r_lxc=$(calc "$m_lxc / $m_burrow")
own_b=$(rss_median "$work/rss-burrow" 1)
own_c=$(rss_median "$work/rss-crun" 1)
tree_b=$(rss_median "$work/rss-burrow" 2)
tree_c=$(rss_median "$work/rss-crun" 2)
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$top" diff --quiet HEAD -- crates helpers 2>/dev/null || rev="$rev with uncommitted changes in crates/ or helpers/"
if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
  rev="prebuilt (BENCH_NO_BUILD=1; the work tree is at $rev)"
elif [ "$src" != "$top" ]; then
  rev="built (\`cargo build --release\`, helpers with scripts/build-helpers.sh) from a clean \`git archive\` export of $(git -C "$top" rev-parse --short "$full_rev")"
else
  rev="built (\`cargo build --release\`, helpers with scripts/build-helpers.sh) from the work tree at $rev"
fi
linkage() { file -b "$1" 2>/dev/null | grep -o 'dynamically linked\|static-pie linked\|statically linked' | head -n 1; }
cmds=$(for n in "${names[@]}"; do echo "${cmd[$n]}"; done | sed "s#$work#\$W#g")

block=$(
  cat <<EOF
<!-- run-bench:begin (generated by bench/run.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, Linux $(uname -r), Debian $(cat /etc/debian_version); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after: ${busy_after}%
- burrow: $burrow, $rev, $(stat -c '%s bytes' "$burrow"), $(linkage "$burrow"); helpers $prefix/bin/burrow-new{u,g}idmap ($(stat -c '%s bytes, mode %a' "$prefix/bin/burrow-newuidmap"), $(linkage "$prefix/bin/burrow-newuidmap"))
- Peers: $(crun --version | head -n1), lxc $(lxc-execute --version), $(bwrap --version), shadow newuidmap from uidmap $(dpkg-query -W -f '${Version}' uidmap 2>/dev/null || echo '?'), minimal.c with $(gcc --version | head -n1) -O2
- rootfs: busybox-static $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo '?'), one symlink per applet, owned by $user
- $(hyperfine --version), \`-N\`, $runs runs + $warmup warmup per command, as $user (uid $uid) via \`setpriv\`, in a private mount namespace with /sys/fs/cgroup/unified covered by an empty read-only tmpfs (crun needs it on this hybrid host): $hidden
- Maps: full = uid \`$umap\`, gid \`$gmap\` (written by burrow's helpers for burrow, shadow's for the others); 1 id = \`0 $uid 1\` / \`0 $gid 1\`. Each command was checked first to create 7 new namespaces (user, mnt, pid, ipc, uts, net, cgroup) and the expected maps.

Timed commands (\`\$W\` = the scratch directory, rootfs \`\$W/rootfs\`; burrow runs with \`BURROW_HELPERS_DIR=$prefix/bin\`):

\`\`\`
$cmds
\`\`\`

| target | result |
|---|---|
| burrow within 1.2× of the minimal C program | $(verdict "$r_min <= 1.2" "$m_burrow / $m_min ms = ${r_min}×") |
| burrow at least 2× faster than crun | $(verdict "$r_crun >= 2" "crun / burrow = $m_crun / $m_burrow ms = ${r_crun}×") |
| burrow at least 2× faster than lxc-execute | $(verdict "$r_lxc >= 2" "lxc-execute / burrow = $m_lxc / $m_burrow ms = ${r_lxc}×") |
| burrow's peak RSS no larger than crun's | own process: $(verdict "$own_b <= $own_c" "$own_b vs $own_c KiB"); tree: $(verdict "$tree_b <= $tree_c" "$tree_b vs $tree_c KiB") |

$table

Ratios are of medians. "× minimal C" is against \`minimal\` (helpers run at once, as burrow runs
them). Peak RSS, median of $rss_runs runs (bench/peakrss.c): **own** = VmHWM of the command's
top process at its exit (burrow: the \`burrow\` parent, which clones the container and runs the
helpers; crun: the \`crun\` process; lxc-execute: the \`lxc-execute\` process, LXC's monitor;
bwrap: the outer \`bwrap\`; minimal: its parent). **tree** = \`ru_maxrss\` of the top process from
wait4, the largest peak of any process it waited for (what \`/usr/bin/time -f %M\` prints),
which includes the setuid helpers and the container's pid 1 before its exec.

$rss_table

Control (no crun, same session): timings in the host's mount namespace, without the covered
cgroup2 mount.

$control_table
<!-- run-bench:end -->
EOF
)
if [ -f "$out" ] && grep -q '^<!-- run-bench:begin' "$out"; then
  printf '%s\n' "$block" >"$work/block"
  awk -v f="$work/block" '
    /^<!-- run-bench:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /^<!-- run-bench:end/ { skip = 0; next }
    !skip' "$out" >"$work/out" && cat "$work/out" >"$out"
else
  { [ -f "$out" ] && printf '\n'
    printf '# Container start-up: `burrow run` against its peers (bench/run.sh)\n\n%s\n' "$block"; } >>"$out"
fi
echo
printf '%s\n' "$block"
echo "== written to $out"
