//! The caller's side of `burrow run`: prepare, clone the container's pid 1 into new
//! namespaces, map its ids, release it, relay signals and the terminal, return its status.

use crate::child::{self, ContainerSpec, ProcessSpec};
use crate::ids::{self, IdPlan, Me};
use crate::image::{self, ImageRoot};
use crate::trace::step;
use crate::{channel, err, tty, Ctx, Error};
use burrow_config::{IdMap, NetMode, Root, RunConfig, RunSpec, Seccomp};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use std::os::fd::{AsFd, OwnedFd};

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
    Signal::SIGCONT,
];

/// A container ready to start: what its pid 1 gets, its id maps and the helpers that write
/// them.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub spec: ContainerSpec,
    pub plan: IdPlan,
    pub helpers: Option<ids::Helpers>,
    /// `--idmap auto` with an image: the slice reserved (by this process, the pid) before
    /// the clone, because the image's layers were shifted for it.
    pub reserved: Option<(IdPlan, i32)>,
}

/// Where a container built by [`prepare`] keeps an image root's upper, work and flattened
/// directories (its data directory; a foreground run's own temporary directory). `None`
/// when the container is only checked (`burrow create` before its directory exists).
pub(crate) type RootDir<'a> = Option<&'a std::path::Path>;

/// Everything that can be decided and checked before the clone. `image` is the front end's
/// resolution of the spec's image (`None` for a `--rootfs` run, which reads nothing more).
pub(crate) fn prepare(
    c: &RunSpec,
    image: Option<&ImageRoot>,
    dir: RootDir<'_>,
) -> Result<Prepared, Error> {
    let _t = step("prepare");
    let mut config = c.config().clone();
    if c.idmap == IdMap::KeepId && config.user.is_none() {
        // As podman's keep-id: the command runs as you (your uid and gid) unless -u says.
        let me = Me::current();
        config.user = Some(burrow_config::UserSpec {
            user: burrow_config::IdOrName::Id(me.uid),
            group: Some(burrow_config::IdOrName::Id(me.gid)),
        });
    }
    let (rootfs, mut overlay, resolved) = match (c.root(), image) {
        (Root::Dir(rootfs_arg), _) => {
            let rootfs = std::fs::canonicalize(rootfs_arg).map_err(|e| {
                err(format!(
                    "rootfs {} does not exist or is not accessible: {e}",
                    rootfs_arg.display()
                ))
            })?;
            if !rootfs.is_dir() {
                return Err(err(format!(
                    "rootfs {} is not a directory",
                    rootfs_arg.display()
                )));
            }
            let resolved = image::resolve_user(
                config.user.as_ref(),
                &config.group_add,
                image::Files::Dir(&rootfs),
                false,
            )?;
            (rootfs, None, resolved)
        }
        (Root::Image(name), None) => {
            return Err(err(format!(
                "internal error: image {name} was not resolved"
            )))
        }
        (Root::Image(_), Some(img)) => {
            image::apply_process_defaults(&mut config, img)?;
            config.command =
                image::compose_command(img, config.entrypoint.as_deref(), &config.command)?;
            let resolved = image::resolve_user(
                config.user.as_ref(),
                &config.group_add,
                image::Files::Layers(&img.lowers),
                true,
            )?;
            let forced_flat = match std::env::var("BURROW_OVERLAY").ok().as_deref() {
                Some("0") | Some("no") | Some("off") => Some("BURROW_OVERLAY=0 is set".to_owned()),
                _ => None,
            };
            let plan = image::OverlayPlan {
                image: img.clone(),
                dir: dir.map(std::path::Path::to_path_buf).unwrap_or_default(),
                forced_flat,
                volatile: false,
                tmpfs: None,
            };
            (std::path::PathBuf::new(), Some(plan), resolved)
        }
    };
    for v in &c.volumes {
        if std::fs::metadata(&v.source).is_err() {
            return Err(err(format!(
                "volume {v}: the source {} does not exist or is not accessible",
                v.source.display()
            )));
        }
    }
    let hostname = c
        .hostname
        .clone()
        .or_else(|| c.name.clone())
        .unwrap_or_else(|| "burrow".into());
    let user = resolved.user;
    let mut process = ProcessSpec::new(config, &hostname, false, resolved)?;
    let limits = *c.limits();
    let cgroup = if limits.is_empty() {
        None
    } else {
        let host = burrow_cgroups::Host::system().map_err(|e| err(format!("cgroups: {e}")))?;
        let mode = host
            .detect(&burrow_cgroups::controllers(&limits))
            .map_err(|e| err(format!("{e} (see burrow doctor)")))?;
        let name = c
            .name
            .clone()
            .unwrap_or_else(|| format!("run-{}", std::process::id()));
        Some(crate::child::CgroupPlan { mode, limits, name })
    };
    let me = Me::current();
    let (plan, warning) = ids::plan(&me)?;
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let helpers = match plan {
        IdPlan::Full { .. } | IdPlan::Slice { .. } | IdPlan::KeepId { .. } => {
            let h = ids::find_helpers()?;
            tracing::debug!(
                "helpers: {} and {} (found through {})",
                h.uid.display(),
                h.gid.display(),
                h.source
            );
            Some(h)
        }
        IdPlan::Single { .. } => None,
    };
    if c.net == NetMode::Host {
        tracing::warn!(
            "--net host: the container shares the host's network namespace: it sees and can use every host \
interface and address, can bind host ports, and can connect to the host's abstract unix sockets (such as systemd's and D-Bus's)"
        );
    }
    let mut gid5_mapped = matches!(&plan, IdPlan::Full { subgid, .. } if subgid.len() >= 5);
    // What the container will get: with --idmap auto, a slice (chosen at start).
    let mut reserved = None;
    let effective = match (c.idmap, &plan) {
        (IdMap::Shared, _) => plan.clone(),
        (IdMap::Auto(_) | IdMap::KeepId, IdPlan::Single { .. }) => {
            return Err(err(format!(
                "--idmap {} needs a subordinate id range: ask your admin (sudo burrow admin add-user USER)",
                c.idmap
            )))
        }
        (IdMap::KeepId, _) => plan
            .keep_id()
            .ok_or_else(|| err("internal error: keep-id without a full plan"))?,
        // An image run (not a `burrow create` check) shifts the layers for its slice, so the
        // slice is taken now, preferring one the image already has copies for.
        (IdMap::Auto(size), _) if overlay.is_some() && dir.is_some() => {
            let img = image.ok_or_else(|| err("internal error: no image"))?;
            let me_pid = i32::try_from(std::process::id()).map_err(|_| err("pid"))?;
            let sl = ids::allocate(&plan, size, me_pid, &hostname, &|sl| {
                crate::shift::has(img, sl)
            })?;
            gid5_mapped = u64::from(size.unwrap_or(65_536)) >= 5;
            reserved = Some((sl.clone(), me_pid));
            sl
        }
        (IdMap::Auto(size), _) => {
            let size = u64::from(size.unwrap_or(65_536));
            gid5_mapped = size >= 5;
            IdPlan::Slice { uid_start: 0, gid_start: 0, size }
        }
    };
    if let (Some(o), false) = (overlay.as_mut(), c.idmap == IdMap::Shared) {
        if dir.is_some() {
            let _t = step("image layers for the id map");
            // An auto slice's root is not you: its upper and work directories are made its.
            let dirs = if reserved.is_some() {
                vec![o.upper(), o.work()]
            } else {
                Vec::new()
            };
            o.image.lowers = crate::shift::layers(&o.image, &plan, &effective, dirs)?;
        }
    }
    if c.user.is_some() || overlay.is_some() {
        let u = user;
        for (id, gid) in [(u.uid, false), (u.gid, true)] {
            if effective.host_id(id, gid).is_none() {
                let top = effective
                    .lines(gid)
                    .iter()
                    .map(|(i, _, n)| i + n)
                    .max()
                    .unwrap_or(1)
                    - 1;
                return Err(err(format!(
                    "{} {id} is not mapped in the container (its {}s are 0 to {top}): choose another -u",
                    if gid { "gid" } else { "uid" },
                    if gid { "gid" } else { "uid" }
                )));
            }
        }
    }
    let (bridge, resolv) = if c.net == NetMode::Bridge {
        let plan = crate::net::Plan {
            helper: crate::net::find_nic()?,
            bridge: c
                .bridge
                .clone()
                .unwrap_or_else(|| burrow_config::DEFAULT_BRIDGE.to_owned()),
            // Only a named container keeps its address from run to run.
            name: c.name.clone().unwrap_or_default(),
            publish: if c.publish_mode_resolved() == Some(burrow_config::PublishMode::Kernel) {
                c.publish.clone()
            } else {
                Vec::new()
            },
        };
        // A volume the user put on /etc/resolv.conf wins.
        let own_resolv = c
            .volumes
            .iter()
            .any(|v| v.target == std::path::Path::new("/etc/resolv.conf"));
        (Some(plan), (!own_resolv).then(resolv_text))
    } else {
        (None, None)
    };
    process.set_single_map(matches!(plan, IdPlan::Single { .. }))?;
    let spec = ContainerSpec {
        process,
        rootfs,
        image: overlay,
        hostname,
        gid5_mapped,
        cgroup,
        bridge,
        resolv,
    };
    Ok(Prepared {
        spec,
        plan,
        helpers,
        reserved,
    })
}

