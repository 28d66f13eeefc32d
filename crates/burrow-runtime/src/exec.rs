//! `burrow exec`: a new process inside every namespace of a running container, with the
//! container's capability set, seccomp filter and no_new_privs.
//!
//! The caller forks a helper that makes itself non-dumpable (nothing in the container can
//! ptrace it or open its descriptors), joins all namespaces at once through the pid 1's pidfd
//! (which also resets its root and working directory to the container's: no host directory
//! stays reachable, the CVE-2016-9962 / CVE-2024-21626 class), becomes the container's root,
//! and clones the command's process with CLONE_PARENT, so that the caller is its parent and
//! it is born inside the container's pid namespace. From there it follows the same path as the
//! container's pid 1 (`child::enter_command`).

use crate::channel::{self, Passed};
use crate::child::{self, ProcessSpec};
use crate::run::{block_signals, relay, Container};
use crate::state::{Dir, Status};
use crate::trace::Steps;
use crate::{err, Ctx, Error};
use burrow_config::{EnvVar, IdOrName, NetMode, UserSpec};
use nix::sched::CloneFlags;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What `burrow exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Command and arguments.
    pub command: Vec<String>,
    /// Extra environment (after the container's).
    pub env: Vec<EnvVar>,
    /// Working directory (default: the container's).
    pub workdir: Option<String>,
    /// User (default: the container's).
    pub user: Option<UserSpec>,
    /// Supplementary groups added to the container's (`--group-add`).
    pub group_add: Vec<IdOrName>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep stdin open.
    pub interactive: bool,
}

/// Runs a command in a running container; returns its exit status.
pub fn exec(name: &str, opts: ExecOptions) -> Result<i32, Error> {
    if opts.command.is_empty() {
        return Err(err("no command: give the command to run in the container"));
    }
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    if st.status != Status::Running {
        return Err(err(format!("container {name} is not running")));
    }
    let pid = st
        .pid
        .ok_or_else(|| err(format!("container {name} is not running")))?;
    let mut config = dir.config()?;
    let target =
        join_target(pid, config.init).ctx(|| format!("container {name} is not running"))?;
    if !st.container_alive() {
        return Err(err(format!("container {name} is not running")));
    }
    let image = crate::image::load(&dir.data)?;
    if let Some(img) = &image {
        crate::image::apply_process_defaults(&mut config, img)?;
    }
    let hostname = config
        .hostname
        .clone()
        .or(config.name.clone())
        .unwrap_or_else(|| "burrow".into());
    let net = config.net;
    // This process's flags over the container's settings.
    config.command = opts.command;
    config.env.extend(opts.env);
    config.workdir = opts.workdir.or(config.workdir);
    config.user = opts.user.or(config.user);
    config.group_add.extend(opts.group_add);
    config.tty = opts.tty;
    config.interactive = opts.interactive;
    // Names are looked up in the running container's own files (through its root).
    let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
    let user = crate::image::resolve_user(
        config.user.as_ref(),
        &config.group_add,
        crate::image::Files::Dir(&root),
        image.is_some(),
    )?;
    let spec = ProcessSpec::new(config, &hostname, st.uid_map.len() == 1, user)?;
    // The container's cgroup, if it has one: the new process joins it before anything else.
    let cgroup = match burrow_cgroups::Host::system().and_then(|h| h.detect(&[])) {
        Ok(mode) => burrow_cgroups::Cgroup::open(&mode, name).ok(),
        Err(_) => None,
    };
    let sfd = block_signals()?;
    let (psock, csock) = channel::pair()?;
    let helper = match burrow_sys::rt::clone_fork(0).ctx(|| "fork".into())? {
        burrow_sys::rt::Forked::Child => {
            drop(psock);
            let r = match &cgroup {
                Some(cg) => cg
                    .add_process(nix::unistd::getpid().as_raw())
                    .map_err(|e| err(format!("cannot join the container's cgroup: {e}")))
                    .and_then(|()| join_and_spawn(&spec, net, &target, &csock)),
                None => join_and_spawn(&spec, net, &target, &csock),
            };
            child::report(r, &csock)
        }
        burrow_sys::rt::Forked::Parent { pid, pidfd } => Container {
            pid,
            pidfd,
            reaped: false,
            cgroup: None,
            published: None,
        },
    };
    drop(csock);
    drop(target);
    let (master, pidfd) = match channel::await_exec(&psock) {
        Ok(v) => (v.master, v.pidfd),
        Err(e) => {
            drop(helper);
            return Err(e);
        }
    };
    let mut helper = helper;
    let _ = helper.wait();
    let pidfd = pidfd.ok_or_else(|| err("the exec helper did not report its process"))?;
    let cpid = pid_of(&pidfd).ok_or_else(|| err("cannot find the exec'd process"))?;
    let mut proc_ = Container {
        pid: cpid,
        pidfd,
        reaped: false,
        cgroup: None,
        published: None,
    };
    relay(&mut proc_, master, &sfd, true, None)
}

/// In the helper: join, become root of the container, spawn the command's process.
fn join_and_spawn(
    spec: &ProcessSpec,
    net: NetMode,
    target: &OwnedFd,
    sock: &OwnedFd,
) -> Result<child::Never, Error> {
    burrow_sys::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE".into())?;
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    if net != NetMode::Host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    nix::sched::setns(target.as_fd(), flags)
        .map_err(|e| {
            // Before 5.8 setns takes a /proc/PID/ns file only: a pidfd gets EINVAL.
            let e = std::io::Error::from(e);
            if burrow_sys::kernel::older_than((5, 8)) {
                burrow_sys::kernel::einval_flag(e, "setns through a pidfd", (5, 8))
            } else {
                e
            }
        })
        .ctx(|| "cannot join the container's namespaces".into())?;
    child::become_root(spec.single_map)?;
    let flags = u64::try_from(libc::CLONE_PARENT).map_err(|_| err("clone flags"))?;
    match burrow_sys::rt::clone_fork(flags)
        .ctx(|| "cannot create the process in the container".into())?
    {
        burrow_sys::rt::Forked::Child => child::enter_command(spec, false, sock, Steps::start()),
        burrow_sys::rt::Forked::Parent { pidfd, .. } => {
            channel::send_fd(sock, Passed::Pidfd, pidfd.as_raw_fd())?;
            burrow_sys::rt::exit_now(0)
        }
    }
}

/// A pidfd of the process whose namespaces `exec` joins: pid 1, or with `--init` the init's
/// child (the command). burrow's init is not dumpable and its memory belongs to the host's
/// user namespace (it never exec'd), so joining through it needs CAP_SYS_PTRACE on the host
/// (setns through a pidfd checks ptrace access); the command it started is an ordinary
/// process of the container, in the same namespaces.
pub(crate) fn join_target(pid: i32, init: bool) -> std::io::Result<OwnedFd> {
    if !init {
        return burrow_sys::pidfd_open(pid);
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
    let fd = burrow_sys::pidfd_open(child)?;
    // The pidfd pins the process: if it is still the init's child now, it is the command.
    let stat = std::fs::read_to_string(format!("/proc/{child}/stat"))?;
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<i32>().ok());
    if ppid != Some(pid) {
        return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    }
    Ok(fd)
}

/// The pid (in our pid namespace) behind a pidfd.
fn pid_of(fd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:")?.trim().parse().ok())
        .filter(|p: &i32| *p > 0)
}
