#!/usr/bin/env bash
# Images: pull, unpack, start-up from an image, per-container disk use and the peak memory of a
# pull, burrow against its peers measured in the same run (issue 12, "Speed and memory").
#
#   bench/images.sh [RUNS]     (as root; RUNS timed runs per pull and unpack command, default 10,
#                               at least 3)
#
# Everything runs as BENCH_USER (default burrowbench; useradd -m if missing, subordinate ranges
# from `burrow admin add-user`) through setpriv, with private XDG_* directories in the scratch
# directory, in a private mount namespace whose / is rshared (podman expects a shared /).
# The images come from a docker-registry (Debian's package) on 127.0.0.1, plain HTTP:
#   debian   `debootstrap --variant=minbase bookworm` from deb.debian.org (the rootfs tarball is
#            cached in BENCH_CACHE, default /var/tmp/burrow-bench-cache, keyed by the UTC date),
#            one gzip layer in an OCI layout, pushed with skopeo
#   big      one uncompressed layer holding one file of BENCH_BIG_MB (1024) MiB of random data
#            (made once, cached by size), for the peak memory of a pull
# Measured:
#   1. pull: `burrow pull` (storage wiped before every run, hyperfine --prepare) against rootless
#      `podman pull` (`podman rmi -a -f` before every run) and `skopeo copy docker://... dir:D`
#      (transfer and digest checks only, no unpack). Goal: burrow <= 0.5x podman.
#   2. unpack: `burrow image import` of the OCI layout (gunzip, hash, unpack, chown) and of the
#      rootfs tarball (hash, unpack, chown) against `tar -xzf` of the same gzip layer and
#      `tar -xf` of the same tarball into a fresh directory (the floor). Goal <= 1.3x.
#   3. start-up: `burrow run --rm IMAGE /bin/true` against `burrow run --rm --rootfs DIR
#      /bin/true` (DIR = the same Debian tree) (goal <= 1.3x) and `podman run --rm IMAGE
#      /bin/true` (goal: burrow >= 10x faster). BENCH_START_RUNS (default 50) runs each.
#   4. BENCH_CONTAINERS (100) containers of the image (`burrow create`): disk used besides the
#      image, du before/after. Goal < N x 64 KiB. Then `burrow rm`.
#   5. peak RSS of a pull of the big image (bench/peakrss.c, BENCH_RSS_RUNS (3) runs each;
#      burrow, podman, skopeo). Goal: burrow < 64 MiB.
# Writes between the images-bench markers of bench/RESULTS.md (the rest of the file is kept), or
# BENCH_OUT. BENCH_NO_BUILD=1 skips the build and install into BENCH_PREFIX (default
# /var/tmp/burrow-img-bench-prefix); BENCH_REV=COMMIT builds a clean export of that commit.
# BENCH_KEEP=1 keeps the scratch directory. BENCH_QUIET_WAIT (300) as in the other scripts.
# Everything the run starts (the registry, containers, podman's storage and pause process) is
# removed at exit, also on failure (trap). The cache stays.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" # me top user out, die say, ...

parse_runs "${1:-}" 10 3
warmup=1
start_runs=${BENCH_START_RUNS:-50}
n_ctr=${BENCH_CONTAINERS:-100}
rss_runs=${BENCH_RSS_RUNS:-3}
big_mb=${BENCH_BIG_MB:-1024}
cache=${BENCH_CACHE:-/var/tmp/burrow-bench-cache}
mirror=${BENCH_MIRROR:-http://deb.debian.org/debian}
prefix=${BENCH_PREFIX:-/var/tmp/burrow-img-bench-prefix}
burrow=$prefix/bin/burrow
for v in "$start_runs" "$n_ctr" "$rss_runs" "$big_mb"; do
  case $v in '' | *[!0-9]* | 0) die "BENCH_START_RUNS, BENCH_CONTAINERS, BENCH_RSS_RUNS and BENCH_BIG_MB must be positive numbers" ;; esac
done

[ "$(id -u)" = 0 ] || die "must run as root (it installs setuid helpers, runs debootstrap, runs the peers as $user)"

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/newuidmap ] && [ -x /usr/bin/newgidmap ] || missing+=(uidmap)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v python3 >/dev/null || missing+=(python3)
install_missing "${missing[@]}"

