//! Container state on disk, per user: `$XDG_RUNTIME_DIR/burrow/<name>/` (or
//! `/tmp/burrow-<uid>/<name>/` when XDG_RUNTIME_DIR is unset), mode 0700, holding
//! `state.json` (written atomically), `config.toml`, `lock` (flock, one writer at a time),
//! `ctr.log` (+ `ctr.log.1`) and, with a terminal, `attach.sock`.
//!
//! The files say what was last recorded; [`State::refresh`] checks it against the kernel
//! (pid plus start time, so a reused pid is never mistaken for the container), so `ls` shows
//! the truth even after the monitor or the container was SIGKILLed.

use crate::{err, Ctx, Error};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or not yet).
    Created,
    /// Running.
    Running,
    /// Exited; its monitor restarts it after a delay (its restart policy).
    Restarting,
    /// Exited (exit code known or not).
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Container name.
    pub name: String,
    /// Last known status.
    pub status: Status,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Creation time (seconds since the epoch).
    pub created: u64,
    /// Start time.
    pub started: Option<u64>,
    /// Exit time.
    pub finished: Option<u64>,
    /// Exit status (None while running, or when the monitor died and it is unknown).
    pub exit_code: Option<i32>,
    /// Host pid of the container's pid 1.
    pub pid: Option<i32>,
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22).
    pub pid_start: Option<u64>,
    /// Host pid of the monitor.
    pub monitor_pid: Option<i32>,
    /// Its start time.
    pub monitor_start: Option<u64>,
    /// Whether the container has a terminal (attach works).
    pub tty: bool,
    /// Remove the container when it exits.
    pub rm: bool,
    /// uid map lines (inside, host, count).
    pub uid_map: Vec<(u64, u64, u64)>,
    /// gid map lines.
    pub gid_map: Vec<(u64, u64, u64)>,
    /// With --net bridge: the nic (names, bridge, addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic: Option<crate::net::Nic>,
    /// The id (`sha256:HEX`) of the image the container was created from; `None` for a
    /// `--rootfs` container (and in state files written before images existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The signal `burrow stop` sends first (the image's StopSignal; default SIGTERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// How many times the monitor restarted it (its restart policy) since `burrow start`.
    #[serde(default)]
    pub restart_count: u32,
    /// `burrow stop`, `kill` or `rm -f` was asked for: no restart follows.
    #[serde(default)]
    pub stopped_by_user: bool,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Start time of a process (clock ticks after boot), if it exists and is not a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    // A zombie (or dead) process keeps its start time but is not running any more.
    if matches!(f.next(), Some("Z") | Some("X") | None) {
        return None;
    }
    f.nth(18)?.parse().ok()
}

/// Is `pid` still the process that started at `start`?
pub fn same_process(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(p), Some(s)) => start_time(p) == Some(s),
        _ => false,
    }
}

impl State {
    /// A container that has not run (yet): `status`, with the command and flags of `config`.
    pub fn new(
        name: &str,
        status: Status,
        config: &burrow_config::RunConfig,
        created: u64,
    ) -> State {
        State {
            name: name.to_owned(),
            status,
            command: config.command.clone(),
            created,
            started: None,
            finished: None,
            exit_code: None,
            pid: None,
            pid_start: None,
            monitor_pid: None,
            monitor_start: None,
            tty: config.tty,
            rm: config.rm,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
            nic: None,
            image: None,
            stop_signal: None,
            restart_count: 0,
            stopped_by_user: false,
        }
    }

    /// Corrects a `running` record whose processes are gone: the monitor records the exit
    /// status itself, so a dead monitor means the status is unknown.
    pub fn refresh(&mut self) -> bool {
        if !matches!(self.status, Status::Running | Status::Restarting) {
            return false;
        }
        let monitor = same_process(self.monitor_pid, self.monitor_start);
        let container = same_process(self.pid, self.pid_start);
        if monitor || (container && self.status == Status::Running) {
            return false;
        }
        // A restarting container's last exit status is known; a running one's is not.
        if self.status == Status::Running {
            self.exit_code = None;
        }
        self.status = Status::Stopped;
        self.finished.get_or_insert_with(now);
        true
    }

