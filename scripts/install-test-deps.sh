#!/usr/bin/env bash
# Installs the Debian packages and cargo tools the tests and benchmarks use (idempotent).
set -euo pipefail
pkgs=(uidmap podman lxc runc crun busybox-static gcc libc6-dev acl libcap2-bin hyperfine python3 util-linux procps iproute2 slirp4netns fuse-overlayfs iputils-ping nftables
  # crates/burrow-image's tests: a real registry with TLS and htpasswd auth, images pushed with
  # skopeo, layouts made with umoci.
  docker-registry skopeo umoci apache2-utils openssl tar
  # tests/guest: the Debian 12 guest's build (debootstrap, mkfs.ext4 -d, the initramfs) and boot;
  # tests/tests/image_debian.rs: its Debian 12 image (debootstrap, chroot useradd, getcap).
  debootstrap qemu-system-x86 e2fsprogs cpio kmod xz-utils
  # scripts/build-packages.sh: the .debs (dpkg-buildpackage, debhelper, pandoc for the man pages),
  # lintian on them, the RPMs with Debian's rpmbuild and rpmlint on them.
  dpkg-dev debhelper pandoc lintian rpm rpmlint
  # tests/tests/restart.rs: systemd-analyze verify of `burrow generate systemd`'s unit (the
  # package only; the host's init is not changed).
  systemd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# tests/run.sh's license, ban and source check (deny.toml); a build of a few minutes, once.
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny
