//! Thin shims over the Linux syscalls that std does not wrap.
//!
//! This is the only crate of the workspace that contains `unsafe`. Each function does one
//! syscall (or one libc call), turns its return convention into `io::Result`, and carries a
//! `SAFETY:` comment. There is no policy and no logging here: callers decide. One safe module
//! rides along for the front end: [`lockwait`] (feature `runtime`), a bounded flock wait that
//! names the holders, used by the image store and by the container directories.
#![allow(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub mod kernel;
#[cfg(feature = "runtime")]
pub mod lockwait;
#[cfg(feature = "runtime")]
pub mod rt;

/// Turns a `-1 + errno` return into `io::Error`.
pub(crate) fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for `c_int` returns.
pub(crate) fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a syscall return that is a new file descriptor.
pub(crate) fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(cvt(ret)?).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_open(pid, 0)`: a descriptor that pins the process, immune to pid reuse.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; the result is checked.
    owned_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
        .map_err(|e| kernel::enosys(e, "pidfd_open", (5, 3)))
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`. With `sig == 0` this only tests that the process
/// still exists (and has not been reaped).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid borrowed fd, a null siginfo pointer (allowed by the ABI), flags 0.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
    .map_err(|e| kernel::enosys(e, "pidfd_send_signal", (5, 1)))
}

/// Closes every descriptor from 3 upwards except `keep` (if given).
pub fn close_fds_from_3_except(keep: Option<RawFd>) -> io::Result<()> {
    let close = |first: u32, last: u32| -> io::Result<()> {
        if first > last {
            return Ok(());
        }
        // SAFETY: close_range only closes descriptors; no Rust object in this process owns
        // descriptors >= 3 at the time helpers call it (first thing in main).
        cvt(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) })
            .map(drop)
            .map_err(|e| kernel::enosys(e, "close_range", (5, 9)))
    };
    match keep.and_then(|k| u32::try_from(k).ok()).filter(|k| *k >= 3) {
        None => close(3, u32::MAX),
        Some(k) => {
            close(3, k.saturating_sub(1))?;
            match k.checked_add(1) {
                Some(next) => close(next, u32::MAX),
                None => Ok(()),
            }
        }
    }
}

/// Closes every descriptor from 3 upwards except those in `keep` (for a forked child that
/// keeps a few descriptors and never returns to code that owns the others).
pub fn close_fds_from_3_except_all(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|k| u32::try_from(*k).ok())
        .filter(|k| *k >= 3)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: u32 = 3;
    for k in keep {
        if k > first {
            // SAFETY: close_range only closes descriptors; the caller guarantees that no Rust
            // object it will use again owns them.
            cvt(unsafe { libc::syscall(libc::SYS_close_range, first, k - 1, 0) })
                .map(drop)
                .map_err(|e| kernel::enosys(e, "close_range", (5, 9)))?;
        }
        first = k.saturating_add(1);
    }
    // SAFETY: as above.
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) })
        .map(drop)
        .map_err(|e| kernel::enosys(e, "close_range", (5, 9)))
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the prctl options used in this crate take integer arguments only.
    cvt_int(unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
}

/// Is `no_new_privs` set on this thread? (Setuid bits and file capabilities are then ignored.)
pub fn no_new_privs() -> io::Result<bool> {
    prctl(libc::PR_GET_NO_NEW_PRIVS, 0).map(|v| v == 1)
}

/// Sets `no_new_privs` (irreversible).
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// `PR_SET_KEEPCAPS`: keep the permitted set across a change of all uids away from 0.
pub fn set_keepcaps(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on)).map(drop)
}

/// `PR_SET_DUMPABLE`.
pub fn set_dumpable(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on)).map(drop)
}

/// The three capability sets of a thread, as 64-bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
}

const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn split(v: u64) -> (u32, u32) {
    // Truncation is the point: low and high halves.
    #[allow(clippy::cast_possible_truncation)]
    ((v & 0xffff_ffff) as u32, (v >> 32) as u32)
}

