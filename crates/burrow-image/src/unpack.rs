//! Unpacking one layer (a tar stream, compressed or not) into a directory, safely.
//!
//! Every path is resolved with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` relative to the destination's directory fd, and
//! only the last component is created with an `*at` call on its parent's fd: nothing is ever
//! written outside the destination, whatever the archive holds.
//!
//! # Outcomes for hostile archives
//!
//! | entry | outcome |
//! | --- | --- |
//! | absolute path (`/etc/x`) | the leading `/` is dropped (GNU tar's habit): `etc/x` inside |
//! | a `..` component anywhere (also a hard link's target) | the layer is refused ([`UnpackError::Hostile`]) |
//! | a write through a symlink (`l -> /etc`, then `l/passwd`) | refused: no path may pass a symlink |
//! | a hard link to a name that is not in the destination | refused |
//! | a symlink loop (`a -> b`, `b -> a`) | the two symlinks are created as they are (harmless); a write through them is refused |
//! | a name that is first a file, then a directory (or the reverse) | the later entry wins: the earlier one is removed |
//! | duplicate entries | the later entry wins |
//! | names with newlines | created as named (JSON escapes them in the reports) |
//! | more than [`UnpackOptions::max_entries`] entries (1,000,000 by default) | refused ([`UnpackError::TooManyEntries`]) |
//! | a name longer than [`MAX_PATH_LEN`], a component longer than 255 bytes, or deeper than [`MAX_DEPTH`] | refused ([`UnpackError::Hostile`]) |
//! | block and character devices | skipped, counted in [`UnpackReport::devices_skipped`] |
//! | `user.overlay.*`, `trusted.*` and other non-`user.*` xattrs (but `security.capability`) | dropped: an archive cannot forge whiteouts, opaque directories or redirects |
//! | `.wh..wh.*` names other than `.wh..wh..opq` (aufs metadata) | skipped |
//!
//! # Whiteouts
//!
//! In [`Mode::Layer`] (a layer directory used as an overlayfs lower layer) `.wh.NAME` becomes a
//! 0/0 character device `NAME`, overlayfs's own whiteout. Linux lets unprivileged processes
//! make exactly that device since 5.8 (`vfs_mknod` exempts `WHITEOUT_DEV` from `CAP_MKNOD`;
//! checked on 6.18 as `nobody` on ext4), so it needs no xattr form. Should `mknod` be refused
//! anyway, the whiteout becomes an empty regular file with the `user.overlay.whiteout` xattr
//! and its parent gets `user.overlay.opaque=x`, the xattr form overlayfs accepts since 6.7 with
//! `userxattr`. `.wh..wh..opq` sets `user.overlay.opaque=y` on its directory (overlayfs reads
//! `user.overlay.*` when mounted with `userxattr`, as in a user namespace; a mount by real root
//! without `userxattr` reads `trusted.overlay.*` instead and would ignore it). Every whiteout and
//! opaque directory is also listed in the [`UnpackReport`] so a caller can flatten without
//! overlayfs.
//!
//! In [`Mode::Flatten`] (layers applied one after another onto one tree) `.wh.NAME` removes
//! `NAME` and `.wh..wh..opq` removes what earlier layers put in its directory.
//!
//! # Owners
//!
//! Files are created by the calling process. With [`Ownership::Chown`] (root, or root of a
//! user namespace that has the user's full map) every entry is `chown`ed to the tar's uid/gid
//! and `security.capability` is set. With [`Ownership::Record`] (a plain unprivileged process)
//! nothing is chowned: every entry whose owner is not 0:0, or whose setuid/setgid bits or
//! `security.capability` could not be kept, is listed in [`UnpackReport::owners`], so the
//! unpack can be redone (or fixed up) inside a user namespace later. [`Ownership::Auto`]
//! picks `Chown` when the effective uid is 0. Ids at or above [`UnpackOptions::id_count`] are
//! refused, naming the id and the fix.

use crate::digest::{Digest, HashingReader};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode as Perm, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

