//! The container's pid 1, from the clone to the exec. Runs in the new namespaces; reports a
//! failure to the parent over the sync socket (which is close-on-exec: end-of-file tells the
//! parent the exec happened).

use crate::caps::{limit_bounding, set_root_sets};
use crate::channel::{self, Passed};
use crate::image::{OverlayPlan, Resolved};
use crate::mount::{self, Layout};
use crate::trace::Steps;
use crate::{err, Ctx, Error};
use burrow_config::{EnvVar, NetMode, RunConfig, Ulimit, User};
use caps::CapsHashSet;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What every process burrow starts in a container needs: a new container's pid 1 and a
/// `burrow exec` process alike. Computed by the parent before the clone.
#[derive(Debug)]
pub(crate) struct ProcessSpec {
    /// The container's settings with this process's own applied (`burrow exec`'s flags): its
    /// command, user, working directory, terminal and rlimits are read from here.
    pub config: RunConfig,
    /// The whole environment, in order.
    pub env: Vec<(String, String)>,
    /// The user and group ids (`-u` resolved).
    pub user: User,
    /// The supplementary groups (besides `user.gid`, which is always one).
    pub groups: Vec<u32>,
    pub caps: CapsHashSet,
    pub seccomp: Option<burrow_seccomp::BpfProgram>,
    /// The user namespace maps one id only (setgroups is denied).
    pub single_map: bool,
    /// Where stdout and stderr go when not a terminal (a detached container's log pipe);
    /// `None` keeps the caller's.
    pub output: Option<OwnedFd>,
}

impl ProcessSpec {
    /// A process with the settings `config` (capability set, seccomp program and environment
    /// are computed here, in the parent).
    pub(crate) fn new(
        config: RunConfig,
        hostname: &str,
        single_map: bool,
        user: Resolved,
    ) -> Result<ProcessSpec, Error> {
        let caps = crate::caps::resolve(config.cap_policy, &config.cap_add, &config.cap_drop)?;
        let seccomp = crate::run::seccomp_program(&config)?;
        crate::apparmor::check(&config.apparmor)?;
        let mut spec = ProcessSpec {
            groups: user.groups.clone(),
            env: environment(hostname, &user, config.tty, &config.env),
            user: user.user,
            config,
            caps,
            seccomp,
            single_map,
            output: None,
        };
        spec.set_single_map(single_map)?;
        Ok(spec)
    }

    /// Says whether the user namespace maps one id only; there setgroups is denied, so the
    /// user's /etc/group memberships are dropped and `--group-add` is an error.
    pub(crate) fn set_single_map(&mut self, single_map: bool) -> Result<(), Error> {
        self.single_map = single_map;
        if single_map {
            if !self.config.group_add.is_empty() {
                return Err(err(
                    "--group-add needs a subordinate gid range: this container's user namespace maps one id only, where setgroups is denied (burrow doctor says how to get a range)",
                ));
            }
            self.groups.clear();
        }
        Ok(())
    }
}

/// The environment of a process: burrow's defaults (HOME from the container's passwd entry
/// when known), then `extra` in order (a later value of a name replaces an earlier one).
fn environment(
    hostname: &str,
    user: &Resolved,
    tty: bool,
    extra: &[EnvVar],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOSTNAME".into(), hostname.to_owned()),
        (
            "HOME".into(),
            match &user.home {
                Some(h) => h.clone(),
                None if user.user.uid == 0 => "/root".into(),
                None => "/".into(),
            },
        ),
    ];
    if tty {
        env.push((
            "TERM".into(),
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        ));
    }
    for e in extra {
        env.retain(|(k, _)| *k != e.key);
        env.push((e.key.clone(), e.value.clone()));
    }
    env
}

/// What only a new container needs, around its pid 1's [`ProcessSpec`] (whose settings also
/// say the volumes, read-only root, network mode, init and id mapping).
#[derive(Debug)]
pub(crate) struct ContainerSpec {
    pub process: ProcessSpec,
    /// The root filesystem, canonical (with `image`: unused).
    pub rootfs: PathBuf,
    /// An image root (overlayfs over its layers).
    pub image: Option<OverlayPlan>,
    pub hostname: String,
    pub gid5_mapped: bool,
    /// The cgroup to create for the container (mode, limits, name), when it gets one.
    pub cgroup: Option<CgroupPlan>,
    /// `--net bridge`: what to ask burrow-nic for.
    pub bridge: Option<crate::net::Plan>,
    /// `--net bridge`: the text of the container's /etc/resolv.conf (bound read-only).
    pub resolv: Option<String>,
}

impl ContainerSpec {
    /// The container's settings.
    pub(crate) fn config(&self) -> &RunConfig {
        &self.process.config
    }
}