/// Runs a container to completion and returns the exit status `burrow` should end with.
/// `image`: the front end's resolution of the spec's image (`None` with `--rootfs`).
pub fn run(spec: &RunSpec, image: Option<&ImageRoot>) -> Result<i32, Error> {
    let Some(img) = image else {
        let p = prepare(spec, None, None)?;
        let ports = crate::portfwd::bind(&crate::portfwd::user_mappings(spec.config()))?;
        let sfd = block_signals()?;
        let mut started = start(&p)?;
        let mut fwd = forward(ports.as_ref(), &started, spec.config().init)?;
        return relay(
            &mut started.container,
            started.master.take(),
            &sfd,
            true,
            fwd.as_mut(),
        );
    };
    // An image root's upper and work directories live for this run only: nothing is kept
    // for a foreground run. By default they are on a tmpfs that the container's pid 1 mounts
    // in its own mount namespace (nothing to create or remove on disk); with `--upper-size
    // disk`, BURROW_OVERLAY=0 or a kernel whose tmpfs has no user xattrs (< 6.6, overlayfs
    // needs them for whiteouts) in `.run-PID` on disk. (Leftovers of a killed run are
    // removed by the next one.)
    let base = crate::state::data_root()?;
    remove_stale_runs(&base);
    let dir = base.join(format!(".run-{}", std::process::id()));
    // An `--idmap auto` slice's root is not you: its upper and work directories are made on
    // disk and given to it while the layers are shifted (in `prepare`), and its pid 1 opens
    // the directory before it becomes that root (`shift::pin`), so it stays on disk.
    let auto = matches!(spec.config().idmap, burrow_config::IdMap::Auto(_));
    let r = (|| {
        if auto {
            let _ = remove_tree(&dir);
            std::fs::create_dir(&dir).ctx(|| format!("cannot create {}", dir.display()))?;
        }
        let mut p = prepare(spec, Some(img), Some(&dir))?;
        if let Some(o) = p.spec.image.as_mut() {
            o.volatile = true;
            o.tmpfs = match spec.config().upper_size {
                _ if auto => None,
                Some(burrow_config::UpperSize::Disk) => None,
                _ if o.forced_flat.is_some() || !tmpfs_has_user_xattrs() => None,
                Some(burrow_config::UpperSize::Ram(ref s)) => Some(s.bytes),
                None => Some(burrow_config::DEFAULT_UPPER_SIZE),
            };
            if o.tmpfs.is_none() && !auto {
                let _ = remove_tree(&dir);
                std::fs::create_dir(&dir).ctx(|| format!("cannot create {}", dir.display()))?;
            }
        }
        let ports = crate::portfwd::bind(&crate::portfwd::user_mappings(spec.config()))?;
        let sfd = block_signals()?;
        let mut started = start(&p)?;
        for w in &started.warnings {
            tracing::warn!("{w}");
        }
        let mut fwd = forward(ports.as_ref(), &started, spec.config().init)?;
        relay(
            &mut started.container,
            started.master.take(),
            &sfd,
            true,
            fwd.as_mut(),
        )
    })();
    // Also when the pid 1 fell back to disk (it made the directory itself).
    if let Err(e) = remove_tree(&dir) {
        tracing::warn!("cannot remove {}: {e}", dir.display());
    }
    r
}

