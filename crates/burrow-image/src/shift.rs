//! Layers with other owners, for `--idmap auto` and `--idmap keep-id`.
//!
//! An unpacked layer (`ROOT/layers/DIFFHEX`) has the owners of the shared map: container id 0
//! is the user, id X >= 1 is subuid_start + X - 1. A container with another map would see
//! those files as owned by other ids (or by the overflow id), so it gets a shifted copy:
//!
//! ```text
//! ROOT/shifted/KEY/DIFFHEX      the layer, every owner moved to the map KEY
//! ```
//!
//! KEY names the map (`auto-UIDSTART-GIDSTART-SIZE`, `keep-id-UID-GID`). A copy is made once
//! per (layer, map) and reused by every later container with that map; it is built under
//! `tmp/` and renamed into place when complete, so a killed copy leaves only a `tmp/PID-*`
//! entry (removed by prune) and two concurrent makers both finish (one rename wins, the other
//! copy is discarded). `rmi` and `image prune` remove the copies of the layers they remove.
//!
//! # Why a copy
//!
//! - idmapped mounts (`mount_setattr(MOUNT_ATTR_IDMAP)`) would give any map for free, but
//!   need `CAP_SYS_ADMIN` in the user namespace that owns the filesystem's superblock: the
//!   initial one for ext4, xfs or btrfs, so an unprivileged user cannot use them on the store.
//! - overlayfs `metacopy=on` (copy owners, share data) is refused together with `userxattr`,
//!   which a mount in a user namespace needs; and a metacopy lower is not a layer anyway.
//! - chowning the layers in place would break every container with the shared map.
//!
//! The copy is made inside the store writers' user namespace (the user's full map), so every
//! owner of the target map is an id there. The copy keeps what the unpacker made: overlay
//! whiteouts (0/0 character devices, `user.overlay.*` xattrs), hard links (as hard links),
//! modes with setuid and setgid bits and file capabilities (both cleared by `chown`, so set
//! again after it, the capability's root id moved to the new map), times, symlinks. An owner
//! that the target map does not reach is refused, naming the file and the id.

