//! The create lock, taken with a bound: no user can stall everyone's networking.
//!
//! Every create serialises on `flock(/run/burrow/nic.lock)`. The helper runs with its caller's
//! real uid, so the caller may stop it (SIGSTOP, a cgroup freezer) while it holds the lock; an
//! unbounded wait would then stop every other user's create until root intervened. Instead a
//! waiter blocks in `flock` on a thread of its own (so the kernel wakes it when the lock is
//! released) while its main thread watches the holder, and when the same process has held
//! the lock for [`GRACE`] (a healthy create holds it for milliseconds) it kills that process
//! with SIGKILL through a pidfd
//! (CAP_KILL, raised for that one call). Every step of a create is SIGKILL-safe: the waiter,
//! which then holds the lock, reconciles what the killed one left (an untagged host end or an
//! empty untagged bridge). The holder is read from the kernel (`/proc/locks`), not from
//! anything a process wrote, and must be a process named `burrow-nic`: a root tool holding the
//! lock on purpose is never killed. After [`GIVE_UP`] the waiter stops with a message naming
//! the holder (only a holder that does not die from SIGKILL, such as one frozen by a cgroup v1
//! freezer, or one in a pid namespace the waiter cannot see, gets that far).

use burrow_setuid::{cap, refuse, Audit, Privilege, Refusal};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// How long one process may hold the lock before a waiter kills it.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// How long a waiter waits in all before it gives up and names the holder.
pub(crate) const GIVE_UP: Duration = Duration::from_secs(10);

/// The `MAJOR:MINOR:INODE` key `/proc/locks` shows for the lock file.
fn lock_key(lock: &File) -> Result<String, Refusal> {
    let m = lock.metadata().map_err(|e| refuse!("fstat lock: {e}"))?;
    let dev = m.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    Ok(format!("{major:02x}:{minor:02x}:{}", m.ino()))
}

fn read_proc(path: &std::ffi::CStr) -> Option<String> {
    let fd =
        burrow_sys::openat2(None, path, libc::O_RDONLY, burrow_sys::resolve::NO_SYMLINKS).ok()?;
    if burrow_sys::fstatfs_magic(fd.as_fd()).ok() != Some(burrow_sys::magic::PROC) {
        return None;
    }
    let mut s = String::new();
    File::from(fd)
        .take(4 * 1024 * 1024)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// The pid holding the flock with `key`, as `/proc/locks` shows it (0: not visible from this
/// pid namespace).
fn holder_pid(key: &str) -> Option<i32> {
    let locks = read_proc(c"/proc/locks")?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, k, ..] if *k == key => pid.parse().ok(),
            _ => None,
        }
    })
}

/// Name (comm) and real uid of process `pid`.
fn identity(pid: i32) -> Option<(String, u32)> {
    let path = std::ffi::CString::new(format!("/proc/{pid}/status")).ok()?;
    let status = read_proc(&path)?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()))
    };
    let name = field("Name:")?;
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    Some((name, uid))
}

struct Holder {
    pid: i32,
    since: Instant,
    pidfd: Option<OwnedFd>,
    killed: bool,
}

