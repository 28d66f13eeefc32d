//! `burrow completion SHELL` (podman's name for it) and the hidden `burrow generate-man DIR`:
//! both generated from the clap tree in [`crate::cli`], so they never drift from the options.

use super::{fail, Res};
use crate::cli::Cli;
use clap::CommandFactory;
use std::path::Path;

/// Prints the completion script for `shell` on stdout.
pub fn completion(shell: clap_complete::Shell) -> Res {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "burrow", &mut std::io::stdout());
    Ok(0)
}

/// Writes `burrow.1` and `burrow-VERB.1` (and `burrow-admin-VERB.1`) for every visible
/// subcommand into `dir`; prints the names written.
pub fn man_pages(dir: &Path) -> Res {
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let mut cmd = Cli::command();
    cmd.build();
    write_tree(&cmd, "burrow", dir)?;
    Ok(0)
}

fn write_tree(cmd: &clap::Command, name: &str, dir: &Path) -> Result<(), burrow_runtime::Error> {
    let page = cmd.clone().name(name.to_owned());
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| fail(format!("cannot render {name}(1): {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, out).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_tree(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
