#!/usr/bin/env bash
# Detached containers against their peers, in one run, on one busybox-static rootfs, as one
# unprivileged user:
#   1. exec latency (hyperfine -N): one /bin/true in a running container by
#        burrow      PREFIX/bin/burrow exec NAME /bin/true (a `burrow run -d` container)
#        lxc-attach  lxc-attach -n NAME -P LXCPATH -- /bin/true (an unprivileged `lxc-start -d`
#                    container, peers.md's configuration, lxc.init.cmd = /bin/sleep 100000)
#        podman      podman exec NAME /bin/true (rootless `podman run -d --network none --rootfs R`,
#                    --runtime runc, cgroup_manager=cgroupfs, events_logger=file)
#        nsenter     nsenter -t PID -U -m -u -i -n -p --preserve-credentials /bin/true, PID = the
#                    burrow container's pid 1 (the floor: join and exec, nothing else)
#   2. the memory of the process that babysits each detached container: VmRSS, VmHWM, RssAnon,
#      RssFile and Pss of burrow's monitor (with and without -t), conmon and LXC's
#      "[lxc monitor]", median of BENCH_MEM_N (5) idle containers of each, and a per-mapping
#      breakdown of one of each.
#
#   bench/lifecycle.sh [RUNS]   (as root; RUNS timed runs per command, default 100, at least 30)
#
# Every container runs /bin/sleep 100000 as BENCH_USER (default burrowbench; created with
# useradd -m and given a subuid/subgid range if needed) with the user's full first range mapped.
# The user commands run in private mount namespaces whose / is made rshared (podman expects a
# shared /, as in tests/tests/interop.rs), with a private XDG_RUNTIME_DIR, XDG_DATA_HOME,
# XDG_CONFIG_HOME and XDG_CACHE_HOME (0700, the user's: burrow's state and its container
# configurations, podman's CNI lock), podman's storage and
# LXC's lxcpath in the scratch directory and CONTAINERS_CONF pointing at a scratch
# containers.conf (the user's home is not touched).
#
# Writes between the lifecycle-bench markers of bench/RESULTS.md (the rest of the file is
# kept), or to BENCH_OUT. BENCH_NO_BUILD=1 skips the build (`cargo build --release --locked`,
# scripts/build-helpers.sh) and the install (tests/install-helpers.sh) into BENCH_PREFIX
# (default /var/tmp/burrow-lc-bench-prefix). BENCH_QUIET_WAIT (default 300) is how long to
# wait for idle CPUs before timing. BENCH_SETTLE (default 2) is how many seconds the containers
# sit idle before their monitors' memory is read. BENCH_KEEP=1 keeps the scratch directory.
# Every container and process the run starts is removed at exit (trap).
# The parts shared with the other benchmarks (user, build, quiet wait, report) are in bench/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 100 30
warmup=3
mem_n=${BENCH_MEM_N:-5}
settle=${BENCH_SETTLE:-2}
prefix=${BENCH_PREFIX:-/var/tmp/burrow-lc-bench-prefix}
burrow=$prefix/bin/burrow

[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers and runs the peers as $user)"
case $mem_n in '' | *[!0-9]* | 0) die "BENCH_MEM_N must be a positive number" ;; esac

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/newuidmap ] && [ -x /usr/bin/newgidmap ] || missing+=(uidmap)
command -v lxc-start >/dev/null || missing+=(lxc)
command -v podman >/dev/null || missing+=(podman)
command -v conmon >/dev/null || missing+=(conmon)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v nsenter >/dev/null || missing+=(util-linux)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
install_missing "${missing[@]}"
check_busybox

# --- user and its subordinate ranges (as bench/run.sh) -----------------------------------------
setup_user
setup_subids
# podman maps exactly 65536 ids; every runtime gets the same map.
if [ "$su_count" != 65536 ] || [ "$sg_count" != 65536 ]; then
  die "$user's first subuid/subgid ranges must hold 65536 ids (podman's map), not $su_count/$sg_count"
fi
full_map=$(printf '0 %s 1\n1 %s %s' "$uid" "$su_start" "$su_count")

