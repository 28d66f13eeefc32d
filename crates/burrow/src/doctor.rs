//! `burrow doctor`: what the current user can do with burrow on this host, and for each thing
//! that does not work, why and the exact fix. Also the report type shared with
//! `burrow admin check` ([`Report`], [`Line`]) and the host probes both commands use.
//!
//! Every decision is a pure function over text or facts given as parameters (unit-tested
//! without root); the functions that read the host only gather those inputs.

use crate::admin::CgroupHook;
use burrow_idmap::{subid, IdKind, SubidFile};
use burrow_runtime::ids::{self, IdPlan, Me};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------ the report

/// How a line of a report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Works.
    Ok,
    /// A fact, neither good nor bad (nothing to fix).
    Info,
    /// Works, but something is off or limited.
    Warn,
    /// Does not work.
    Fail,
}

impl Status {
    /// The tag shown in the text rendering.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ok]  ",
            Status::Info => "[info]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
        }
    }
}

/// One finding: a status, a topic, a message, and for a problem the exact fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// How it went.
    pub status: Status,
    /// What it is about ("helpers", "/etc/subuid", ...).
    pub topic: String,
    /// What was found.
    pub message: String,
    /// The exact command (or action) that fixes it.
    pub fix: Option<String>,
}

impl Line {
    /// A line without a fix.
    pub fn new(status: Status, topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line {
            status,
            topic: topic.into(),
            message: message.into(),
            fix: None,
        }
    }
    /// [`Status::Ok`].
    pub fn ok(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Ok, topic, message)
    }
    /// [`Status::Info`].
    pub fn info(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Info, topic, message)
    }
    /// [`Status::Warn`].
    pub fn warn(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Warn, topic, message)
    }
    /// [`Status::Fail`].
    pub fn fail(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Fail, topic, message)
    }
    /// Adds the fix.
    pub fn fix(mut self, fix: impl Into<String>) -> Line {
        self.fix = Some(fix.into());
        self
    }
}

/// A list of findings with a title; renders as text (one line per finding, the fix
/// indented below it, a summary at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// First line of the rendering.
    pub title: String,
    /// The findings, in order.
    pub lines: Vec<Line>,
}

