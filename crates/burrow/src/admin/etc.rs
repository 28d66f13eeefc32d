//! Editing /etc/subuid and /etc/subgid (and the usernet file) the way shadow does: under
//! shadow's lock files, replaced atomically, every other line kept byte for byte.

use super::alloc::{
    append_line, highest_id, new_mode, plan_add, remove_owner_lines, subid_line, Accounts, AddPlan,
    Policy,
};
use crate::probes::{effective_uid, read_opt, Account, FileFacts};
use burrow_idmap::{parse_decimal, shown, subid, IdKind, SubidFile};
use burrow_runtime::{err, Error};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// shadow's lock on a database file (`/etc/subuid.lock` holding the pid), taken the way
/// shadow takes it (a pid file linked into place), removed on drop.
#[derive(Debug)]
struct ShadowLock(PathBuf);

impl Drop for ShadowLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn lock(path: &Path) -> Result<ShadowLock, Error> {
    let pid = std::process::id();
    let lock = path.with_file_name(format!("{}.lock", file_name(path)));
    let tmp = path.with_file_name(format!("{}.{pid}", file_name(path)));
    let _ = fs::remove_file(&tmp);
    let io =
        |what: &str, e: std::io::Error| err(format!("cannot lock {}: {what}: {e}", path.display()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("creating the pid file", e))?;
        f.write_all(pid.to_string().as_bytes())
            .map_err(|e| io("writing the pid file", e))?;
    }
    let mut result = Err(err(format!("cannot lock {}", path.display())));
    for attempt in 0..2 {
        match fs::hard_link(&tmp, &lock) {
            Ok(()) => {
                result = Ok(ShadowLock(lock.clone()));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = fs::read_to_string(&lock)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                match holder {
                    Some(h) if Path::new(&format!("/proc/{h}")).exists() => {
                        result = Err(err(format!(
                            "{} is locked by process {h} (usermod or another burrow admin?): try again when it is done",
                            path.display()
                        )));
                        break;
                    }
                    _ if attempt == 0 => {
                        // Stale: its process is gone.
                        let _ = fs::remove_file(&lock);
                    }
                    _ => {
                        result = Err(err(format!(
                            "{} is locked ({} exists); remove it if no usermod or burrow admin is running",
                            path.display(),
                            lock.display()
                        )));
                    }
                }
            }
            Err(e) => {
                result = Err(io("linking the lock file", e));
                break;
            }
        }
    }
    let _ = fs::remove_file(&tmp);
    result
}

/// Reads a subid file for editing: (bytes, mode); empty and None when it does not exist.
fn read_for_edit(path: &Path) -> Result<(Vec<u8>, Option<u32>), Error> {
    let p = path.display();
    match FileFacts::of(path) {
        Ok(None) => Ok((Vec::new(), None)),
        Ok(Some(f)) if f.symlink => Err(err(format!(
            "{p} is a symbolic link; refusing to edit it (the helpers refuse it too): \
replace it with a regular file: sudo cp --remove-destination \"$(readlink -f {p})\" {p}"
        ))),
        Ok(Some(f)) if !f.regular => Err(err(format!(
            "{p} is not a regular file; refusing to edit it"
        ))),
        Ok(Some(f)) => {
            let bytes = fs::read(path).map_err(|e| err(format!("cannot read {p}: {e}")))?;
            Ok((bytes, Some(f.mode)))
        }
        Err(e) => Err(err(format!("cannot stat {p}: {e}"))),
    }
}

/// Replaces `path` atomically: a new file in the same directory, owned by `owner`, mode
/// [`new_mode`] of the original, written and fsynced, renamed over `path`, directory fsynced.
pub(super) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    orig_mode: Option<u32>,
    owner: (u32, u32),
) -> Result<(), Error> {
    let p = path.display();
    let dir = path
        .parent()
        .ok_or_else(|| err(format!("{p} has no directory")))?;
    let tmp = dir.join(format!(
        ".{}.burrow-{}",
        file_name(path),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::os::unix::fs::fchown(&f, Some(owner.0), Some(owner.1))?;
        f.set_permissions(fs::Permissions::from_mode(new_mode(orig_mode)))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        err(format!("cannot write {p}: {e}"))
    })
}

fn mode_note(path: &Path, orig: Option<u32>) -> Option<String> {
    let m = orig? & 0o7777;
    (new_mode(Some(m)) != m).then(|| {
        format!(
            "{}: mode was {m:04o} (unsafe or unreadable for the helpers), now 0644",
            path.display()
        )
    })
}

