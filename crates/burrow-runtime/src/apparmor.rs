//! AppArmor: the container's processes change to the profile (`--security-opt apparmor=`,
//! by default burrow's `burrow-default` where AppArmor is enabled and that profile is loaded)
//! as the last step before the command's exec. Any task may enter a loaded profile; only root
//! may load one, so burrow applies what the packages installed and never loads policy.

use crate::{err, Error};
use burrow_config::{AppArmor, DEFAULT_APPARMOR_PROFILE};
use std::io::Write;

/// The file where a task asks for its own AppArmor transition: the per-LSM one (kernel >= 5.8),
/// else the shared one.
const ATTR_DIRS: [&str; 2] = ["/proc/self/attr/apparmor", "/proc/self/attr"];

/// Whether AppArmor is enabled on this host (`/sys/module/apparmor/parameters/enabled`).
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|t| t.trim() == "Y")
}

/// Changes the calling task to the profile `a` asks for, at once. `Default` does it when the
/// profile is loaded and silently stays unconfined otherwise (`burrow doctor` says which);
/// a named profile that cannot be entered is an error that says why.
pub(crate) fn confine(a: &AppArmor) -> Result<(), Error> {
    let name = match a {
        AppArmor::Unconfined => return Ok(()),
        AppArmor::Default => DEFAULT_APPARMOR_PROFILE,
        AppArmor::Profile(p) => p.as_str(),
    };
    match change_profile(name) {
        Ok(()) => Ok(()),
        Err(_) if *a == AppArmor::Default => Ok(()),
        Err(e) => Err(err(explain(name, &e))),
    }
}

fn change_profile(name: &str) -> std::io::Result<()> {
    let mut last = std::io::Error::from(std::io::ErrorKind::NotFound);
    for dir in ATTR_DIRS {
        match std::fs::OpenOptions::new()
            .write(true)
            .open(format!("{dir}/current"))
        {
            // One write: the kernel parses the whole buffer as one command.
            Ok(mut f) => return f.write_all(format!("changeprofile {name}").as_bytes()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Checked by the parent before the clone (the container may not see the host's /sys): a
/// named profile needs AppArmor enabled.
pub(crate) fn check(a: &AppArmor) -> Result<(), Error> {
    match a {
        AppArmor::Profile(name) if !enabled() => Err(err(format!(
            "AppArmor profile {name}: AppArmor is not enabled on this host; drop --security-opt apparmor={name} (or give apparmor=unconfined)"
        ))),
        _ => Ok(()),
    }
}

/// The user's words for a failed change to `name`.
fn explain(name: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => format!(
            "AppArmor profile {name} is not loaded: load it as root (apparmor_parser -r /etc/apparmor.d/{name}) or choose another (aa-status lists them)"
        ),
        _ => format!("cannot enter AppArmor profile {name}: {e}"),
    }
}

/// The AppArmor label of a process (`burrow-default (enforce)`, `unconfined`), when AppArmor
/// is enabled and the process can be read.
pub fn label_of(pid: i32) -> Option<String> {
    ATTR_DIRS.iter().find_map(|dir| {
        let dir = dir.replace("self", &pid.to_string());
        let text = std::fs::read_to_string(format!("{dir}/current")).ok()?;
        let text = text.trim_end_matches(['\n', '\0']).to_owned();
        (!text.is_empty()).then_some(text)
    })
}
