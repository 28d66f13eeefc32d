//! The cgroup side of `burrow admin` and `burrow doctor`: the [`CgroupHook`] they go
//! through (burrow-cgroups on this host: [`HostCgroups`]), and the cgroup layout finding.

use crate::probes::{Account, Mount};
use crate::report::Line;
use std::path::{Path, PathBuf};

/// Where cgroup support plugs in ([`HostCgroups`] implements it with burrow-cgroups; tests
/// may use another). Every method must be idempotent.
pub trait CgroupHook {
    /// `admin add-user`: prepares the delegated cgroups of `user` (v1: per-controller
    /// directories, v2: a delegated subtree where systemd does not provide one). Returns what
    /// was done, one line each; an error is a one-line reason.
    fn prepare(&self, user: &Account) -> Result<Vec<String>, String>;
    /// `admin remove-user`: removes them (`uid` is None when the account is gone).
    fn remove(&self, name: &str, uid: Option<u32>) -> Result<Vec<String>, String>;
    /// `admin check`: delegation on this host (the cgroup mode line is built by `check`).
    fn host(&self) -> Vec<Line>;
    /// `doctor`: which limits (`--memory`, `--cpus`, `--pids-limit`) the user `uid` can use.
    fn user(&self, uid: u32) -> Vec<Line>;
}

/// The cgroup filesystems mounted here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// v1 hierarchies: mount point and controllers (`name=...` for named ones).
    pub v1: Vec<(PathBuf, Vec<String>)>,
    /// cgroup2 mount points.
    pub v2: Vec<PathBuf>,
}

/// The cgroup mounts of a mountinfo listing.
pub fn cgroup_layout(mounts: &[Mount]) -> CgroupLayout {
    let mut l = CgroupLayout::default();
    for m in mounts {
        match m.fstype.as_str() {
            "cgroup" => {
                let ctl = m
                    .super_options
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "clone_children"
                                | "noprefix"
                                | "xattr"
                                | "cpuset_v2_mode"
                                | ""
                        ) && !o.starts_with("release_agent=")
                    })
                    .map(str::to_owned)
                    .collect();
                l.v1.push((m.point.clone(), ctl));
            }
            "cgroup2" => l.v2.push(m.point.clone()),
            _ => {}
        }
    }
    l
}

/// The cgroup mode finding: v2 (unified), v1, hybrid or none. `controllers` gives the
/// `cgroup.controllers` text of a cgroup2 mount point.
pub fn cgroup_mode_line(l: &CgroupLayout, controllers: impl Fn(&Path) -> Option<String>) -> Line {
    let v2 = |p: &PathBuf| {
        let c = controllers(p)
            .map(|c| c.split_ascii_whitespace().collect::<Vec<_>>().join(", "))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "none".into());
        format!("cgroup2 at {} (controllers: {c})", p.display())
    };
    let v1 = || {
        let mut c: Vec<&str> =
            l.v1.iter()
                .flat_map(|(_, c)| c.iter().map(String::as_str))
                .collect();
        c.sort_unstable();
        c.join(", ")
    };
    let topic = "cgroups";
    let unified = Path::new("/sys/fs/cgroup");
    match (l.v1.is_empty(), l.v2.is_empty()) {
        (true, true) => Line::warn(
            topic,
            "no cgroup filesystem is mounted: --memory, --cpus and --pids-limit cannot work",
        )
        .fix("sudo mount -t cgroup2 none /sys/fs/cgroup"),
        (true, false) => {
            let mode = if l.v2.iter().any(|p| p == unified) {
                "v2 (unified)"
            } else {
                "v2"
            };
            Line::info(
                topic,
                format!(
                    "{mode}: {}",
                    l.v2.iter().map(v2).collect::<Vec<_>>().join("; ")
                ),
            )
        }
        (false, true) => Line::info(topic, format!("v1: controllers {}", v1())),
        (false, false) => Line::info(
            topic,
            format!(
                "hybrid: v1 controllers {}; {}",
                v1(),
                l.v2.iter().map(v2).collect::<Vec<_>>().join("; ")
            ),
        ),
    }
}

