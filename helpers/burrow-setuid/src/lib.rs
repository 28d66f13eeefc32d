//! What every Burrow setuid helper does before and around its one privileged action:
//!
//! 1. [`sanitize`]: close inherited fds (except one the caller named), clear the environment,
//!    set the umask, forbid core dumps, reset signal dispositions and the signal mask, lift
//!    the file size limit. Nothing is parsed or printed before this.
//! 2. [`drop_to_caller`]: become the real user (all three uids and gids), keep only the named
//!    capabilities in the permitted set, none effective, and set `no_new_privs`.
//! 3. [`Privilege::raise`] around the single open+write that needs it.
//!
//! Plus [`secure_open_config`] for root-owned policy files and [`Target`] for a process pinned
//! by a pidfd and its `/proc/<pid>` directory fd. Messages never contain argv[0].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use burrow_sys as sys;
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

/// Capability numbers the helpers use.
pub mod cap {
    /// CAP_KILL.
    pub const KILL: u32 = 5;
    /// CAP_SETGID.
    pub const SETGID: u32 = 6;
    /// CAP_SETUID.
    pub const SETUID: u32 = 7;
    /// CAP_NET_ADMIN.
    pub const NET_ADMIN: u32 = 12;
    /// CAP_SETFCAP.
    pub const SETFCAP: u32 = 31;
    /// A mask with the given capabilities.
    pub fn mask(caps: &[u32]) -> u64 {
        caps.iter().fold(0, |m, c| m | (1u64 << c))
    }
}

/// A helper error: one line for the user (already worded), and the exit status stays 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Builds a [`Refusal`] with `format!` syntax.
#[macro_export]
macro_rules! refuse {
    ($($arg:tt)*) => { $crate::Refusal(format!($($arg)*)) };
}

/// The real ids of the caller, captured before anything changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
}

/// Step 1. Refuses a `keep` that is not open on entry, closes every fd above 2 except `keep`,
/// clears the environment (PATH is set to a
/// fixed value), sets umask 022, sets RLIMIT_CORE to 0, resets signal dispositions (SIGPIPE
/// stays ignored), the signal mask and RLIMIT_FSIZE, makes the process non-dumpable, and
/// returns the caller's real ids. Failures here are returned for printing after the drop.
pub fn sanitize(keep: Option<RawFd>) -> (Caller, Result<(), Refusal>) {
    let (uid, _, _) = sys::getresuid();
    let (gid, _, _) = sys::getresgid();
    let caller = Caller { uid, gid };
    let result = (|| {
        // `fd:N` names a descriptor the caller passed: it must be open now, before this
        // process opens anything of its own that could land on N (the lock, the lease file,
        // /proc) and be taken for the caller's.
        let not_open = keep
            .filter(|k| *k >= 0)
            .and_then(|k| sys::dup_cloexec(k).err().map(|e| (k, e)))
            .map(|(k, e)| match e.raw_os_error() {
                Some(libc::EBADF) => refuse!("fd:{k} is not an open descriptor"),
                _ => refuse!("fd:{k}: {e}"),
            });
        let keep = if not_open.is_some() { None } else { keep };
        sys::close_fds_from_3_except(keep)
            .map_err(|e| refuse!("cannot close inherited descriptors: {e}"))?;
        for (k, _) in std::env::vars_os() {
            std::env::remove_var(k);
        }
        std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        sys::umask(0o022);
        sys::setrlimit(libc::RLIMIT_CORE, 0, 0)
            .map_err(|e| refuse!("cannot disable core dumps: {e}"))?;
        reset_signals_and_file_size_limit()?;
        sys::set_dumpable(false)
            .map_err(|e| refuse!("cannot make the process non-dumpable: {e}"))?;
        not_open.map_or(Ok(()), Err)
    })();
    (caller, result)
}

