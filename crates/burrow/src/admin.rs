//! `burrow admin`: the root-only commands.
//!
//! - `add-user USER [--count N] [--base B] [--reserve FIRST-LAST]...`: gives USER one block of
//!   subordinate ids, the same numbers in /etc/subuid and /etc/subgid, and prepares cgroup
//!   delegation (through [`CgroupHook`]). The block holds `count` ids (default 65536); it
//!   starts at `base + k * count` for the smallest `k` that puts it above every uid and gid the
//!   host knows (/etc/passwd, /etc/group and what NSS enumerates), outside every range of
//!   /etc/subuid and /etc/subgid (of any user, including lines burrow itself ignores), and
//!   outside the reserved ranges (`--reserve` and /etc/burrow/subid-reserved: ids of network
//!   users that NSS does not enumerate, CVE-2024-56433). The base is `--base`, else
//!   `SUB_UID_MIN`/`SUB_GID_MIN` of /etc/login.defs (and then the block stays below
//!   `SUB_UID_MAX`/`SUB_GID_MAX`), else 100000. Idempotent: a user who already has a first
//!   range of at least `count` ids in both files is left alone.
//! - `remove-user USER`: removes every line of USER (by name or uid) from both files.
//! - `check`: a report on the host (user namespaces, helpers, no_new_privs, the subid files,
//!   cgroups, networking).
//!
//! Files are edited under shadow's lock files (`/etc/subuid.lock`, so `usermod` and
//! `burrow admin` never interleave) and replaced atomically (a temporary file in /etc, root:root,
//! fsync, rename, fsync of /etc); every other line stays byte for byte.

mod alloc;
mod etc;
#[cfg(test)]
mod tests;

use crate::cgroup_setup::{cgroup_layout, cgroup_mode_line, CgroupHook};
use crate::probes::{
    effective_uid, nnp_line, parse_mountinfo, probe_helpers, probe_kernel, probe_userns, read_opt,
    subid_file_line, Asker, FileFacts,
};
use crate::report::{Line, Report};
pub use alloc::AddUser;
use alloc::{
    parse_reserved_file, policy, subid_content_lines, validate_name, Accounts, RESERVED_FILE,
};
use burrow_idmap::IdKind;
use burrow_runtime::{err, Error};
use etc::{add_user_at, getent_user, remove_user_at, require_root, write_atomic};
use std::fs;
use std::path::Path;

/// `burrow admin add-user`: allocates and writes USER's subordinate ranges (idempotent), then
/// prepares cgroup delegation through `cgroups`. Returns the report text.
pub fn add_user(opts: &AddUser, cgroups: &dyn CgroupHook) -> Result<String, Error> {
    validate_name(&opts.user).map_err(err)?;
    // A bad --ports list is refused before anything is written.
    if let Some(l) = opts.ports.as_deref().filter(|l| *l != "none") {
        crate::usernet::parse_ports(l)?;
    }
    require_root(&format!("admin add-user {}", opts.user))?;
    let acct = getent_user(&opts.user)?.ok_or_else(|| {
        err(format!(
            "no user named {0}: create it first (sudo useradd -m {0})",
            opts.user
        ))
    })?;
    let etc = Path::new("/etc");
    let p = policy(
        opts.count,
        opts.base,
        &opts.reserve,
        &read_opt(etc.join("login.defs")).unwrap_or_default(),
        read_opt(etc.join(RESERVED_FILE)).as_deref(),
    )
    .map_err(err)?;
    let accounts = Accounts::gather(etc);
    let mut lines = vec![format!(
        "burrow admin add-user {} (uid {}, gid {})",
        acct.name, acct.uid, acct.gid
    )];
    lines.extend(add_user_at(etc, &acct, &p, &accounts, (0, 0))?);
    match cgroups.prepare(&acct) {
        Ok(l) => lines.extend(l),
        Err(e) => {
            lines.push(format!("cgroups: delegation failed: {e}"));
            return Err(err(lines.join("\n")));
        }
    }
    let nics = opts.nics.unwrap_or(crate::usernet::DEFAULT_NICS);
    let usernet_mode = fs::metadata(burrow_usernet::USERNET_PATH)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    lines.extend(crate::usernet::add_user(&acct.name, nics, |p, b| {
        write_atomic(p, b, usernet_mode, (0, 0))
    })?);
    if let Some(list) = &opts.ports {
        let usernet_mode = fs::metadata(burrow_usernet::USERNET_PATH)
            .ok()
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        lines.extend(crate::usernet::set_ports(&acct.name, list, |p, b| {
            write_atomic(p, b, usernet_mode, (0, 0))
        })?);
    }
    Ok(lines.join("\n") + "\n")
}

