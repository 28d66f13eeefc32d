//! Image references (`[registry[:port]/]repo[:tag][@digest]`), short names and insecure
//! registries.
//!
//! # Short-name rule
//!
//! A reference is *fully qualified* when its first `/`-separated component contains a `.` or a
//! `:` or is `localhost` (the rule docker and podman share). Any other reference is a short
//! name and is resolved like podman resolves it with `short-name-mode = "permissive"` and no
//! aliases:
//!
//! 1. the registries listed in `unqualified-search-registries` of the registries.conf file in
//!    force ([`RegistriesConf::load`]: `$XDG_CONFIG_HOME/containers/registries.conf`, else
//!    `~/.config/containers/registries.conf`, else `/etc/containers/registries.conf`) are tried
//!    in their order;
//! 2. when no file lists any, `docker.io` alone is tried.
//!
//! On `docker.io` a one-component repository gets `library/` in front (`debian` is
//! `docker.io/library/debian`). A reference without tag and digest means `:latest`.
//!
//! # Insecure registries
//!
//! Registries are reached over HTTPS with certificate verification. Plain HTTP is used only for
//! loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`, any port) and for registries listed
//! with `insecure = true` in a `[[registry]]` table of the registries.conf file in force.

use crate::digest::Digest;
use std::fmt;
use std::path::{Path, PathBuf};

/// The registry short names without a host resolve to when no registries.conf names one.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed reference. `registry` is `None` for a short name (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, when the reference names one.
    pub registry: Option<String>,
    /// The repository path (`library/debian`, `team/app`).
    pub repository: String,
    /// The tag, when given.
    pub tag: Option<String>,
    /// The digest, when given (it wins over the tag when pulling).
    pub digest: Option<Digest>,
}

/// A reference that cannot be parsed, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason} (expected [REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST], e.g. docker.io/library/debian:12)")]
pub struct BadReference {
    /// The reference as given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A reference made concrete: registry, repository and what to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qualified {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path, with `library/` added on docker.io.
    pub repository: String,
    /// The tag (`latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// The digest, when given.
    pub digest: Option<Digest>,
}

impl Qualified {
    /// What to put after `/manifests/`: the digest when given, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The name this image is stored under (`registry/repo:tag`), when it has a tag.
    pub fn name(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}/{}:{}", self.registry, self.repository, t))
    }
}

impl fmt::Display for Qualified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn bad(reference: &str, reason: &'static str) -> BadReference {
    BadReference {
        reference: reference.to_owned(),
        reason,
    }
}

fn is_registry_component(c: &str) -> bool {
    c.contains('.') || c.contains(':') || c == "localhost"
}

