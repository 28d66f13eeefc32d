//! A blocking client for the OCI distribution spec (Docker Registry HTTP API v2), and
//! [`Store::pull`].
//!
//! Manifests: OCI image manifests and indexes, Docker schema2 manifests and manifest lists.
//! Layers: gzip, zstd or uncompressed (told by their magic bytes). Auth: anonymous Bearer
//! tokens, Basic, Bearer with credentials, from `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `~/.config/containers/auth.json` or `~/.docker/config.json` (first file naming the registry
//! wins). Credentials never appear in logs, `Debug` output or errors. TLS uses the system's CAs
//! (`/etc/ssl/certs/ca-certificates.crt`) plus an optional extra CA; plain HTTP is used only
//! where [`RegistriesConf::allows_http`] says so, after HTTPS failed.

use crate::digest::Digest;
use crate::platform::Platform;
use crate::reference::{Qualified, Reference, RegistriesConf};
use crate::store::{LayerRecord, Store, StoreError};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Layers fetched at once.
pub const PARALLEL_LAYERS: usize = 3;

/// Why a pull failed; each names the fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A bad reference.
    #[error(transparent)]
    Reference(#[from] crate::reference::BadReference),
    /// The registry does not have it.
    #[error("image {0} not found in its registry; check the name and tag (`skopeo list-tags docker://REPO` lists tags)")]
    UnknownImage(String),
    /// Access refused.
    #[error("{registry} refused access to {what} ({}); {}", if *.sent_credentials { "credentials were sent" } else { "no credentials were sent" }, if *.sent_credentials { "check them with `burrow login`" } else { "log in with `burrow login` if the image is private" })]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What was asked for.
        what: String,
        /// Whether credentials were sent.
        sent_credentials: bool,
    },
    /// The network failed.
    #[error("cannot reach registry {registry}; check the network, the name, and for a private registry its TLS (an extra CA) or, for a test registry, --tls-verify=false or an `insecure = true` entry in registries.conf")]
    Unreachable {
        /// The registry.
        registry: String,
        /// The cause.
        #[source]
        source: ureq::Error,
    },
    /// The registry's TLS certificate is not trusted.
    #[error("registry {registry} has a TLS certificate this machine does not trust ({source}): give its CA with --cert-dir DIR or in ~/.config/containers/certs.d/{registry}/ca.crt, or, for a test registry, --tls-verify=false (or `insecure = true` in registries.conf), which skips the check")]
    Untrusted {
        /// The registry.
        registry: String,
        /// The cause.
        #[source]
        source: ureq::Error,
    },
    /// The registry stopped sending (see [`crate::stall`]).
    #[error("{}", crate::stall::stalled(registry))]
    Stalled {
        /// The registry.
        registry: String,
    },
    /// No image for the platform.
    #[error("{reference} has no image for {platform} (it has: {available}); choose one with --platform OS/ARCH[/VARIANT]")]
    NoPlatform {
        /// The image.
        reference: String,
        /// What was wanted.
        platform: String,
        /// What there is.
        available: String,
    },
    /// Something else the registry answered.
    #[error("registry {registry} answered HTTP {status} for {what}")]
    Http {
        /// The registry.
        registry: String,
        /// The status.
        status: u16,
        /// What was asked for.
        what: String,
    },
    /// The registry sent something that is not what the spec says.
    #[error("registry {registry} sent an invalid {what}: {reason}")]
    Invalid {
        /// The registry.
        registry: String,
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
    /// Storage failed (disk full, digest mismatch, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The extra CA cannot be used.
    #[error("cannot use the CA certificate {}", .0.display())]
    Ca(PathBuf, #[source] std::io::Error),
}

type Result<T> = std::result::Result<T, RegistryError>;

/// A user name and password. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <hidden> }}",
            self.username
        )
    }
}

