//! The container's filesystem, built in its own mount namespace and then pivoted into.
//!
//! Every mount target inside the rootfs is opened first (`openat2`, relative to a descriptor of
//! the rootfs) and mounted through `/proc/self/fd/N`, so a symlink planted in the rootfs can
//! never redirect a mount onto the host: `/proc`, `/sys` and `/dev` must be real directories
//! (`RESOLVE_NO_SYMLINKS`), and volume targets resolve with `RESOLVE_IN_ROOT` (symlinks stay
//! inside the rootfs, as if the rootfs were `/`).

use crate::image::OverlayPlan;
use crate::{err, Ctx, Error};
use burrow_config::Volume;
use burrow_sys::rt::{mount_attr, mount_setattr};
use burrow_sys::{openat2, resolve};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mkdirat, Mode};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

/// What the rootfs setup needs.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    /// The rootfs directory (unused with `image`).
    pub rootfs: &'a Path,
    /// An image root: overlayfs over its layers, else its flattened copy.
    pub image: Option<&'a OverlayPlan>,
    pub volumes: &'a [Volume],
    pub read_only: bool,
    pub new_net: bool,
    pub gid5_mapped: bool,
    /// Text of a read-only /etc/resolv.conf to bind over the rootfs's (`--net bridge`).
    pub resolv: Option<&'a str>,
}

const RESOLVE_IN_ROOT: u64 = 0x10;

fn fdpath(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn cstr(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| err(format!("path with a NUL byte: {s:?}")))
}

fn open_path(dir: BorrowedFd<'_>, rel: &str, dirs: bool, how: u64) -> std::io::Result<OwnedFd> {
    let flags = libc::O_PATH | if dirs { libc::O_DIRECTORY } else { 0 };
    let c = CString::new(rel).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    openat2(Some(dir), &c, flags, how)
}

/// A system directory of the rootfs (`proc`, `sys`, `dev`, ...): created if missing, refused
/// if it is a symlink or not a directory.
fn system_dir(root: BorrowedFd<'_>, rel: &str) -> Result<OwnedFd, Error> {
    let how = resolve::NO_SYMLINKS | resolve::BENEATH;
    match open_path(root, rel, true, how) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            mkdirat(root, rel, Mode::from_bits_truncate(0o755)).ctx(|| format!("cannot create /{rel} in the rootfs"))?;
            open_path(root, rel, true, how).ctx(|| format!("cannot open /{rel} in the rootfs"))
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(err(format!(
            "the rootfs's /{rel} is a symlink: refusing to mount over it (it could lead outside the rootfs); make it a directory"
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            Err(err(format!("the rootfs's /{rel} is not a directory: make it one")))
        }
        Err(e) => Err(err(format!("cannot open /{rel} in the rootfs: {e}"))),
    }
}

fn do_mount(
    src: Option<&str>,
    target: &impl AsRawFd,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<(), Error> {
    mount(src, fdpath(target).as_str(), fstype, flags, data).ctx(|| format!("cannot mount {what}"))
}

/// Page size bound of mount(2)'s option string (the kernel copies at most one page).
const MOUNT_DATA_MAX: usize = 4095;

/// Mounts overlayfs over the image's layers at the plan's `merged` directory, in this (the
/// container's) user and mount namespace, with `userxattr` (whiteouts and opaque directories
/// as `user.overlay.*`, kernel >= 5.11). Each directory is passed as `/proc/self/fd/N` of a
/// descriptor opened here: no escaping of `:` or `,` in paths, and about 18 bytes a layer, so
/// one page of options holds about 220 layers (docker's limit is 127). Returns why not.
fn mount_overlay(o: &OverlayPlan) -> Result<(), String> {
    let open = |p: &Path| -> Result<OwnedFd, String> {
        let c =
            CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| "bad path".to_owned())?;
        openat2(None, &c, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| format!("cannot open {}: {e}", p.display()))
    };
    if o.image.lowers.is_empty() {
        return Err("the image has no layers".into());
    }
    let lowers: Vec<OwnedFd> = o
        .image
        .lowers
        .iter()
        .map(|p| open(p))
        .collect::<Result<_, _>>()?;
    let (upper, work, merged) = (open(&o.upper())?, open(&o.work())?, open(&o.merged())?);
    let lower_list: Vec<String> = lowers.iter().map(fdpath).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr{}",
        lower_list.join(":"),
        fdpath(&upper),
        fdpath(&work),
        if o.volatile { ",volatile" } else { "" }
    );
    if data.len() > MOUNT_DATA_MAX {
        return Err(format!(
            "{} layers do not fit in one page of overlayfs mount options",
            lowers.len()
        ));
    }
    mount(
        Some("overlay"),
        fdpath(&merged).as_str(),
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| match e {
        nix::errno::Errno::EINVAL => format!(
            "the kernel refused the mount ({e}; overlayfs in a user namespace with userxattr needs Linux >= 5.11, this is {})",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        ),
        nix::errno::Errno::ENODEV => "this kernel has no overlayfs".to_owned(),
        nix::errno::Errno::EPERM => "the kernel does not allow overlayfs in a user namespace here (EPERM)".to_owned(),
        nix::errno::Errno::EOPNOTSUPP => format!(
            "the filesystem of {} does not support what overlayfs needs (user xattrs, whiteouts): {e}",
            o.dir.display()
        ),
        e => format!("mount failed: {e}"),
    })
}

