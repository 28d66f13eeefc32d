//! A container whose root is an image: what the front end resolved (the runtime never links
//! burrow-image), how the image's config becomes the process's defaults, and reading the
//! image's own /etc/passwd and /etc/group safely to resolve `-u NAME[:GROUP]`.
//!
//! The root is native overlayfs over the image's layers (mounted by the container's pid 1 in
//! its own user namespace, `mount.rs`), with an upper and a work directory in the container's
//! directory (a foreground run's: on a tmpfs of its own mount namespace, see `--upper-size`); where overlayfs is refused the pid 1 asks the front end's flattener (registered
//! with [`set_flattener`]) for a flattened copy, made once per container, and says why.

use crate::{err, Error};
use burrow_config::{EnvVar, IdOrName, RunConfig, User, UserSpec};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An image resolved by the front end: enough to mount its layers and to apply its config.
/// Kept as `image.json` in a created container's directory, so `burrow start` needs nothing
/// else.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImageRoot {
    /// The name it was asked for.
    pub name: String,
    /// Its id (`sha256:` of its config).
    pub id: String,
    /// Its manifest digest (the registry digest of pulled images).
    pub digest: String,
    /// The storage root it is in (for the flattener).
    pub store: PathBuf,
    /// The unpacked layers, top first (overlayfs's `lowerdir` order).
    pub lowers: Vec<PathBuf>,
    /// Config: Entrypoint.
    pub entrypoint: Vec<String>,
    /// Config: Cmd.
    pub cmd: Vec<String>,
    /// Config: Env (`NAME=VALUE`).
    pub env: Vec<String>,
    /// Config: WorkingDir.
    pub workdir: Option<String>,
    /// Config: User.
    pub user: Option<String>,
    /// Config: StopSignal.
    pub stop_signal: Option<String>,
    /// Config: ExposedPorts (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// Config: Labels.
    pub labels: BTreeMap<String, String>,
}

/// Makes a flattened copy of an image's layers in `dest` (an empty directory). Runs in the
/// container's pid 1, as root of its user namespace (so owners come out as in the image).
pub type Flattener = fn(&ImageRoot, &Path) -> Result<(), String>;

static FLATTENER: OnceLock<Flattener> = OnceLock::new();

/// Registers the flattener (the front end's, over burrow-image's `Store::flatten`).
pub fn set_flattener(f: Flattener) {
    let _ = FLATTENER.set(f);
}

pub(crate) fn flattener() -> Option<Flattener> {
    FLATTENER.get().copied()
}

/// podman's rule: `--entrypoint` (a command, a JSON array, or `""` for none) replaces the
/// image's Entrypoint, and then the image's Cmd is not used; the command line's arguments
/// replace Cmd.
pub fn compose_command(
    img: &ImageRoot,
    entrypoint: Option<&str>,
    args: &[String],
) -> Result<Vec<String>, Error> {
    let ep: Vec<String> = match entrypoint {
        None => img.entrypoint.clone(),
        Some("") => Vec::new(),
        Some(s) if s.trim_start().starts_with('[') => serde_json::from_str(s).map_err(|e| {
            err(format!(
                "--entrypoint {s}: not a JSON array of strings ({e})"
            ))
        })?,
        Some(s) => vec![s.to_owned()],
    };
    let mut cmd = ep;
    if !args.is_empty() {
        cmd.extend(args.iter().cloned());
    } else if entrypoint.is_none() {
        cmd.extend(img.cmd.iter().cloned());
    }
    if cmd.is_empty() {
        return Err(err(format!(
            "no command: image {} has neither Entrypoint nor Cmd; give one after the image name",
            img.name
        )));
    }
    Ok(cmd)
}

/// The image's defaults under the settings: its Env before `-e` (which adds and overrides),
/// its WorkingDir and User unless `-w`/`-u` are given. The command is left alone.
pub fn apply_process_defaults(c: &mut RunConfig, img: &ImageRoot) -> Result<(), Error> {
    let mut env: Vec<EnvVar> = Vec::with_capacity(img.env.len() + c.env.len());
    for e in &img.env {
        env.push(
            e.parse()
                .map_err(|x| err(format!("image {}: Env {e:?}: {x}", img.name)))?,
        );
    }
    env.append(&mut c.env);
    c.env = env;
    if c.workdir.is_none() {
        c.workdir = img.workdir.clone().filter(|w| !w.is_empty());
    }
    if c.user.is_none() {
        if let Some(u) = img.user.as_deref().filter(|u| !u.is_empty()) {
            c.user = Some(
                u.parse()
                    .map_err(|x| err(format!("image {}: User {u:?}: {x}", img.name)))?,
            );
        }
    }
    Ok(())
}

