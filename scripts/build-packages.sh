#!/usr/bin/env bash
# Builds Burrow's distribution packages into target/packages/ (or --out DIR):
#   burrow          the front end, its man pages and bash/zsh/fish completions (burrow-docs)
#   burrow-helpers  burrow-newuidmap, burrow-newgidmap, burrow-nic (setuid root), burrow-nic-nat
#                   and its unit, /etc/burrow/usernet, the example configs
#
#   bash scripts/build-packages.sh                 the .debs (dpkg-buildpackage)
#   bash scripts/build-packages.sh --lintian       ... then lintian on them (fails on any error
#                                                  or warning not overridden in packaging/debian),
#                                                  and rpmlint on the RPMs with --rpm (fails on any
#                                                  message not filtered, with its reason, in
#                                                  packaging/rpm/burrow.rpmlintrc)
#   bash scripts/build-packages.sh --rpm           the RPMs too (rpmbuild, packaging/rpm)
#   bash scripts/build-packages.sh --version 0.1.0-1.1 --out DIR
#                                                  the .debs with another Debian version (a
#                                                  changelog entry added in the build copy): the
#                                                  guest's upgrade check installs one over the other
#   --no-deb                                       skip the .debs (with --rpm)
#
# Why dpkg-buildpackage and not cargo-deb: packaging/debian is a complete debhelper source
# package (two binary packages from one build, maintainer scripts, dh_installsystemd's
# scriptlets for burrow-nic-nat.service, conffiles, man pages, Built-Using for the static glibc,
# lintian overrides) that a Debian maintainer can take as it is, and building it here is what
# keeps it honest; cargo-deb would describe the same packages a second time in Cargo.toml, with
# its own idea of scriptlets and conffiles, and is not in Debian 12 (cargo install needs the
# network). The build is the one a buildd does: `dpkg-buildpackage -d -us -uc -b` (-d: the
# Rust toolchain is rustup's 1.95, not Debian's cargo/rustc packages) with the crates in
# vendor/ (`cargo vendor --offline` from the local cargo registry), so nothing is fetched.
#
# Nothing is written in the work tree: the tree's files (tracked and untracked, not ignored) are
# copied to target/packages/build/burrow-VERSION/ (kept between runs, so cargo's build there is
# incremental), packaging/debian becomes debian/ there, and dpkg-buildpackage runs there.
# DEB_BUILD_OPTIONS is passed through (nocheck skips the policy crates' unit tests).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log() { echo "build-packages.sh: $*" >&2; }
die() { log "$*"; exit 1; }

deb=true rpm=false lint=false version="" out=$top/target/packages
while [ $# -gt 0 ]; do
  case $1 in
    --rpm) rpm=true ;;
    --no-deb) deb=false ;;
    --lintian) lint=true ;;
    --version) version=${2:?--version needs a Debian version}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

