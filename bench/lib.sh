# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # a library: it sets variables for the scripts and reads theirs
# What the benchmark scripts (helpers.sh, run.sh, lifecycle.sh, nic.sh, images.sh, ports.sh) share. Each sources it
# right after `set -euo pipefail`:
#     . "$(dirname "$0")/lib.sh"
# (`shellcheck bench/*.sh` follows it; alone, a script wants `shellcheck -x`.)
#
# Set when sourced:
#   me     the script's name (run.sh, ...): the prefix of its messages
#   top    the work tree (the parent of bench/)
#   user   BENCH_USER, default burrowbench: the unprivileged user every peer runs as
#   out    BENCH_OUT, default $top/bench/RESULTS.md: the report file
#
# Functions, with the variables each reads (set by the script) and sets:
#   die MSG...          "$me: MSG" on stderr, exit 1
#   say MSG...          a blank line and "== MSG" on stderr (progress)
#   parse_runs ARG DEFAULT [MIN]
#                       sets runs to ARG, or DEFAULT if ARG is empty; exits 2 with a message
#                       unless it is a number (and at least MIN)
#   install_missing [PKG...]
#                       apt-get install the packages, if any are given
#   check_busybox       sets busybox=/bin/busybox; dies unless it is statically linked
#   make_rootfs DIR     a busybox-static rootfs in DIR: /bin/busybox ($busybox), one symlink per
#                       applet, /etc/passwd and /etc/group with root only
#   setup_user          useradd -m -s /bin/bash $user if it is missing; sets uid, gid, home
#   first_range FILE    "start count" of $user's first range in FILE (/etc/subuid or /etc/subgid),
#                       by name or uid ($uid); nothing if it has none
#   setup_subids        gives $user a 65536-id subuid and subgid range above every existing one
#                       where it has none; sets su_start su_count (first subuid range) and
#                       sg_start sg_count (first subgid range)
#   build_install [rev] [helpers]
#                       unless BENCH_NO_BUILD=1: `cargo build --release --locked` (not with
#                       "helpers"), scripts/build-helpers.sh (the static helpers and front end, as
#                       shipped), tests/install-helpers.sh $prefix, sync. With "rev", BENCH_REV=
#                       COMMIT builds a clean `git archive` export of that commit in
#                       /var/tmp/burrow-run-bench-src (CARGO_TARGET_DIR=
#                       /var/tmp/burrow-run-bench-target) instead of the work tree. Sets src (the
#                       tree built from) and full_rev (the commit, or empty)
#   need_bins NAME[:setuid]...
#                       dies unless $prefix/bin/NAME is executable (with ":setuid": setuid)
#   built_from WHAT     the build, for a report: "prebuilt (BENCH_NO_BUILD=1; the work tree is at
#                       REV)", or "WHAT from the work tree at REV" / "WHAT from a clean `git
#                       archive` export of REV" (reads src, full_rev)
#   lxc_conf FILE NAME NET-LINE...
#                       writes peers.md's unprivileged LXC configuration (uts name NAME, rootfs
#                       $rootfs, idmap of $uid/$gid and the first ranges, the NET-LINEs)
#   cgroup2_hidden      sets hidden=yes if /sys/fs/cgroup/unified is a cgroup2 mount (a hybrid
#                       host, on which crun refuses to run while it is visible), else hidden=no
#   in_bench_ns CMD...  runs CMD as the user (the script's as_user array) in the benchmark's
#                       mount namespace: with hidden=yes a private one where that cgroup2 mount
#                       is covered by an empty read-only tmpfs, else the host's
#   cpu_busy            the percentage of CPU time not idle over one second
#   wait_quiet          waits up to BENCH_QUIET_WAIT (default 300, 0 = don't) seconds for 5 s in a
#                       row with the CPUs under 10% busy; warns if they never were
#   note_load           sets load_before (the load averages) and busy_before (cpu_busy); warns
#                       if busy_before is above 10%
#   machine             "CPU MODEL, N cores, Linux RELEASE, Debian VERSION", for the reports
#   linkage FILE        "dynamically linked", "static-pie linked" or "statically linked"
#   calc EXPR           awk's value of EXPR, with calc_digits (default 2) decimals
#   med CSV NAME        the median of command NAME in a hyperfine CSV, in ms (calc_digits)
#   col_median FILE COL, col_range FILE COL
#                       the median ("lo–hi": the range) of column COL of a file of numbers
#   verdict COND TEXT   "met: TEXT" if awk finds COND true, else "**missed**: TEXT"
#   kill_user_xdg       SIGKILLs, one pid at a time and up to three rounds, every process of $uid
#                       whose environment has XDG_RUNTIME_DIR=$xdg (podman's pause process, a late
#                       cleanup, burrow's monitors of the run)
#   set_policy PATH LINE...
#                       saves PATH into $save (the script's directory; had[PATH]=1, or 0 if it did
#                       not exist; `declare -A had` in the script) and writes it as a root-owned
#                       0644 file with a comment line and the LINEs, by rename
#   restore_file PATH   puts back what set_policy saved (or removes PATH if it did not exist)
#   del_bridge BR       deletes bridge BR and every link attached to it (reads ipbin)
#   leases_restore      under burrow-nic's lock ($nic_lock, 10 s at most), drops from $leases the
#                       subnet/nic lines of $uid or $ubr that are not in $save/leases-before; removes
#                       the file (and its directory) if the run made them (had_leases,
#                       had_leases_dir)
#   write_report BEGIN END TITLE
#                       puts $block (which starts with the line BEGIN... and ends with END...)
#                       in place of the lines from BEGIN to END of $out, keeping the rest of the
#                       file; if $out has no such line, appends "# TITLE" and $block to it
#                       (after a blank line if the file existed).
#                       Prints $block and where it went; $work holds the temporary files
#
# Other variables read: BENCH_NO_BUILD, BENCH_REV (build_install, built_from), BENCH_QUIET_WAIT
# (wait_quiet), prefix (build_install, need_bins), work (write_report).

