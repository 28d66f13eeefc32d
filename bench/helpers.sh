#!/usr/bin/env bash
# Per-call cost of shadow's /usr/bin/newuidmap versus burrow-newuidmap, with hyperfine.
#
#   bench/helpers.sh [RUNS]        (as root; RUNS timed calls per command, default 300)
#
# Both helpers are installed setuid root and run as the same unprivileged user (BENCH_USER,
# default burrowbench, created with useradd -m if missing; Debian's useradd gives it a subuid
# range). Each timed call maps a fresh target: hyperfine's --prepare starts `unshare -U sleep`
# as that user (untimed) and checks that the previous target really got its uid_map. The
# timed command is a minimal wrapper that reads the target pid and execs the helper:
#     dash -c 'read p <PIDFILE; exec HELPER $p 0 UID 1 1 SUBUID_START SUBUID_COUNT'
# and the same wrapper exec'ing /bin/true is measured too, so its cost can be subtracted.
# A call without arguments (fails early, exit 1) of each helper shows the startup cost alone.
#
# The medians are written between the bench markers of bench/RESULTS.md (the rest of that
# file is kept), or to BENCH_OUT. BENCH_NO_BUILD=1 skips the build (scripts/build-helpers.sh,
# the static helpers as shipped) and the install (tests/install-helpers.sh) into BENCH_PREFIX
# (default /var/tmp/burrow-bench-prefix).
# The parts shared with the other benchmarks (user, build, report) are in bench/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 300
warmup=$((runs / 10 + 5))
prefix=${BENCH_PREFIX:-/var/tmp/burrow-bench-prefix}
shadow=/usr/bin/newuidmap
burrow=$prefix/bin/burrow-newuidmap
calc_digits=3 # calc and med: µs resolution

[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers and runs them as $user)"

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x "$shadow" ] || missing+=(uidmap)
command -v dash >/dev/null || missing+=(dash)
install_missing "${missing[@]}"
[ -u "$shadow" ] || die "$shadow is not setuid root"

# --- user and its subuid range -----------------------------------------------------------------
setup_user
# First range of the user (by name or uid), shadow and burrow both accept it.
read -r sub_start sub_count < <(first_range /etc/subuid) ||
  die "$user has no range in /etc/subuid (usermod --add-subuids START-END $user)"
[ "$sub_count" -gt 65536 ] && sub_count=65536
map="0 $uid 1 1 $sub_start $sub_count"

# --- build and install ---------------------------------------------------------------------------
build_install helpers # static, as shipped
need_bins burrow-newuidmap:setuid