/// Takes the lock, waiting at most [`GIVE_UP`] and killing a holder that keeps it past
/// [`GRACE`]. `privilege` must have CAP_KILL permitted.
pub(crate) fn acquire(lock: &File, privilege: &Privilege, audit: &Audit) -> Result<(), Refusal> {
    if burrow_sys::flock_exclusive_nb(lock.as_fd()).map_err(|e| refuse!("flock: {e}"))? {
        return Ok(());
    }
    let key = lock_key(lock)?;
    let start = Instant::now();
    // The blocking flock runs on a thread with a descriptor of the same open file description
    // (the lock belongs to that, not to the thread); if this thread gives up, the process
    // exits and the waiting thread with it.
    let dup = lock.try_clone().map_err(|e| refuse!("dup lock: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("lock".into())
        .spawn(move || {
            let _ = tx.send(burrow_sys::flock_exclusive(dup.as_fd()));
        })
        .map_err(|e| refuse!("cannot start the lock waiter: {e}"))?;
    let mut holder: Option<Holder> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => return Err(refuse!("flock: {e}")),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(refuse!("the lock waiter stopped"))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = holder_pid(&key).filter(|p| *p > 0);
        match (now, holder.as_mut()) {
            (Some(p), Some(h)) if h.pid == p => {
                if !h.killed && h.since.elapsed() >= GRACE {
                    kill_stuck(h, &key, privilege, audit)?;
                }
            }
            (Some(p), _) => {
                holder = Some(Holder {
                    pid: p,
                    since: Instant::now(),
                    pidfd: burrow_sys::pidfd_open(p).ok(),
                    killed: false,
                })
            }
            (None, _) => holder = None,
        }
        if start.elapsed() >= GIVE_UP {
            return Err(stuck(holder.as_ref(), start.elapsed()));
        }
    }
}

/// Kills the holder if it still holds the lock and is a burrow-nic.
fn kill_stuck(
    h: &mut Holder,
    key: &str,
    privilege: &Privilege,
    audit: &Audit,
) -> Result<(), Refusal> {
    let Some(fd) = h.pidfd.as_ref() else {
        return Ok(());
    };
    // The pidfd pins the process seen first; it is the holder still if the kernel still names
    // this pid (a live process's pid is not reused).
    if holder_pid(key) != Some(h.pid) {
        return Ok(());
    }
    let Some((name, uid)) = identity(h.pid) else {
        return Ok(());
    };
    if name != "burrow-nic" {
        return Ok(());
    }
    let held = h.since.elapsed().as_millis();
    let sent = privilege.raise(cap::mask(&[cap::KILL]), || {
        burrow_sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL)
    })?;
    h.killed = true;
    match sent {
        Ok(()) => audit.allowed(&format!(
            "killed burrow-nic pid {} (uid {uid}): it held the create lock for {held} ms without finishing (stopped or stuck)",
            h.pid
        )),
        Err(e) => audit.noticed(&format!(
            "could not kill burrow-nic pid {} (uid {uid}) holding the create lock: {e}",
            h.pid
        )),
    }
    Ok(())
}

fn stuck(h: Option<&Holder>, waited: Duration) -> Refusal {
    let secs = waited.as_secs();
    match h.map(|h| (h.pid, identity(h.pid), h.killed)) {
        Some((pid, Some((name, uid)), true)) => refuse!(
            "the create lock /run/burrow/nic.lock is still held after {secs} s by {name} (pid {pid}, uid {uid}), which did not exit when killed (frozen?); nothing was done: ask the admin to look at that process"
        ),
        Some((pid, Some((name, uid)), false)) => refuse!(
            "the create lock /run/burrow/nic.lock has been held for {secs} s by {name} (pid {pid}, uid {uid}), which is not a burrow-nic; nothing was done: ask the admin to look at that process"
        ),
        Some((pid, None, _)) => refuse!(
            "the create lock /run/burrow/nic.lock has been held for {secs} s under pid {pid}, which has exited (a process it passed the descriptor to holds it now); nothing was done: ask the admin to look at /proc/locks"
        ),
        None => refuse!(
            "the create lock /run/burrow/nic.lock has been held for {secs} s by a process this helper cannot see (another pid namespace?); nothing was done: ask the admin to look at /proc/locks"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_matches_proc_locks() {
        let dir = std::env::temp_dir().join(format!("burrow-nic-lock-{}", std::process::id()));
        let f = File::create(&dir).unwrap();
        let key = lock_key(&f).unwrap();
        assert_eq!(holder_pid(&key), None);
        assert!(burrow_sys::flock_exclusive_nb(f.as_fd()).unwrap());
        let me = i32::try_from(std::process::id()).unwrap();
        assert_eq!(holder_pid(&key), Some(me), "{key}");
        // A second open file description cannot take it.
        let g = File::open(&dir).unwrap();
        assert!(!burrow_sys::flock_exclusive_nb(g.as_fd()).unwrap());
        let (name, uid) = identity(me).unwrap();
        assert!(!name.is_empty());
        assert_eq!(uid, burrow_sys::getresuid().0);
        let _ = std::fs::remove_file(&dir);
    }
}