me=${0##*/}
top=$(cd "$(dirname "$0")/.." && pwd)
user=${BENCH_USER:-burrowbench}
out=${BENCH_OUT:-$top/bench/RESULTS.md}

die() {
  echo "$me: $*" >&2
  exit 1
}
say() { printf '\n== %s\n' "$*" >&2; }

parse_runs() { # ARG DEFAULT [MIN]
  runs=${1:-$2}
  case $runs in '' | *[!0-9]*)
    echo "$me: RUNS must be a number" >&2
    exit 2
    ;;
  esac
  [ -z "${3:-}" ] || [ "$runs" -ge "$3" ] || {
    echo "$me: RUNS must be at least $3" >&2
    exit 2
  }
}

# --- tools -----------------------------------------------------------------------------------
install_missing() { # PKG...
  [ $# -gt 0 ] || return 0
  say "installing $*"
  if apt-get update -qq; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; fi
}
check_busybox() {
  busybox=/bin/busybox
  case $(LC_ALL=C ldd "$busybox" 2>&1 || true) in
  *'not a dynamic executable'*) ;;
  *) die "$busybox is not statically linked (install busybox-static)" ;;
  esac
}
make_rootfs() { # DIR
  local p
  mkdir -p "$1"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
  cp "$busybox" "$1/bin/busybox"
  for p in $("$busybox" --list-full); do
    [ -e "$1/$p" ] || [ -L "$1/$p" ] || ln -s /bin/busybox "$1/$p"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$1/etc/passwd"
  echo "root:x:0:" >"$1/etc/group"
}

# --- the user and its subordinate ranges ---------------------------------------------------------
setup_user() {
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$user"
  fi
  uid=$(id -u "$user")
  gid=$(id -g "$user")
  home=$(getent passwd "$user" | cut -d: -f6)
}
first_range() { # FILE
  awk -F: -v n="$user" -v u="$uid" '($1 == n || $1 == u) && NF == 3 { print $2, $3; exit }' "$1"
}
setup_subids() {
  local f s
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
}

