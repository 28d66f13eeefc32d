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
}

/// The caller's containers (only running ones unless `all`).
pub fn list(all: bool) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for d in Dir::all()? {
        let Ok(st) = d.current() else { continue };
        if !all && st.status != Status::Running {
            continue;
        }
        rows.push(Row {
            name: st.name,
            state: st.status,
            pid: st.pid.filter(|_| st.status == Status::Running),
            command: st.command,
            created: st.created,
            exit_code: st.exit_code,
        });
    }
    Ok(rows)
}

/// Renders rows as the `burrow ls` table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<24} {:<8} {:>8} {:<20} {:<30} {}\n",
        "NAME", "STATE", "PID", "CREATED", "COMMAND", "EXIT"
    );
    for r in rows {
        let cmd = r.command.join(" ");
        let cmd = if cmd.chars().count() > 30 {
            format!("{}...", cmd.chars().take(27).collect::<String>())
        } else {
            cmd
        };
        let exit = match (r.state, r.exit_code) {
            (Status::Stopped, Some(c)) => c.to_string(),
            (Status::Stopped, None) => "unknown".into(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<24} {:<8} {:>8} {:<20} {:<30} {}\n",
            r.name,
            r.state.to_string(),
            r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            format_time(r.created),
            cmd,
            exit
        ));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_time(t: u64) -> String {
    let days = t / 86_400;
    let secs = t % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the Unix era.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
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
    let st = dir.current()?;
    let fd = container_pidfd(&st).ok_or_else(|| err(format!("container {name} is not running")))?;
    burrow_sys::pidfd_send_signal(fd.as_fd(), sig).ctx(|| format!("cannot signal {name}"))
}

/// `burrow stop`: SIGTERM, then SIGKILL after `timeout`; returns once the monitor has
/// recorded the exit.
pub fn stop(name: &str, timeout: Duration) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    let Some(fd) = container_pidfd(&st) else {
        return Ok(());
    };
    let mon = monitor_pidfd(&st);
    let _ = burrow_sys::pidfd_send_signal(fd.as_fd(), libc::SIGTERM);
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
    let st = dir.current()?;
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

/// `burrow inspect`: state, configuration, processes, id maps and mounts, as JSON.
pub fn inspect(name: &str) -> Result<String, Error> {
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
    let v = serde_json::json!({
        "name": st.name,
        "state": st.status,
        "exit_code": st.exit_code,
        "created": st.created,
        "started": st.started,
        "finished": st.finished,
        "pid": st.pid.filter(|_| st.status == Status::Running),
        "monitor_pid": st.monitor_pid.filter(|_| st.status == Status::Running),
        "pids": pids_in(&st),
        "tty": st.tty,
        "command": st.command,
        "uid_map": st.uid_map,
        "gid_map": st.gid_map,
        "network": st.nic.as_ref().filter(|_| st.status == Status::Running),
        "mounts": mounts,
        "state_dir": dir.path,
        "data_dir": dir.data,
        "config": config,
    });
    serde_json::to_string_pretty(&v).map_err(|e| err(format!("json: {e}")))
}

/// `burrow stats`: the container's cgroup figures.
pub fn stats(name: &str) -> Result<String, Error> {
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
    let s = cg
        .stats()
        .map_err(|e| err(format!("cannot read the cgroup of {name}: {e}")))?;
    let show = |v: Option<u64>, f: &dyn Fn(u64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
    let limits = dir.config()?.limits().map_err(|e| err(e.to_string()))?;
    Ok(format!(
        "NAME {name}\nMEMORY {} (peak {}, limit {})\nCPU {}\nPIDS {} (limit {})\nOOM_KILLS {}\n",
        show(s.memory_current, &mib),
        show(s.memory_peak, &mib),
        show(limits.memory, &mib),
        show(s.cpu_usage_ns, &|n| format!("{:.3} s", n as f64 / 1e9)),
        show(s.pids_current, &|n| n.to_string()),
        show(limits.pids, &|n| n.to_string()),
        show(s.oom_kills, &|n| n.to_string()),
    ))
}

/// `burrow logs`: prints the kept output (the rotated file first); with `follow`, keeps
/// printing until the container stops.
pub fn logs(name: &str, follow: bool) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    let mut out = std::io::stdout().lock();
    let old = dir.data_file("ctr.log.1");
    let cur = dir.data_file("ctr.log");
    if let Ok(b) = std::fs::read(&old) {
        let _ = out.write_all(&b);
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
            .map(|s| s.status != Status::Running)
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
    fn times_and_signals() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_392_000), "2026-11-23 00:00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("nope").is_err());
        assert!(parse_signal("0").is_err());
    }
}