# --- scratch dir, owned by the user --------------------------------------------------------------
work=$(mktemp -d /var/tmp/burrow-bench.XXXXXX)
chmod 0755 "$work"
chown "$user:" "$work"
cleanup() {
  if [ -s "$work/pid" ]; then kill "$(cat "$work/pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# prepare.sh CHECK NEXT: CHECK=mapped: the previous target must have a uid_map now (so every
# timed helper call really wrote one); CHECK=any: no check. NEXT=new: start a fresh target
# (unshare -U sleep, pid in ./pid once it is in its new user namespace); NEXT=none: don't.
cat >"$work/prepare.sh" <<'EOF'
#!/bin/bash
set -eu
d=$(dirname "$0")
if [ -s "$d/pid" ]; then
  read -r old <"$d/pid"
  rm -f "$d/pid"
  if [ "$1" = mapped ] && [ -z "$(cat "/proc/$old/uid_map" 2>/dev/null)" ]; then
    echo "prepare: target $old has no uid_map: the timed call did not map it" >&2
    kill "$old" 2>/dev/null || true
    exit 1
  fi
  kill "$old" 2>/dev/null || true
fi
[ "$2" = new ] || exit 0
unshare -U sleep 600 </dev/null >/dev/null 2>&1 &
p=$!
# Wait until unshare has entered its new user namespace (no fork in this loop).
until [[ ! /proc/$p/ns/user -ef /proc/$$/ns/user ]]; do
  kill -0 "$p" 2>/dev/null || { echo "prepare: unshare -U failed" >&2; exit 1; }
done
echo "$p" >"$d/pid.new" && mv "$d/pid.new" "$d/pid"
EOF

as_user() {
  setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
    env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"
}

# Sanity: one real call of each, as the user, must succeed and produce the map.
for h in "$shadow" "$burrow"; do
  as_user bash "$work/prepare.sh" any new
  p=$(cat "$work/pid")
  # shellcheck disable=SC2086 # the map is a word list
  as_user "$h" "$p" $map || die "$h $p $map failed as $user"
  got=$(awk '{ printf "%s %s %s ", $1, $2, $3 }' "/proc/$p/uid_map")
  [ "$got" = "$map " ] || die "$h wrote '$got', expected '$map'"
done
as_user bash "$work/prepare.sh" any none

wrap() { # the timed command for helper $1
  echo "dash -c 'read p <$work/pid; exec $1 \$p $map'"
}
hf=(hyperfine -N --style basic --time-unit millisecond --warmup "$warmup" --runs "$runs")

load_before=$(cut -d" " -f1-3 /proc/loadavg)
echo "== mapping a fresh target ($runs runs each, $warmup warmup; as $user, map: $map)"
as_user "${hf[@]}" --export-csv "$work/map.csv" \
  --cleanup "bash $work/prepare.sh any none" \
  --prepare "bash $work/prepare.sh any new" -n wrapper+true "$(wrap /bin/true)" \
  --prepare "bash $work/prepare.sh mapped new" -n shadow "$(wrap "$shadow")" \
  --prepare "bash $work/prepare.sh mapped new" -n burrow "$(wrap "$burrow")"

echo "== failing early: no arguments (exit 1)"
as_user "${hf[@]}" -i --export-csv "$work/noargs.csv" \
  -n true /bin/true \
  -n shadow "$shadow" \
  -n burrow "$burrow"

# --- report --------------------------------------------------------------------------------------
row() { # csv name label
  awk -F, -v n="$2" -v l="$3" 'NR > 1 && $1 == n {
    printf "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", l, $4*1000, $2*1000, $3*1000, $7*1000, $8*1000 }' "$1"
}
m_true=$(med "$work/map.csv" wrapper+true)
m_shadow=$(med "$work/map.csv" shadow)
m_burrow=$(med "$work/map.csv" burrow)
n_true=$(med "$work/noargs.csv" true)
n_shadow=$(med "$work/noargs.csv" shadow)
n_burrow=$(med "$work/noargs.csv" burrow)
net_shadow=$(calc "$m_shadow - $m_true")
net_burrow=$(calc "$m_burrow - $m_true")
st_shadow=$(calc "$n_shadow - $n_true")
st_burrow=$(calc "$n_burrow - $n_true")
rev=$(built_from built)

block=$(
  cat <<EOF
<!-- bench:begin (generated by bench/helpers.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before
- shadow: $shadow from uidmap $(dpkg-query -W -f '${Version}' uidmap 2>/dev/null || echo '?'), $(stat -c '%s bytes, mode %a' "$shadow")
- burrow: $burrow, $rev, $(stat -c '%s bytes, mode %a' "$burrow"), $(linkage "$burrow")
- $(hyperfine --version), $runs runs + $warmup warmup per command, run as $user (uid $uid) via \`setpriv\`
- Map written: \`$map\` (own uid + the user's subuid range), a fresh \`unshare -U sleep\` target per call

Timed commands (\`hyperfine -N\`, target created by \`--prepare\`, untimed):

\`\`\`
$(wrap /bin/true)
$(wrap "$shadow")
$(wrap "$burrow")
/bin/true
$shadow          # no arguments: usage, exit 1
$burrow   # no arguments: usage, exit 1
\`\`\`

All times in ms.

| command | median | mean | stddev | min | max |
|---|---:|---:|---:|---:|---:|
$(row "$work/map.csv" wrapper+true 'wrapper + /bin/true')
$(row "$work/map.csv" shadow 'wrapper + shadow newuidmap (maps)')
$(row "$work/map.csv" burrow 'wrapper + burrow-newuidmap (maps)')
$(row "$work/noargs.csv" true '/bin/true')
$(row "$work/noargs.csv" shadow 'shadow newuidmap, no args')
$(row "$work/noargs.csv" burrow 'burrow-newuidmap, no args')

| per call (median) | shadow | burrow | burrow / shadow |
|---|---:|---:|---:|
| mapping, raw | $m_shadow | $m_burrow | $(calc "$m_burrow / $m_shadow") |
| mapping, minus wrapper+true | $net_shadow | $net_burrow | $(calc "$net_burrow / $net_shadow") |
| startup only (no args), minus /bin/true | $st_shadow | $st_burrow | $(calc "$st_burrow / $st_shadow") |
<!-- bench:end -->
EOF
)
# Keep whatever surrounds the markers in an existing report.
write_report '<!-- bench:begin' '<!-- bench:end' 'Helper benchmark results'
