//! The settings of one container, as read from a TOML file (`burrow run --config FILE`) and
//! from the command line. Data and parsing only: the runtime decides what they mean.
//!
//! Every key of the file has the name of its command-line flag (with `_` for `-`):
//!
//! ```toml
//! rootfs = "/home/me/rootfs"
//! command = ["/bin/sh", "-c", "echo hi"]
//! name = "web"
//! hostname = "web"
//! env = ["LANG=C.UTF-8"]
//! workdir = "/"
//! user = "1000:1000"
//! volume = ["/srv/data:/data:ro"]
//! read_only = true
//! net = "none"                 # none | host | bridge
//! bridge = "burrow%u"          # with net = "bridge": the bridge burrow-nic attaches to
//! cap_policy = "default"       # default | deny | allow
//! cap_add = ["net_raw"]
//! cap_drop = ["chown"]
//! seccomp = "default"          # default | unconfined | /path/to/profile.toml
//! ulimit = ["nofile=1024:4096"]
//! init = false
//! tty = false
//! interactive = false
//! log_level = "warn"
//! idmap = "shared"             # shared | auto | auto:SIZE
//! memory = "512m"              # needs a delegated cgroup (burrow doctor says)
//! memory_swap = "1g"           # memory + swap; "-1" = unlimited swap
//! cpus = "1.5"
//! cpu_weight = 100             # 1..10000
//! pids_limit = 256
//! ```
//!
//! Scalars given on the command line replace the file's; lists given on the command line are
//! appended to the file's.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A configuration error, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file does not parse (the message has line and column).
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A value is malformed.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// Network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// A private network namespace with only loopback up.
    #[default]
    None,
    /// The host's network namespace (explicit opt-in).
    Host,
    /// A private network namespace with a veth on a bridge, made by the setuid burrow-nic
    /// (eth0, its address, default route and resolv.conf set inside).
    Bridge,
}

/// The bridge `--net bridge` uses by default: the caller's per-user bridge.
pub const DEFAULT_BRIDGE: &str = "burrow%u";

/// Parses `--net`: `none`, `host`, `bridge` or `bridge=NAME`.
pub fn parse_net(s: &str) -> Result<(NetMode, Option<String>), ConfigError> {
    match s.split_once('=') {
        Some(("bridge", name)) => {
            check_bridge_name(name)?;
            Ok((NetMode::Bridge, Some(name.to_owned())))
        }
        Some(_) => Err(invalid(format!(
            "unknown network mode \"{s}\": use none, host, bridge or bridge=NAME"
        ))),
        None => Ok((s.parse()?, None)),
    }
}

/// A bridge name as burrow-nic takes it: 1 to 15 bytes of letters, digits, `-`, `_`, `.`,
/// with at most one `%u` (replaced by the uid).
pub fn check_bridge_name(name: &str) -> Result<(), ConfigError> {
    let plain = name.replacen("%u", "", 1);
    let ok = !name.is_empty()
        && name.len() <= 15
        && plain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "bridge \"{name}\": use 1-15 letters, digits, '-', '_' or '.' (and at most one %u for your uid)"
        )))
    }
}

impl std::str::FromStr for NetMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            "bridge" => Ok(NetMode::Bridge),
            _ => Err(invalid(format!(
                "unknown network mode \"{s}\": use none, host, bridge or bridge=NAME"
            ))),
        }
    }
}

/// Where the capability set starts before `cap_add`/`cap_drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CapPolicy {
    /// Everything except the historically dangerous set.
    #[default]
    Default,
    /// Nothing.
    Deny,
    /// Everything.
    Allow,
}

impl std::str::FromStr for CapPolicy {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "default" => Ok(CapPolicy::Default),
            "deny" => Ok(CapPolicy::Deny),
            "allow" => Ok(CapPolicy::Allow),
            _ => Err(invalid(format!(
                "unknown capability policy \"{s}\": use default, deny or allow"
            ))),
        }
    }
}