const RESOLVE: u64 = burrow_sys::resolve::BENEATH
    | burrow_sys::resolve::NO_SYMLINKS
    | burrow_sys::resolve::NO_MAGICLINKS
    | burrow_sys::resolve::NO_XDEV;

/// Layer directory or flattened tree (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A fresh directory holding one layer, for overlayfs.
    Layer,
    /// Apply onto a tree that holds the layers below.
    Flatten,
}

/// Who owns what gets created (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// `Chown` when the effective uid is 0, else `Record`.
    Auto,
    /// chown to the archive's ids.
    Chown,
    /// Keep the caller as owner and list the intended owners.
    Record,
}

/// Limits and choices for one unpack.
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// Layer or flatten.
    pub mode: Mode,
    /// Ownership handling.
    pub ownership: Ownership,
    /// Ids must be below this (the size of the user's id map); `None` means no check.
    pub id_count: Option<u32>,
    /// At most this many entries (a bound against tar bombs).
    pub max_entries: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Layer,
            ownership: Ownership::Auto,
            id_count: None,
            max_entries: 1_000_000,
        }
    }
}

/// An owner or attribute that was not applied (in [`Ownership::Record`] mode).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnerRecord {
    /// Path relative to the layer's root.
    pub path: String,
    /// Intended uid.
    pub uid: u32,
    /// Intended gid.
    pub gid: u32,
    /// Intended mode (permission and setuid/setgid/sticky bits).
    pub mode: u32,
    /// `security.capability` value that could not be set, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<Vec<u8>>,
}

/// What an unpack did.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct UnpackReport {
    /// sha256 of the uncompressed tar stream (the layer's diff-id).
    pub diff_id: Option<Digest>,
    /// Entries read.
    pub entries: u64,
    /// Device nodes skipped (an unprivileged user cannot make them).
    pub devices_skipped: u64,
    /// Paths this layer deletes (from `.wh.NAME`).
    pub whiteouts: Vec<String>,
    /// Directories this layer makes opaque (from `.wh..wh..opq`).
    pub opaque_dirs: Vec<String>,
    /// Owners not applied (see [`Ownership::Record`]).
    pub owners: Vec<OwnerRecord>,
    /// Whether owners were applied with chown.
    pub chowned: bool,
}

/// Why an unpack failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive tries something that is never allowed.
    #[error("refusing layer: entry {path:?} {reason}")]
    Hostile {
        /// The entry's name as in the archive.
        path: String,
        /// What it tried.
        reason: &'static str,
    },
    /// Too many entries.
    #[error("refusing layer: it has more than {0} entries (a tar bomb?)")]
    TooManyEntries(u64),
    /// An owner outside the user's id range.
    #[error("layer entry {path:?} is owned by {kind} {id}, outside the {count} ids mapped for this user; give the user a larger range with `burrow admin add-user --count {need}` (as root)")]
    IdOutOfRange {
        /// The entry.
        path: String,
        /// "uid" or "gid".
        kind: &'static str,
        /// The id.
        id: u32,
        /// The map's size.
        count: u32,
        /// A count that would do.
        need: u64,
    },
    /// The archive cannot be read.
    #[error("cannot read the layer archive (corrupt or truncated?)")]
    Read(#[source] io::Error),
    /// The filesystem refused an operation.
    #[error("cannot {op} {path:?} under {}", root.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The entry.
        path: String,
        /// The destination.
        root: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, UnpackError>;

/// Wraps a possibly compressed stream (gzip, zstd, xz or none, told by the magic bytes) in
/// the matching decoder.
pub fn decompress<'a, R: Read + Send + 'a>(r: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut b = BufReader::with_capacity(256 * 1024, r);
    let head = b.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(b))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(b)?)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(b))
    } else {
        Box::new(b)
    })
}

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Longest entry name accepted, in bytes: the kernel's `PATH_MAX` less its NUL, beyond which
/// no path call could reach the entry anyway.
pub const MAX_PATH_LEN: usize = 4095;