/// A foreground run's overlayfs with its upper and work directories on a tmpfs of at most
/// `size` bytes, mounted over the containers' directory (the parent of the plan's `dir`) in
/// this mount namespace only: it is gone with the namespace, and nothing is made on disk.
/// Returns the merged directory; on failure nothing is left mounted.
fn overlay_on_tmpfs(o: &OverlayPlan, size: u64) -> Result<std::path::PathBuf, String> {
    let base = o
        .dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", o.dir.display()))?;
    mount(
        Some("tmpfs"),
        base,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode=700,size={size}").as_str()),
    )
    .map_err(|e| format!("cannot mount a tmpfs on {}: {e}", base.display()))?;
    let t = OverlayPlan {
        dir: base.to_path_buf(),
        ..o.clone()
    };
    match t
        .make_dirs()
        .map_err(|e| e.to_string())
        .and_then(|()| mount_overlay(&t))
    {
        Ok(()) => Ok(t.merged()),
        Err(e) => {
            let _ = umount2(base, MntFlags::MNT_DETACH);
            Err(e)
        }
    }
}

/// The image's root: overlayfs, else a flattened copy made once per container (the reason
/// is kept beside it and repeated at each start). Returns the root and a warning.
fn image_root(o: &OverlayPlan) -> Result<(std::path::PathBuf, Option<String>), Error> {
    let flat = o.flat();
    let reason_file = o.dir.join("flat.reason");
    if flat.is_dir() {
        let why = std::fs::read_to_string(&reason_file).unwrap_or_default();
        return Ok((
            flat.clone(),
            Some(format!(
                "using this container's flattened copy of image {} in {} ({}): not overlayfs",
                o.image.name,
                flat.display(),
                why.trim()
            )),
        ));
    }
    if o.forced_flat.is_none() {
        if let Some(size) = o.tmpfs {
            match overlay_on_tmpfs(o, size) {
                Ok(merged) => return Ok((merged, None)),
                Err(why) => {
                    // On disk then, as with --upper-size disk.
                    tracing::debug!(
                        "overlayfs with its upper on a tmpfs: {why}; using {}",
                        o.dir.display()
                    );
                    std::fs::create_dir(&o.dir)
                        .ctx(|| format!("cannot create {}", o.dir.display()))?;
                    o.make_dirs()?;
                }
            }
        }
    }
    let reason = match &o.forced_flat {
        Some(r) => r.clone(),
        None => match mount_overlay(o) {
            Ok(()) => return Ok((o.merged(), None)),
            Err(r) => r,
        },
    };
    let Some(flatten) = crate::image::flattener() else {
        return Err(err(format!(
            "overlayfs cannot be used ({reason}) and this program cannot flatten images"
        )));
    };
    let t = std::time::Instant::now();
    let tmp = o.dir.join("flat.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).ctx(|| {
        format!(
            "overlayfs cannot be used ({reason}), and cannot create {} to flatten the image",
            tmp.display()
        )
    })?;
    flatten(&o.image, &tmp).map_err(|e| {
        err(format!(
            "overlayfs cannot be used ({reason}), and flattening image {} failed: {e}",
            o.image.name
        ))
    })?;
    std::fs::write(&reason_file, format!("{reason}\n")).ctx(|| "flat.reason".into())?;
    std::fs::rename(&tmp, &flat).ctx(|| format!("cannot rename to {}", flat.display()))?;
    Ok((
        flat.clone(),
        Some(format!(
            "overlayfs cannot be used ({reason}): made a flattened copy of image {} for this container in {} ({:.1} s; it uses disk space and is kept until the container is removed)",
            o.image.name,
            flat.display(),
            t.elapsed().as_secs_f64()
        )),
    ))
}

