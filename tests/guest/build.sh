#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) guest for tests/guest/run.sh from Debian's archive only, or reuses
# the one built by the same version of this script: debootstrap --variant=minbase with systemd,
# cgroup v2 and AppArmor; Debian's kernel unpacked from its .deb (not installed: that would pull
# initramfs-tools); a tiny busybox initramfs that loads the virtio disk and ext4 and switch_roots;
# the disk made by mkfs.ext4 -d (no loop mounts). Needs root. Prints the directory that holds
# vmlinuz, initrd.img and disk.img.
#   tests/guest/build.sh              -> /var/tmp/burrow-guest/<hash>
#   BURROW_GUEST_CACHE=DIR tests/guest/build.sh
set -euo pipefail
cache=${BURROW_GUEST_CACHE:-/var/tmp/burrow-guest}
mirror=${BURROW_GUEST_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# kmod: modprobe, for the modules the guest loads on demand (9p, veth, bridge, overlay).
# nftables: nft, which burrow-nic publish runs for published ports.
packages=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,apparmor,iproute2,uidmap,busybox-static,procps,util-linux,kmod,nftables
# The initramfs loads these (and what they depend on) before it mounts /dev/vda.
initrd_modules=(virtio_pci virtio_blk ext4)

log() { echo "guest/build.sh: $*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, file ownership in the image)"

key=$(sha256sum <"$0" | cut -c1-16)
out=$cache/$key
if [ -f "$out/done" ]; then
  echo "$out"
  exit 0
fi

need=()
for p in debootstrap qemu-system-x86 e2fsprogs cpio xz-utils kmod busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq || die "apt-get update failed or took over 5 minutes"
  timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed or took over 10 minutes"
fi

mkdir -p "$cache"
# Older builds of other versions of this script: only the current one is kept.
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
work=$cache/$key.tmp
rm -rf "$work" "$out"
mkdir -p "$work"
root=$work/root
t0=$(date +%s)

log "debootstrap $suite ($mirror) into $root"
timeout 900 debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; die "debootstrap failed or took over 15 minutes (log: $work/debootstrap.log)"; }
t1=$(date +%s)
log "debootstrap took $((t1 - t0)) s"

# Debian's kernel: linux-image-amd64 is a metapackage; its dependency linux-image-6.1.0-N-amd64
# holds the kernel and modules. Downloaded with the host's apt (a Debian 12 host).
kdir=$work/kernel
mkdir -p "$kdir/debs"
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
[ -n "$kpkg" ] || die "apt-cache depends linux-image-amd64 names no linux-image-6.x package (is the host's apt a Debian 12 one?)"
(cd "$kdir/debs" && timeout 600 apt-get download -q -o APT::Sandbox::User=root linux-image-amd64 "$kpkg" >/dev/null) \
  || die "apt-get download linux-image-amd64 $kpkg failed or took over 10 minutes"
for d in "$kdir"/debs/linux-image-[0-9]*.deb; do dpkg-deb -x "$d" "$kdir/x"; done
kver=$(ls "$kdir/x/lib/modules")
[ -f "$kdir/x/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $kpkg"
cp "$kdir/x/boot/vmlinuz-$kver" "$work/vmlinuz"
# Only the modules the guest can load, with their dependencies (modprobe --show-depends on
# the unpacked tree): the disk and the 9p share, the links burrow-nic makes (veth, bridge),
# overlayfs, nftables for burrow-nic-nat and a few spares; the rest of Debian's modules (GPU,
# sound, wireless, ...) only made the image bigger and its build slower.
guest_modules=(virtio_pci virtio_blk virtio_net virtio_console virtio_rng ext4 9p 9pnet_virtio
  veth bridge br_netfilter overlay tun dummy macvlan ipvlan vxlan loop fuse squashfs
  nf_tables nft_chain_nat nft_masq nft_ct nft_nat nft_reject_inet nft_fib_inet nft_fib_ipv4 nf_conntrack
  sch_fq_codel xt_MASQUERADE iptable_nat)
ksrc=$kdir/x/lib/modules/$kver
kdst=$root/lib/modules/$kver
mkdir -p "$kdst"
cp -a "$ksrc"/modules.order "$ksrc"/modules.builtin* "$kdst/"
depmod -b "$kdir/x" "$kver"
for m in "${guest_modules[@]}"; do
  modprobe -d "$kdir/x" -S "$kver" --show-depends "$m" 2>/dev/null | while read -r what path _; do
    [ "$what" = insmod ] || continue
    rel=${path#"$ksrc"/}
    mkdir -p "$kdst/$(dirname "$rel")"
    cp -a "$path" "$kdst/$rel"
  done
done
chroot "$root" depmod "$kver"
kmods_all=$(du -sm "$ksrc" | cut -f1)
kmods_kept=$(du -sm "$kdst" | cut -f1)
log "kernel $kver ($kpkg): $(find "$kdst" -name '*.ko*' | wc -l) modules kept ($kmods_kept MiB of $kmods_all MiB)"

# The initramfs: static busybox, the modules in load order, an init that switch_roots.
ird=$work/initrd
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$root/bin/busybox" "$ird/bin/busybox"
: >"$ird/modules"
for m in "${initrd_modules[@]}"; do
  # --show-depends prints "insmod PATH" for each module, dependencies first; built-ins print
  # "builtin NAME".
  modprobe -d "$root" -S "$kver" --show-depends "$m" | while read -r what path _; do
    [ "$what" = insmod ] || continue
    base=$(basename "$path")
    case $base in
      *.ko.xz) xz -dc "$path" >"$ird/lib/modules/${base%.xz}"; base=${base%.xz} ;;
      *.ko.zst) die "zstd-compressed module $path: add zstd" ;;
      *) cp "$path" "$ird/lib/modules/$base" ;;
    esac
    grep -qx "$base" "$ird/modules" || echo "$base" >>"$ird/modules"
  done
