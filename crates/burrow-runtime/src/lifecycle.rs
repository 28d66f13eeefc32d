//! `burrow ls`, `stop`, `kill`, `rm`, `inspect`, `logs`: commands on recorded containers.
//! Every one reads the state under the container's lock and checks processes by pid *and*
//! start time before signalling them (through a pidfd), so a reused pid is never hit.

use crate::state::{self, Dir, State, Status};
use crate::{err, Ctx, Error};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// One row of `burrow ls`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// Name.
    pub name: String,
    /// created / running / stopped.
    pub state: Status,
    /// Host pid of pid 1 while running.
    pub pid: Option<i32>,
    /// The command.
    pub command: Vec<String>,
    /// Creation time (seconds since the epoch).
    pub created: u64,
    /// Exit status, when known.
    pub exit_code: Option<i32>,
    /// Restarts by its restart policy since it was started.
    pub restart_count: u32,
    /// Its published ports in podman's compact form (`0.0.0.0:8080->80/tcp`).
    pub ports: Vec<String>,
}

/// A mapping in podman's compact form: `0.0.0.0:8080->80/tcp`, `127.0.0.1:8000-8001->80-81/udp`,
/// `[::1]:8080->80/tcp`.
pub fn compact(p: &burrow_config::Publish) -> String {
    format!("{}:{}->{}/{}", p.host_text(), p.host, p.ctr, p.proto)
}

/// One published port as `burrow inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortInfo {
    /// The host address it listens on (`0.0.0.0`: every address; an IPv6 address without
    /// brackets, `::1`).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `kernel` (burrow-nic's DNAT rules) or `user` (the monitor's forwarder).
    pub mode: String,
}

/// Each port of `config`'s mappings, with the mode they are published in.
pub fn port_infos(config: &burrow_config::RunConfig) -> Vec<PortInfo> {
    let Some(mode) = config.publish_mode_resolved() else {
        return Vec::new();
    };
    config
        .publish
        .iter()
        .flat_map(|p| {
            p.pairs().map(move |(h, c)| PortInfo {
                host_ip: p.host_addr().to_string(),
                host_port: h,
                container_port: c,
                protocol: p.proto.to_string(),
                mode: mode.to_string(),
            })
        })
        .collect()
}

/// `burrow port NAME [PRIVATE_PORT[/PROTO]]`: without a port, podman's lines (`80/tcp ->
/// 0.0.0.0:8080`, nothing for a container that publishes none); with one, the host
/// addresses it is published on (`0.0.0.0:8080`), an error if it is not.
pub fn port(name: &str, private: Option<&str>) -> Result<Vec<String>, Error> {
    let dir = Dir::open(name)?;
    dir.current()?;
    let config = dir.config()?;
    let Some(want) = private else {
        return Ok(config.publish.iter().flat_map(|p| p.port_lines()).collect());
    };
    let (port, proto) = match want.split_once('/') {
        Some((p, "tcp")) => (p, burrow_config::Proto::Tcp),
        Some((p, "udp")) => (p, burrow_config::Proto::Udp),
        Some((_, other)) => {
            return Err(err(format!(
                "port \"{want}\": protocol \"{other}\" is not tcp or udp"
            )))
        }
        None => (want, burrow_config::Proto::Tcp),
    };
    let port = one_port(port).map_err(|e| err(format!("port \"{want}\": {e}")))?;
    let lines: Vec<String> = config
        .publish
        .iter()
        .filter(|p| p.proto == proto)
        .flat_map(|p| {
            p.pairs()
                .filter(move |(_, c)| *c == port)
                .map(move |(h, _)| format!("{}:{h}", p.host_text()))
        })
        .collect();
    if lines.is_empty() {
        return Err(err(format!(
            "container {name} does not publish port {port}/{proto}"
        )));
    }
    Ok(lines)
}

/// One port, parsed as strictly as a mapping's.
fn one_port(s: &str) -> Result<u16, String> {
    match burrow_config::PortRange::parse(s)? {
        r if r.start == r.end => Ok(r.start),
        _ => Err("give one port, not a range".to_owned()),
    }
}

/// The caller's containers (only running ones unless `all`).
pub fn list(all: bool) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for d in Dir::all()? {
        let Ok(st) = d.current() else { continue };
        if !all && !matches!(st.status, Status::Running | Status::Restarting) {
            continue;
        }
        let ports = d
            .config()
            .map(|c| c.publish.iter().map(compact).collect())
            .unwrap_or_default();
        rows.push(Row {
            ports,
            name: st.name,
            state: st.status,
            pid: st.pid.filter(|_| st.status == Status::Running),
            command: st.command,
            created: st.created,
            exit_code: st.exit_code,
            restart_count: st.restart_count,
        });
    }
    Ok(rows)
}

