//! The host's cgroup layout: mounts, the caller's cgroup, where the delegated subtree is, and
//! the admin's preparation of delegated directories.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cgroup::{enable, mkdir_if_missing, read_controllers, rmdir_tree};
use crate::{io_err, Controller, Error};

/// One cgroup filesystem from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted (mountinfo field 5, unescaped).
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point (mountinfo field 4; `/` unless mounted inside a
    /// cgroup namespace or bind-mounted from a sub-cgroup).
    pub root: String,
    /// True for cgroup2.
    pub v2: bool,
    /// v1: the super options other than `rw`/`ro` (the controllers, `name=systemd`,
    /// `clone_children`...). Empty for cgroup2.
    pub options: Vec<String>,
}

impl CgroupMount {
    /// The directory of cgroup `path` (as in /proc/self/cgroup) through this mount, if visible.
    fn dir(&self, fs_root: &Path, path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            path
        } else {
            match path.strip_prefix(self.root.as_str()) {
                Some(r) if r.is_empty() || r.starts_with('/') => r,
                _ => return None,
            }
        };
        let mp = self
            .mount_point
            .strip_prefix("/")
            .unwrap_or(&self.mount_point);
        let rel = rel.trim_start_matches('/');
        let mut d = fs_root.join(mp);
        if !rel.is_empty() {
            d.push(rel);
        }
        Some(d)
    }
}

/// Parses /proc/self/mountinfo and keeps the cgroup and cgroup2 mounts, in order.
pub fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMount>, Error> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-");
        let (Some(sep), true) = (sep, f.len() >= 6) else {
            return Err(Error::Format(format!("malformed mountinfo line: {line:?}")));
        };
        let (Some(fstype), Some(opts)) = (f.get(sep + 1), f.get(sep + 3)) else {
            return Err(Error::Format(format!("malformed mountinfo line: {line:?}")));
        };
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let options = if v2 {
            Vec::new()
        } else {
            opts.split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .map(str::to_owned)
                .collect()
        };
        out.push(CgroupMount {
            mount_point: PathBuf::from(unescape_mountinfo(f[4])),
            root: unescape_mountinfo(f[3]),
            v2,
            options,
        });
    }
    Ok(out)
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of /proc/self/cgroup: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    /// Hierarchy id (0 for cgroup2).
    pub id: u32,
    /// v1 controllers (and `name=...`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup path, relative to the cgroup namespace.
    pub path: String,
}

