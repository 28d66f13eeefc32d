//! Host facts and probes shared by `burrow doctor` and `burrow admin check`: who is asking,
//! /proc/self/status, user namespace sysctls, mountinfo, file facts of the subid files, the
//! id-map helpers. Pure functions over text or facts given as parameters; the `probe_*` and
//! `read_opt` functions gather those inputs from the host.

use crate::report::Line;
use burrow_idmap::IdKind;
use burrow_runtime::ids;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A user account, as NSS returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Who is asking: the admin (`burrow admin check`, fixes are commands to run) or a user
/// (`burrow doctor`, fixes that need root are prefixed with "ask your admin: ").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// root, running `burrow admin check`.
    Admin,
    /// An ordinary user running `burrow doctor`.
    User,
}

impl Asker {
    /// The fix for something only root can do.
    pub fn root_fix(self, cmd: &str) -> String {
        match self {
            Asker::Admin => cmd.to_owned(),
            Asker::User => format!("ask your admin: {cmd}"),
        }
    }
}

/// A field of `/proc/PID/status` (`"NoNewPrivs"` -> `"1"`).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// The effective uid from `/proc/self/status` text.
pub fn effective_uid(status: &str) -> Option<u32> {
    status_field(status, "Uid")?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The no_new_privs finding from `/proc/self/status` text.
pub fn nnp_line(status: &str, asker: Asker) -> Line {
    let topic = "no_new_privs";
    match status_field(status, "NoNewPrivs") {
        Some("0") => Line::ok(
            topic,
            "not set for this process: the setuid helpers keep their privilege",
        ),
        Some("1") => Line::fail(
            topic,
            "this process runs under no_new_privs: setuid bits and file capabilities are ignored, \
so burrow-newuidmap/burrow-newgidmap have no privilege and containers get one id",
        )
        .fix(match asker {
            Asker::Admin => "run burrow outside NoNewPrivileges= (systemd), --security-opt no-new-privileges (docker/podman) or setpriv --no-new-privs",
            Asker::User => "start your shell outside NoNewPrivileges= (systemd), --security-opt no-new-privileges (docker/podman) or setpriv --no-new-privs",
        }),
        _ => Line::warn(topic, "cannot tell (no NoNewPrivs field in /proc/self/status)"),
    }
}

/// A sysctl value as read from /proc/sys (None: the file does not exist on this kernel).
fn sysctl_num(v: Option<&str>) -> Option<Result<u64, String>> {
    v.map(|s| s.trim().parse::<u64>().map_err(|_| s.trim().to_owned()))
}

/// The user-namespace switches: `user.max_user_namespaces` and, where the kernel has them,
/// Debian's `kernel.unprivileged_userns_clone` and Ubuntu's AppArmor
/// `kernel.apparmor_restrict_unprivileged_userns`. Each argument is the file's text, or None
/// when the file does not exist.
pub fn userns_lines(
    max_userns: Option<&str>,
    userns_clone: Option<&str>,
    apparmor_restrict: Option<&str>,
    asker: Asker,
) -> Vec<Line> {
    let topic = "user namespaces";
    let persist = |key: &str, val: &str| {
        asker.root_fix(&format!(
            "sudo sysctl -w {key}={val} && echo {key}={val} | sudo tee /etc/sysctl.d/90-burrow-userns.conf"
        ))
    };
    let mut out = Vec::new();
    match sysctl_num(max_userns) {
        None => out.push(Line::fail(
            topic,
            "/proc/sys/user/max_user_namespaces is missing: this kernel has no user namespaces (CONFIG_USER_NS)",
        ).fix("boot a kernel built with CONFIG_USER_NS=y")),
        Some(Ok(0)) => out.push(
            Line::fail(topic, "user.max_user_namespaces is 0: nobody can create a user namespace")
                .fix(persist("user.max_user_namespaces", "15000")),
        ),
        Some(Ok(n)) => out.push(Line::ok(topic, format!("user.max_user_namespaces = {n}"))),
        Some(Err(s)) => out.push(Line::warn(topic, format!("user.max_user_namespaces reads \"{}\"", burrow_idmap::shown(&s)))),
    }
    match sysctl_num(userns_clone) {
        None => {}
        Some(Ok(0)) => out.push(
            Line::fail(
                topic,
                "kernel.unprivileged_userns_clone is 0: only root may create user namespaces",
            )
            .fix(persist("kernel.unprivileged_userns_clone", "1")),
        ),
        Some(Ok(_)) => out.push(Line::ok(topic, "kernel.unprivileged_userns_clone = 1")),
        Some(Err(s)) => out.push(Line::warn(
            topic,
            format!(
                "kernel.unprivileged_userns_clone reads \"{}\"",
                burrow_idmap::shown(&s)
            ),
        )),
    }
    match sysctl_num(apparmor_restrict) {
        None => {}
        Some(Ok(0)) => out.push(Line::ok(
            topic,
            "kernel.apparmor_restrict_unprivileged_userns = 0",
        )),
        Some(Ok(_)) => out.push(
            Line::fail(
                topic,
                "kernel.apparmor_restrict_unprivileged_userns is on: AppArmor strips every capability \
inside a user namespace made by an unconfined program, so burrow cannot set up a container",
            )
            .fix(persist("kernel.apparmor_restrict_unprivileged_userns", "0")),
        ),
        Some(Err(s)) => out.push(Line::warn(
            topic,
            format!(
                "kernel.apparmor_restrict_unprivileged_userns reads \"{}\"",
                burrow_idmap::shown(&s)
            ),
        )),
    }
    out
}

/// One entry of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount point (octal escapes decoded).
    pub point: PathBuf,
    /// Per-mount options (`rw,nosuid,...`).
    pub options: String,
    /// Filesystem type.
    pub fstype: String,
    /// Superblock options.
    pub super_options: String,
}