/// A foreground run's user-space port forwarder (`-p` with `--net none`): started once the
/// container runs, said once on stderr, killed when the returned handle is dropped.
fn forward<'a>(
    ports: Option<&'a crate::portfwd::Listeners>,
    started: &Started,
    init: bool,
) -> Result<Option<crate::forwarder::Forwarder<'a>>, Error> {
    let Some(ports) = ports else { return Ok(None) };
    let fwd = crate::forwarder::Forwarder::start(ports, started.container.pid, init)?;
    tracing::warn!("{}", ports.notice());
    Ok(Some(fwd))
}

/// tmpfs has user xattrs (which overlayfs with `userxattr` needs in its upper) from Linux 6.6.
fn tmpfs_has_user_xattrs() -> bool {
    burrow_sys::kernel::release()
        .and_then(|r| burrow_sys::kernel::parse_release(&r))
        .is_some_and(|v| v >= (6, 6))
}

/// Removes `.run-PID` directories of foreground image runs whose process is gone.
fn remove_stale_runs(base: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(".run-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = remove_tree(&e.path());
        }
    }
}

/// Removes a tree written by a container (an image root's upper, work or flattened
/// directories). Entries owned by the caller go as the caller (directories made writable
/// first: overlayfs makes its `work/work` mode 0); when some belong to the container's other
/// ids (the caller's subordinate ids), the rest is removed as root of a user namespace with
/// the caller's full map, which may.
pub(crate) fn remove_tree(p: &std::path::Path) -> Result<(), Error> {
    match remove_own(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOTEMPTY)
            ) =>
        {
            remove_as_container_root(p)
        }
        Err(e) => Err(err(format!("cannot remove {}: {e}", p.display()))),
    }
}

