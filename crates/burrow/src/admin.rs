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

use crate::doctor::{
    effective_uid, nnp_line, parse_mountinfo, probe_helpers, probe_userns, read_opt,
    subid_file_line, Asker, FileFacts, Line, Mount, Report,
};
use burrow_idmap::{parse_decimal, shown, subid, IdKind, Range, SubidFile, MAX_ID};
use burrow_runtime::{err, Error};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Default number of ids per user.
pub const DEFAULT_COUNT: u64 = 65_536;
/// Default first id when neither `--base` nor login.defs says otherwise.
pub const DEFAULT_BASE: u64 = 100_000;
/// Reserved id ranges, one `FIRST-LAST` per line (`#` comments): ids of network users that
/// must never be handed out as subordinate ids.
pub const RESERVED_FILE: &str = "burrow/subid-reserved";

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

/// Where cgroup support plugs in ([`HostCgroups`] implements it with burrow-cgroups; tests
/// may use another). Every method must be idempotent.
pub trait CgroupHook {
    /// `admin add-user`: prepares the delegated cgroups of `user` (v1: per-controller
    /// directories, v2: a delegated subtree where systemd does not provide one). Returns what
    /// was done, one line each; an error is a one-line reason.
    fn prepare(&self, user: &Account) -> Result<Vec<String>, String>;
    /// `admin remove-user`: removes them (`uid` is None when the account is gone).
    fn remove(&self, name: &str, uid: Option<u32>) -> Result<Vec<String>, String>;
    /// `admin check`: delegation on this host (the cgroup mode line is built by `check`).
    fn host(&self) -> Vec<Line>;
    /// `doctor`: which limits (`--memory`, `--cpus`, `--pids-limit`) the user `uid` can use.
    fn user(&self, uid: u32) -> Vec<Line>;
}

/// Options of `burrow admin add-user`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddUser {
    /// Login name.
    pub user: String,
    /// Ids to give (default 65536).
    pub count: Option<u64>,
    /// First id to consider (default: login.defs SUB_UID_MIN/SUB_GID_MIN, else 100000).
    pub base: Option<u64>,
    /// More reserved ranges, `FIRST-LAST` (added to /etc/burrow/subid-reserved).
    pub reserve: Vec<String>,
    /// Nics allowed on the user's per-user bridge (default [`crate::network::DEFAULT_NICS`]).
    pub nics: Option<u32>,
}

// ------------------------------------------------------------------------------ pure parts

/// A login name burrow will write into /etc/subuid: non-empty, no `:`, no whitespace or
/// control characters, not starting with `-`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.starts_with('-')
        || name
            .chars()
            .any(|c| c == ':' || c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("\"{}\" is not a valid user name", shown(name)));
    }
    Ok(())
}

/// A numeric key of /etc/login.defs (last one wins, as shadow reads it); None when absent or
/// not a plain decimal number.
pub fn login_defs_number(text: &str, key: &str) -> Option<u64> {
    let mut v = None;
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        if it.next() == Some(key) {
            v = it.next().and_then(parse_decimal);
        }
    }
    v
}

/// `FIRST-LAST` (inclusive, as `usermod --add-subuids`).
pub fn parse_reserved(s: &str) -> Result<Range, String> {
    let bad = || {
        format!(
            "reserved range \"{}\": use FIRST-LAST with FIRST <= LAST <= {MAX_ID}",
            shown(s)
        )
    };
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        parse_decimal(a).ok_or_else(bad)?,
        parse_decimal(b).ok_or_else(bad)?,
    );
    if a > b || b > MAX_ID {
        return Err(bad());
    }
    Ok(Range {
        start: a,
        end: b.saturating_add(1),
    })
}

/// The reserved-ranges file: one `FIRST-LAST` per line, `#` comments, blank lines.
pub fn parse_reserved_file(text: &str) -> Result<Vec<Range>, String> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        out.push(parse_reserved(l).map_err(|e| format!("line {}: {e}", i.saturating_add(1)))?);
    }
    Ok(out)
}

/// `name:x:id:...` lines of `getent passwd`, `getent group`, /etc/passwd or /etc/group:
/// (name, id). Lines without a valid id are skipped.
pub fn parse_ids(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next().filter(|n| !n.is_empty())?;
            let id = f.nth(1).and_then(parse_decimal)?;
            Some((name.to_owned(), u32::try_from(id).ok()?))
        })
        .collect()
}

/// Every id range a subid file may be read as, by burrow or by another tool (shadow's older
/// parsers accept leading zeros as octal and `0x` as hex): valid lines, and the plausible
/// readings of the lines burrow rejects. Used as "taken" when allocating.
pub fn occupied(text: &str) -> Vec<Range> {
    fn readings(s: &str) -> Vec<u64> {
        let s = s.trim();
        let mut v = Vec::new();
        if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            v.extend(u64::from_str_radix(h, 16).ok());
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            v.extend(s.parse::<u64>().ok());
            if s.len() > 1 && s.starts_with('0') {
                v.extend(u64::from_str_radix(s, 8).ok());
            }
        }
        v
    }
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        let (Some(s), Some(c)) = (f.get(1), f.get(2)) else {
            continue;
        };
        for start in readings(s) {
            for count in readings(c) {
                if count > 0 {
                    out.push(Range::new(start, count));
                }
            }
        }
    }
    out
}

