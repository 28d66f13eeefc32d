//! `--restart`: what the monitor of a detached container does when the container exits
//! (podman's policies and spelling).

use crate::{invalid, ConfigError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A restart policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never restart (the default).
    #[default]
    No,
    /// Restart when the exit status is not 0, at most this many times (`None`: unlimited).
    OnFailure(Option<u32>),
    /// Restart whatever the exit status, unless the user stopped it.
    Always,
    /// Like `Always`; `burrow stop` is remembered across a `burrow start` of the host's boot
    /// units too (see docs/services.md).
    UnlessStopped,
}

impl RestartPolicy {
    /// Is it `no` (serde leaves it out of saved configurations then)?
    pub fn is_no(&self) -> bool {
        *self == RestartPolicy::No
    }

    /// Does a container that exited with `code` (`None`: unknown, e.g. killed by a signal the
    /// monitor could not record) after `restarts` restarts get another one?
    pub fn restarts(&self, code: Option<i32>, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != Some(0) && max.is_none_or(|m| restarts < m),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

impl std::str::FromStr for RestartPolicy {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || {
            invalid(format!(
                "restart policy \"{s}\": use no, on-failure, on-failure:N (N a number of retries), always or unless-stopped"
            ))
        };
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        match (name, count) {
            ("no", None) => Ok(RestartPolicy::No),
            ("always", None) => Ok(RestartPolicy::Always),
            ("unless-stopped", None) => Ok(RestartPolicy::UnlessStopped),
            ("on-failure", None) => Ok(RestartPolicy::OnFailure(None)),
            ("on-failure", Some(c)) => {
                if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                c.parse::<u32>()
                    .map(|n| RestartPolicy::OnFailure(Some(n)))
                    .map_err(|_| {
                        invalid(format!(
                            "restart policy \"{s}\": the number of retries must be at most {}",
                            u32::MAX
                        ))
                    })
            }
            ("always" | "unless-stopped" | "no", Some(_)) => Err(invalid(format!(
                "restart policy \"{s}\": only on-failure takes a number of retries (on-failure:N)"
            ))),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for (text, p) in [
            ("no", RestartPolicy::No),
            ("always", RestartPolicy::Always),
            ("unless-stopped", RestartPolicy::UnlessStopped),
            ("on-failure", RestartPolicy::OnFailure(None)),
            ("on-failure:3", RestartPolicy::OnFailure(Some(3))),
            ("on-failure:0", RestartPolicy::OnFailure(Some(0))),
        ] {
            assert_eq!(text.parse::<RestartPolicy>().unwrap(), p, "{text}");
            assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn refuses_with_a_clear_message() {
        for (text, says) in [
            ("", "use no, on-failure"),
            ("yes", "use no, on-failure"),
            ("Always", "use no, on-failure"),
            ("on-failure:", "use no, on-failure"),
            ("on-failure:-1", "use no, on-failure"),
            ("on-failure:+2", "use no, on-failure"),
            ("on-failure:x", "use no, on-failure"),
            ("on-failure:99999999999", "at most 4294967295"),
            ("always:3", "only on-failure takes"),
            ("no:1", "only on-failure takes"),
            ("on-failure:1:2", "use no, on-failure"),
        ] {
            let e = text.parse::<RestartPolicy>().unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains(&format!("\"{text}\"")), "{text}: {e}");
        }
    }

    #[test]
    fn decides() {
        let of = |s: &str| s.parse::<RestartPolicy>().unwrap();
        assert!(!of("no").restarts(Some(1), 0));
        assert!(of("on-failure").restarts(Some(1), 1000));
        assert!(of("on-failure").restarts(None, 0));
        assert!(!of("on-failure").restarts(Some(0), 0));
        assert!(of("on-failure:2").restarts(Some(1), 1));
        assert!(!of("on-failure:2").restarts(Some(1), 2));
        assert!(!of("on-failure:0").restarts(Some(1), 0));
        assert!(of("always").restarts(Some(0), 7));
        assert!(of("unless-stopped").restarts(Some(0), 7));
    }
}