/// `capget` for the calling thread.
pub fn capget() -> io::Result<CapSets> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array of the v3 layout, both live for the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset` for the calling thread.
pub fn capset(sets: CapSets) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and a two-element data array of the v3 layout, both live for the call.
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })
        .map(drop)
}

/// `(real, effective, saved)` user ids.
pub fn getresuid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers; getresuid cannot fail with valid pointers.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// `(real, effective, saved)` group ids.
pub fn getresgid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers; getresgid cannot fail with valid pointers.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// `setresuid(r, e, s)` through the raw syscall: this thread only, which is all a
/// single-threaded helper has.
pub fn setresuid(r: u32, e: u32, s: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::syscall(libc::SYS_setresuid, r, e, s) }).map(drop)
}

/// `setresgid(r, e, s)` through the raw syscall (see [`setresuid`]).
pub fn setresgid(r: u32, e: u32, s: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::syscall(libc::SYS_setresgid, r, e, s) }).map(drop)
}

/// Supplementary groups of the calling process.
pub fn getgroups() -> io::Result<Vec<u32>> {
    // SAFETY: size 0 with a null list only asks for the count.
    let n = cvt_int(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
    let mut groups = vec![0; usize::try_from(n).unwrap_or(0)];
    // SAFETY: the buffer holds `n` gid_t values.
    let got = cvt_int(unsafe { libc::getgroups(n, groups.as_mut_ptr()) })?;
    groups.truncate(usize::try_from(got).unwrap_or(0));
    Ok(groups)
}

/// Sets the file mode creation mask, returning the old one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// Sets every catchable signal except those in `keep` to its default action (SIG_DFL).
/// Numbers the C library reserves for itself (EINVAL) are skipped silently.
pub fn reset_signals_except(keep: &[libc::c_int]) {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || keep.contains(&sig) {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid; invalid numbers just return EINVAL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Sets one signal's action to SIG_IGN.
pub fn ignore_signal(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: installing SIG_IGN is always valid; invalid numbers just return EINVAL.
    if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unblocks every signal of the calling thread (an empty signal mask).
pub fn unblock_all_signals() -> io::Result<()> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a sigset_t we own.
    cvt_int(unsafe { libc::sigemptyset(&mut set) })?;
    // SAFETY: valid pointer to an initialised set; the old mask is not wanted (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Sets both limits of a resource (lowering only needs no privilege).
pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid pointer to an initialised rlimit.
    cvt_int(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

/// Reads both limits of a resource.
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    cvt_int(unsafe { libc::getrlimit(resource, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// `f_type` of the filesystem an fd lives on (`PROC_SUPER_MAGIC`, `NSFS_MAGIC`, ...).
pub fn fstatfs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: all-zero is a valid statfs value; it is only read after the kernel filled it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a valid out-pointer.
    cvt_int(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type)
}

/// Resolve flags for [`openat2`].
pub mod resolve {
    /// No path component may leave the starting directory.
    pub const BENEATH: u64 = libc::RESOLVE_BENEATH;
    /// No symlinks at all.
    pub const NO_SYMLINKS: u64 = libc::RESOLVE_NO_SYMLINKS;
    /// No /proc magic links.
    pub const NO_MAGICLINKS: u64 = libc::RESOLVE_NO_MAGICLINKS;
    /// No crossing of mount points.
    pub const NO_XDEV: u64 = libc::RESOLVE_NO_XDEV;
}

/// `openat2(dirfd, path, how)`. `dirfd = None` means `AT_FDCWD`. `O_CLOEXEC` is always added.
pub fn openat2(
    dirfd: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let mut how: libc::open_how = open_how_zeroed();
    how.flags = u64::try_from(flags | libc::O_CLOEXEC)
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    how.mode = 0;
    how.resolve = resolve;
    let dir = dirfd.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a NUL-terminated path and an initialised open_how of the size we pass.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    })
    .map_err(|e| kernel::enosys(e, "openat2", (5, 6)))
}

fn open_how_zeroed() -> libc::open_how {
    // SAFETY: open_how is a plain struct of integers; all-zero is its documented default.
    unsafe { std::mem::zeroed() }
}

/// `ioctl(fd, NS_GET_OWNER_UID)`: the uid (in the caller's user namespace) that created the
/// user namespace `fd` refers to.
pub fn ns_owner_uid(nsfd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut uid: libc::uid_t = 0;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t through the pointer.
    cvt_int(unsafe {
        libc::ioctl(
            nsfd.as_raw_fd(),
            libc::NS_GET_OWNER_UID,
            &mut uid as *mut libc::uid_t,
        )
    })?;
    Ok(uid)
}

/// `ioctl(fd, NS_GET_PARENT)`: the parent of a user (or pid) namespace. EPERM when the
/// parent is outside the caller's view (e.g. asking for the initial namespace's parent).
pub fn ns_parent(nsfd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: NS_GET_PARENT takes no argument and returns a new fd.
    owned_fd(libc::c_long::from(unsafe {
        libc::ioctl(nsfd.as_raw_fd(), libc::NS_GET_PARENT)
    }))
}

/// `ioctl(fd, NS_GET_USERNS)`: the user namespace that owns the namespace `fd` refers to.
/// EPERM when that user namespace is outside the caller's view.
pub fn ns_userns(nsfd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd.
    owned_fd(libc::c_long::from(unsafe {
        libc::ioctl(nsfd.as_raw_fd(), libc::NS_GET_USERNS)
    }))
}

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` flag of the namespace `fd` refers to.
pub fn ns_type(nsfd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type or -1.
    cvt_int(unsafe { libc::ioctl(nsfd.as_raw_fd(), libc::NS_GET_NSTYPE) })
}