/// Where the container's /etc/passwd and /etc/group are read from (before the container
/// exists, or from outside it).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Files<'a> {
    /// A rootfs directory: resolved as if it were `/` (symlinks stay inside).
    Dir(&'a Path),
    /// An image's layers, top first: the first layer that has the file (a regular file, not
    /// through a symlink) wins; a whiteout or an opaque directory hides the layers below.
    Layers(&'a [PathBuf]),
}

const MAX_DB: u64 = 4 << 20;

fn cpath(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| err(format!("path with a NUL byte: {}", p.display())))
}

/// Reads a regular file opened as `fd` (at most [`MAX_DB`]).
fn read_regular(fd: OwnedFd, what: &str) -> Result<Option<String>, Error> {
    let f = std::fs::File::from(fd);
    let md = f.metadata().map_err(|e| err(format!("{what}: {e}")))?;
    if !md.is_file() {
        return Ok(None);
    }
    let mut text = String::new();
    f.take(MAX_DB)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("cannot read {what}: {e}")))?;
    Ok(Some(text))
}

fn is_whiteout(dir: BorrowedFd<'_>, name: &str) -> bool {
    use nix::sys::stat::{fstatat, SFlag};
    let Ok(st) = fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else {
        return false;
    };
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFCHR && st.st_rdev == 0 {
        return true;
    }
    if kind == SFlag::S_IFREG && st.st_size == 0 {
        let Ok(c) = CString::new(name) else {
            return false;
        };
        if let Ok(fd) = burrow_sys::openat2(
            Some(dir),
            &c,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW,
            burrow_sys::resolve::BENEATH | burrow_sys::resolve::NO_SYMLINKS,
        ) {
            return burrow_sys::fgetxattr(fd.as_fd(), c"user.overlay.whiteout").is_ok();
        }
    }
    false
}

/// `/etc/NAME` of the container's root, if it has one.
pub(crate) fn read_etc(files: Files<'_>, name: &str) -> Result<Option<String>, Error> {
    use burrow_sys::resolve;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let rel = CString::new(format!("etc/{name}")).map_err(|_| err("bad name"))?;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    match files {
        Files::Dir(root) => {
            let r = burrow_sys::openat2(None, &cpath(root)?, libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(|e| err(format!("rootfs {}: {e}", root.display())))?;
            match burrow_sys::openat2(
                Some(r.as_fd()),
                &rel,
                flags,
                RESOLVE_IN_ROOT | resolve::NO_MAGICLINKS | resolve::NO_XDEV,
            ) {
                Ok(fd) => read_regular(fd, &format!("/etc/{name}")),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
                Err(e) => Err(err(format!("cannot open /etc/{name} of the rootfs: {e}"))),
            }
        }
        Files::Layers(layers) => {
            let how = resolve::BENEATH | resolve::NO_SYMLINKS | resolve::NO_MAGICLINKS;
            for l in layers {
                let Ok(top) =
                    burrow_sys::openat2(None, &cpath(l)?, libc::O_PATH | libc::O_DIRECTORY, 0)
                else {
                    return Err(err(format!(
                        "the image layer {} is missing (storage damaged? pull the image again)",
                        l.display()
                    )));
                };
                if is_whiteout(top.as_fd(), "etc") {
                    return Ok(None);
                }
                let etc = match burrow_sys::openat2(
                    Some(top.as_fd()),
                    c"etc",
                    libc::O_RDONLY | libc::O_DIRECTORY,
                    how,
                ) {
                    Ok(fd) => fd,
                    Err(_) => continue,
                };
                if is_whiteout(etc.as_fd(), name) {
                    return Ok(None);
                }
                let file = CString::new(name).map_err(|_| err("bad name"))?;
                match burrow_sys::openat2(Some(etc.as_fd()), &file, flags, how) {
                    Ok(fd) => return read_regular(fd, &format!("/etc/{name}")),
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        return Err(err(format!(
                            "the image's /etc/{name} is a symlink: names cannot be looked up (give numeric ids with -u)"
                        )))
                    }
                    Err(_) => {}
                }
                if burrow_sys::fgetxattr(etc.as_fd(), c"user.overlay.opaque")
                    .is_ok_and(|v| v == b"y")
                {
                    return Ok(None);
                }
            }
            Ok(None)
        }
    }
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pw {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd(text: &str) -> Vec<Pw> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(Pw {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
            })
        })
        .collect()
}