/// Builds the filesystem and pivots into it. On return the process's root and cwd are the
/// container's `/`. Returns a warning to show (an image root that is not overlayfs).
pub(crate) fn setup(l: &Layout<'_>) -> Result<Option<String>, Error> {
    // Nothing we mount may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "cannot make mounts private".into())?;
    let (image_rootfs, warning) = match l.image {
        Some(o) => {
            let (p, w) = image_root(o)?;
            (Some(p), w)
        }
        None => (None, None),
    };
    let overlay = l.image.is_some() && warning.is_none();
    let rootfs: &Path = image_rootfs.as_deref().unwrap_or(l.rootfs);
    if !overlay {
        mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("cannot bind-mount the rootfs {}", rootfs.display()))?;
    }
    let rootc = cstr(&rootfs.to_string_lossy())?;
    let root = openat2(None, &rootc, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| format!("cannot open the rootfs {}", rootfs.display()))?;
    let root = root.as_fd();
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;

    let proc_dir = system_dir(root, "proc")?;
    do_mount(Some("proc"), &proc_dir, Some("proc"), nosuid, None, "/proc")?;

    let sys_dir = system_dir(root, "sys")?;
    if l.new_net {
        do_mount(
            Some("sysfs"),
            &sys_dir,
            Some("sysfs"),
            nosuid | MsFlags::MS_RDONLY,
            None,
            "/sys",
        )?;
    } else {
        // sysfs can only be mounted by the owner of the network namespace: bind the host's.
        do_mount(
            Some("/sys"),
            &sys_dir,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
            "/sys",
        )?;
        let sys = system_dir(root, "sys")?;
        mount_setattr(
            sys.as_fd(),
            true,
            mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV,
        )
        .ctx(|| "cannot make /sys read-only".into())?;
    }

    setup_dev(root, l.gid5_mapped)?;
    for v in l.volumes {
        bind_volume(root, v)?;
    }
    if let Some(text) = l.resolv {
        // A file on the container's own /dev tmpfs (a mount of this namespace, so it can be
        // bound: a file opened before the clone belongs to the caller's namespace, and an
        // unnamed O_TMPFILE cannot be bound), bound read-only over /etc/resolv.conf, then
        // unlinked so /dev shows nothing.
        const NAME: &str = ".burrow-resolv.conf";
        let dev = open_path(root, "dev", true, RESOLVE_IN_ROOT).ctx(|| "/dev".into())?;
        let fd = nix::fcntl::openat(
            dev.as_fd(),
            NAME,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_EXCL
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .ctx(|| "cannot make resolv.conf".into())?;
        let mut f = std::fs::File::from(fd);
        std::io::Write::write_all(&mut f, text.as_bytes())
            .ctx(|| "cannot write resolv.conf".into())?;
        drop(f);
        let src = open_path(dev.as_fd(), NAME, false, RESOLVE_IN_ROOT)
            .ctx(|| "cannot open resolv.conf".into())?;
        let bound = bind_volume(
            root,
            &Volume {
                source: std::path::PathBuf::from(fdpath(&src)),
                target: std::path::PathBuf::from("/etc/resolv.conf"),
                read_only: true,
            },
        );
        nix::unistd::unlinkat(dev.as_fd(), NAME, nix::unistd::UnlinkatFlags::NoRemoveDir)
            .ctx(|| "cannot remove the resolv.conf source".into())?;
        bound?;
    }
    mask_paths(root)?;

    let top = open_path(root, ".", true, 0).ctx(|| "cannot reopen the rootfs".into())?;
    if l.read_only {
        mount_setattr(top.as_fd(), false, mount_attr::RDONLY)
            .ctx(|| "cannot make the rootfs read-only".into())?;
    }
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
    // the container's tree (no path to the host's root remains).
    nix::unistd::fchdir(top.as_fd()).ctx(|| "cannot enter the rootfs".into())?;
    nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root failed".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "cannot detach the old root".into())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    Ok(warning)
}