/// The auth files podman and docker users have, in the order they are read.
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty()) {
        v.push(PathBuf::from(r).join("containers/auth.json"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let h = PathBuf::from(h);
        v.push(h.join(".config/containers/auth.json"));
        v.push(h.join(".docker/config.json"));
    }
    v
}

fn b64decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

fn b64encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for ch in data.chunks(3) {
        let b = [
            ch[0],
            ch.get(1).copied().unwrap_or(0),
            ch.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= ch.len() {
                out.push(char::from(
                    T[usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0)],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn registry_key_matches(key: &str, registry: &str) -> bool {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or_default();
    let hub = |r: &str| matches!(r, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    k == registry || (hub(k) && hub(registry))
}

/// Reads the credentials for `registry` from `files` (first match wins).
pub fn credentials_for(registry: &str, files: &[PathBuf]) -> Option<Credentials> {
    for f in files {
        let Ok(data) = std::fs::read(f) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
            continue;
        };
        for (k, entry) in auths {
            if !registry_key_matches(k, registry) {
                continue;
            }
            let Some(decoded) = entry
                .get("auth")
                .and_then(|a| a.as_str())
                .and_then(b64decode)
            else {
                continue;
            };
            let s = String::from_utf8_lossy(&decoded).into_owned();
            if let Some((u, p)) = s.split_once(':') {
                return Some(Credentials {
                    username: u.to_owned(),
                    password: p.to_owned(),
                });
            }
        }
    }
    None
}

/// Where `burrow login` writes: `$XDG_RUNTIME_DIR/containers/auth.json` (podman's place),
/// else `~/.config/containers/auth.json`.
pub fn login_file() -> Option<PathBuf> {
    default_auth_files().into_iter().next()
}

/// Why credentials could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// Reading or writing failed.
    #[error("cannot update {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON.
    #[error("{} is not valid JSON; fix or remove it", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// `burrow login`: stores `creds` for `registry` in `file` (created with mode 0600, other
/// entries kept, replaced atomically). `None` removes the entry (`burrow logout`); returns
/// whether there was one.
pub fn save_credentials(
    file: &std::path::Path,
    registry: &str,
    creds: Option<&Credentials>,
) -> std::result::Result<bool, AuthFileError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| AuthFileError::Io {
        path: file.to_owned(),
        source,
    };
    let mut v: serde_json::Value = match std::fs::read(file) {
        Ok(d) => serde_json::from_slice(&d).map_err(|source| AuthFileError::Parse {
            path: file.to_owned(),
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io(e)),
    };
    if !v.is_object() {
        v = serde_json::json!({});
    }
    let auths = v
        .as_object_mut()
        .map(|o| o.entry("auths").or_insert_with(|| serde_json::json!({})));
    let Some(auths) = auths.and_then(|a| a.as_object_mut()) else {
        return Err(AuthFileError::Parse {
            path: file.to_owned(),
            source: serde::de::Error::custom("\"auths\" is not an object"),
        });
    };
    let had = auths.remove(registry).is_some();
    if let Some(c) = creds {
        auths.insert(
            registry.to_owned(),
            serde_json::json!({ "auth": auth_entry(c) }),
        );
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let data = serde_json::to_vec_pretty(&v).unwrap_or_default();
    f.write_all(&data).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, file).map_err(io)?;
    Ok(had)
}

/// Client settings.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Short names and insecure registries.
    pub registries: RegistriesConf,
    /// An extra CA (PEM) trusted besides the system's.
    pub extra_ca: Option<PathBuf>,
    /// Auth files to read, in order ([`default_auth_files`] when empty).
    pub auth_files: Vec<PathBuf>,
}

/// A registry client.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    /// For hosts whose certificates are not checked ([`RegistriesConf::skips_tls_verify`]).
    unverified: ureq::Agent,
    opts: ClientOptions,
    /// Per registry: "https" or "http", once known.
    schemes: Mutex<HashMap<String, &'static str>>,
    /// Per registry and scope: an Authorization header value (never printed).
    tokens: Mutex<HashMap<(String, String), String>>,
}

/// Progress events of a pull.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The manifest was resolved.
    Resolved {
        /// The concrete reference.
        reference: String,
        /// Number of layers.
        layers: usize,
    },
    /// A layer was already in storage.
    LayerCached {
        /// Its blob digest.
        digest: Digest,
    },
    /// A layer is being fetched.
    LayerFetching {
        /// Its blob digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// Bytes of a layer received so far (about every 256 KiB, and at the end).
    LayerBytes {
        /// Its blob digest.
        digest: Digest,
        /// Bytes received.
        done: u64,
        /// The layer's size from the manifest.
        total: u64,
    },
    /// A layer was fetched and unpacked.
    LayerDone {
        /// Its blob digest.
        digest: Digest,
    },
}

/// The system's CA certificates (`/etc/ssl/certs/ca-certificates.crt`, if there) and those in
/// `extra` (which must be readable).
pub fn trusted_certs(
    extra: Option<&std::path::Path>,
) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let mut certs = Vec::new();
    let mut pems = vec![PathBuf::from("/etc/ssl/certs/ca-certificates.crt")];
    pems.extend(extra.map(std::path::Path::to_path_buf));
    for (i, p) in pems.iter().enumerate() {
        let data = match std::fs::read(p) {
            Ok(d) => d,
            Err(e) if i == 0 => {
                tracing::warn!("no system CA bundle at {}: {e}", p.display());
                continue;
            }
            Err(e) => return Err(RegistryError::Ca(p.clone(), e)),
        };
        for item in ureq::tls::parse_pem(&data) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                certs.push(c.to_owned());
            }
        }
    }
    Ok(certs)
}