/// `socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)`: an rtnetlink socket in the
/// caller's network namespace (the kernel binds it on first send). Reads and writes go
/// through `std::fs::File`.
pub fn netlink_route_socket() -> io::Result<OwnedFd> {
    netlink_socket(libc::NETLINK_ROUTE)
}

/// A netlink socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_NETFILTER`, ...), close-on-exec.
pub fn netlink_socket(protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers and returns a new fd or -1.
    owned_fd(libc::c_long::from(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    }))
}

/// `flock(fd, LOCK_EX)`: waits for an exclusive lock (released when the fd is closed, also
/// when the process is killed).
pub fn flock_exclusive(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: flock takes no pointers.
    cvt_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }).map(drop)
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: takes an exclusive lock if it is free. `Ok(false)` when
/// another open file description holds it.
pub fn flock_exclusive_nb(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: flock takes no pointers.
    match cvt_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Syslog priorities used by the helpers (facility is set by [`openlog_auth`]).
pub mod prio {
    /// LOG_NOTICE: an allowed action.
    pub const NOTICE: libc::c_int = libc::LOG_NOTICE;
    /// LOG_WARNING: a refused request.
    pub const WARNING: libc::c_int = libc::LOG_WARNING;
}

/// `openlog(ident, LOG_PID, LOG_AUTH)`. The ident must be static: syslog keeps the pointer.
pub fn openlog_auth(ident: &'static CStr) {
    // SAFETY: `ident` lives for the whole program, as openlog requires.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_AUTH) };
}

/// `syslog(prio, "%s", msg)`. Interior NULs are replaced; the message is never a format.
pub fn syslog(prio: libc::c_int, msg: &str) {
    let clean: Vec<u8> = msg
        .bytes()
        .map(|b| if b == 0 { b'?' } else { b })
        .chain(Some(0))
        .collect();
    if let Ok(c) = CStr::from_bytes_with_nul(&clean) {
        // SAFETY: a constant "%s" format with one NUL-terminated string argument.
        unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// Writes `buf` with exactly one `write(2)` call and returns the count the kernel took.
/// (std's `write_all` may loop; /proc/PID/uid_map must get the whole map in one call.)
pub fn write_once(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: a valid fd and a buffer of the given length.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `pread(2)` from offset 0 into `buf`.
pub fn pread0(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: a valid fd and a writable buffer of the given length.
    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a new descriptor (>= 3) for an inherited one. EBADF when
/// `fd` is not open.
pub fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl only reads the descriptor number; an unopened one yields EBADF.
    owned_fd(libc::c_long::from(unsafe {
        libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3)
    }))
}

/// Filesystem magic numbers the helpers check against.
pub mod magic {
    /// procfs.
    pub const PROC: i64 = 0x9fa0;
    /// pidfs (pidfds on Linux 6.9 and later).
    pub const PIDFS: i64 = 0x5049_4446;
    /// anon_inode_fs (pidfds before 6.9).
    pub const ANON_INODE: i64 = 0x0904_1934;
    /// nsfs.
    pub const NSFS: i64 = 0x6e73_6673;
}

/// `openat2(dirfd, path, how)` with a creation mode (for `O_CREAT`/`O_TMPFILE`). `dirfd = None`
/// means `AT_FDCWD`. `O_CLOEXEC` is always added.
pub fn openat2_mode(
    dirfd: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let mut how: libc::open_how = open_how_zeroed();
    how.flags = u64::try_from(flags | libc::O_CLOEXEC)
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    how.mode = u64::from(mode & 0o7777);
    how.resolve = resolve;
    let dir = dirfd.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a NUL-terminated path and an initialised open_how of the size we pass.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    })
    .map_err(|e| kernel::enosys(e, "openat2", (5, 6)))
}

/// `fsetxattr(fd, name, value, 0)`: sets an extended attribute on an open file or directory.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: a valid fd, a NUL-terminated name and a buffer of the given length.
    cvt_int(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// `fgetxattr(fd, name)`: the value of an extended attribute (`ENODATA` when it is not set).
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: a valid fd, a NUL-terminated name and a writable buffer of the given length.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(buf)
}

/// `flistxattr(fd)`: the names of a file's extended attributes (those the caller may see).
pub fn flistxattr(fd: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::CString>> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: a valid fd and a writable buffer of the given length.
        let n = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .filter_map(|n| std::ffi::CString::new(n).ok())
                    .collect());
            }
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < 1 << 20 {
                    buf.resize(buf.len() * 4, 0);
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// `flock(fd, LOCK_SH)`: waits for a shared lock (released when the fd is closed, also when
/// the process is killed).
pub fn flock_shared(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: flock takes no pointers.
    cvt_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_SH) }).map(drop)
}