/// A pidfd for the container's pid 1, if it is still the recorded process.
fn container_pidfd(st: &State) -> Option<OwnedFd> {
    let pid = st.pid?;
    let fd = burrow_sys::pidfd_open(pid).ok()?;
    // Opened first, checked second: if the start time still matches, the pidfd is ours.
    state::same_process(st.pid, st.pid_start).then_some(fd)
}

fn monitor_pidfd(st: &State) -> Option<OwnedFd> {
    let pid = st.monitor_pid?;
    let fd = burrow_sys::pidfd_open(pid).ok()?;
    state::same_process(st.monitor_pid, st.monitor_start).then_some(fd)
}

/// Waits until the process behind `fd` exits, at most `limit`. True if it did.
fn wait_exit(fd: &OwnedFd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            _ if left.is_zero() => return false,
            _ => {}
        }
    }
}

/// Parses `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| {
            err(format!(
                "unknown signal \"{s}\": use a name like TERM or KILL, or a number"
            ))
        })
}

/// `burrow kill`: sends a signal to the container's pid 1.
pub fn kill(name: &str, sig: i32) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    dir.current()?;
    // Recorded first: the monitor restarts nothing the user killed.
    let st = crate::restart::mark_stopped(&dir)?;
    match container_pidfd(&st) {
        Some(fd) => {
            burrow_sys::pidfd_send_signal(fd.as_fd(), sig).ctx(|| format!("cannot signal {name}"))
        }
        // Between two runs: the monitor sees the mark and gives up.
        None if st.status == Status::Restarting => Ok(()),
        None => Err(err(format!("container {name} is not running"))),
    }
}

/// `burrow stop`: the container's stop signal (the image's StopSignal, else SIGTERM), then
/// SIGKILL after `timeout`; returns once the monitor has recorded the exit.
pub fn stop(name: &str, timeout: Duration) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    dir.current()?;
    // Recorded first, under the lock: a restart that is due sees it and does not happen, and
    // one under way has recorded its new pid by the time we read it.
    let st = crate::restart::mark_stopped(&dir)?;
    let Some(fd) = container_pidfd(&st) else {
        // Between two runs of a restart policy: the monitor gives up within its tick.
        if let Some(m) = monitor_pidfd(&st) {
            wait_exit(&m, Duration::from_secs(10));
        }
        return Ok(());
    };
    let sig = match st.stop_signal.as_deref() {
        Some(s) => parse_signal(s)
            .map_err(|e| err(format!("container {name}: its stop signal: {}", e.msg)))?,
        None => libc::SIGTERM,
    };
    let mon = monitor_pidfd(&st);
    let _ = burrow_sys::pidfd_send_signal(fd.as_fd(), sig);
    if !wait_exit(&fd, timeout) {
        let _ = burrow_sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        wait_exit(&fd, Duration::from_secs(10));
    }
    if let Some(m) = mon {
        wait_exit(&m, Duration::from_secs(10));
    }
    Ok(())
}

/// `burrow rm`: removes a stopped container (`force`: kills a running one first).
pub fn remove(name: &str, force: bool) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    let mut st = dir.current()?;
    if force {
        st = crate::restart::mark_stopped(&dir)?;
    }
    if st.status == Status::Restarting && !force {
        return Err(err(format!("container {name} is restarting: stop it first (burrow stop {name}) or use burrow rm -f")));
    }
    if let Some(fd) = container_pidfd(&st) {
        if !force {
            return Err(err(format!("container {name} is running: stop it first (burrow stop {name}) or use burrow rm -f")));
        }
        let mon = monitor_pidfd(&st);
        let _ = burrow_sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        wait_exit(&fd, Duration::from_secs(10));
        if let Some(m) = mon {
            wait_exit(&m, Duration::from_secs(10));
        }
    }
    // A monitor that outlived its container (it is finishing) must not write into a removed
    // directory: take the lock, then remove.
    if let Some(m) = monitor_pidfd(&dir.read()?) {
        wait_exit(&m, Duration::from_secs(10));
    }
    let guard = dir.lock()?;
    let r = dir.clone().remove();
    drop(guard);
    match r {
        Err(_) if !dir.data.exists() => Ok(()),
        r => r,
    }
}