/// The first block `[base + k*count, +count)` (k >= 0) that starts at or above `floor`, ends
/// at or below `limit` and overlaps nothing in `taken`.
pub fn find_free(count: u64, base: u64, floor: u64, limit: u64, taken: &[Range]) -> Option<Range> {
    if count == 0 {
        return None;
    }
    let merged = subid::merge(taken);
    let mut k = floor.saturating_sub(base).div_ceil(count);
    loop {
        let start = base.checked_add(k.checked_mul(count)?)?;
        let r = Range::new(start, count);
        if r.end > limit {
            return None;
        }
        match merged.iter().find(|m| m.overlaps(&r)) {
            None => return Some(r),
            // m.end > start, so k grows.
            Some(m) => k = m.end.saturating_sub(base).div_ceil(count),
        }
    }
}

/// Where blocks may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Ids per user.
    pub count: u64,
    /// First id considered; blocks are aligned to `count` from here.
    pub base: u64,
    /// One past the last id a block may use.
    pub limit: u64,
    /// Ranges never handed out.
    pub reserved: Vec<Range>,
}

/// The allocation policy from the options, /etc/login.defs and the reserved-ranges file.
pub fn policy(
    count: Option<u64>,
    base: Option<u64>,
    reserve: &[String],
    login_defs: &str,
    reserved_file: Option<&str>,
) -> Result<Policy, String> {
    let count = count.unwrap_or(DEFAULT_COUNT);
    if count == 0 || count > MAX_ID {
        return Err(format!("--count {count}: use 1 to {MAX_ID}"));
    }
    let top = MAX_ID.saturating_add(1);
    let (base, limit) = match base {
        Some(0) => return Err("--base 0: id 0 is root; use 1 or more".into()),
        Some(b) => (b, top),
        None => {
            let min = [
                login_defs_number(login_defs, "SUB_UID_MIN"),
                login_defs_number(login_defs, "SUB_GID_MIN"),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(DEFAULT_BASE)
            .max(1);
            let max = [
                login_defs_number(login_defs, "SUB_UID_MAX"),
                login_defs_number(login_defs, "SUB_GID_MAX"),
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(top, |m| m.saturating_add(1).min(top));
            (min, max)
        }
    };
    let mut reserved = Vec::new();
    for r in reserve {
        reserved.push(parse_reserved(r)?);
    }
    if let Some(t) = reserved_file {
        reserved.extend(parse_reserved_file(t).map_err(|e| format!("/etc/{RESERVED_FILE}: {e}"))?);
    }
    Ok(Policy {
        count,
        base,
        limit,
        reserved,
    })
}

/// What `add-user` will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddPlan {
    /// The user already has a first range of at least `count` ids in both files.
    Unchanged {
        /// Existing subuid range.
        uid: Range,
        /// Existing subgid range.
        gid: Range,
    },
    /// New lines (None: that file already has a big enough range and is left alone).
    Add {
        /// Range to add to /etc/subuid.
        uid: Option<Range>,
        /// Range to add to /etc/subgid.
        gid: Option<Range>,
    },
}

/// The highest uid or gid the host knows (4294967295, the invalid id, is ignored), with a
/// description for messages.
pub fn highest_id(users: &[(String, u32)], groups: &[(String, u32)]) -> Option<(u64, String)> {
    let u = users
        .iter()
        .filter(|(_, id)| *id != u32::MAX)
        .max_by_key(|(_, id)| *id)
        .map(|(n, id)| (u64::from(*id), format!("uid {id} ({n})")));
    let g = groups
        .iter()
        .filter(|(_, id)| *id != u32::MAX)
        .max_by_key(|(_, id)| *id)
        .map(|(n, id)| (u64::from(*id), format!("gid {id} ({n})")));
    [u, g].into_iter().flatten().max_by_key(|(id, _)| *id)
}

/// Decides what `add-user` does for `acct` given both files' text. `highest` is the highest
/// existing uid or gid ([`highest_id`]).
pub fn plan_add(
    acct: &Account,
    p: &Policy,
    subuid: &str,
    subgid: &str,
    highest: Option<&(u64, String)>,
) -> Result<AddPlan, String> {
    let mine = |o: &str| subid::owner_matches(o, &acct.name, acct.uid, &[]);
    let existing = |kind: IdKind, text: &str| -> Result<Option<Range>, String> {
        let ranges = SubidFile::parse(text).ranges_for(mine);
        match ranges.first() {
            None => Ok(None),
            Some(r) if r.len() >= p.count => Ok(Some(*r)),
            Some(r) => Err(format!(
                "{name} already has {word}s {start}-{last} ({len} ids) in {path}, fewer than {count}; burrow uses the first range only. \
To replace it: sudo burrow admin remove-user {name} && sudo burrow admin add-user {name} --count {count}",
                name = acct.name,
                word = kind.word(),
                start = r.start,
                last = r.end.saturating_sub(1),
                len = r.len(),
                path = kind.subid_path(),
                count = p.count
            )),
        }
    };
    let eu = existing(IdKind::Uid, subuid)?;
    let eg = existing(IdKind::Gid, subgid)?;
    if let (Some(uid), Some(gid)) = (eu, eg) {
        return Ok(AddPlan::Unchanged { uid, gid });
    }
    let floor = highest.map_or(0, |(h, _)| h.saturating_add(1));
    let top = MAX_ID.saturating_add(1);
    // One side exists: try the same numbers on the other side first.
    let same = |have: Option<Range>, other_text: &str| -> Option<Range> {
        let r = Range::new(have?.start, p.count);
        let mut taken = occupied(other_text);
        taken.extend_from_slice(&p.reserved);
        (r.start >= floor && r.end <= top && !taken.iter().any(|t| t.overlaps(&r))).then_some(r)
    };
    let reuse = match (eu, eg) {
        (Some(_), None) => same(eu, subgid),
        (None, Some(_)) => same(eg, subuid),
        _ => None,
    };
    let block = match reuse {
        Some(r) => r,
        None => {
            let mut taken = occupied(subuid);
            taken.extend(occupied(subgid));
            taken.extend_from_slice(&p.reserved);
            find_free(p.count, p.base, floor, p.limit, &taken).ok_or_else(|| {
                format!(
                    "no free block of {} ids from {} to {}{}, outside every range of /etc/subuid, /etc/subgid and the reserved ranges: \
use a smaller --count, another --base, or raise SUB_UID_MAX/SUB_GID_MAX in /etc/login.defs",
                    p.count,
                    p.base,
                    p.limit.saturating_sub(1),
                    highest.map(|(_, d)| format!(" above the highest existing id, {d}")).unwrap_or_default()
                )
            })?
        }
    };
    Ok(AddPlan::Add {
        uid: eu.is_none().then_some(block),
        gid: eg.is_none().then_some(block),
    })
}

/// The subid line for `name` and `r`.
pub fn subid_line(name: &str, r: Range) -> String {
    format!("{name}:{}:{}", r.start, r.len())
}

/// `text` with `line` appended (a newline is added first when the last line has none; every
/// other byte is kept).
pub fn append_line(text: &[u8], line: &str) -> Vec<u8> {
    let mut out = text.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out
}

/// `text` without the lines whose owner field (before the first `:`) is one of `owners`
/// (comments are kept); every other byte is kept. Also returns the removed lines.
pub fn remove_owner_lines(text: &[u8], owners: &[String]) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::with_capacity(text.len());
    let mut removed = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let owner = body.split(|&b| b == b':').next().unwrap_or(b"");
        if !body.starts_with(b"#") && owners.iter().any(|o| o.as_bytes() == owner) {
            removed.push(String::from_utf8_lossy(body).into_owned());
        } else {
            out.extend_from_slice(line);
        }
    }
    (out, removed)
}