/// Part of [`sanitize`]: the caller chose our signal dispositions, signal mask and rlimits.
///
/// - Every catchable signal goes back to SIG_DFL except SIGPIPE, which stays ignored (the
///   Rust runtime ignores it at start-up): a caller that closes our stdout gets an error
///   exit after the privileged work is complete, never a death in the middle of it.
/// - The signal mask is emptied, so a blocked signal cannot be used to hold back a
///   termination the caller expects, nor stay pending into a later step.
/// - RLIMIT_FSIZE: a caller's `ulimit -f 0` would make any write to a file raise SIGXFSZ
///   (death with a half-written file). Both limits are raised to infinity when the process
///   may (setuid root: CAP_SYS_RESOURCE); otherwise the soft limit goes up to the hard one,
///   and if that is still finite SIGXFSZ is ignored so that a write that hits it fails with
///   EFBIG (a clean refusal) instead of killing the helper.
fn reset_signals_and_file_size_limit() -> Result<(), Refusal> {
    sys::reset_signals_except(&[libc::SIGPIPE]);
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| refuse!("cannot ignore SIGPIPE: {e}"))?;
    sys::unblock_all_signals().map_err(|e| refuse!("cannot unblock signals: {e}"))?;
    let inf = libc::RLIM_INFINITY;
    if sys::setrlimit(libc::RLIMIT_FSIZE, inf, inf).is_err() {
        let (_, hard) = sys::getrlimit(libc::RLIMIT_FSIZE)
            .map_err(|e| refuse!("cannot read the file size limit: {e}"))?;
        sys::setrlimit(libc::RLIMIT_FSIZE, hard, hard)
            .map_err(|e| refuse!("cannot raise the file size limit: {e}"))?;
        if hard != inf {
            sys::ignore_signal(libc::SIGXFSZ).map_err(|e| refuse!("cannot ignore SIGXFSZ: {e}"))?;
        }
    }
    Ok(())
}

/// Refuses when standard output is a regular file that a write of `len` more bytes would take
/// past the file size limit (a caller's `ulimit -f` whose hard limit this process cannot
/// raise, see [`sanitize`]). Called before a privileged action whose result is printed, so
/// that the action is not done when its result could not be reported.
pub fn check_stdout_room(len: u64) -> Result<(), Refusal> {
    use std::io::Seek;
    let (soft, _) = sys::getrlimit(libc::RLIMIT_FSIZE)
        .map_err(|e| refuse!("cannot read the file size limit: {e}"))?;
    if soft == libc::RLIM_INFINITY {
        return Ok(());
    }
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else {
        return Ok(());
    };
    let mut file = File::from(fd);
    let Ok(md) = file.metadata() else {
        return Ok(());
    };
    if !md.file_type().is_file() {
        return Ok(());
    }
    // With O_APPEND the write goes to the end; otherwise to the shared offset.
    let at = file.stream_position().unwrap_or(0).max(md.len());
    if at.saturating_add(len) > soft {
        return Err(refuse!(
            "standard output is a file that the file size limit (ulimit -f) leaves no room in for the result; nothing was done"
        ));
    }
    Ok(())
}

/// Message for the most common cause of "no privilege": no_new_privs.
pub const NNP_MESSAGE: &str = "running under no_new_privs: setuid and file capabilities are ignored, so this \
helper has no privilege (run it outside NoNewPrivileges=/no-new-privileges, or write the map yourself)";

/// Step 2. Becomes the caller for good (real, effective and saved uid and gid), keeps `keep`
/// capabilities in the permitted set with an empty effective set, and sets no_new_privs.
///
/// Works for both installs: setuid root (euid 0, all capabilities until now) and file
/// capabilities (`setcap cap_setuid+ep`: the caller's uid with the file's capabilities).
/// Fails with a precise message when the process never had the capabilities (not installed
/// setuid/with file caps, or no_new_privs).
pub fn drop_to_caller(caller: Caller, keep: u64, install_hint: &str) -> Result<Privilege, Refusal> {
    let nnp = sys::no_new_privs().unwrap_or(false);
    let have = sys::capget().map_err(|e| refuse!("capget: {e}"))?;
    if have.permitted & keep != keep {
        // The caller may be running under no_new_privs, or the binary lost its bits.
        if nnp {
            return Err(Refusal(NNP_MESSAGE.to_owned()));
        }
        return Err(refuse!("this helper has no privilege: {install_hint}"));
    }
    let (_, euid, _) = sys::getresuid();
    if euid != caller.uid {
        sys::set_keepcaps(true).map_err(|e| refuse!("prctl(PR_SET_KEEPCAPS): {e}"))?;
    }
    sys::setresgid(caller.gid, caller.gid, caller.gid).map_err(|e| refuse!("setresgid: {e}"))?;
    sys::setresuid(caller.uid, caller.uid, caller.uid).map_err(|e| refuse!("setresuid: {e}"))?;
    sys::capset(sys::CapSets {
        effective: 0,
        permitted: keep,
        inheritable: 0,
    })
    .map_err(|e| refuse!("capset: {e}"))?;
    sys::set_keepcaps(false).map_err(|e| refuse!("prctl(PR_SET_KEEPCAPS): {e}"))?;
    sys::set_no_new_privs().map_err(|e| refuse!("prctl(PR_SET_NO_NEW_PRIVS): {e}"))?;
    // The kernel resets dumpability on credential changes according to suid_dumpable; make sure.
    sys::set_dumpable(false).map_err(|e| refuse!("prctl(PR_SET_DUMPABLE): {e}"))?;
    // Verify: nothing effective, ids all the caller's.
    let now = sys::capget().map_err(|e| refuse!("capget: {e}"))?;
    if now.effective != 0
        || now.permitted != keep
        || sys::getresuid() != (caller.uid, caller.uid, caller.uid)
        || sys::getresgid() != (caller.gid, caller.gid, caller.gid)
    {
        return Err(refuse!("privilege drop did not take effect"));
    }
    Ok(Privilege { permitted: keep })
}