# --- build and install -------------------------------------------------------------------------
build_install() { # [rev] [helpers]
  local opt with_rev=0 cargo=1
  for opt; do
    case $opt in
    rev) with_rev=1 ;;
    helpers) cargo=0 ;;
    *) die "build_install: unknown option $opt" ;;
    esac
  done
  src=$top
  full_rev=
  [ "${BENCH_NO_BUILD:-0}" != 1 ] || return 0
  if [ "$with_rev" = 1 ] && [ -n "${BENCH_REV:-}" ]; then
    full_rev=$(git -C "$top" rev-parse --verify "${BENCH_REV}^{commit}") || die "BENCH_REV=$BENCH_REV is not a commit"
    src=/var/tmp/burrow-run-bench-src
    rm -rf "$src" && mkdir -p "$src"
    git -C "$top" archive "$full_rev" | tar -x -C "$src"
    export CARGO_TARGET_DIR=/var/tmp/burrow-run-bench-target
  fi
  if [ "$cargo" = 1 ]; then
    say "cargo build --release (in $src)"
    (cd "$src" && cargo build --release --locked --quiet)
  fi
  # The helpers as the project ships them (static); install-helpers.sh prefers that build.
  if [ -f "$src/scripts/build-helpers.sh" ]; then
    say "scripts/build-helpers.sh"
    bash "$src/scripts/build-helpers.sh" >/dev/null
  fi
  bash "$src/tests/install-helpers.sh" "$prefix"
  sync
}
need_bins() { # NAME[:setuid]...
  local b
  for b; do
    case $b in
    *:setuid) [ -u "$prefix/bin/${b%:setuid}" ] || die "$prefix/bin/${b%:setuid} is missing or not setuid (run without BENCH_NO_BUILD)" ;;
    *) [ -x "$prefix/bin/$b" ] || die "$prefix/bin/$b is missing (run without BENCH_NO_BUILD)" ;;
    esac
  done
}
built_from() { # WHAT
  local rev
  rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$top" diff --quiet HEAD -- crates helpers 2>/dev/null || rev="$rev with uncommitted changes in crates/ or helpers/"
  if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
    echo "prebuilt (BENCH_NO_BUILD=1; the work tree is at $rev)"
  elif [ "$src" != "$top" ]; then
    echo "$1 from a clean \`git archive\` export of $(git -C "$top" rev-parse --short "$full_rev")"
  else
    echo "$1 from the work tree at $rev"
  fi
}

# --- LXC, and the benchmark's mount namespace ----------------------------------------------------
lxc_conf() { # FILE NAME NET-LINE...
  local f=$1 n=$2
  shift 2
  {
    cat <<EOF
lxc.uts.name = $n
lxc.rootfs.path = dir:$rootfs
lxc.idmap = u 0 $uid 1
lxc.idmap = u 1 $su_start $su_count
lxc.idmap = g 0 $gid 1
lxc.idmap = g 1 $sg_start $sg_count
EOF
    printf '%s\n' "$@"
    cat <<EOF
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.pty.max = 0
lxc.tty.max = 0
lxc.console.path = none
lxc.apparmor.profile = unconfined
EOF
  } >"$f"
}
cgroup2_hidden() {
  hidden=no
  if [ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2 ]; then
    hidden=yes
  fi
}
in_bench_ns() { # CMD...
  if [ "$hidden" = yes ]; then
    unshare -m --propagation private sh -c \
      'mount -t tmpfs -o ro,size=4k none /sys/fs/cgroup/unified && exec "$@"' x "${as_user[@]}" "$@"
  else
    "${as_user[@]}" "$@"
  fi
}

# --- a quiet machine -----------------------------------------------------------------------------
cpu_busy() {
  local a b
  read -r -a a < <(head -n1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n1 /proc/stat)
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); t = 0
    for (i = 2; i <= n; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", t ? 100 * (t - idle) / t : 0 }'
}
# Other load shows up directly in these few-ms timings.
wait_quiet() {
  local quiet_wait=${BENCH_QUIET_WAIT:-300} waited=0 calm=0
  [ "$quiet_wait" -gt 0 ] || return 0
  say "waiting up to ${quiet_wait}s for a quiet machine"
  while [ "$waited" -lt "$quiet_wait" ] && [ "$calm" -lt 5 ]; do
    if [ "$(cpu_busy)" -lt 10 ]; then calm=$((calm + 1)); else calm=0; fi
    waited=$((waited + 1))
  done
  [ "$calm" -ge 5 ] || echo "$me: warning: still busy after ${quiet_wait}s, going on" >&2
}
note_load() {
  load_before=$(cut -d" " -f1-3 /proc/loadavg)
  busy_before=$(cpu_busy)
  [ "$busy_before" -le 10 ] || echo "$me: warning: the CPUs were ${busy_before}% busy before the run: expect noisy numbers" >&2
}

