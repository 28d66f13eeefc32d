//! Shims for the front end (feature `runtime`): process creation with namespaces, the new
//! mount API bits nix lacks, terminals, loopback, file capabilities.

use crate::{cvt, cvt_int, owned_fd};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Result of [`clone_fork`].
#[derive(Debug)]
pub enum Forked {
    /// In the child.
    Child,
    /// In the parent: the child's pid (in the parent's pid namespace) and a pidfd.
    Parent {
        /// Child pid.
        pid: libc::pid_t,
        /// pidfd of the child.
        pidfd: OwnedFd,
    },
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3` used like fork (the child continues on a copy of the stack), with namespace
/// `flags` (CLONE_NEW*) and CLONE_PIDFD added; SIGCHLD on exit.
///
/// Only call this from a single-threaded process: in the child, only the calling thread
/// exists, exactly as with fork(2).
pub fn clone_fork(flags: u64) -> io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        // clone3 refuses an exit signal with CLONE_PARENT: the child then inherits ours.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without a stack behaves like fork: the child resumes here on a copy of
    // the address space. The args struct and the pidfd slot live across the call. The caller
    // guarantees a single-threaded process, so no lock can be held by a vanished thread.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let pid = cvt(ret).map_err(|e| crate::kernel::enosys(e, "clone3", (5, 3)))?;
    if pid == 0 {
        return Ok(Forked::Child);
    }
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pidfd = owned_fd(libc::c_long::from(pidfd))?;
    Ok(Forked::Parent { pid, pidfd })
}

/// `MOUNT_ATTR_*` flags for [`mount_setattr`].
pub mod mount_attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// nosuid.
    pub const NOSUID: u64 = 0x2;
    /// nodev.
    pub const NODEV: u64 = 0x4;
    /// noexec.
    pub const NOEXEC: u64 = 0x8;
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set})`: adds mount flags to
/// the mount `fd` refers to (and to every mount below it when `recursive`).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr_set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: an fd, an empty NUL-terminated path, and a mount_attr of the size passed.
    cvt(unsafe {
        libc::syscall(
            442, // SYS_mount_setattr, the same number on every architecture
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
    .map_err(|e| crate::kernel::enosys(e, "mount_setattr", (5, 12)))
}

/// Brings the loopback interface up (in the current network namespace).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket call.
    let sock = owned_fd(libc::c_long::from(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    }))?;
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = s.cast_signed();
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_ifru.ifru_flags of a valid ifreq.
    cvt_int(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: reading the union member SIOCGIFFLAGS just wrote.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::c_short::try_from(libc::IFF_UP).unwrap_or(1);
    // SAFETY: SIOCSIFFLAGS reads a valid ifreq.
    cvt_int(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
    // `first <= u32::MAX` always: EINVAL can only be the flag (Linux 5.9 and 5.10).
    .map_err(|e| crate::kernel::einval_flag(e, "close_range with CLOSE_RANGE_CLOEXEC", (5, 11)))
}

/// Makes `fd` (a terminal) the controlling terminal of the calling session leader.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Window size of a terminal: (rows, cols, xpixel, ypixel).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize through a valid pointer.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

/// Sets the window size of a terminal.
pub fn set_winsize(fd: BorrowedFd<'_>, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads a winsize through a valid pointer.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws as *const libc::winsize) })
        .map(drop)
}

/// Does the file carry file capabilities (a `security.capability` xattr)?
pub fn has_file_caps(path: &CStr) -> bool {
    // SAFETY: size 0 with a null buffer only asks for the value's length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    n > 0
}

/// `execve(path, argv, envp)`; returns only on failure.
pub fn execve(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NUL-terminated strings in NULL-terminated arrays, all alive for the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// `_exit(code)`: leaves without running atexit handlers or flushing stdio buffers (for a
/// forked child that must not touch state shared with its parent).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `PR_SET_PDEATHSIG`.
pub fn set_pdeathsig(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt_int(unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::c_ulong::from(sig.unsigned_abs()),
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// Raw fd helper: is `fd` a terminal?
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Resets every catchable signal to its default action (an exec'd command must not inherit
/// the runtime's SIG_IGN for SIGPIPE).
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid; invalid numbers just return EINVAL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Takes ownership of a descriptor that the kernel just installed in this process (e.g.
/// received through SCM_RIGHTS) and that nothing else refers to.
pub fn take_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller passes a descriptor freshly received from the kernel; no other owner.
    unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
}