/// Where and with which limits the container's cgroup is made.
#[derive(Debug, Clone)]
pub(crate) struct CgroupPlan {
    pub mode: burrow_cgroups::Mode,
    pub limits: burrow_config::Limits,
    pub name: String,
}

/// Entry point in the child. Never returns.
pub(crate) fn main(spec: &ContainerSpec, sock: OwnedFd) -> ! {
    report(setup_and_exec(spec, &sock), &sock)
}

/// Sends the error of a failed setup to the parent and exits with its code.
pub(crate) fn report(r: Result<Never, Error>, sock: &OwnedFd) -> ! {
    let e = match r {
        Ok(never) => match never {},
        Err(e) => e,
    };
    channel::send_error(sock, &e);
    burrow_sys::rt::exit_now(e.code)
}

pub(crate) enum Never {}

fn setup_and_exec(spec: &ContainerSpec, sock: &OwnedFd) -> Result<Never, Error> {
    // Go, followed (with --net bridge) by burrow-nic's description of the nic.
    let nic = channel::recv_go(sock)?;
    let mut steps = Steps::start();
    // --idmap auto with an image: open the layers and the container's directory while still
    // the caller (a slice's root cannot search the caller's directories).
    let (pinned, _fds) = crate::shift::pin(spec)?;
    // The maps exist: become root of the new namespace for good.
    become_root(spec.process.single_map)?;
    steps.done("become root");
    // The parent has moved us into our cgroup by now: the cgroup namespace made here is
    // rooted there, so the container sees only its own cgroup (and not the limits above it).
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .ctx(|| "cannot create the cgroup namespace".into())?;
    steps.done("cgroup namespace");

    let warning = mount::setup(&Layout {
        rootfs: &spec.rootfs,
        image: pinned.as_ref().or(spec.image.as_ref()),
        volumes: &spec.config().volumes,
        resolv: spec.resolv.as_deref(),
        read_only: spec.config().read_only,
        new_net: spec.config().net != NetMode::Host,
        gid5_mapped: spec.gid5_mapped,
    })?;
    if let Some(w) = warning {
        channel::send_warning(sock, &w);
    }
    steps.done("mounts and pivot_root");
    nix::unistd::sethostname(&spec.hostname).ctx(|| "sethostname".into())?;
    if spec.config().net != NetMode::Host {
        burrow_sys::rt::loopback_up().ctx(|| "cannot bring up the loopback interface".into())?;
    }
    if let Some(nic) = &nic {
        crate::net::configure_inside(nic)?;
    }
    steps.done("hostname and network");
    enter_command(&spec.process, spec.config().init, sock, steps)
}

/// Root of the user namespace just mapped or joined: all uids and gids 0, no supplementary
/// groups (unless setgroups is denied, with a single-id map).
pub(crate) fn become_root(single_map: bool) -> Result<(), Error> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .ctx(|| "setresgid(0)".into())?;
    if !single_map {
        setgroups(&[]).ctx(|| "setgroups".into())?;
    }
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).ctx(|| "setresuid(0)".into())
}