/// The HTTP agent of pulls and logins: bounded connect and reads, HTTP errors as responses;
/// `verify` false skips the server's certificate check (insecure registries only).
pub fn http_agent(certs: &[ureq::tls::Certificate<'static>], verify: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(certs))
        .disable_verification(!verify)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_connect(Some(crate::stall::CONNECT_TIMEOUT))
        .timeout_recv_response(Some(std::time::Duration::from_secs(120)))
        .timeout_per_read(Some(crate::stall::read_timeout()))
        .timeout_per_write(Some(crate::stall::read_timeout()))
        .user_agent("burrow")
        .build()
        .new_agent()
}

impl Client {
    /// A client with the system's CAs (and `opts.extra_ca`).
    pub fn new(mut opts: ClientOptions) -> Result<Self> {
        if opts.auth_files.is_empty() {
            opts.auth_files = default_auth_files();
        }
        let certs = trusted_certs(opts.extra_ca.as_deref())?;
        let agent = |verify: bool| http_agent(&certs, verify);
        Ok(Self {
            agent: agent(true),
            unverified: agent(false),
            opts,
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn creds(&self, registry: &str) -> Option<Credentials> {
        credentials_for(registry, &self.opts.auth_files)
    }

    fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        // The host (and port) the URL names: a registry, or its token service.
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        let agent = if self.opts.registries.skips_tls_verify(host) {
            &self.unverified
        } else {
            &self.agent
        };
        let mut r = agent.get(url);
        if let Some(a) = accept {
            r = r.header("Accept", a);
        }
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.call()
    }

    /// GET `https://REGISTRY/v2/PATH` with auth; returns the response of status 200.
    fn get(
        &self,
        registry: &str,
        repo: &str,
        path: &str,
        accept: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let scope = format!("repository:{repo}:pull");
        let key = (registry.to_owned(), scope.clone());
        let known = self
            .schemes
            .lock()
            .ok()
            .and_then(|m| m.get(registry).copied());
        let schemes: Vec<&str> = match known {
            Some(s) => vec![s],
            None if self.opts.registries.allows_http(registry) => vec!["https", "http"],
            None => vec!["https"],
        };
        let mut last_err = None;
        for scheme in schemes {
            let url = format!("{scheme}://{registry}/v2/{path}");
            let token = self.tokens.lock().ok().and_then(|m| m.get(&key).cloned());
            let mut resp = match self.send(&url, accept, token.as_deref()) {
                Ok(r) => r,
                // It speaks TLS, with a certificate we do not trust: plain HTTP would only
                // hide that.
                Err(e) if untrusted_certificate(&e) => return Err(net_err(registry, e)),
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            if let Ok(mut m) = self.schemes.lock() {
                m.insert(registry.to_owned(), scheme);
            }
            let mut sent = token.is_some();
            if resp.status().as_u16() == 401 {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let creds = self.creds(registry);
                sent = creds.is_some();
                let auth = self.authorize(
                    registry,
                    &scheme_of(&challenge),
                    &challenge,
                    &scope,
                    creds.as_ref(),
                )?;
                if let Some(a) = auth {
                    resp = self
                        .send(&url, accept, Some(&a))
                        .map_err(|source| net_err(registry, source))?;
                    if let Ok(mut m) = self.tokens.lock() {
                        m.insert(key.clone(), a);
                    }
                }
            }
            let status = resp.status().as_u16();
            return match status {
                200 => Ok(resp),
                401 | 403 => Err(RegistryError::Unauthorized {
                    registry: registry.to_owned(),
                    what: path.to_owned(),
                    sent_credentials: sent,
                }),
                404 => Err(RegistryError::UnknownImage(format!(
                    "{registry}/{repo} ({path})"
                ))),
                _ => Err(RegistryError::Http {
                    registry: registry.to_owned(),
                    status,
                    what: path.to_owned(),
                }),
            };
        }
        Err(match last_err {
            Some(source) => net_err(registry, source),
            None => RegistryError::Http {
                registry: registry.to_owned(),
                status: 0,
                what: path.to_owned(),
            },
        })
    }

    /// Answers a 401 challenge: an Authorization value to retry with, or None.
    fn authorize(
        &self,
        registry: &str,
        scheme: &str,
        challenge: &str,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Result<Option<String>> {
        let basic = creds.map(|c| {
            format!(
                "Basic {}",
                b64encode(format!("{}:{}", c.username, c.password).as_bytes())
            )
        });
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let params = challenge_params(challenge);
        let Some(realm) = params.get("realm") else {
            return Err(RegistryError::Invalid {
                registry: registry.to_owned(),
                what: "auth challenge".to_owned(),
                reason: "Bearer without realm".to_owned(),
            });
        };
        let mut url = format!(
            "{realm}?scope={}",
            urlencode(params.get("scope").map_or(scope, |s| s.as_str()))
        );
        if let Some(s) = params.get("service") {
            url.push_str(&format!("&service={}", urlencode(s)));
        }
        let mut resp = self
            .send(&url, None, basic.as_deref())
            .map_err(|source| net_err(registry, source))?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    registry: registry.to_owned(),
                    what: "a token".to_owned(),
                    sent_credentials: creds.is_some(),
                })
            }
            status => {
                return Err(RegistryError::Http {
                    registry: registry.to_owned(),
                    status,
                    what: "a token".to_owned(),
                })
            }
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|source| net_err(registry, source))?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                registry: registry.to_owned(),
                what: "token".to_owned(),
                reason: e.to_string(),
            })?;
        let tok = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str());
        Ok(tok.map(|t| format!("Bearer {t}")))
    }

    /// Fetches a manifest or index: its bytes and digest (checked when `reference` is one).
    pub fn manifest(&self, q: &Qualified, reference: &str) -> Result<(Vec<u8>, Digest)> {
        let mut resp = self.get(
            &q.registry,
            &q.repository,
            &format!("{}/manifests/{reference}", q.repository),
            Some(ACCEPT),
        )?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|source| net_err(&q.registry, source))?;
        let d = Digest::of(&body);
        if let Ok(want) = Digest::parse(reference) {
            if want != d {
                return Err(StoreError::DigestMismatch {
                    what: format!("manifest of {q}"),
                    expected: want,
                    got: d,
                    len: u64::try_from(body.len()).unwrap_or(0),
                }
                .into());
            }
        }
        Ok((body, d))
    }

    /// A blob's body as a reader (verify it while storing).
    pub fn blob(&self, q: &Qualified, d: &Digest) -> Result<impl Read + Send + use<>> {
        let resp = self.get(
            &q.registry,
            &q.repository,
            &format!("{}/blobs/{d}", q.repository),
            None,
        )?;
        Ok(crate::stall::Named::new(
            resp.into_body().into_reader(),
            &q.registry,
        ))
    }
}