/// Mode of the rewritten file: the original's when it is safe (no write bit for group or
/// others, readable by all, no special bits), else 0644.
pub fn new_mode(orig: Option<u32>) -> u32 {
    match orig.map(|m| m & 0o7777) {
        Some(m) if m & 0o7022 == 0 && m & 0o444 == 0o444 => m,
        _ => 0o644,
    }
}

/// The accounts the host knows: (name, id) of every user and group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Users: (name, uid).
    pub users: Vec<(String, u32)>,
    /// Groups: (name, gid).
    pub groups: Vec<(String, u32)>,
}

impl Accounts {
    /// Users from `getent passwd` (NSS enumeration) and /etc/passwd, groups likewise.
    pub fn gather(etc: &Path) -> Accounts {
        let mut a = Accounts::default();
        for (db, file, out) in [
            ("passwd", "passwd", &mut a.users),
            ("group", "group", &mut a.groups),
        ] {
            if let Ok(o) = Command::new("getent").arg(db).output() {
                out.extend(parse_ids(&String::from_utf8_lossy(&o.stdout)));
            }
            out.extend(parse_ids(&read_opt(etc.join(file)).unwrap_or_default()));
            out.sort();
            out.dedup();
        }
        a
    }
}

fn list_ids(ids: &[(u32, &str)]) -> String {
    let mut s: Vec<String> = ids
        .iter()
        .take(5)
        .map(|(id, n)| format!("{id} ({n})"))
        .collect();
    if ids.len() > 5 {
        s.push(format!("and {} more", ids.len().saturating_sub(5)));
    }
    s.join(", ")
}

