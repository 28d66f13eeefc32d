//! The image commands: `pull`, `images`, `rmi`, `image inspect|prune|import`, `login`,
//! `logout`. Thin over burrow-image's `Store` and `Client`.
//!
//! # Owners: commands that write the store run in a user namespace
//!
//! `pull`, `image import`, `rmi` and `image prune` create or delete files that belong to the
//! user's subordinate ids. Like podman, burrow re-executes the same command line as root of a
//! user namespace with the user's full id map (container 0 = the caller, N > 0 =
//! subuid_start + N - 1; [`burrow_runtime::unshare`], through the setuid helpers). There,
//! the unpacker chowns each file to its archive owner (`Ownership::Auto`), and an owner
//! outside the map is refused, naming the id and `burrow admin add-user --count`. The
//! re-executed process sees `BURROW_UNSHARE=1` and does the work itself; stdin, stdout, stderr
//! and the terminal are the same, and its exit status is burrow's.
//!
//! Without a subordinate range there is no such map: the command runs directly, files stay
//! owned by the caller, and the store records the intended owners (said once, on stderr).

mod import;
mod list;
mod login;
mod pull;
mod remove;
mod shift;

pub use import::import;
pub use list::{images, inspect};
pub use login::{login, logout, LoginArgs};
pub use pull::pull;
pub use remove::{prune, rmi};
pub use shift::shift;

use super::{fail, Res};
use burrow_image::store::Store;
use burrow_image::unpack::UnpackOptions;
use burrow_runtime::ids::{self, IdPlan, Me};
use burrow_runtime::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Images in use, handed from the outer burrow to the one in the user namespace (whose
/// run-time state directory may not be reachable under the same name from there):
/// `HEX=CONTAINER,...`.
const IN_USE_ENV: &str = "BURROW_IMAGES_IN_USE";

/// An error and its causes, `outer: inner: ...` (burrow-image's errors say the fix at the
/// level that knows it: the outer for storage, the inner for an id out of range).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// burrow's own error (125) from a library error, with its causes.
pub fn lib_err(e: impl std::error::Error) -> Error {
    fail(chain(&e))
}

/// Where a command that writes the store runs.
pub enum Place {
    /// It ran in a user namespace; this is its exit status.
    Done(i32),
    /// Run it here, with these unpack options.
    Here(UnpackOptions),
}

/// The size of the id map this process runs under, counted from id 0 while contiguous, for
/// uids and gids (the smaller): what the unpacker may chown to.
fn mapped_ids() -> Option<u32> {
    let extent = |file: &str| -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        let mut lines: Vec<(u64, u64)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (f.len() == 3).then(|| (f[0], f[2]))
            })
            .collect();
        lines.sort_unstable();
        let mut covered = 0u64;
        for (inside, count) in lines {
            if inside == covered {
                covered += count;
            }
        }
        Some(covered)
    };
    let n = extent("/proc/self/uid_map")?.min(extent("/proc/self/gid_map")?);
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

/// For `pull`, `image import`, `rmi` and `image prune`: re-executes this command line as
/// root of a user namespace with the user's full id map when the user has subordinate
/// ranges (see the module docs), else says once that owners stay the user's and runs here.
pub fn in_user_namespace(quiet: bool) -> Result<Place, Error> {
    let here = |id_count| {
        Place::Here(UnpackOptions {
            id_count,
            ..UnpackOptions::default()
        })
    };
    if std::env::var_os("BURROW_UNSHARE").is_some() {
        return Ok(here(mapped_ids()));
    }
    let me = Me::current();
    if me.uid == 0 {
        // Real root chowns to the archive's ids as they are.
        return Ok(here(None));
    }
    let (plan, _) = ids::plan(&me)?;
    if !matches!(plan, IdPlan::Full { .. }) {
        if !quiet {
            let who = if me.name.is_empty() {
                me.uid.to_string()
            } else {
                me.name.clone()
            };
            eprintln!(
                "burrow: warning: {who} has no subordinate id range, so image files stay owned by you \
(the owners they should have are recorded in storage); ask your admin for one: burrow admin add-user {who}"
            );
        }
        return Ok(here(None));
    }
    let exe = std::env::current_exe()
        .map_err(|e| fail(format!("cannot find burrow's own executable: {e}")))?;
    let mut argv = vec![exe.to_string_lossy().into_owned()];
    for a in std::env::args_os().skip(1) {
        argv.push(
            a.into_string()
                .map_err(|a| fail(format!("argument {a:?} is not valid UTF-8")))?,
        );
    }
    let in_use: Vec<String> = in_use_here()?
        .into_iter()
        .map(|(hex, c)| format!("{hex}={c}"))
        .collect();
    std::env::set_var(IN_USE_ENV, in_use.join(","));
    Ok(Place::Done(burrow_runtime::unshare(argv)?))
}