/// Host pids of the processes in the container's pid namespace.
fn pids_in(st: &State) -> Vec<i32> {
    let Some(pid) = st.pid.filter(|_| st.container_alive()) else {
        return Vec::new();
    };
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/pid")) else {
        return Vec::new();
    };
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|l| l == ns))
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// What `burrow inspect` shows: state, configuration, processes, id maps and mounts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspect {
    /// Name.
    pub name: String,
    /// created / running / stopped.
    pub state: Status,
    /// Exit status, when known.
    pub exit_code: Option<i32>,
    /// Creation time (seconds since the epoch).
    pub created: u64,
    /// Start time.
    pub started: Option<u64>,
    /// Exit time.
    pub finished: Option<u64>,
    /// Host pid of pid 1 while running.
    pub pid: Option<i32>,
    /// Host pid of the monitor while running.
    pub monitor_pid: Option<i32>,
    /// Host pids of the processes in the container's pid namespace.
    pub pids: Vec<i32>,
    /// Whether it has a terminal.
    pub tty: bool,
    /// The command.
    pub command: Vec<String>,
    /// uid map lines (inside, host, count).
    pub uid_map: Vec<(u64, u64, u64)>,
    /// gid map lines.
    pub gid_map: Vec<(u64, u64, u64)>,
    /// With --net bridge, while running: the nic.
    pub network: Option<crate::net::Nic>,
    /// Its published ports (`-p`), one per port, with how they are published.
    pub ports: Vec<PortInfo>,
    /// The AppArmor label of pid 1 while running, where AppArmor is enabled (e.g.
    /// `burrow-default (enforce)`, `unconfined`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<String>,
    /// `MOUNTPOINT FSTYPE OPTIONS` of each mount while running.
    pub mounts: Vec<String>,
    /// The state directory.
    pub state_dir: std::path::PathBuf,
    /// The data directory (config, logs).
    pub data_dir: std::path::PathBuf,
    /// The restart policy (`--restart`).
    pub restart_policy: String,
    /// Restarts by the restart policy since the container was started.
    pub restart_count: u32,
    /// The configuration, as saved.
    pub config: toml::Value,
    /// The image it was made from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
}

/// What `burrow inspect` shows of a container's image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageInfo {
    /// The name it was asked for.
    pub name: String,
    /// The image id (digest of its config).
    pub id: String,
    /// The manifest digest.
    pub digest: String,
    /// ExposedPorts.
    pub exposed_ports: Vec<String>,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// StopSignal (what `burrow stop` sends first).
    pub stop_signal: Option<String>,
    /// The root: `overlay` (over the layers, with an upper directory) or `flattened`.
    pub root: String,
}

