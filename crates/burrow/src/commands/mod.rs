//! One module per subcommand, each a short function from its options to an exit status: it
//! calls the runtime (or the admin and doctor modules) and renders what comes back.

mod admin;
mod attach;
mod create;
mod doctor;
mod exec;
mod generate;
mod image;
mod inspect;
mod kill;
mod logs;
mod ls;
mod port;
mod rm;
mod run;
mod start;
mod stats;
mod stop;
mod unshare;

use crate::cli::{Command, GenerateCommand, ImageCommand};
use burrow_runtime::Error;

/// A command's exit status, or the error `main` prints.
pub type Res = Result<i32, Error>;

/// burrow's own error (status 125).
pub fn fail(msg: impl std::fmt::Display) -> Error {
    burrow_runtime::err(msg.to_string())
}

/// Runs `f` on each name: prints the name when it worked, the error when not; the status is
/// the last error's.
fn each(names: &[String], f: impl Fn(&str) -> Result<(), Error>) -> Res {
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

/// Runs one command.
pub fn dispatch(cmd: Command) -> Res {
    // run and create know their log level once their configuration is merged.
    if !matches!(cmd, Command::Run(_) | Command::Create(_)) {
        crate::observability::init(None);
    }
    match cmd {
        Command::Run(args) => run::run(args),
        Command::Create(args) => create::create(args),
        Command::Start { attach, name } => start::start(attach, &name),
        Command::Ls { all, format } => ls::ls(all, &format),
        Command::Exec {
            process,
            name,
            command,
        } => exec::exec(process, &name, command),
        Command::Attach { name } => attach::attach(&name),
        Command::Logs { follow, name } => logs::logs(follow, &name),
        Command::Stop { time, names } => stop::stop(time, &names),
        Command::Kill { signal, names } => kill::kill(&signal, &names),
        Command::Rm { force, names } => rm::rm(force, &names),
        Command::Inspect { name } => inspect::inspect(&name),
        Command::Port { name, private_port } => port::port(&name, private_port.as_deref()),
        Command::Generate {
            command:
                GenerateCommand::Systemd {
                    restart_policy,
                    time,
                    files,
                    name: _,
                    container,
                },
        } => generate::systemd(restart_policy.as_deref(), time, files, &container),
        Command::Stats { name } => stats::stats(&name),
        Command::Unshare { command } => unshare::unshare(command),
        Command::Admin { command } => admin::admin(command),
        Command::Doctor => doctor::doctor(),
        Command::Pull(a) => image::pull(a),
        Command::Images { format } => image::images(&format),
        Command::Rmi { force, images } => image::rmi(force, &images),
        Command::Image { command } => match command {
            ImageCommand::Pull(a) => image::pull(a),
            ImageCommand::Ls { format } => image::images(&format),
            ImageCommand::Rm { force, images } => image::rmi(force, &images),
            ImageCommand::Inspect { image } => image::inspect(&image),
            ImageCommand::Prune => image::prune(),
            ImageCommand::Shift {
                key,
                uid_map,
                gid_map,
                own_dir,
                image,
            } => image::shift(&key, &uid_map, &gid_map, &own_dir, &image),
            ImageCommand::Import { name, source } => image::import(name.as_deref(), &source),
        },
        Command::Login {
            username,
            password,
            password_stdin,
            cert_dir,
            tls_verify,
            registry,
        } => image::login(image::LoginArgs {
            username,
            password,
            password_stdin,
            cert_dir,
            tls_verify,
            registry,
        }),
        Command::Logout { registry } => image::logout(&registry),
    }
}
