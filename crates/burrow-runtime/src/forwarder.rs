//! Keeps a container's user-space port forwarder ([`crate::portfwd`]) alive: the process that
//! waits on the container (its monitor, or a foreground `burrow run`) polls the forwarder's
//! pidfd beside the container's, and a forwarder that dies (killed by the user or the OOM
//! killer, or a crash) is reaped and started again, so a published port never stays silent
//! while its container runs (the failure podman's rootlessport users report). Starts are at
//! least [`RESPAWN_GAP`] apart; a start that fails is retried after [`RETRY`].

use crate::portfwd::Listeners;
use crate::run::Container;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// The least time between two starts of the forwarder.
pub const RESPAWN_GAP: Duration = Duration::from_secs(1);
/// How long after a failed start the next is tried.
pub const RETRY: Duration = Duration::from_secs(5);

/// A running (or due to be restarted) forwarder for one run of a container.
pub(crate) struct Forwarder<'a> {
    ports: &'a Listeners,
    /// The container's pid (our child) and whether its command is joined through its init.
    pid: i32,
    init: bool,
    child: Option<Container>,
    started: Instant,
    /// When to start it again, once it is gone.
    due: Option<Instant>,
}

impl<'a> Forwarder<'a> {
    /// Starts the forwarder for the container `pid`; an error here fails the start.
    pub(crate) fn start(
        ports: &'a Listeners,
        pid: i32,
        init: bool,
    ) -> Result<Forwarder<'a>, crate::Error> {
        let child = ports.spawn(pid, init)?;
        Ok(Forwarder {
            ports,
            pid,
            init,
            child: Some(child),
            started: Instant::now(),
            due: None,
        })
    }

    /// The pidfd to poll for its exit (none while it is waiting to be started again).
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.child.as_ref().map(|c| c.pidfd.as_fd())
    }

    /// How long the caller's poll may sleep before [`Forwarder::tend`] is due (None: until an
    /// event).
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.due
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// After the caller's poll: `exited` is whether its pidfd was readable (the forwarder
    /// died; it is reaped). Starts a new one when due. `say` gets one line for each thing done
    /// (for the container's log, or stderr).
    pub(crate) fn tend(&mut self, exited: bool, say: &mut dyn FnMut(String)) {
        if let Some(c) = self.child.as_mut().filter(|_| exited) {
            let how = match c.wait() {
                Ok(code) if code > 128 => format!("killed by signal {}", code - 128),
                Ok(code) => format!("exited with {code}"),
                Err(e) => e.msg,
            };
            self.child = None;
            say(format!(
                "burrow: the port forwarder {how}; starting it again"
            ));
            self.due = Some(self.started + RESPAWN_GAP);
        }
        let Some(due) = self.due else { return };
        if Instant::now() < due {
            return;
        }
        self.started = Instant::now();
        match self.ports.spawn(self.pid, self.init) {
            Ok(c) => {
                self.child = Some(c);
                self.due = None;
            }
            Err(e) => {
                say(format!(
                    "burrow: {}; trying again in {} s",
                    e.msg,
                    RETRY.as_secs()
                ));
                self.due = Some(Instant::now() + RETRY);
            }
        }
    }
}

/// A poll timeout of `t` (None: forever), at least 1 ms, at most 65 s (a poll that ends
/// early just loops).
pub(crate) fn poll_timeout(t: Option<Duration>) -> nix::poll::PollTimeout {
    match t {
        None => nix::poll::PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_millis().clamp(1, u128::from(u16::MAX));
            nix::poll::PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
        }
    }
}
