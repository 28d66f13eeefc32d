//! burrow-newuidmap / burrow-newgidmap: write `/proc/<pid>/uid_map` (or `gid_map`) for a
//! process of the caller, within the caller's ranges in /etc/subuid (or /etc/subgid).
//!
//! Command line (shadow-compatible): `burrow-newuidmap <pid>|fd:<N> <uid> <loweruid> <count>...`
//! Exit 0 on success with nothing printed; exit 1 with one line on stderr otherwise.
//!
//! The privileged sequence, in order (see docs/helpers-operation.md):
//! 1. sanitize (fds, environment, umask, core dumps) before reading any argument;
//! 2. become the caller (all uids and gids), keep CAP_SETUID or CAP_SETGID permitted only
//!    (plus CAP_SETFCAP for a root caller), nothing effective, no_new_privs;
//! 3. parse the arguments strictly; pin the target (pidfd + /proc/<pid> dir fd);
//! 4. check the caller's identity (/etc/passwd, else `getent` run without privilege;
//!    /etc/login.defs only when the caller's group is not its login group), the target's
//!    owner, its user namespace (owned by the caller, a direct child of the caller's, not yet
//!    mapped);
//! 5. read /etc/subuid or /etc/subgid as the caller (root-owned, no symlinks), authorize, and
//!    log the decision;
//! 6. newgidmap only: setgroups "deny" first when only the own gid is mapped;
//! 7. raise the one capability for one openat + one write; drop everything; read the map back.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use burrow_idmap::{self as idmap, passwd, subid, ArgError, DenyReason, Extent, IdKind};
use burrow_setuid::{self as setuid, cap, refuse, Audit, Caller, Refusal, Target, TargetSpec};
use std::ffi::CStr;
use std::io::Write;
use std::os::fd::AsFd;

const MAX_POLICY_BYTES: u64 = 16 * 1024 * 1024;

/// Runs the helper and exits: 0 when the map was written, 1 otherwise.
pub fn main(kind: IdKind) -> ! {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let keep_fd = args
        .first()
        .and_then(|a| a.strip_prefix("fd:"))
        .and_then(idmap::parse_decimal)
        .and_then(|n| i32::try_from(n).ok());
    let (caller, sanitized) = setuid::sanitize(keep_fd);
    let ident: &'static CStr = match kind {
        IdKind::Uid => c"burrow-newuidmap",
        IdKind::Gid => c"burrow-newgidmap",
    };
    let audit = Audit::open(ident, caller);
    let result = sanitized.and_then(|()| run(kind, caller, &args, &audit));
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            audit.refused(&e.0);
            // Printed only now, as the caller (or, if the drop failed, to the stderr the caller
            // gave us, with a fixed program name and escaped content).
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}: {}", kind.prog(), e.0);
            if e.0 == USAGE_MARK {
                let _ = writeln!(err, "{}", usage(kind));
            }
            std::process::exit(1)
        }
    }
}

const USAGE_MARK: &str = "missing arguments";

fn usage(kind: IdKind) -> String {
    let w = kind.word();
    format!(
        "usage: {} <pid>|fd:<N> <{w}> <lower{w}> <count> [<{w}> <lower{w}> <count>]...",
        kind.prog()
    )
}

