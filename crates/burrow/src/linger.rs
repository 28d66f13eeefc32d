//! `burrow admin add-user --linger`: systemd-logind's lingering (what `loginctl
//! enable-linger USER` does), so the user's manager, and the units it has enabled
//! (`burrow generate systemd`), start at boot without a login.

use burrow_runtime::{err, Error};
use std::path::Path;

/// Does this host run systemd as init (sd_booted(3): /run/systemd/system exists)?
fn systemd_booted(run: &Path) -> bool {
    run.join("systemd/system").is_dir()
}

/// Why lingering cannot be enabled here, if it cannot; checked before anything is changed.
pub fn check(run: &Path, user: &str) -> Result<(), Error> {
    if !systemd_booted(run) {
        return Err(err(format!(
            "--linger: lingering needs systemd-logind, and this host does not run systemd (no {}): nothing was changed. Run add-user without --linger, and start {user}'s containers at boot another way, e.g. a boot script of the init system running `runuser -u {user} -- burrow start NAME`",
            run.join("systemd/system").display()
        )));
    }
    Ok(())
}

/// Runs `loginctl enable-linger USER`; returns the line to print.
pub fn enable(user: &str) -> Result<String, Error> {
    let out = std::process::Command::new("loginctl")
        .args(["enable-linger", "--", user])
        .output()
        .map_err(|e| {
            err(format!(
                "--linger: cannot run loginctl (is systemd-logind installed?): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(err(format!(
            "--linger: loginctl enable-linger {user} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(format!(
        "lingering enabled for {user}: their systemd user manager starts at boot, with the units they enabled (systemctl --user enable container-NAME.service)\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_without_systemd() {
        let d = std::env::temp_dir().join(format!("burrow-linger-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = check(&d, "alice").unwrap_err().msg;
        assert!(
            e.contains("needs systemd-logind") && e.contains("nothing was changed"),
            "{e}"
        );
        assert!(e.contains("runuser -u alice -- burrow start NAME"), "{e}");
        std::fs::create_dir_all(d.join("systemd/system")).unwrap();
        assert!(check(&d, "alice").is_ok());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
