//! The settings of one container, as read from a TOML file (`burrow run --config FILE`) and
//! from the command line. Data and parsing only: the runtime decides what they mean.
//!
//! Every key of the file has the name of its command-line flag (with `_` for `-`):
//!
//! ```toml
//! rootfs = "/home/me/rootfs"     # or: image = "alpine:3.20"
//! entrypoint = "/bin/sh"         # with an image: replaces its Entrypoint (and its Cmd)
//! command = ["/bin/sh", "-c", "echo hi"]
//! name = "web"
//! hostname = "web"
//! env = ["LANG=C.UTF-8"]
//! workdir = "/"
//! user = "1000:1000"            # or names from the container's /etc/passwd: "app:staff"
//! group_add = ["audio", "1234"] # supplementary groups (names from the container's /etc/group)
//! volume = ["/srv/data:/data:ro"]
//! read_only = true
//! net = "none"                 # none | host | bridge
//! bridge = "burrow%u"          # with net = "bridge": the bridge burrow-nic attaches to
//! cap_policy = "default"       # default | deny | allow
//! cap_add = ["net_raw"]
//! cap_drop = ["chown"]
//! seccomp = "default"          # default | unconfined | /path/to/profile.toml
//! apparmor = "default"         # default | unconfined | a loaded profile's name
//! ulimit = ["nofile=1024:4096"]
//! init = false
//! tty = false
//! interactive = false
//! log_level = "warn"
//! idmap = "shared"             # shared | auto | auto:SIZE | keep-id
//! memory = "512m"              # needs a delegated cgroup (burrow doctor says)
//! memory_swap = "1g"           # memory + swap; "-1" = unlimited swap
//! cpus = "1.5"
//! cpu_weight = 100             # 1..10000
//! pids_limit = 256
//! upper_size = "1g"           # a foreground image run's writes: a tmpfs of this size, or "disk"
//! restart = "on-failure:3"   # no | on-failure[:N] | always | unless-stopped (detached only)
//! publish = ["8080:80", "127.0.0.1:5353:53/udp"]   # [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]
//! publish_mode = "kernel"      # auto | kernel (--net bridge, burrow-nic) | user (a forwarder)
//! ```
//!
//! Scalars given on the command line replace the file's; lists given on the command line are
//! appended to the file's ([`RunConfig::merge`]).
//!
//! One type, [`RunConfig`], *is* the file format (serde) and the merged settings; each value
//! type parses from its command-line text (`FromStr`, used by clap as well) and prints back to
//! it (`Display`). [`RunConfig::validate`] is the only way to a [`RunSpec`], what the runtime
//! starts, so validation is neither skipped nor repeated.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod groups;
mod limits;
mod restart;
mod security;
#[cfg(test)]
mod tests;
mod values;

pub use burrow_usernet::ports::{PortRange, Proto, Publish};
pub use groups::parse_group;
pub use limits::{
    parse_size, Cpus, Limits, MemorySwap, Size, UpperSize, CPU_PERIOD_US, MIN_MEMORY, MIN_UPPER,
};
pub use restart::RestartPolicy;
pub use security::{AppArmor, SecurityOpt, DEFAULT_APPARMOR_PROFILE};
pub use values::{
    check_bridge_name, parse_net, parse_publish, CapPolicy, EnvVar, IdMap, IdOrName, LogLevel, Net,
    NetMode, PublishMode, Seccomp, Ulimit, User, UserSpec, Volume, DEFAULT_BRIDGE, ULIMITS,
};

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

