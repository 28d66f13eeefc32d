//! The command line: clap's tree of commands and options. `run` and `create` options are typed
//! at parse time (each value parses with burrow-config's `FromStr`) and serialize to the
//! config file's keys, which is how they are merged over a `--config` file.

use burrow_config::{
    CapPolicy, ConfigError, Cpus, EnvVar, IdMap, IdOrName, LogLevel, MemorySwap, Net, PublishMode,
    Seccomp, SecurityOpt, Size, Ulimit, UpperSize, UserSpec, Volume,
};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "burrow",
    version,
    about = "Rootless containers for ordinary users",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in a new container.
    Run(RunArgs),
    /// Create a container (started later with `burrow start`).
    Create(RunArgs),
    /// Start a created or stopped container.
    Start {
        /// Attach to it (its terminal with -t, else its output) until it stops for good,
        /// through restarts: what this start prints, then its exit status.
        #[arg(short, long)]
        attach: bool,
        /// Container name.
        name: String,
    },
    /// List containers.
    #[command(alias = "ps")]
    Ls {
        /// Include stopped and created containers.
        #[arg(short, long)]
        all: bool,
        /// Output format: table or json.
        #[arg(long, default_value = "table", value_name = "table|json")]
        format: String,
    },
    /// Run a command in a running container.
    Exec {
        #[command(flatten)]
        process: ProcessArgs,
        /// Container name.
        name: String,
        /// Command and arguments.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Connect the terminal to a running container started with -t (detach: ctrl-p ctrl-q).
    Attach {
        /// Container name.
        name: String,
    },
    /// Print the output of a detached container.
    Logs {
        /// Keep printing new output until the container stops.
        #[arg(short, long)]
        follow: bool,
        /// Container name.
        name: String,
    },
    /// Stop a container: SIGTERM, then SIGKILL after a timeout.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
        time: u64,
        /// Container names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to a container's main process.
    Kill {
        /// Signal name or number.
        #[arg(short, long, default_value = "KILL", value_name = "SIG")]
        signal: String,
        /// Container names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill running containers first.
        #[arg(short, long)]
        force: bool,
        /// Container names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List a container's published ports (podman's form: 80/tcp -> 0.0.0.0:8080).
    Port {
        /// Container name.
        name: String,
        /// Only this container port: PORT or PORT/PROTO (default protocol tcp).
        #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
        private_port: Option<String>,
    },
    /// Show a container's configuration and state as JSON.
    Inspect {
        /// Container name.
        name: String,
    },
    /// Generate files for other tools: systemd units.
    Generate {
        #[command(subcommand)]
        command: GenerateCommand,
    },
    /// Host administration (root): subordinate ids, cgroup delegation, host check.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// What you can do with burrow here, what does not work and how to fix it.
    Doctor,
    /// Show a running container's resource use (memory, cpu time, pids) from its cgroup.
    Stats {
        /// Container name.
        name: String,
    },
    /// Pull an image from a registry into your image storage.
    Pull(PullArgs),
    /// List the images in your storage.
    Images {
        /// Output format: table or json.
        #[arg(long, default_value = "table", value_name = "table|json")]
        format: String,
    },
    /// Remove images (a name, or the image when given its id or last name).
    Rmi {
        /// Remove even an image a container was created from.
        #[arg(short, long)]
        force: bool,
        /// Image names or ids.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Manage images: pull, ls, rm, inspect, prune, import.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Save credentials for a registry (checked against it first).
    Login {
        /// User name (asked for on a terminal when missing).
        #[arg(short, long, value_name = "USER")]
        username: Option<String>,
        /// Password (visible in `ps`: prefer --password-stdin).
        #[arg(short, long, value_name = "PASSWORD")]
        password: Option<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Trust the CA certificates (*.crt) in DIR for this registry.
        #[arg(long, value_name = "DIR")]
        cert_dir: Option<PathBuf>,
        /// false: do not check the registry's TLS certificate, and allow plain HTTP (as podman).
        #[arg(long, value_name = "true|false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        tls_verify: Option<bool>,
        /// Registry (HOST[:PORT]).
        registry: String,
    },
    /// Remove the saved credentials of a registry.
    Logout {
        /// Registry (HOST[:PORT]).
        registry: String,
    },
    /// Run a command (default: your shell) as root of a user namespace with your container id
    /// map, e.g. to fix file ownership in a rootfs.
    Unshare {
        /// Command and arguments.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
}

/// What `run` and `exec` share: how the command's process is set up.
#[derive(Debug, Args, Serialize)]
pub struct ProcessArgs {
    /// Keep stdin open and connected to the container.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (NAME=VALUE); repeatable.
    #[arg(short, long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<EnvVar>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User inside the container: USER[:GROUP], names (from the container's /etc/passwd and
    /// /etc/group) or numbers.
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<UserSpec>,
    /// Add a supplementary group (a name from the container's /etc/group, or a gid) to the
    /// user's own groups (those of its /etc/group entries); repeatable.
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<IdOrName>,
}

// `run` and `create` options. Serialized, they are the config file's keys (a flag has the name
// of its key), which is how `RunConfig::merge` puts them over a `--config` file.
#[derive(Debug, Args, Serialize)]
pub struct RunArgs {
    /// Root filesystem directory of the container (without it, the first argument is the
    /// IMAGE, from `burrow images`).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// With an image: the command that replaces its Entrypoint (a JSON array for several
    /// words; "" for none); the image's Cmd is then not used.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Container name (also the default hostname).
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits (nothing is kept for a foreground run).
    #[arg(long)]
    pub rm: bool,
    /// Restart policy of a detached container: no (default), on-failure[:N] (non-zero exit;
    /// N: most retries), always, or unless-stopped; the monitor restarts it after a growing
    /// delay, never after burrow stop or kill (docs/services.md).
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<burrow_config::RestartPolicy>,
    /// Run in the background under a monitor and print the container's name.
    #[arg(short, long)]
    #[serde(skip)]
    pub detach: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub process: ProcessArgs,
    /// Hostname of the container.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Bind mount SRC:DST[:ro] (nosuid, nodev); repeatable.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<Volume>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Network: none (private namespace, loopback only; default), host (shares the host's),
    /// or bridge[=BRIDGE] (a veth on BRIDGE, default your per-user bridge burrow%u, made by the
    /// setuid burrow-nic as /etc/burrow/usernet allows; eth0, address, route and DNS set up).
    #[arg(long, value_name = "none|host|bridge[=BRIDGE]")]
    #[serde(flatten)]
    pub net: Option<Net>,
    /// Publish container ports on the host: [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]
    /// (e.g. 8080:80, 127.0.0.1:5353:53/udp, [::1]:8080:80: an IPv6 HOSTIP in brackets; no
    /// HOSTIP is every address of both families, 0.0.0.0 every IPv4 one and [::] every IPv6
    /// one); repeatable. With --net bridge, burrow-nic
    /// forwards them in the kernel, for host ports the admin granted you in
    /// /etc/burrow/usernet; with --net none (or --publish-mode user), a forwarder in the
    /// container's monitor does (the container then sees it, not the client, as the peer).
    #[arg(short = 'p', long, value_name = "[HOSTIP:]HOSTPORT:CTRPORT[/PROTO]", value_parser = burrow_config::parse_publish)]
    pub publish: Vec<String>,
    /// How -p is done: kernel (DNAT by burrow-nic; needs --net bridge and a port grant) or
    /// user (a forwarder in the monitor; no grant); default: kernel with --net bridge, user
    /// with --net none.
    #[arg(long, value_name = "user|kernel")]
    pub publish_mode: Option<PublishMode>,
    /// Capability policy to start from: default, deny or allow.
    #[arg(long, value_name = "default|deny|allow")]
    pub cap_policy: Option<CapPolicy>,
    /// Add a capability (net_raw or CAP_NET_RAW); repeatable.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability; repeatable.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Seccomp filter: default, unconfined or a profile FILE.
    #[arg(long, value_name = "default|unconfined|FILE")]
    pub seccomp: Option<Seccomp>,
    /// Security options, podman's spelling: apparmor=PROFILE|unconfined (default: burrow's
    /// profile burrow-default where AppArmor is enabled and it is loaded),
    /// seccomp=unconfined|FILE, no-new-privileges, label=disable; repeatable.
    #[arg(long = "security-opt", value_name = "KEY=VALUE")]
    #[serde(skip)]
    pub security_opt: Vec<SecurityOpt>,
    /// Resource limit NAME=SOFT[:HARD] (e.g. nofile=1024:4096); repeatable.
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<Ulimit>,
    /// Run a tiny init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Id mapping: shared (container 0 = you, 1.. = your subordinate range), auto[:SIZE] (a
    /// slice of your range that no other running container uses) or keep-id (your uid and gid
    /// are the same inside, the other ids come from your range; podman's --userns=keep-id).
    /// With an image, auto and keep-id use a copy of its layers with shifted owners, made on
    /// first use per map and reused.
    #[arg(long, value_name = "shared|auto[:SIZE]|keep-id")]
    pub idmap: Option<IdMap>,
    /// Memory limit (e.g. 512m, 2g); needs a delegated cgroup.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<Size>,
    /// Memory plus swap limit (docker's meaning; -1 = unlimited swap).
    #[arg(long, value_name = "SIZE")]
    pub memory_swap: Option<MemorySwap>,
    /// CPU quota in cpus (e.g. 1.5).
    #[arg(long, value_name = "N")]
    pub cpus: Option<Cpus>,
    /// Relative CPU weight, 1..10000 (default 100).
    #[arg(long, value_name = "W")]
    pub cpu_weight: Option<u64>,
    /// Most processes and threads at once.
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<u64>,
    /// A foreground image run (without -d): what its container writes is kept in memory, in a
    /// tmpfs of at most SIZE (default 1g; writes past it fail with ENOSPC), and goes with the
    /// run; `disk` keeps it in a directory beside the containers' instead.
    #[arg(long, value_name = "SIZE|disk")]
    pub upper_size: Option<UpperSize>,
    /// A TOML file with the same settings (flags override it; list flags add to it).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    /// IMAGE (unless --rootfs is given), then the command to run and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "[IMAGE] COMMAND"
    )]
    pub command: Vec<String>,
}

/// `burrow pull` and `burrow image pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Platform OS/ARCH[/VARIANT] to pull from a multi-platform image (default: this host's).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Trust the CA certificates (*.crt) in DIR for this registry.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// false: do not check the registry's TLS certificate, and allow plain HTTP (as podman).
    #[arg(long, value_name = "true|false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Image reference: [REGISTRY/]REPOSITORY[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image from a registry (same as `burrow pull`).
    Pull(PullArgs),
    /// List images (same as `burrow images`).
    #[command(alias = "list")]
    Ls {
        /// Output format: table or json.
        #[arg(long, default_value = "table", value_name = "table|json")]
        format: String,
    },
    /// Remove images (same as `burrow rmi`).
    Rm {
        /// Remove even an image a container was created from.
        #[arg(short, long)]
        force: bool,
        /// Image names or ids.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Show an image as JSON: id, digest, names, config, layers, size.
    Inspect {
        /// Image name or id.
        #[arg(value_name = "IMAGE")]
        image: String,
    },
    /// Remove unnamed images no container uses, and every layer and blob no image uses.
    Prune,
    /// Internal (run by `burrow run IMAGE --idmap auto|keep-id` in the store writers' user
    /// namespace): makes the image's layers with owners moved to another id map.
    #[command(hide = true)]
    Shift {
        /// The map's name in storage.
        #[arg(long)]
        key: String,
        /// Uid lines I:O:C,... (container id, id here, count).
        #[arg(long)]
        uid_map: String,
        /// Gid lines likewise.
        #[arg(long)]
        gid_map: String,
        /// A directory to create (if missing) owned by the container's root.
        #[arg(long)]
        own_dir: Vec<PathBuf>,
        /// Image id.
        image: String,
    },
    /// Import an OCI layout, an oci-archive, a docker-archive, a root filesystem tarball or a
    /// directory.
    Import {
        /// Name the image NAME[:TAG].
        #[arg(long, value_name = "NAME[:TAG]")]
        name: Option<String>,
        /// What to import.
        #[arg(value_name = "SOURCE")]
        source: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Print a systemd user unit container-NAME.service that starts and stops a container
    /// (docs/services.md).
    Systemd {
        /// systemd's Restart= (default on-failure for a container with --restart no; a
        /// container with another policy restarts itself and the unit only a killed monitor).
        #[arg(long, value_name = "POLICY")]
        restart_policy: Option<String>,
        /// Seconds `burrow stop` waits before SIGKILL in ExecStop= (default 10).
        #[arg(short = 't', long = "time", value_name = "SECS")]
        time: Option<u64>,
        /// Write container-NAME.service into the current directory (and print its path).
        #[arg(short, long)]
        files: bool,
        /// Name the unit after the container's name (always so; podman's flag).
        #[arg(short, long)]
        name: bool,
        /// Container name.
        #[arg(value_name = "NAME")]
        container: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Give USER subordinate uid and gid ranges (idempotent) and prepare cgroup delegation.
    AddUser {
        /// Login name.
        user: String,
        /// Number of ids (default 65536).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Lowest id to allocate from (default SUB_UID_MIN of /etc/login.defs, else 100000).
        #[arg(long, value_name = "B")]
        base: Option<u64>,
        /// Never allocate these ids; repeatable; adds to /etc/burrow/subid-reserved.
        #[arg(long, value_name = "FIRST-LAST")]
        reserve: Vec<String>,
        /// Nics USER may have on their per-user bridge (a `USER veth burrow%u N` line in
        /// /etc/burrow/usernet, written if USER has none; default 4).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=65535))]
        nics: Option<u32>,
        /// Host ports USER may publish with --net bridge -p (the line `USER ports LIST` of
        /// /etc/burrow/usernet, replacing USER's own; LIST e.g. 8000-8099,443); `none` removes
        /// the line.
        #[arg(long, value_name = "LIST|none")]
        ports: Option<String>,
        /// Also enable lingering (loginctl enable-linger USER; needs systemd-logind), so
        /// USER's enabled units (burrow generate systemd) start at boot without a login.
        #[arg(long)]
        linger: bool,
    },
    /// Remove USER's subordinate ranges and cgroup delegation (idempotent).
    RemoveUser {
        /// Login name.
        user: String,
    },
    /// Report on the host.
    Check,
}

/// Parses the command line. A value that burrow-config refuses is reported as burrow's own
/// error (`burrow: MESSAGE`, status 125); clap reports everything else.
pub fn parse() -> Cli {
    Cli::try_parse().unwrap_or_else(|e| {
        let ours = (e.kind() == clap::error::ErrorKind::ValueValidation)
            .then(|| std::error::Error::source(&e))
            .flatten()
            .and_then(|s| s.downcast_ref::<ConfigError>());
        match ours {
            Some(c) => {
                eprintln!("burrow: {c}");
                std::process::exit(125)
            }
            None => e.exit(),
        }
    })
}