fn group(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some((f[0].to_owned(), f[2].parse().ok()?))
        })
        .collect()
}

/// The gids of the groups whose member lists (the 4th field of /etc/group) name `user`: the
/// user's supplementary groups, as login(1) and podman give them.
fn member_of(text: &str, user: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            let gid = f[2].parse().ok()?;
            f[3].split(',').any(|m| m.trim() == user).then_some(gid)
        })
        .collect()
}

/// A resolved user: its ids, its supplementary groups and, when the container's passwd has
/// it, its home.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Resolved {
    pub user: User,
    /// Supplementary gids (without the primary one unless a group lists it), in order, each
    /// once: the user's groups in the container's /etc/group, then `--group-add`.
    pub groups: Vec<u32>,
    pub home: Option<String>,
}

/// Resolves `-u` and `--group-add` against the root's /etc/passwd and /etc/group. `always`
/// reads passwd even for numeric ids (images: HOME, the primary group and the supplementary
/// groups come from it); a rootfs directory is read only when a name must be looked up, so a
/// plain `--rootfs` run reads nothing. A user found in passwd gets the groups that list its
/// name in /etc/group as supplementary groups (podman's rule).
pub(crate) fn resolve_user(
    spec: Option<&UserSpec>,
    group_add: &[IdOrName],
    files: Files<'_>,
    always: bool,
) -> Result<Resolved, Error> {
    let default = UserSpec {
        user: IdOrName::Id(0),
        group: None,
    };
    let spec = spec.unwrap_or(&default);
    let needs_names =
        matches!(spec.user, IdOrName::Name(_)) || matches!(spec.group, Some(IdOrName::Name(_)));
    let added_names = group_add.iter().any(|g| matches!(g, IdOrName::Name(_)));
    if !needs_names && !always {
        let text = if added_names {
            read_etc(files, "group")?
        } else {
            None
        };
        return Ok(Resolved {
            user: spec.numeric().unwrap_or_default(),
            groups: add_groups(Vec::new(), group_add, text.as_deref())?,
            home: None,
        });
    }
    let pw_text = read_etc(files, "passwd")?;
    let pw = pw_text.as_deref().map(passwd).unwrap_or_default();
    let (uid, entry) = match &spec.user {
        IdOrName::Id(u) => (*u, pw.iter().find(|e| e.uid == *u)),
        IdOrName::Name(n) => {
            let Some(e) = pw.iter().find(|e| &e.name == n) else {
                return Err(err(if pw_text.is_none() {
                    format!(
                        "user \"{spec}\": the container has no /etc/passwd to look up \"{n}\" in (give a numeric UID[:GID])"
                    )
                } else {
                    format!("user \"{spec}\": no user \"{n}\" in the container's /etc/passwd")
                }));
            };
            (e.uid, Some(e))
        }
    };
    let group_text =
        if entry.is_some() || added_names || matches!(spec.group, Some(IdOrName::Name(_))) {
            read_etc(files, "group")?
        } else {
            None
        };
    let gid = match &spec.group {
        None => entry.map_or(uid, |e| e.gid),
        Some(IdOrName::Id(g)) => *g,
        Some(IdOrName::Name(n)) => {
            let groups = group_text.as_deref().map(group).unwrap_or_default();
            match groups.iter().find(|(name, _)| name == n) {
                Some((_, g)) => *g,
                None if group_text.is_none() => {
                    return Err(err(format!(
                        "user \"{spec}\": the container has no /etc/group to look up \"{n}\" in (give a numeric GID)"
                    )))
                }
                None => {
                    return Err(err(format!(
                        "user \"{spec}\": no group \"{n}\" in the container's /etc/group"
                    )))
                }
            }
        }
    };
    let own = match (entry, group_text.as_deref()) {
        (Some(e), Some(text)) => member_of(text, &e.name),
        _ => Vec::new(),
    };
    Ok(Resolved {
        user: User { uid, gid },
        groups: add_groups(own, group_add, group_text.as_deref())?,
        home: entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()),
    })
}