/// The findings about the content of one subid file: rejected lines, ranges that overlap
/// between users, ranges covering existing ids or reserved ranges, unknown owners.
pub fn subid_content_lines(
    kind: IdKind,
    text: &str,
    accounts: &Accounts,
    reserved: &[Range],
) -> Vec<Line> {
    let path = kind.subid_path();
    let file = SubidFile::parse(text);
    let mut out = Vec::new();
    let uid_name = |uid: u64| {
        accounts
            .users
            .iter()
            .find(|(_, u)| u64::from(*u) == uid)
            .map(|(n, _)| n.clone())
    };
    let known_name = |n: &str| accounts.users.iter().any(|(u, _)| u == n);
    // "1005" and "alice" are the same owner when alice is uid 1005.
    let canon = |o: &str| {
        parse_decimal(o)
            .and_then(uid_name)
            .unwrap_or_else(|| o.to_owned())
    };
    let redo = |owner: &str| {
        format!("sudo burrow admin remove-user {owner} && sudo burrow admin add-user {owner}")
    };
    for r in &file.rejected {
        use burrow_idmap::subid::LineProblem as P;
        let fixable = validate_name(&r.owner).is_ok();
        let line = match r.problem {
            P::FieldCount | P::BadOwner => Line::warn(
                path,
                format!("line {} ({}): {}: ignored", r.line, shown(&r.owner), r.problem),
            ),
            _ => Line::fail(
                path,
                format!(
                    "line {} ({}): {}: burrow ignores it, other tools may read it as a different range",
                    r.line,
                    shown(&r.owner),
                    r.problem
                ),
            ),
        };
        out.push(line.fix(if fixable {
            redo(&canon(&r.owner))
        } else {
            format!("sudo sed -i '{}d' {path}", r.line)
        }));
    }
    let ids: Vec<(u32, &str)> = {
        let src = match kind {
            IdKind::Uid => &accounts.users,
            IdKind::Gid => &accounts.groups,
        };
        let mut v: Vec<(u32, &str)> = src.iter().map(|(n, i)| (*i, n.as_str())).collect();
        v.sort();
        v.dedup_by_key(|(i, _)| *i);
        v
    };
    let show = |e: &subid::SubidEntry| {
        format!(
            "line {} ({})",
            e.line,
            subid_line(&shown(&e.owner), e.range)
        )
    };
    let mut problems = 0usize;
    for e in &file.entries {
        let owner = canon(&e.owner);
        if !known_name(&owner) {
            problems = problems.saturating_add(1);
            out.push(
                Line::warn(
                    path,
                    format!(
                        "{}: owner {} is not a known user (a stale line?)",
                        show(e),
                        shown(&owner)
                    ),
                )
                .fix(format!("sudo burrow admin remove-user {}", shown(&owner))),
            );
        }
        let lo = ids.partition_point(|(i, _)| u64::from(*i) < e.range.start);
        let hi = ids.partition_point(|(i, _)| u64::from(*i) < e.range.end);
        if let Some(covered) = ids.get(lo..hi).filter(|c| !c.is_empty()) {
            problems = problems.saturating_add(1);
            out.push(
                Line::fail(
                    path,
                    format!(
                        "{} covers existing {}s: {}: that user's containers can act as them",
                        show(e),
                        kind.word(),
                        list_ids(covered)
                    ),
                )
                .fix(redo(&owner)),
            );
        }
        for r in reserved.iter().filter(|r| r.overlaps(&e.range)) {
            problems = problems.saturating_add(1);
            out.push(
                Line::fail(
                    path,
                    format!(
                        "{} overlaps the reserved range {}-{}",
                        show(e),
                        r.start,
                        r.end.saturating_sub(1)
                    ),
                )
                .fix(redo(&owner)),
            );
        }
    }
    let mut sorted: Vec<&subid::SubidEntry> = file.entries.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.line));
    let mut active: Vec<&subid::SubidEntry> = Vec::new();
    for e in sorted {
        active.retain(|a| a.range.end > e.range.start);
        for a in &active {
            if canon(&a.owner) != canon(&e.owner) {
                problems = problems.saturating_add(1);
                let (first, later) = if a.line < e.line { (*a, e) } else { (e, *a) };
                out.push(
                    Line::fail(
                        path,
                        format!(
                            "{} and {} overlap: the two users' containers share host ids",
                            show(first),
                            show(later)
                        ),
                    )
                    .fix(redo(&canon(&later.owner))),
                );
            }
        }
        active.push(e);
    }
    if problems == 0 && file.rejected.is_empty() {
        let owners: std::collections::BTreeSet<String> =
            file.entries.iter().map(|e| canon(&e.owner)).collect();
        out.push(if file.entries.is_empty() {
            Line::info(path, "no ranges")
        } else {
            Line::ok(
                path,
                format!(
                    "{} range(s) of {} user(s): no overlap, none covers an existing {} or a reserved range",
                    file.entries.len(),
                    owners.len(),
                    kind.word()
                ),
            )
        });
    }
    out
}

/// The cgroup filesystems mounted here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// v1 hierarchies: mount point and controllers (`name=...` for named ones).
    pub v1: Vec<(PathBuf, Vec<String>)>,
    /// cgroup2 mount points.
    pub v2: Vec<PathBuf>,
}

/// The cgroup mounts of a mountinfo listing.
pub fn cgroup_layout(mounts: &[Mount]) -> CgroupLayout {
    let mut l = CgroupLayout::default();
    for m in mounts {
        match m.fstype.as_str() {
            "cgroup" => {
                let ctl = m
                    .super_options
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "clone_children"
                                | "noprefix"
                                | "xattr"
                                | "cpuset_v2_mode"
                                | ""
                        ) && !o.starts_with("release_agent=")
                    })
                    .map(str::to_owned)
                    .collect();
                l.v1.push((m.point.clone(), ctl));
            }
            "cgroup2" => l.v2.push(m.point.clone()),
            _ => {}
        }
    }
    l
}

/// The cgroup mode finding: v2 (unified), v1, hybrid or none. `controllers` gives the
/// `cgroup.controllers` text of a cgroup2 mount point.
pub fn cgroup_mode_line(l: &CgroupLayout, controllers: impl Fn(&Path) -> Option<String>) -> Line {
    let v2 = |p: &PathBuf| {
        let c = controllers(p)
            .map(|c| c.split_ascii_whitespace().collect::<Vec<_>>().join(", "))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "none".into());
        format!("cgroup2 at {} (controllers: {c})", p.display())
    };
    let v1 = || {
        let mut c: Vec<&str> =
            l.v1.iter()
                .flat_map(|(_, c)| c.iter().map(String::as_str))
                .collect();
        c.sort_unstable();
        c.join(", ")
    };
    let topic = "cgroups";
    let unified = Path::new("/sys/fs/cgroup");
    match (l.v1.is_empty(), l.v2.is_empty()) {
        (true, true) => Line::warn(
            topic,
            "no cgroup filesystem is mounted: --memory, --cpus and --pids-limit cannot work",
        )
        .fix("sudo mount -t cgroup2 none /sys/fs/cgroup"),
        (true, false) => {
            let mode = if l.v2.iter().any(|p| p == unified) {
                "v2 (unified)"
            } else {
                "v2"
            };
            Line::info(
                topic,
                format!(
                    "{mode}: {}",
                    l.v2.iter().map(v2).collect::<Vec<_>>().join("; ")
                ),
            )
        }
        (false, true) => Line::info(topic, format!("v1: controllers {}", v1())),
        (false, false) => Line::info(
            topic,
            format!(
                "hybrid: v1 controllers {}; {}",
                v1(),
                l.v2.iter().map(v2).collect::<Vec<_>>().join("; ")
            ),
        ),
    }
}

