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
# The parts shared with the other benchmarks (user, build, quiet wait, report) are in bench/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 100 30
warmup=3
rss_runs=${BENCH_RSS_RUNS:-10}
prefix=${BENCH_PREFIX:-/var/tmp/burrow-bench-prefix}
burrow=$prefix/bin/burrow

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
install_missing "${missing[@]}"
for h in /usr/bin/newuidmap /usr/bin/newgidmap; do
  [ -u "$h" ] || die "$h is not setuid root"
done
check_busybox

# --- user and its subordinate ranges ---------------------------------------------------------
setup_user
setup_subids
# burrow maps the whole first range; every peer gets the same map.
umap="0 $uid 1 1 $su_start $su_count"
gmap="0 $gid 1 1 $sg_start $sg_count"

# --- build and install -------------------------------------------------------------------------
build_install rev
need_bins burrow burrow-newuidmap:setuid burrow-newgidmap:setuid

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
make_rootfs "$rootfs"

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
# shellcheck disable=SC2016 # expanded by the container's shell
probe='for n in user mnt pid ipc uts net cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map /proc/self/gid_map'
crun_bundle "$work/crun" '["/bin/true"]'
crun_bundle "$work/crun-probe" "$(python3 -c 'import json, sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$probe")"
mkdir -p "$work/crun-state" "$work/lxcpath"

# LXC: peers.md's working unprivileged configuration.
lxc_conf "$work/lxc.conf" rbench 'lxc.net.0.type = empty'
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
cgroup2_hidden # in_bench_ns: the covered mount namespace if hidden=yes
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
wait_quiet
note_load

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

# --- report --------------------------------------------------------------------------------------
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
      "$(col_median "$work/rss-$n" 1)" "$(col_median "$work/rss-$n" 2)"
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
    printf '| %s | %s (%s) | %s (%s) |\n' "${label[$n]}" "$(col_median "$work/rss-$n" 1)" "$(col_range "$work/rss-$n" 1)" \
      "$(col_median "$work/rss-$n" 2)" "$(col_range "$work/rss-$n" 2)"
  done
)
r_min=$(calc "$m_burrow / $m_min")
r_crun=$(calc "$m_crun / $m_burrow")
r_lxc=$(calc "$m_lxc / $m_burrow")
own_b=$(col_median "$work/rss-burrow" 1)
own_c=$(col_median "$work/rss-crun" 1)
tree_b=$(col_median "$work/rss-burrow" 2)
tree_c=$(col_median "$work/rss-crun" 2)
rev=$(built_from "built (\`cargo build --release\`, helpers with scripts/build-helpers.sh)")
cmds=$(for n in "${names[@]}"; do echo "${cmd[$n]}"; done | sed "s#$work#\$W#g")

block=$(
  cat <<EOF
<!-- run-bench:begin (generated by bench/run.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after: ${busy_after}%
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
write_report '<!-- run-bench:begin' '<!-- run-bench:end' "Container start-up: \`burrow run\` against its peers (bench/run.sh)"