use crate::digest::Digest;
use crate::store::{io_err, remove_tree, Result, Store, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where a layer's ids go: lines `(layer id, id in the store writers' namespace, count)`,
/// for uids and for gids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdShift {
    /// Uid lines.
    pub uid: Vec<(u64, u64, u64)>,
    /// Gid lines.
    pub gid: Vec<(u64, u64, u64)>,
}

fn lookup(lines: &[(u64, u64, u64)], id: u32) -> Option<u32> {
    let id = u64::from(id);
    lines
        .iter()
        .find(|(i, _, c)| id >= *i && id < i + c)
        .and_then(|(i, o, _)| u32::try_from(o + (id - i)).ok())
}

impl IdShift {
    /// Parses `I:O:C,I:O:C,...`.
    pub fn parse_lines(s: &str) -> Option<Vec<(u64, u64, u64)>> {
        s.split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<u64> = l
                    .split(':')
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .ok()?;
                match f[..] {
                    [i, o, c] if c > 0 => Some((i, o, c)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Formats lines as [`IdShift::parse_lines`] reads them.
    pub fn format_lines(lines: &[(u64, u64, u64)]) -> String {
        lines
            .iter()
            .map(|(i, o, c)| format!("{i}:{o}:{c}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn ids(&self, uid: u32, gid: u32, rel: &Path) -> io::Result<(u32, u32)> {
        let out = |what: &str, id: u32, lines: &[(u64, u64, u64)]| {
            let top = lines.iter().map(|(i, _, c)| i + c).max().unwrap_or(1) - 1;
            io::Error::other(format!(
                "/{} is owned by {what} {id}, which this id map does not have (its {what}s are 0 to {top}): use --idmap shared, or auto:SIZE with SIZE above {id}",
                rel.display()
            ))
        };
        Ok((
            lookup(&self.uid, uid).ok_or_else(|| out("uid", uid, &self.uid))?,
            lookup(&self.gid, gid).ok_or_else(|| out("gid", gid, &self.gid))?,
        ))
    }
}

/// A map key is one path component of letters, digits and `-`.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > 100
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(StoreError::Io {
            op: "use the id map key",
            path: PathBuf::from(key),
            source: io::Error::other("a key is letters, digits and '-'"),
        });
    }
    Ok(())
}

impl Store {
    /// Where the copy of layer `diff_id` for the map `key` lives (whether or not it is there).
    pub fn shifted_path(&self, key: &str, diff_id: &Digest) -> PathBuf {
        self.root().join("shifted").join(key).join(diff_id.hex())
    }

    /// Whether every layer of `layers` has its copy for `key`.
    pub fn has_shifted(&self, key: &str, layers: &[Digest]) -> bool {
        layers.iter().all(|d| self.shifted_path(key, d).is_dir())
    }

    /// Makes (once) the copy of layer `diff_id` with owners moved by `map`, for the map
    /// `key`, and returns its path. Call as root of the store writers' user namespace.
    pub fn shift_layer(&self, diff_id: &Digest, key: &str, map: &IdShift) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        check_key(key)?;
        let dest = self.shifted_path(key, diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let src = self.layer_path(diff_id);
        if !src.is_dir() {
            return Err(StoreError::Io {
                op: "find the layer",
                path: src,
                source: io::Error::other("it is missing (storage damaged? pull the image again)"),
            });
        }
        let top = self.root().join("shifted");
        for d in [&top, &top.join(key)] {
            match fs::DirBuilder::new().mode(0o700).create(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create", d)(e)),
            }
        }
        // Setuid files owned by subordinate ids live below: only the user may pass.
        fs::set_permissions(&top, fs::Permissions::from_mode(0o700))
            .map_err(io_err("restrict to its owner", &top))?;
        let tmp = self.tmp_path("shift");
        let mut links = HashMap::new();
        if let Err(e) = copy(&src, &tmp, Path::new(""), map, &mut links) {
            let _ = remove_tree(&tmp);
            return Err(io_err("copy with shifted owners", &src)(e));
        }
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = remove_tree(&tmp);
            // Another maker was first: use its copy.
            if !dest.is_dir() {
                return Err(io_err("rename into place", &dest)(e));
            }
        }
        Ok(dest)
    }

    /// Removes the copies of layers not in `layers` (hex diff-ids); returns how many. Call
    /// with the gc lock held exclusively.
    pub(crate) fn collect_shifted(&self, layers: &BTreeSet<String>) -> Result<usize> {
        let top = self.root().join("shifted");
        let rd = match fs::read_dir(&top) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("list", &top)(e)),
        };
        let mut n = 0;
        for key in rd {
            let key = key.map_err(io_err("list", &top))?.path();
            for e in fs::read_dir(&key).map_err(io_err("list", &key))? {
                let e = e.map_err(io_err("list", &key))?;
                if !layers.contains(&*e.file_name().to_string_lossy()) {
                    remove_tree(&e.path()).map_err(io_err("remove", &e.path()))?;
                    n += 1;
                }
            }
            // Gone when empty (a concurrent maker recreates it).
            let _ = fs::remove_dir(&key);
        }
        Ok(n)
    }
}

const CAP_XATTR: &str = "security.capability";

/// `security.capability` with its root id moved: a v2 value (root id = this namespace's 0)
/// and a v3 value become v3 with the root id of the target map.
fn shift_caps(v: &[u8], map: &IdShift) -> Option<Vec<u8>> {
    const REV_MASK: u32 = 0xFF00_0000;
    const REV2: u32 = 0x0200_0000;
    const REV3: u32 = 0x0300_0000;
    let magic = u32::from_le_bytes(v.get(0..4)?.try_into().ok()?);
    let root = match magic & REV_MASK {
        REV2 if v.len() >= 20 => 0,
        REV3 if v.len() >= 24 => u32::from_le_bytes(v.get(20..24)?.try_into().ok()?),
        _ => return None,
    };
    let new_root = lookup(&map.uid, root)?;
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&((magic & !REV_MASK) | REV3).to_le_bytes());
    out.extend_from_slice(v.get(4..20)?);
    out.extend_from_slice(&new_root.to_le_bytes());
    Some(out)
}

/// Copies the xattrs of `from` to `to` but `security.capability`, which it returns.
fn copy_xattrs(from: &File, to: &File) -> io::Result<Option<Vec<u8>>> {
    let mut caps = None;
    let names = match burrow_sys::flistxattr(from.as_fd()) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(None),
        Err(e) => return Err(e),
    };
    for name in names {
        let value = burrow_sys::fgetxattr(from.as_fd(), &name)?;
        if name.as_bytes() == CAP_XATTR.as_bytes() {
            caps = Some(value);
            continue;
        }
        burrow_sys::fsetxattr(to.as_fd(), &name, &value)?;
    }
    Ok(caps)
}

fn set_times(p: &Path, md: &fs::Metadata) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let ts = |s: i64, ns: i64| TimeSpec::new(s, ns);
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &ts(md.atime(), md.atime_nsec()),
        &ts(md.mtime(), md.mtime_nsec()),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

fn chown_path(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
}

/// Copies `src` to `dst` (which does not exist), shifting owners; `rel` is the path inside
/// the layer (for errors); `links` maps (dev, ino) of multiply linked files to their copy.
fn copy(
    src: &Path,
    dst: &Path,
    rel: &Path,
    map: &IdShift,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    let ft = md.file_type();
    let (uid, gid) = map.ids(md.uid(), md.gid(), rel)?;
    let mode = md.mode() & 0o7777;
    if ft.is_dir() {
        fs::create_dir(dst)?;
        let (sf, df) = (File::open(src)?, File::open(dst)?);
        let caps = copy_xattrs(&sf, &df)?;
        for e in fs::read_dir(src)? {
            let e = e?;
            let name = e.file_name();
            copy(&e.path(), &dst.join(&name), &rel.join(&name), map, links)?;
        }
        std::os::unix::fs::fchown(&df, Some(uid), Some(gid))?;
        df.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(c) = caps.and_then(|c| shift_caps(&c, map)) {
            burrow_sys::fsetxattr(df.as_fd(), c"security.capability", &c)?;
        }
        drop(df);
        set_times(dst, &md)
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        chown_path(dst, uid, gid)?;
        set_times(dst, &md)
    } else if ft.is_file() {
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                return fs::hard_link(first, dst);
            }
            links.insert((md.dev(), md.ino()), dst.to_owned());
        }
        let mut sf = File::open(src)?;
        let mut df = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)?;
        io::copy(&mut sf, &mut df)?;
        let caps = copy_xattrs(&sf, &df)?;
        // chown clears setuid, setgid and file capabilities: mode and caps come after it.
        std::os::unix::fs::fchown(&df, Some(uid), Some(gid))?;
        df.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(c) = caps {
            let shifted = shift_caps(&c, map).ok_or_else(|| {
                io::Error::other(format!(
                    "/{} has file capabilities whose root id this id map does not have",
                    rel.display()
                ))
            })?;
            burrow_sys::fsetxattr(df.as_fd(), c"security.capability", &shifted)?;
        }
        drop(df);
        set_times(dst, &md)
    } else {
        // Whiteouts (0/0 character devices), other devices, fifos, sockets.
        use nix::sys::stat::{mknod, Mode, SFlag};
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            SFlag::S_IFSOCK
        };
        mknod(dst, kind, Mode::from_bits_truncate(mode), md.rdev()).map_err(io::Error::from)?;
        chown_path(dst, uid, gid)?;
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
        set_times(dst, &md)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let l = IdShift::parse_lines("0:1:1000,1000:0:1,1001:1001:64536").unwrap();
        assert_eq!(l, vec![(0, 1, 1000), (1000, 0, 1), (1001, 1001, 64536)]);
        assert_eq!(
            IdShift::format_lines(&l),
            "0:1:1000,1000:0:1,1001:1001:64536"
        );
        assert!(IdShift::parse_lines("0:1").is_none());
        assert!(IdShift::parse_lines("0:1:0").is_none());
        assert_eq!(lookup(&l, 1000), Some(0));
        assert_eq!(lookup(&l, 999), Some(1000));
        assert_eq!(lookup(&l, 70_000), None);
        let m = IdShift {
            uid: l.clone(),
            gid: l,
        };
        assert!(m
            .ids(70_000, 0, Path::new("etc/x"))
            .unwrap_err()
            .to_string()
            .contains("/etc/x is owned by uid 70000"));
    }

    #[test]
    fn caps() {
        let m = IdShift {
            uid: vec![(0, 5, 10)],
            gid: vec![],
        };
        // v2, effective, CAP_NET_RAW permitted.
        let mut v2 = 0x0200_0001u32.to_le_bytes().to_vec();
        v2.extend_from_slice(&[0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let v3 = shift_caps(&v2, &m).unwrap();
        assert_eq!(&v3[0..4], &0x0300_0001u32.to_le_bytes());
        assert_eq!(&v3[4..20], &v2[4..20]);
        assert_eq!(&v3[20..24], &5u32.to_le_bytes());
        // v3 with root id 3 -> 8.
        let mut v = v3.clone();
        v[20..24].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(&shift_caps(&v, &m).unwrap()[20..24], &8u32.to_le_bytes());
        assert!(shift_caps(&[1, 2], &m).is_none());
    }
}