fn run(kind: IdKind, caller: Caller, args: &[String], audit: &Audit) -> Result<(), Refusal> {
    let needed = match kind {
        IdKind::Uid => cap::SETUID,
        IdKind::Gid => cap::SETGID,
    };
    // Mapping host uid 0 needs CAP_SETFCAP in the opener (Linux 5.12+); only root may map it,
    // so only a root caller of newuidmap keeps it, and only if it has it at all.
    let setfcap = cap::mask(&[cap::SETFCAP]);
    let has_setfcap = burrow_sys::capget().is_ok_and(|c| c.permitted & setfcap != 0);
    let keep = if caller.uid == 0 && kind == IdKind::Uid && has_setfcap {
        cap::mask(&[needed, cap::SETFCAP])
    } else {
        cap::mask(&[needed])
    };
    let hint = format!(
        "install it setuid root (chown root:root; chmod 4755) or with file capabilities (setcap cap_set{}+ep)",
        kind.word()
    );
    let privilege = setuid::drop_to_caller(caller, keep, &hint)?;

    // 3. Arguments.
    let Some((target_arg, triples)) = args.split_first() else {
        return Err(Refusal(USAGE_MARK.to_owned()));
    };
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(idmap::PID_MAX_LIMIT);
    let spec = match idmap::parse_target(target_arg, pid_max).map_err(arg_refusal)? {
        idmap::Target::Pid(p) => TargetSpec::Pid(p),
        idmap::Target::Fd(n) => TargetSpec::Fd(n),
    };
    let refs: Vec<&str> = triples.iter().map(String::as_str).collect();
    let extents = idmap::parse_extents(&refs).map_err(arg_refusal)?;
    let target = Target::open(spec)?;
    let pid = target.pid;

    // 4. Identity, owner, namespace.
    let passwd_text =
        setuid::secure_open_config("/etc/passwd", MAX_POLICY_BYTES)?.unwrap_or_default();
    let users = passwd::parse(&passwd_text);
    let me = match passwd::by_uid(&users, caller.uid) {
        Some(e) => e.clone(),
        None => lookup_elsewhere(kind, caller.uid, &privilege)?,
    };
    // /etc/login.defs matters only when the caller runs with another group than its login group.
    let aux_ok = caller.gid == me.gid || {
        let defs =
            setuid::secure_open_config("/etc/login.defs", MAX_POLICY_BYTES)?.unwrap_or_default();
        idmap::login_defs_yes(&defs, "GRANT_AUX_GROUP_SUBIDS")
    };
    if !aux_ok {
        return Err(refuse!(
            "your current group {} is not your login group {} (sg/newgrp/Group=); run with your login group, or the admin may set GRANT_AUX_GROUP_SUBIDS yes in /etc/login.defs",
            caller.gid,
            me.gid
        ));
    }
    let (st_uid, st_gid) = target.owner()?;
    if st_uid != caller.uid || st_gid != caller.gid {
        return Err(refuse!(
            "target process {pid} runs as uid {st_uid} gid {st_gid}, not as you (uid {} gid {}){}",
            caller.uid,
            caller.gid,
            if st_uid == 0 && caller.uid != 0 {
                " (or is not dumpable)"
            } else {
                ""
            }
        ));
    }
    check_namespace(&target, caller)?;
    let current = target
        .read(map_cstr(kind))
        .map_err(|e| refuse!("cannot read the {} of {pid}: {e}", kind.map_file()))?;
    if !current.trim().is_empty() {
        return Err(refuse!(
            "process {pid} already has a {} (it can be written only once)",
            kind.map_file()
        ));
    }

    // 5. Policy.
    let path = kind.subid_path();
    let subid_text = setuid::secure_open_config(path, MAX_POLICY_BYTES)?;
    let file = subid::SubidFile::parse(subid_text.as_deref().unwrap_or(""));
    let aliases = passwd::aliases(&users, caller.uid, &me.name);
    let is_owner = |o: &str| subid::owner_matches(o, &me.name, caller.uid, &aliases);
    let ranges = file.ranges_for(is_owner);
    let own_id = match kind {
        IdKind::Uid => caller.uid,
        IdKind::Gid => caller.gid,
    };
    let grant = idmap::authorize(
        idmap::Caller {
            uid: caller.uid,
            own_id,
        },
        &extents,
        &ranges,
    )
    .map_err(|d| {
        let w = kind.word();
        let why = match d.reason {
            DenyReason::HostRoot => format!("host {w} 0 cannot be mapped"),
            DenyReason::NotDelegated if subid_text.is_none() => format!("{path} does not exist"),
            DenyReason::NotDelegated if ranges.is_empty() => format!("you have no range in {path}"),
            DenyReason::NotDelegated => format!("not within your ranges in {path}"),
        };
        let ignored: Vec<String> = file
            .rejected_for(is_owner)
            .map(|r| format!("line {} ignored: {}", r.line, r.problem))
            .collect();
        let note = if ignored.is_empty() {
            String::new()
        } else {
            format!(" ({})", ignored.join("; "))
        };
        refuse!("{w} range {} not allowed: {why}{note}", d.extent)
    })?;

    // 6. CVE-2018-7169: a gid map made only of the caller's own gid must not let the
    // namespace drop supplementary groups (negative ACLs). setgroups needs no capability: the
    // caller owns the namespace.
    let setgroups_deny = kind == IdKind::Gid && !grant.used_subids;
    // The decision is logged before acting, so killing the helper cannot hide it.
    let shown: Vec<String> = extents
        .iter()
        .map(|e: &Extent| format!("{} {} {}", e.inner, e.outer, e.count))
        .collect();
    audit.allowed(&format!(
        "pid={pid} {}=[{}] ({}{})",
        kind.map_file(),
        shown.join(", "),
        if grant.used_subids { path } else { "own id" },
        if setgroups_deny {
            ", setgroups=deny"
        } else {
            ""
        }
    ));
    if setgroups_deny {
        set_setgroups_deny(&target)?;
    }

    // 7. One open and one write with the capability effective.
    let text = idmap::render_map(&extents);
    let raise = if extents.iter().any(|e| e.outer == 0) {
        keep
    } else {
        cap::mask(&[needed])
    };
    let written = privilege.raise(raise, || -> std::io::Result<usize> {
        let fd = target.open_write(map_cstr(kind), false)?;
        burrow_sys::write_once(fd.as_fd(), text.as_bytes())
    })?;
    privilege.drop_all()?;
    match written {
        Ok(n) if n == text.len() => {}
        Ok(n) => {
            return Err(refuse!(
                "short write to {} of {pid}: {n} of {} bytes",
                kind.map_file(),
                text.len()
            ))
        }
        Err(e) => return Err(write_refusal(kind, pid, &e)),
    }
    let back = target
        .read(map_cstr(kind))
        .map_err(|e| refuse!("cannot read back the {}: {e}", kind.map_file()))?;
    if idmap::parse_kernel_map(&back).as_deref() != Some(extents.as_slice()) {
        return Err(refuse!(
            "the {} of {pid} reads back differently from what was written",
            kind.map_file()
        ));
    }
    Ok(())
}