/// From a process already inside every namespace of the container (pid 1 after its setup,
/// or a `burrow exec` process): session, terminal, limits, environment, working directory,
/// capabilities, user, no_new_privs, seccomp, descriptors, exec.
pub(crate) fn enter_command(
    spec: &ProcessSpec,
    init: bool,
    sock: &OwnedFd,
    mut steps: Steps,
) -> Result<Never, Error> {
    let c = &spec.config;
    let user = spec.user;
    let workdir = c.workdir.as_deref().unwrap_or("/");
    // A new session: the container never shares the caller's controlling terminal.
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    if c.tty {
        setup_tty(sock)?;
    } else {
        if !(c.interactive || c.tty) {
            let null = std::fs::File::open("/dev/null").ctx(|| "/dev/null".into())?;
            nix::unistd::dup2_stdin(null.as_fd()).ctx(|| "dup2".into())?;
        }
        if let Some(out) = &spec.output {
            nix::unistd::dup2_stdout(out.as_fd()).ctx(|| "dup2".into())?;
            nix::unistd::dup2_stderr(out.as_fd()).ctx(|| "dup2".into())?;
        }
    }
    steps.done("session and stdio");
    for u in &c.ulimits {
        set_ulimit(u)?;
    }
    steps.done("rlimits");
    let env = &spec.env;
    let path_var = env
        .iter()
        .find_map(|(k, v)| (k == "PATH").then_some(v.as_str()))
        .unwrap_or("");
    if let Err(e) = nix::unistd::chdir(workdir) {
        return Err(err(format!(
            "working directory {} does not exist in the container: {e}",
            workdir
        )));
    }
    let program = find_program(&c.command[0], path_var)?;
    steps.done("workdir and command lookup");

    limit_bounding(&spec.caps)?;
    if user.uid != 0 || user.gid != 0 || !spec.groups.is_empty() {
        let (u, g) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
        if !spec.single_map {
            let mut all = vec![g];
            all.extend(
                spec.groups
                    .iter()
                    .filter(|x| **x != user.gid)
                    .map(|x| Gid::from_raw(*x)),
            );
            setgroups(&all).map_err(|e| {
                err(format!(
                    "cannot set the supplementary groups {:?}: {e} (are they all mapped? a gid outside the container's id map cannot be used)",
                    spec.groups
                ))
            })?;
        }
        setresgid(g, g, g).map_err(|e| {
            err(format!(
                "cannot switch to gid {}: {e} (is it mapped?)",
                user.gid
            ))
        })?;
        setresuid(u, u, u).map_err(|e| {
            err(format!(
                "cannot switch to uid {}: {e} (is it mapped?)",
                user.uid
            ))
        })?;
    }
    if user.uid == 0 {
        set_root_sets(&spec.caps)?;
    }
    steps.done("capabilities and user");
    // After the last credential change (which would clear it): die with the runtime.
    burrow_sys::rt::set_pdeathsig(libc::SIGKILL).ctx(|| "PR_SET_PDEATHSIG".into())?;
    burrow_sys::set_no_new_privs().ctx(|| "PR_SET_NO_NEW_PRIVS".into())?;
    if let Some(p) = &spec.seccomp {
        burrow_seccomp::install(p)
            .map_err(|e| err(format!("cannot install the seccomp filter: {e}")))?;
    }
    steps.done("no_new_privs and seccomp");
    // Only 0-2 (and the sync socket, itself close-on-exec) survive into the command.
    burrow_sys::rt::cloexec_from(3).ctx(|| "close_range".into())?;

    let argv: Vec<CString> = c
        .command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| err("argument with a NUL byte"))?;
    let envp: Vec<CString> = env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect::<Result<_, _>>()
        .map_err(|_| err("environment with a NUL byte"))?;
    if let Some(list) = steps.list() {
        channel::send_steps(sock, list);
    }
    // Last, so that nothing burrow still does needs the profile's leave; --init's pid 1 is
    // confined with the command.
    crate::apparmor::confine(&c.apparmor)?;
    if init {
        run_init(&program, &argv, &envp, sock)
    } else {
        Err(exec(&program, &argv, &envp))
    }
}

fn exec(program: &CString, argv: &[CString], envp: &[CString]) -> Error {
    burrow_sys::rt::reset_signal_dispositions();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let a: Vec<&std::ffi::CStr> = argv.iter().map(CString::as_c_str).collect();
    let e: Vec<&std::ffi::CStr> = envp.iter().map(CString::as_c_str).collect();
    let error = burrow_sys::rt::execve(program, &a, &e);
    let shown = program.to_string_lossy();
    match error.raw_os_error() {
        Some(libc::ENOENT) => Error {
            code: 127,
            msg: format!(
                "cannot execute {shown}: {error} (missing interpreter or library in the rootfs?)"
            ),
        },
        _ => Error {
            code: 126,
            msg: format!("cannot execute {shown}: {error}"),
        },
    }
}

/// `--init`: pid 1 stays a small reaper that forwards signals to the command (pid 2) and
/// exits with its status. It is not dumpable, so the container cannot open its
/// /proc/1/exe (the runtime binary on the host).
fn run_init(
    program: &CString,
    argv: &[CString],
    envp: &[CString],
    sock: &OwnedFd,
) -> Result<Never, Error> {
    let all = SigSet::all();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .ctx(|| "sigprocmask".into())?;
    // Before the command exists, so it never sees burrow's command line in /proc/1/cmdline
    // (while pid 1 is still dumpable: a non-dumpable process's /proc/self/mem belongs to the
    // host's root, which this user namespace cannot open).
    hide_cmdline("burrow-init");
    // Also before the command exists (the first process of the container that is not
    // burrow's), pid 1 becomes non-dumpable and closes every descriptor but the sync socket
    // (which the command's process needs until its exec): the command can never ptrace pid 1
    // or take a descriptor from it with pidfd_getfd, and pid 1 holds nothing worth taking.
    // (Before, both happened after the fork, racing the command's first instructions.)
    burrow_sys::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE".into())?;
    burrow_sys::close_fds_from_3_except(Some(sock.as_raw_fd())).ctx(|| "close_range".into())?;
    let child = match burrow_sys::rt::clone_fork(0).ctx(|| "fork".into())? {
        burrow_sys::rt::Forked::Child => {
            let e = exec(program, argv, envp);
            channel::send_error(sock, &e);
            burrow_sys::rt::exit_now(e.code)
        }
        burrow_sys::rt::Forked::Parent { pid, pidfd } => {
            drop(pidfd);
            nix::unistd::Pid::from_raw(pid)
        }
    };
    // Now the sync socket too (the parent waits for its end of file): pid 1 never execs, so
    // close-on-exec does nothing for it.
    let _ = sock;
    let _ = burrow_sys::close_fds_from_3_except(None);
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        let sig = all.wait().unwrap_or(Signal::SIGCHLD);
        if sig == Signal::SIGCHLD {
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(p, code)) if p == child => burrow_sys::rt::exit_now(code),
                    Ok(WaitStatus::Signaled(p, s, _)) if p == child => {
                        burrow_sys::rt::exit_now(128 + s as i32)
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        } else {
            let _ = nix::sys::signal::kill(child, sig);
        }
    }
}

