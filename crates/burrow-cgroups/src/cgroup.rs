//! One container's cgroup: create with limits, move processes in, statistics, removal.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{io_err, Controller, Error, Mode};
use burrow_config::Limits;

/// The v2 child of a container's cgroup that holds its processes (the limits are on its
/// parent, outside the container's cgroup namespace).
pub const LEAF: &str = "leaf";

/// A container's cgroup. Plain paths: cloning it or dropping it does nothing to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `<root>/burrow/<name>`; processes in its [`LEAF`].
    V2(PathBuf),
    /// `<delegated>/<name>` per controller (cpu and cpuacct may share one).
    V1(BTreeMap<Controller, PathBuf>),
}

/// Usage figures; `None` where the controller is not there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Memory in use, bytes (v2 memory.current, v1 memory.usage_in_bytes).
    pub memory_current: Option<u64>,
    /// Highest memory use, bytes (v2 memory.peak, Linux 5.19 and later; v1
    /// memory.max_usage_in_bytes).
    pub memory_peak: Option<u64>,
    /// cpu time used, nanoseconds (v2 cpu.stat usage_usec; v1 cpuacct.usage).
    pub cpu_usage_ns: Option<u64>,
    /// Processes and threads (pids.current).
    pub pids_current: Option<u64>,
    /// Processes killed by the OOM killer (oom_kill in v2 memory.events or v1
    /// memory.oom_control).
    pub oom_kills: Option<u64>,
}

impl Cgroup {
    /// Creates the container's cgroup and writes its limits; on failure removes what it made.
    /// v2: enables the available cpu, memory and pids controllers down to `<name>/` (so a
    /// nested runtime can use them below `leaf/`), writes the limits on `<name>/`, makes
    /// `<name>/leaf/`. v1: `<dir>/<name>/` in each delegated hierarchy. A limit whose
    /// controller `mode` lacks is an error, never ignored.
    pub fn create(mode: &Mode, name: &str, limits: &Limits) -> Result<Cgroup, Error> {
        check_name(name)?;
        match mode {
            Mode::V2 { root } => create_v2(root, name, limits),
            Mode::V1 { dirs } => create_v1(dirs, name, limits),
        }
    }

    /// The existing cgroup of container `name` (for exec, stats, removal). On v1 the
    /// hierarchies where it is missing are left out; none at all is [`Error::NotFound`].
    pub fn open(mode: &Mode, name: &str) -> Result<Cgroup, Error> {
        check_name(name)?;
        let kind = match mode {
            Mode::V2 { root } => {
                let dir = root.join("burrow").join(name);
                if !dir.is_dir() {
                    return Err(Error::NotFound(name.to_owned()));
                }
                Kind::V2(dir)
            }
            Mode::V1 { dirs } => {
                let found: BTreeMap<_, _> = dirs
                    .iter()
                    .map(|(c, d)| (*c, d.join(name)))
                    .filter(|(_, d)| d.is_dir())
                    .collect();
                if found.is_empty() && !dirs.is_empty() {
                    return Err(Error::NotFound(name.to_owned()));
                }
                Kind::V1(found)
            }
        };
        Ok(Cgroup {
            name: name.to_owned(),
            kind,
        })
    }

    /// The container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's cgroup directories: v2 `<name>/` (the leaf is below it), v1 one per
    /// distinct hierarchy.
    pub fn paths(&self) -> Vec<PathBuf> {
        match &self.kind {
            Kind::V2(dir) => vec![dir.clone()],
            Kind::V1(dirs) => distinct(dirs.values()),
        }
    }

    /// v2: the directory the processes go into (`<name>/leaf`), for example to open for
    /// clone3's CLONE_INTO_CGROUP. `None` on v1.
    pub fn leaf(&self) -> Option<PathBuf> {
        match &self.kind {
            Kind::V2(dir) => Some(dir.join(LEAF)),
            Kind::V1(_) => None,
        }
    }

    /// The `cgroup.procs` files a process is written to by [`Cgroup::add_process`].
    pub fn procs_paths(&self) -> Vec<PathBuf> {
        match &self.kind {
            Kind::V2(dir) => vec![dir.join(LEAF).join("cgroup.procs")],
            Kind::V1(dirs) => distinct(dirs.values())
                .into_iter()
                .map(|d| d.join(LEAF).join("cgroup.procs"))
                .collect(),
        }
    }