/// `groups` then the `--group-add` groups (names looked up in `group_text`, the container's
/// /etc/group), each once.
fn add_groups(
    mut groups: Vec<u32>,
    group_add: &[IdOrName],
    group_text: Option<&str>,
) -> Result<Vec<u32>, Error> {
    for g in group_add {
        let gid = match g {
            IdOrName::Id(g) => *g,
            IdOrName::Name(n) => {
                let Some(text) = group_text else {
                    return Err(err(format!(
                        "--group-add {n}: the container has no /etc/group to look up \"{n}\" in (give a numeric gid)"
                    )));
                };
                match group(text).iter().find(|(name, _)| name == n) {
                    Some((_, g)) => *g,
                    None => {
                        return Err(err(format!(
                            "--group-add {n}: no group \"{n}\" in the container's /etc/group (give a numeric gid, or a group the container has)"
                        )))
                    }
                }
            }
        };
        groups.push(gid);
    }
    let mut seen = std::collections::HashSet::new();
    groups.retain(|g| seen.insert(*g));
    Ok(groups)
}

/// The per-container directories of an image root (in the container's directory): the
/// overlay's upper and work directories, its mount point, and the flattened copy of the
/// fallback.
#[derive(Debug, Clone)]
pub(crate) struct OverlayPlan {
    pub image: ImageRoot,
    pub dir: PathBuf,
    /// Set when overlayfs must not be tried (`BURROW_OVERLAY=0`): the reason.
    pub forced_flat: Option<String>,
    /// Mount with `volatile`: the upper directory is thrown away after the run (a foreground
    /// run), so overlayfs need not sync it when it is unmounted (which costs a journal commit
    /// of the whole upper filesystem at every exit).
    pub volatile: bool,
    /// A foreground run's upper and work directories on a tmpfs of at most this many bytes,
    /// mounted in the container's own mount namespace over the containers' directory (the
    /// parent of `dir`): nothing is created on disk, and it all goes with the namespace. If
    /// overlayfs refuses it, the pid 1 makes `dir` on disk and goes on as without it.
    pub tmpfs: Option<u64>,
}

impl OverlayPlan {
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    pub fn flat(&self) -> PathBuf {
        self.dir.join("flat")
    }
    /// Makes the directories (before the clone, as the caller: container root owns them).
    /// The upper directory is the container's `/` as its users see it: 0755 (the container's
    /// directory around it is private to the caller).
    pub fn make_dirs(&self) -> Result<(), Error> {
        use std::os::unix::fs::DirBuilderExt;
        for (d, mode) in [
            (self.upper(), 0o755),
            (self.work(), 0o700),
            (self.merged(), 0o755),
        ] {
            match std::fs::DirBuilder::new().mode(mode).create(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(format!("cannot create {}: {e}", d.display()))),
            }
        }
        Ok(())
    }
}

/// `image.json` of a container directory.
pub(crate) fn load(data: &Path) -> Result<Option<ImageRoot>, Error> {
    match std::fs::read_to_string(data.join("image.json")) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| err(format!("{}: {e}", data.join("image.json").display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(format!("{}: {e}", data.join("image.json").display()))),
    }
}

