//! The container runtime behind `burrow run`.
//!
//! One `burrow run` is two processes: the caller's `burrow` (the parent: maps ids through the
//! setuid helpers, relays signals, the terminal and the exit status) and the container's
//! pid 1, created by one `clone3` with every namespace. In the child, in order (see
//! [`child`]): wait for the id maps, become root of the new user namespace, build the root
//! filesystem and pivot into it, set hostname, loopback, terminal, rlimits, the capability
//! sets, the user, no_new_privs, the seccomp filter, close every other descriptor, exec.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apparmor;
pub mod bounded;
pub mod caps;
mod channel;
mod child;
pub mod exec;
mod forwarder;
pub mod ids;
pub mod image;
pub mod lifecycle;
pub mod monitor;
mod mount;
pub mod net;
pub mod portfwd;
pub mod restart;
mod run;
pub mod shift;
pub mod state;
mod trace;
mod tty;

pub use run::{run, unshare};

/// A failure with the exit status `burrow` should end with (125: burrow's own error, 126:
/// command not executable, 127: command not found, as docker and podman do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Exit status.
    pub code: i32,
    /// One or two lines for the user.
    pub msg: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Builds an [`Error`] with exit status 125.
pub fn err(msg: impl Into<String>) -> Error {
    Error {
        code: 125,
        msg: msg.into(),
    }
}

/// Adds context to io errors.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| err(format!("{}: {e}", what())))
    }
}