/// Users that /etc/passwd does not list (LDAP, SSSD, ...) are looked up by running
/// `getent passwd UID`, never by loading NSS modules into this process. The child must not be
/// under the caller's control (a ptrace of it could forge the answer), so it runs as the
/// overflow id `nobody` in the one id this helper may change (uid for newuidmap, gid for
/// newgidmap): ptrace needs both the uid and the gid to match. Exec leaves it no capability
/// (no_new_privs, not root).
fn lookup_elsewhere(
    kind: IdKind,
    uid: u32,
    privilege: &setuid::Privilege,
) -> Result<passwd::PasswdEntry, Refusal> {
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let none = || refuse!("cannot determine your user name: uid {uid} has no passwd entry");
    if uid == 0 || uid == NOBODY {
        return Err(none());
    }
    let mut cmd = std::process::Command::new("/usr/bin/getent");
    cmd.args(["passwd", &uid.to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let cap = match kind {
        IdKind::Uid => {
            cmd.uid(NOBODY);
            cap::SETUID
        }
        IdKind::Gid => {
            cmd.gid(NOBODY);
            cap::SETGID
        }
    };
    let out = privilege
        .raise(cap::mask(&[cap]), || cmd.output())?
        .map_err(|_| none())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match passwd::parse(&text).into_iter().find(|e| e.uid == uid) {
        Some(e) if out.status.success() => Ok(e),
        _ => Err(none()),
    }
}

fn map_cstr(kind: IdKind) -> &'static CStr {
    match kind {
        IdKind::Uid => c"uid_map",
        IdKind::Gid => c"gid_map",
    }
}

fn arg_refusal(e: ArgError) -> Refusal {
    Refusal(e.to_string())
}

fn write_refusal(kind: IdKind, pid: i32, e: &std::io::Error) -> Refusal {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) => " (the kernel refused it: the map may have been written meanwhile)",
        Some(libc::EINVAL) => " (the kernel rejected the map)",
        Some(libc::ESRCH) | Some(libc::ENOENT) => " (the process exited)",
        _ => "",
    };
    refuse!("writing the {} of {pid} failed: {e}{hint}", kind.map_file())
}