/// Deepest entry accepted, in components. Real images stay far below; a deep tree costs a
/// lookup per level for every entry below it (a "deep directories" bomb).
pub const MAX_DEPTH: usize = 512;

/// Splits an archive name into safe components: leading `/` and `.` dropped, `..` refused,
/// names longer than [`MAX_PATH_LEN`] bytes, components longer than 255 bytes (`NAME_MAX`) and
/// paths deeper than [`MAX_DEPTH`] refused.
pub fn clean_path(raw: &[u8]) -> std::result::Result<Vec<Vec<u8>>, &'static str> {
    if raw.len() > MAX_PATH_LEN {
        return Err("is longer than 4095 bytes (PATH_MAX)");
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("has a `..` component"),
            c if c.len() > 255 => return Err("has a component longer than 255 bytes (NAME_MAX)"),
            c => out.push(c.to_vec()),
        }
        if out.len() > MAX_DEPTH {
            return Err("is more than 512 directories deep");
        }
    }
    Ok(out)
}

fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A directory's path, mode, uid, gid and mtime, applied after its contents.
type DirMeta = (Vec<Vec<u8>>, u32, u32, u32, u64);

struct Unpacker<'a> {
    root: OwnedFd,
    root_path: &'a Path,
    opts: &'a UnpackOptions,
    chown: bool,
    report: UnpackReport,
    dirs: Vec<DirMeta>,
    created: HashSet<Vec<u8>>,
}

fn show(c: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&c.join(&b'/')).into_owned()
}