# --- build and install ---------------------------------------------------------------------------
build_install
need_bins burrow burrow-newuidmap:setuid burrow-newgidmap:setuid

# --- scratch directory, owned by the user ----------------------------------------------------------
work=$(mktemp -d /var/tmp/burrow-lc-bench.XXXXXX)
chmod 0755 "$work"
case "$work$prefix" in *[[:space:]]*) die "paths with white space are not supported" ;; esac
rootfs=$work/rootfs
xdg=$work/xdg
lxcpath=$work/lxcpath
pargs="--root $work/podman/storage --runroot $work/podman/run --runtime runc"

set_as_user

# What was started, for the cleanup.
started_burrow=()
started_lxc=()
started_podman=()
cleanup() {
  local rc=$? n p
  set +e
  trap - EXIT INT TERM
  say "cleaning up"
  [ ${#started_burrow[@]} -eq 0 ] || u "$burrow" rm -f "${started_burrow[@]}" >/dev/null 2>&1
  for n in "${started_lxc[@]}"; do
    u lxc-stop -k -n "$n" -P "$lxcpath" >/dev/null 2>&1
  done
  # shellcheck disable=SC2086 # pargs is a word list
  [ ${#started_podman[@]} -eq 0 ] || u podman $pargs rm -f -t 0 "${started_podman[@]}" >/dev/null 2>&1
  # podman's pause process (catatonit), then anything else still running with our private
  # XDG_RUNTIME_DIR in its environment (a late `podman container cleanup`, a monitor): one by
  # one, by pid, and only processes of the user.
  kill_user_xdg
  drop_work
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "rootfs and configurations in $work"
make_rootfs "$rootfs"
mkdir -p "$lxcpath" "$work/podman"
user_dirs
# LXC: peers.md's working unprivileged configuration; lxc-start runs lxc.init.cmd as pid 1.
lxc_conf "$work/lxc.conf" lcbench 'lxc.net.0.type = empty'
echo 'lxc.init.cmd = /bin/sleep 100000' >>"$work/lxc.conf"
chown -R "$user:" "$work"

# --- start BENCH_MEM_N idle containers of each kind ----------------------------------------------
ppid_of() { awk '{ print $4 }' "/proc/$1/stat"; }
json_num() { # KEY: the number after "KEY": in burrow inspect's JSON on stdin
  grep -o "\"$1\": *[0-9]*" | head -n 1 | grep -o '[0-9]*$'
}
declare -A cpid mpid # container name -> its pid 1 / its monitor, as seen from the host
kinds=(burrow burrow-t conmon lxc)
declare -A kname=([burrow]=lcb [burrow-t]=lct [conmon]=lcp [lxc]=lcl)
say "starting $mem_n idle containers of each kind (/bin/sleep 100000)"
for i in $(seq "$mem_n"); do
  n=lcb-$i
  started_burrow+=("$n")
  u "$burrow" run -d --name "$n" --rootfs "$rootfs" /bin/sleep 100000 >/dev/null || die "burrow run -d $n failed"
  n=lct-$i
  started_burrow+=("$n")
  u "$burrow" run -d -t --name "$n" --rootfs "$rootfs" /bin/sleep 100000 </dev/null >/dev/null || die "burrow run -d -t $n failed"
  n=lcl-$i
  started_lxc+=("$n")
  u lxc-start -n "$n" -P "$lxcpath" -f "$work/lxc.conf" -d -o "$work/$n.log" -l WARN || die "lxc-start $n failed: $(cat "$work/$n.log")"
  u lxc-wait -n "$n" -P "$lxcpath" -s RUNNING -t 10 || die "$n is not RUNNING"
  n=lcp-$i
  started_podman+=("$n")
  # shellcheck disable=SC2086
  u podman $pargs run -d --name "$n" --network none --rootfs "$rootfs" /bin/sleep 100000 >/dev/null 2>"$work/err" ||
    die "podman run -d $n failed: $(cat "$work/err")"
done
for i in $(seq "$mem_n"); do
  for n in "lcb-$i" "lct-$i"; do
    js=$(u "$burrow" inspect "$n")
    cpid[$n]=$(printf '%s\n' "$js" | json_num pid)
    mpid[$n]=$(printf '%s\n' "$js" | json_num monitor_pid)
    [ "$(cat "/proc/${mpid[$n]}/comm")" = burrow ] || die "$n: monitor ${mpid[$n]} is not burrow"
  done
  n=lcl-$i
  cpid[$n]=$(u lxc-info -n "$n" -P "$lxcpath" -p -H)
  mpid[$n]=$(ppid_of "${cpid[$n]}")
  case $(tr '\0' ' ' <"/proc/${mpid[$n]}/cmdline") in
  '[lxc monitor]'*) ;;
  *) die "$n: the parent of its pid 1 (${mpid[$n]}) is not '[lxc monitor]'" ;;
  esac
  n=lcp-$i
  # shellcheck disable=SC2086
  pm=$(u podman $pargs inspect -f '{{.State.Pid}} {{.State.ConmonPid}}' "$n")
  cpid[$n]=${pm% *}
  mpid[$n]=${pm#* }
  [ "$(cat "/proc/${mpid[$n]}/comm")" = conmon ] || die "$n: ${mpid[$n]} is not conmon"
done
for n in "${!cpid[@]}"; do
  [ "$(ppid_of "${cpid[$n]}")" = "${mpid[$n]}" ] || die "$n: the monitor ${mpid[$n]} is not the parent of ${cpid[$n]}"
  [ "$(cat "/proc/${cpid[$n]}/comm")" = sleep ] || die "$n: pid ${cpid[$n]} is not the sleep"
done

# --- the exec commands, checked first ------------------------------------------------------------
names=(nsenter burrow lxc-attach podman)
tp=${cpid[lcb-1]}
declare -A cmd=(
  [nsenter]="nsenter -t $tp -U -m -u -i -n -p --preserve-credentials"
  [burrow]="$burrow exec lcb-1"
  [lxc-attach]="lxc-attach -n lcl-1 -P $lxcpath --"
  [podman]="podman $pargs exec lcp-1"
)
declare -A target=([nsenter]=lcb-1 [burrow]=lcb-1 [lxc-attach]=lcl-1 [podman]=lcp-1)
declare -A label=(
  [nsenter]='nsenter into the burrow container (floor)'
  [burrow]='burrow exec'
  [lxc-attach]='lxc-attach'
  [podman]='podman exec (runc)'
)
# shellcheck disable=SC2016 # expanded by the container's shell
probe='for n in user mnt pid ipc uts net; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map; id -u'
say "checking each exec command: the namespaces of the target's pid 1, the full map, uid 0"
for n in "${names[@]}"; do
  p=${cpid[${target[$n]}]}
  want=$(for s in user mnt pid ipc uts net; do readlink "/proc/$p/ns/$s"; done)
  want=$(printf '%s\n%s\n0' "$want" "$full_map")
  # shellcheck disable=SC2086 # the command is a word list
  got=$(u ${cmd[$n]} /bin/sh -c "$probe" 2>"$work/err") || die "$n probe failed: $(cat "$work/err")"
  got=$(printf '%s\n' "$got" | awk '{ $1 = $1; print }')
  [ "$got" = "$want" ] || die "$n: the probe printed
$got
expected
$want"
  # shellcheck disable=SC2086
  u ${cmd[$n]} /bin/true >/dev/null 2>&1 || die "$n: '${cmd[$n]} /bin/true' failed"
  echo "  $n: in ${target[$n]}'s 6 namespaces, full map, uid 0: ok" >&2
done

# --- monitor memory ----------------------------------------------------------------------------------
say "monitor memory after ${settle}s idle"
sleep "$settle"
mem_of() { # PID: VmRSS VmHWM RssAnon RssFile Pss Private (KiB)
  local a
  a=$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ { v[$1] = $2 }
    END { print v["VmRSS:"], v["VmHWM:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$1/status")
  echo "$a $(awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 } END { print p, u }' "/proc/$1/smaps_rollup")"
}
for k in "${kinds[@]}"; do
  : >"$work/mem-$k"
  for i in $(seq "$mem_n"); do
    mem_of "${mpid[${kname[$k]}-$i]}" >>"$work/mem-$k"
  done
done
# Resident KiB per mapping of monitor #1 of each kind: file (basename) or [heap]/[stack]/[anon],
# split by permissions.
smaps_table() { # PID
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / {
      perm = substr($2, 1, 3)
      name = (NF >= 6) ? $6 : "[anon]"
      if (name ~ /^\//) { k = split(name, parts, "/"); name = parts[k] }
      if (perm == "r-x") col = 1; else if (perm == "r--") col = 2; else if (perm == "rw-") col = 3; else col = 4
      next
    }
    /^Rss:/ {
      if ($2 == 0) next
      if (!(name in seen)) { seen[name] = 1; order[++n] = name }
      r[name, col] += $2; tot[name] += $2; all += $2; c[col] += $2
    }
    END {
      print "| mapping | r-x | r-- | rw- | other | total |"
      print "|---|---:|---:|---:|---:|---:|"
      for (i = 1; i <= n; i++) {
        m = order[i]
        printf "| %s | %d | %d | %d | %d | %d |\n", m, r[m, 1], r[m, 2], r[m, 3], r[m, 4], tot[m]
      }
      printf "| **total** | %d | %d | %d | %d | **%d** |\n", c[1], c[2], c[3], c[4], all
    }' "/proc/$1/smaps"
}
declare -A smaps
for k in burrow conmon lxc; do
  smaps[$k]=$(smaps_table "${mpid[${kname[$k]}-1]}")
done

# --- timings ---------------------------------------------------------------------------------------
wait_quiet
note_load

# podman last: each `podman exec` leaves a `podman container cleanup` behind (conmon's exit
# command) that runs for a while after the exec returned.
hf_args=()
for n in "${names[@]}"; do hf_args+=(-n "$n" "${cmd[$n]} /bin/true"); done
say "timing, $runs runs + $warmup warmup each"
u hyperfine -N --style basic --time-unit millisecond --warmup "$warmup" --runs "$runs" \
  --export-csv "$work/time.csv" "${hf_args[@]}"
busy_after=$(cpu_busy)

# --- report --------------------------------------------------------------------------------------------
m_b=$(med "$work/time.csv" burrow)
m_l=$(med "$work/time.csv" lxc-attach)
m_p=$(med "$work/time.csv" podman)
m_n=$(med "$work/time.csv" nsenter)
time_table=$(
  echo "| command | median ms | mean ± σ ms | min ms | above the floor ms | burrow / this |"
  echo "|---|---:|---:|---:|---:|---:|"
  for n in "${names[@]}"; do
    m=$(med "$work/time.csv" "$n")
    ms=$(awk -F, -v n="$n" 'NR > 1 && $1 == n { printf "%.2f ± %.2f | %.2f", $2 * 1000, $3 * 1000, $7 * 1000 }' "$work/time.csv")
    printf '| %s | %s | %s | %s | %s |\n' "${label[$n]}" "$m" "$ms" "$(calc "$m - $m_n")" "$(calc "$m_b / $m")"
  done
)
# shellcheck disable=SC2016 # Markdown code spans, not expansions
declare -A klabel=(
  [burrow]='burrow monitor (`run -d`)'
  [burrow-t]='burrow monitor (`run -d -t`)'
  [conmon]='conmon (podman)'
  [lxc]='[lxc monitor] (lxc-start -d)'
)
r_b=$(col_median "$work/mem-burrow" 1)
r_t=$(col_median "$work/mem-burrow-t" 1)
r_c=$(col_median "$work/mem-conmon" 1)
r_l=$(col_median "$work/mem-lxc" 1)
mem_table=$(
  echo "| monitor | VmRSS KiB median (range) | VmHWM | RssAnon | RssFile | Pss | Private | burrow / this | burrow -t / this |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for k in "${kinds[@]}"; do
    f=$work/mem-$k
    r=$(col_median "$f" 1)
    printf '| %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n' "${klabel[$k]}" "$r" "$(col_range "$f" 1)" \
      "$(col_median "$f" 2)" "$(col_median "$f" 3)" "$(col_median "$f" 4)" "$(col_median "$f" 5)" "$(col_median "$f" 6)" \
      "$(calc "$r_b / $r")" "$(calc "$r_t / $r")"
  done
)
answer() { # OK-CONDITION TEXT
  if awk "BEGIN { exit !($1) }"; then echo "yes: $2"; else echo "**no**: $2"; fi
}
rev=$(built_from "built (\`cargo build --release --locked\`, scripts/build-helpers.sh)")
cmds=$(for n in "${names[@]}"; do echo "${cmd[$n]} /bin/true"; done | sed "s#$work#\$W#g")

block=$(
  cat <<EOF
<!-- lifecycle-bench:begin (generated by bench/lifecycle.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after: ${busy_after}%
- burrow: $burrow, $rev, $(stat -c '%s bytes' "$burrow"), $(linkage "$burrow")
- Peers: $(podman --version) with $(runc --version | head -n1) and $(conmon --version | head -n1), lxc $(lxc-start --version), $(nsenter --version)
- rootfs: busybox-static $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo '?'), one symlink per applet, owned by $user; every container runs \`/bin/sleep 100000\` with the map \`$(echo "$full_map" | tr '\n' ' ')\` (and the same for gids)
- As $user (uid $uid) via \`setpriv\`, in private mount namespaces with / rshared, XDG_RUNTIME_DIR, XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME = fresh 0700 directories of the user's; podman: \`--root/--runroot\` in the scratch directory, \`--runtime runc\`, \`cgroup_manager = "cgroupfs"\`, \`events_logger = "file"\`; LXC: peers.md's unprivileged configuration + \`lxc.init.cmd = /bin/sleep 100000\`, \`lxc-start -d\`
- $(hyperfine --version), \`-N\`, $runs runs + $warmup warmup per command. Each command was first checked to run in the namespaces (user, mnt, pid, ipc, uts, net) of its container's pid 1 with the full map as uid 0.

Timed commands (\`\$W\` = the scratch directory; burrow with \`BURROW_HELPERS_DIR=$prefix/bin\`):

\`\`\`
$cmds
\`\`\`

| question | answer |
|---|---|
| \`burrow exec\` faster than \`lxc-attach\` | $(answer "$m_b <= $m_l" "$m_b vs $m_l ms, ×$(calc "$m_b / $m_l")") |
| \`burrow exec\` faster than \`podman exec\` | $(answer "$m_b <= $m_p" "$m_b vs $m_p ms, ×$(calc "$m_b / $m_p")") |
| burrow's monitor smaller than conmon (VmRSS) | $(answer "$r_b <= $r_c" "$r_b vs $r_c KiB, ×$(calc "$r_b / $r_c")"); with \`-t\`: $(answer "$r_t <= $r_c" "$r_t KiB, ×$(calc "$r_t / $r_c")") |
| burrow's monitor smaller than LXC's (VmRSS) | $(answer "$r_b <= $r_l" "$r_b vs $r_l KiB, ×$(calc "$r_b / $r_l")"); with \`-t\`: $(answer "$r_t <= $r_l" "$r_t KiB, ×$(calc "$r_t / $r_l")") |

### Exec latency

$time_table

"above the floor" = median − the nsenter median; "burrow / this" = burrow exec's median ÷ this
median (below 1: burrow is faster).

### Monitor memory

Median over $mem_n idle containers of each kind, read ${settle}s after the last one started, before
any exec, from /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile) and /proc/PID/smaps_rollup (Pss:
pages shared with other processes, such as the other monitors, counted in part; Private =
Private_Clean + Private_Dirty, the pages only this process maps, about what one more container
adds). The ratios are of VmRSS medians.

$mem_table

Resident KiB per mapping, monitor #1 of each kind (/proc/PID/smaps):

burrow (\`run -d\`):

${smaps[burrow]}

conmon:

${smaps[conmon]}

[lxc monitor]:

${smaps[lxc]}
<!-- lifecycle-bench:end -->
EOF
)
write_report '<!-- lifecycle-bench:begin' '<!-- lifecycle-bench:end' 'Detached containers: exec latency and monitor memory (bench/lifecycle.sh)'
