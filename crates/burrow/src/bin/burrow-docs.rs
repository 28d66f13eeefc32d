//! `burrow-docs`: writes burrow's manual pages and shell completions, generated from the
//! same clap tree as `burrow` itself (src/cli.rs), so they never drift from its options.
//!
//! ```text
//! burrow-docs man DIR               burrow.1 and burrow-VERB.1 (burrow-admin-VERB.1) into DIR
//! burrow-docs completion SHELL      bash, zsh or fish completion script on stdout
//! ```
//!
//! A build-time tool (the quickstart and the packages run it), kept out of `burrow` so that
//! every container's `burrow` process does not carry the generators' code: they made the
//! front end's peak RSS about 360 KiB larger.
#![forbid(unsafe_code)]

#[allow(dead_code)]
#[path = "../cli.rs"]
mod cli;

use clap::CommandFactory;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["man", dir] => man_pages(Path::new(dir)),
        ["completion", shell] => completion(shell),
        _ => Err("usage: burrow-docs man DIR | burrow-docs completion bash|zsh|fish".to_owned()),
    };
    if let Err(e) = result {
        eprintln!("burrow-docs: {e}");
        std::process::exit(2);
    }
}

fn completion(shell: &str) -> Result<(), String> {
    let shell = match shell {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => return Err(format!("unknown shell {other:?} (bash, zsh or fish)")),
    };
    let mut cmd = cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "burrow", &mut std::io::stdout());
    Ok(())
}

fn man_pages(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut cmd = cli::Cli::command();
    cmd.build();
    write_tree(&cmd, "burrow", dir)
}

/// `name.1` for `cmd`, then one page per visible subcommand, named `name-VERB`.
fn write_tree(cmd: &clap::Command, name: &str, dir: &Path) -> Result<(), String> {
    // clap names are &'static str without its "string" feature (which `burrow` does not
    // need): this one-shot tool leaks its few page names.
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let page = cmd.clone().name(leaked);
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| format!("cannot render {name}(1): {e}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", path.display());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() != "help" {
            write_tree(sub, &format!("{name}-{}", sub.get_name()), dir)?;
        }
    }
    Ok(())
}
