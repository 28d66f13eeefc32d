//! Bounded waits on helper processes: a child that does not finish within its bound is
//! killed (it runs with our real uid, or is a setuid helper that drops to it) and reported by
//! pid, so no helper can stall the caller.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Why [`output_within`] gave no output.
#[derive(Debug)]
pub enum WaitError {
    /// Reading or waiting failed.
    Io(std::io::Error),
    /// It did not finish in time and was killed (its pid).
    TimedOut(u32),
}

/// Collects `child`'s output, waiting at most `limit`; after that the child is killed with
/// SIGKILL (and reaped by the waiting thread) and [`WaitError::TimedOut`] names its pid.
pub fn output_within(child: Child, limit: Duration) -> Result<Output, WaitError> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r.map_err(WaitError::Io),
        Err(_) => {
            if let Ok(p) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(WaitError::TimedOut(pid))
        }
    }
}

/// Reads `fd` (a pipe from a child) to its end, waiting at most `limit` in all. `None` if the
/// writer neither wrote everything nor closed its end in time (the caller kills it); a read
/// error ends the text early.
pub fn read_within(fd: OwnedFd, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut file = std::fs::File::from(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Some(out),
            Ok(_) => {}
        }
        match file.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Some(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn finishes_or_is_killed() {
        let c = Command::new("sh")
            .args(["-c", "echo hi"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let o = output_within(c, Duration::from_secs(10)).unwrap();
        assert_eq!(o.stdout, b"hi\n");
        let c = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = c.id();
        let t = std::time::Instant::now();
        match output_within(c, Duration::from_millis(200)) {
            Err(WaitError::TimedOut(p)) => assert_eq!(p, pid),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn pipe_read_is_bounded() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut wf = std::fs::File::from(w);
        std::io::Write::write_all(&mut wf, b"OK").unwrap();
        drop(wf);
        assert_eq!(read_within(r, Duration::from_secs(5)).unwrap(), b"OK");
        // A writer that keeps its end open and says nothing: given up on after the bound.
        let (r, w) = nix::unistd::pipe().unwrap();
        let t = Instant::now();
        assert_eq!(read_within(r, Duration::from_millis(200)), None);
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(10));
        drop(w);
    }
}