# --- user, build, subordinate ranges -------------------------------------------------------------
setup_user
build_install rev
need_bins burrow burrow-newuidmap:setuid burrow-newgidmap:setuid
"$burrow" admin add-user "$user" >/dev/null
read -r su_start su_count < <(first_range /etc/subuid)
read -r sg_start sg_count < <(first_range /etc/subgid)
if [ "${su_count:-0}" -lt 65536 ] || [ "${sg_count:-0}" -lt 65536 ]; then
  die "$user's first subuid/subgid ranges must hold 65536 ids (podman's map), not ${su_count:-none}/${sg_count:-none}"
fi

# --- scratch directory ---------------------------------------------------------------------------
work=$(mktemp -d /var/tmp/burrow-img-bench.XXXXXX)
chmod 0755 "$work"
case "$work$prefix$cache" in *[[:space:]]*) die "paths with white space are not supported" ;; esac
xdg=$work/xdg
data=$work/data
storage=$data/burrow/storage
# overlay named explicitly: with --root and no storage.conf podman 4 falls back to vfs (a full
# copy of the image per container).
pargs="--root $work/podman/storage --runroot $work/podman/run --storage-driver overlay --runtime runc"
set_as_user # XDG_DATA_HOME is $work/data, which is $data

reg_pid=
child=
created=()
# The long user commands run in the background and are waited for, so that a SIGTERM reaches
# the trap at once (bash runs traps only between foreground commands).
bgw() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=
  return "$rc"
}
cleanup() {
  local rc=$? p
  set +e
  trap - EXIT INT TERM
  say "cleaning up"
  # The process sweep below ends what it started.
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
  [ ${#created[@]} -eq 0 ] || u "$burrow" rm -f "${created[@]}" >/dev/null 2>&1
  if [ -d "$work/podman" ]; then
    # shellcheck disable=SC2086 # pargs is a word list
    u podman $pargs rm -a -f -t 0 >/dev/null 2>&1
    # shellcheck disable=SC2086
    u podman $pargs system reset -f >/dev/null 2>&1
  fi
  [ -z "$reg_pid" ] || { kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null; }
  # podman's pause process, then anything else of the user still carrying the run's private
  # XDG_RUNTIME_DIR: one by one, by pid.
  kill_user_xdg
  drop_work
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/podman" "$work/registry" "$work/rss"
user_dirs # $data is $work/data
gcc -O2 -Wall -Wextra -Werror -o "$work/peakrss" "$top/bench/peakrss.c"
chown -R "$user:" "$work"
chown root: "$work/registry"

# --- the images, cached --------------------------------------------------------------------------
install -d -m 0755 "$cache"
sha() { sha256sum "$1" | cut -d' ' -f1; }
# make_layout DIR TAG LAYER MEDIATYPE DIFFID CONFIG: an OCI layout with one layer (moved in).
make_layout() {
  local d=$1 tag=$2 layer=$3 mt=$4 diffid=$5 cfg=$6 lsha lsize csha csize msha msize arch
  arch=$(dpkg --print-architecture)
  rm -rf "$d.tmp" && mkdir -p "$d.tmp/blobs/sha256"
  lsha=$(sha "$layer")
  lsize=$(stat -c %s "$layer")
  mv "$layer" "$d.tmp/blobs/sha256/$lsha"
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$cfg" "$diffid" >"$d.tmp/config.json"
  csha=$(sha "$d.tmp/config.json")
  csize=$(stat -c %s "$d.tmp/config.json")
  mv "$d.tmp/config.json" "$d.tmp/blobs/sha256/$csha"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
    "$csha" "$csize" "$mt" "$lsha" "$lsize" >"$d.tmp/manifest.json"
  msha=$(sha "$d.tmp/manifest.json")
  msize=$(stat -c %s "$d.tmp/manifest.json")
  mv "$d.tmp/manifest.json" "$d.tmp/blobs/sha256/$msha"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$msha" "$msize" "$tag" >"$d.tmp/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d.tmp/oci-layout"
  chmod -R a+rX "$d.tmp"
  rm -rf "$d" && mv "$d.tmp" "$d"
}
# The layer blob of a one-layer layout.
layer_of() { # DIR
  python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
print(d + "/blobs/sha256/" + m["layers"][0]["digest"].split(":")[1])
EOF
}

day=$(date -u +%Y%m%d)
deb_tar=$cache/debian-bookworm-minbase-$day.tar
deb_oci=$cache/debian-bookworm-minbase-$day.oci
if [ ! -f "$deb_tar" ]; then
  say "debootstrap --variant=minbase bookworm from $mirror (cached as $deb_tar)"
  rm -rf "$cache/debootstrap.tmp"
  debootstrap --variant=minbase bookworm "$cache/debootstrap.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $(tail -n 20 "$work/debootstrap.log")"
  # As an image has it: no device nodes, nothing in /proc, /sys, /run, apt's caches emptied.
  tar -C "$cache/debootstrap.tmp" --numeric-owner --sort=name \
    --exclude='./dev/?*' --exclude='./proc/?*' --exclude='./sys/?*' --exclude='./run/?*' \
    --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/?*' \
    --exclude='./var/log/?*' -cf "$deb_tar.tmp" .
  mv "$deb_tar.tmp" "$deb_tar"
  rm -rf "$cache/debootstrap.tmp"
fi
chmod 0644 "$deb_tar"
if [ ! -d "$deb_oci" ]; then
  say "OCI layout of the Debian rootfs (one gzip layer) in $deb_oci"
  gzip -n -6 -c "$deb_tar" >"$cache/debian-layer.tmp"
  make_layout "$deb_oci" 12 "$cache/debian-layer.tmp" application/vnd.oci.image.layer.v1.tar+gzip "$(sha "$deb_tar")" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]}'
fi
big_oci=$cache/big-${big_mb}M.oci
if [ ! -d "$big_oci" ]; then
  say "an image with one ${big_mb} MiB layer of random data in $big_oci"
  rm -rf "$cache/big.tmp" && mkdir -p "$cache/big.tmp"
  head -c "$((big_mb * 1048576))" /dev/urandom >"$cache/big.tmp/random.bin"
  tar -C "$cache/big.tmp" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$cache/big-layer.tmp" random.bin
  rm -rf "$cache/big.tmp"
  make_layout "$big_oci" 1 "$cache/big-layer.tmp" application/vnd.oci.image.layer.v1.tar "$(sha "$cache/big-layer.tmp")" \
    '{"Cmd":["/random.bin"]}'
fi
deb_layer=$(layer_of "$deb_oci")

# --- the registry ----------------------------------------------------------------------------------
port=${BENCH_REGISTRY_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
reg=127.0.0.1:$port
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
http:
  addr: $reg
EOF
say "docker-registry on $reg"
docker-registry serve "$work/registry/config.yml" </dev/null >"$work/registry/log" 2>&1 &
reg_pid=$!
for i in $(seq 100); do
  if (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$reg_pid" 2>/dev/null || die "docker-registry exited: $(cat "$work/registry/log")"
  [ "$i" -lt 100 ] || die "docker-registry did not listen on $reg: $(cat "$work/registry/log")"
  sleep 0.2
done
deb_ref=$reg/bench/debian:12
big_ref=$reg/bench/big:1
skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "oci:$deb_oci:12" "docker://$deb_ref"
skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "oci:$big_oci:1" "docker://$big_ref"

# --- checks --------------------------------------------------------------------------------------
say "checks (as $user, uid $uid)"
# shellcheck disable=SC2086 # pargs is a word list
pdriver=$(u podman $pargs info --format '{{.Store.GraphDriverName}}, native overlay diff: {{index .Store.GraphStatus "Native Overlay Diff"}}' 2>"$work/err") ||
  die "podman info failed: $(cat "$work/err")"
case $pdriver in overlay,*) ;; *) die "podman's storage driver is $pdriver, not overlay" ;; esac
rootfs=$work/rootfs
u "$burrow" pull -q --tls-verify=false "$deb_ref" >/dev/null 2>"$work/err" || die "burrow pull failed: $(cat "$work/err")"
# shellcheck disable=SC2086 # pargs is a word list
u podman $pargs pull -q --tls-verify=false "$deb_ref" >/dev/null 2>"$work/err" || die "podman pull failed: $(cat "$work/err")"
u skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$deb_ref" "dir:$work/skopeo-check" 2>"$work/err" ||
  die "skopeo copy failed: $(cat "$work/err")"
# The --rootfs tree: the same rootfs, unpacked with the same owners as burrow's layers.
u mkdir "$rootfs"
u "$burrow" unshare tar --numeric-owner -xf "$deb_tar" -C "$rootfs" 2>"$work/err" || die "unpacking the rootfs failed: $(cat "$work/err")"
want=$(cat "$rootfs/etc/debian_version")
for c in "$burrow run --rm $deb_ref" "$burrow run --rm --rootfs $rootfs" "podman $pargs run --rm --network none $deb_ref"; do
  # shellcheck disable=SC2086 # a word list
  got=$(u $c /bin/cat /etc/debian_version 2>"$work/err") || die "'$c' failed: $(cat "$work/err")"
  [ "$got" = "$want" ] || die "'$c' printed '$got', expected '$want'"
  echo "  ${c%% *} ...: Debian $got: ok" >&2
done
u "$burrow" image import --name bench/check "$deb_oci" >/dev/null 2>"$work/err" || die "burrow image import failed: $(cat "$work/err")"
u "$burrow" rmi bench/check >/dev/null 2>&1 || true

# --- timings ---------------------------------------------------------------------------------------
wait_quiet
note_load
hf=(hyperfine -N --style basic --time-unit millisecond)
wipe="$burrow unshare rm -rf $storage"

say "1. pull, $runs runs + $warmup warmup each"
# shellcheck disable=SC2086
bgw u "${hf[@]}" --warmup "$warmup" --runs "$runs" --export-csv "$work/pull.csv" \
  --prepare "$wipe" -n burrow "$burrow pull -q --tls-verify=false $deb_ref" \
  --prepare "podman $pargs rmi -a -f" -n podman "podman $pargs pull -q --tls-verify=false $deb_ref" \
  --prepare "rm -rf $work/skopeo-dir" -n skopeo "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$deb_ref dir:$work/skopeo-dir"

say "2. unpack, $runs runs + $warmup warmup each"
fresh="$burrow unshare sh -c 'rm -rf $work/tar-x && mkdir $work/tar-x'"
bgw u "${hf[@]}" --warmup "$warmup" --runs "$runs" --export-csv "$work/unpack.csv" \
  --prepare "$wipe" -n import-oci "$burrow image import --name bench/unpack $deb_oci" \
  --prepare "$fresh" -n tar-xzf "tar -xzf $deb_layer -C $work/tar-x" \
  --prepare "$wipe" -n import-tar "$burrow image import --name bench/unpack $deb_tar" \
  --prepare "$fresh" -n tar-xf "tar -xf $deb_tar -C $work/tar-x" \
  --prepare "$fresh" -n unshare-tar "$burrow unshare tar --numeric-owner -xf $deb_tar -C $work/tar-x"

# The image again, for what follows.
u "$burrow" unshare rm -rf "$storage" "$work/tar-x"
u "$burrow" pull -q --tls-verify=false "$deb_ref" >/dev/null
# shellcheck disable=SC2086
u podman $pargs pull -q --tls-verify=false "$deb_ref" >/dev/null

say "3. start-up, $start_runs runs + 3 warmup each"
# shellcheck disable=SC2086
bgw u "${hf[@]}" --warmup 3 --runs "$start_runs" --export-csv "$work/start.csv" \
  -n run-image "$burrow run --rm $deb_ref /bin/true" \
  -n run-rootfs "$burrow run --rm --rootfs $rootfs /bin/true" \
  -n podman-run "podman $pargs run --rm --network none $deb_ref /bin/true"
busy_after=$(cpu_busy)

say "4. $n_ctr containers of $deb_ref"
du_k() { du -sk "$1" 2>/dev/null | cut -f1 || echo 0; }
dirs=("$storage" "$data/burrow/containers" "$work/config" "$xdg")
dnames=("image storage" "container data" "XDG_CONFIG_HOME" "XDG_RUNTIME_DIR")
before=()
for d in "${dirs[@]}"; do before+=("$(du_k "$d")"); done
t0=$(date +%s%N)
for i in $(seq "$n_ctr"); do
  created+=("imgb-$i")
  u "$burrow" create --name "imgb-$i" "$deb_ref" /bin/true >/dev/null 2>"$work/err" || die "burrow create imgb-$i failed: $(cat "$work/err")"
done
t1=$(date +%s%N)
sync
after=()
for d in "${dirs[@]}"; do after+=("$(du_k "$d")"); done
u "$burrow" rm "${created[@]}" >/dev/null 2>"$work/err" || die "burrow rm failed: $(cat "$work/err")"
t2=$(date +%s%N)
created=()
left=$(u "$burrow" ls --all | awk 'NR > 1' | wc -l)
disk_table=$(
  echo "| directory | KiB before | KiB with $n_ctr containers | difference |"
  echo "|---|---:|---:|---:|"
  for i in "${!dirs[@]}"; do
    printf '| %s (%s) | %s | %s | %s |\n' "${dnames[$i]}" "\`${dirs[$i]/#$work/\$W}\`" "${before[$i]}" "${after[$i]}" "$((after[i] - before[i]))"
  done
)
disk_delta=0
for i in "${!dirs[@]}"; do disk_delta=$((disk_delta + after[i] - before[i])); done
per_ctr=$(calc "$disk_delta / $n_ctr")
create_ms=$(calc "($t1 - $t0) / 1000000 / $n_ctr")
rm_ms=$(calc "($t2 - $t1) / 1000000")

say "5. peak RSS of a pull of a ${big_mb} MiB layer, $rss_runs runs each"
for n in burrow podman skopeo; do
  : >"$work/rss/$n"
done
chown -R "$user:" "$work/rss"
for _ in $(seq "$rss_runs"); do
  u "$burrow" unshare rm -rf "$storage"
  bgw u "$work/peakrss" "$work/rss/burrow" "$burrow" pull -q --tls-verify=false "$big_ref" >/dev/null 2>"$work/err" ||
    die "burrow pull of the big image failed: $(cat "$work/err")"
  # shellcheck disable=SC2086
  u podman $pargs rmi -a -f >/dev/null 2>&1
  # shellcheck disable=SC2086
  bgw u "$work/peakrss" "$work/rss/podman" podman $pargs pull -q --tls-verify=false "$big_ref" >/dev/null 2>"$work/err" ||
    die "podman pull of the big image failed: $(cat "$work/err")"
  rm -rf "$work/skopeo-big"
  bgw u "$work/peakrss" "$work/rss/skopeo" skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$big_ref" "dir:$work/skopeo-big" 2>"$work/err" ||
    die "skopeo copy of the big image failed: $(cat "$work/err")"
done
rm -rf "$work/skopeo-big"

# --- report ------------------------------------------------------------------------------------------
row() { # CSV NAME LABEL [PEER-NAME...]: a table row, with the ratios to the peers
  local f=$1 n=$2 l=$3 m p
  shift 3
  m=$(med "$f" "$n")
  printf '| %s | %s | %s' "$l" "$m" "$(awk -F, -v n="$n" 'NR > 1 && $1 == n { printf "%.2f ± %.2f | %.2f", $2 * 1000, $3 * 1000, $7 * 1000 }' "$f")"
  for p; do printf ' | %s' "$(calc "$m / $(med "$f" "$p")")"; done
  printf ' |\n'
}
m_pb=$(med "$work/pull.csv" burrow)
m_pp=$(med "$work/pull.csv" podman)
m_ps=$(med "$work/pull.csv" skopeo)
m_io=$(med "$work/unpack.csv" import-oci)
m_it=$(med "$work/unpack.csv" import-tar)
m_xz=$(med "$work/unpack.csv" tar-xzf)
m_xf=$(med "$work/unpack.csv" tar-xf)
m_ri=$(med "$work/start.csv" run-image)
m_rr=$(med "$work/start.csv" run-rootfs)
m_pr=$(med "$work/start.csv" podman-run)
r_pull=$(calc "$m_pb / $m_pp")
r_io=$(calc "$m_io / $m_xz")
r_it=$(calc "$m_it / $m_xf")
r_run=$(calc "$m_ri / $m_rr")
r_pod=$(calc "$m_pr / $m_ri")
rss_b=$(col_median "$work/rss/burrow" 2)
rss_b_mib=$(calc "$rss_b / 1024")
rss_table=$(
  echo "| command | tree peak RSS KiB, median (range) | own peak RSS KiB, median (range) |"
  echo "|---|---:|---:|"
  for n in burrow podman skopeo; do
    printf '| %s | %s (%s) | %s (%s) |\n' "$n" "$(col_median "$work/rss/$n" 2)" "$(col_range "$work/rss/$n" 2)" \
      "$(col_median "$work/rss/$n" 1)" "$(col_range "$work/rss/$n" 1)"
  done
)
deb_mib=$(calc "$(stat -c %s "$deb_tar") / 1048576")
gz_mib=$(calc "$(stat -c %s "$deb_layer") / 1048576")
files=$(tar -tf "$deb_tar" | wc -l)
rev=$(built_from "built (\`cargo build --release\`, helpers with scripts/build-helpers.sh)")
pkgv() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
sw() { sed "s#$work#\$W#g; s#$cache#\$C#g"; }

block=$(
  cat <<EOF
<!-- images-bench:begin (generated by bench/images.sh; edit outside the markers) -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine); load average before: $load_before; CPU busy in the second before: ${busy_before}%, after: ${busy_after}%
- burrow: $burrow, $rev, $(stat -c '%s bytes' "$burrow"), $(linkage "$burrow"); helpers $prefix/bin/burrow-new{u,g}idmap
- Peers: podman $(pkgv podman) (runc $(pkgv runc), \`cgroup_manager = "cgroupfs"\`, \`events_logger = "file"\`, storage driver $pdriver, \`--root/--runroot\` in \$W), skopeo $(pkgv skopeo), GNU tar $(pkgv tar), gzip $(pkgv gzip); registry: docker-registry $(pkgv docker-registry) on $reg, plain HTTP, filesystem storage
- Debian image \`$deb_ref\`: \`debootstrap --variant=minbase bookworm\` of $day (debootstrap $(pkgv debootstrap), $mirror; \`/dev\`, \`/proc\`, \`/sys\`, \`/run\`, \`/var/log\`, apt's lists and .debs left out), one layer: $files entries, ${deb_mib} MiB as tar, ${gz_mib} MiB gzip -6
- $(hyperfine --version), \`-N\`, as $user (uid $uid) via \`setpriv\`, XDG_* in \$W (the scratch directory; \$C = $cache), in a private mount namespace with / rshared; maps: uid \`0 $uid 1 1 $su_start $su_count\`, gid \`0 $gid 1 1 $sg_start $sg_count\` (burrow's helpers for burrow, shadow's for podman)

| target | result |
|---|---|
| pull: burrow at most 0.5× podman | $(verdict "$r_pull <= 0.5" "$m_pb / $m_pp ms = ${r_pull}×") |
| unpack: at most 1.3× \`tar -x\` | OCI layout (gzip) against \`tar -xzf\`: $(verdict "$r_io <= 1.3" "$m_io / $m_xz ms = ${r_io}×"); rootfs tarball against \`tar -xf\`: $(verdict "$r_it <= 1.3" "$m_it / $m_xf ms = ${r_it}×") |
| \`run IMAGE\` at most 1.3× \`run --rootfs\` | $(verdict "$r_run <= 1.3" "$m_ri / $m_rr ms = ${r_run}×") |
| \`burrow run IMAGE\` at least 10× faster than \`podman run\` | $(verdict "$r_pod >= 10" "podman / burrow = $m_pr / $m_ri ms = ${r_pod}×") |
| $n_ctr containers: disk besides the image under $n_ctr × 64 KiB | $(verdict "$disk_delta < $n_ctr * 64" "$disk_delta KiB = $per_ctr KiB per container") |
| peak RSS of a pull of a ${big_mb} MiB layer under 64 MiB | $(verdict "$rss_b < 65536" "$rss_b KiB = ${rss_b_mib} MiB") |

### 1. Pull of the Debian image, transfer plus unpack ($runs runs + $warmup warmup)

| command | median ms | mean ± σ ms | min ms | × podman | × skopeo |
|---|---:|---:|---:|---:|---:|
$(row "$work/pull.csv" burrow 'burrow pull' podman skopeo)
$(row "$work/pull.csv" podman 'podman pull' podman skopeo)
$(row "$work/pull.csv" skopeo 'skopeo copy to dir: (no unpack)' podman skopeo)

\`\`\`
$(printf '%s\n' "$burrow pull -q --tls-verify=false $deb_ref        # --prepare: $wipe" \
    "podman $pargs pull -q --tls-verify=false $deb_ref        # --prepare: podman ... rmi -a -f" \
    "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$deb_ref dir:$work/skopeo-dir        # --prepare: rm -rf the dir" | sw)
\`\`\`

burrow and podman fetch the manifest, config and layer, check the digests, gunzip and unpack
the layer as root of a user namespace with the user's map (owners chowned) and record the
image (burrow keeps the compressed blob in its store and unpacks from it); skopeo only fetches and checks the blobs into a directory (the transfer alone: $m_ps ms,
so burrow spends about $(calc "$m_pb - $m_ps") ms on top of the transfer, podman $(calc "$m_pp - $m_ps") ms).

### 2. Unpack alone against \`tar -x\` ($runs runs + $warmup warmup)

| command | median ms | mean ± σ ms | min ms | × tar -xzf | × tar -xf |
|---|---:|---:|---:|---:|---:|
$(row "$work/unpack.csv" import-oci 'burrow image import, OCI layout (gzip layer)' tar-xzf tar-xf)
$(row "$work/unpack.csv" tar-xzf 'tar -xzf of the same gzip layer' tar-xzf tar-xf)
$(row "$work/unpack.csv" import-tar 'burrow image import, rootfs tarball' tar-xzf tar-xf)
$(row "$work/unpack.csv" tar-xf 'tar -xf of the same tarball' tar-xzf tar-xf)
$(row "$work/unpack.csv" unshare-tar 'burrow unshare tar -xf (owners kept)' tar-xzf tar-xf)

\`\`\`
$(printf '%s\n' "$burrow image import --name bench/unpack $deb_oci        # --prepare: $wipe" \
    "tar -xzf $deb_layer -C $work/tar-x        # --prepare: $fresh" \
    "$burrow image import --name bench/unpack $deb_tar        # --prepare: wipe the storage" \
    "tar -xf $deb_tar -C $work/tar-x        # --prepare: a fresh empty directory" \
    "$burrow unshare tar --numeric-owner -xf $deb_tar -C $work/tar-x        # --prepare: a fresh empty directory" | sw)
\`\`\`

\`burrow image import\` re-executes itself as root of a user namespace with the user's full map
(the setuid helpers), copies the layer blob into the store while hashing it (the blob's digest,
checked against the manifest for the layout), then unpacks that copy: gunzip (layout), sha256
of the tar stream (the diff id, checked against the config for the layout), every entry created
and chowned to its owner's mapped id; then it records the image. So it writes the blob and the
files (about twice what tar writes for the rootfs tarball). \`tar -xf\` /
\`tar -xzf\` as the user only create the files (owners not kept: all files are the user's),
with no hashing and no namespace: the floor. \`burrow unshare tar\` keeps the owners, as burrow
does, for context.

### 3. Start-up from the image ($start_runs runs + 3 warmup)

| command | median ms | mean ± σ ms | min ms | × run --rootfs | × podman run |
|---|---:|---:|---:|---:|---:|
$(row "$work/start.csv" run-image 'burrow run --rm IMAGE /bin/true' run-rootfs podman-run)
$(row "$work/start.csv" run-rootfs 'burrow run --rm --rootfs DIR /bin/true' run-rootfs podman-run)
$(row "$work/start.csv" podman-run 'podman run --rm --network none IMAGE /bin/true' run-rootfs podman-run)

The Debian image above; DIR is the same rootfs unpacked by \`burrow unshare tar\` into \$W/rootfs
(same owners as the image's layer). burrow mounts overlayfs over the layer (an upper and a work
directory per container); podman uses its overlay storage and runc, network none like burrow's
default.

### 4. $n_ctr containers of one image

\`burrow create --name imgb-N $(echo "$deb_ref" | sw) /bin/true\`, N = 1..$n_ctr, one after the
other: ${create_ms} ms per create (wall clock, as the user, including setpriv and the
namespace wrapper); \`burrow rm\` of all $n_ctr in one call: ${rm_ms} ms; containers left after:
$left. \`du -sk\` (allocated blocks) before and after the creates:

$disk_table

### 5. Peak memory of a pull of one ${big_mb} MiB layer

\`$(echo "$big_ref" | sw)\`: one uncompressed layer (\`application/vnd.oci.image.layer.v1.tar\`)
holding one file of ${big_mb} MiB of random data. Median of $rss_runs run(s) (bench/peakrss.c), each
from an empty store: **tree** = \`ru_maxrss\` from wait4, the largest peak of any process in the
waited-for tree (burrow's inner process in the user namespace included; what
\`/usr/bin/time -f %M\` prints); **own** = VmHWM of the top process.

$rss_table
<!-- images-bench:end -->
EOF
)
write_report '<!-- images-bench:begin' '<!-- images-bench:end' "Images: pull, unpack, start-up, disk and memory (bench/images.sh)"
