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

/// How long `loginctl enable-linger` may take (logind answers in milliseconds; D-Bus's own
/// default timeout is 25 s).
const LOGINCTL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `loginctl enable-linger USER` (bounded); returns the line to print.
pub fn enable(user: &str) -> Result<String, Error> {
    let child = std::process::Command::new("loginctl")
        .args(["enable-linger", "--", user])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            err(format!(
                "--linger: cannot run loginctl (is systemd-logind installed?): {e}"
            ))
        })?;
    let out = match burrow_runtime::bounded::output_within(child, LOGINCTL_TIMEOUT) {
        Ok(o) => o,
        Err(burrow_runtime::bounded::WaitError::Io(e)) => {
            return Err(err(format!("--linger: waiting for loginctl: {e}")))
        }
        Err(burrow_runtime::bounded::WaitError::TimedOut(pid)) => {
            return Err(err(format!(
                "--linger: loginctl enable-linger {user} (pid {pid}) did not finish within {} s and was killed: systemd-logind does not answer (check `systemctl status systemd-logind` and `journalctl -u systemd-logind`); the user was added, lingering is not enabled, run add-user --linger again when logind answers",
                LOGINCTL_TIMEOUT.as_secs()
            )))
        }
    };
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