fn setup_dev(root: BorrowedFd<'_>, gid5: bool) -> Result<(), Error> {
    let dev0 = system_dir(root, "dev")?;
    do_mount(
        Some("tmpfs"),
        &dev0,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=65536k"),
        "/dev",
    )?;
    drop(dev0);
    // Reopen: the old descriptor points at the directory under the new tmpfs.
    let dev = system_dir(root, "dev")?;
    let dev = dev.as_fd();
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let c = cstr(name)?;
        let f = openat2(
            Some(dev),
            &c,
            libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
            resolve::BENEATH,
        )
        .ctx(|| format!("cannot create /dev/{name}"))?;
        drop(f);
        let target = open_path(dev, name, false, resolve::BENEATH | resolve::NO_SYMLINKS)
            .ctx(|| format!("/dev/{name}"))?;
        do_mount(
            Some(&format!("/dev/{name}")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
            &format!("/dev/{name}"),
        )?;
    }
    let sub = |name: &str, fstype: &str, flags: MsFlags, data: Option<&str>| -> Result<(), Error> {
        mkdirat(dev, name, Mode::from_bits_truncate(0o755))
            .ctx(|| format!("cannot create /dev/{name}"))?;
        let d = open_path(dev, name, true, resolve::BENEATH | resolve::NO_SYMLINKS)
            .ctx(|| format!("/dev/{name}"))?;
        do_mount(
            Some(fstype),
            &d,
            Some(fstype),
            flags,
            data,
            &format!("/dev/{name}"),
        )
    };
    let pts_opts = if gid5 {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    } else {
        "newinstance,ptmxmode=0666,mode=0620"
    };
    sub(
        "pts",
        "devpts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(pts_opts),
    )?;
    sub(
        "shm",
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    sub(
        "mqueue",
        "mqueue",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        nix::unistd::symlinkat(to, dev, link).ctx(|| format!("cannot create /dev/{link}"))?;
    }
    Ok(())
}

/// Relative form of an absolute container path, refusing `..`.
fn relative(p: &Path) -> Result<String, Error> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {
                return Err(err(format!(
                    "volume target {} must not contain ..",
                    p.display()
                )))
            }
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// Opens (creating what is missing) a path inside the rootfs, resolving it as if the rootfs
/// were `/`: one component at a time, `..` stops at the root, symlinks are read and followed
/// within the root (absolute ones restart from it), missing components are created where the
/// resolution leads (so a dangling symlink gets its target created inside the rootfs).
fn open_in_root(root: BorrowedFd<'_>, rel: &str, dir: bool) -> Result<OwnedFd, Error> {
    use nix::sys::stat::{fstatat, SFlag};
    let fail = |e: &dyn std::fmt::Display| err(format!("cannot open /{rel} in the rootfs: {e}"));
    let mut todo: std::collections::VecDeque<String> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect();
    // The directories walked so far; ".." pops one, never past the root.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut cur = open_path(root, ".", true, 0).map_err(|e| fail(&e))?;
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        let last = todo.is_empty();
        if comp == ".." {
            cur = match stack.pop() {
                Some(up) => up,
                None => open_path(root, ".", true, 0).map_err(|e| fail(&e))?,
            };
            continue;
        }
        let c = cstr(&comp)?;
        let stat = fstatat(
            cur.as_fd(),
            c.as_c_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        match stat {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                links += 1;
                if links > 40 {
                    return Err(fail(&"too many levels of symbolic links"));
                }
                let target =
                    nix::fcntl::readlinkat(cur.as_fd(), c.as_c_str()).map_err(|e| fail(&e))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    stack.clear();
                    cur = open_path(root, ".", true, 0).map_err(|e| fail(&e))?;
                }
                for (i, t) in target
                    .split('/')
                    .filter(|t| !t.is_empty() && *t != ".")
                    .enumerate()
                {
                    todo.insert(i, t.to_owned());
                }
            }
            Ok(_) => {
                let next = open_path(
                    cur.as_fd(),
                    &comp,
                    !last,
                    resolve::BENEATH | resolve::NO_SYMLINKS,
                )
                .map_err(|e| fail(&e))?;
                stack.push(std::mem::replace(&mut cur, next));
            }
            Err(nix::errno::Errno::ENOENT) => {
                if last && !dir {
                    drop(
                        openat2(
                            Some(cur.as_fd()),
                            &c,
                            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                            resolve::BENEATH,
                        )
                        .map_err(|e| fail(&e))?,
                    );
                } else {
                    mkdirat(cur.as_fd(), c.as_c_str(), Mode::from_bits_truncate(0o755))
                        .map_err(|e| fail(&e))?;
                }
                let next = open_path(
                    cur.as_fd(),
                    &comp,
                    !last,
                    resolve::BENEATH | resolve::NO_SYMLINKS,
                )
                .map_err(|e| fail(&e))?;
                stack.push(std::mem::replace(&mut cur, next));
            }
            Err(e) => return Err(fail(&e)),
        }
    }
    Ok(cur)
}

