//! Restart policies, carried out by the monitor ([`crate::monitor`]): after the container
//! exits, the monitor decides under the container's lock whether it runs again (the policy,
//! the restarts so far, and whether the user stopped it), waits a growing delay, and starts a
//! new container process with the same configuration, name and log.
//!
//! The delay starts at [`FIRST_DELAY`] and doubles after each restart up to [`MAX_DELAY`]; a
//! run that lasted [`RESET_AFTER`] or longer starts the sequence again.
//!
//! `burrow stop`, `kill` and `rm -f` set `stopped_by_user` in state.json under the lock
//! before they signal anything, so whichever comes first, the monitor never restarts after
//! them: the monitor checks the mark under the same lock when the container has exited, during
//! the delay (every [`TICK`]) and again just before it starts the new process, which it
//! records (pid) before letting the lock go: a stop that arrives meanwhile sees the new pid.

use crate::state::{Dir, State, Status};
use crate::Error;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Delay before the first restart.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Longest delay between restarts.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// A run at least this long resets the delay to [`FIRST_DELAY`].
pub const RESET_AFTER: Duration = Duration::from_secs(10);
/// How often the monitor looks for a stop while it waits.
const TICK: Duration = Duration::from_millis(100);

/// The growing delay.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST_DELAY }
    }

    /// The delay before the next restart, after a run that lasted `ran`.
    pub(crate) fn after(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let d = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        d
    }
}

/// After an exit with `code`: records it, and whether a restart follows (status
/// `restarting`) or not (`stopped`). True if the monitor is to restart the container.
pub(crate) fn record_exit(
    dir: &Dir,
    policy: burrow_config::RestartPolicy,
    code: Option<i32>,
) -> Result<bool, Error> {
    let _g = dir.lock()?;
    let mut st = dir.read()?;
    let again = !st.stopped_by_user && policy.restarts(code, st.restart_count);
    st.status = if again {
        Status::Restarting
    } else {
        Status::Stopped
    };
    st.finished = Some(crate::state::now());
    st.exit_code = code;
    dir.write(&st)?;
    Ok(again)
}

/// Marks the container stopped (the monitor gives up restarting it).
fn give_up(dir: &Dir, st: &mut State) -> Result<(), Error> {
    st.status = Status::Stopped;
    dir.write(st)
}

/// Waits `delay` unless the user stops the container meanwhile (the mark in state.json, or a
/// terminating signal sent to the monitor itself). True if the restart is to go on.
pub(crate) fn wait(dir: &Dir, delay: Duration, sfd: &nix::sys::signalfd::SignalFd) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        if dir.read().map(|s| s.stopped_by_user).unwrap_or(true) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let ms = u16::try_from(left.min(TICK).as_millis()).unwrap_or(100);
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Ok(n) = poll(&mut fds, PollTimeout::from(ms)) {
            if n > 0 {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
                    if [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig) {
                        let _ = dir.update(|st| st.stopped_by_user = true);
                        return false;
                    }
                }
            }
        }
    }
}

/// Under the lock, before a restart: false (and the container is recorded as stopped) if the
/// user stopped it.
pub(crate) fn still_wanted(dir: &Dir) -> Result<bool, Error> {
    let mut st = dir.read()?;
    if st.stopped_by_user {
        give_up(dir, &mut st)?;
        return Ok(false);
    }
    Ok(true)
}

/// `burrow stop`, `kill`, `rm -f`: marks a running or restarting container as stopped by
/// the user, under its lock, and returns the state as it is then.
pub fn mark_stopped(dir: &Dir) -> Result<State, Error> {
    dir.update(|st| {
        if matches!(st.status, Status::Running | Status::Restarting) {
            st.stopped_by_user = true;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_is_capped_and_resets() {
        let mut b = Backoff::new();
        let short = Duration::from_millis(5);
        let got: Vec<u128> = (0..10).map(|_| b.after(short).as_millis()).collect();
        assert_eq!(
            got,
            [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]
        );
        assert_eq!(b.after(RESET_AFTER), FIRST_DELAY);
        assert_eq!(b.after(short), FIRST_DELAY * 2);
    }
}
