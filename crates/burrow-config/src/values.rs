//! The value types of the settings: each parses from its command-line (and file) text with
//! `FromStr` and prints back to it with `Display`; the file's serde goes through the same two.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

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
    /// podman's `--userns=keep-id`: container uid U is the caller's uid U (gid likewise), so
    /// files of the caller's own in a volume are the container user's; the container ids
    /// below and above U come from the caller's subordinate range, in podman's layout.
    KeepId,
}

impl std::str::FromStr for IdMap {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "shared" => Ok(IdMap::Shared),
            "auto" => Ok(IdMap::Auto(None)),
            "keep-id" => Ok(IdMap::KeepId),
            _ => match s.strip_prefix("auto:").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => Ok(IdMap::Auto(Some(n))),
                _ => Err(invalid(format!(
                    "idmap \"{s}\": use shared, auto, auto:SIZE (SIZE >= 1) or keep-id"
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
            IdMap::KeepId => f.write_str("keep-id"),
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

/// A user and group as numeric ids inside the container (what `-u` resolves to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct User {
    /// uid inside the container.
    pub uid: u32,
    /// gid inside the container.
    pub gid: u32,
}

/// One half of `-u`: a number or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdOrName {
    /// A numeric id.
    Id(u32),
    /// A name, looked up in the container's /etc/passwd or /etc/group.
    Name(String),
}

/// Why a user or group value is not an [`IdOrName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadIdOrName {
    /// All digits, but not an id (too big, or leading zeros).
    Id,
    /// Not a name either.
    Name,
}

impl IdOrName {
    /// A number (0 to 4294967294, no leading zeros) or a name (printable, no `:` `/` `,`, at
    /// most 256 bytes); the callers word the error.
    pub(crate) fn classify(v: &str) -> Result<IdOrName, BadIdOrName> {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return v
                .parse::<u32>()
                .ok()
                .filter(|n| *n != u32::MAX && (v == "0" || !v.starts_with('0')))
                .map(IdOrName::Id)
                .ok_or(BadIdOrName::Id);
        }
        let ok = !v.is_empty()
            && v.len() <= 256
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b':' && b != b'/' && b != b',');
        if ok {
            Ok(IdOrName::Name(v.to_owned()))
        } else {
            Err(BadIdOrName::Name)
        }
    }

    fn parse(v: &str, whole: &str) -> Result<IdOrName, ConfigError> {
        IdOrName::classify(v).map_err(|e| match e {
            BadIdOrName::Id => invalid(format!(
                "user \"{whole}\": \"{v}\" is not a valid id (0 to 4294967294, no leading zeros)"
            )),
            BadIdOrName::Name => invalid(format!(
                "user \"{whole}\": expected USER[:GROUP], each a name or a number"
            )),
        })
    }
}

impl fmt::Display for IdOrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdOrName::Id(n) => write!(f, "{n}"),
            IdOrName::Name(s) => f.write_str(s),
        }
    }
}

/// `-u USER[:GROUP]`: names are looked up in the container's own /etc/passwd and /etc/group
/// (by the runtime, which reads them safely from the root); a numeric user without a group
/// gets its passwd entry's group, else the same number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// The user.
    pub user: IdOrName,
    /// The group, if given.
    pub group: Option<IdOrName>,
}

impl UserSpec {
    /// Both ids, when they are numbers (the group defaulting to the uid).
    pub fn numeric(&self) -> Option<User> {
        match (&self.user, &self.group) {
            (IdOrName::Id(u), None) => Some(User { uid: *u, gid: *u }),
            (IdOrName::Id(u), Some(IdOrName::Id(g))) => Some(User { uid: *u, gid: *g }),
            _ => None,
        }
    }
}

impl std::str::FromStr for UserSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.split_once(':') {
            Some((u, g)) => Ok(UserSpec {
                user: IdOrName::parse(u, s)?,
                group: Some(IdOrName::parse(g, s)?),
            }),
            None => Ok(UserSpec {
                user: IdOrName::parse(s, s)?,
                group: None,
            }),
        }
    }
}

impl fmt::Display for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{}:{g}", self.user),
            None => write!(f, "{}", self.user),
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

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetMode::None => "none",
            NetMode::Host => "host",
            NetMode::Bridge => "bridge",
        })
    }
}

/// `--net`: a mode, and with `bridge=NAME` the bridge (the file has them as `net` and
/// `bridge`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Net {
    /// The mode.
    pub net: NetMode,
    /// The bridge of `bridge=NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
}

impl std::str::FromStr for Net {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (net, bridge) = parse_net(s)?;
        Ok(Net { net, bridge })
    }
}

impl fmt::Display for Seccomp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seccomp::Default => f.write_str("default"),
            Seccomp::Unconfined => f.write_str("unconfined"),
            Seccomp::Profile(p) => write!(f, "{}", p.display()),
        }
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl fmt::Display for Ulimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |n: u64| {
            if n == u64::MAX {
                "unlimited".to_owned()
            } else {
                n.to_string()
            }
        };
        write!(f, "{}={}:{}", self.name, v(self.soft), v(self.hard))
    }
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings too (the default).
    #[default]
    Warn,
    /// Informational messages.
    Info,
    /// Each step of a start, with its duration.
    Debug,
    /// Everything.
    Trace,
}

impl std::str::FromStr for LogLevel {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            other => {
                return Err(invalid(format!(
                    "unknown log level \"{other}\": use error, warn, info, debug or trace"
                )))
            }
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        })
    }
}

/// `--publish-mode`: how `-p` mappings reach the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishMode {
    /// Kernel with `--net bridge`, user with `--net none`.
    #[default]
    Auto,
    /// DNAT rules installed by burrow-nic (needs `--net bridge` and a port grant).
    Kernel,
    /// A forwarder in the container's monitor (no grant needed; the container sees the
    /// forwarder's address, not the client's).
    User,
}

impl PublishMode {
    /// Whether it is the default ([`PublishMode::Auto`]).
    pub fn is_auto(&self) -> bool {
        *self == PublishMode::Auto
    }
}

impl std::str::FromStr for PublishMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "auto" => Ok(PublishMode::Auto),
            "kernel" => Ok(PublishMode::Kernel),
            "user" => Ok(PublishMode::User),
            _ => Err(invalid(format!(
                "unknown publish mode \"{s}\": use user or kernel (or auto)"
            ))),
        }
    }
}

impl fmt::Display for PublishMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PublishMode::Auto => "auto",
            PublishMode::Kernel => "kernel",
            PublishMode::User => "user",
        })
    }
}

/// Serde of `publish` lists: each mapping as its normalized text
/// (`burrow_usernet::ports::Publish`'s `Display`), read back with `Publish::parse`.
pub mod publish_serde {
    use burrow_usernet::ports::Publish;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes the mappings as strings.
    pub fn serialize<S: Serializer>(v: &[Publish], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(ToString::to_string))
    }

    /// Parses a list of strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Publish>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| Publish::parse(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde through `Display` and `FromStr`: the file holds the same text as the flag.
macro_rules! serde_as_text {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_text!(
    Seccomp,
    crate::AppArmor,
    IdMap,
    Volume,
    UserSpec,
    EnvVar,
    Ulimit,
    LogLevel,
    crate::Size,
    crate::MemorySwap,
    crate::Cpus,
    crate::UpperSize,
    PublishMode,
);
