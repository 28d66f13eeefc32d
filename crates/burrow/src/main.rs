//! `burrow`: the command line. Thin: parse ([`cli`]), run one command ([`commands`]), print
//! its error once, exit with its status (the container's, or 125 for burrow's own errors).
#![forbid(unsafe_code)]

mod admin;
mod cgroup_setup;
mod cli;
mod commands;
mod doctor;
mod image_root;
mod linger;
mod observability;
mod probes;
mod report;
mod usernet;

fn main() {
    let cli = cli::parse();
    let code = match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("burrow: {}", e.msg);
            e.code
        }
    };
    std::process::exit(code)
}