/// Parses /proc/self/cgroup.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<ProcCgroup>, Error> {
    let bad = |l: &str| Error::Format(format!("malformed /proc/self/cgroup line: {l:?}"));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(bad(line));
        };
        out.push(ProcCgroup {
            id: id.parse().map_err(|_| bad(line))?,
            controllers: ctl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// Where a user's container cgroups go, as found by [`Host::detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// cgroup v2: the delegated directory; containers go in `<root>/burrow/<name>/`.
    V2 {
        /// The delegated cgroup directory.
        root: PathBuf,
    },
    /// cgroup v1: the delegated directory of each usable controller (cpu and cpuacct share
    /// one when co-mounted); containers go in `<dir>/<name>/`. Possibly empty (no cgroup).
    V1 {
        /// Controller to its delegated directory.
        dirs: BTreeMap<Controller, PathBuf>,
    },
}

/// The host as seen by the caller: cgroup mounts, the caller's cgroups, uid and user name.
#[derive(Debug, Clone)]
pub struct Host {
    mounts: Vec<CgroupMount>,
    cgroups: Vec<ProcCgroup>,
    fs_root: PathBuf,
    uid: u32,
    user: String,
}

impl Host {
    /// The real host: /proc/self/mountinfo, /proc/self/cgroup, the effective uid from
    /// /proc/self/status and the user name from /etc/passwd (the uid in decimal if absent).
    pub fn system() -> Result<Host, Error> {
        let read = |p: &str| fs::read_to_string(p).map_err(io_err("read", Path::new(p)));
        let status = read("/proc/self/status")?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse::<u32>().ok())
            .ok_or_else(|| Error::Format("no Uid: line in /proc/self/status".into()))?;
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let user = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() == 7 && f[2].parse::<u32>().ok() == Some(uid))
            .map_or_else(|| uid.to_string(), |f| f[0].to_owned());
        Host::with_roots(
            &read("/proc/self/mountinfo")?,
            &read("/proc/self/cgroup")?,
            Path::new("/"),
            uid,
            &user,
        )
    }

    /// A host described by the given texts, with every mount point taken under `fs_root` (a
    /// fake tree in tests; `/` for the real one).
    pub fn with_roots(
        mountinfo: &str,
        proc_self_cgroup: &str,
        fs_root: &Path,
        uid: u32,
        user: &str,
    ) -> Result<Host, Error> {
        Ok(Host {
            mounts: parse_mountinfo(mountinfo)?,
            cgroups: parse_proc_cgroup(proc_self_cgroup)?,
            fs_root: fs_root.to_path_buf(),
            uid,
            user: user.to_owned(),
        })
    }

    /// The cgroup mounts.
    pub fn mounts(&self) -> &[CgroupMount] {
        &self.mounts
    }

    /// The v1 hierarchy carrying this controller.
    pub fn v1_mount(&self, c: Controller) -> Option<&CgroupMount> {
        self.mounts
            .iter()
            .find(|m| !m.v2 && m.options.iter().any(|o| o == c.name()))
    }

    /// The (first) cgroup2 mount.
    pub fn v2_mount(&self) -> Option<&CgroupMount> {
        self.mounts.iter().find(|m| m.v2)
    }

    /// The directory of the caller's cgroup2 cgroup (`0::/path`).
    pub fn own_v2_dir(&self) -> Option<PathBuf> {
        let own = self
            .cgroups
            .iter()
            .find(|c| c.id == 0 && c.controllers.is_empty())?;
        self.v2_mount()?.dir(&self.fs_root, &own.path)
    }

    /// Finds where this user's container cgroups go, so that every controller in `needed`
    /// (see [`crate::controllers`]) is usable. v2 is used when the needed controllers
    /// are in the v2 hierarchy, v1 when they are all in v1 hierarchies. A v1 [`Mode`] also
    /// lists the other controllers whose delegated directory is usable (for statistics).
    /// With `needed` empty, a v1 host gives the usable directories (maybe none) and a v2 host
    /// an error when nothing is delegated: then run without a cgroup.
    ///
    /// Errors say exactly what the user or the admin must do.
    pub fn detect(&self, needed: &[Controller]) -> Result<Mode, Error> {
        let core: Vec<Controller> = needed
            .iter()
            .copied()
            .filter(|c| *c != Controller::Cpuacct)
            .collect();
        let in_v1 = |c: &Controller| self.v1_mount(*c).is_some();
        let use_v1 = if core.is_empty() {
            [Controller::Memory, Controller::Cpu, Controller::Pids]
                .iter()
                .any(in_v1)
                || self.v2_mount().is_none()
        } else if core.iter().all(in_v1) {
            true
        } else if let Some(c) = core.iter().find(|c| in_v1(c)) {
            let other = core.iter().find(|c| !in_v1(c)).unwrap_or(c);
            return Err(Error::Delegation(format!(
                "{} and {} are in different cgroup versions on this host ({} in a v1 hierarchy, {} not), which burrow does not support; ask your admin to mount both the same way",
                c.what(), other.what(), c.name(), other.name()
            )));
        } else {
            false
        };
        if use_v1 {
            return self.detect_v1(&core);
        }
        let Some(m) = self.v2_mount() else {
            let c = core.first().copied().unwrap_or(Controller::Memory);
            return Err(Error::Delegation(format!(
                "{} need the {} cgroup controller, but this host mounts neither cgroup v2 nor a v1 {} hierarchy; ask your admin to mount cgroup2 on /sys/fs/cgroup",
                c.what(), c.name(), c.name()
            )));
        };
        self.detect_v2(m, &core)
    }

    fn what(needed: &[Controller]) -> String {
        let w: Vec<&str> = needed.iter().map(|c| c.what()).collect();
        if w.is_empty() {
            "container cgroups".to_owned()
        } else {
            w.join(" and ")
        }
    }

    fn detect_v1(&self, needed: &[Controller]) -> Result<Mode, Error> {
        let mut dirs = BTreeMap::new();
        for c in Controller::ALL {
            let Some(m) = self.v1_mount(c) else { continue };
            let rel = format!("/burrow/{}", self.user);
            let checked = match m.dir(&self.fs_root, &rel) {
                Some(dir) => self.check_v1(c, &dir).map(|()| dir),
                None => Err(Error::Delegation(format!(
                    "{} need a delegated cgroup, but the {} hierarchy mounted on {} shows only the cgroup {} (a cgroup namespace?), not {rel}",
                    c.what(), c.name(), m.mount_point.display(), m.root
                ))),
            };
            match checked {
                Ok(dir) => {
                    dirs.insert(c, dir);
                }
                Err(e) if needed.contains(&c) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(Mode::V1 { dirs })
    }

    fn check_v1(&self, c: Controller, dir: &Path) -> Result<(), Error> {
        let (user, uid) = (&self.user, self.uid);
        let fix = format!("ask your admin to run: burrow admin add-user {user}");
        let md = match fs::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Delegation(format!(
                    "{} need a delegated cgroup: this host uses cgroup v1 and {} does not exist; {fix}",
                    c.what(), dir.display()
                )))
            }
            r => r.map_err(io_err("inspect", dir))?,
        };
        if md.uid() != uid || md.mode() & 0o200 == 0 {
            return Err(Error::Delegation(format!(
                "{} need a delegated cgroup: this host uses cgroup v1 and {} belongs to uid {} (mode {:o}), not to you (uid {uid}); {fix}",
                c.what(), dir.display(), md.uid(), md.mode() & 0o7777
            )));
        }
        Ok(())
    }

    /// Owned by the caller, with owned and owner-writable cgroup.procs and subtree_control.
    /// Compares the owner uid (not access(2)), so it means the same when run as root.
    fn delegated(&self, dir: &Path) -> bool {
        let ok = |p: &Path, bits: u32| {
            fs::metadata(p).is_ok_and(|m| m.uid() == self.uid && m.mode() & bits == bits)
        };
        ok(dir, 0o200)
            && ok(&dir.join("cgroup.procs"), 0o200)
            && ok(&dir.join("cgroup.subtree_control"), 0o200)
    }

    fn detect_v2(&self, m: &CgroupMount, needed: &[Controller]) -> Result<Mode, Error> {
        let (user, uid) = (&self.user, self.uid);
        let mroot = m.dir(&self.fs_root, &m.root).unwrap_or_default();
        let own = self.own_v2_dir();
        let root = own
            .iter()
            .flat_map(|o| o.ancestors())
            .take_while(|a| a.starts_with(&mroot))
            .filter(|a| self.delegated(a))
            .last()
            .map(Path::to_path_buf);
        let what = Self::what(needed);
        let own_s = self
            .cgroups
            .iter()
            .find(|c| c.id == 0)
            .map_or("(unknown: no 0:: line in /proc/self/cgroup)", |c| {
                c.path.as_str()
            });
        let Some(root) = root else {
            let conf = mroot.join("burrow").join(user);
            let sysd = mroot.join(format!("user.slice/user-{uid}.slice/user@{uid}.service"));
            return Err(Error::Delegation(if self.delegated(&conf) {
                format!(
                    "{what} need a delegated cgroup: {} is prepared for you, but this process runs in cgroup {own_s}, outside it. On a host without systemd your sessions must start inside it (a login script or pam_cgroup moving the login shell into {}/session), because cgroup v2 moves a process only with write access to the cgroup.procs of the common ancestor",
                    conf.display(), conf.display()
                )
            } else if self.delegated(&sysd) {
                format!(
                    "{what} need a delegated cgroup: systemd delegates {} to you, but this process runs in cgroup {own_s}, outside it; run burrow inside your user manager, for example: systemd-run --user --scope burrow ...",
                    sysd.display()
                )
            } else {
                format!(
                    "{what} need a delegated cgroup: this host uses cgroup v2, no cgroup above this process ({own_s}) belongs to you (uid {uid}), and {} does not exist; ask your admin to enable systemd user delegation (Delegate=yes in user@.service) or run: burrow admin add-user {user}",
                    conf.display()
                )
            }));
        };
        let avail = read_controllers(&root)?;
        if let Some(c) = needed.iter().find(|c| !avail.iter().any(|a| a == c.name())) {
            // Below systemd's user@UID.service only Delegate= helps: `burrow admin add-user`
            // leaves a systemd host's hierarchy to systemd and creates nothing there.
            let sysd = mroot.join(format!("user.slice/user-{uid}.slice/user@{uid}.service"));
            let fix = if root.starts_with(&sysd) {
                format!(
                    "systemd delegates {} to you without it: ask your admin to add it to Delegate= for user@.service (a drop-in with Delegate=cpu memory pids, or Delegate=yes), then log in again",
                    sysd.display()
                )
            } else {
                format!(
                    "ask your admin to delegate it (systemd: Delegate=yes or Delegate=cpu memory pids for user@.service) or to run: burrow admin add-user {user}"
                )
            };
            return Err(Error::Delegation(format!(
                "{} need the {} controller, but your delegated cgroup {} does not offer it (it is not in its cgroup.controllers); {fix}",
                c.what(),
                c.name(),
                root.display()
            )));
        }
        Ok(Mode::V2 { root })
    }

    /// For `burrow admin add-user` (root): on every v1 hierarchy with memory, cpu, cpuacct or
    /// pids, creates `<mount>/burrow/` (root's, 0755) and `<mount>/burrow/<user>/`, and gives
    /// the user that directory and its `cgroup.procs` and `tasks` (enough to create child
    /// cgroups, whose files the kernel then makes the user's, and to move processes). The
    /// other files stay root's. Idempotent. Returns the user's directories.
    pub fn admin_prepare_v1(&self, user: &str, uid: u32, gid: u32) -> Result<Vec<PathBuf>, Error> {
        check_user(user)?;
        let mut out = Vec::new();
        for base in self.v1_bases() {
            mkdir_if_missing(&base)?;
            fs::set_permissions(&base, fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod", &base))?;
            let dir = base.join(user);
            mkdir_if_missing(&dir)?;
            give(&dir, &["cgroup.procs", "tasks"], uid, gid)?;
            out.push(dir);
        }
        Ok(out)
    }

    /// For `burrow admin remove-user`: removes `<mount>/burrow/<user>/` and the container
    /// cgroups in it from every v1 hierarchy (fails if processes remain). Returns what existed.
    pub fn admin_remove_v1(&self, user: &str) -> Result<Vec<PathBuf>, Error> {
        check_user(user)?;
        let mut out = Vec::new();
        for base in self.v1_bases() {
            let dir = base.join(user);
            if dir.is_dir() {
                rmdir_tree(&dir)?;
                out.push(dir);
            }
        }
        Ok(out)
    }

    /// `<mount>/burrow` of each distinct v1 hierarchy Burrow uses.
    fn v1_bases(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for c in Controller::ALL {
            let Some(d) = self
                .v1_mount(c)
                .and_then(|m| m.dir(&self.fs_root, "/burrow"))
            else {
                continue;
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// For `burrow admin add-user` on a v2 host without systemd delegation (root): creates
    /// `<v2 mount>/burrow/` (root's, 0755) and `<v2 mount>/burrow/<user>/`, enables the
    /// available cpu, memory and pids controllers in the subtree_control of the mount root and
    /// of `burrow/`, and gives the user the directory and its `cgroup.procs`,
    /// `cgroup.subtree_control` and `cgroup.threads`. The user's sessions must then start in a
    /// child of that directory (see the crate documentation). Idempotent.
    pub fn admin_prepare_v2(&self, user: &str, uid: u32, gid: u32) -> Result<PathBuf, Error> {
        check_user(user)?;
        let (mroot, avail) = self.v2_root_controllers()?;
        enable(&mroot, &avail)?;
        let base = mroot.join("burrow");
        mkdir_if_missing(&base)?;
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", &base))?;
        enable(&base, &avail)?;
        let dir = base.join(user);
        mkdir_if_missing(&dir)?;
        give(
            &dir,
            &["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"],
            uid,
            gid,
        )?;
        Ok(dir)
    }

    /// For `burrow admin remove-user` on v2: removes `<v2 mount>/burrow/<user>/` and every
    /// cgroup below it (fails if processes remain). Returns it if it existed.
    pub fn admin_remove_v2(&self, user: &str) -> Result<Option<PathBuf>, Error> {
        check_user(user)?;
        let Some(m) = self.v2_mount() else {
            return Ok(None);
        };
        let dir = m
            .dir(&self.fs_root, &m.root)
            .unwrap_or_default()
            .join("burrow")
            .join(user);
        if !dir.is_dir() {
            return Ok(None);
        }
        rmdir_tree(&dir)?;
        Ok(Some(dir))
    }

    fn v2_root_controllers(&self) -> Result<(PathBuf, Vec<String>), Error> {
        let m = self
            .v2_mount()
            .ok_or_else(|| Error::Delegation("no cgroup2 filesystem is mounted".into()))?;
        let mroot = m.dir(&self.fs_root, &m.root).unwrap_or_default();
        let avail: Vec<String> = read_controllers(&mroot)?
            .into_iter()
            .filter(|c| ["cpu", "memory", "pids"].contains(&c.as_str()))
            .collect();
        if avail.is_empty() {
            return Err(Error::Delegation(format!(
                "the cgroup v2 hierarchy at {} offers none of cpu, memory and pids (they are bound to v1 hierarchies); prepare the v1 hierarchies instead",
                mroot.display()
            )));
        }
        Ok((mroot, avail))
    }

    /// `burrow admin add-user`'s cgroup step: v1 when memory, cpu or pids is in a v1
    /// hierarchy ([`Host::admin_prepare_v1`]), else v2 ([`Host::admin_prepare_v2`]).
    pub fn admin_prepare(&self, user: &str, uid: u32, gid: u32) -> Result<Vec<PathBuf>, Error> {
        if self.uses_v1() {
            self.admin_prepare_v1(user, uid, gid)
        } else {
            self.admin_prepare_v2(user, uid, gid).map(|d| vec![d])
        }
    }

    /// `burrow admin remove-user`'s cgroup step, the reverse of [`Host::admin_prepare`].
    pub fn admin_remove(&self, user: &str) -> Result<Vec<PathBuf>, Error> {
        if self.uses_v1() {
            self.admin_remove_v1(user)
        } else {
            self.admin_remove_v2(user).map(|d| d.into_iter().collect())
        }
    }

    fn uses_v1(&self) -> bool {
        [Controller::Memory, Controller::Cpu, Controller::Pids]
            .iter()
            .any(|c| self.v1_mount(*c).is_some())
    }
}

fn check_user(user: &str) -> Result<(), Error> {
    if user.is_empty() || user.starts_with('.') || user.contains(['/', '\n', '\0']) {
        return Err(Error::Invalid(format!("invalid user name {user:?}")));
    }
    Ok(())
}

/// chowns `dir` and those of `files` in it that exist.
fn give(dir: &Path, files: &[&str], uid: u32, gid: u32) -> Result<(), Error> {
    chown(dir, Some(uid), Some(gid)).map_err(io_err("chown", dir))?;
    for f in files {
        let p = dir.join(f);
        match chown(&p, Some(uid), Some(gid)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            r => r.map_err(io_err("chown", &p))?,
        }
    }
    Ok(())
}
