#!/usr/bin/env bash
# Boots the Debian 12 guest of tests/guest/build.sh under QEMU and runs the guest checks of
# tests/guest/guest-run.sh inside it, as an unprivileged user in its delegated
# user@UID.service: all of them, or the CHECKs named (pkg-install pkg-run pkg-upgrade pkg-purge
# admin-add-user doctor run-true memory-oom pids-limit cgroup-confined cpus-throttle
# net-bridge run-image apparmor svc-unit doctor-undelegated, in a second boot without systemd nosd-add-user
# nosd-doctor nosd-memory-oom nosd-pids-limit, and svc-reboot in two boots of one copy of the disk). Builds the static burrow binaries, the packages (for the pkg-* checks)
# and the guest first (or reuses the guest). Needs root. Exits non-zero when a check fails or
# the guest does not finish.
#   bash tests/guest/run.sh [CHECK...]
#   BURROW_GUEST_TIMEOUT=SECONDS (default 900) bounds the boot and the checks.
#   BURROW_GUEST_DEBS=DIR: the .debs of this version are in DIR and those of the upgrade (a later
#   version) in DIR/upgrade, as tests/run.sh builds them; without it, run.sh builds both with
#   scripts/build-packages.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
limit=${BURROW_GUEST_TIMEOUT:-900}
log() { echo "guest/run.sh: $*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (the guest image is built with debootstrap)"

t0=$(date +%s)
img=$(bash "$here/build.sh") || die "tests/guest/build.sh failed"
t1=$(date +%s)
bin=$(bash "$top/scripts/build-helpers.sh") || die "scripts/build-helpers.sh failed"
t2=$(date +%s)
log "guest image $img ($(cat "$img/done")) ready in $((t1 - t0)) s; static binaries in $((t2 - t1)) s"

share=$(mktemp -d /var/tmp/burrow-guest-share.XXXXXX)
trap 'rm -rf "$share"' EXIT
mkdir -p "$share/bin"
for b in burrow burrow-newuidmap burrow-newgidmap burrow-nic; do
  [ -x "$bin/$b" ] || die "$bin/$b missing after scripts/build-helpers.sh"
  cp "$bin/$b" "$share/bin/"
done
cp "$here/guest-run.sh" "$share/guest-run.sh"
# The packages, for pkg-*: this version (v1) and a later one (v2, the upgrade), built from the
# same tree with build-packages.sh --version.
wants_pkg=true
if [ $# -gt 0 ]; then
  wants_pkg=false
  for c in "$@"; do case $c in pkg-*) wants_pkg=true ;; esac; done
fi
if $wants_pkg; then
  debs=${BURROW_GUEST_DEBS:-}
  if [ -z "$debs" ]; then
    debs=$top/target/packages/guest
    v1=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
    bash "$top/scripts/build-packages.sh" --out "$debs" >/dev/null || die "scripts/build-packages.sh failed"
    bash "$top/scripts/build-packages.sh" --version "$v1+upgrade1" --out "$debs/upgrade" >/dev/null \
      || die "scripts/build-packages.sh --version $v1+upgrade1 failed"
  fi
  mkdir -p "$share/pkg/v1" "$share/pkg/v2"
  cp "$debs"/burrow_*.deb "$debs"/burrow-helpers_*.deb "$share/pkg/v1/" || die "no .debs in $debs"
  cp "$debs"/upgrade/burrow_*.deb "$debs"/upgrade/burrow-helpers_*.deb "$share/pkg/v2/" || die "no .debs in $debs/upgrade"
  log "packages: $(cd "$share/pkg" && find v1 v2 -name '*.deb' | sort | tr '\n' ' ')($(($(date +%s) - t2)) s)"
fi
cp -r "$top/packaging/apparmor" "$share/apparmor"
bash "$top/scripts/make-busybox-rootfs.sh" "$share/rootfs" >/dev/null
echo "$*" >"$share/checks"

# /dev/kvm on these machines is PVM (no VT-x): a stock kernel dies there with "KVM internal
# error ... emulation failure". KVM only when the real modules are loaded.
accel=(-accel 'tcg,thread=multi' -cpu max)
if grep -qsE '^kvm_(intel|amd) ' /proc/modules && [ -w /dev/kvm ]; then
  accel=(-accel kvm -cpu host)
fi
# Each boot: QEMU with -snapshot (the image stays pristine), bounded by $limit; the guest writes
# results$2 and status$2 on the share. Sets failures; dies when the guest did not finish.
boot() { # NAME SUFFIX EXTRA-KERNEL-ARGS [DISK]: DISK, a copy of the image, is booted as it
  # is (no -snapshot: svc-reboot's two boots share it)
  local name=$1 sfx=$2 extra=$3 console=$share/console$2.log rc=0 b0 b1
  local drive="file=$img/disk.img,format=raw,if=virtio" snap=-snapshot
  if [ -n "${4:-}" ]; then
    drive="file=$4,format=raw,if=virtio" snap=
  fi
  b0=$(date +%s)
  log "booting the guest ($name, ${accel[*]}), at most $limit s"
  # no_timer_check: under TCG on a loaded host the kernel's check of the IO-APIC timer can see
  # too few ticks and panic ("IO-APIC + timer doesn't work!", seen here); QEMU's timer is fine.
  # shellcheck disable=SC2086 # $snap is one word or none
  timeout --kill-after=10 "$limit" qemu-system-x86_64 "${accel[@]}" -m 2G -smp 2 $snap -nographic -no-reboot \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw panic=-1 no_timer_check quiet loglevel=4 systemd.show_status=auto $extra" \
    -drive "$drive" \
    -virtfs "local,path=$share,mount_tag=burrow,security_model=none" \
    -nic none </dev/null >"$console" 2>&1 || rc=$?
  b1=$(date +%s)
  if [ ! -f "$share/status$sfx" ]; then
    echo "----- guest console ($name boot) -----" >&2
    cat "$console" >&2
    echo "----- end of guest console -----" >&2
    [ -s "$share/results$sfx" ] && { echo "results so far:" >&2; cat "$share/results$sfx" >&2; }
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      die "the guest ($name boot) did not finish its checks within $limit s (stuck where the console above ends)"
    fi
    die "the guest ($name boot) powered off (qemu exit $rc) without writing its status: the checks did not run or did not finish (console above)"
  fi
  cat "$share/results$sfx"
  log "$name boot and checks took $((b1 - b0)) s"
  if grep -q '^FAIL \(nosd-\)\{0,1\}setup' "$share/results$sfx"; then
    echo "----- guest console ($name boot) -----" >&2
    cat "$console" >&2
  fi
  failures=$((failures + $(cat "$share/status$sfx")))
}

# The systemd boot runs every check but nosd-*; the second boot, with PID 1 a script instead of
# systemd (build.sh's /sbin/burrow-guest-noinit: cgroup2 alone, no delegation by anybody), the
# nosd-* ones.
want_sd=true want_nosd=true want_reboot=true
if [ $# -gt 0 ]; then
  want_sd=false want_nosd=false want_reboot=false
  for c in "$@"; do
    case $c in
    nosd-*) want_nosd=true ;;
    svc-reboot) want_reboot=true ;;
    *) want_sd=true ;;
    esac
  done
fi
failures=0
$want_sd && boot systemd "" ""
$want_nosd && boot no-systemd .noinit "burrow.init=/sbin/burrow-guest-noinit"
# svc-reboot: a copy of the image booted twice (a real reboot: the second boot sees what the
# first left on disk), then removed.
if $want_reboot; then
  rdisk=$(mktemp /var/tmp/burrow-guest-reboot.XXXXXX)
  trap 'rm -rf "$share" "$rdisk"' EXIT
  cp --sparse=always "$img/disk.img" "$rdisk"
  boot "svc-reboot, first" .reboot1 "burrow.phase=reboot1" "$rdisk"
  boot "svc-reboot, after the reboot" .reboot2 "burrow.phase=reboot2" "$rdisk"
  rm -f "$rdisk"
fi
t3=$(date +%s)
log "boots and checks took $((t3 - t2)) s; total $((t3 - t0)) s"
[ "$failures" = 0 ] || die "$failures guest check(s) failed"