fn valid_path_component(c: &str) -> bool {
    // distribution's grammar: [a-z0-9]+ separated by '.', '_', '__' or '-'s.
    let bytes = c.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    alnum(first)
        && alnum(last)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !c.contains("..")
        && !c.contains("___")
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(r: &str) -> bool {
    // No empty host label: `..`, `.x` or `a..b` is no host (found by tests/fuzz `reference`).
    let host = r.rsplit_once(':').map_or(r, |(h, _)| h);
    !r.is_empty()
        && !host.starts_with('.')
        && !host.contains("..")
        && r.len() <= 255
        && r.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'))
}

impl Reference {
    /// Parses `[registry[:port]/]repo[:tag][@digest]`.
    pub fn parse(s: &str) -> Result<Self, BadReference> {
        if s.is_empty() {
            return Err(bad(s, "it is empty"));
        }
        if s.len() > 4096 {
            return Err(bad(s, "it is longer than 4096 bytes"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    Digest::parse(d)
                        .map_err(|_| bad(s, "the digest is not sha256:<64 hex digits>"))?,
                ),
            ),
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, tail)) if is_registry_component(first) => (Some(first), tail),
            _ => (None, rest),
        };
        if let Some(r) = registry {
            if !valid_registry(r) {
                return Err(bad(
                    s,
                    "the registry host has characters a host name cannot have",
                ));
            }
        }
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => (&path[..last_slash + i], Some(&path[last_slash + i + 1..])),
            None => (path, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(
                    s,
                    "the tag is not 1-128 of [A-Za-z0-9_.-] starting with a letter, digit or _",
                ));
            }
        }
        if repository.is_empty() || !repository.split('/').all(valid_path_component) {
            return Err(bad(
                s,
                "the repository must be lower-case components of [a-z0-9._-] separated by /",
            ));
        }
        if repository.len() > 255 {
            return Err(bad(s, "the repository is longer than 255 characters"));
        }
        // A one-component short name may become docker.io's `library/NAME`, which must stay
        // within the same 255 characters (found by the `reference` fuzz target).
        if registry.is_none() && !repository.contains('/') && repository.len() > 255 - 8 {
            return Err(bad(
                s,
                "a short name of one component is longer than 247 characters (library/NAME must fit in 255)",
            ));
        }
        Ok(Self {
            registry: registry.map(str::to_owned),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The fully qualified candidates to try, in order (one when the reference names a
    /// registry; see the module docs for short names).
    pub fn candidates(&self, conf: &RegistriesConf) -> Vec<Qualified> {
        let tag = match (&self.tag, &self.digest) {
            (None, None) => Some("latest".to_owned()),
            (t, _) => t.clone(),
        };
        let registries: Vec<String> = match &self.registry {
            Some(r) => vec![r.clone()],
            None if conf.unqualified_search.is_empty() => vec![DEFAULT_REGISTRY.to_owned()],
            None => conf.unqualified_search.clone(),
        };
        registries
            .into_iter()
            .map(|registry| {
                let repository = if is_docker_hub(&registry) && !self.repository.contains('/') {
                    format!("library/{}", self.repository)
                } else {
                    self.repository.clone()
                };
                Qualified {
                    registry,
                    repository,
                    tag: tag.clone(),
                    digest: self.digest.clone(),
                }
            })
            .collect()
    }
}

fn is_docker_hub(r: &str) -> bool {
    matches!(r, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The parts of a registries.conf (v2, TOML) that burrow reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// `unqualified-search-registries`, in order.
    pub unqualified_search: Vec<String>,
    /// `location`s of `[[registry]]` tables with `insecure = true`.
    pub insecure: Vec<String>,
    /// The file these came from, if any.
    pub source: Option<PathBuf>,
}

/// A registries.conf that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// Reading failed.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML of the expected shape.
    #[error("{} is not a valid registries.conf (fix or remove it)", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
}

#[derive(serde::Deserialize)]
struct RawConf {
    #[serde(rename = "unqualified-search-registries", default)]
    unqualified: Vec<String>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
}

#[derive(serde::Deserialize)]
struct RawRegistry {
    #[serde(default)]
    location: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    insecure: bool,
}

impl RegistriesConf {
    /// The file in force: `$XDG_CONFIG_HOME/containers/registries.conf` (else
    /// `~/.config/containers/registries.conf`) when it exists, else
    /// `/etc/containers/registries.conf` when it exists, else nothing (empty lists).
    pub fn load() -> Result<Self, ConfError> {
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("containers/registries.conf"));
        for p in user
            .into_iter()
            .chain(Some(PathBuf::from("/etc/containers/registries.conf")))
        {
            if p.exists() {
                return Self::from_file(&p);
            }
        }
        Ok(Self::default())
    }

    /// Reads one file.
    pub fn from_file(path: &Path) -> Result<Self, ConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut c = Self::parse(&text).map_err(|source| ConfError::Parse {
            path: path.to_owned(),
            source,
        })?;
        c.source = Some(path.to_owned());
        Ok(c)
    }

    /// Parses registries.conf text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        let raw: RawConf = toml::from_str(text)?;
        Ok(Self {
            unqualified_search: raw.unqualified,
            insecure: raw
                .registry
                .into_iter()
                .filter(|r| r.insecure)
                .map(|r| {
                    if r.location.is_empty() {
                        r.prefix
                    } else {
                        r.location
                    }
                })
                .filter(|l| !l.is_empty())
                .collect(),
            source: None,
        })
    }

    /// Whether plain HTTP may be used for `registry` (loopback, or listed insecure).
    pub fn allows_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.skips_tls_verify(registry)
    }

    /// Whether HTTPS to `registry` goes without checking its certificate (listed insecure,
    /// or `--tls-verify=false`, as podman's `insecure = true` means). Loopback alone is not
    /// enough: a loopback registry with TLS is still checked.
    pub fn skips_tls_verify(&self, registry: &str) -> bool {
        self.insecure.iter().any(|l| l == registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn parses_the_forms() {
        let r = p("debian");
        assert_eq!(
            (r.registry, r.repository.as_str(), r.tag),
            (None, "debian", None)
        );
        let r = p("debian:12");
        assert_eq!(r.tag.as_deref(), Some("12"));
        let r = p("localhost:5000/team/app:v1.2");
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        let d = Digest::of(b"x");
        let r = p(&format!("quay.io/a/b@{d}"));
        assert_eq!(r.digest, Some(d.clone()));
        assert_eq!(r.tag, None);
        let r = p(&format!("127.0.0.1:5000/b:t@{d}"));
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.digest, Some(d));
        let r = p("[::1]:5000/x");
        assert_eq!(r.registry.as_deref(), Some("[::1]:5000"));
        // A first component without '.' or ':' is part of the repository.
        let r = p("team/app");
        assert_eq!((r.registry, r.repository.as_str()), (None, "team/app"));
    }

    #[test]
    fn refuses_bad_references() {
        for s in [
            "",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "a/../b",
            "debian@sha256:123",
            "debian@md5:00",
            "docker.io/",
            "ex ample.com/a",
            "a/b:c:d",
            "../b",
            "..:5000/b",
            "a..b.io/c",
            ".x.io/c",
        ] {
            assert!(Reference::parse(s).is_err(), "{s:?} parsed");
        }
        let e = Reference::parse("Debian").unwrap_err().to_string();
        assert!(e.contains("lower-case"), "{e}");
        // The fuzz finding: a one-component short name too long for docker.io/library/NAME.
        let long = "a".repeat(248);
        let e = Reference::parse(&long).unwrap_err().to_string();
        assert!(e.contains("247"), "{e}");
        assert!(Reference::parse(&"a".repeat(247)).is_ok());
        assert!(Reference::parse(&format!("x/{}", "a".repeat(250))).is_ok());
    }

    #[test]
    fn short_names_follow_the_search_list() {
        let none = RegistriesConf::default();
        let c = p("debian").candidates(&none);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "docker.io/library/debian:latest");
        assert_eq!(
            p("team/app:1").candidates(&none)[0].to_string(),
            "docker.io/team/app:1"
        );
        let conf = RegistriesConf::parse(
            r#"
unqualified-search-registries = ["registry.example", "docker.io"]
[[registry]]
location = "registry.example"
insecure = true
[[registry]]
location = "secure.example"
"#,
        )
        .unwrap();
        let c: Vec<String> = p("alpine")
            .candidates(&conf)
            .iter()
            .map(|q| q.to_string())
            .collect();
        assert_eq!(
            c,
            [
                "registry.example/alpine:latest",
                "docker.io/library/alpine:latest"
            ]
        );
        // A qualified reference ignores the list.
        let c = p("quay.io/x/y").candidates(&conf);
        assert_eq!(c.len(), 1);
        assert!(conf.allows_http("registry.example"));
        assert!(!conf.allows_http("secure.example"));
        assert!(!conf.allows_http("docker.io"));
        for l in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1234",
            "127.9.9.9",
            "[::1]:5000",
        ] {
            assert!(conf.allows_http(l), "{l}");
        }
        assert!(!conf.allows_http("128.0.0.1:5000"));
        assert!(!conf.allows_http("localhost.evil.example"));
    }
}