need=()
for p in dpkg-dev debhelper pandoc libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
$lint && { dpkg-query -W -f='${Status}' lintian 2>/dev/null | grep -q "install ok installed" || need+=(lintian); }
$rpm && { command -v rpmbuild >/dev/null || need+=(rpm); }
$rpm && $lint && { command -v rpmlint >/dev/null || need+=(rpmlint); }
[ ${#need[@]} = 0 ] || die "missing Debian packages: ${need[*]} (scripts/install-test-deps.sh installs them)"

upstream=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version | sed 's/-[^-]*$//')
build=$top/target/packages/build
src=$build/burrow-$upstream
mkdir -p "$src"
export CARGO_NET_OFFLINE=true

# The sources: what git would put in a commit of the tree as it is now. target/ (cargo's build)
# and vendor/ stay between runs; everything else is replaced, keeping the files' times, so an
# unchanged file is not rebuilt.
t0=$(date +%s)
find "$src" -mindepth 1 -maxdepth 1 ! -name target ! -name vendor -exec rm -rf {} +
git ls-files -z -c -o --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$src"
cp -a packaging/debian "$src/debian"
# The crates, from the local registry (cargo vendor --offline); redone when Cargo.lock changes.
if ! cmp -s Cargo.lock "$src/vendor/.Cargo.lock" 2>/dev/null; then
  rm -rf "$src/vendor"
  cargo vendor --locked --offline --quiet "$src/vendor" >/dev/null || die "cargo vendor --offline failed: are the crates in the local registry (cargo fetch)?"
  cp Cargo.lock "$src/vendor/.Cargo.lock"
fi
if [ -n "$version" ]; then
  # A changelog entry for the version asked for, on top of packaging/debian/changelog, dated as
  # the entry below it: dpkg-buildpackage sets SOURCE_DATE_EPOCH from the top entry's date, and
  # the cc crate's build scripts rerun when it changes (rerun-if-env-changed), so a date of now
  # rebuilt liblzma-sys, zstd-sys and every crate above them in each --version build (797 s
  # instead of an incremental build); the same tree also gives the same .debs this way.
  { printf 'burrow (%s) UNRELEASED; urgency=medium\n\n  * Build of %s with the version %s (scripts/build-packages.sh --version).\n\n -- %s  %s\n\n' \
      "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo the tree)" "$version" \
      "$(dpkg-parsechangelog -l packaging/debian/changelog -S Maintainer)" \
      "$(dpkg-parsechangelog -l packaging/debian/changelog -S Date)"
    cat packaging/debian/changelog; } >"$src/debian/changelog"
fi
debver=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
t1=$(date +%s)
log "sources copied to $src in $((t1 - t0)) s (version $debver)"

if $deb; then
  rm -f "$build"/*.deb "$build"/*.ddeb "$build"/*.changes "$build"/*.buildinfo
  # --no-pre-clean keeps the cargo build of the last run (debian/rules clean deletes target/).
  (cd "$src" && dpkg-buildpackage -d -us -uc -b --no-pre-clean) >"$build/dpkg-buildpackage.log" 2>&1 || {
    tail -40 "$build/dpkg-buildpackage.log" >&2
    die "dpkg-buildpackage failed (log: $build/dpkg-buildpackage.log)"
  }
  rm -f "$out"/burrow*.deb "$out"/burrow_*.changes "$out"/burrow_*.buildinfo
  mv "$build"/burrow*_"${debver#*:}"_*.deb "$build"/burrow_*.changes "$build"/burrow_*.buildinfo "$out/"
  t2=$(date +%s)
  log "dpkg-buildpackage took $((t2 - t1)) s"
  for d in "$out"/*.deb; do
    echo "$d"
    dpkg-deb -c "$d" | awk '{print "  " $1, $2, $6}'
  done
  if $lint; then
    # --fail-on warning: every error and warning fails, unless overridden (with the reason) in
    # packaging/debian/*.lintian-overrides. Info tags are shown and do not fail.
    lintian --fail-on error,warning --info --display-info --tag-display-limit 0 "$out"/burrow_"${debver#*:}"_*.changes
    log "lintian: clean ($(($(date +%s) - t2)) s)"
  fi
fi

if $rpm; then
  # rpmbuild from Debian's rpm package: Source0 is the copied tree, Source1 the vendored crates,
  # as the spec expects. --nodeps: Debian's rpm database knows none of the BuildRequires (they
  # are here as Debian packages, and Rust from rustup). The systemd macros come from Fedora's
  # systemd-rpm-macros, which Debian does not have: they are defined as no-ops here (they only
  # make scriptlets, which a build on Debian never runs).
  t3=$(date +%s)
  rtop=$build/rpmbuild
  rm -rf "$rtop"/{SOURCES,SRPMS,RPMS,BUILDROOT}
  mkdir -p "$rtop"/{SOURCES,SPECS,BUILD}
  rversion=$(sed -n 's/^Version: *//p' packaging/rpm/burrow.spec)
  tar -C "$build" --exclude="burrow-$upstream/target" --exclude="burrow-$upstream/vendor" \
    --exclude="burrow-$upstream/debian" --transform="s|^burrow-$upstream|burrow-$rversion|" \
    -czf "$rtop/SOURCES/burrow-$rversion.tar.gz" "burrow-$upstream"
  tar -C "$src" -cf - vendor | gzip -1 >"$rtop/SOURCES/burrow-$rversion-vendor.tar.gz"
  # --without debuginfo. Cargo's target directory is kept between runs, beside the build copy
  # (rpmbuild unpacks the sources afresh each time): a warm build compiles only what changed.
  # It is not the .debs' one: sharing it made each build recompile every crate after the other.
  CARGO_TARGET_DIR=$build/rpm-target rpmbuild -bb --nodeps --without debuginfo \
    --define "_topdir $rtop" \
    --define "_unitdir /usr/lib/systemd/system" \
    --define "systemd_post() %{nil}" --define "systemd_preun() %{nil}" --define "systemd_postun() %{nil}" \
    --define "_build_id_links none" \
    packaging/rpm/burrow.spec >"$build/rpmbuild.log" 2>&1 || {
    tail -40 "$build/rpmbuild.log" >&2
    die "rpmbuild failed (log: $build/rpmbuild.log)"
  }
  rm -f "$out"/*.rpm
  find "$rtop/RPMS" -name '*.rpm' -exec mv {} "$out/" \;
  for r in "$out"/*.rpm; do
    echo "$r"
    rpm -qlvp "$r" 2>/dev/null | awk '{print "  " $1, $3 "/" $4, $9}'
  done
  log "rpmbuild took $(($(date +%s) - t3)) s"
  if $lint; then
    # --strict: every message not filtered in burrow.rpmlintrc (each filter with its reason)
    # fails. Debian's rpmlint has no Fedora or openSUSE policy configuration: its generic checks.
    t4=$(date +%s)
    rpmlint --strict -r packaging/rpm/burrow.rpmlintrc "$out"/*.rpm
    log "rpmlint: clean ($(($(date +%s) - t4)) s)"
  fi
fi