/// Reports [`Progress::LayerBytes`] while a layer streams.
struct Counting<'a, R> {
    inner: R,
    digest: &'a Digest,
    done: u64,
    reported: u64,
    total: u64,
    progress: &'a (dyn Fn(Progress) + Sync),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += u64::try_from(n).unwrap_or(0);
        if n == 0 || self.done - self.reported >= 256 * 1024 {
            self.reported = self.done;
            (self.progress)(Progress::LayerBytes {
                digest: self.digest.clone(),
                done: self.done,
                total: self.total,
            });
        }
        Ok(n)
    }
}

/// The scheme of a `WWW-Authenticate` challenge (`Bearer`, `Basic`).
pub fn scheme_of(challenge: &str) -> String {
    challenge
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The parameters of a `WWW-Authenticate` challenge (`realm`, `service`, `scope`), keys in
/// lower case.
pub fn challenge_params(c: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let rest = c.split_once(' ').map_or("", |(_, r)| r);
    let mut s = rest;
    while let Some((k, v)) = s.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (val, tail) = if let Some(v) = v.strip_prefix('"') {
            match v.split_once('"') {
                Some((val, tail)) => (val.to_owned(), tail),
                None => (v.to_owned(), ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, tail)) => (val.trim().to_owned(), tail),
                None => (v.trim().to_owned(), ""),
            }
        };
        m.insert(k, val);
        s = tail.trim_start_matches(',');
    }
    m
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A transport error: [`RegistryError::Stalled`] for a timeout, else `Unreachable`.
/// Whether `e` is rustls refusing the server's certificate (ureq gives it as its own variant
/// or inside an I/O error, depending on where the handshake failed).
pub fn untrusted_certificate(e: &ureq::Error) -> bool {
    let text = format!("{e:?}");
    text.contains("InvalidCertificate")
}