    /// Moves process `pid` (all its threads) into the cgroup: the leaf below the limits (v2),
    /// in every hierarchy (v1). Children it forks afterwards stay there.
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        if pid <= 0 {
            return Err(Error::Invalid(format!("invalid pid {pid}")));
        }
        for p in self.procs_paths() {
            write_file(&p, &pid.to_string())?;
        }
        Ok(())
    }

    /// Current usage.
    pub fn stats(&self) -> Result<Stats, Error> {
        match &self.kind {
            Kind::V2(d) => Ok(Stats {
                memory_current: num(&d.join("memory.current"))?,
                memory_peak: num(&d.join("memory.peak"))?,
                cpu_usage_ns: keyed(&d.join("cpu.stat"), "usage_usec")?
                    .map(|us| us.saturating_mul(1000)),
                pids_current: num(&d.join("pids.current"))?,
                oom_kills: keyed(&d.join("memory.events"), "oom_kill")?,
            }),
            Kind::V1(dirs) => {
                let file = |c: Controller, f: &str| dirs.get(&c).map(|d| d.join(f));
                let n = |p: Option<PathBuf>| p.map_or(Ok(None), |p| num(&p));
                Ok(Stats {
                    memory_current: n(file(Controller::Memory, "memory.usage_in_bytes"))?,
                    memory_peak: n(file(Controller::Memory, "memory.max_usage_in_bytes"))?,
                    cpu_usage_ns: n(file(Controller::Cpuacct, "cpuacct.usage"))?,
                    pids_current: n(file(Controller::Pids, "pids.current"))?,
                    // v1 counts OOM kills where they happen: in the leaf.
                    oom_kills: {
                        let own = file(Controller::Memory, "memory.oom_control")
                            .map_or(Ok(None), |p| keyed(&p, "oom_kill"))?;
                        let leaf = dirs
                            .get(&Controller::Memory)
                            .map(|d| d.join(LEAF).join("memory.oom_control"))
                            .filter(|p| p.exists())
                            .map_or(Ok(None), |p| keyed(&p, "oom_kill"))?;
                        match (own, leaf) {
                            (None, None) => None,
                            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                        }
                    },
                })
            }
        }
    }

    /// Removes the cgroup: only rmdir, deepest first (the v2 leaf and any cgroup the
    /// container made), retrying for about a second while the kernel still counts exiting
    /// processes. Kills nothing: with live processes it fails with [`Error::Busy`]. Removing
    /// what is already gone succeeds.
    pub fn remove(self) -> Result<(), Error> {
        let mut first = None;
        for d in self.paths() {
            if let Err(e) = rmdir_tree(&d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn create_v2(root: &Path, name: &str, limits: &Limits) -> Result<Cgroup, Error> {
    let writes = crate::limits::writes(limits, true)?;
    let avail: Vec<String> = read_controllers(root)?
        .into_iter()
        .filter(|c| ["cpu", "memory", "pids"].contains(&c.as_str()))
        .collect();
    if let Some(c) = crate::controllers(limits)
        .iter()
        .find(|c| !avail.iter().any(|a| a == c.name()))
    {
        return Err(Error::Delegation(format!(
            "{} need the {} controller, but the delegated cgroup {} does not offer it (it is not in its cgroup.controllers)",
            c.what(), c.name(), root.display()
        )));
    }
    enable(root, &avail)?;
    let base = root.join("burrow");
    mkdir_if_missing(&base)?;
    enable(&base, &avail)?;
    let dir = base.join(name);
    mkdir_new(&dir)?;
    let fill = || -> Result<(), Error> {
        for (_, file, value) in &writes {
            write_file(&dir.join(file), value)?;
        }
        enable(&dir, &avail)?;
        mkdir_new(&dir.join(LEAF))
    };
    if let Err(e) = fill() {
        let _ = rmdir_tree(&dir);
        return Err(e);
    }
    Ok(Cgroup {
        name: name.to_owned(),
        kind: Kind::V2(dir),
    })
}

fn create_v1(
    dirs: &BTreeMap<Controller, PathBuf>,
    name: &str,
    limits: &Limits,
) -> Result<Cgroup, Error> {
    let writes = crate::limits::writes(limits, false)?;
    if let Some(c) = crate::controllers(limits)
        .into_iter()
        .find(|c| !dirs.contains_key(c))
    {
        return Err(Error::Delegation(format!(
            "{} need a delegated {} cgroup, and none was found (see Host::detect)",
            c.what(),
            c.name()
        )));
    }
    if let (Some(_), Some(mem)) = (limits.memory_swap, dirs.get(&Controller::Memory)) {
        if !mem.join("memory.memsw.limit_in_bytes").exists() {
            return Err(Error::Delegation(format!(
                "swap limits need swap accounting (kernel cmdline swapaccount=1): {} has no memory.memsw.limit_in_bytes; ask your admin to enable it, or leave memory-swap unset",
                mem.display()
            )));
        }
    }
    let cdirs: BTreeMap<Controller, PathBuf> =
        dirs.iter().map(|(c, d)| (*c, d.join(name))).collect();
    let mut made = Vec::new();
    let mut fill = || -> Result<(), Error> {
        for d in distinct(cdirs.values()) {
            mkdir_new(&d)?;
            made.push(d);
        }
        for (c, file, value) in &writes {
            if let Some(d) = cdirs.get(c) {
                write_file(&d.join(file), value)?;
            }
        }
        // As on v2, the processes live one level below the limits: a container may mount its
        // (namespaced) v1 hierarchy and then sees and owns only `leaf`, whose own limits
        // cannot lift the ones above it.
        for d in distinct(cdirs.values()) {
            mkdir_new(&d.join(LEAF))?;
        }
        Ok(())
    };
    if let Err(e) = fill() {
        for d in made {
            let _ = rmdir_tree(&d);
        }
        return Err(e);
    }
    Ok(Cgroup {
        name: name.to_owned(),
        kind: Kind::V1(cdirs),
    })
}

/// Container names: 1 to 128 of `[A-Za-z0-9_.-]`, starting with a letter or digit.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = name.len() <= 128
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid cgroup name {name:?}: 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }
}

fn distinct<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Writes a cgroup file in one write (as `echo v > file` does).
pub(crate) fn write_file(path: &Path, value: &str) -> Result<(), Error> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| {
            if path.exists() {
                io_err(format!("write {value} to"), path)(e)
            } else {
                Error::Delegation(format!(
                    "{} does not exist: its controller is not enabled for this cgroup",
                    path.display()
                ))
            }
        })
}