// ------------------------------------------------------------------------------ file edits

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
fn write_atomic(
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

fn require_root(what: &str) -> Result<(), Error> {
    let status = read_opt("/proc/self/status").unwrap_or_default();
    if effective_uid(&status) != Some(0) {
        return Err(err(format!("this must run as root: sudo burrow {what}")));
    }
    Ok(())
}

fn getent_user(name: &str) -> Result<Option<Account>, Error> {
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

// ------------------------------------------------------------------------------ commands

/// `burrow admin add-user`: allocates and writes USER's subordinate ranges (idempotent), then
/// prepares cgroup delegation through `cgroups`. Returns the report text.
pub fn add_user(opts: &AddUser, cgroups: &dyn CgroupHook) -> Result<String, Error> {
    validate_name(&opts.user).map_err(err)?;
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
    let nics = opts.nics.unwrap_or(crate::network::DEFAULT_NICS);
    let usernet_mode = fs::metadata(burrow_usernet::USERNET_PATH)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    lines.extend(crate::network::add_user(&acct.name, nics, |p, b| {
        write_atomic(p, b, usernet_mode, (0, 0))
    })?);
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
    r.extend(crate::network::admin_lines());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct() -> Account {
        Account {
            name: "alice".into(),
            uid: 1005,
            gid: 1005,
        }
    }

    fn pol(count: u64) -> Policy {
        Policy {
            count,
            base: 100_000,
            limit: MAX_ID + 1,
            reserved: vec![],
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("alice").is_ok());
        assert!(validate_name("svc.web-1").is_ok());
        for bad in ["", "-x", "a:b", "a b", "a\nb", "../x"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn login_defs_and_policy() {
        let defs = "SUB_UID_MIN\t\t   200000\n#SUB_GID_MIN 1\nSUB_GID_MIN 150000\nSUB_UID_MAX 600100000\nSUB_GID_MAX 500000000\n";
        assert_eq!(login_defs_number(defs, "SUB_UID_MIN"), Some(200_000));
        assert_eq!(login_defs_number(defs, "SUB_UID_COUNT"), None);
        let p = policy(None, None, &[], defs, None).unwrap();
        assert_eq!((p.count, p.base, p.limit), (65_536, 200_000, 500_000_001));
        let p = policy(
            Some(10),
            Some(5000),
            &["7000-7999".into()],
            defs,
            Some("# net\n1000000-1999999 # ldap\n\n"),
        )
        .unwrap();
        assert_eq!((p.count, p.base, p.limit), (10, 5000, MAX_ID + 1));
        assert_eq!(
            p.reserved,
            vec![Range::new(7000, 1000), Range::new(1_000_000, 1_000_000)]
        );
        assert_eq!(policy(None, None, &[], "", None).unwrap().base, 100_000);
        assert!(policy(Some(0), None, &[], "", None).is_err());
        assert!(policy(None, Some(0), &[], "", None).is_err());
        assert!(policy(None, None, &["9-1".into()], "", None).is_err());
        assert_eq!(
            policy(None, None, &[], "", Some("x\n")).unwrap_err(),
            "/etc/burrow/subid-reserved: line 1: reserved range \"x\": use FIRST-LAST with FIRST <= LAST <= 4294967294"
        );
    }

    #[test]
    fn lenient_occupancy() {
        let o = occupied("a:100:10\n# c:1:1\nb:010:2\nc:0x20:1\nd:5:0\ne:7:3:9\nf: 40:1\n");
        assert_eq!(
            o,
            vec![
                Range::new(100, 10),
                Range::new(10, 2),
                Range::new(8, 2),
                Range::new(32, 1),
                Range::new(7, 3),
                Range::new(40, 1)
            ]
        );
    }

    #[test]
    fn free_blocks() {
        let t = [Range::new(100_000, 65_536), Range::new(165_536, 65_536)];
        assert_eq!(
            find_free(65_536, 100_000, 0, MAX_ID + 1, &t),
            Some(Range::new(231_072, 65_536))
        );
        // Above every id.
        assert_eq!(
            find_free(65_536, 100_000, 300_001, MAX_ID + 1, &[]),
            Some(Range::new(362_144, 65_536))
        );
        // A small range in the way pushes to the next aligned slot.
        assert_eq!(
            find_free(65_536, 100_000, 0, MAX_ID + 1, &[Range::new(150_000, 1)]),
            Some(Range::new(165_536, 65_536))
        );
        // Gaps are used when aligned slots fit.
        assert_eq!(
            find_free(10, 100, 0, 1000, &[Range::new(100, 10), Range::new(120, 5)]),
            Some(Range::new(110, 10))
        );
        assert_eq!(find_free(10, 100, 0, 120, &[Range::new(100, 15)]), None);
        assert_eq!(
            find_free(10, 100, 0, 130, &[Range::new(100, 15)]),
            Some(Range::new(120, 10))
        );
        assert_eq!(find_free(0, 100, 0, 130, &[]), None);
        assert_eq!(
            find_free(65_536, 100_000, u64::from(u32::MAX), MAX_ID + 1, &[]),
            None
        );
    }

    #[test]
    fn highest() {
        let users = vec![
            ("root".into(), 0),
            ("nobody".into(), 65_534),
            ("bad".into(), u32::MAX),
        ];
        let groups = vec![("big".into(), 70_000)];
        assert_eq!(
            highest_id(&users, &groups),
            Some((70_000, "gid 70000 (big)".into()))
        );
        assert_eq!(highest_id(&[], &[]), None);
    }

    #[test]
    fn plans() {
        let a = acct();
        let h = (65_534, "uid 65534 (nobody)".to_string());
        let other = "bob:100000:65536\ncarol:165536:65536\n";
        assert_eq!(
            plan_add(&a, &pol(65_536), other, other, Some(&h)).unwrap(),
            AddPlan::Add {
                uid: Some(Range::new(231_072, 65_536)),
                gid: Some(Range::new(231_072, 65_536))
            }
        );
        // A subgid range elsewhere blocks the slot in both files (same numbers in both).
        let g = "dave:231072:10\n";
        assert_eq!(
            plan_add(&a, &pol(65_536), other, g, Some(&h)).unwrap(),
            AddPlan::Add {
                uid: Some(Range::new(296_608, 65_536)),
                gid: Some(Range::new(296_608, 65_536))
            }
        );
        // Already there (by name or by uid): unchanged.
        let mine = "bob:100000:65536\nalice:300000:65536\n";
        let mine_uid = "1005:300000:70000\n";
        assert_eq!(
            plan_add(&a, &pol(65_536), mine, mine_uid, Some(&h)).unwrap(),
            AddPlan::Unchanged {
                uid: Range::new(300_000, 65_536),
                gid: Range::new(300_000, 70_000)
            }
        );
        // Only subuid: subgid gets the same numbers when they are free there.
        assert_eq!(
            plan_add(&a, &pol(65_536), mine, other, Some(&h)).unwrap(),
            AddPlan::Add {
                uid: None,
                gid: Some(Range::new(300_000, 65_536))
            }
        );
        // ... and a fresh block when they are not.
        assert_eq!(
            plan_add(&a, &pol(65_536), mine, "eve:310000:5\n", Some(&h)).unwrap(),
            AddPlan::Add {
                uid: None,
                gid: Some(Range::new(165_536, 65_536))
            }
        );
        // Too small: refuse with the exact fix.
        let e = plan_add(&a, &pol(65_536), "alice:300000:1000\n", "", Some(&h)).unwrap_err();
        assert!(e.contains("fewer than 65536"), "{e}");
        assert!(e.ends_with(
            "sudo burrow admin remove-user alice && sudo burrow admin add-user alice --count 65536"
        ));
        // Reserved ranges are avoided.
        let mut p = pol(65_536);
        p.reserved = vec![Range::new(200_000, 100_000)];
        assert_eq!(
            plan_add(&a, &p, other, other, Some(&h)).unwrap(),
            AddPlan::Add {
                uid: Some(Range::new(362_144, 65_536)),
                gid: Some(Range::new(362_144, 65_536))
            }
        );
        // Nothing left.
        let mut p = pol(65_536);
        p.limit = 200_000;
        let e = plan_add(&a, &p, other, other, Some(&h)).unwrap_err();
        assert!(e.starts_with("no free block of 65536 ids from 100000 to 199999 above the highest existing id, uid 65534 (nobody)"), "{e}");
        // A rejected line of another user still counts as taken.
        assert_eq!(
            plan_add(&a, &pol(65_536), "x:0:200000\n", "", Some(&h)).unwrap(),
            AddPlan::Add {
                uid: Some(Range::new(231_072, 65_536)),
                gid: Some(Range::new(231_072, 65_536))
            }
        );
    }

    #[test]
    fn line_edits_keep_bytes() {
        assert_eq!(append_line(b"", "a:1:2"), b"a:1:2\n");
        assert_eq!(append_line(b"x:5:5", "a:1:2"), b"x:5:5\na:1:2\n");
        assert_eq!(
            append_line(b"x:5:5\n\xff\n", "a:1:2"),
            b"x:5:5\n\xff\na:1:2\n"
        );
        let text = b"# alice:1:1\nalice:100:10\nbob:200:10\r\nalicex:5:5\n1005:300:3\nalice\nalice:bad:line:here\nlast:1:1";
        let (out, removed) = remove_owner_lines(text, &["alice".into(), "1005".into()]);
        assert_eq!(out, b"# alice:1:1\nbob:200:10\r\nalicex:5:5\nlast:1:1");
        assert_eq!(
            removed,
            vec!["alice:100:10", "1005:300:3", "alice", "alice:bad:line:here"]
        );
        let (out, removed) = remove_owner_lines(b"bob:1:1", &["alice".into()]);
        assert_eq!((out.as_slice(), removed.len()), (b"bob:1:1".as_slice(), 0));
    }

    #[test]
    fn modes() {
        assert_eq!(new_mode(None), 0o644);
        assert_eq!(new_mode(Some(0o100644)), 0o644);
        assert_eq!(new_mode(Some(0o100444)), 0o444);
        assert_eq!(new_mode(Some(0o100664)), 0o644);
        assert_eq!(new_mode(Some(0o100600)), 0o644);
        assert_eq!(new_mode(Some(0o104644)), 0o644);
    }

    fn accounts() -> Accounts {
        Accounts {
            users: parse_ids("root:x:0:0::/root:/bin/sh\nalice:x:1005:1005::/:/bin/sh\nbob:x:1006:1006::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nbad:x:-1:0::/:/x\n"),
            groups: parse_ids("root:x:0:\nalice:x:1005:\nstaff:x:50:\n"),
        }
    }

    #[test]
    fn content_findings() {
        let a = accounts();
        assert_eq!(a.users.len(), 4);
        let good = subid_content_lines(
            IdKind::Uid,
            "alice:100000:65536\n1006:165536:65536\n",
            &a,
            &[],
        );
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].status, crate::doctor::Status::Ok);
        assert_eq!(
            good[0].message,
            "2 range(s) of 2 user(s): no overlap, none covers an existing uid or a reserved range"
        );
        let text = "evil:0:65536\nbob:1000:65536\nalice:100000:65536\n1006:150000:10\nghost:400000:10\nalice:0x10:5\n";
        let l = subid_content_lines(IdKind::Uid, text, &a, &[Range::new(400_005, 1)]);
        let msgs: Vec<String> = l.iter().map(|l| l.message.clone()).collect();
        assert_eq!(
            msgs,
            vec![
                "line 1 (evil): the range includes id 0: burrow ignores it, other tools may read it as a different range",
                "line 6 (alice): start or count is not a plain decimal number: burrow ignores it, other tools may read it as a different range",
                "line 2 (bob:1000:65536) covers existing uids: 1005 (alice), 1006 (bob), 65534 (nobody): that user's containers can act as them",
                "line 5 (ghost:400000:10): owner ghost is not a known user (a stale line?)",
                "line 5 (ghost:400000:10) overlaps the reserved range 400005-400005",
                "line 3 (alice:100000:65536) and line 4 (1006:150000:10) overlap: the two users' containers share host ids",
            ]
        );
        assert_eq!(
            l[0].fix.as_deref(),
            Some("sudo burrow admin remove-user evil && sudo burrow admin add-user evil")
        );
        assert_eq!(
            l[2].fix.as_deref(),
            Some("sudo burrow admin remove-user bob && sudo burrow admin add-user bob")
        );
        assert_eq!(
            l[5].fix.as_deref(),
            Some("sudo burrow admin remove-user bob && sudo burrow admin add-user bob")
        );
        // Same owner twice (by name and uid) is not an overlap; gids are checked against groups.
        let l = subid_content_lines(IdKind::Gid, "alice:40:20\n1005:45:2\n", &a, &[]);
        assert_eq!(l.len(), 1);
        assert!(
            l[0].message.contains("covers existing gids: 50 (staff)"),
            "{:?}",
            l[0]
        );
        let garbage = subid_content_lines(IdKind::Gid, "a b:1:1\n", &a, &[]);
        assert_eq!(
            garbage[0].fix.as_deref(),
            Some("sudo sed -i '1d' /etc/subgid")
        );
        assert_eq!(
            subid_content_lines(IdKind::Uid, "", &a, &[])[0].message,
            "no ranges"
        );
    }

    #[test]
    fn cgroup_modes() {
        let this_host = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children\n\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let l = cgroup_layout(&parse_mountinfo(this_host));
        assert_eq!(l.v1.len(), 4);
        assert_eq!(l.v2, vec![PathBuf::from("/sys/fs/cgroup/unified")]);
        let line = cgroup_mode_line(&l, |_| Some("hugetlb\n".into()));
        assert_eq!(
            line.message,
            "hybrid: v1 controllers cpu, cpuset, memory, name=systemd; cgroup2 at /sys/fs/cgroup/unified (controllers: hugetlb)"
        );
        let v2 = cgroup_layout(&parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        ));
        assert_eq!(
            cgroup_mode_line(&v2, |_| Some("cpu memory pids".into())).message,
            "v2 (unified): cgroup2 at /sys/fs/cgroup (controllers: cpu, memory, pids)"
        );
        let v1 = CgroupLayout {
            v1: vec![(PathBuf::from("/x"), vec!["pids".into()])],
            v2: vec![],
        };
        assert_eq!(
            cgroup_mode_line(&v1, |_| None).message,
            "v1: controllers pids"
        );
        assert_eq!(
            cgroup_mode_line(&CgroupLayout::default(), |_| None).status,
            crate::doctor::Status::Warn
        );
    }

    fn euid() -> u32 {
        effective_uid(&read_opt("/proc/self/status").unwrap()).unwrap()
    }

    fn tmp_etc(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("burrow-admin-unit-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn edit_files_atomically_and_idempotently() {
        let me = euid();
        let etc = tmp_etc("edit");
        let orig_u = b"# keep me\nbob:100000:65536\r\ncarol:165536:65536";
        fs::write(etc.join("subuid"), orig_u).unwrap();
        fs::set_permissions(etc.join("subuid"), fs::Permissions::from_mode(0o664)).unwrap();
        let acc = accounts();
        let a = acct();
        let out = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap();
        let u = fs::read(etc.join("subuid")).unwrap();
        assert_eq!(
            u,
            b"# keep me\nbob:100000:65536\r\ncarol:165536:65536\nalice:231072:65536\n"
        );
        assert_eq!(
            fs::read(etc.join("subgid")).unwrap(),
            b"alice:231072:65536\n"
        );
        let md = fs::metadata(etc.join("subuid")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o644);
        assert!(
            out.iter()
                .any(|l| l
                    .ends_with("mode was 0664 (unsafe or unreadable for the helpers), now 0644"))
        );
        assert!(!etc.join("subuid.lock").exists());
        // Second run: nothing changes, not even the inode.
        let ino = std::os::unix::fs::MetadataExt::ino(&md);
        let out = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap();
        assert!(out[0].ends_with("nothing changed"), "{out:?}");
        let md2 = fs::metadata(etc.join("subuid")).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&md2), ino);
        assert_eq!(fs::read(etc.join("subuid")).unwrap(), u);
        // A live lock holder blocks; a stale one is taken over.
        fs::write(etc.join("subuid.lock"), std::process::id().to_string()).unwrap();
        let e = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap_err();
        assert!(e.msg.contains("is locked by process"), "{}", e.msg);
        fs::write(etc.join("subuid.lock"), "999999999").unwrap();
        assert!(add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).is_ok());
        // Removal: exactly alice's lines (name and uid).
        fs::write(
            etc.join("subgid"),
            "1005:5:5\nalice:231072:65536\ndave:1:1\n",
        )
        .unwrap();
        let out = remove_user_at(&etc, &["alice".into(), "1005".into()], (me, me)).unwrap();
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(
            fs::read(etc.join("subuid")).unwrap(),
            orig_u.iter().copied().chain(*b"\n").collect::<Vec<u8>>()
        );
        assert_eq!(fs::read(etc.join("subgid")).unwrap(), b"dave:1:1\n");
        let out = remove_user_at(&etc, &["alice".into()], (me, me)).unwrap();
        assert!(out.iter().all(|l| l.ends_with("unchanged")), "{out:?}");
        // Symlinks are refused.
        fs::remove_file(etc.join("subgid")).unwrap();
        std::os::unix::fs::symlink("subuid", etc.join("subgid")).unwrap();
        let e = add_user_at(
            &etc,
            &Account {
                name: "zed".into(),
                uid: 2000,
                gid: 2000,
            },
            &pol(10),
            &acc,
            (me, me),
        )
        .unwrap_err();
        assert!(
            e.msg.contains("is a symbolic link; refusing to edit it"),
            "{}",
            e.msg
        );
        let leftovers: Vec<_> = fs::read_dir(&etc)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with('.')
                    || n.ends_with(".lock")
                    || n.contains(&std::process::id().to_string())
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&etc).unwrap();
    }
}

