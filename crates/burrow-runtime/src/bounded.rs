//! Bounded waits on helper processes: a child that does not finish within its bound is
//! killed (it runs with our real uid, or is a setuid helper that drops to it) and reported by
//! pid, so no helper can stall the caller.

use std::process::{Child, Output};
use std::time::Duration;

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
}
