//! `burrow login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY` and `burrow logout
//! REGISTRY`: credentials in `$XDG_RUNTIME_DIR/containers/auth.json` (podman's file, which
//! `burrow pull` reads with podman's and docker's other files).
//!
//! `login` first checks the credentials against the registry (`GET /v2/` and its challenge:
//! Basic, or a Bearer token from the realm), like podman, so a typo is reported at once and
//! not at the next pull. The password never appears in errors or logs.

use super::{extra_ca, lib_err, registries};
use crate::commands::{fail, Res};
use burrow_image::registry::{
    auth_entry, challenge_params, login_file, save_credentials, scheme_of, urlencode, Credentials,
};
use burrow_runtime::Error;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// `login`'s options.
#[derive(Debug)]
pub struct LoginArgs {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_stdin: bool,
    pub cert_dir: Option<PathBuf>,
    pub tls_verify: Option<bool>,
    pub registry: String,
}

/// `docker.io`, `https://host/...` -> the registry key podman uses.
fn registry_key(r: &str) -> String {
    let r = r
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let r = r.split('/').next().unwrap_or_default();
    if matches!(r, "index.docker.io" | "registry-1.docker.io") {
        "docker.io".to_owned()
    } else {
        r.to_owned()
    }
}

fn prompt(what: &str, echo: bool) -> Result<String, Error> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(fail(format!(
            "no {what} given and stdin is not a terminal: use -u USER with --password-stdin"
        )));
    }
    eprint!("{what}: ");
    let _ = std::io::stderr().flush();
    let saved = if echo {
        None
    } else {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let t = tcgetattr(&stdin).ok();
        if let Some(t) = &t {
            let mut quiet = t.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
        }
        t
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        eprintln!();
    }
    r.map_err(|e| fail(format!("cannot read the {what}: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub fn login(a: LoginArgs) -> Res {
    let registry = registry_key(&a.registry);
    if registry.is_empty() {
        return Err(fail("no registry given: burrow login REGISTRY"));
    }
    if a.password_stdin && a.password.is_some() {
        return Err(fail("use either --password or --password-stdin, not both"));
    }
    let username = match a.username {
        Some(u) => u,
        None if a.password_stdin => {
            return Err(fail("--password-stdin needs the user name: -u USER"));
        }
        None => prompt("Username", true)?,
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| fail(format!("cannot read the password from stdin: {e}")))?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        match a.password {
            Some(p) => p,
            None => prompt("Password", false)?,
        }
    };
    if username.is_empty() || password.is_empty() {
        return Err(fail("the user name and the password must not be empty"));
    }
    let creds = Credentials { username, password };
    let conf = registries(a.tls_verify, Some(&registry))?;
    let ca = extra_ca(a.cert_dir.as_deref(), &registry)?;
    check(&registry, &creds, &conf, ca.as_deref())?;
    let file = login_file().ok_or_else(|| {
        fail("cannot find where to save credentials: set XDG_RUNTIME_DIR or HOME")
    })?;
    save_credentials(&file, &registry, Some(&creds)).map_err(lib_err)?;
    println!("Login Succeeded!");
    Ok(0)
}

pub fn logout(registry: &str) -> Res {
    let registry = registry_key(registry);
    let file = login_file()
        .ok_or_else(|| fail("cannot find the credentials file: set XDG_RUNTIME_DIR or HOME"))?;
    let had = if file.exists() {
        save_credentials(&file, &registry, None).map_err(lib_err)?
    } else {
        false
    };
    let elsewhere: Vec<String> = burrow_image::registry::default_auth_files()
        .into_iter()
        .filter(|f| f != &file)
        .filter(|f| {
            burrow_image::registry::credentials_for(&registry, std::slice::from_ref(f)).is_some()
        })
        .map(|f| f.display().to_string())
        .collect();
    if !elsewhere.is_empty() {
        eprintln!(
            "burrow: note: {} still holds credentials for {registry} (podman's or docker's file; `podman logout` or `docker logout` removes them)",
            elsewhere.join(" and ")
        );
    }
    if had {
        println!("Removed login credentials for {registry}");
        Ok(0)
    } else {
        Err(fail(format!(
            "not logged into {registry} (nothing in {})",
            file.display()
        )))
    }
}

/// `Bearer realm="...",service="..."` -> scheme and parameters (burrow-image's parser, the
/// one pulls use).
fn challenge(c: &str) -> (String, HashMap<String, String>) {
    (scheme_of(c.trim()), challenge_params(c.trim()))
}

/// Checks `creds` against `registry`'s `/v2/` (HTTPS; plain HTTP where registries.conf or
/// loopback allows it and HTTPS cannot be reached).
fn check(
    registry: &str,
    creds: &Credentials,
    conf: &burrow_image::RegistriesConf,
    ca: Option<&Path>,
) -> Result<(), Error> {
    let certs = burrow_image::registry::trusted_certs(ca).map_err(lib_err)?;
    // `--tls-verify=false` or `insecure = true`: the certificate is not checked (podman's way).
    let agent = burrow_image::registry::http_agent(&certs, !conf.skips_tls_verify(registry));
    let basic = format!("Basic {}", auth_entry(creds));
    let refused = || {
        fail(format!(
            "{registry} refused the credentials of {} (credentials were sent): check the user name and the password",
            creds.username
        ))
    };
    let schemes: &[&str] = if conf.allows_http(registry) {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut last = None;
    for scheme in schemes {
        let url = format!("{scheme}://{registry}/v2/");
        let resp = match agent.get(&url).call() {
            Ok(r) => r,
            // TLS with a certificate we do not trust: plain HTTP would only hide that.
            Err(e) if burrow_image::registry::untrusted_certificate(&e) => {
                return Err(lib_err(burrow_image::registry::net_err(registry, e)));
            }
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let status = resp.status().as_u16();
        if status == 200 {
            // The registry needs no login; the credentials are kept for the day it does.
            return Ok(());
        }
        if status != 401 {
            return Err(fail(format!(
                "registry {registry} answered HTTP {status} for /v2/: is it a container registry?"
            )));
        }
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (kind, params) = challenge(&header);
        let url = if kind.eq_ignore_ascii_case("bearer") {
            let realm = params.get("realm").ok_or_else(|| {
                fail(format!(
                    "registry {registry} sent a Bearer challenge without a realm"
                ))
            })?;
            let mut u = format!("{realm}?account={}", urlencode(&creds.username));
            if let Some(s) = params.get("service") {
                u.push_str(&format!("&service={}", urlencode(s)));
            }
            u
        } else {
            url
        };
        let resp = agent
            .get(&url)
            .header("Authorization", &basic)
            .call()
            .map_err(|e| unreachable(registry, &e))?;
        return match resp.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(refused()),
            s => Err(fail(format!(
                "registry {registry} answered HTTP {s} to the login"
            ))),
        };
    }
    Err(match last {
        Some(e) => unreachable(registry, &e),
        None => fail(format!("cannot reach registry {registry}")),
    })
}

fn unreachable(registry: &str, e: &ureq::Error) -> Error {
    fail(format!(
        "cannot reach registry {registry}: {e}; check the network and the name, and for a private \
registry its CA (--cert-dir DIR, or ~/.config/containers/certs.d/{registry}/ca.crt) or, for a test \
registry, --tls-verify=false or an `insecure = true` entry in registries.conf (docs/images.md)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_challenges() {
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
        let (k, p) = challenge(r#"Bearer realm="https://auth.example/token",service="reg""#);
        assert_eq!(k, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "reg");
        let (k, p) = challenge(r#"Basic realm="burrow-test""#);
        assert_eq!((k.as_str(), p["realm"].as_str()), ("Basic", "burrow-test"));
    }
}
