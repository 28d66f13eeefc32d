//! `burrow run`: the flags over the `--config` file, validated once, then a foreground run or
//! a detached one (`-d`, which prints the name).

use super::{fail, Res};
use crate::cli::RunArgs;
use burrow_config::{AppArmor, RunConfig, Seccomp, SecurityOpt};
use burrow_runtime::monitor;

/// The flags as config keys: `RunArgs` itself plus what `--security-opt` sets.
#[derive(serde::Serialize)]
struct Flags<'a> {
    #[serde(flatten)]
    args: &'a RunArgs,
    #[serde(skip_serializing_if = "Option::is_none")]
    apparmor: Option<&'a AppArmor>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "seccomp")]
    seccomp_opt: Option<&'a Seccomp>,
}

/// The `run`/`create` options over the `--config` file; sets up logging at their level.
pub fn merge(args: &RunArgs) -> Result<RunConfig, burrow_runtime::Error> {
    let mut flags = Flags {
        args,
        apparmor: None,
        seccomp_opt: None,
    };
    for o in &args.security_opt {
        match o {
            SecurityOpt::AppArmor(a) => flags.apparmor = Some(a),
            SecurityOpt::Seccomp(s) if args.seccomp.is_some() => {
                return Err(fail(format!(
                    "--security-opt seccomp={s} and --seccomp both given: give one"
                )))
            }
            SecurityOpt::Seccomp(s) => flags.seccomp_opt = Some(s),
            SecurityOpt::NoNewPrivileges | SecurityOpt::LabelDisable => {}
        }
    }
    let config = RunConfig::merge(args.config.as_deref(), &flags).map_err(fail)?;
    crate::observability::init(config.log_level);
    Ok(config)
}

pub fn run(args: RunArgs) -> Res {
    let config = merge(&args)?;
    if args.detach && config.interactive && !config.tty {
        return Err(fail(
            "-d with -i but without -t: a detached container has no stdin to read",
        ));
    }
    let spec = config.validate().map_err(fail)?;
    if args.detach {
        println!("{}", monitor::run_detached(spec)?);
        Ok(0)
    } else {
        burrow_runtime::run(&spec)
    }
}
