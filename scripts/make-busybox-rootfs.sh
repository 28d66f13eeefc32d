#!/usr/bin/env bash
# Makes a minimal root filesystem from Debian's busybox-static: /bin/busybox plus one relative
# symlink per applet, and the usual empty directories.
#   scripts/make-busybox-rootfs.sh DIR
set -euo pipefail
dir=${1:?usage: make-busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-busybox-rootfs.sh: $bb missing: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev}
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for a in $("$bb" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$dir/etc/passwd"
echo "root:x:0:" > "$dir/etc/group"
