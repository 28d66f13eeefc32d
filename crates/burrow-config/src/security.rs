//! `--security-opt` (podman's flag) and the AppArmor setting it carries.

use crate::{invalid, ConfigError, Seccomp};
use std::fmt;

/// The profile burrow ships (packaging/apparmor/burrow-default) and applies by default where
/// AppArmor is enabled and the profile is loaded.
pub const DEFAULT_APPARMOR_PROFILE: &str = "burrow-default";

/// Which AppArmor profile confines the container's processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AppArmor {
    /// [`DEFAULT_APPARMOR_PROFILE`] when AppArmor is enabled and it is loaded, else none.
    #[default]
    Default,
    /// No profile.
    Unconfined,
    /// This profile, which must be loaded (an error otherwise).
    Profile(String),
}

impl std::str::FromStr for AppArmor {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "default" => AppArmor::Default,
            "unconfined" => AppArmor::Unconfined,
            name => {
                // The kernel takes the name after "exec " up to the end of the write; keep it
                // to what profile names are (no spaces, controls or NUL; not too long).
                if name.is_empty()
                    || name.len() > 255
                    || name
                        .bytes()
                        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                {
                    return Err(invalid(format!(
                        "AppArmor profile {name:?}: use default, unconfined or a loaded profile's name (no spaces, at most 255 bytes)"
                    )));
                }
                AppArmor::Profile(name.to_owned())
            }
        })
    }
}

impl fmt::Display for AppArmor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppArmor::Default => f.write_str("default"),
            AppArmor::Unconfined => f.write_str("unconfined"),
            AppArmor::Profile(p) => f.write_str(p),
        }
    }
}

/// One `--security-opt` value, podman's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt {
    /// `apparmor=PROFILE|unconfined`.
    AppArmor(AppArmor),
    /// `seccomp=unconfined|FILE` (the same as `--seccomp`).
    Seccomp(Seccomp),
    /// `no-new-privileges[=true]`: burrow always sets it; accepted for podman's command lines.
    NoNewPrivileges,
    /// `label=disable`: burrow applies no SELinux label; accepted for podman's command lines.
    LabelDisable,
}

impl std::str::FromStr for SecurityOpt {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        // podman also accepts KEY:VALUE (the old docker spelling).
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => match s.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => (s, None),
            },
        };
        match (key, value) {
            ("apparmor", Some(v)) => Ok(SecurityOpt::AppArmor(v.parse()?)),
            ("seccomp", Some(v)) => Ok(SecurityOpt::Seccomp(v.parse()?)),
            ("no-new-privileges", None | Some("true")) => Ok(SecurityOpt::NoNewPrivileges),
            ("no-new-privileges", Some(_)) => Err(invalid(
                "--security-opt no-new-privileges: burrow always sets no_new_privs; it cannot be turned off",
            )),
            ("label", Some("disable")) => Ok(SecurityOpt::LabelDisable),
            ("label", _) => Err(invalid(format!(
                "--security-opt {s}: burrow does not apply SELinux labels (only label=disable is accepted)"
            ))),
            _ => Err(invalid(format!(
                "--security-opt {s}: use apparmor=PROFILE|unconfined, seccomp=unconfined|FILE, no-new-privileges or label=disable"
            ))),
        }
    }
}

impl fmt::Display for SecurityOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurityOpt::AppArmor(a) => write!(f, "apparmor={a}"),
            SecurityOpt::Seccomp(s) => write!(f, "seccomp={s}"),
            SecurityOpt::NoNewPrivileges => f.write_str("no-new-privileges"),
            SecurityOpt::LabelDisable => f.write_str("label=disable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse_as_podman_spells_them() {
        let p = |s: &str| s.parse::<SecurityOpt>();
        assert_eq!(
            p("apparmor=unconfined").unwrap(),
            SecurityOpt::AppArmor(AppArmor::Unconfined)
        );
        assert_eq!(
            p("apparmor=my-prof").unwrap(),
            SecurityOpt::AppArmor(AppArmor::Profile("my-prof".into()))
        );
        assert_eq!(
            p("apparmor:default").unwrap(),
            SecurityOpt::AppArmor(AppArmor::Default)
        );
        assert_eq!(
            p("seccomp=unconfined").unwrap(),
            SecurityOpt::Seccomp(Seccomp::Unconfined)
        );
        assert_eq!(
            p("no-new-privileges").unwrap(),
            SecurityOpt::NoNewPrivileges
        );
        assert_eq!(
            p("no-new-privileges=true").unwrap(),
            SecurityOpt::NoNewPrivileges
        );
        assert_eq!(p("label=disable").unwrap(), SecurityOpt::LabelDisable);
        for (bad, says) in [
            ("no-new-privileges=false", "cannot be turned off"),
            ("label=type:spc_t", "SELinux"),
            ("apparmor=", "AppArmor profile"),
            ("apparmor=a b", "no spaces"),
            ("apparmor=a\nb", "no spaces"),
            ("mask=/proc/x", "use apparmor="),
            ("apparmor", "use apparmor="),
        ] {
            let e = p(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(p(&format!("apparmor={}", "x".repeat(256))).is_err());
        for s in [
            "apparmor=unconfined",
            "apparmor=p",
            "seccomp=unconfined",
            "label=disable",
        ] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }
}