pub(super) fn require_root(what: &str) -> Result<(), Error> {
    let status = read_opt("/proc/self/status").unwrap_or_default();
    if effective_uid(&status) != Some(0) {
        return Err(err(format!("this must run as root: sudo burrow {what}")));
    }
    Ok(())
}

pub(super) fn getent_user(name: &str) -> Result<Option<Account>, Error> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .map_err(|e| err(format!("cannot run getent: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.lines().next().unwrap_or("").split(':').collect();
    let id = |i: usize| {
        f.get(i)
            .and_then(|s| parse_decimal(s))
            .and_then(|n| u32::try_from(n).ok())
    };
    match (f.first(), id(2), id(3)) {
        (Some(n), Some(uid), Some(gid)) if !n.is_empty() => Ok(Some(Account {
            name: (*n).to_owned(),
            uid,
            gid,
        })),
        _ => Err(err(format!("getent passwd {name}: unexpected output"))),
    }
}

/// `add-user` against the files of `etc`: the locked, atomic edit and the report lines.
/// `accounts` are the ids the host knows; `owner` the owner of the rewritten files.
pub fn add_user_at(
    etc: &Path,
    acct: &Account,
    p: &Policy,
    accounts: &Accounts,
    owner: (u32, u32),
) -> Result<Vec<String>, Error> {
    let (pu, pg) = (etc.join("subuid"), etc.join("subgid"));
    let _lu = lock(&pu)?;
    let _lg = lock(&pg)?;
    let (bu, mu) = read_for_edit(&pu)?;
    let (bg, mg) = read_for_edit(&pg)?;
    let (tu, tg) = (String::from_utf8_lossy(&bu), String::from_utf8_lossy(&bg));
    let highest = highest_id(&accounts.users, &accounts.groups);
    let plan = plan_add(acct, p, &tu, &tg, highest.as_ref()).map_err(err)?;
    let mut out = Vec::new();
    let (nu, ng) = match plan {
        AddPlan::Unchanged { uid, gid } => {
            out.push(format!(
                "{} already has uids {}-{} in {} and gids {}-{} in {} (at least {} ids each): nothing changed",
                acct.name,
                uid.start,
                uid.end.saturating_sub(1),
                pu.display(),
                gid.start,
                gid.end.saturating_sub(1),
                pg.display(),
                p.count
            ));
            return Ok(out);
        }
        AddPlan::Add { uid, gid } => (uid, gid),
    };
    let mine = |o: &str| subid::owner_matches(o, &acct.name, acct.uid, &[]);
    for (path, bytes, mode, new, kind) in [
        (&pu, &bu, mu, nu, IdKind::Uid),
        (&pg, &bg, mg, ng, IdKind::Gid),
    ] {
        let Some(r) = new else {
            out.push(format!(
                "{}: unchanged ({} already has a range of at least {} {}s)",
                path.display(),
                acct.name,
                p.count,
                kind.word()
            ));
            continue;
        };
        let line = subid_line(&acct.name, r);
        let text = append_line(bytes, &line);
        // Never write a file in which the user's first range would not be the new one.
        let check = SubidFile::parse(&String::from_utf8_lossy(&text)).ranges_for(mine);
        if !check.first().is_some_and(|f| f.contains(&r)) {
            return Err(err(format!(
                "internal error: {line} would not be {}'s first range in {}",
                acct.name,
                path.display()
            )));
        }
        write_atomic(path, &text, mode, owner)?;
        out.push(format!("{}: added {line}", path.display()));
        out.extend(mode_note(path, mode));
    }
    Ok(out)
}

/// `remove-user` against the files of `etc`: removes every line whose owner is one of
/// `owners`.
pub fn remove_user_at(
    etc: &Path,
    owners: &[String],
    owner: (u32, u32),
) -> Result<Vec<String>, Error> {
    let (pu, pg) = (etc.join("subuid"), etc.join("subgid"));
    let _lu = lock(&pu)?;
    let _lg = lock(&pg)?;
    let mut out = Vec::new();
    for path in [&pu, &pg] {
        let (bytes, mode) = read_for_edit(path)?;
        let (text, removed) = remove_owner_lines(&bytes, owners);
        if removed.is_empty() {
            out.push(format!(
                "{}: no line for {}: unchanged",
                path.display(),
                owners.join(" or ")
            ));
            continue;
        }
        write_atomic(path, &text, mode, owner)?;
        for l in removed {
            out.push(format!("{}: removed {}", path.display(), shown(&l)));
        }
        out.extend(mode_note(path, mode));
    }
    Ok(out)
}