# --- the report ----------------------------------------------------------------------------------
machine() {
  printf '%s, %s cores, Linux %s, Debian %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(nproc)" "$(uname -r)" "$(cat /etc/debian_version)"
}
linkage() { file -b "$1" 2>/dev/null | grep -o 'dynamically linked\|static-pie linked\|statically linked' | head -n 1; }
calc() { awk "BEGIN { printf \"%.${calc_digits:-2}f\", $1 }"; }
med() { # CSV NAME
  awk -F, -v n="$2" -v d="${calc_digits:-2}" 'NR > 1 && $1 == n { printf "%." d "f", $4 * 1000 }' "$1"
}
col_median() { # FILE COL
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
col_range() { # FILE COL
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'
}
verdict() { # COND TEXT
  if awk "BEGIN { exit !($1) }"; then echo "met: $2"; else echo "**missed**: $2"; fi
}
write_report() { # BEGIN END TITLE
  if [ -f "$out" ] && grep -q "^$1" "$out"; then
    printf '%s\n' "$block" >"$work/block"
    awk -v f="$work/block" -v b="$1" -v e="$2" '
      index($0, b) == 1 { while ((getline l < f) > 0) print l; skip = 1; next }
      index($0, e) == 1 { skip = 0; next }
      !skip' "$out" >"$work/out" && cat "$work/out" >"$out"
  else
    if [ -f "$out" ]; then printf '\n' >>"$out"; fi
    printf '# %s\n\n%s\n' "$3" "$block" >>"$out"
  fi
  echo
  printf '%s\n' "$block"
  echo "== written to $out"
}

# as_user: the command prefix that runs as the bench user with a clean environment, its
# private XDG directories and podman's configuration under $work (uid gid user home prefix
# xdg work must be set).
set_as_user() {
  as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups --
    env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8
    BURROW_HELPERS_DIR="$prefix/bin" XDG_RUNTIME_DIR="$xdg" XDG_DATA_HOME="$work/data"
    XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" CONTAINERS_CONF="$work/containers.conf")
}

# As the bench user (as_user), in a private mount namespace with / rshared (what podman
# expects).
u() {
  unshare -m --propagation unchanged sh -c 'mount --make-rshared / && exec "$@"' x "${as_user[@]}" "$@"
}

# The bench user's private XDG directories under $work (0700; $xdg, data, config, cache) and
# podman's configuration for a host without systemd (peers.md): cgroupfs, file events.
user_dirs() {
  mkdir -m 0700 "$xdg" "$work/data" "$work/config" "$work/cache"
  cat >"$work/containers.conf" <<'EOF'
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

# At exit: removes $work, or keeps it with BENCH_KEEP=1 and says so.
drop_work() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "$me: kept $work" >&2
  else
    rm -rf "$work"
  fi
}

kill_user_xdg() {
  local p
  local -a found
  for _ in 1 2 3; do
    found=()
    for p in /proc/[0-9]*; do
      [ "$(stat -c %u "$p" 2>/dev/null)" = "$uid" ] || continue
      { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$xdg" || continue
      found+=("${p#/proc/}")
    done
    [ ${#found[@]} -eq 0 ] && break
    for p in "${found[@]}"; do kill -KILL "$p" 2>/dev/null; done
    sleep 1
  done
}

# shellcheck disable=SC2004 # had is the script's associative array (keys are paths)
set_policy() { # PATH LINE...
  local f=$1
  shift
  if [ -e "$f" ]; then
    cp -a "$f" "$save/$(echo "$f" | tr / _)"
    had[$f]=1
  else
    had[$f]=0
  fi
  install -d -o root -g root -m 0755 "$(dirname "$f")"
  printf '# bench/%s (temporary; the original is restored at exit)\n' "$me" >"$f.bench-new"
  printf '%s\n' "$@" >>"$f.bench-new"
  chown root:root "$f.bench-new" && chmod 0644 "$f.bench-new" && mv -f "$f.bench-new" "$f"
}

restore_file() { # PATH
  local f=$1 b
  b=$save/$(echo "$1" | tr / _)
  if [ "${had[$f]:-}" = 1 ]; then
    cp -a "$b" "$f.bench-restore" && mv -f "$f.bench-restore" "$f"
  elif [ "${had[$f]:-}" = 0 ]; then
    rm -f "$f"
  fi
}

del_bridge() { # BR
  local l
  for l in $("$ipbin" -o link show master "$1" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    "$ipbin" link del "$l" 2>/dev/null
  done
  "$ipbin" link del "$1" 2>/dev/null
}

leases_restore() {
  [ -f "$leases" ] && [ -f "$nic_lock" ] || return 0
  if exec 9<"$nic_lock" && flock -w 10 9; then
    awk -v u="$uid" -v b="$ubr" 'FNR == NR { keep[$0] = 1; next }
      !(($1 == "subnet" || $1 == "nic") && ($2 == u || $2 == b) && !($0 in keep))' "$save/leases-before" "$leases" >"$save/leases-new" &&
      cat "$save/leases-new" >"$leases"
    if [ "$had_leases" = 0 ] && ! grep -qv '^#' "$leases"; then
      rm -f "$leases"
      [ "$had_leases_dir" = 1 ] || rmdir "${leases%/*}" 2>/dev/null
    fi
    exec 9<&-
  else
    echo "$me: could not take $nic_lock: the lines of uid $uid in $leases are left" >&2
  fi
}
