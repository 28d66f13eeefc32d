//! `burrow exec NAME COMMAND...`.

use super::Res;
use crate::cli::ProcessArgs;
use burrow_runtime::exec::{self, ExecOptions};

pub fn exec(p: ProcessArgs, name: &str, command: Vec<String>) -> Res {
    exec::exec(
        name,
        ExecOptions {
            command,
            env: p.env,
            workdir: p.workdir,
            user: p.user,
            group_add: p.group_add,
            tty: p.tty,
            interactive: p.interactive,
        },
    )
}