/// The seccomp filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seccomp {
    /// Burrow's default filter.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile file.
    Profile(PathBuf),
}

impl std::str::FromStr for Seccomp {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "default" => Seccomp::Default,
            "unconfined" => Seccomp::Unconfined,
            "" => {
                return Err(invalid(
                    "empty --seccomp value: use default, unconfined or a file",
                ))
            }
            path => Seccomp::Profile(PathBuf::from(path)),
        })
    }
}

/// How the container's ids are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdMap {
    /// Container 0 is the caller, 1..N the caller's whole first subordinate range (shared by
    /// all the caller's containers).
    #[default]
    Shared,
    /// A slice of the subordinate range of its own (default 65536 ids), never shared by two
    /// running containers; container 0 is the slice's first id.
    Auto(Option<u32>),
}

impl std::str::FromStr for IdMap {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "shared" => Ok(IdMap::Shared),
            "auto" => Ok(IdMap::Auto(None)),
            _ => match s.strip_prefix("auto:").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => Ok(IdMap::Auto(Some(n))),
                _ => Err(invalid(format!(
                    "idmap \"{s}\": use shared, auto or auto:SIZE (SIZE >= 1)"
                ))),
            },
        }
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdMap::Shared => f.write_str("shared"),
            IdMap::Auto(None) => f.write_str("auto"),
            IdMap::Auto(Some(n)) => write!(f, "auto:{n}"),
        }
    }
}

/// A bind mount `SRC:DST[:ro|:rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Host path.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let parts: Vec<&str> = s.split(':').collect();
        let (src, dst, ro) = match parts.as_slice() {
            [src, dst] => (*src, *dst, false),
            [src, dst, "ro"] => (*src, *dst, true),
            [src, dst, "rw"] => (*src, *dst, false),
            [_, _, opt] => {
                return Err(invalid(format!(
                    "volume \"{s}\": unknown option \"{opt}\" (use ro or rw)"
                )))
            }
            _ => return Err(invalid(format!("volume \"{s}\": expected SRC:DST[:ro]"))),
        };
        if src.is_empty() || !src.starts_with('/') {
            return Err(invalid(format!(
                "volume \"{s}\": the source must be an absolute host path"
            )));
        }
        if !dst.starts_with('/') {
            return Err(invalid(format!(
                "volume \"{s}\": the target must be an absolute path in the container"
            )));
        }
        Ok(Volume {
            source: PathBuf::from(src),
            target: PathBuf::from(dst),
            read_only: ro,
        })
    }
}

/// `-u UID[:GID]` (numeric ids inside the container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct User {
    /// uid inside the container.
    pub uid: u32,
    /// gid inside the container (defaults to the uid).
    pub gid: u32,
}

impl std::str::FromStr for User {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let num = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n != u32::MAX && (v == "0" || !v.starts_with('0')))
                .ok_or_else(|| invalid(format!("user \"{s}\": expected numeric UID[:GID]")))
        };
        match s.split_once(':') {
            Some((u, g)) => Ok(User {
                uid: num(u)?,
                gid: num(g)?,
            }),
            None => {
                let uid = num(s)?;
                Ok(User { uid, gid: uid })
            }
        }
    }
}

/// An environment assignment `K=V` (or `K`, meaning "empty value").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

impl std::str::FromStr for EnvVar {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (k, v) = s.split_once('=').unwrap_or((s, ""));
        if k.is_empty() || k.contains('\0') || v.contains('\0') {
            return Err(invalid(format!("environment \"{s}\": expected NAME=VALUE")));
        }
        Ok(EnvVar {
            key: k.to_owned(),
            value: v.to_owned(),
        })
    }
}

