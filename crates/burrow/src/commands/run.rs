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
/// Without a rootfs (flag or file) and an image in the file, the first argument is the IMAGE.
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
    let mut config = RunConfig::merge(args.config.as_deref(), &flags).map_err(fail)?;
    crate::observability::init(config.log_level);
    // An image reference never starts with '/' or '.': such a first argument is a command
    // given without --rootfs (validate says what is missing).
    if config.rootfs.is_none()
        && config.image.is_none()
        && config
            .command
            .first()
            .is_some_and(|c| !c.starts_with('/') && !c.starts_with('.'))
    {
        config.image = Some(config.command.remove(0));
    }
    Ok(config)
}

/// The image of a validated spec, resolved in the store (nothing is opened for `--rootfs`).
pub fn image_of(
    spec: &burrow_config::RunSpec,
) -> Result<Option<burrow_runtime::image::ImageRoot>, burrow_runtime::Error> {
    match spec.root() {
        burrow_config::Root::Image(name) => crate::image_root::resolve(name).map(Some),
        burrow_config::Root::Dir(_) => Ok(None),
    }
}

pub fn run(args: RunArgs) -> Res {
    let config = merge(&args)?;
    if args.detach && config.interactive && !config.tty {
        return Err(fail(
            "-d with -i but without -t: a detached container has no stdin to read",
        ));
    }
    let spec = config.validate().map_err(fail)?;
    if !args.detach && !spec.restart.is_no() {
        return Err(fail(format!(
            "--restart {} needs a detached container (its monitor restarts it): add -d, or use burrow create then burrow start",
            spec.restart
        )));
    }
    let image = image_of(&spec)?;
    if args.detach {
        println!("{}", monitor::run_detached(spec, image.as_ref())?);
        Ok(0)
    } else {
        burrow_runtime::run(&spec, image.as_ref())
    }
}