    /// Is the container's pid 1 alive?
    pub fn container_alive(&self) -> bool {
        same_process(self.pid, self.pid_start)
    }
}

/// Checks a container name: 1-64 of `[A-Za-z0-9_.-]`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "invalid container name \"{name}\": use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }
}

/// A random default name.
pub fn random_name() -> String {
    let mut b = [0u8; 4];
    let _ =
        fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    format!("burrow-{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

/// The per-user state root, created 0700 if missing and checked to be ours and private.
pub fn root() -> Result<PathBuf, Error> {
    let uid = nix::unistd::getuid().as_raw();
    let base = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d)
            if d.is_absolute()
                && fs::metadata(&d)
                    .map(|m| m.is_dir() && m.uid() == uid)
                    .unwrap_or(false) =>
        {
            d.join("burrow")
        }
        _ => PathBuf::from(format!("/tmp/burrow-{uid}")),
    };
    match fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(err(format!(
                "cannot create the state directory {}: {e}",
                base.display()
            )))
        }
    }
    let md = fs::symlink_metadata(&base).ctx(|| format!("cannot stat {}", base.display()))?;
    if !md.is_dir() || md.uid() != uid || md.mode() & 0o077 != 0 {
        return Err(err(format!(
            "the state directory {} is not a private directory of yours (it must be a directory, owned by uid {uid}, mode 0700): remove it or set XDG_RUNTIME_DIR",
            base.display()
        )));
    }
    Ok(base)
}

/// The per-user configuration root: `$XDG_DATA_HOME/burrow/containers`, else
/// `~/.local/share/burrow/containers` (created 0700; must be ours and private). Container
/// configurations and logs live here and survive a reboot; run-time state does not.
pub fn data_root() -> Result<PathBuf, Error> {
    let uid = nix::unistd::getuid().as_raw();
    let base = match std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("burrow"),
        _ => match std::env::var_os("HOME").map(PathBuf::from) {
            Some(h) if h.is_absolute() => h.join(".local/share/burrow"),
            _ => return Err(err("neither XDG_DATA_HOME nor HOME is set: burrow cannot keep container configurations")),
        },
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
        .ctx(|| format!("cannot create {}", base.display()))?;
    let dir = base.join("containers");
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(format!("cannot create {}: {e}", dir.display()))),
    }
    let md = fs::symlink_metadata(&dir).ctx(|| format!("cannot stat {}", dir.display()))?;
    if !md.is_dir() || md.uid() != uid || md.mode() & 0o077 != 0 {
        return Err(err(format!(
            "{} is not a private directory of yours (owned by uid {uid}, mode 0700): fix it or set XDG_DATA_HOME",
            dir.display()
        )));
    }
    Ok(dir)
}

/// One container: its run-time directory (state.json, lock, attach.sock) and its data
/// directory (config.toml, ctr.log, ctr.log.1).
#[derive(Debug, Clone)]
pub struct Dir {
    /// Container name.
    pub name: String,
    /// Run-time directory.
    pub path: PathBuf,
    /// Data directory.
    pub data: PathBuf,
}

fn mkdir_private(p: &Path) -> Result<(), Error> {
    match fs::DirBuilder::new().mode(0o700).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(format!("cannot create {}: {e}", p.display()))),
    }
}

impl Dir {
    /// An existing container.
    pub fn open(name: &str) -> Result<Dir, Error> {
        check_name(name)?;
        let data = data_root()?.join(name);
        if !data.join("config.toml").is_file() {
            return Err(Error {
                code: 125,
                msg: format!("no such container: {name} (see burrow ls --all)"),
            });
        }
        let path = root()?.join(name);
        // After a reboot the run-time directory is gone: the container is simply stopped.
        mkdir_private(&path)?;
        Ok(Dir {
            name: name.to_owned(),
            path,
            data,
        })
    }

