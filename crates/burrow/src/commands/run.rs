//! `burrow run`: the flags over the `--config` file, validated once, then a foreground run or
//! a detached one (`-d`, which prints the name).

use super::{fail, Res};
use crate::cli::RunArgs;
use burrow_config::RunConfig;
use burrow_runtime::monitor;

/// The `run`/`create` options over the `--config` file; sets up logging at their level.
pub fn merge(args: &RunArgs) -> Result<RunConfig, burrow_runtime::Error> {
    let config = RunConfig::merge(args.config.as_deref(), args).map_err(fail)?;
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