/// `flock(fd, LOCK_SH | LOCK_NB)`: takes a shared lock if no exclusive one is held.
/// `Ok(false)` when another open file description holds it exclusively.
pub fn flock_shared_nb(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: flock takes no pointers.
    match cvt_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `PR_CAP_AMBIENT_RAISE` for `cap` (it must be permitted and inheritable already).
pub fn ambient_raise(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    })
    .map(drop)
}

/// `PR_CAP_AMBIENT_CLEAR_ALL`.
pub fn ambient_clear_all() -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// Makes the child `cmd` spawns get `sig` when this process dies (`PR_SET_PDEATHSIG`, set
/// between fork and exec; the child exits at once if this process died before that).
pub fn kill_child_with_parent(cmd: &mut std::process::Command, sig: libc::c_int) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::c_ulong::from(sig.unsigned_abs()),
                0,
                0,
                0,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn pidfd_of_self_is_alive() {
        let fd = pidfd_open(i32::try_from(std::process::id()).unwrap()).unwrap();
        pidfd_send_signal(fd.as_fd(), 0).unwrap();
        assert!(matches!(
            fstatfs_magic(fd.as_fd()).unwrap(),
            magic::PIDFS | magic::ANON_INODE
        ));
    }

    #[test]
    fn capget_roundtrip_and_ids() {
        let caps = capget().unwrap();
        assert_eq!(caps.effective & !caps.permitted, 0);
        let (r, e, _) = getresuid();
        assert_eq!(r, e);
    }

    #[test]
    fn openat2_refuses_symlinks_beneath() {
        let proc = openat2(None, c"/proc", libc::O_DIRECTORY | libc::O_RDONLY, 0).unwrap();
        assert_eq!(fstatfs_magic(proc.as_fd()).unwrap(), magic::PROC);
        let err = openat2(
            Some(proc.as_fd()),
            c"self/status",
            libc::O_RDONLY,
            resolve::NO_SYMLINKS,
        )
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn own_userns_owner_is_readable() {
        let ns = openat2(None, c"/proc/self/ns/user", libc::O_RDONLY, 0).unwrap();
        assert_eq!(fstatfs_magic(ns.as_fd()).unwrap(), magic::NSFS);
        // The initial namespace has no visible parent.
        assert!(ns_parent(ns.as_fd()).is_err());
    }
}