/// Resource names accepted by `--ulimit`, with their `RLIMIT_*` numbers on Linux.
pub const ULIMITS: &[(&str, u32)] = &[
    ("cpu", 0),
    ("fsize", 1),
    ("data", 2),
    ("stack", 3),
    ("core", 4),
    ("rss", 5),
    ("nproc", 6),
    ("nofile", 7),
    ("memlock", 8),
    ("as", 9),
    ("locks", 10),
    ("sigpending", 11),
    ("msgqueue", 12),
    ("nice", 13),
    ("rtprio", 14),
    ("rttime", 15),
];

/// `--ulimit NAME=SOFT[:HARD]` (`unlimited` allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ulimit {
    /// Name from [`ULIMITS`].
    pub name: &'static str,
    /// RLIMIT_* number.
    pub resource: u32,
    /// Soft limit (u64::MAX = unlimited).
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

impl std::str::FromStr for Ulimit {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || {
            invalid(format!(
                "ulimit \"{s}\": expected NAME=SOFT[:HARD], e.g. nofile=1024:4096"
            ))
        };
        let (name, vals) = s.split_once('=').ok_or_else(bad)?;
        let &(name, resource) = ULIMITS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = ULIMITS.iter().map(|(n, _)| *n).collect();
            invalid(format!(
                "ulimit \"{s}\": unknown resource (known: {})",
                names.join(", ")
            ))
        })?;
        let num = |v: &str| -> Result<u64, ConfigError> {
            if v == "unlimited" || v == "-1" {
                Ok(u64::MAX)
            } else {
                v.parse().map_err(|_| bad())
            }
        };
        let (soft, hard) = match vals.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(vals)?, num(vals)?),
        };
        if soft > hard {
            return Err(invalid(format!(
                "ulimit \"{s}\": the soft limit is above the hard limit"
            )));
        }
        Ok(Ulimit {
            name,
            resource,
            soft,
            hard,
        })
    }
}

/// The TOML file, as written (strings are parsed by [`RunConfig::from_file`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    rootfs: Option<PathBuf>,
    command: Option<Vec<String>>,
    name: Option<String>,
    hostname: Option<String>,
    #[serde(default)]
    env: Vec<String>,
    workdir: Option<String>,
    user: Option<String>,
    #[serde(default)]
    volume: Vec<String>,
    read_only: Option<bool>,
    net: Option<NetMode>,
    bridge: Option<String>,
    cap_policy: Option<CapPolicy>,
    #[serde(default)]
    cap_add: Vec<String>,
    #[serde(default)]
    cap_drop: Vec<String>,
    seccomp: Option<String>,
    #[serde(default)]
    ulimit: Vec<String>,
    init: Option<bool>,
    tty: Option<bool>,
    interactive: Option<bool>,
    rm: Option<bool>,
    log_level: Option<String>,
    idmap: Option<String>,
    memory: Option<String>,
    memory_swap: Option<String>,
    cpus: Option<String>,
    cpu_weight: Option<u64>,
    pids_limit: Option<u64>,
}

/// Everything `burrow run` needs, after the file and the flags are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// The root filesystem directory.
    pub rootfs: Option<PathBuf>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Container name.
    pub name: Option<String>,
    /// Hostname (default: the name, else "burrow").
    pub hostname: Option<String>,
    /// Extra environment.
    pub env: Vec<EnvVar>,
    /// Working directory inside.
    pub workdir: Option<String>,
    /// User inside.
    pub user: Option<User>,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// Read-only root.
    pub read_only: bool,
    /// Network mode.
    pub net: NetMode,
    /// With [`NetMode::Bridge`]: the bridge (default [`DEFAULT_BRIDGE`]).
    pub bridge: Option<String>,
    /// Capability policy.
    pub cap_policy: CapPolicy,
    /// Capabilities added (names as given).
    pub cap_add: Vec<String>,
    /// Capabilities dropped (names as given).
    pub cap_drop: Vec<String>,
    /// Seccomp filter.
    pub seccomp: Seccomp,
    /// Resource limits.
    pub ulimits: Vec<Ulimit>,
    /// Run a tiny init as pid 1.
    pub init: bool,
    /// Allocate a pty.
    pub tty: bool,
    /// Keep stdin open.
    pub interactive: bool,
    /// Remove the container when it exits.
    pub rm: bool,
    /// Log level.
    pub log_level: Option<String>,
    /// Id mapping mode.
    pub idmap: IdMap,
    /// `--memory` as given (e.g. `512m`).
    pub memory: Option<String>,
    /// `--memory-swap` as given (memory + swap; `-1` unlimited).
    pub memory_swap: Option<String>,
    /// `--cpus` as given (e.g. `1.5`).
    pub cpus: Option<String>,
    /// `--cpu-weight` (1..=10000).
    pub cpu_weight: Option<u64>,
    /// `--pids-limit`.
    pub pids_limit: Option<u64>,
}