fn remove_own(p: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let md = std::fs::symlink_metadata(p)?;
    if !md.is_dir() {
        return std::fs::remove_file(p);
    }
    if md.uid() == nix::unistd::getuid().as_raw() && md.mode() & 0o700 != 0o700 {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))?;
    }
    for e in std::fs::read_dir(p)? {
        remove_own(&e?.path())?;
    }
    std::fs::remove_dir(p)
}

/// Removes `p` from a child that is root of a new user namespace with the caller's id map.
fn remove_as_container_root(p: &std::path::Path) -> Result<(), Error> {
    let me = Me::current();
    let (plan, _) = ids::plan(&me)?;
    let helpers = match plan {
        IdPlan::Single { .. } => None,
        _ => Some(ids::find_helpers()?),
    };
    let (psock, csock) = channel::pair()?;
    let flags = u64::try_from(libc::CLONE_NEWUSER).map_err(|_| err("clone flags"))?;
    let (pid, pidfd) =
        match burrow_sys::rt::clone_fork(flags).ctx(|| "cannot create a user namespace".into())? {
            burrow_sys::rt::Forked::Child => {
                drop(psock);
                let r = (|| -> Result<child::Never, Error> {
                    channel::recv_go(&csock)?;
                    child::become_root(matches!(plan, IdPlan::Single { .. }))?;
                    std::fs::remove_dir_all(p)
                        .map_err(|e| err(format!("cannot remove {}: {e}", p.display())))?;
                    burrow_sys::rt::exit_now(0)
                })();
                child::report(r, &csock)
            }
            burrow_sys::rt::Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
    drop(csock);
    let mut c = Container {
        pid,
        pidfd,
        reaped: false,
        cgroup: None,
        published: None,
    };
    ids::write_maps(&plan, helpers.as_ref(), pid)?;
    channel::send_go(&psock, None)?;
    channel::await_exec(&psock)?;
    match c.wait()? {
        0 => Ok(()),
        n => Err(err(format!("cannot remove {} (status {n})", p.display()))),
    }
}

/// Blocks the signals burrow relays and returns a descriptor that reads them. (Blocked
/// before the clone, so none is lost; the container resets its mask before exec.)
pub(crate) fn block_signals() -> Result<SignalFd, Error> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .ctx(|| "sigprocmask".into())?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd".into())
}

/// The seccomp program a configuration asks for.
pub(crate) fn seccomp_program(c: &RunConfig) -> Result<Option<burrow_seccomp::BpfProgram>, Error> {
    Ok(match &c.seccomp {
        Seccomp::Unconfined => None,
        Seccomp::Default => {
            Some(burrow_seccomp::default_program().map_err(|e| err(format!("seccomp: {e}")))?)
        }
        Seccomp::Profile(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| err(format!("seccomp profile {}: {e}", p.display())))?;
            Some(
                burrow_seccomp::profile_program(&text)
                    .map_err(|e| err(format!("seccomp profile {}: {e}", p.display())))?,
            )
        }
    })
}