/// `burrow admin remove-user`: removes USER's lines (by name, and by uid while the account
/// exists) from /etc/subuid and /etc/subgid, and its cgroup delegation (idempotent).
pub fn remove_user(user: &str, cgroups: &dyn CgroupHook) -> Result<String, Error> {
    validate_name(user).map_err(err)?;
    require_root(&format!("admin remove-user {user}"))?;
    let acct = getent_user(user)?;
    let mut owners = vec![user.to_owned()];
    if let Some(a) = &acct {
        owners.push(a.uid.to_string());
        if a.name != user {
            owners.push(a.name.clone());
        }
    }
    let mut lines = vec![match &acct {
        Some(a) => format!("burrow admin remove-user {} (uid {})", a.name, a.uid),
        None => format!("burrow admin remove-user {user} (no such account any more)"),
    }];
    lines.extend(remove_user_at(Path::new("/etc"), &owners, (0, 0))?);
    if let Some(a) = &acct {
        lines.extend(crate::usernet::release_leases(a.uid).map_err(err)?);
    }
    let name = acct.as_ref().map_or(user, |a| a.name.as_str());
    match cgroups.remove(name, acct.as_ref().map(|a| a.uid)) {
        Ok(l) => lines.extend(l),
        Err(e) => {
            lines.push(format!("cgroups: removing the delegation failed: {e}"));
            return Err(err(lines.join("\n")));
        }
    }
    Ok(lines.join("\n") + "\n")
}

/// `burrow admin check`: the host report (root or not; some files may be unreadable
/// without root). `cgroups` reports the delegation state.
pub fn check(cgroups: &dyn CgroupHook) -> Report {
    let mut r = Report::new("burrow admin check: this host");
    let status = read_opt("/proc/self/status").unwrap_or_default();
    if effective_uid(&status) != Some(0) {
        r.push(Line::info(
            "user",
            "not running as root: files only root can read are not checked",
        ));
    }
    r.push(probe_kernel(Asker::Admin));
    r.extend(probe_userns(Asker::Admin));
    r.push(nnp_line(&status, Asker::Admin));
    let mounts = parse_mountinfo(&read_opt("/proc/self/mountinfo").unwrap_or_default());
    r.extend(probe_helpers(&mounts, Asker::Admin).1);
    let etc = Path::new("/etc");
    let etc_facts = FileFacts::of(etc).ok().flatten();
    let accounts = Accounts::gather(etc);
    let reserved = match read_opt(etc.join(RESERVED_FILE)).map(|t| parse_reserved_file(&t)) {
        None => Vec::new(),
        Some(Ok(v)) => {
            r.push(Line::info(
                "reserved ids",
                format!("{} range(s) in /etc/{RESERVED_FILE}", v.len()),
            ));
            v
        }
        Some(Err(e)) => {
            r.push(
                Line::fail("reserved ids", format!("/etc/{RESERVED_FILE}: {e}")).fix(format!(
                    "edit /etc/{RESERVED_FILE}: one FIRST-LAST range per line"
                )),
            );
            Vec::new()
        }
    };
    for kind in [IdKind::Uid, IdKind::Gid] {
        let path = Path::new(kind.subid_path());
        let facts = FileFacts::of(path).ok().flatten();
        r.push(subid_file_line(kind, facts, etc_facts, Asker::Admin, ""));
        if facts.is_some() {
            match fs::read(path) {
                Ok(b) => r.extend(subid_content_lines(
                    kind,
                    &String::from_utf8_lossy(&b),
                    &accounts,
                    &reserved,
                )),
                Err(e) => r.push(Line::warn(
                    kind.subid_path(),
                    format!("cannot read it: {e}"),
                )),
            }
        }
    }
    let layout = cgroup_layout(&mounts);
    r.push(cgroup_mode_line(&layout, |p| {
        read_opt(p.join("cgroup.controllers"))
    }));
    r.extend(cgroups.host());
    r.extend(crate::usernet::admin_lines());
    r
}