/// The capabilities still permitted after [`drop_to_caller`].
#[derive(Debug)]
pub struct Privilege {
    permitted: u64,
}

impl Privilege {
    /// Runs `f` with `caps` (a subset of the permitted set) effective, then clears the
    /// effective set again whatever `f` returned.
    pub fn raise<T>(&self, caps: u64, f: impl FnOnce() -> T) -> Result<T, Refusal> {
        let caps = caps & self.permitted;
        sys::capset(sys::CapSets {
            effective: caps,
            permitted: self.permitted,
            inheritable: 0,
        })
        .map_err(|e| refuse!("capset: {e}"))?;
        let out = f();
        sys::capset(sys::CapSets {
            effective: 0,
            permitted: self.permitted,
            inheritable: 0,
        })
        .map_err(|e| refuse!("capset: {e}"))?;
        Ok(out)
    }

    /// Runs `f` (which spawns a child) with `caps` (a subset of the permitted set) in the
    /// inheritable and ambient sets and nothing effective, so that a program `f` executes
    /// gets exactly `caps` (it runs with the caller's uid); clears both sets again after `f`
    /// whatever it returned. Capabilities are per thread: `f` must spawn from this thread.
    pub fn with_ambient<T>(&self, caps: u64, f: impl FnOnce() -> T) -> Result<T, Refusal> {
        let caps = caps & self.permitted;
        let clear = || -> Result<(), Refusal> {
            sys::ambient_clear_all().map_err(|e| refuse!("prctl(PR_CAP_AMBIENT): {e}"))?;
            sys::capset(sys::CapSets {
                effective: 0,
                permitted: self.permitted,
                inheritable: 0,
            })
            .map_err(|e| refuse!("capset: {e}"))
        };
        sys::capset(sys::CapSets {
            effective: 0,
            permitted: self.permitted,
            inheritable: caps,
        })
        .map_err(|e| refuse!("capset: {e}"))?;
        for c in (0..64u32).filter(|c| caps & (1u64 << c) != 0) {
            if let Err(e) = sys::ambient_raise(c) {
                clear()?;
                return Err(refuse!("prctl(PR_CAP_AMBIENT_RAISE): {e}"));
            }
        }
        let out = f();
        clear()?;
        Ok(out)
    }

    /// Keeps only `caps` (a subset of the permitted set) permitted from now on.
    pub fn narrow(&mut self, caps: u64) -> Result<(), Refusal> {
        self.permitted &= caps;
        sys::capset(sys::CapSets {
            effective: 0,
            permitted: self.permitted,
            inheritable: 0,
        })
        .map_err(|e| refuse!("capset: {e}"))
    }

    /// Drops every capability for good.
    pub fn drop_all(self) -> Result<(), Refusal> {
        sys::capset(sys::CapSets::default()).map_err(|e| refuse!("capset: {e}"))
    }
}