/// A container whose command has been exec'd.
#[derive(Debug)]
pub(crate) struct Started {
    pub container: Container,
    /// The pty master, with `-t`.
    pub master: Option<OwnedFd>,
    /// The id maps it got.
    pub plan: IdPlan,
    /// With --net bridge: the nic burrow-nic made.
    pub nic: Option<crate::net::Nic>,
    /// Warnings from the container's setup (for the user).
    pub warnings: Vec<String>,
}

/// The container's /etc/resolv.conf, made from the host's.
fn resolv_text() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (text, fallback) = crate::net::resolv_conf(&host);
    if fallback {
        tracing::warn!(
            "the host's /etc/resolv.conf has no resolver a container can reach (only loopback ones): the container uses 1.1.1.1 and 8.8.8.8"
        );
    }
    text
}

/// Clones the container's pid 1 into new namespaces, maps its ids, releases it and waits
/// until its command is exec'd (or its setup failed: then the error, and nothing is left).
pub(crate) fn start(p: &Prepared) -> Result<Started, Error> {
    let (cspec, plan, helpers) = (&p.spec, &p.plan, p.helpers.as_ref());
    if let Some(o) = cspec.image.as_ref().filter(|o| o.tmpfs.is_none()) {
        o.make_dirs()?;
    }
    let t = step("clone into new namespaces");
    let (psock, csock) = channel::pair()?;
    // No CLONE_NEWCGROUP: the child makes its cgroup namespace once it is in its cgroup.
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    if cspec.config().net != NetMode::Host {
        flags |= libc::CLONE_NEWNET;
    }
    let flags = u64::try_from(flags).map_err(|_| err("clone flags"))?;
    let (pid, pidfd) = match burrow_sys::rt::clone_fork(flags) {
        Ok(burrow_sys::rt::Forked::Child) => {
            drop(psock);
            child::main(cspec, csock)
        }
        Ok(burrow_sys::rt::Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => {
            return Err(err(format!(
                "cannot create the container's namespaces: {e}{}",
                if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::ENOSPC) {
                    " (are unprivileged user namespaces enabled? see `sysctl user.max_user_namespaces` and `burrow doctor`)"
                } else if e.raw_os_error() == Some(libc::EINVAL) {
                    " (is this kernel built without one of the namespace types? CONFIG_USER_NS, CONFIG_PID_NS, CONFIG_IPC_NS, CONFIG_UTS_NS, CONFIG_NET_NS)"
                } else {
                    ""
                }
            )))
        }
    };
    drop(csock);
    drop(t);
    let mut container = Container {
        pid,
        pidfd,
        reaped: false,
        cgroup: None,
        published: None,
    };
    if let Some(cg) = &cspec.cgroup {
        let _t = step("cgroup");
        // Before the maps: v1 moves only processes that still have the caller's uid.
        let made = burrow_cgroups::Cgroup::create(&cg.mode, &cg.name, &cg.limits)
            .map_err(|e| err(format!("cannot create the container's cgroup: {e}")))?;
        let moved = made
            .add_process(pid)
            .map_err(|e| err(format!("cannot move the container into its cgroup: {e}")));
        container.cgroup = Some(made);
        moved?;
    }
    let t = step("id maps (helpers)");
    let plan = match (cspec.config().idmap, &p.reserved) {
        (_, Some((slice, reserver))) => {
            ids::claim(slice, *reserver, container.pid, &cspec.hostname)?;
            slice.clone()
        }
        (IdMap::Auto(size), None) => {
            ids::allocate(plan, size, container.pid, &cspec.hostname, &|_| false)?
        }
        (IdMap::KeepId, None) => plan
            .keep_id()
            .ok_or_else(|| err("--idmap keep-id needs a subordinate id range"))?,
        (IdMap::Shared, None) => plan.clone(),
    };
    // burrow-nic needs no map: it runs while the id helpers do.
    let nic_child = cspec
        .bridge
        .as_ref()
        .map(|p| crate::net::spawn(&p.helper, &p.name, container.pid, &p.bridge))
        .transpose()?;
    // Safe because the container is our unreaped child: its pid cannot be reused meanwhile.
    let mapped = ids::write_maps(&plan, helpers, container.pid);
    // Always collect burrow-nic (on a map failure too: the container is then killed, and its
    // veth goes with its network namespace).
    let nic = nic_child.map(crate::net::finish);
    mapped?;
    drop(t);
    let nic = match nic {
        Some(nic) => {
            let nic = nic?;
            if nic.ipv4.is_none() && nic.ipv6.is_none() {
                tracing::warn!(
                    "bridge {} gives no addresses (only per-user bridges with pools in /etc/burrow/nic.conf do): eth0 is up without one; configure it inside (e.g. DHCP)",
                    nic.bridge
                );
            }
            Some(nic)
        }
        None => None,
    };
    if let (Some(plan), Some(nic)) = (cspec.bridge.as_ref(), nic.as_ref()) {
        if !plan.publish.is_empty() {
            let _t = step("publish ports (burrow-nic)");
            // A container without a name (a foreground run) is named by its pid in the rules.
            let label = if plan.name.is_empty() {
                format!("run-{}", container.pid)
            } else {
                plan.name.clone()
            };
            // Recorded first: a helper killed half-way may have left rules.
            container.published = Some((plan.helper.clone(), nic.host_ifname.clone()));
            crate::net::publish(
                &plan.helper,
                container.pid,
                &nic.host_ifname,
                &label,
                &plan.publish,
            )?;
        }
    }
    channel::send_go(&psock, nic.as_ref())?;
    let synced = channel::await_exec(&psock)?;
    Ok(Started {
        container,
        master: synced.master,
        plan,
        nic,
        warnings: synced.warnings,
    })
}