/// The target must be in a user namespace that the caller created, directly below the
/// caller's own. (The kernel would refuse other cases with a bare EPERM.)
fn check_namespace(target: &Target, caller: Caller) -> Result<(), Refusal> {
    use std::os::unix::fs::MetadataExt;
    let pid = target.pid;
    let ns = burrow_sys::openat2(Some(target.dir.as_fd()), c"ns/user", libc::O_RDONLY, 0).map_err(
        |e| match e.raw_os_error() {
            // The kernel's ptrace check: the caller has no capability over that namespace.
            Some(libc::EACCES) | Some(libc::EPERM) => {
                refuse!("the user namespace of process {pid} was not created by you")
            }
            _ => refuse!("cannot open the user namespace of {pid}: {e}"),
        },
    )?;
    if burrow_sys::fstatfs_magic(ns.as_fd()).ok() != Some(burrow_sys::magic::NSFS) {
        return Err(refuse!(
            "the user namespace of {pid} is not a namespace file"
        ));
    }
    let own = std::fs::File::open("/proc/self/ns/user")
        .map_err(|e| refuse!("cannot open own user namespace: {e}"))?;
    let key = |f: &std::fs::File| {
        f.metadata()
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| refuse!("fstat: {e}"))
    };
    let own_key = key(&own)?;
    let ns_file = std::fs::File::from(ns);
    if key(&ns_file)? == own_key {
        return Err(refuse!("process {pid} is still in your user namespace: map a process in a new one (unshare -U)"));
    }
    let owner =
        burrow_sys::ns_owner_uid(ns_file.as_fd()).map_err(|e| refuse!("NS_GET_OWNER_UID: {e}"))?;
    if owner != caller.uid {
        return Err(refuse!(
            "the user namespace of process {pid} was created by uid {owner}, not by you"
        ));
    }
    let parent = burrow_sys::ns_parent(ns_file.as_fd())
        .map_err(|_| refuse!("the user namespace of process {pid} is not a child of yours"))?;
    if key(&std::fs::File::from(parent))? != own_key {
        return Err(refuse!(
            "the user namespace of process {pid} is nested: it must be mapped from its parent namespace"
        ));
    }
    Ok(())
}

fn set_setgroups_deny(target: &Target) -> Result<(), Refusal> {
    let pid = target.pid;
    let fd = target
        .open_write(c"setgroups", true)
        .map_err(|e| refuse!("cannot open setgroups of {pid}: {e}"))?;
    let mut buf = [0u8; 16];
    let n = burrow_sys::pread0(fd.as_fd(), &mut buf)
        .map_err(|e| refuse!("cannot read setgroups of {pid}: {e}"))?;
    if buf.get(..n) == Some(b"deny\n".as_slice()) {
        return Ok(());
    }
    match burrow_sys::write_once(fd.as_fd(), b"deny\n") {
        Ok(5) => Ok(()),
        Ok(_) => Err(refuse!("short write to setgroups of {pid}")),
        Err(e) => Err(refuse!(
            "cannot set setgroups to deny for process {pid}: {e} (required when only your own gid is mapped); the gid map was not written"
        )),
    }
}