/// A network error of `registry` as the error that names its fix.
pub fn net_err(registry: &str, source: ureq::Error) -> RegistryError {
    if crate::stall::is_timeout(&source) {
        RegistryError::Stalled {
            registry: registry.to_owned(),
        }
    } else if untrusted_certificate(&source) {
        RegistryError::Untrusted {
            registry: registry.to_owned(),
            source,
        }
    } else {
        RegistryError::Unreachable {
            registry: registry.to_owned(),
            source,
        }
    }
}

fn invalid(q: &Qualified, what: &str, e: impl fmt::Display) -> RegistryError {
    RegistryError::Invalid {
        registry: q.registry.clone(),
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

impl Store {
    /// Pulls `reference` (short names resolved as [`crate::reference`] says) for `platform`
    /// (the host's when `None`), fetching up to [`PARALLEL_LAYERS`] layers at once. Returns
    /// the image id.
    pub fn pull(
        &self,
        client: &Client,
        reference: &str,
        platform: Option<&Platform>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Digest> {
        let r = Reference::parse(reference)?;
        let cands = r.candidates(&client.opts.registries);
        // A short name goes on to the next search registry when one does not have it (Docker
        // Hub answers 401 for repositories that do not exist), or cannot be reached; the first
        // error is reported when none has it.
        let mut first = None;
        for q in &cands {
            match self.pull_one(client, q, platform, progress) {
                Ok(id) => return Ok(id),
                Err(
                    e @ (RegistryError::UnknownImage(_)
                    | RegistryError::Unauthorized { .. }
                    | RegistryError::Unreachable { .. }
                    | RegistryError::Stalled { .. }),
                ) if cands.len() > 1 => {
                    tracing::debug!("{q}: {e}");
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first.unwrap_or_else(|| RegistryError::UnknownImage(reference.to_owned())))
    }

    fn pull_one(
        &self,
        client: &Client,
        q: &Qualified,
        platform: Option<&Platform>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Digest> {
        let _use = self.use_lock()?;
        let (mut body, mut md) = client.manifest(q, &q.manifest_ref())?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| invalid(q, "manifest", e))?;
        let mt = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        let is_index = mt.contains("index")
            || mt.contains("manifest.list")
            || (v.get("manifests").is_some() && v.get("layers").is_none());
        if is_index {
            let idx: ImageIndex =
                serde_json::from_slice(&body).map_err(|e| invalid(q, "index", e))?;
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let found = idx.manifests().iter().find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    want.matches(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    )
                })
            });
            let Some(d) = found else {
                let available: Vec<String> = idx
                    .manifests()
                    .iter()
                    .filter_map(|d| d.platform().as_ref())
                    .map(|p| match p.variant() {
                        Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
                        None => format!("{}/{}", p.os(), p.architecture()),
                    })
                    .collect();
                return Err(RegistryError::NoPlatform {
                    reference: q.to_string(),
                    platform: want.to_string(),
                    available: available.join(", "),
                });
            };
            let dd = d.digest().to_string();
            (body, md) = client.manifest(q, &dd)?;
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&body).map_err(|e| invalid(q, "manifest", e))?;
        let cd = Digest::parse(manifest.config().digest().as_ref())
            .map_err(|e| invalid(q, "config digest", e))?;
        if !self.has_blob(&cd) {
            let r = client.blob(q, &cd)?;
            self.put_blob(&cd, r.take(16 << 20))?;
        }
        let config: ImageConfiguration =
            serde_json::from_slice(&self.read_blob(&cd)?).map_err(|e| invalid(q, "config", e))?;
        let diffs = config.rootfs().diff_ids();
        if diffs.len() != manifest.layers().len() {
            return Err(invalid(
                q,
                "manifest",
                "the config's rootfs.diff_ids and the layers differ in number",
            ));
        }
        progress(Progress::Resolved {
            reference: q.to_string(),
            layers: diffs.len(),
        });
        let mut work = Vec::new();
        for (l, diff) in manifest.layers().iter().zip(diffs) {
            let blob =
                Digest::parse(l.digest().as_ref()).map_err(|e| invalid(q, "layer digest", e))?;
            let diff = Digest::parse(diff).map_err(|e| invalid(q, "diff-id", e))?;
            work.push((blob, diff, l.size()));
        }
        let next = Mutex::new(0usize);
        let results: Mutex<Vec<Option<Result<Digest>>>> =
            Mutex::new((0..work.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..PARALLEL_LAYERS.min(work.len()) {
                s.spawn(|| loop {
                    let i = {
                        let Ok(mut n) = next.lock() else { return };
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some((blob, diff, size)) = work.get(i) else {
                        return;
                    };
                    let mut fetched = false;
                    let res = self.ensure_layer(blob, Some(diff), || {
                        fetched = true;
                        progress(Progress::LayerFetching {
                            digest: blob.clone(),
                            size: *size,
                        });
                        client
                            .blob(q, blob)
                            .map(|inner| Counting {
                                inner,
                                digest: blob,
                                done: 0,
                                reported: 0,
                                total: *size,
                                progress,
                            })
                            .map_err(|e| match e {
                                RegistryError::Store(s) => s,
                                other => StoreError::Io {
                                    op: "fetch",
                                    path: PathBuf::from(format!("{q} {blob}")),
                                    source: std::io::Error::other(other.to_string()),
                                },
                            })
                    });
                    progress(if fetched {
                        Progress::LayerDone {
                            digest: blob.clone(),
                        }
                    } else {
                        Progress::LayerCached {
                            digest: blob.clone(),
                        }
                    });
                    let failed = res.is_err();
                    if let Ok(mut r) = results.lock() {
                        if let Some(slot) = r.get_mut(i) {
                            *slot = Some(res.map_err(RegistryError::from));
                        }
                    }
                    if failed {
                        // Stop taking new work; others finish theirs.
                        if let Ok(mut n) = next.lock() {
                            *n = work.len();
                        }
                        return;
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_default();
        let mut layers = Vec::new();
        for ((blob, _, size), r) in work.into_iter().zip(results) {
            let diff_id = match r {
                Some(r) => r?,
                None => return Err(invalid(q, "layer", "a layer was not fetched")),
            };
            layers.push(LayerRecord {
                blob,
                diff_id,
                size,
            });
        }
        self.put_blob(&md, &body[..])?;
        Ok(self.commit(&md, &cd, layers, &q.to_string(), q.name().as_deref())?)
    }
}

/// Helper for tests and `burrow login`: an `auths` entry value.
pub fn auth_entry(c: &Credentials) -> String {
    b64encode(format!("{}:{}", c.username, c.password).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_and_auth_files() {
        for s in ["", "a", "ab", "abc", "user:pa:ss word"] {
            assert_eq!(b64decode(&b64encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("auth.json");
        let c = Credentials {
            username: "u".into(),
            password: "s3cret".into(),
        };
        std::fs::write(&f, format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"127.0.0.1:5000":{{"auth":"{}"}}}}}}"#, auth_entry(&c), auth_entry(&c))).unwrap();
        assert_eq!(
            credentials_for("docker.io", std::slice::from_ref(&f)),
            Some(c.clone())
        );
        assert_eq!(
            credentials_for("127.0.0.1:5000", std::slice::from_ref(&f)),
            Some(c.clone())
        );
        assert_eq!(credentials_for("quay.io", &[f]), None);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn login_and_logout_keep_other_entries() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("containers/auth.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"auths":{"other.example":{"auth":"eDp5"}},"credHelpers":{}}"#,
        )
        .unwrap();
        let c = Credentials {
            username: "me".into(),
            password: "pw".into(),
        };
        assert!(!save_credentials(&f, "reg.example", Some(&c)).unwrap());
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            credentials_for("reg.example", std::slice::from_ref(&f)),
            Some(c)
        );
        assert!(credentials_for("other.example", std::slice::from_ref(&f)).is_some());
        assert!(save_credentials(&f, "reg.example", None).unwrap());
        assert_eq!(
            credentials_for("reg.example", std::slice::from_ref(&f)),
            None
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert!(v.get("credHelpers").is_some());
    }

    #[test]
    fn challenges_parse() {
        let m = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(m["realm"], "https://auth.example/token");
        assert_eq!(m["service"], "registry.example");
        assert_eq!(m["scope"], "repository:a/b:pull");
        assert_eq!(
            urlencode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