/// The container's pid 1 as seen from its parent. Killed and reaped on drop unless already
/// reaped, so no failure path leaves a process behind.
#[derive(Debug)]
pub(crate) struct Container {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub reaped: bool,
    /// Its cgroup, removed once it is reaped.
    pub cgroup: Option<burrow_cgroups::Cgroup>,
    /// With ports published by burrow-nic: the helper and the veth's host end, whose rules
    /// `burrow-nic unpublish` removes once it is reaped (its network namespace gone).
    pub published: Option<(std::path::PathBuf, String)>,
}

impl Container {
    pub(crate) fn wait(&mut self) -> Result<i32, Error> {
        let status =
            waitpid(nix::unistd::Pid::from_raw(self.pid), None).ctx(|| "waitpid".into())?;
        self.reaped = true;
        Ok(match status {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
            _ => 125,
        })
    }
}

impl Container {
    /// Removes the cgroup (after the pid namespace is gone, it holds no process; a process
    /// that escaped it would keep it busy, and is then left for `rm` to report).
    fn remove_cgroup(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.remove() {
                tracing::warn!("cannot remove the container's cgroup: {e}");
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = burrow_sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
            let _ = waitpid(nix::unistd::Pid::from_raw(self.pid), None);
        }
        self.remove_cgroup();
        if let Some((helper, host_ifname)) = self.published.take() {
            crate::net::unpublish(&helper, &host_ifname);
        }
    }
}

