//! Bounded waits for flocks: the image store's and a container's (safe code over this crate's
//! `flock_*_nb` shims; the callers choose the bound).
//!
//! A `burrow pull` that is stopped (Ctrl-Z, SIGSTOP, a frozen cgroup) or stuck on a dead
//! network keeps its locks; an unbounded `flock` would then stall every other command on the
//! same store. Here a lock is tried with `LOCK_NB` and retried (backing off to 50 ms) until a
//! deadline, [`DEFAULT_TIMEOUT`] or `BURROW_LOCK_TIMEOUT` seconds. Past it the error names the
//! lock file, the holders as the kernel shows them in `/proc/locks` (pid and command), and what
//! to do. Nothing a process wrote is trusted to name the holder.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a store lock is waited for when `BURROW_LOCK_TIMEOUT` is not set. A concurrent
/// pull of the same layer legitimately holds it for as long as the download takes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variable that sets the bound, in seconds.
pub const TIMEOUT_ENV: &str = "BURROW_LOCK_TIMEOUT";

/// The bound: `BURROW_LOCK_TIMEOUT` (seconds, may be fractional) or [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Duration {
    env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)
}

/// The environment variable `var` as seconds (fractions allowed, more than 0), else `default`.
pub fn env_seconds(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map_or(default, Duration::from_secs_f64)
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum WaitError {
    /// The deadline passed; the holders as `/proc/locks` shows them.
    TimedOut(Duration, Vec<Holder>),
    /// `flock` failed.
    Io(std::io::Error),
}

/// A process holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid (0: in a pid namespace this one cannot see).
    pub pid: i32,
    /// Its command line (or `comm`), when readable.
    pub command: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.command, self.pid) {
            (_, p) if p <= 0 => f.write_str("a process in another pid namespace"),
            (Some(c), p) => write!(f, "pid {p} ({c})"),
            (None, p) => write!(f, "pid {p}"),
        }
    }
}

/// Takes `lock` shared or exclusive, waiting at most `bound`.
pub fn acquire(lock: &File, shared: bool, bound: Duration) -> Result<(), WaitError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let got = if shared {
            crate::flock_shared_nb(lock.as_fd())
        } else {
            crate::flock_exclusive_nb(lock.as_fd())
        }
        .map_err(WaitError::Io)?;
        if got {
            return Ok(());
        }
        let spent = start.elapsed();
        if spent >= bound {
            return Err(WaitError::TimedOut(bound, holders(lock)));
        }
        std::thread::sleep(pause.min(bound - spent));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The `MAJOR:MINOR:INODE` key `/proc/locks` shows for `f`.
fn lock_key(f: &File) -> Option<String> {
    let m = f.metadata().ok()?;
    let dev = m.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    Some(format!("{major:02x}:{minor:02x}:{}", m.ino()))
}

/// Who holds flocks on `f`, from `/proc/locks` (waiters, marked `->`, are left out).
pub fn holders(f: &File) -> Vec<Holder> {
    let (Some(key), Ok(locks)) = (lock_key(f), std::fs::read_to_string("/proc/locks")) else {
        return Vec::new();
    };
    let mut out: Vec<Holder> = Vec::new();
    for l in locks.lines() {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let [_, "FLOCK", _, _, pid, k, ..] = fields.as_slice() else {
            continue;
        };
        if *k != key {
            continue;
        }
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if out.iter().any(|h| h.pid == pid) {
            continue;
        }
        out.push(Holder {
            pid,
            command: command_of(pid),
        });
    }
    out
}

fn command_of(pid: i32) -> Option<String> {
    if pid <= 0 {
        return None;
    }
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        return std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim().to_owned());
    }
    let mut c = words.join(" ");
    c.truncate(200);
    Some(c)
}

/// The text an error shows for the holders of the lock on `path`.
pub fn describe(holders: &[Holder], path: &Path) -> String {
    if holders.is_empty() {
        return format!(
            "its holder is not visible here (`fuser -v {}` may tell)",
            path.display()
        );
    }
    let list: Vec<String> = holders.iter().map(ToString::to_string).collect();
    format!("held by {}", list.join(", "))
}