impl Unpacker<'_> {
    fn io(&self, op: &'static str, path: &[Vec<u8>], source: io::Error) -> UnpackError {
        UnpackError::Io {
            op,
            path: show(path),
            root: self.root_path.to_owned(),
            source,
        }
    }

    /// Opens (creating missing ones with 0755) the directory that holds `comps`' last part.
    fn parent(&self, comps: &[Vec<u8>], raw: &str) -> Result<OwnedFd> {
        let Some((_, dirs)) = comps.split_last() else {
            return self.dup_root(comps);
        };
        if dirs.is_empty() {
            return self.dup_root(comps);
        }
        // The common case in one syscall: the whole parent exists.
        let whole = cstr(&dirs.join(&b'/')).map_err(|e| self.io("name", comps, e))?;
        match burrow_sys::openat2(
            Some(self.root.as_fd()),
            &whole,
            libc::O_PATH | libc::O_DIRECTORY,
            RESOLVE,
        ) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EXDEV)) => {
                return Err(UnpackError::Hostile {
                    path: raw.to_owned(),
                    reason: "passes through a symlink",
                })
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(UnpackError::Hostile {
                    path: raw.to_owned(),
                    reason: "passes through something that is not a directory",
                })
            }
            Err(e) => return Err(self.io("open directory", dirs, e)),
        }
        // Some parent is missing: walk and create (0755) component by component.
        let mut fd = self.dup_root(comps)?;
        for (i, d) in dirs.iter().enumerate() {
            let name = cstr(d).map_err(|e| self.io("name", comps, e))?;
            let open = |fd: &OwnedFd| {
                burrow_sys::openat2(
                    Some(fd.as_fd()),
                    &name,
                    libc::O_PATH | libc::O_DIRECTORY,
                    RESOLVE,
                )
            };
            let next = match open(&fd) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match nix::sys::stat::mkdirat(
                        &fd,
                        name.as_c_str(),
                        Perm::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(self.io("create directory", &comps[..=i], errno(e))),
                    }
                    open(&fd).map_err(|e| self.io("open directory", &comps[..=i], e))?
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EXDEV)) => {
                    return Err(UnpackError::Hostile {
                        path: raw.to_owned(),
                        reason: "passes through a symlink",
                    })
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(UnpackError::Hostile {
                        path: raw.to_owned(),
                        reason: "passes through something that is not a directory",
                    })
                }
                Err(e) => return Err(self.io("open directory", &comps[..=i], e)),
            };
            fd = next;
        }
        Ok(fd)
    }

    fn dup_root(&self, comps: &[Vec<u8>]) -> Result<OwnedFd> {
        self.root
            .try_clone()
            .map_err(|e| self.io("duplicate the directory fd of", comps, e))
    }

    /// Removes `name` in `dir` (recursively for a directory) if it exists.
    fn remove(&self, dir: BorrowedFd<'_>, name: &CString, comps: &[Vec<u8>]) -> Result<()> {
        match nix::sys::stat::fstatat(dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(self.io("stat", comps, errno(e))),
            Ok(st) if (st.st_mode & libc::S_IFMT) == libc::S_IFDIR => {
                let sub = burrow_sys::openat2(
                    Some(dir),
                    name,
                    libc::O_RDONLY | libc::O_DIRECTORY,
                    RESOLVE,
                )
                .map_err(|e| self.io("open directory", comps, e))?;
                self.clear_dir(sub.as_fd(), comps, &HashSet::new(), &[])?;
                nix::unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::RemoveDir)
                    .map_err(|e| self.io("remove directory", comps, errno(e)))
            }
            Ok(_) => nix::unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| self.io("remove", comps, errno(e))),
        }
    }

    /// Removes every child of `dir` except those whose full path is in `keep`.
    fn clear_dir(
        &self,
        dir: BorrowedFd<'_>,
        comps: &[Vec<u8>],
        keep: &HashSet<Vec<u8>>,
        prefix: &[u8],
    ) -> Result<()> {
        let fd = burrow_sys::openat2(Some(dir), c".", libc::O_RDONLY | libc::O_DIRECTORY, RESOLVE)
            .map_err(|e| self.io("open directory", comps, e))?;
        let mut d = nix::dir::Dir::from_fd(fd).map_err(|e| self.io("list", comps, errno(e)))?;
        let mut names = Vec::new();
        for ent in d.iter() {
            let ent = ent.map_err(|e| self.io("list", comps, errno(e)))?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        for n in names {
            let mut full = prefix.to_vec();
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(&n);
            if keep.contains(&full) {
                continue;
            }
            let c = cstr(&n).map_err(|e| self.io("name", comps, e))?;
            self.remove(dir, &c, comps)?;
        }
        Ok(())
    }

    fn check_ids(&self, raw: &str, uid: u64, gid: u64) -> Result<(u32, u32)> {
        let conv = |id: u64, kind: &'static str| -> Result<u32> {
            let count = self.opts.id_count.unwrap_or(u32::MAX);
            match u32::try_from(id) {
                Ok(v) if v < count => Ok(v),
                _ => Err(UnpackError::IdOutOfRange {
                    path: raw.to_owned(),
                    kind,
                    id: u32::try_from(id).unwrap_or(u32::MAX),
                    count,
                    need: id + 1,
                }),
            }
        };
        Ok((conv(uid, "uid")?, conv(gid, "gid")?))
    }

    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<()> {
        let raw_bytes = e.path_bytes().into_owned();
        let raw = String::from_utf8_lossy(&raw_bytes).into_owned();
        let comps = clean_path(&raw_bytes).map_err(|reason| UnpackError::Hostile {
            path: raw.clone(),
            reason,
        })?;
        let h = e.header();
        let kind = h.entry_type();
        let mode = h.mode().map_err(UnpackError::Read)? & 0o7777;
        let (uid, gid) = self.check_ids(
            &raw,
            h.uid().map_err(UnpackError::Read)?,
            h.gid().map_err(UnpackError::Read)?,
        )?;
        let mtime = h.mtime().unwrap_or(0);
        let key = comps.join(&b'/');

        let Some((last, _)) = comps.split_last() else {
            // The root itself ("./"): its mode, owner and time apply to the destination.
            if kind.is_dir() {
                self.dirs.push((Vec::new(), mode, uid, gid, mtime));
            }
            return Ok(());
        };
        // Whiteouts.
        if last.as_slice() == b".wh..wh..opq" {
            let dir_comps = &comps[..comps.len() - 1];
            let parent = self.parent(&comps, &raw)?;
            let dpath = dir_comps.join(&b'/');
            self.report
                .opaque_dirs
                .push(String::from_utf8_lossy(&dpath).into_owned());
            match self.opts.mode {
                Mode::Layer => {
                    let d = burrow_sys::openat2(
                        Some(parent.as_fd()),
                        c".",
                        libc::O_RDONLY | libc::O_DIRECTORY,
                        RESOLVE,
                    )
                    .map_err(|e| self.io("open directory", dir_comps, e))?;
                    burrow_sys::fsetxattr(d.as_fd(), c"user.overlay.opaque", b"y")
                        .map_err(|e| self.io("set user.overlay.opaque on", dir_comps, e))?;
                }
                Mode::Flatten => {
                    let keep = self.created.clone();
                    self.clear_dir(parent.as_fd(), dir_comps, &keep, &dpath)?;
                }
            }
            return Ok(());
        }
        if let Some(target) = last.strip_prefix(b".wh.") {
            if target.starts_with(b".wh.") || target.is_empty() {
                return Ok(()); // aufs metadata (.wh..wh.plnk, ...): not content.
            }
            let parent = self.parent(&comps, &raw)?;
            let mut tcomps = comps.clone();
            if let Some(l) = tcomps.last_mut() {
                *l = target.to_vec();
            }
            self.report.whiteouts.push(show(&tcomps));
            let name = cstr(target).map_err(|e| self.io("name", &tcomps, e))?;
            self.remove(parent.as_fd(), &name, &tcomps)?;
            if self.opts.mode == Mode::Layer {
                self.whiteout(parent.as_fd(), &name, &tcomps)?;
                self.created.insert(tcomps.join(&b'/'));
            }
            return Ok(());
        }

        let parent = self.parent(&comps, &raw)?;
        let name = cstr(last).map_err(|e| self.io("name", &comps, e))?;
        self.created.insert(key.clone());
        if kind.is_dir() {
            match nix::sys::stat::fstatat(&parent, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if (st.st_mode & libc::S_IFMT) == libc::S_IFDIR => {}
                Ok(_) => {
                    self.remove(parent.as_fd(), &name, &comps)?;
                    self.mkdir(&parent, &name, &comps)?;
                }
                Err(_) => self.mkdir(&parent, &name, &comps)?,
            }
            let d = burrow_sys::openat2(
                Some(parent.as_fd()),
                &name,
                libc::O_RDONLY | libc::O_DIRECTORY,
                RESOLVE,
            )
            .map_err(|err| self.io("open directory", &comps, err))?;
            let cap = self.xattrs(&mut e, d.as_fd(), &comps)?;
            self.note_owner(&key, uid, gid, mode, cap);
            self.dirs.push((comps, mode, uid, gid, mtime));
            return Ok(());
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e.link_name_bytes().map(|c| c.into_owned()).ok_or_else(|| {
                UnpackError::Hostile {
                    path: raw.clone(),
                    reason: "is a link without a target",
                }
            })?;
            self.remove(parent.as_fd(), &name, &comps)?;
            if kind.is_symlink() {
                nix::unistd::symlinkat(OsStr::from_bytes(&target), &parent, name.as_c_str())
                    .map_err(|err| self.io("create symlink", &comps, errno(err)))?;
                if self.chown {
                    nix::unistd::fchownat(
                        &parent,
                        name.as_c_str(),
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|err| self.io("chown", &comps, errno(err)))?;
                } else {
                    self.note_owner(&key, uid, gid, 0o777, None);
                }
                let t = nix::sys::time::TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
                let _ = nix::sys::stat::utimensat(
                    &parent,
                    name.as_c_str(),
                    &t,
                    &t,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            } else {
                let tcomps = clean_path(&target).map_err(|reason| UnpackError::Hostile {
                    path: raw.clone(),
                    reason,
                })?;
                let Some((tlast, _)) = tcomps.split_last() else {
                    return Err(UnpackError::Hostile {
                        path: raw,
                        reason: "is a hard link to the layer's root",
                    });
                };
                let tparent = self.parent_existing(&tcomps, &raw)?;
                let tname = cstr(tlast).map_err(|err| self.io("name", &tcomps, err))?;
                match nix::unistd::linkat(
                    &tparent,
                    tname.as_c_str(),
                    &parent,
                    name.as_c_str(),
                    AtFlags::empty(),
                ) {
                    Ok(()) => {}
                    Err(Errno::ENOENT) => {
                        return Err(UnpackError::Hostile {
                            path: raw,
                            reason: "is a hard link to a file that is not in this layer",
                        })
                    }
                    Err(err) => return Err(self.io("create hard link", &comps, errno(err))),
                }
            }
            return Ok(());
        }
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            self.report.devices_skipped += 1;
            self.created.remove(&key);
            return Ok(());
        }
        if kind == tar::EntryType::Fifo {
            self.remove(parent.as_fd(), &name, &comps)?;
            nix::unistd::mkfifoat(&parent, name.as_c_str(), Perm::from_bits_truncate(0o600))
                .map_err(|err| self.io("create fifo", &comps, errno(err)))?;
            let f = burrow_sys::openat2(Some(parent.as_fd()), &name, libc::O_PATH, RESOLVE)
                .map_err(|err| self.io("open", &comps, err))?;
            drop(f);
            if self.chown {
                nix::unistd::fchownat(
                    &parent,
                    name.as_c_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|err| self.io("chown", &comps, errno(err)))?;
            }
            nix::sys::stat::fchmodat(
                &parent,
                name.as_c_str(),
                Perm::from_bits_truncate(mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|err| self.io("chmod", &comps, errno(err)))?;
            self.note_owner(&key, uid, gid, mode, None);
            return Ok(());
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse()) {
            // pax/GNU metadata entries are consumed by the tar crate; anything else is unknown.
            self.created.remove(&key);
            return Ok(());
        }
        let create = || {
            burrow_sys::openat2_mode(
                Some(parent.as_fd()),
                &name,
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600,
                RESOLVE,
            )
        };
        // Create first; only a name that is taken (a duplicate, a whiteout, an earlier
        // layer's entry when flattening) costs a removal and a second try.
        let fd = match create() {
            Ok(fd) => fd,
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {
                self.remove(parent.as_fd(), &name, &comps)?;
                create().map_err(|err| self.io("create", &comps, err))?
            }
            Err(err) => return Err(self.io("create", &comps, err)),
        };
        let mut f = File::from(fd);
        copy_sparse(&mut e, &mut f).map_err(|err| match err {
            CopyError::Read(e) => UnpackError::Read(e),
            CopyError::Write(e) => self.io("write", &comps, e),
        })?;
        let cap = self.xattrs(&mut e, f.as_fd(), &comps)?;
        if self.chown {
            nix::unistd::fchown(&f, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|err| self.io("chown", &comps, errno(err)))?;
            if let Some(c) = &cap {
                burrow_sys::fsetxattr(f.as_fd(), c"security.capability", c)
                    .map_err(|err| self.io("set security.capability on", &comps, err))?;
            }
        }
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|err| self.io("chmod", &comps, err))?;
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
        f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
            .map_err(|err| self.io("set times of", &comps, err))?;
        self.note_owner(&key, uid, gid, mode, if self.chown { None } else { cap });
        Ok(())
    }

    /// Like [`Self::parent`] but never creates anything (for hard link targets).
    fn parent_existing(&self, comps: &[Vec<u8>], raw: &str) -> Result<OwnedFd> {
        let dirs = &comps[..comps.len().saturating_sub(1)];
        if dirs.is_empty() {
            return self.dup_root(comps);
        }
        let p = cstr(&dirs.join(&b'/')).map_err(|e| self.io("name", comps, e))?;
        burrow_sys::openat2(
            Some(self.root.as_fd()),
            &p,
            libc::O_PATH | libc::O_DIRECTORY,
            RESOLVE,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => UnpackError::Hostile {
                path: raw.to_owned(),
                reason: "is a hard link to a file that is not in this layer",
            },
            Some(libc::ELOOP) | Some(libc::EXDEV) | Some(libc::ENOTDIR) => UnpackError::Hostile {
                path: raw.to_owned(),
                reason: "is a hard link whose target passes through a symlink",
            },
            _ => self.io("open directory", comps, e),
        })
    }

    fn mkdir(&self, parent: &OwnedFd, name: &CString, comps: &[Vec<u8>]) -> Result<()> {
        nix::sys::stat::mkdirat(parent, name.as_c_str(), Perm::from_bits_truncate(0o700))
            .map_err(|e| self.io("create directory", comps, errno(e)))
    }

    fn whiteout(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CString,
        comps: &[Vec<u8>],
    ) -> Result<()> {
        match nix::sys::stat::mknodat(parent, name.as_c_str(), SFlag::S_IFCHR, Perm::empty(), 0) {
            Ok(()) => Ok(()),
            Err(Errno::EPERM) => {
                let f = burrow_sys::openat2_mode(
                    Some(parent),
                    name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                    0o600,
                    RESOLVE,
                )
                .map_err(|e| self.io("create whiteout", comps, e))?;
                burrow_sys::fsetxattr(f.as_fd(), c"user.overlay.whiteout", b"")
                    .map_err(|e| self.io("set user.overlay.whiteout on", comps, e))?;
                let d = burrow_sys::openat2(
                    Some(parent),
                    c".",
                    libc::O_RDONLY | libc::O_DIRECTORY,
                    RESOLVE,
                )
                .map_err(|e| self.io("open directory", comps, e))?;
                if burrow_sys::fgetxattr(d.as_fd(), c"user.overlay.opaque").is_err() {
                    burrow_sys::fsetxattr(d.as_fd(), c"user.overlay.opaque", b"x").map_err(
                        |e| self.io("set user.overlay.opaque on the parent of", comps, e),
                    )?;
                }
                Ok(())
            }
            Err(e) => Err(self.io("create whiteout", comps, errno(e))),
        }
    }

    /// Sets `user.*` xattrs from the pax header; returns a `security.capability` value to set
    /// after chown (chown clears it).
    fn xattrs<R: Read>(
        &self,
        e: &mut tar::Entry<'_, R>,
        fd: BorrowedFd<'_>,
        comps: &[Vec<u8>],
    ) -> Result<Option<Vec<u8>>> {
        let mut cap = None;
        let Some(exts) = e.pax_extensions().map_err(UnpackError::Read)? else {
            return Ok(None);
        };
        for ext in exts {
            let ext = ext.map_err(UnpackError::Read)?;
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if name == b"security.capability" {
                cap = Some(ext.value_bytes().to_vec());
            } else if name.starts_with(b"user.") && !name.starts_with(b"user.overlay.") {
                let n = cstr(name).map_err(|err| self.io("name", comps, err))?;
                burrow_sys::fsetxattr(fd, &n, ext.value_bytes())
                    .map_err(|err| self.io("set an xattr on", comps, err))?;
            }
        }
        Ok(cap)
    }

    fn note_owner(
        &mut self,
        key: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
        capability: Option<Vec<u8>>,
    ) {
        if self.chown {
            return;
        }
        if uid != 0 || gid != 0 || mode & 0o6000 != 0 || capability.is_some() {
            self.report.owners.push(OwnerRecord {
                path: String::from_utf8_lossy(key).into_owned(),
                uid,
                gid,
                mode,
                capability,
            });
        }
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (comps, mode, uid, gid, mtime) in dirs.into_iter().rev() {
            let p = if comps.is_empty() {
                c".".to_owned()
            } else {
                cstr(&comps.join(&b'/')).map_err(|e| self.io("name", &comps, e))?
            };
            let fd = match burrow_sys::openat2(
                Some(self.root.as_fd()),
                &p,
                libc::O_RDONLY | libc::O_DIRECTORY,
                RESOLVE,
            ) {
                Ok(fd) => fd,
                // Replaced or removed by a later entry.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(self.io("open directory", &comps, e)),
            };
            let f = File::from(fd);
            if self.chown {
                nix::unistd::fchown(&f, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                    .map_err(|e| self.io("chown", &comps, errno(e)))?;
            } else if comps.is_empty() {
                self.note_owner(b"", uid, gid, mode, None);
            }
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| self.io("chmod", &comps, e))?;
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
            f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
                .map_err(|e| self.io("set times of", &comps, e))?;
        }
        Ok(())
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies, leaving holes where whole 4 KiB blocks are zero (sparse files stay sparse). Runs
/// of data are written with one call each.
fn copy_sparse(r: &mut impl Read, f: &mut File) -> std::result::Result<(), CopyError> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut ends_in_hole = false;
    let mut len: u64 = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        let data = &buf[..n];
        let mut run_start = 0;
        let mut i = 0;
        while i < n {
            let end = (i + 4096).min(n);
            let block = &data[i..end];
            if block.len() == 4096 && block.iter().all(|b| *b == 0) {
                f.write_all(&data[run_start..i]).map_err(CopyError::Write)?;
                f.seek(SeekFrom::Current(4096)).map_err(CopyError::Write)?;
                run_start = end;
                ends_in_hole = true;
            } else {
                ends_in_hole = false;
            }
            i = end;
        }
        f.write_all(&data[run_start..n]).map_err(CopyError::Write)?;
        len += u64::try_from(n).unwrap_or(0);
    }
    if ends_in_hole {
        f.set_len(len).map_err(CopyError::Write)?;
    }
    Ok(())
}