/// Relays signals (and with a pty, the terminal) until the container exits; returns its
/// status. `stdio` false: the pty is not connected to our stdin/stdout (nothing to relay).
pub(crate) fn relay(
    c: &mut Container,
    master: Option<OwnedFd>,
    sfd: &SignalFd,
    stdio: bool,
    mut forwarder: Option<&mut crate::forwarder::Forwarder<'_>>,
) -> Result<i32, Error> {
    let master = master.filter(|_| stdio);
    let _raw = master.as_ref().map(|_| tty::RawMode::enter());
    if let Some(m) = &master {
        tty::sync_winsize(m.as_fd());
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(c.pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(m) = master.as_ref().filter(|_| master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        // Where the pty and stdin are (if polled): the forwarder comes after them.
        let (m_idx, in_idx) = match fds.len() {
            4 => (Some(2), Some(3)),
            3 => (Some(2), None),
            _ => (None, None),
        };
        let f_idx = fds.len();
        if let Some(fd) = forwarder.as_ref().and_then(|f| f.pidfd()) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let wake = crate::forwarder::poll_timeout(forwarder.as_ref().and_then(|f| f.timeout()));
        match poll(&mut fds, wake) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(format!("poll: {e}"))),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, exited) = (ready(0), ready(1));
        let m_ready = m_idx.is_some_and(ready);
        let in_ready = in_idx.is_some_and(ready);
        let f_ready = forwarder.as_ref().is_some_and(|f| f.pidfd().is_some()) && ready(f_idx);
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
                if sig == libc::SIGWINCH {
                    if let Some(m) = &master {
                        tty::sync_winsize(m.as_fd());
                    }
                } else if sig != libc::SIGCHLD && sig != 0 {
                    let _ = burrow_sys::pidfd_send_signal(c.pidfd.as_fd(), sig);
                }
            }
        }
        if let Some(m) = &master {
            // End of file on the pty means the container is ending; its exit arrives on the pidfd.
            if m_ready && !tty::pump(m.as_fd(), stdout.as_fd()) {
                master_open = false;
            }
            if in_ready && !tty::pump(stdin.as_fd(), m.as_fd()) {
                stdin_open = false;
            }
        }
        if exited {
            if let Some(m) = master.as_ref().filter(|_| master_open) {
                // Drain what the container wrote last.
                let _ = nix::fcntl::fcntl(
                    m.as_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while tty::pump(m.as_fd(), stdout.as_fd()) {}
            }
            let code = c.wait()?;
            return Ok(code);
        }
        if let Some(f) = forwarder.as_mut() {
            f.tend(f_ready, &mut |line| {
                tracing::warn!("{}", line.trim_start_matches("burrow: "))
            });
        }
    }
}

/// `burrow unshare [CMD...]`: runs a command (default: the user's shell) as root of a user
/// namespace with the container id map (0 = you, 1..N = your subordinate range), in a private
/// mount namespace and otherwise on the host, e.g. to fix file ownership in a rootfs.
pub fn unshare(command: Vec<String>) -> Result<i32, Error> {
    let me = Me::current();
    let (plan, warning) = ids::plan(&me)?;
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let helpers = match plan {
        IdPlan::Single { .. } => None,
        _ => Some(ids::find_helpers()?),
    };
    let command = if command.is_empty() {
        vec![std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())]
    } else {
        command
    };
    let sfd = block_signals()?;
    let (psock, csock) = channel::pair()?;
    let flags =
        u64::try_from(libc::CLONE_NEWUSER | libc::CLONE_NEWNS).map_err(|_| err("clone flags"))?;
    let (pid, pidfd) = match burrow_sys::rt::clone_fork(flags)
        .ctx(|| "cannot create a user namespace".into())?
    {
        burrow_sys::rt::Forked::Child => {
            drop(psock);
            let r = (|| -> Result<child::Never, Error> {
                channel::recv_go(&csock)?;
                let zero = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
                nix::unistd::setresgid(zero.0, zero.0, zero.0).ctx(|| "setresgid(0)".into())?;
                if !matches!(plan, IdPlan::Single { .. }) {
                    nix::unistd::setgroups(&[]).ctx(|| "setgroups".into())?;
                }
                nix::unistd::setresuid(zero.1, zero.1, zero.1).ctx(|| "setresuid(0)".into())?;
                burrow_sys::rt::set_pdeathsig(libc::SIGKILL).ctx(|| "PR_SET_PDEATHSIG".into())?;
                burrow_sys::rt::reset_signal_dispositions();
                let _ = nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_SETMASK,
                    Some(&SigSet::empty()),
                    None,
                );
                use std::os::unix::process::CommandExt;
                let e = std::process::Command::new(&command[0])
                    .args(&command[1..])
                    .env("BURROW_UNSHARE", "1")
                    .exec();
                Err(Error {
                    code: if e.kind() == std::io::ErrorKind::NotFound {
                        127
                    } else {
                        126
                    },
                    msg: format!("cannot execute {}: {e}", command[0]),
                })
            })();
            child::report(r, &csock)
        }
        burrow_sys::rt::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(csock);
    let mut c = Container {
        pid,
        pidfd,
        reaped: false,
        cgroup: None,
        published: None,
    };
    ids::write_maps(&plan, helpers.as_ref(), pid)?;
    channel::send_go(&psock, None)?;
    channel::await_exec(&psock)?;
    relay(&mut c, None, &sfd, true, None)
}