/// `burrow inspect`: state, configuration, processes, id maps and mounts.
pub fn inspect(name: &str) -> Result<Inspect, Error> {
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    let config_text =
        std::fs::read_to_string(dir.data_file("config.toml")).ctx(|| "config.toml".into())?;
    let config: toml::Value =
        toml::from_str(&config_text).map_err(|e| err(format!("config.toml: {e}")))?;
    let mounts: Vec<String> = match st.pid.filter(|_| st.container_alive()) {
        Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .map(|m| {
                m.lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split(' ').collect();
                        let sep = f.iter().position(|x| *x == "-")?;
                        Some(format!("{} {} {}", f.get(4)?, f.get(sep + 1)?, f.get(5)?))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let running = st.status == Status::Running;
    let saved = dir.config()?;
    let image = crate::image::load(&dir.data)?.map(|i| ImageInfo {
        root: if dir.data.join("flat").is_dir() {
            "flattened".into()
        } else {
            "overlay".into()
        },
        name: i.name,
        id: i.id,
        digest: i.digest,
        exposed_ports: i.exposed_ports,
        labels: i.labels,
        stop_signal: i.stop_signal,
    });
    Ok(Inspect {
        image,
        pid: st.pid.filter(|_| running),
        monitor_pid: st.monitor_pid.filter(|_| running),
        pids: pids_in(&st),
        network: st.nic.clone().filter(|_| running),
        apparmor: st
            .pid
            .filter(|_| running)
            .and_then(crate::apparmor::label_of),
        name: st.name,
        state: st.status,
        exit_code: st.exit_code,
        created: st.created,
        started: st.started,
        finished: st.finished,
        tty: st.tty,
        command: st.command,
        uid_map: st.uid_map,
        gid_map: st.gid_map,
        mounts,
        ports: port_infos(&saved),
        restart_policy: saved.restart.to_string(),
        restart_count: st.restart_count,
        state_dir: dir.path,
        data_dir: dir.data,
        config,
    })
}

/// What `burrow stats` shows: the cgroup's figures and the container's limits.
#[derive(Debug, Clone)]
pub struct StatsReport {
    /// Container name.
    pub name: String,
    /// The figures.
    pub stats: burrow_cgroups::Stats,
    /// Its limits.
    pub limits: burrow_config::Limits,
}

/// `burrow stats`: the container's cgroup figures.
pub fn stats(name: &str) -> Result<StatsReport, Error> {
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    if st.status != Status::Running {
        return Err(err(format!("container {name} is not running")));
    }
    let mode = burrow_cgroups::Host::system()
        .and_then(|h| h.detect(&[]))
        .map_err(|e| err(format!("cgroups: {e}")))?;
    let cg = burrow_cgroups::Cgroup::open(&mode, name).map_err(|_| {
        err(format!(
            "container {name} has no cgroup: it was started without limits on a host without cgroup delegation (see burrow doctor)"
        ))
    })?;
    let stats = cg
        .stats()
        .map_err(|e| err(format!("cannot read the cgroup of {name}: {e}")))?;
    Ok(StatsReport {
        name: name.to_owned(),
        stats,
        limits: dir.config()?.limits(),
    })
}

/// `burrow logs`: prints the kept output (the rotated file first); with `follow`, keeps
/// printing until the container stops.
pub fn logs(name: &str, follow: bool) -> Result<(), Error> {
    logs_since(name, follow, None)
}

/// [`logs`] from a place in the log (`burrow start -a`: what this start prints, not what
/// earlier runs printed).
pub fn logs_since(
    name: &str,
    follow: bool,
    from: Option<crate::monitor::LogPos>,
) -> Result<(), Error> {
    use std::io::SeekFrom;
    use std::os::unix::fs::MetadataExt;
    let dir = Dir::open(name)?;
    let mut out = std::io::stdout().lock();
    let old = dir.data_file("ctr.log.1");
    let cur = dir.data_file("ctr.log");
    // The place's offset in `f`, if the place is in that file.
    let place_in = |f: &std::fs::File| -> Option<u64> {
        match (from, f.metadata()) {
            (Some(p), Ok(m)) if p.ino == m.ino() => Some(p.off),
            _ => None,
        }
    };
    if let Ok(mut f) = std::fs::File::open(&old) {
        // From a place: only if it is in the old file (else it is in the current one, or
        // both rotated away since).
        let at = place_in(&f);
        if from.is_none() || at.is_some() {
            let _ = f.seek(SeekFrom::Start(at.unwrap_or(0)));
            let _ = std::io::copy(&mut f, &mut out);
        }
    }
    let mut f = match std::fs::File::open(&cur) {
        Ok(f) => f,
        Err(_) if !follow => return Ok(()),
        Err(_) => {
            // Not started yet: wait for the file.
            loop {
                if let Ok(f) = std::fs::File::open(&cur) {
                    break f;
                }
                if dir.current()?.status == Status::Stopped {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let at = place_in(&f).unwrap_or(0);
    f.seek(SeekFrom::Start(at))
        .ctx(|| "seek in the log".into())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).ctx(|| "read log".into())?;
        if n > 0 {
            let _ = out.write_all(&buf[..n]);
            continue;
        }
        let _ = out.flush();
        if !follow {
            return Ok(());
        }
        // Rotated: finish the old file (already read to its end), continue with the new one.
        use std::os::unix::fs::MetadataExt;
        let now_ino = std::fs::metadata(&cur).map(|m| m.ino()).ok();
        if now_ino.is_some() && now_ino != f.metadata().map(|m| m.ino()).ok() {
            if let Ok(nf) = std::fs::File::open(&cur) {
                f = nf;
                continue;
            }
        }
        let stopped = Dir::open(name)
            .and_then(|d| d.current())
            .map(|s| !matches!(s.status, Status::Running | Status::Restarting))
            .unwrap_or(true);
        if stopped {
            // One last read for what was written before the exit was recorded.
            let pos = f.stream_position().unwrap_or(0);
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > pos {
                continue;
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("nope").is_err());
        assert!(parse_signal("0").is_err());
    }
}
