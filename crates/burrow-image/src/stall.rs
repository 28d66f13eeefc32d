//! Bounds on a registry that stops sending.
//!
//! A registry (or a proxy, or a half-dead network path) can accept a connection and then send
//! nothing, or send headers and stall in the body. Every transport read and write of the
//! registry client is bounded by [`read_timeout`] (`BURROW_REGISTRY_TIMEOUT` seconds, default
//! [`DEFAULT_READ_TIMEOUT`]); the bound restarts with every read that brings data, so a big
//! layer on a slow but live link is never cut. A stall becomes an error naming the registry
//! and the fix ([`stalled`]), and the store keeps nothing of the transfer.

use std::io::{self, Read};
use std::time::Duration;

/// How long one read (or write) may wait when `BURROW_REGISTRY_TIMEOUT` is not set.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that sets the per-read bound, in seconds.
pub const TIMEOUT_ENV: &str = "BURROW_REGISTRY_TIMEOUT";

/// The per-read bound: `BURROW_REGISTRY_TIMEOUT` (seconds, may be fractional, more than 0) or
/// [`DEFAULT_READ_TIMEOUT`].
pub fn read_timeout() -> Duration {
    crate::lockwait::env_seconds(TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)
}

/// Whether `e` is a ureq timeout.
pub fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io_is_timeout(io),
        _ => false,
    }
}

fn io_is_timeout(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return true;
    }
    e.get_ref()
        .and_then(|i| i.downcast_ref::<ureq::Error>())
        .is_some_and(is_timeout)
}

/// The message for a registry that stopped sending.
pub fn stalled(registry: &str) -> String {
    format!(
        "registry {registry} stopped sending: nothing came for {:?}; check the network or the registry, then pull again (complete layers are kept); {TIMEOUT_ENV}=SECONDS waits longer",
        read_timeout()
    )
}

/// A body reader whose stall error names the registry.
#[derive(Debug)]
pub struct Named<R> {
    inner: R,
    registry: String,
}

impl<R> Named<R> {
    /// Wraps `inner`, a body from `registry`.
    pub fn new(inner: R, registry: &str) -> Self {
        Self {
            inner,
            registry: registry.to_owned(),
        }
    }
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if io_is_timeout(&e) {
                io::Error::new(io::ErrorKind::TimedOut, stalled(&self.registry))
            } else {
                e
            }
        })
    }
}