pub(crate) fn save(data: &Path, img: &ImageRoot) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(img).map_err(|e| err(format!("image.json: {e}")))?;
    std::fs::write(data.join("image.json"), text)
        .map_err(|e| err(format!("cannot write image.json: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> ImageRoot {
        ImageRoot {
            name: "x".into(),
            entrypoint: vec!["/ep".into()],
            cmd: vec!["a".into(), "b".into()],
            ..ImageRoot::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd() {
        let i = img();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            compose_command(&i, None, &[]).unwrap(),
            s(&["/ep", "a", "b"])
        );
        assert_eq!(
            compose_command(&i, None, &s(&["c"])).unwrap(),
            s(&["/ep", "c"])
        );
        assert_eq!(compose_command(&i, Some("/x"), &[]).unwrap(), s(&["/x"]));
        assert_eq!(
            compose_command(&i, Some("[\"/x\",\"-y\"]"), &s(&["z"])).unwrap(),
            s(&["/x", "-y", "z"])
        );
        assert_eq!(
            compose_command(&i, Some(""), &s(&["/bin/true"])).unwrap(),
            s(&["/bin/true"])
        );
        assert!(compose_command(&i, Some(""), &[]).is_err());
    }

    #[test]
    fn db_parsers() {
        let p = passwd("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbad\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].home, "/home/app");
        assert_eq!(group("staff:x:50:app\n"), vec![("staff".to_owned(), 50)]);
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/bash\nsolo:x:1001:1001::/home/solo:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:app\nusers:x:100:other, app\nstaff:x:50:apple,xapp\napp:x:1000:\nsolo:x:1001:\naudio:x:29:\n";

    /// A rootfs with `etc/passwd` and `etc/group`, removed on drop.
    struct Root(PathBuf);
    impl Root {
        fn new(tag: &str, group: Option<&str>) -> Root {
            let d =
                std::env::temp_dir().join(format!("burrow-groups-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(d.join("etc")).unwrap();
            std::fs::write(d.join("etc/passwd"), PASSWD).unwrap();
            if let Some(g) = group {
                std::fs::write(d.join("etc/group"), g).unwrap();
            }
            Root(d)
        }
    }
    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn spec(s: &str) -> UserSpec {
        s.parse().unwrap()
    }

    #[test]
    fn member_lists() {
        assert_eq!(member_of(GROUP, "app"), vec![4, 100]);
        assert_eq!(member_of(GROUP, "solo"), Vec::<u32>::new());
        assert_eq!(member_of(GROUP, "root"), Vec::<u32>::new());
        // No substring matches, and a short line is not a member list.
        assert_eq!(member_of("g:x:7\nh:x:8:appx\n", "app"), Vec::<u32>::new());
    }

    #[test]
    fn user_groups_from_the_container() {
        let r = Root::new("names", Some(GROUP));
        let f = Files::Dir(&r.0);
        let app = resolve_user(Some(&spec("app")), &[], f, false).unwrap();
        assert_eq!(
            app.user,
            User {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(app.groups, vec![4, 100]);
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        // An image (always): a numeric uid found in passwd gets its groups too.
        let by_id = resolve_user(Some(&spec("1000")), &[], f, true).unwrap();
        assert_eq!(by_id.groups, vec![4, 100]);
        // A --rootfs numeric user reads nothing: no groups.
        let plain = resolve_user(Some(&spec("1000")), &[], f, false).unwrap();
        assert_eq!(plain.groups, Vec::<u32>::new());
        // --group-add: names and numbers, after the user's own, each once.
        let add = [
            IdOrName::Name("audio".into()),
            IdOrName::Id(4),
            IdOrName::Id(12345),
        ];
        let more = resolve_user(Some(&spec("app:staff")), &add, f, false).unwrap();
        assert_eq!(more.user, User { uid: 1000, gid: 50 });
        assert_eq!(more.groups, vec![4, 100, 29, 12345]);
        // A numeric --rootfs user with a named --group-add reads /etc/group only for it.
        let numeric = resolve_user(Some(&spec("1001:1001")), &add[..1], f, false).unwrap();
        assert_eq!(numeric.groups, vec![29]);
        let e = resolve_user(None, &[IdOrName::Name("nope".into())], f, true).unwrap_err();
        assert!(e.to_string().contains("no group \"nope\""), "{e}");
    }

    #[test]
    fn no_group_file() {
        let r = Root::new("nogroup", None);
        let f = Files::Dir(&r.0);
        let app = resolve_user(Some(&spec("app")), &[], f, false).unwrap();
        assert_eq!(app.groups, Vec::<u32>::new());
        let ok = resolve_user(Some(&spec("app")), &[IdOrName::Id(7)], f, false).unwrap();
        assert_eq!(ok.groups, vec![7]);
        let e = resolve_user(
            Some(&spec("app")),
            &[IdOrName::Name("adm".into())],
            f,
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no /etc/group"), "{e}");
    }

    #[test]
    fn group_file_through_a_symlink_stays_inside() {
        // /etc/group -> /etc/real-group is resolved inside the root, not on the host.
        let r = Root::new("symlink", None);
        std::fs::write(r.0.join("etc/real-group"), "wheel:x:10:app\n").unwrap();
        std::os::unix::fs::symlink("/etc/real-group", r.0.join("etc/group")).unwrap();
        let app = resolve_user(Some(&spec("app")), &[], Files::Dir(&r.0), false).unwrap();
        assert_eq!(app.groups, vec![10]);
    }
}