/// Overwrites this process's argument area with `name` (NUL-padded), so that the container's
/// /proc/1/cmdline shows `name` instead of burrow's command line on the host (its path and
/// arguments). The area's bounds come from /proc/self/stat (arg_start, arg_end); the write
/// goes through /proc/self/mem, which a process may always use on itself. Best effort.
fn hide_cmdline(name: &str) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name in parentheses start at field 3 (state).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (Some(start), Some(end)) = (
        f.get(45).and_then(|v| v.parse::<u64>().ok()),
        f.get(46).and_then(|v| v.parse::<u64>().ok()),
    ) else {
        return;
    };
    let Some(len) = end.checked_sub(start).and_then(|l| usize::try_from(l).ok()) else {
        return;
    };
    if len == 0 {
        return;
    }
    let mut area = vec![0u8; len];
    let keep = name.len().min(len.saturating_sub(1));
    if let (Some(dst), Some(src)) = (area.get_mut(..keep), name.as_bytes().get(..keep)) {
        dst.copy_from_slice(src);
    }
    if let Ok(mem) = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
    {
        use std::os::unix::fs::FileExt;
        let _ = mem.write_all_at(&area, start);
    }
}

fn setup_tty(sock: &OwnedFd) -> Result<(), Error> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "cannot open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&name)
        .ctx(|| format!("cannot open {name}"))?;
    burrow_sys::rt::set_controlling_tty(slave.as_fd()).ctx(|| "TIOCSCTTY".into())?;
    nix::unistd::dup2_stdin(slave.as_fd()).ctx(|| "dup2".into())?;
    nix::unistd::dup2_stdout(slave.as_fd()).ctx(|| "dup2".into())?;
    nix::unistd::dup2_stderr(slave.as_fd()).ctx(|| "dup2".into())?;
    channel::send_fd(sock, Passed::Tty, master.as_raw_fd())
}

fn set_ulimit(u: &Ulimit) -> Result<(), Error> {
    let soft = if u.soft == u64::MAX {
        libc::RLIM_INFINITY
    } else {
        u.soft
    };
    let hard = if u.hard == u64::MAX {
        libc::RLIM_INFINITY
    } else {
        u.hard
    };
    burrow_sys::setrlimit(u.resource, soft, hard).map_err(|e| {
        let cur = burrow_sys::getrlimit(u.resource).map(|(_, h)| h).unwrap_or(0);
        let shown = if cur == libc::RLIM_INFINITY { "unlimited".to_owned() } else { cur.to_string() };
        err(format!(
            "cannot set ulimit {}: {e} (a rootless container cannot raise a hard limit above the one it was started with: {shown})",
            u.name
        ))
    })
}

/// Finds the command in the container (after pivot_root), as execvp would.
fn find_program(cmd: &str, path: &str) -> Result<CString, Error> {
    use std::os::unix::fs::PermissionsExt;
    let check = |p: &Path| -> Option<Result<CString, Error>> {
        let md = std::fs::metadata(p).ok()?;
        if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
            return Some(Err(Error {
                code: 126,
                msg: format!("{} in the rootfs is not an executable file", p.display()),
            }));
        }
        Some(CString::new(p.as_os_str().as_bytes()).map_err(|_| err("bad command path")))
    };
    if cmd.contains('/') {
        return check(Path::new(cmd)).unwrap_or_else(|| {
            Err(Error {
                code: 127,
                msg: format!("command not found in the rootfs: {cmd}"),
            })
        });
    }
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        if let Some(r) = check(&Path::new(dir).join(OsStr::new(cmd))) {
            return r;
        }
    }
    Err(Error {
        code: 127,
        msg: format!("command not found in the rootfs: {cmd} (searched PATH={path})"),
    })
}