impl Report {
    /// An empty report.
    pub fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            lines: Vec::new(),
        }
    }
    /// Adds one finding.
    pub fn push(&mut self, line: Line) {
        self.lines.push(line);
    }
    /// Adds several findings.
    pub fn extend(&mut self, lines: impl IntoIterator<Item = Line>) {
        self.lines.extend(lines);
    }
    /// Number of findings with this status.
    pub fn count(&self, status: Status) -> usize {
        self.lines.iter().filter(|l| l.status == status).count()
    }
    /// True when something does not work.
    pub fn has_failures(&self) -> bool {
        self.count(Status::Fail) > 0
    }
    /// The exit status for the command line: 1 when something fails, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.has_failures())
    }
    /// The text rendering.
    pub fn render(&self) -> String {
        let mut s = format!("{}\n", self.title);
        for l in &self.lines {
            s.push_str(&format!("{} {}: {}\n", l.status.tag(), l.topic, l.message));
            if let Some(fix) = &l.fix {
                s.push_str(&format!("       fix: {fix}\n"));
            }
        }
        let (f, w) = (self.count(Status::Fail), self.count(Status::Warn));
        s.push_str(&match (f, w) {
            (0, 0) => "no problems found\n".to_owned(),
            _ => format!("{f} failure(s), {w} warning(s)\n"),
        });
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

// ------------------------------------------------------------------ shared pure helpers

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

// ------------------------------------------------------------------------ doctor: pure parts

/// The current user's subordinate range in one file (`text` None: unreadable or missing,
/// with the reason).
pub fn my_subid_lines(kind: IdKind, text: Result<&str, &str>, me: &Me) -> Vec<Line> {
    let path = kind.subid_path();
    let who = if me.name.is_empty() {
        me.uid.to_string()
    } else {
        me.name.clone()
    };
    let add = Asker::User.root_fix(&format!("sudo burrow admin add-user {who}"));
    let text = match text {
        Ok(t) => t,
        Err(why) => {
            return vec![Line::warn(
                path,
                format!("cannot read it ({why}): you have no subordinate {}s; containers get one id (root inside = you)", kind.word()),
            )
            .fix(add)]
        }
    };
    let file = SubidFile::parse(text);
    let mine = |o: &str| subid::owner_matches(o, &me.name, me.uid, &[]);
    let mut out = Vec::new();
    let again = Asker::User.root_fix(&format!(
        "sudo burrow admin remove-user {who} && sudo burrow admin add-user {who}"
    ));
    for r in file.rejected_for(mine) {
        out.push(
            Line::warn(
                path,
                format!("line {} names you but is ignored: {}", r.line, r.problem),
            )
            .fix(again.clone()),
        );
    }
    let ranges = file.ranges_for(mine);
    match ranges.first() {
        None => out.push(
            Line::warn(
                path,
                format!(
                    "no subordinate {} range for {who}: containers get one id (root inside = you), \
files of other owners in an image cannot be represented and --idmap auto is unavailable",
                    kind.word()
                ),
            )
            .fix(add),
        ),
        Some(r) => {
            out.push(Line::ok(
                path,
                format!(
                    "{}s {}-{} ({} ids)",
                    kind.word(),
                    r.start,
                    r.end.saturating_sub(1),
                    r.len()
                ),
            ));
            if ranges.len() > 1 {
                out.push(Line::info(
                    path,
                    format!(
                        "{} more range(s) after the first: burrow maps the first one only",
                        ranges.len().saturating_sub(1)
                    ),
                ));
            }
            if r.len() < 65_536 {
                out.push(
                    Line::warn(
                        path,
                        format!(
                            "only {} ids: images with files owned by ids {} and above will not unpack or run as expected (65536 is usual)",
                            r.len(),
                            r.len().saturating_add(1)
                        ),
                    )
                    .fix(again),
                );
            }
        }
    }
    out
}

/// The state directory burrow will use (the same rule as `burrow_runtime::state::root`),
/// without creating anything. `xdg` is $XDG_RUNTIME_DIR with lstat facts of it (following
/// symlinks, as the runtime does), `base` the facts of the chosen directory.
pub fn state_dir_path(
    uid: u32,
    xdg: Option<(&Path, Option<FileFacts>)>,
) -> (PathBuf, Option<Line>) {
    if let Some((d, facts)) = xdg {
        if d.is_absolute() && facts.is_some_and(|f| f.dir && f.uid == uid) {
            return (d.join("burrow"), None);
        }
        let note = Line::info(
            "state",
            format!(
                "XDG_RUNTIME_DIR={} is not a directory of yours: using /tmp/burrow-{uid}",
                d.display()
            ),
        );
        return (PathBuf::from(format!("/tmp/burrow-{uid}")), Some(note));
    }
    (PathBuf::from(format!("/tmp/burrow-{uid}")), None)
}

/// Is the state directory usable (absent: will be created; present: a 0700 directory of
/// the user, not a symlink)?
pub fn state_dir_line(uid: u32, base: &Path, facts: Option<FileFacts>) -> Line {
    let p = base.display();
    match facts {
        None => Line::ok("state", format!("{p} (created on first use, mode 0700)")),
        Some(f) if f.dir && !f.symlink && f.uid == uid && f.mode & 0o077 == 0 => {
            Line::ok("state", format!("{p} (private, mode {:04o})", f.mode & 0o7777))
        }
        Some(f) if f.uid == uid && f.dir && !f.symlink => Line::fail(
            "state",
            format!(
                "{p} is open to others (mode {:04o}): burrow refuses it",
                f.mode & 0o7777
            ),
        )
        .fix(format!("chmod 0700 {p}")),
        Some(f) if f.uid == uid => Line::fail(
            "state",
            format!("{p} is not a directory: burrow refuses it"),
        )
        .fix(format!("rm {p}")),
        Some(f) => Line::fail(
            "state",
            format!(
                "{p} belongs to uid {}, not you: burrow refuses it (someone may be squatting it)",
                f.uid
            ),
        )
        .fix(format!(
            "set XDG_RUNTIME_DIR to a private directory of yours, or ask your admin: sudo rm -rf {p}"
        )),
    }
}

// ------------------------------------------------------------------------ doctor: live tests

fn find_prog(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Really creates a user namespace: `unshare -U true`.
fn userns_test() -> Line {
    let topic = "user namespaces";
    let (Some(unshare), Some(truep)) = (find_prog("unshare"), find_prog("true")) else {
        return Line::warn(topic, "cannot test: unshare or true not found")
            .fix("install util-linux and coreutils");
    };
    match Command::new(&unshare)
        .args(["-U", "--"])
        .arg(&truep)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => {
            Line::ok(topic, "you can create one (unshare -U true works)")
        }
        Ok(o) => Line::fail(
            topic,
            format!(
                "you cannot create one: unshare -U true failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        )
        .fix(
            Asker::User
                .root_fix("sudo burrow admin check   (it names the kernel switch to turn on)"),
        ),
        Err(e) => Line::warn(topic, format!("cannot run {}: {e}", unshare.display())),
    }
}

/// A child in a new user namespace, killed and reaped on drop.
struct NsChild(std::process::Child);

impl Drop for NsChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Maps ids exactly as `burrow run` would (through the helpers, with the user's ranges) into
/// a real process in a new user namespace, and reads the maps back.
fn map_test(plan: &IdPlan, helpers: &ids::Helpers) -> Line {
    let topic = "id map test";
    let (Some(unshare), Some(sleep)) = (find_prog("unshare"), find_prog("sleep")) else {
        return Line::warn(topic, "cannot test: unshare or sleep not found");
    };
    let child = match Command::new(&unshare)
        .args(["-U", "--"])
        .arg(&sleep)
        .arg("10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => NsChild(c),
        Err(e) => return Line::warn(topic, format!("cannot run {}: {e}", unshare.display())),
    };
    let mut child = child;
    let pid = child.0.id();
    let ours = std::fs::read_link("/proc/self/ns/user").ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
        let comm = read_opt(format!("/proc/{pid}/comm")).unwrap_or_default();
        if ns.is_some() && ns != ours && comm.trim() == "sleep" {
            break;
        }
        if matches!(child.0.try_wait(), Ok(Some(_))) {
            return Line::fail(
                topic,
                "the test process could not enter a new user namespace",
            )
            .fix(Asker::User.root_fix("sudo burrow admin check"));
        }
        if Instant::now() > deadline {
            return Line::warn(topic, "the test process did not start within 5 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let Ok(ipid) = i32::try_from(pid) else {
        return Line::warn(topic, "pid out of range");
    };
    if let Err(e) = ids::write_maps(plan, Some(helpers), ipid) {
        let first = e.msg.lines().next().unwrap_or_default().to_owned();
        return Line::fail(topic, first).fix(Asker::User.root_fix("sudo burrow admin check"));
    }
    let read = |f: &str| {
        read_opt(format!("/proc/{pid}/{f}"))
            .and_then(|t| burrow_idmap::parse_kernel_map(&t))
            .map(|v| {
                v.iter()
                    .map(|e| (u64::from(e.inner), u64::from(e.outer), u64::from(e.count)))
                    .collect::<Vec<_>>()
            })
    };
    let (u, g) = (read("uid_map"), read("gid_map"));
    drop(child);
    if u.as_ref() == Some(&plan.lines(false)) && g.as_ref() == Some(&plan.lines(true)) {
        let show = |v: &[(u64, u64, u64)]| {
            v.iter()
                .map(|(i, o, c)| format!("{i} {o} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Line::ok(
            topic,
            format!(
                "the helpers mapped a test process: uid_map {}; gid_map {}",
                show(&plan.lines(false)),
                show(&plan.lines(true))
            ),
        )
    } else {
        Line::fail(
            topic,
            "the helpers reported success but the maps read back differ from what was asked",
        )
    }
}

fn subid_text(kind: IdKind) -> Result<String, String> {
    match std::fs::read_to_string(kind.subid_path()) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("it does not exist".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// `burrow doctor`: what the current user can do, and why not. `cgroups` answers the
/// resource-limit question (see [`CgroupHook`]).
pub fn doctor(cgroups: &dyn CgroupHook) -> Report {
    let me = Me::current();
    let who = if me.name.is_empty() {
        format!("uid {}", me.uid)
    } else {
        format!("{} (uid {}, gid {})", me.name, me.uid, me.gid)
    };
    let mut r = Report::new(format!("burrow doctor: {who}"));
    if me.uid == 0 {
        r.push(Line::info(
            "user",
            "you are root: this checks root's own containers; for the host run sudo burrow admin check",
        ));
    }
    r.extend(probe_userns(Asker::User));
    r.push(userns_test());
    let status = read_opt("/proc/self/status").unwrap_or_default();
    let nnp = nnp_line(&status, Asker::User);
    // Under no_new_privs the map test fails for that reason: same fix.
    let map_fix = (nnp.status == Status::Fail)
        .then(|| nnp.fix.clone())
        .flatten();
    r.push(nnp);
    let mounts = parse_mountinfo(&read_opt("/proc/self/mountinfo").unwrap_or_default());
    let (helpers, lines) = probe_helpers(&mounts, Asker::User);
    r.extend(lines);
    let etc = FileFacts::of(Path::new("/etc")).ok().flatten();
    let mut have_ranges = true;
    for kind in [IdKind::Uid, IdKind::Gid] {
        let facts = FileFacts::of(Path::new(kind.subid_path())).ok().flatten();
        if facts.is_some() {
            let l = subid_file_line(kind, facts, etc, Asker::User, &me.name);
            if l.status != Status::Ok {
                r.push(l);
            }
        }
        let text = subid_text(kind);
        let lines = my_subid_lines(kind, text.as_deref().map_err(String::as_str), &me);
        have_ranges &= lines.iter().any(|l| l.status == Status::Ok);
        r.extend(lines);
    }
    match (ids::plan(&me), &helpers, have_ranges) {
        (Ok((plan @ IdPlan::Full { .. }, _)), Some(h), true) => {
            let mut l = map_test(&plan, h);
            if l.status == Status::Fail {
                l.fix = map_fix.or(l.fix);
            }
            r.push(l);
        }
        (Err(e), _, _) => r.push(Line::fail("id map test", e.msg)),
        (_, None, _) => r.push(Line::info(
            "id map test",
            "skipped: the helpers are not usable (see above)",
        )),
        _ => r.push(Line::info(
            "id map test",
            "skipped: no subordinate ranges (containers get one id, mapped without the helpers)",
        )),
    }
    r.extend(cgroups.user(me.uid));
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let xdg_facts = xdg.as_ref().map(|d| {
        let f = std::fs::metadata(d).ok().map(|md| FileFacts {
            symlink: false,
            regular: md.is_file(),
            dir: md.is_dir(),
            uid: md.uid(),
            mode: md.mode(),
        });
        (d.as_path(), f)
    });
    let (base, note) = state_dir_path(me.uid, xdg_facts);
    r.extend(note);
    r.push(state_dir_line(
        me.uid,
        &base,
        FileFacts::of(&base).ok().flatten(),
    ));
    r.extend(crate::network::user_lines());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_renders_fixes_and_summary() {
        let mut r = Report::new("t");
        r.push(Line::ok("a", "fine"));
        r.push(Line::fail("b", "broken").fix("sudo fix-it"));
        r.push(Line::warn("c", "meh"));
        assert_eq!(
            r.render(),
            "t\n[ok]   a: fine\n[FAIL] b: broken\n       fix: sudo fix-it\n[warn] c: meh\n1 failure(s), 1 warning(s)\n"
        );
        assert_eq!(r.exit_code(), 1);
        let mut ok = Report::new("t");
        ok.push(Line::info("x", "y"));
        assert!(ok.render().ends_with("no problems found\n"));
        assert_eq!(ok.exit_code(), 0);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tbash\nUid:\t1000\t0\t0\t0\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(effective_uid(s), Some(0));
        assert_eq!(nnp_line(s, Asker::User).status, Status::Fail);
        assert_eq!(
            nnp_line("NoNewPrivs:\t0\n", Asker::Admin).status,
            Status::Ok
        );
        assert_eq!(nnp_line("", Asker::Admin).status, Status::Warn);
    }

    #[test]
    fn userns_switches() {
        let l = userns_lines(Some("15000\n"), None, None, Asker::Admin);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].status, Status::Ok);
        let l = userns_lines(Some("0\n"), Some("0\n"), Some("1\n"), Asker::User);
        assert!(l.iter().all(|l| l.status == Status::Fail));
        assert_eq!(
            l[0].fix.as_deref(),
            Some("ask your admin: sudo sysctl -w user.max_user_namespaces=15000 && echo user.max_user_namespaces=15000 | sudo tee /etc/sysctl.d/90-burrow-userns.conf")
        );
        assert!(l[1].message.contains("unprivileged_userns_clone is 0"));
        assert!(l[2]
            .fix
            .as_deref()
            .unwrap()
            .contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"));
        assert_eq!(
            userns_lines(None, None, None, Asker::Admin)[0].status,
            Status::Fail
        );
    }

    #[test]
    fn mountinfo_and_nosuid() {
        let t = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                 30 22 0:40 / /var/tmp rw,nosuid,nodev - tmpfs tmpfs rw\n\
                 31 22 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
                 garbage\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].point, PathBuf::from("/mnt/with space"));
        assert_eq!(
            mount_of(&m, Path::new("/var/tmp/p/bin/burrow-newuidmap"))
                .unwrap()
                .options,
            "rw,nosuid,nodev"
        );
        assert_eq!(
            mount_of(&m, Path::new("/usr/bin/x")).unwrap().fstype,
            "ext4"
        );
        assert_eq!(mount_of(&m, Path::new("/var/tmpx")).unwrap().fstype, "ext4");
        let facts = HelperFacts {
            path: PathBuf::from("/var/tmp/p/bin/burrow-newuidmap"),
            file: Some(FileFacts {
                symlink: false,
                regular: true,
                dir: false,
                uid: 0,
                mode: 0o104755,
            }),
            dir: Some(FileFacts {
                symlink: false,
                regular: false,
                dir: true,
                uid: 0,
                mode: 0o40755,
            }),
            mount_options: Some("rw,nosuid,nodev".into()),
        };
        let l = helper_lines(std::slice::from_ref(&facts), "PATH", Asker::Admin);
        assert_eq!(
            l[0].message,
            "/var/tmp/p/bin/burrow-newuidmap: installed setuid root (found through PATH)"
        );
        assert_eq!(l[1].status, Status::Fail);
        assert!(l[1].message.contains("nosuid"));
        let mut writable = facts;
        writable.mount_options = None;
        writable.dir = Some(FileFacts {
            symlink: false,
            regular: false,
            dir: true,
            uid: 1000,
            mode: 0o40755,
        });
        let l = helper_lines(&[writable], "PATH", Asker::Admin);
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[1].fix.as_deref(),
            Some("sudo chown root:root /var/tmp/p/bin /var/tmp/p/bin/burrow-newuidmap && sudo chmod go-w /var/tmp/p/bin /var/tmp/p/bin/burrow-newuidmap")
        );
    }

    #[test]
    fn helper_errors() {
        let msg = "/opt/b/burrow-newgidmap is neither setuid root nor has file capabilities, so it cannot map ids; ask your admin to run: chown root:root /opt/b/burrow-newgidmap && chmod 4755 /opt/b/burrow-newgidmap   (or: setcap cap_setgid+ep /opt/b/burrow-newgidmap)";
        let l = helper_error_line(msg, Asker::User);
        assert_eq!(l.status, Status::Fail);
        assert_eq!(
            l.fix.as_deref(),
            Some("ask your admin: sudo chown root:root /opt/b/burrow-newgidmap && sudo chmod 4755 /opt/b/burrow-newgidmap   (or: sudo setcap cap_setgid+ep /opt/b/burrow-newgidmap)")
        );
        let l = helper_error_line("burrow-newuidmap and burrow-newgidmap not found (looked in: /x); install burrow's helpers (...)", Asker::Admin);
        assert_eq!(
            l.message,
            "burrow-newuidmap and burrow-newgidmap not found (looked in: /x)"
        );
        assert!(l
            .fix
            .unwrap()
            .starts_with("sudo bash scripts/quickstart.sh"));
    }

    fn facts(uid: u32, mode: u32) -> Option<FileFacts> {
        Some(FileFacts {
            symlink: false,
            regular: mode & 0o170000 == 0o100000,
            dir: mode & 0o170000 == 0o040000,
            uid,
            mode,
        })
    }

    #[test]
    fn subid_file_rules() {
        let etc = facts(0, 0o40755);
        let l = |f| subid_file_line(IdKind::Uid, f, etc, Asker::Admin, "alice");
        assert_eq!(l(facts(0, 0o100644)).status, Status::Ok);
        let g = l(facts(0, 0o100664));
        assert_eq!(g.status, Status::Fail);
        assert_eq!(
            g.message,
            "is writable by group or others (mode 0664): the helpers refuse it"
        );
        assert_eq!(
            g.fix.as_deref(),
            Some("sudo chown root:root /etc/subuid && sudo chmod 0644 /etc/subuid")
        );
        assert!(l(facts(1000, 0o100644))
            .message
            .contains("owned by uid 1000"));
        assert!(l(facts(0, 0o100600))
            .message
            .contains("not readable by everyone"));
        let mut sl = facts(0, 0o120777).unwrap();
        sl.symlink = true;
        assert!(l(Some(sl)).message.contains("symbolic link"));
        let missing = l(None);
        assert_eq!(missing.status, Status::Warn);
        assert_eq!(
            missing.fix.as_deref(),
            Some("sudo burrow admin add-user alice")
        );
        let bad_etc = subid_file_line(
            IdKind::Gid,
            facts(0, 0o100644),
            facts(0, 0o40777),
            Asker::User,
            "",
        );
        assert_eq!(bad_etc.status, Status::Fail);
    }

    #[test]
    fn my_ranges() {
        let me = Me {
            uid: 1005,
            gid: 1005,
            name: "alice".into(),
        };
        let l = my_subid_lines(IdKind::Uid, Ok("bob:100000:65536\n"), &me);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].status, Status::Warn);
        assert!(l[0]
            .message
            .starts_with("no subordinate uid range for alice"));
        assert_eq!(
            l[0].fix.as_deref(),
            Some("ask your admin: sudo burrow admin add-user alice")
        );
        let l = my_subid_lines(
            IdKind::Gid,
            Ok("alice:0:10\n1005:165536:65536\nalice:300000:5\n"),
            &me,
        );
        assert_eq!(l[0].status, Status::Warn);
        assert_eq!(
            l[0].message,
            "line 1 names you but is ignored: the range includes id 0"
        );
        assert_eq!(l[1].message, "gids 165536-231071 (65536 ids)");
        assert_eq!(l[2].status, Status::Info);
        let l = my_subid_lines(IdKind::Uid, Ok("alice:200000:1000\n"), &me);
        assert_eq!(l[1].status, Status::Warn);
        assert!(l[1].message.starts_with("only 1000 ids"));
        let l = my_subid_lines(IdKind::Uid, Err("permission denied"), &me);
        assert_eq!(l[0].status, Status::Warn);
    }

    #[test]
    fn state_dirs() {
        let d = facts(1000, 0o40700);
        let (p, note) = state_dir_path(1000, Some((Path::new("/run/user/1000"), d)));
        assert_eq!(p, PathBuf::from("/run/user/1000/burrow"));
        assert!(note.is_none());
        let (p, note) = state_dir_path(1000, Some((Path::new("/run/user/0"), facts(0, 0o40700))));
        assert_eq!(p, PathBuf::from("/tmp/burrow-1000"));
        assert_eq!(note.unwrap().status, Status::Info);
        assert_eq!(state_dir_path(7, None).0, PathBuf::from("/tmp/burrow-7"));
        let base = Path::new("/tmp/burrow-1000");
        assert_eq!(state_dir_line(1000, base, None).status, Status::Ok);
        assert_eq!(
            state_dir_line(1000, base, facts(1000, 0o40700)).status,
            Status::Ok
        );
        let open = state_dir_line(1000, base, facts(1000, 0o40755));
        assert_eq!(open.fix.as_deref(), Some("chmod 0700 /tmp/burrow-1000"));
        let squat = state_dir_line(1000, base, facts(1001, 0o40700));
        assert_eq!(squat.status, Status::Fail);
        assert!(squat.message.contains("belongs to uid 1001"));
    }
}