done
cat >"$ird/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules); do insmod "/lib/modules/$m" || echo "initrd: insmod $m failed"; done
root=/dev/vda
init=/sbin/init
# burrow.init=PATH: another PID 1 in the root (tests/guest/run.sh's boot without systemd).
for a in $(cat /proc/cmdline); do
  case $a in
    root=*) root=${a#root=} ;;
    burrow.init=*) init=${a#burrow.init=} ;;
  esac
done
i=0
while [ ! -b "$root" ]; do
  i=$((i + 1))
  [ $i -le 300 ] || { echo "initrd: $root did not appear in 30 s (virtio_blk loaded?)"; ls /dev; poweroff -f; }
  sleep 0.1
done
mount -o rw "$root" /newroot || { echo "initrd: mount $root failed"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$init"
EOF
chmod 755 "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.img"

# Guest configuration.
echo burrow-guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 burrow-guest\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw 0 0\nburrow /mnt/burrow 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n' >"$root/etc/fstab"
mkdir -p "$root/mnt/burrow"
printf '9p\n9pnet_virtio\n' >"$root/etc/modules-load.d/burrow-guest.conf"
rm -f "$root/etc/machine-id"
chroot "$root" systemd-machine-id-setup >/dev/null 2>&1
# The test unit: runs the script on the share once the system is up, then powers off.
cat >"$root/etc/systemd/system/burrow-guest-check.service" <<'EOF'
[Unit]
Description=burrow guest checks (tests/guest)
After=multi-user.target
RequiresMountsFor=/mnt/burrow
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/sh /mnt/burrow/guest-run.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=30min

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable burrow-guest-check.service >/dev/null 2>&1
# The second boot (run.sh, checks nosd-*): PID 1 is this script instead of systemd (kernel
# argument burrow.init=/sbin/burrow-guest-noinit): cgroup2 alone on /sys/fs/cgroup as on a host
# without systemd, the share mounted, guest-run.sh run, then power off whatever the result.
cat >"$root/sbin/burrow-guest-noinit" <<'EOF'
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -o remount,rw /
hostname burrow-guest
ip link set lo up
modprobe 9pnet_virtio && modprobe 9p \
  && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 burrow /mnt/burrow \
  && sh /mnt/burrow/guest-run.sh </dev/null >/dev/console 2>&1 \
  || echo "burrow-guest-noinit: the share or guest-run.sh failed" >/dev/console
sync
exec /bin/busybox poweroff -f
EOF
chmod 755 "$root/sbin/burrow-guest-noinit"
# Nothing here needs a login prompt on the console.
chroot "$root" systemctl mask serial-getty@ttyS0.service getty@tty1.service >/dev/null 2>&1
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
t2=$(date +%s)

size_mb=$(($(du -sm "$root" | cut -f1) + 1024))
mkfs.ext4 -q -F -L burrow-guest -E root_owner=0:0 -d "$root" "$work/disk.img" "${size_mb}M" >&2 \
  || die "mkfs.ext4 -d $root failed"
rm -rf "$root" "$kdir" "$ird"
mv "$work" "$out"
t3=$(date +%s)
echo "debootstrap $((t1 - t0)) s, kernel+initrd+config $((t2 - t1)) s, mkfs $((t3 - t2)) s, total $((t3 - t0)) s" >"$out/done"
log "built $out: $(cat "$out/done")"
echo "$out"