pub(crate) fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// Everything `burrow run` needs, after the file and the flags are merged. Its serde form is
/// the TOML file: a new setting is a field here (with its type's `FromStr`/`Display`), a flag
/// of the same name, and its use in the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The root filesystem directory.
    pub rootfs: Option<PathBuf>,
    /// The image (name, `NAME:TAG` or id) whose layers are the root, instead of `rootfs`.
    pub image: Option<String>,
    /// With an image: replaces its Entrypoint (podman's `--entrypoint`: a command, or a JSON
    /// array; `""` clears it; either way the image's Cmd is not used).
    pub entrypoint: Option<String>,
    /// The command and its arguments (with an image: the arguments after its entrypoint).
    pub command: Vec<String>,
    /// Container name.
    pub name: Option<String>,
    /// Hostname (default: the name, else "burrow").
    pub hostname: Option<String>,
    /// Extra environment.
    pub env: Vec<EnvVar>,
    /// Working directory inside.
    pub workdir: Option<String>,
    /// User inside (`USER[:GROUP]`, names or numbers).
    pub user: Option<UserSpec>,
    /// Supplementary groups added to the user's own (`--group-add`, names from the
    /// container's /etc/group or numbers).
    pub group_add: Vec<IdOrName>,
    /// Bind mounts.
    #[serde(rename = "volume")]
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
    /// AppArmor profile (`--security-opt apparmor=`).
    pub apparmor: AppArmor,
    /// Resource limits.
    #[serde(rename = "ulimit")]
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
    pub log_level: Option<LogLevel>,
    /// Id mapping mode.
    pub idmap: IdMap,
    /// `--memory` (e.g. `512m`).
    pub memory: Option<Size>,
    /// `--memory-swap` (memory + swap; `-1` unlimited).
    pub memory_swap: Option<MemorySwap>,
    /// `--cpus` (e.g. `1.5`).
    pub cpus: Option<Cpus>,
    /// `--cpu-weight` (1..=10000).
    pub cpu_weight: Option<u64>,
    /// `--pids-limit`.
    pub pids_limit: Option<u64>,
    /// `--upper-size`: where a foreground image run keeps its writes (default: a tmpfs of
    /// [`DEFAULT_UPPER_SIZE`]).
    pub upper_size: Option<UpperSize>,
    /// `--restart`: what the monitor does when the container exits.
    #[serde(skip_serializing_if = "RestartPolicy::is_no")]
    pub restart: RestartPolicy,
    /// `-p/--publish`: host ports forwarded to the container's.
    #[serde(with = "values::publish_serde", skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<Publish>,
    /// `--publish-mode`: how (see [`RunConfig::publish_mode_resolved`]).
    #[serde(skip_serializing_if = "PublishMode::is_auto")]
    pub publish_mode: PublishMode,
}

/// The default `--upper-size`: a tmpfs of at most 1 GiB (and, being tmpfs, pages of memory
/// charged to the container's memory cgroup when it has a `--memory` limit).
pub const DEFAULT_UPPER_SIZE: u64 = 1 << 30;