/// Parses /proc/self/mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(Mount {
                point: PathBuf::from(burrow_cgroups::unescape_mountinfo(pre.get(4)?)),
                options: (*pre.get(5)?).to_owned(),
                fstype: (*post.first()?).to_owned(),
                super_options: post.get(2).copied().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// The mount `path` (absolute, symlinks resolved) lives on: the last mounted of the longest
/// matching mount points.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.point)
            && best.is_none_or(|b| m.point.components().count() >= b.point.components().count())
        {
            best = Some(m);
        }
    }
    best
}

/// Facts about a file, from lstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// A symbolic link.
    pub symlink: bool,
    /// A regular file.
    pub regular: bool,
    /// A directory.
    pub dir: bool,
    /// Owner uid.
    pub uid: u32,
    /// Mode bits (with the file type bits).
    pub mode: u32,
}

impl FileFacts {
    /// lstat; `Ok(None)` when it does not exist.
    pub fn of(path: &Path) -> std::io::Result<Option<FileFacts>> {
        match std::fs::symlink_metadata(path) {
            Ok(md) => Ok(Some(FileFacts {
                symlink: md.file_type().is_symlink(),
                regular: md.file_type().is_file(),
                dir: md.file_type().is_dir(),
                uid: md.uid(),
                mode: md.mode(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The checks the helpers make on /etc/subuid and /etc/subgid (`secure_open_config`), plus
/// readability by everyone (the helpers read it as the caller). `dir` is /etc.
pub fn subid_file_line(
    kind: IdKind,
    file: Option<FileFacts>,
    dir: Option<FileFacts>,
    asker: Asker,
    user: &str,
) -> Line {
    let path = kind.subid_path();
    let Some(f) = file else {
        let add = format!("sudo burrow admin add-user {}", or_user(user));
        return Line::warn(
            path,
            format!(
                "does not exist: nobody has subordinate {}s yet",
                kind.word()
            ),
        )
        .fix(asker.root_fix(&add));
    };
    let mode = f.mode & 0o7777;
    let fixperm = format!("sudo chown root:root {path} && sudo chmod 0644 {path}");
    if f.symlink {
        return Line::fail(
            path,
            "is a symbolic link: the helpers refuse it (it must be a regular root-owned file)",
        )
        .fix(asker.root_fix(&format!(
            "sudo cp --remove-destination \"$(readlink -f {path})\" {path} && {fixperm}"
        )));
    }
    if !f.regular {
        return Line::fail(path, "is not a regular file: the helpers refuse it");
    }
    if f.uid != 0 {
        return Line::fail(
            path,
            format!("is owned by uid {}, not root: the helpers refuse it", f.uid),
        )
        .fix(asker.root_fix(&fixperm));
    }
    if mode & 0o022 != 0 {
        return Line::fail(
            path,
            format!("is writable by group or others (mode {mode:04o}): the helpers refuse it"),
        )
        .fix(asker.root_fix(&fixperm));
    }
    if mode & 0o444 != 0o444 {
        return Line::fail(
            path,
            format!(
                "is not readable by everyone (mode {mode:04o}): the helpers read it as the calling user"
            ),
        )
        .fix(asker.root_fix(&fixperm));
    }
    if let Some(d) = dir {
        if d.uid != 0 || d.mode & 0o002 != 0 {
            return Line::fail(
                path,
                "its directory is not root-owned or is world-writable: the helpers refuse it",
            )
            .fix(asker.root_fix("sudo chown root:root /etc && sudo chmod 0755 /etc"));
        }
    }
    Line::ok(path, format!("root-owned regular file, mode {mode:04o}"))
}

fn or_user(user: &str) -> &str {
    if user.is_empty() {
        "USER"
    } else {
        user
    }
}

/// The helper search's error (from `find_helpers`), as a finding with its fix.
pub fn helper_error_line(msg: &str, asker: Asker) -> Line {
    let topic = "helpers";
    if let Some((path, _)) = msg.split_once(" is neither setuid root nor has file capabilities") {
        let cap = if path.ends_with("burrow-newgidmap") {
            "cap_setgid"
        } else {
            "cap_setuid"
        };
        return Line::fail(
            topic,
            format!("{path} is neither setuid root nor has file capabilities, so it cannot map ids"),
        )
        .fix(asker.root_fix(&format!(
            "sudo chown root:root {path} && sudo chmod 4755 {path}   (or: sudo setcap {cap}+ep {path})"
        )));
    }
    if msg.contains("not found") {
        let first = msg.split("; ").next().unwrap_or(msg);
        return Line::fail(topic, first.to_owned()).fix(asker.root_fix(
            "sudo bash scripts/quickstart.sh   (or set BURROW_HELPERS_DIR to the directory holding burrow-newuidmap and burrow-newgidmap)",
        ));
    }
    Line::fail(topic, msg.to_owned())
}

/// What is known about one installed helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperFacts {
    /// Its path.
    pub path: PathBuf,
    /// Owner uid and mode of the binary.
    pub file: Option<FileFacts>,
    /// Owner uid and mode of its directory.
    pub dir: Option<FileFacts>,
    /// The options of the mount it is on.
    pub mount_options: Option<String>,
}

impl HelperFacts {
    /// Gathers the facts for `path`, with the mounts of /proc/self/mountinfo.
    pub fn of(path: &Path, mounts: &[Mount]) -> HelperFacts {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        HelperFacts {
            path: path.to_path_buf(),
            file: FileFacts::of(&real).ok().flatten(),
            dir: real.parent().and_then(|d| FileFacts::of(d).ok().flatten()),
            mount_options: mount_of(mounts, &real).map(|m| m.options.clone()),
        }
    }
}

/// Findings for helpers that `find_helpers` accepted (privileged): how they are installed, and
/// what would still stop them (a nosuid mount, a directory others can write).
pub fn helper_lines(found: &[HelperFacts], source: &str, asker: Asker) -> Vec<Line> {
    let mut out = Vec::new();
    for h in found {
        let p = h.path.display();
        let how = match h.file {
            Some(f) if f.uid == 0 && f.mode & 0o4000 != 0 => "setuid root",
            _ => "with file capabilities",
        };
        out.push(Line::ok(
            "helpers",
            format!("{p}: installed {how} (found through {source})"),
        ));
        if let Some(opts) = &h.mount_options {
            if opts.split(',').any(|o| o == "nosuid") {
                out.push(
                    Line::fail(
                        "helpers",
                        format!("{p} is on a nosuid mount: its setuid bit and file capabilities are ignored"),
                    )
                    .fix(asker.root_fix(
                        "install the helpers on a filesystem mounted without nosuid (e.g. /usr/local/bin) and set BURROW_HELPERS_DIR or PATH to it",
                    )),
                );
            }
        }
        let unsafe_file = h.file.is_some_and(|f| f.mode & 0o022 != 0);
        let unsafe_dir = h.dir.is_some_and(|d| d.uid != 0 || d.mode & 0o022 != 0);
        if unsafe_file || unsafe_dir {
            let dir = h
                .path
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            out.push(
                Line::fail(
                    "helpers",
                    format!("{p} or its directory can be written by someone other than root: anybody who can replace it gets root"),
                )
                .fix(asker.root_fix(&format!(
                    "sudo chown root:root {dir} {p} && sudo chmod go-w {dir} {p}"
                ))),
            );
        }
    }
    out
}

/// The helpers: found, privileged, safely installed. Reads the environment and the disk.
pub fn probe_helpers(mounts: &[Mount], asker: Asker) -> (Option<ids::Helpers>, Vec<Line>) {
    match ids::find_helpers() {
        Ok(h) => {
            let facts = [
                HelperFacts::of(&h.uid, mounts),
                HelperFacts::of(&h.gid, mounts),
            ];
            let lines = helper_lines(&facts, &h.source, asker);
            (Some(h), lines)
        }
        Err(e) => (None, vec![helper_error_line(&e.msg, asker)]),
    }
}

/// Reads a small text file; None when it cannot be read.
pub fn read_opt(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The three user-namespace switches of this host.
pub fn probe_userns(asker: Asker) -> Vec<Line> {
    userns_lines(
        read_opt("/proc/sys/user/max_user_namespaces").as_deref(),
        read_opt("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
        read_opt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
        asker,
    )
}

/// The `kernel` finding from the `uname -r` release (None: it could not be read): ok at or
/// above [`burrow_sys::kernel::MINIMUM`], otherwise a failure naming what is missing.
pub fn kernel_line(release: Option<&str>, asker: Asker) -> Line {
    use burrow_sys::kernel::{missing, parse_release, MINIMUM};
    let topic = "kernel";
    let (maj, min) = MINIMUM;
    let Some(release) = release.map(str::trim) else {
        return Line::warn(
            topic,
            format!("cannot read the kernel release: burrow needs Linux {maj}.{min} or later"),
        );
    };
    let Some(version) = parse_release(release) else {
        return Line::warn(
            topic,
            format!(
                "cannot tell the version from the release {release:?}: burrow needs Linux {maj}.{min} or later"
            ),
        );
    };
    let lacking = missing(version);
    if lacking.is_empty() {
        return Line::ok(
            topic,
            format!("Linux {release} (burrow needs {maj}.{min} or later)"),
        );
    }
    let names = lacking
        .iter()
        .map(|f| format!("{} ({}.{})", f.name, f.since.0, f.since.1))
        .collect::<Vec<_>>()
        .join(", ");
    Line::fail(
        topic,
        format!(
            "Linux {release} is too old: burrow needs {maj}.{min} or later; this kernel lacks {names}"
        ),
    )
    .fix(asker.root_fix(&format!(
        "boot a kernel {maj}.{min} or later (Debian 12 ships 6.1, Ubuntu 22.04 5.15, RHEL 9 5.14)"
    )))
}

/// The `kernel` finding for the running kernel.
pub fn probe_kernel(asker: Asker) -> Line {
    let release = burrow_sys::kernel::release().or_else(|| read_opt("/proc/sys/kernel/osrelease"));
    kernel_line(release.as_deref(), asker)
}