/// Opens a policy file (such as /etc/subuid) as the caller and checks the opened file:
/// no symlink anywhere in the path, a regular file, owned by root, not writable by group or
/// others, and its directory root-owned and not writable by others. `Ok(None)` when the file
/// does not exist. At most `max` bytes are read.
pub fn secure_open_config(path: &str, max: u64) -> Result<Option<String>, Refusal> {
    let cpath = CString::new(path).map_err(|_| refuse!("bad path"))?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = match sys::openat2(None, &cpath, flags, sys::resolve::NO_SYMLINKS) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refuse!(
            "{path} is a symlink or under one; refusing it (it must be a regular root-owned file)"
        ))
        }
        Err(e) => return Err(refuse!("cannot open {path}: {e}")),
    };
    let mut file = File::from(fd);
    let md = file
        .metadata()
        .map_err(|e| refuse!("cannot stat {path}: {e}"))?;
    check_owner_mode(path, md.file_type().is_file(), md.uid(), md.mode())?;
    if let Some(dir) = std::path::Path::new(path).parent() {
        let dmd =
            std::fs::metadata(dir).map_err(|e| refuse!("cannot stat {}: {e}", dir.display()))?;
        if dmd.uid() != 0 || dmd.mode() & 0o002 != 0 {
            return Err(refuse!(
                "{} is not root-owned or is world-writable; refusing {path}",
                dir.display()
            ));
        }
    }
    if md.len() > max {
        return Err(refuse!("{path} is larger than {max} bytes; refusing it"));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse!("cannot read {path}: {e}"))?;
    // Not UTF-8 (a Latin-1 GECOS field, say) must not lock everybody out: such bytes can only
    // spoil the line they are in, which then matches nobody.
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn check_owner_mode(path: &str, regular: bool, uid: u32, mode: u32) -> Result<(), Refusal> {
    if !regular {
        return Err(refuse!("{path} is not a regular file; refusing it"));
    }
    if uid != 0 {
        return Err(refuse!(
            "{path} is owned by uid {uid}, not root; refusing it"
        ));
    }
    if mode & 0o022 != 0 {
        return Err(refuse!(
            "{path} is writable by group or others (mode {:04o}); refusing it",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// How the caller named the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSpec {
    /// A pid.
    Pid(i32),
    /// An inherited fd: a /proc/<pid> directory or a pidfd.
    Fd(i32),
}

/// A process pinned for the whole run: a pidfd (proves the process is still the same) and
/// its `/proc/<pid>` directory fd (every file of the target is opened relative to it).
#[derive(Debug)]
pub struct Target {
    /// The pid as the caller's pid namespace sees it.
    pub pid: i32,
    /// pidfd of the process.
    pub pidfd: OwnedFd,
    /// `/proc/<pid>` directory.
    pub dir: OwnedFd,
}

fn read_small(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<String> {
    let fd = sys::openat2(
        Some(dir),
        name,
        libc::O_RDONLY,
        sys::resolve::BENEATH | sys::resolve::NO_SYMLINKS,
    )?;
    let mut s = String::new();
    File::from(fd).take(64 * 1024).read_to_string(&mut s)?;
    Ok(s)
}

fn status_field(status: &str, key: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

impl Target {
    /// Resolves and pins the target. For `fd:N`, N must be a pidfd, or a directory of this
    /// procfs that is exactly `/proc/<pid>` of a process (not `/proc`, not a task directory,
    /// not something under /proc/sys).
    pub fn open(spec: TargetSpec) -> Result<Target, Refusal> {
        let proc_fd = sys::openat2(
            None,
            c"/proc",
            libc::O_RDONLY | libc::O_DIRECTORY,
            sys::resolve::NO_SYMLINKS,
        )
        .map_err(|e| refuse!("cannot open /proc: {e}"))?;
        let proc_md = File::from(proc_fd.try_clone().map_err(|e| refuse!("dup: {e}"))?)
            .metadata()
            .map_err(|e| refuse!("cannot stat /proc: {e}"))?;
        if sys::fstatfs_magic(proc_fd.as_fd()).ok() != Some(sys::magic::PROC) {
            return Err(refuse!("/proc is not procfs"));
        }
        let (pid, given_dir, given_pidfd) = match spec {
            TargetSpec::Pid(pid) => (pid, None, None),
            TargetSpec::Fd(n) => {
                let fd = dup_fd(n)?;
                match sys::fstatfs_magic(fd.as_fd()) {
                    Ok(sys::magic::PROC) => {
                        let status = read_small(fd.as_fd(), c"status")
                            .map_err(|_| refuse!("fd:{n} is not a /proc/<pid> directory"))?;
                        let (Some(tgid), Some(tid)) = (
                            status_field(&status, "Tgid:"),
                            status_field(&status, "Pid:"),
                        ) else {
                            return Err(refuse!("fd:{n} is not a /proc/<pid> directory"));
                        };
                        if tgid != tid {
                            return Err(refuse!("fd:{n} is a thread's directory, not a process's"));
                        }
                        let pid = i32::try_from(tgid).map_err(|_| refuse!("fd:{n}: bad pid"))?;
                        (pid, Some(fd), None)
                    }
                    Ok(sys::magic::PIDFS) | Ok(sys::magic::ANON_INODE) => {
                        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}"))
                            .map_err(|e| refuse!("fd:{n}: cannot read its fdinfo: {e}"))?;
                        let pid = status_field(&info, "Pid:").ok_or_else(|| {
                            refuse!("fd:{n} is neither a pidfd nor a /proc/<pid> directory")
                        })?;
                        if pid <= 0 {
                            return Err(refuse!(
                                "fd:{n}: the process has exited or is in another pid namespace"
                            ));
                        }
                        let pid = i32::try_from(pid).map_err(|_| refuse!("fd:{n}: bad pid"))?;
                        (pid, None, Some(fd))
                    }
                    _ => {
                        return Err(refuse!(
                            "fd:{n} is neither a pidfd nor a /proc/<pid> directory"
                        ))
                    }
                }
            }
        };
        let pidfd = match given_pidfd {
            Some(fd) => fd,
            None => sys::pidfd_open(pid).map_err(|e| match e.raw_os_error() {
                Some(libc::ESRCH) => refuse!("no process with pid {pid}"),
                // EINVAL (older kernels) or ENOENT (newer): not a thread-group leader.
                Some(libc::EINVAL) | Some(libc::ENOENT) => {
                    refuse!("{pid} is a thread, not a process")
                }
                _ => refuse!("cannot open process {pid}: {e}"),
            })?,
        };
        let name = CString::new(pid.to_string()).map_err(|_| refuse!("bad pid"))?;
        let dir = sys::openat2(
            Some(proc_fd.as_fd()),
            &name,
            libc::O_RDONLY | libc::O_DIRECTORY,
            sys::resolve::BENEATH | sys::resolve::NO_SYMLINKS | sys::resolve::NO_XDEV,
        )
        .map_err(|e| refuse!("cannot open /proc/{pid}: {e}"))?;
        // The pidfd still names a live (unreaped) process, so the pid was not reused between
        // the pidfd and the directory: both are the same process.
        match sys::pidfd_send_signal(pidfd.as_fd(), 0) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(_) => return Err(refuse!("process {pid} exited")),
        }
        // Whatever named it (pid, /proc dir, pidfd, thread pidfd), the target must be a process.
        let status = read_small(dir.as_fd(), c"status")
            .map_err(|e| refuse!("cannot read /proc/{pid}/status: {e}"))?;
        if status_field(&status, "Tgid:") != Some(i64::from(pid)) {
            return Err(refuse!("{pid} is a thread, not a process"));
        }
        if let Some(given) = given_dir {
            let g = File::from(given)
                .metadata()
                .map_err(|e| refuse!("fstat: {e}"))?;
            let ours = File::from(dir.try_clone().map_err(|e| refuse!("dup: {e}"))?)
                .metadata()
                .map_err(|e| refuse!("fstat: {e}"))?;
            if g.dev() != proc_md.dev() || g.dev() != ours.dev() || g.ino() != ours.ino() {
                return Err(refuse!(
                    "the descriptor is not the /proc/{pid} directory of this /proc"
                ));
            }
        }
        Ok(Target { pid, pidfd, dir })
    }

    /// Owner uid and gid of the target's /proc directory: its effective ids (root when the
    /// process is not dumpable).
    pub fn owner(&self) -> Result<(u32, u32), Refusal> {
        let md = File::from(self.dir.try_clone().map_err(|e| refuse!("dup: {e}"))?)
            .metadata()
            .map_err(|e| refuse!("cannot stat /proc/{}: {e}", self.pid))?;
        Ok((md.uid(), md.gid()))
    }

    /// Reads a small file of the target (through the directory fd).
    pub fn read(&self, name: &std::ffi::CStr) -> io::Result<String> {
        read_small(self.dir.as_fd(), name)
    }

    /// Opens a file of the target for writing (no symlinks, no escaping the directory).
    pub fn open_write(&self, name: &std::ffi::CStr, rdwr: bool) -> io::Result<OwnedFd> {
        let mode = if rdwr { libc::O_RDWR } else { libc::O_WRONLY };
        sys::openat2(
            Some(self.dir.as_fd()),
            name,
            mode,
            sys::resolve::BENEATH | sys::resolve::NO_SYMLINKS | sys::resolve::NO_MAGICLINKS,
        )
    }

    /// Is the process still alive?
    pub fn alive(&self) -> bool {
        matches!(sys::pidfd_send_signal(self.pidfd.as_fd(), 0), Ok(()))
            || matches!(sys::pidfd_send_signal(self.pidfd.as_fd(), 0), Err(e) if e.raw_os_error() == Some(libc::EPERM))
    }
}

/// Duplicates an inherited descriptor (the caller's fd stays untouched).
fn dup_fd(n: i32) -> Result<OwnedFd, Refusal> {
    sys::dup_cloexec(n).map_err(|e| match e.raw_os_error() {
        Some(libc::EBADF) => refuse!("fd:{n} is not an open descriptor"),
        _ => refuse!("fd:{n}: {e}"),
    })
}

/// The syslog side of a helper: one line per decision, facility auth.
#[derive(Debug, Clone, Copy)]
pub struct Audit {
    /// The caller whose request is logged.
    pub caller: Caller,
}

impl Audit {
    /// Opens the log with the helper's fixed name.
    pub fn open(ident: &'static std::ffi::CStr, caller: Caller) -> Audit {
        sys::openlog_auth(ident);
        Audit { caller }
    }
    /// Logs an allowed action.
    pub fn allowed(&self, what: &str) {
        sys::syslog(
            sys::prio::NOTICE,
            &format!(
                "uid={} gid={}: allowed: {what}",
                self.caller.uid, self.caller.gid
            ),
        );
    }
    /// Logs something the helper noticed and worked around (neither allowed nor refused).
    pub fn noticed(&self, what: &str) {
        sys::syslog(
            sys::prio::WARNING,
            &format!(
                "uid={} gid={}: noticed: {what}",
                self.caller.uid, self.caller.gid
            ),
        );
    }
    /// Logs a refusal.
    pub fn refused(&self, why: &str) {
        sys::syslog(
            sys::prio::WARNING,
            &format!(
                "uid={} gid={}: refused: {why}",
                self.caller.uid, self.caller.gid
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_mode_rules() {
        assert!(check_owner_mode("/etc/subuid", true, 0, 0o100644).is_ok());
        assert_eq!(
            check_owner_mode("/etc/subuid", true, 1005, 0o100644)
                .unwrap_err()
                .0,
            "/etc/subuid is owned by uid 1005, not root; refusing it"
        );
        assert_eq!(
            check_owner_mode("/etc/subuid", true, 0, 0o100666)
                .unwrap_err()
                .0,
            "/etc/subuid is writable by group or others (mode 0666); refusing it"
        );
        assert!(check_owner_mode("/etc/subuid", true, 0, 0o100664).is_err());
        assert!(check_owner_mode("/etc/subuid", false, 0, 0o040755).is_err());
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tsleep\nTgid:\t42\nPid:\t43\n";
        assert_eq!(status_field(s, "Tgid:"), Some(42));
        assert_eq!(status_field(s, "Pid:"), Some(43));
    }

    #[test]
    fn target_self_by_pid_and_fd() {
        let me = i32::try_from(std::process::id()).unwrap();
        let t = Target::open(TargetSpec::Pid(me)).unwrap();
        assert_eq!(t.pid, me);
        assert!(t.alive());
        let pidfd = sys::pidfd_open(me).unwrap();
        let n = std::os::fd::AsRawFd::as_raw_fd(&pidfd);
        assert_eq!(Target::open(TargetSpec::Fd(n)).unwrap().pid, me);
        let dir = File::open(format!("/proc/{me}")).unwrap();
        let n = std::os::fd::AsRawFd::as_raw_fd(&dir);
        assert_eq!(Target::open(TargetSpec::Fd(n)).unwrap().pid, me);
        let procroot = File::open("/proc").unwrap();
        let n = std::os::fd::AsRawFd::as_raw_fd(&procroot);
        assert_eq!(
            Target::open(TargetSpec::Fd(n)).unwrap_err().0,
            format!("fd:{n} is not a /proc/<pid> directory")
        );
        assert_eq!(
            Target::open(TargetSpec::Fd(9999)).unwrap_err().0,
            "fd:9999 is not an open descriptor"
        );
    }
}
