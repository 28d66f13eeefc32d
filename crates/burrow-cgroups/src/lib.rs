//! Delegated cgroups for Burrow containers: each container gets its own child cgroup with its
//! limits (memory, memory+swap, cpu quota and weight, pids), found in a subtree the user may
//! write to, and removed when the container is gone.
//!
//! # Where the cgroups go
//! - **cgroup v2** (when the controllers a container needs are in the v2 hierarchy): the
//!   delegated subtree is the highest ancestor of the caller's own cgroup (`0::/path` in
//!   `/proc/self/cgroup`, the cgroup itself included) that belongs to the caller's uid and
//!   whose `cgroup.procs` and `cgroup.subtree_control` the caller owns and may write. With
//!   systemd that is `user@UID.service` (its `Delegate=yes`); elsewhere it is
//!   `/sys/fs/cgroup/burrow/<user>` prepared by `burrow admin add-user` ([`Host::admin_prepare_v2`]).
//!   The highest, not the nearest: the nearest is the caller's own cgroup, which holds the
//!   caller, and v2 forbids enabling controllers for the children of a cgroup that holds
//!   processes. A container is `<delegated>/burrow/<name>/` (its limits) with its processes in
//!   `<name>/leaf/`. Moving a process needs write access to the `cgroup.procs` of the common
//!   ancestor of its current and its new cgroup, so the caller must already run inside the
//!   delegated subtree: true for systemd user services and `systemd-run --user --scope`; on a
//!   host without systemd the user's sessions must start inside `/sys/fs/cgroup/burrow/<user>/`
//!   (a login script or pam_cgroup moving the login shell into, say, `<user>/session/`).
//!   [`Host::detect`] says so precisely when that is not the case.
//! - **cgroup v1**: per controller (memory, cpu, cpuacct, pids; cpu and cpuacct co-mounted or
//!   not) the delegated directory is `<mount>/burrow/<user>/`, a directory the admin created
//!   and gave to the user ([`Host::admin_prepare_v1`]); a container is `<that>/<name>/` in each
//!   hierarchy, processes and limits in the same directory. The files of `<user>/` itself stay
//!   root's, so the user cannot raise an aggregate limit the admin puts there.
//!
//! # What a container can do to its own limits
//! - v2: the runtime moves the container's first process into `leaf/` and only then lets it
//!   unshare its cgroup namespace, so a cgroup2 filesystem the container mounts is rooted at
//!   `leaf/`. The limits are on the parent `<name>/`, outside the namespace, so a container
//!   cannot raise them (the CVE-2023-25809 class, where the limits sat in the namespace root).
//! - v1: a v1 hierarchy cannot be mounted in a user namespace at all (mounting a v1 cgroupfs
//!   needs CAP_SYS_ADMIN in the initial user namespace, which closes the CVE-2022-0492
//!   `release_agent` class), and Burrow never bind-mounts the host's hierarchies into a
//!   container, so the `<name>/` files are out of the container's reach.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;

mod cgroup;
mod host;
mod limits;
#[cfg(test)]
mod tests;

pub use cgroup::{Cgroup, Stats, LEAF};
pub use host::{
    parse_mountinfo, parse_proc_cgroup, unescape_mountinfo, CgroupMount, Host, Mode, ProcCgroup,
};
pub use limits::{controllers, cpu_shares};

/// A cgroup controller Burrow uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// memory: `--memory`, `--memory-swap`, memory and OOM statistics.
    Memory,
    /// cpu: `--cpus` (quota and period) and `--cpu-weight`.
    Cpu,
    /// cpuacct: cpu time statistics on v1 (on v2 `cpu.stat` is always there).
    Cpuacct,
    /// pids: `--pids-limit`.
    Pids,
}

impl Controller {
    /// Every controller, in a fixed order.
    pub const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Pids,
    ];

    /// The kernel's name (`memory`, `cpu`, `cpuacct`, `pids`).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
        }
    }

    /// What needs it, for error messages.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Controller::Memory => "memory limits",
            Controller::Cpu => "cpu limits",
            Controller::Cpuacct => "cpu statistics",
            Controller::Pids => "pids limits",
        }
    }
}

/// Why a cgroup operation failed. Every message is meant for the user as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a cgroup file failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"create cgroup"`, `"write 512 to"`).
        op: String,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A size, limit or name is malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// A limit needs a delegated cgroup that is not there; the message says what to do.
    #[error("{0}")]
    Delegation(String),
    /// A kernel file (mountinfo, /proc/self/cgroup, a cgroup statistic) does not parse.
    #[error("{0}")]
    Format(String),
    /// The container's cgroup already exists.
    #[error("cgroup {} already exists: a container of that name is running or was not cleaned up", .0.display())]
    Exists(PathBuf),
    /// No cgroup of that name.
    #[error("no cgroup for container {0}")]
    NotFound(String),
    /// The cgroup still holds processes.
    #[error("cgroup {} is still busy (processes or child cgroups remain); stop the container's processes first", .0.display())]
    Busy(PathBuf),
}

pub(crate) fn io_err(
    op: impl Into<String>,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let (op, path) = (op.into(), path.to_path_buf());
    move |source| Error::Io { op, path, source }
}