/// Unpacks the (possibly compressed) tar stream `r` into the existing directory `dest`. The
/// decompression and the diff-id's hash run in a thread of their own, ahead of the unpack.
pub fn unpack(r: impl Read + Send, dest: &Path, opts: &UnpackOptions) -> Result<UnpackReport> {
    let root = burrow_sys::openat2(
        None,
        &cstr(dest.as_os_str().as_bytes()).map_err(UnpackError::Read)?,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )
    .map_err(|source| UnpackError::Io {
        op: "open",
        path: String::new(),
        root: dest.to_owned(),
        source,
    })?;
    let chown = match opts.ownership {
        Ownership::Chown => true,
        Ownership::Record => false,
        Ownership::Auto => nix::unistd::geteuid().is_root(),
    };
    let mut u = Unpacker {
        root,
        root_path: dest,
        opts,
        chown,
        report: UnpackReport {
            chowned: chown,
            ..UnpackReport::default()
        },
        dirs: Vec::new(),
        created: HashSet::new(),
    };
    let plain = HashingReader::new(decompress(r).map_err(UnpackError::Read)?);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (rx, stage) = crate::pipe::read_ahead(s, plain, &stop);
        let mut ar = tar::Archive::new(rx);
        let res = (|| {
            for e in ar.entries().map_err(UnpackError::Read)? {
                let e = e.map_err(UnpackError::Read)?;
                u.report.entries += 1;
                if u.report.entries > opts.max_entries {
                    return Err(UnpackError::TooManyEntries(opts.max_entries));
                }
                u.entry(e)?;
            }
            u.finish_dirs()
        })();
        if res.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Gone, the reading end lets the stage hash what follows the archive's end.
        drop(ar);
        let plain = stage.join();
        res?;
        let plain = plain
            .map_err(|_| UnpackError::Read(io::Error::other("the decompression thread panicked")))?
            .map_err(UnpackError::Read)?;
        let (d, _) = plain.finish().map_err(UnpackError::Read)?;
        u.report.diff_id = Some(d);
        Ok(u.report)
    })
}