/// The cgroup side of `admin` and `doctor`, through burrow-cgroups on this host.
#[derive(Debug)]
pub struct HostCgroups;

impl CgroupHook for HostCgroups {
    fn prepare(&self, user: &Account) -> Result<Vec<String>, String> {
        let host = burrow_cgroups::Host::system().map_err(|e| e.to_string())?;
        let paths = host
            .admin_prepare(&user.name, user.uid, user.gid)
            .map_err(|e| e.to_string())?;
        Ok(paths
            .iter()
            .map(|p| format!("delegated cgroup {}", p.display()))
            .collect())
    }

    fn remove(&self, name: &str, _uid: Option<u32>) -> Result<Vec<String>, String> {
        let host = burrow_cgroups::Host::system().map_err(|e| e.to_string())?;
        let paths = host.admin_remove(name).map_err(|e| e.to_string())?;
        Ok(paths
            .iter()
            .map(|p| format!("removed delegated cgroup {}", p.display()))
            .collect())
    }

    fn host(&self) -> Vec<Line> {
        match burrow_cgroups::Host::system() {
            Err(e) => vec![Line::warn(
                "cgroups",
                format!("cannot read the cgroup mounts: {e}"),
            )],
            Ok(h) => {
                use burrow_cgroups::Controller;
                let v1: Vec<&str> = [Controller::Memory, Controller::Cpu, Controller::Pids]
                    .into_iter()
                    .filter(|c| h.v1_mount(*c).is_some())
                    .map(Controller::name)
                    .collect();
                vec![Line::info(
                    "cgroups",
                    format!(
                        "delegation is per user: `burrow admin add-user USER` prepares it{}",
                        if v1.is_empty() {
                            String::new()
                        } else {
                            format!(" (v1 controllers here: {})", v1.join(", "))
                        }
                    ),
                )]
            }
        }
    }

    fn user(&self, _uid: u32) -> Vec<Line> {
        use burrow_cgroups::Controller;
        let host = match burrow_cgroups::Host::system() {
            Ok(h) => h,
            Err(e) => {
                return vec![Line::warn(
                    "limits",
                    format!("cannot read the cgroup mounts: {e}"),
                )]
            }
        };
        let mut out = Vec::new();
        for (c, what) in [
            (Controller::Memory, "--memory"),
            (Controller::Cpu, "--cpus/--cpu-weight"),
            (Controller::Pids, "--pids-limit"),
        ] {
            match host.detect(&[c]) {
                Ok(_) => out.push(Line::ok("limits", format!("{what} available"))),
                Err(e) => out.push(Line::warn("limits", format!("{what} not available: {e}"))),
            }
        }
        out
    }
}