fn read_opt(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        r => r.map(Some).map_err(io_err("read", path)),
    }
}

fn parse_u64(path: &Path, s: &str) -> Result<u64, Error> {
    s.parse()
        .map_err(|_| Error::Format(format!("{}: unexpected value {s:?}", path.display())))
}

/// A file holding one number; `None` if absent.
fn num(path: &Path) -> Result<Option<u64>, Error> {
    read_opt(path)?
        .map(|s| parse_u64(path, s.trim()))
        .transpose()
}

/// The value of `key` in a `key value` per line file; `None` if the file or key is absent.
fn keyed(path: &Path, key: &str) -> Result<Option<u64>, Error> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| parse_u64(path, v.trim()))
        .transpose()
}

/// The controllers listed in `dir/cgroup.controllers`.
pub(crate) fn read_controllers(dir: &Path) -> Result<Vec<String>, Error> {
    let p = dir.join("cgroup.controllers");
    let text = fs::read_to_string(&p).map_err(io_err("read", &p))?;
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// Enables `ctrls` in `dir/cgroup.subtree_control`, skipping those already enabled.
pub(crate) fn enable(dir: &Path, ctrls: &[String]) -> Result<(), Error> {
    let p = dir.join("cgroup.subtree_control");
    let on = read_opt(&p)?.unwrap_or_default();
    let on: Vec<&str> = on
        .split_whitespace()
        .map(|c| c.trim_start_matches('+'))
        .collect();
    let add: Vec<String> = ctrls
        .iter()
        .filter(|c| !on.contains(&c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if add.is_empty() {
        return Ok(());
    }
    let add = add.join(" ");
    match write_file(&p, &add) {
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::ResourceBusy => {
            Err(Error::Delegation(format!(
                "cannot enable {add} in {}: that cgroup holds processes, and cgroup v2 lets a cgroup either hold processes or enable controllers for its children; start your session in a child cgroup (for example {}/session) instead",
                p.display(),
                dir.display()
            )))
        }
        r => r,
    }
}

pub(crate) fn mkdir_if_missing(dir: &Path) -> Result<(), Error> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        r => r.map_err(io_err("create cgroup", dir)),
    }
}

fn mkdir_new(dir: &Path) -> Result<(), Error> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::Exists(dir.to_path_buf())),
        r => r.map_err(io_err("create cgroup", dir)),
    }
}

/// rmdir of `dir` and every directory below it, deepest first, retrying EBUSY for about a
/// second. Only directories: cgroupfs removes a cgroup's files with it. Absent is fine.
pub(crate) fn rmdir_tree(dir: &Path) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r.map_err(io_err("list", dir))?,
    };
    for e in entries {
        let e = e.map_err(io_err("list", dir))?;
        if e.file_type()
            .map_err(io_err("inspect", &e.path()))?
            .is_dir()
        {
            rmdir_tree(&e.path())?;
        }
    }
    let mut tries = 0;
    loop {
        match fs::remove_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ResourceBusy => {
                if tries >= 50 {
                    return Err(Error::Busy(dir.to_path_buf()));
                }
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r.map_err(io_err("remove cgroup", dir)),
        }
    }
}
