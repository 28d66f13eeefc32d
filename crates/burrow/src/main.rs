//! `burrow`: the command line. Thin: parse, merge with the config file, call the runtime,
//! print one error line, exit with the container's status.
#![forbid(unsafe_code)]

use burrow_config::{
    CapPolicy, ConfigError, EnvVar, NetMode, RunConfig, Seccomp, Ulimit, User, Volume,
};
use clap::{Args, Parser, Subcommand};

mod admin;
mod doctor;
mod network;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "burrow",
    version,
    about = "Rootless containers for ordinary users",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in a new container.
    Run(RunArgs),
    /// Create a container (started later with `burrow start`).
    Create(RunArgs),
    /// Start a created or stopped container.
    Start {
        /// Attach to it (its terminal with -t, else its output) until it exits.
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
    /// Show a container's configuration and state as JSON.
    Inspect {
        /// Container name.
        name: String,
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
#[derive(Debug, Args)]
struct ProcessArgs {
    /// Keep stdin open and connected to the container.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (NAME=VALUE); repeatable.
    #[arg(short, long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// User (numeric UID[:GID] inside the container).
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Root filesystem directory of the container.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Container name (also the default hostname).
    #[arg(long)]
    name: Option<String>,
    /// Remove the container when it exits (nothing is kept for a foreground run).
    #[arg(long)]
    rm: bool,
    /// Run in the background under a monitor and print the container's name.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    process: ProcessArgs,
    /// Hostname of the container.
    #[arg(long)]
    hostname: Option<String>,
    /// Bind mount SRC:DST[:ro] (nosuid, nodev); repeatable.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// Network: none (private namespace, loopback only; default), host (shares the host's),
    /// or bridge[=BRIDGE] (a veth on BRIDGE, default your per-user bridge burrow%u, made by the
    /// setuid burrow-nic as /etc/burrow/usernet allows; eth0, address, route and DNS set up).
    #[arg(long, value_name = "none|host|bridge[=BRIDGE]")]
    net: Option<String>,
    /// Capability policy to start from: default, deny or allow.
    #[arg(long, value_name = "default|deny|allow")]
    cap_policy: Option<String>,
    /// Add a capability (net_raw or CAP_NET_RAW); repeatable.
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability; repeatable.
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Seccomp filter: default, unconfined or a profile FILE.
    #[arg(long, value_name = "default|unconfined|FILE")]
    seccomp: Option<String>,
    /// Resource limit NAME=SOFT[:HARD] (e.g. nofile=1024:4096); repeatable.
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// Run a tiny init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// Id mapping: shared (container 0 = you, 1.. = your subordinate range) or auto[:SIZE] (a
    /// slice of your range that no other running container uses).
    #[arg(long, value_name = "shared|auto[:SIZE]")]
    idmap: Option<String>,
    /// Memory limit (e.g. 512m, 2g); needs a delegated cgroup.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Memory plus swap limit (docker's meaning; -1 = unlimited swap).
    #[arg(long, value_name = "SIZE")]
    memory_swap: Option<String>,
    /// CPU quota in cpus (e.g. 1.5).
    #[arg(long, value_name = "N")]
    cpus: Option<String>,
    /// Relative CPU weight, 1..10000 (default 100).
    #[arg(long, value_name = "W")]
    cpu_weight: Option<u64>,
    /// Most processes and threads at once.
    #[arg(long, value_name = "N")]
    pids_limit: Option<u64>,
    /// A TOML file with the same settings (flags override it; list flags add to it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// The command to run and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

fn parse_list<T: std::str::FromStr<Err = ConfigError>>(
    v: &[String],
) -> Result<Vec<T>, ConfigError> {
    v.iter().map(|s| s.parse()).collect()
}

impl RunArgs {
    fn merge(self) -> Result<RunConfig, ConfigError> {
        let mut c = match &self.config {
            Some(p) => RunConfig::from_file(p)?,
            None => RunConfig::default(),
        };
        if self.rootfs.is_some() {
            c.rootfs = self.rootfs;
        }
        if !self.command.is_empty() {
            c.command = self.command;
        }
        c.name = self.name.or(c.name);
        c.hostname = self.hostname.or(c.hostname);
        let p = self.process;
        c.workdir = p.workdir.or(c.workdir);
        if let Some(u) = p.user {
            c.user = Some(u.parse::<User>()?);
        }
        c.env.extend(parse_list::<EnvVar>(&p.env)?);
        c.volumes.extend(parse_list::<Volume>(&self.volume)?);
        c.ulimits.extend(parse_list::<Ulimit>(&self.ulimit)?);
        c.cap_add.extend(self.cap_add);
        c.cap_drop.extend(self.cap_drop);
        if let Some(n) = self.net {
            let (mode, bridge) = burrow_config::parse_net(&n)?;
            c.net = mode;
            if bridge.is_some() || mode != NetMode::Bridge {
                c.bridge = bridge;
            }
        }
        if let Some(p) = self.cap_policy {
            c.cap_policy = p.parse::<CapPolicy>()?;
        }
        if let Some(s) = self.seccomp {
            c.seccomp = s.parse::<Seccomp>()?;
        }
        c.memory = self.memory.or(c.memory);
        c.memory_swap = self.memory_swap.or(c.memory_swap);
        c.cpus = self.cpus.or(c.cpus);
        c.cpu_weight = self.cpu_weight.or(c.cpu_weight);
        c.pids_limit = self.pids_limit.or(c.pids_limit);
        c.limits()?;
        if let Some(m) = self.idmap {
            c.idmap = m.parse::<burrow_config::IdMap>()?;
        }
        c.read_only |= self.read_only;
        c.init |= self.init;
        c.tty |= p.tty;
        c.interactive |= p.interactive;
        c.rm |= self.rm;
        c.log_level = self.log_level.or(c.log_level);
        Ok(c)
    }
}

fn init_logging(level: Option<&str>) -> Result<(), String> {
    let filter = match level.unwrap_or("warn") {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        other => {
            return Err(format!(
                "unknown log level \"{other}\": use error, warn, info, debug or trace"
            ))
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_max_level(filter)
        .init();
    Ok(())
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
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
    },
    /// Remove USER's subordinate ranges and cgroup delegation (idempotent).
    RemoveUser {
        /// Login name.
        user: String,
    },
    /// Report on the host.
    Check,
}

type Res = Result<i32, burrow_runtime::Error>;

fn fail(msg: impl std::fmt::Display) -> burrow_runtime::Error {
    burrow_runtime::Error {
        code: 125,
        msg: msg.to_string(),
    }
}

fn each(names: &[String], f: impl Fn(&str) -> Result<(), burrow_runtime::Error>) -> Res {
    let mut code = 0;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("burrow: {}", e.msg);
                code = e.code;
            }
        }
    }
    Ok(code)
}

fn dispatch(cmd: Command) -> Res {
    use burrow_runtime::{exec, lifecycle, monitor};
    match cmd {
        Command::Run(args) => {
            let detach = args.detach;
            let config = args.merge().map_err(fail)?;
            init_logging(config.log_level.as_deref()).map_err(fail)?;
            if detach {
                if config.interactive && !config.tty {
                    return Err(fail(
                        "-d with -i but without -t: a detached container has no stdin to read",
                    ));
                }
                let name = monitor::run_detached(config)?;
                println!("{name}");
                Ok(0)
            } else {
                burrow_runtime::run(&burrow_runtime::Spec { config })
            }
        }
        Command::Create(args) => {
            let config = args.merge().map_err(fail)?;
            init_logging(config.log_level.as_deref()).map_err(fail)?;
            println!("{}", monitor::create(config)?);
            Ok(0)
        }
        Command::Start { attach, name } => {
            monitor::start(&name)?;
            if !attach {
                println!("{name}");
                return Ok(0);
            }
            let tty = burrow_runtime::state::Dir::open(&name)?.read()?.tty;
            if tty {
                Ok(monitor::attach(&name)?.unwrap_or(0))
            } else {
                lifecycle::logs(&name, true)?;
                let st = burrow_runtime::state::Dir::open(&name).and_then(|d| d.current());
                Ok(st.ok().and_then(|s| s.exit_code).unwrap_or(0))
            }
        }
        Command::Ls { all, format } => {
            let rows = lifecycle::list(all)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&rows).map_err(fail)?),
                "table" => print!("{}", lifecycle::table(&rows)),
                other => {
                    return Err(fail(format!(
                        "unknown format \"{other}\": use table or json"
                    )))
                }
            }
            Ok(0)
        }
        Command::Exec {
            process: p,
            name,
            command,
        } => {
            let env = parse_list::<EnvVar>(&p.env).map_err(fail)?;
            let user = p
                .user
                .map(|u| u.parse::<User>())
                .transpose()
                .map_err(fail)?;
            let opts = exec::ExecOptions {
                command,
                env,
                workdir: p.workdir,
                user,
                tty: p.tty,
                interactive: p.interactive,
            };
            exec::exec(&name, opts)
        }
        Command::Attach { name } => Ok(monitor::attach(&name)?.unwrap_or(0)),
        Command::Logs { follow, name } => lifecycle::logs(&name, follow).map(|()| 0),
        Command::Stop { time, names } => each(&names, |n| {
            lifecycle::stop(n, std::time::Duration::from_secs(time))
        }),
        Command::Kill { signal, names } => {
            let sig = lifecycle::parse_signal(&signal)?;
            each(&names, |n| lifecycle::kill(n, sig))
        }
        Command::Rm { force, names } => each(&names, |n| lifecycle::remove(n, force)),
        Command::Inspect { name } => {
            println!("{}", lifecycle::inspect(&name)?);
            Ok(0)
        }
        Command::Unshare { command } => burrow_runtime::unshare(command),
        Command::Admin { command } => {
            let cgroups = admin::HostCgroups;
            match command {
                AdminCommand::AddUser {
                    user,
                    count,
                    base,
                    reserve,
                    nics,
                } => {
                    print!(
                        "{}",
                        admin::add_user(
                            &admin::AddUser {
                                user,
                                count,
                                base,
                                reserve,
                                nics
                            },
                            &cgroups
                        )?
                    );
                    Ok(0)
                }
                AdminCommand::RemoveUser { user } => {
                    print!("{}", admin::remove_user(&user, &cgroups)?);
                    Ok(0)
                }
                AdminCommand::Check => {
                    let r = admin::check(&cgroups);
                    print!("{r}");
                    Ok(r.exit_code())
                }
            }
        }
        Command::Doctor => {
            let r = doctor::doctor(&admin::HostCgroups);
            print!("{r}");
            Ok(r.exit_code())
        }
        Command::Stats { name } => {
            print!("{}", lifecycle::stats(&name)?);
            Ok(0)
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("burrow: {}", e.msg);
            e.code
        }
    };
    std::process::exit(code)
}