/// (image id hex, container) of every container made from an image, from the state files.
fn in_use_here() -> Result<Vec<(String, String)>, Error> {
    Ok(burrow_runtime::state::images_in_use()?
        .into_iter()
        .map(|(img, c)| (img.strip_prefix("sha256:").unwrap_or(&img).to_owned(), c))
        .collect())
}

/// Image id hex -> a container using it (the outer burrow's list when it handed one over).
pub fn in_use() -> Result<BTreeMap<String, String>, Error> {
    let list = match std::env::var(IN_USE_ENV) {
        Ok(v) if std::env::var_os("BURROW_UNSHARE").is_some() => v
            .split(',')
            .filter_map(|e| e.split_once('='))
            .map(|(h, c)| (h.to_owned(), c.to_owned()))
            .collect(),
        _ => in_use_here()?,
    };
    let mut m = BTreeMap::new();
    for (h, c) in list {
        m.entry(h).or_insert(c);
    }
    Ok(m)
}

/// The user's store (read-only use: no namespace needed).
pub fn store() -> Result<Store, Error> {
    let root = Store::default_root().map_err(lib_err)?;
    Store::open(root).map_err(lib_err)
}

/// The store for writing, with the unpack options of [`in_user_namespace`].
pub fn store_with(o: UnpackOptions) -> Result<Store, Error> {
    Ok(store()?.with_unpack_options(o))
}

/// podman's places for a registry's CA certificates: `DIR` given with `--cert-dir`, else
/// `$XDG_CONFIG_HOME/containers/certs.d/REGISTRY` (or `~/.config/...`), else
/// `/etc/containers/certs.d/REGISTRY`. Returns the first `*.crt` file found (`ca.crt` first).
pub fn extra_ca(cert_dir: Option<&Path>, registry: &str) -> Result<Option<PathBuf>, Error> {
    let first_crt = |d: &Path| -> Option<PathBuf> {
        let ca = d.join("ca.crt");
        if ca.is_file() {
            return Some(ca);
        }
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt") && p.is_file())
            .collect();
        v.sort();
        v.into_iter().next()
    };
    if let Some(d) = cert_dir {
        return match first_crt(d) {
            Some(p) => Ok(Some(p)),
            None => Err(fail(format!(
                "--cert-dir {}: no CA certificate (*.crt) there",
                d.display()
            ))),
        };
    }
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("containers/certs.d"));
    Ok(user
        .into_iter()
        .chain(Some(PathBuf::from("/etc/containers/certs.d")))
        .find_map(|base| first_crt(&base.join(registry))))
}

/// The registries.conf in force, with `registry` marked insecure when `--tls-verify=false`.
pub fn registries(
    tls_verify: Option<bool>,
    registry: Option<&str>,
) -> Result<burrow_image::RegistriesConf, Error> {
    let mut c = burrow_image::RegistriesConf::load().map_err(lib_err)?;
    if tls_verify == Some(false) {
        if let Some(r) = registry {
            c.insecure.push(r.to_owned());
        }
    }
    Ok(c)
}

/// Human size in SI units, as podman prints it (`1.23 MB`).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{:.3} {}", v, UNITS[i]).replace(".000 ", " ")
    }
}

/// How long ago `t` (seconds since the epoch) was, podman's way.
pub fn ago(t: u64, now: u64) -> String {
    let d = now.saturating_sub(t);
    let (n, unit) = match d {
        0..=59 => return format!("{d} seconds ago"),
        60..=3599 => (d / 60, "minute"),
        3600..=86_399 => (d / 3600, "hour"),
        86_400..=604_799 => (d / 86_400, "day"),
        604_800..=2_678_399 => (d / 604_800, "week"),
        2_678_400..=31_535_999 => (d / 2_678_400, "month"),
        _ => (d / 31_536_000, "year"),
    };
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// Runs `f` on each image argument: prints what it returns, or the error; the status is 0 or
/// 125 when one failed.
pub fn each(items: &[String], f: impl Fn(&str) -> Result<String, Error>) -> Res {
    let mut code = 0;
    for i in items {
        match f(i) {
            Ok(out) => println!("{out}"),
            Err(e) => {
                eprintln!("burrow: {}", e.msg);
                code = e.code;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1_234_567), "1.235 MB");
        assert_eq!(human_size(2_000_000), "2 MB");
        assert_eq!(ago(100, 100), "0 seconds ago");
        assert_eq!(ago(0, 61), "1 minute ago");
        assert_eq!(ago(0, 7300), "2 hours ago");
        assert_eq!(ago(0, 86_400 * 3), "3 days ago");
    }

    #[test]
    fn chain_joins_causes_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("cannot unpack layer x")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("id 70000 out of range"));
        assert_eq!(chain(&e), "cannot unpack layer x: id 70000 out of range");
    }
}