    /// A new container: its data directory is created atomically (the name is taken or not).
    pub fn create(name: &str) -> Result<Dir, Error> {
        check_name(name)?;
        let data = data_root()?.join(name);
        match fs::DirBuilder::new().mode(0o700).create(&data) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(err(format!(
                    "a container named {name} already exists: remove it (burrow rm {name}) or choose another name"
                )))
            }
            Err(e) => return Err(err(format!("cannot create {}: {e}", data.display()))),
        }
        let path = root()?.join(name);
        // A run-time directory without data is a leftover of a removed container.
        let _ = fs::remove_dir_all(&path);
        if let Err(e) = mkdir_private(&path) {
            let _ = fs::remove_dir_all(&data);
            return Err(e);
        }
        Ok(Dir {
            name: name.to_owned(),
            path,
            data,
        })
    }

    /// Every container of this user.
    pub fn all() -> Result<Vec<Dir>, Error> {
        let data = data_root()?;
        let mut v = Vec::new();
        for e in fs::read_dir(&data)
            .ctx(|| format!("cannot list {}", data.display()))?
            .filter_map(|e| e.ok())
        {
            if e.path().join("config.toml").is_file() {
                if let Ok(d) = Dir::open(&e.file_name().to_string_lossy()) {
                    v.push(d);
                }
            }
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Takes the container's lock (blocking) for the life of the returned guard.
    pub fn lock(&self) -> Result<fs::File, Error> {
        let path = self.path.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .ctx(|| format!("cannot open the lock of {}", self.name))?;
        bounded_lock(f, &path, &format!("container {}", self.name))
    }

    /// Reads the recorded state (a container without one, after a reboot, is stopped).
    pub fn read(&self) -> Result<State, Error> {
        let text = match fs::read_to_string(self.path.join("state.json")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.stopped_state(),
            Err(e) => return Err(err(format!("cannot read the state of {}: {e}", self.name))),
        };
        serde_json::from_str(&text)
            .map_err(|e| err(format!("the state of {} is corrupt: {e}", self.name)))
    }

    /// Writes the state atomically (temporary file, fsync, rename).
    pub fn write(&self, st: &State) -> Result<(), Error> {
        let tmp = self.path.join(".state.json.tmp");
        let text =
            serde_json::to_string_pretty(st).map_err(|e| err(format!("serializing state: {e}")))?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .ctx(|| format!("cannot write the state of {}", self.name))?;
        f.write_all(text.as_bytes()).ctx(|| "write".into())?;
        f.sync_data().ctx(|| "fsync".into())?;
        fs::rename(&tmp, self.path.join("state.json")).ctx(|| "rename".into())
    }

    /// Reads, lets `f` change, writes back, all under the lock.
    pub fn update(&self, f: impl FnOnce(&mut State)) -> Result<State, Error> {
        let _g = self.lock()?;
        let mut st = self.read()?;
        f(&mut st);
        self.write(&st)?;
        Ok(st)
    }

    /// The state with [`State::refresh`] applied (and saved if it changed).
    pub fn current(&self) -> Result<State, Error> {
        let _g = self.lock()?;
        let mut st = self.read()?;
        if st.refresh() {
            self.write(&st)?;
        }
        Ok(st)
    }

    fn stopped_state(&self) -> Result<State, Error> {
        let c = self.config()?;
        let created = fs::metadata(self.data_file("config.toml"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut st = State::new(&self.name, Status::Stopped, &c, created);
        if let Ok(Some(img)) = crate::image::load(&self.data) {
            st.image = Some(img.id.clone());
            st.stop_signal = img.stop_signal.clone().filter(|s| !s.is_empty());
            let mut cfg = c.clone();
            if crate::image::apply_process_defaults(&mut cfg, &img).is_ok() {
                if let Ok(cmd) =
                    crate::image::compose_command(&img, cfg.entrypoint.as_deref(), &cfg.command)
                {
                    st.command = cmd;
                }
            }
        }
        Ok(st)
    }

    /// The saved configuration.
    pub fn config(&self) -> Result<burrow_config::RunConfig, Error> {
        burrow_config::RunConfig::from_file(&self.data_file("config.toml"))
            .map_err(|e| err(e.to_string()))
    }

    /// Path of a run-time file (state.json, lock, attach.sock).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Path of a data file (config.toml, ctr.log).
    pub fn data_file(&self, name: &str) -> PathBuf {
        self.data.join(name)
    }

    /// Removes both directories and everything in them (an image root's upper and work
    /// directories too, which may hold files of the container's other ids).
    pub fn remove(self) -> Result<(), Error> {
        let _ = fs::remove_dir_all(&self.path);
        crate::run::remove_tree(&self.data)
    }
}

/// The images containers of this user were created from: (image id as recorded, container
/// name), one entry per container that has an image, sorted by container name. `burrow rmi`
/// refuses these images and `burrow image prune` keeps them.
pub fn images_in_use() -> Result<Vec<(String, String)>, Error> {
    let mut v = Vec::new();
    for d in Dir::all()? {
        if let Ok(Some(image)) = d.read().map(|st| st.image) {
            v.push((image, d.name));
        }
    }
    Ok(v)
}

/// Writes the saved configuration of a new container.
pub fn write_config(dir: &Dir, text: &str) -> Result<(), Error> {
    let mut f = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(dir.data_file("config.toml"))
        .ctx(|| "cannot write config.toml".into())?;
    f.write_all(text.as_bytes())
        .ctx(|| "write config.toml".into())
}

/// How long a container's (or the id map registry's) lock is waited for unless
/// `BURROW_LOCK_TIMEOUT` says otherwise: every holder only reads and writes a small file, or
/// starts a process, under it.
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Takes `f`'s flock exclusively, waiting at most [`LOCK_TIMEOUT`] (or `BURROW_LOCK_TIMEOUT`
/// seconds); past it the error names `what`, the lock file and its holders. The lock is held
/// for as long as the returned file is open.
pub(crate) fn bounded_lock(
    f: fs::File,
    path: &std::path::Path,
    what: &str,
) -> Result<fs::File, Error> {
    use burrow_sys::lockwait::{self, WaitError};
    let bound = lockwait::env_seconds(lockwait::TIMEOUT_ENV, LOCK_TIMEOUT);
    match lockwait::acquire(&f, false, bound) {
        Ok(()) => Ok(f),
        Err(WaitError::Io(e)) => Err(err(format!("cannot lock {what}: {e}"))),
        Err(WaitError::TimedOut(waited, holders)) => Err(err(format!(
            "{what} stayed locked for {} s ({}, {}): wait for that command to finish or stop it; {}=SECONDS waits longer",
            waited.as_secs_f64().round(),
            path.display(),
            lockwait::describe(&holders, path),
            lockwait::TIMEOUT_ENV
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["", "-x", ".x", "a/b", "a b", &"x".repeat(65), ".."] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(random_name().starts_with("burrow-"));
    }

    #[test]
    fn state_files_without_an_image_still_load() {
        let old = r#"{"name":"x","status":"stopped","command":["/bin/true"],"created":1,
            "started":null,"finished":null,"exit_code":0,"pid":null,"pid_start":null,
            "monitor_pid":null,"monitor_start":null,"tty":false,"rm":false,
            "uid_map":[],"gid_map":[]}"#;
        let mut st: State = serde_json::from_str(old).unwrap();
        assert_eq!(st.image, None);
        assert!(!serde_json::to_string(&st).unwrap().contains("image"));
        st.image = Some("sha256:ab".into());
        let back: State = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back.image.as_deref(), Some("sha256:ab"));
    }

    #[test]
    fn own_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        let t = start_time(me).unwrap();
        assert!(same_process(Some(me), Some(t)));
        assert!(!same_process(Some(me), Some(t + 1)));
    }
}