fn toml_error(origin: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Toml {
        path: origin.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl RunConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<RunConfig, ConfigError> {
        Self::from_toml(&read_file(path)?, &path.display().to_string())
    }

    /// Parses TOML text (`origin` names it in errors, which have line and column).
    pub fn from_toml(text: &str, origin: &str) -> Result<RunConfig, ConfigError> {
        toml::from_str(text).map_err(|e| toml_error(origin, e))
    }

    /// Renders the settings as a config file that [`RunConfig::from_toml`] reads back the same.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The file (if any) with the flags over it: `flags` serializes to the file's keys; a flag
    /// that is unset (`None`), off (`false`: a flag can only switch a setting on) or an empty
    /// list was not given. A flag replaces the file's scalar and the file's `command`, and adds
    /// to the file's other lists; a `net` other than bridge drops the file's `bridge`.
    pub fn merge(file: Option<&Path>, flags: &impl Serialize) -> Result<RunConfig, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = read_file(path)?;
                let origin = path.display().to_string();
                // Typed first: errors (unknown keys, bad values) get their line and column.
                Self::from_toml(&text, &origin)?;
                text.parse::<toml::Table>()
                    .map_err(|e| toml_error(&origin, e))?
            }
            None => toml::Table::new(),
        };
        let flags = toml::Table::try_from(flags).map_err(|e| invalid(e.to_string()))?;
        if flags
            .get("net")
            .is_some_and(|n| n.as_str() != Some("bridge"))
        {
            table.remove("bridge");
        }
        for (key, value) in flags {
            let unset = match &value {
                toml::Value::Boolean(on) => !on,
                toml::Value::Array(list) => list.is_empty(),
                _ => false,
            };
            if unset {
                continue;
            }
            match (table.get_mut(&key), value) {
                (Some(toml::Value::Array(file)), toml::Value::Array(more)) if key != "command" => {
                    file.extend(more)
                }
                (_, value) => {
                    table.insert(key, value);
                }
            }
        }
        RunConfig::deserialize(table).map_err(|e| invalid(e.to_string()))
    }

    /// The resource limits (checked by [`RunConfig::validate`]).
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory.as_ref().map(|s| s.bytes),
            memory_swap: self.memory_swap.as_ref().and_then(MemorySwap::bytes),
            cpu_quota_us: self.cpus.as_ref().map(|c| c.quota_us),
            cpu_weight: self.cpu_weight,
            pids: self.pids_limit,
        }
    }

    /// How the mappings are published: `None` without any; [`PublishMode::Kernel`]
    /// (burrow-nic's DNAT rules) with `--publish-mode kernel`, or by default with `--net
    /// bridge`; [`PublishMode::User`] (the monitor's forwarder) with `--publish-mode user`, or
    /// by default with `--net none`. (`--net host` with mappings is refused by
    /// [`RunConfig::validate`]: `None` here.)
    pub fn publish_mode_resolved(&self) -> Option<PublishMode> {
        if self.publish.is_empty() {
            return None;
        }
        match self.net {
            NetMode::Host => None,
            _ => Some(self.effective_publish_mode()),
        }
    }

    /// [`RunConfig::publish_mode`] with auto resolved, whether or not there are mappings:
    /// kernel with `--net bridge`, user otherwise.
    pub fn effective_publish_mode(&self) -> PublishMode {
        match (self.publish_mode, self.net) {
            (PublishMode::Auto, NetMode::Bridge) => PublishMode::Kernel,
            (PublishMode::Auto, _) => PublishMode::User,
            (m, _) => m,
        }
    }

    /// Checks what can be checked without touching the system; the only way to a [`RunSpec`].
    pub fn validate(self) -> Result<RunSpec, ConfigError> {
        let limits = self.limits();
        limits.validate()?;
        let root = match (&self.rootfs, &self.image) {
            (Some(_), Some(i)) => {
                return Err(invalid(format!(
                    "both a rootfs and an image ({i}) are given: use one (--rootfs DIR, or IMAGE)"
                )))
            }
            (Some(r), None) => Root::Dir(r.clone()),
            (None, Some(i)) if i.is_empty() => return Err(invalid("empty image name")),
            (None, Some(i)) => Root::Image(i.clone()),
            (None, None) => {
                return Err(invalid(
                    "no root filesystem: give --rootfs DIR (or rootfs = \"DIR\" in the config file), or an IMAGE before the command",
                ))
            }
        };
        if self.entrypoint.is_some() && self.rootfs.is_some() {
            return Err(invalid(
                "--entrypoint needs an image (with --rootfs, give the command itself)",
            ));
        }
        if self.command.is_empty() && self.image.is_none() {
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
        if self.rm && self.restart != RestartPolicy::No {
            return Err(invalid(format!(
                "--rm and --restart {} conflict (a removed container cannot be restarted): use one of them",
                self.restart
            )));
        }
        if let Some(b) = &self.bridge {
            if self.net != NetMode::Bridge {
                return Err(invalid(format!(
                    "bridge \"{b}\" is set but the network mode is not bridge (use --net bridge={b})"
                )));
            }
            check_bridge_name(b)?;
        }
        if !self.publish.is_empty() && self.net == NetMode::Host {
            return Err(invalid(
                "-p/--publish with --net host: the container already uses the host's ports (its servers listen on the host directly); drop -p, or use --net bridge or --net none",
            ));
        }
        if self.publish_mode == PublishMode::Kernel && self.net != NetMode::Bridge {
            return Err(invalid(format!(
                "--publish-mode kernel needs --net bridge (burrow-nic forwards host ports to the container's bridge address; the network mode is {}): add --net bridge, or use --publish-mode user",
                self.net
            )));
        }
        burrow_usernet::ports::check_set(&self.publish).map_err(invalid)?;
        Ok(RunSpec {
            config: self,
            root,
            limits,
        })
    }
}

/// Where a container's root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A directory (`--rootfs`), as given.
    Dir(PathBuf),
    /// An image, as named (the front end resolves it).
    Image(String),
}

/// A validated [`RunConfig`]: made only by [`RunConfig::validate`], read-only after (but for
/// the name a created container is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    config: RunConfig,
    root: Root,
    limits: Limits,
}

impl RunSpec {
    /// The settings.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }
    /// Where the root comes from.
    pub fn root(&self) -> &Root {
        &self.root
    }
    /// The checked resource limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// Names the container (a created container gets a random name when it has none).
    pub fn set_name(&mut self, name: String) {
        self.config.name = Some(name);
    }
}

impl std::ops::Deref for RunSpec {
    type Target = RunConfig;
    fn deref(&self) -> &RunConfig {
        &self.config
    }
}
