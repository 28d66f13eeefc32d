//! `burrow doctor`: what the current user can do with burrow on this host, and for each thing
//! that does not work, why and the exact fix. The report and the host probes
//! it shares with `burrow admin check` are [`crate::report`] and [`crate::probes`].
//!
//! Every decision is a pure function over text or facts given as parameters (unit-tested
//! without root); the functions that read the host only gather those inputs.

use crate::cgroup_setup::CgroupHook;
use crate::probes::{
    nnp_line, parse_mountinfo, probe_helpers, probe_userns, read_opt, subid_file_line, Asker,
    FileFacts,
};
use crate::report::{Line, Report, Status};
use burrow_config::DEFAULT_APPARMOR_PROFILE;
use burrow_idmap::{subid, IdKind, SubidFile};
use burrow_runtime::ids::{self, IdPlan, Me};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

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
/// Whether a task can enter burrow's default AppArmor profile (only root can list the loaded
/// profiles): a throwaway shell tries.
fn default_profile_loaded() -> bool {
    let script = format!(
        "exec 2>/dev/null; for f in /proc/self/attr/apparmor/current /proc/self/attr/current; do \
         [ -e \"$f\" ] && {{ printf 'changeprofile {DEFAULT_APPARMOR_PROFILE}' > \"$f\"; exit $?; }}; done; exit 3"
    );
    std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What `doctor` says of AppArmor.
pub fn apparmor_line(enabled: bool, loaded: bool) -> Line {
    let p = DEFAULT_APPARMOR_PROFILE;
    match (enabled, loaded) {
        (false, _) => Line::info(
            "apparmor",
            "AppArmor is not enabled on this host: containers run without a profile (namespaces, capabilities and seccomp still confine them)",
        ),
        (true, true) => Line::ok(
            "apparmor",
            format!("enabled; containers run under the profile {p} (--security-opt apparmor=unconfined opts out)"),
        ),
        (true, false) => Line::warn(
            "apparmor",
            format!("enabled, but the profile {p} is not loaded: containers run unconfined by AppArmor"),
        )
        .fix(format!(
            "sudo apparmor_parser -r /etc/apparmor.d/{p} (the burrow package installs it; in a source tree it is packaging/apparmor/{p})"
        )),
    }
}

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
    let aa = burrow_runtime::apparmor::enabled();
    r.push(apparmor_line(aa, aa && default_profile_loaded()));
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
    r.extend(crate::usernet::user_lines());
    r
}