fn parse_all<T: std::str::FromStr<Err = ConfigError>>(v: &[String]) -> Result<Vec<T>, ConfigError> {
    v.iter().map(|s| s.parse()).collect()
}

impl RunConfig {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<RunConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Parses TOML text (`origin` names it in errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<RunConfig, ConfigError> {
        let f: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Ok(RunConfig {
            rootfs: f.rootfs,
            command: f.command.unwrap_or_default(),
            name: f.name,
            hostname: f.hostname,
            env: parse_all(&f.env)?,
            workdir: f.workdir,
            user: f.user.map(|u| u.parse()).transpose()?,
            volumes: parse_all(&f.volume)?,
            read_only: f.read_only.unwrap_or(false),
            net: f.net.unwrap_or_default(),
            bridge: f.bridge,
            cap_policy: f.cap_policy.unwrap_or_default(),
            cap_add: f.cap_add,
            cap_drop: f.cap_drop,
            seccomp: f
                .seccomp
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or_default(),
            ulimits: parse_all(&f.ulimit)?,
            init: f.init.unwrap_or(false),
            tty: f.tty.unwrap_or(false),
            interactive: f.interactive.unwrap_or(false),
            rm: f.rm.unwrap_or(false),
            log_level: f.log_level,
            idmap: f.idmap.map(|s| s.parse()).transpose()?.unwrap_or_default(),
            memory: f.memory,
            memory_swap: f.memory_swap,
            cpus: f.cpus,
            cpu_weight: f.cpu_weight,
            pids_limit: f.pids_limit,
        })
        .and_then(|c: RunConfig| c.limits().map(|_| c))
    }

    /// Renders the settings as a config file that [`RunConfig::from_toml`] reads back the same.
    pub fn to_toml(&self) -> String {
        let strings = |v: &[String]| v.to_vec();
        let f = FileConfig {
            rootfs: self.rootfs.clone(),
            command: Some(self.command.clone()),
            name: self.name.clone(),
            hostname: self.hostname.clone(),
            env: self
                .env
                .iter()
                .map(|e| format!("{}={}", e.key, e.value))
                .collect(),
            workdir: self.workdir.clone(),
            user: self.user.map(|u| format!("{}:{}", u.uid, u.gid)),
            volume: self.volumes.iter().map(ToString::to_string).collect(),
            read_only: Some(self.read_only),
            net: Some(self.net),
            bridge: self.bridge.clone(),
            cap_policy: Some(self.cap_policy),
            cap_add: strings(&self.cap_add),
            cap_drop: strings(&self.cap_drop),
            seccomp: Some(match &self.seccomp {
                Seccomp::Default => "default".to_owned(),
                Seccomp::Unconfined => "unconfined".to_owned(),
                Seccomp::Profile(p) => p.display().to_string(),
            }),
            ulimit: self
                .ulimits
                .iter()
                .map(|u| {
                    let v = |n: u64| {
                        if n == u64::MAX {
                            "unlimited".to_owned()
                        } else {
                            n.to_string()
                        }
                    };
                    format!("{}={}:{}", u.name, v(u.soft), v(u.hard))
                })
                .collect(),
            init: Some(self.init),
            tty: Some(self.tty),
            interactive: Some(self.interactive),
            rm: Some(self.rm),
            log_level: self.log_level.clone(),
            idmap: Some(self.idmap.to_string()),
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            cpus: self.cpus.clone(),
            cpu_weight: self.cpu_weight,
            pids_limit: self.pids_limit,
        };
        toml::to_string(&f).unwrap_or_default()
    }

    /// The resource limits, parsed and checked.
    pub fn limits(&self) -> Result<burrow_cgroups::Limits, ConfigError> {
        let e = |x: burrow_cgroups::Error| invalid(x.to_string());
        let size = |v: &Option<String>| {
            v.as_deref()
                .map(burrow_cgroups::parse_size)
                .transpose()
                .map_err(e)
        };
        let l = burrow_cgroups::Limits {
            memory: size(&self.memory)?,
            memory_swap: match self.memory_swap.as_deref() {
                Some("-1") => None,
                _ => size(&self.memory_swap)?,
            },
            cpu_quota_us: match &self.cpus {
                Some(c) => {
                    let n: f64 = c.parse().map_err(|_| {
                        invalid(format!("cpus \"{c}\": expected a number such as 1.5"))
                    })?;
                    Some(burrow_cgroups::Limits::from_cpus(n).map_err(e)?)
                }
                None => None,
            },
            cpu_weight: self.cpu_weight,
            pids: self.pids_limit,
        };
        l.validate().map_err(e)?;
        Ok(l)
    }

    /// Checks what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rootfs.is_none() {
            return Err(invalid(
                "no root filesystem: give --rootfs DIR (or rootfs = \"DIR\" in the config file)",
            ));
        }
        if self.command.is_empty() {
            return Err(invalid("no command: give the command to run after the options (e.g. burrow run --rootfs DIR /bin/sh)"));
        }
        if let Some(h) = &self.hostname {
            if h.is_empty()
                || h.len() > 64
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(invalid(format!(
                    "hostname \"{h}\": use 1-64 letters, digits, '-' or '.'"
                )));
            }
        }
        if let Some(w) = &self.workdir {
            if !w.starts_with('/') {
                return Err(invalid(format!("workdir \"{w}\" must be an absolute path")));
            }
        }
        if let Some(b) = &self.bridge {
            if self.net != NetMode::Bridge {
                return Err(invalid(format!(
                    "bridge \"{b}\" is set but the network mode is not bridge (use --net bridge={b})"
                )));
            }
            check_bridge_name(b)?;
        }
        Ok(())
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}{}",
            self.source.display(),
            self.target.display(),
            if self.read_only { ":ro" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file() {
        let c = RunConfig::from_toml(
            "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\nvolume = [\"/a:/b:ro\"]\nuser = \"1000:100\"\nulimit = [\"nofile=10:20\"]\nnet = \"host\"\ncap_policy = \"deny\"\nseccomp = \"unconfined\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.volumes[0],
            Volume {
                source: "/a".into(),
                target: "/b".into(),
                read_only: true
            }
        );
        assert_eq!(
            c.user,
            Some(User {
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(c.ulimits[0].soft, 10);
        assert_eq!(c.net, NetMode::Host);
        assert_eq!(c.cap_policy, CapPolicy::Deny);
        assert_eq!(c.seccomp, Seccomp::Unconfined);
        c.validate().unwrap();
    }

    #[test]
    fn toml_round_trip() {
        let mut c = RunConfig::from_toml(
            "rootfs = \"/r\"\ncommand = [\"/bin/sh\", \"-c\", \"x\"]\nvolume = [\"/a:/b:ro\"]\nuser = \"1000:100\"\nulimit = [\"nofile=10:unlimited\"]\nenv = [\"A=1\"]\nseccomp = \"/p.toml\"\ncap_add = [\"net_raw\"]\n",
            "t.toml",
        )
        .unwrap();
        c.tty = true;
        assert_eq!(RunConfig::from_toml(&c.to_toml(), "again").unwrap(), c);
    }

    #[test]
    fn toml_errors_have_line_and_column() {
        let e = RunConfig::from_toml("rootfs = \"/r\"\nread_only = maybe\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.toml: TOML parse error at line 2, column 13"),
            "{e}"
        );
        let e = RunConfig::from_toml("rootfz = \"/r\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 1, column 1") && e.contains("unknown field `rootfz`"),
            "{e}"
        );
    }

    #[test]
    fn value_parsers() {
        assert!("rel:/b".parse::<Volume>().is_err());
        assert!("/a:rel".parse::<Volume>().is_err());
        assert!("/a:/b:rx".parse::<Volume>().is_err());
        assert_eq!("7".parse::<User>().unwrap(), User { uid: 7, gid: 7 });
        assert!("root".parse::<User>().is_err());
        assert!("01".parse::<User>().is_err());
        assert_eq!(
            "A=b=c".parse::<EnvVar>().unwrap(),
            EnvVar {
                key: "A".into(),
                value: "b=c".into()
            }
        );
        assert!("=x".parse::<EnvVar>().is_err());
        assert_eq!("nofile=unlimited".parse::<Ulimit>().unwrap().hard, u64::MAX);
        assert!("nofile=20:10".parse::<Ulimit>().is_err());
        assert!("files=1".parse::<Ulimit>().is_err());
        assert!("bogus".parse::<NetMode>().is_err());
        assert!("".parse::<Seccomp>().is_err());
        assert_eq!("auto".parse::<IdMap>().unwrap(), IdMap::Auto(None));
        assert_eq!(
            "auto:1000".parse::<IdMap>().unwrap(),
            IdMap::Auto(Some(1000))
        );
        assert!("auto:0".parse::<IdMap>().is_err());
        assert!("own".parse::<IdMap>().is_err());
        let c = RunConfig::from_toml("memory = \"64m\"\ncpus = \"0.5\"\npids_limit = 20\n", "l")
            .unwrap();
        let l = c.limits().unwrap();
        assert_eq!(
            (l.memory, l.cpu_quota_us, l.pids),
            (Some(64 << 20), Some((50_000, 100_000)), Some(20))
        );
        assert!(RunConfig::from_toml("memory = \"lots\"\n", "l").is_err());
        assert!(RunConfig::from_toml("cpus = \"x\"\n", "l").is_err());
    }
}

#[cfg(test)]
mod net_tests {
    use super::*;

    #[test]
    fn net_modes() {
        assert_eq!(parse_net("none").unwrap(), (NetMode::None, None));
        assert_eq!(parse_net("bridge").unwrap(), (NetMode::Bridge, None));
        assert_eq!(
            parse_net("bridge=lxcbr0").unwrap(),
            (NetMode::Bridge, Some("lxcbr0".into()))
        );
        assert_eq!(
            parse_net("bridge=br%u").unwrap(),
            (NetMode::Bridge, Some("br%u".into()))
        );
        for bad in [
            "bridge=",
            "bridge=a/b",
            "bridge=abcdefghijklmnop",
            "host=x",
            "slirp",
            "bridge=%u%u",
        ] {
            assert!(parse_net(bad).is_err(), "{bad}");
        }
        let c = RunConfig::from_toml(
            "rootfs = \"/r\"\ncommand = [\"x\"]\nnet = \"bridge\"\nbridge = \"br0\"\n",
            "t",
        )
        .unwrap();
        assert_eq!((c.net, c.bridge.as_deref()), (NetMode::Bridge, Some("br0")));
        c.validate().unwrap();
        let back = RunConfig::from_toml(&c.to_toml(), "t").unwrap();
        assert_eq!(back.bridge.as_deref(), Some("br0"));
        let c = RunConfig::from_toml(
            "rootfs = \"/r\"\ncommand = [\"x\"]\nbridge = \"br0\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "bridge \"br0\" is set but the network mode is not bridge (use --net bridge=br0)"
        );
    }
}