/// The cgroup side of `admin` and `doctor`, through burrow-cgroups on this host.
#[derive(Debug)]
pub struct HostCgroups;

/// Whether systemd runs this host and cgroup v2 holds the controllers burrow uses: then
/// systemd delegates each user's `user@UID.service` subtree (where the user's containers go),
/// and burrow must not create a tree of its own beside systemd's (systemd is the only writer
/// of the hierarchy's upper levels).
fn systemd_delegates(host: &burrow_cgroups::Host) -> bool {
    use burrow_cgroups::Controller;
    std::path::Path::new("/run/systemd/system").is_dir()
        && host.v2_mount().is_some()
        && [Controller::Memory, Controller::Cpu, Controller::Pids]
            .iter()
            .all(|c| host.v1_mount(*c).is_none())
}

impl CgroupHook for HostCgroups {
    fn prepare(&self, user: &Account) -> Result<Vec<String>, String> {
        let host = burrow_cgroups::Host::system().map_err(|e| e.to_string())?;
        if systemd_delegates(&host) {
            return Ok(vec![format!(
                "cgroups: systemd manages cgroup v2 here and delegates user@{uid}.service to {name}: {name}'s containers go below it; nothing created (as {name}, `burrow doctor` shows the delegated controllers; missing ones need a Delegate= drop-in for user@.service)",
                uid = user.uid,
                name = user.name
            )]);
        }
        let paths = host
            .admin_prepare(&user.name, user.uid, user.gid)
            .map_err(|e| e.to_string())?;
        Ok(paths
            .iter()
            .map(|p| format!("delegated cgroup {}", p.display()))
            .collect())
    }

    fn remove(&self, name: &str, _uid: Option<u32>) -> Result<Vec<String>, String> {
        let host = burrow_cgroups::Host::system().map_err(|e| e.to_string())?;
        let paths = host.admin_remove(name).map_err(|e| e.to_string())?;
        Ok(paths
            .iter()
            .map(|p| format!("removed delegated cgroup {}", p.display()))
            .collect())
    }

    fn host(&self) -> Vec<Line> {
        match burrow_cgroups::Host::system() {
            Err(e) => vec![Line::warn(
                "cgroups",
                format!("cannot read the cgroup mounts: {e}"),
            )],
            Ok(h) if systemd_delegates(&h) => vec![Line::info(
                "cgroups",
                "cgroup v2 managed by systemd: each user's user@UID.service is delegated by systemd (Delegate=), and the user's containers go below it; `burrow doctor`, as the user, shows the controllers",
            )],
            Ok(h) => {
                use burrow_cgroups::Controller;
                let v1: Vec<&str> = [Controller::Memory, Controller::Cpu, Controller::Pids]
                    .into_iter()
                    .filter(|c| h.v1_mount(*c).is_some())
                    .map(Controller::name)
                    .collect();
                vec![Line::info(
                    "cgroups",
                    format!(
                        "delegation is per user: `burrow admin add-user USER` prepares it{}",
                        if v1.is_empty() {
                            String::new()
                        } else {
                            format!(" (v1 controllers here: {})", v1.join(", "))
                        }
                    ),
                )]
            }
        }
    }

    fn user(&self, _uid: u32) -> Vec<Line> {
        use burrow_cgroups::Controller;
        let host = match burrow_cgroups::Host::system() {
            Ok(h) => h,
            Err(e) => {
                return vec![Line::warn(
                    "limits",
                    format!("cannot read the cgroup mounts: {e}"),
                )]
            }
        };
        let mut out = Vec::new();
        for (c, what) in [
            (Controller::Memory, "--memory"),
            (Controller::Cpu, "--cpus/--cpu-weight"),
            (Controller::Pids, "--pids-limit"),
        ] {
            match host.detect(&[c]) {
                Ok(_) => out.push(Line::ok("limits", format!("{what} available"))),
                Err(e) => out.push(Line::warn("limits", format!("{what} not available: {e}"))),
            }
        }
        out
    }
}
