//! Step timing for `--log-level debug`: each step of a start is logged with its duration.
//! When debug is off nothing is measured (one cached level check per step).

use std::time::{Duration, Instant};

/// A step of the parent: logged with its duration when dropped.
#[derive(Debug)]
pub(crate) struct Step {
    name: &'static str,
    start: Option<Instant>,
}

/// Starts timing `name` (only at debug level).
pub(crate) fn step(name: &'static str) -> Step {
    Step {
        name,
        start: tracing::enabled!(tracing::Level::DEBUG).then(Instant::now),
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            took(self.name, start);
        }
    }
}

/// Logs `name` as having taken the time since `start`.
pub(crate) fn took(name: &str, start: Instant) {
    tracing::debug!("{name}: {:.3?}", start.elapsed());
}

/// The steps of a child, recorded as they end and sent to the parent before the exec (the
/// child's stderr may be the container's terminal or log by then).
#[derive(Debug)]
pub(crate) struct Steps {
    last: Option<Instant>,
    done: Vec<(&'static str, Duration)>,
}

impl Steps {
    /// Starts recording (only at debug level).
    pub(crate) fn start() -> Steps {
        Steps {
            last: tracing::enabled!(tracing::Level::DEBUG).then(Instant::now),
            done: Vec::new(),
        }
    }

    /// The step `name` ended now.
    pub(crate) fn done(&mut self, name: &'static str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            self.done.push((name, now - last));
            self.last = Some(now);
        }
    }

    /// What was recorded (empty when debug is off).
    pub(crate) fn list(&self) -> Option<&[(&'static str, Duration)]> {
        self.last.map(|_| self.done.as_slice())
    }
}