fn bind_volume(root: BorrowedFd<'_>, v: &Volume) -> Result<(), Error> {
    let srcc = cstr(&v.source.to_string_lossy())?;
    let src = openat2(None, &srcc, libc::O_PATH, 0).map_err(|e| {
        err(format!(
            "volume {v}: cannot open {}: {e}",
            v.source.display()
        ))
    })?;
    let is_dir = std::fs::metadata(fdpath(&src))
        .map(|m| m.is_dir())
        .unwrap_or(false);
    let rel = relative(&v.target)?;
    let target = open_in_root(root, &rel, is_dir)?;
    let target_is_dir = std::fs::metadata(fdpath(&target))
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if target_is_dir != is_dir {
        return Err(err(format!(
            "volume {v}: the source is a {} but {} in the rootfs is not",
            if is_dir { "directory" } else { "file" },
            v.target.display()
        )));
    }
    mount(
        Some(fdpath(&src).as_str()),
        fdpath(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("volume {v}: cannot bind-mount"))?;
    let mounted = open_path(root, &rel, false, RESOLVE_IN_ROOT).ctx(|| format!("volume {v}"))?;
    let mut attrs = mount_attr::NOSUID | mount_attr::NODEV;
    if v.read_only {
        attrs |= mount_attr::RDONLY;
    }
    mount_setattr(mounted.as_fd(), true, attrs).ctx(|| {
        format!(
            "volume {v}: cannot set nosuid,nodev{}",
            if v.read_only { ",ro" } else { "" }
        )
    })
}

/// Files hidden behind /dev/null, directories behind an empty read-only tmpfs, and trees made
/// read-only (the usual container set).
const MASKED_FILES: &[&str] = &[
    "proc/kcore",
    "proc/keys",
    "proc/timer_list",
    "proc/sysrq-trigger",
    "proc/latency_stats",
    "proc/sched_debug",
    "proc/timer_stats",
];
const MASKED_DIRS: &[&str] = &[
    "proc/acpi",
    "proc/asound",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];
const READ_ONLY: &[&str] = &[
    "proc/sys",
    "proc/bus",
    "proc/irq",
    "proc/fs",
    "proc/sysrq-trigger",
];

fn mask_paths(root: BorrowedFd<'_>) -> Result<(), Error> {
    let how = resolve::BENEATH | resolve::NO_SYMLINKS;
    for p in MASKED_FILES {
        if let Ok(t) = open_path(root, p, false, how) {
            do_mount(
                Some("/dev/null"),
                &t,
                None,
                MsFlags::MS_BIND,
                None,
                &format!("/dev/null over /{p}"),
            )?;
        }
    }
    for p in MASKED_DIRS {
        if let Ok(t) = open_path(root, p, true, how) {
            do_mount(
                Some("tmpfs"),
                &t,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
                &format!("an empty tmpfs over /{p}"),
            )?;
        }
    }
    for p in READ_ONLY {
        if let Ok(t) = open_path(root, p, false, how) {
            let fp = fdpath(&t);
            mount(
                Some(fp.as_str()),
                fp.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .ctx(|| format!("cannot bind /{p}"))?;
            let m = open_path(root, p, false, how).ctx(|| format!("/{p}"))?;
            mount_setattr(
                m.as_fd(),
                true,
                mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV,
            )
            .ctx(|| format!("cannot make /{p} read-only"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative(Path::new("/data")).unwrap(), "data");
        assert_eq!(relative(Path::new("/a/./b/")).unwrap(), "a/b");
        assert_eq!(relative(Path::new("/")).unwrap(), ".");
        assert!(relative(Path::new("/a/../../etc")).is_err());
    }
}
