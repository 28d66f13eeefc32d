//! Allocation of subordinate ids for `burrow admin add-user`: the policy (count, base,
//! reserved ranges), the free block, and the lines of /etc/subuid and /etc/subgid. Pure
//! functions over the files' text.

use crate::probes::{read_opt, Account};
use crate::report::Line;
use burrow_idmap::{parse_decimal, shown, subid, IdKind, Range, SubidFile, MAX_ID};
use std::path::Path;
use std::process::Command;

/// Default number of ids per user.
pub const DEFAULT_COUNT: u64 = 65_536;
/// Default first id when neither `--base` nor login.defs says otherwise.
pub const DEFAULT_BASE: u64 = 100_000;
/// Reserved id ranges, one `FIRST-LAST` per line (`#` comments): ids of network users that
/// must never be handed out as subordinate ids.
pub const RESERVED_FILE: &str = "burrow/subid-reserved";

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
    /// Nics allowed on the user's per-user bridge (default [`crate::usernet::DEFAULT_NICS`]).
    pub nics: Option<u32>,
    /// `--ports LIST|none`: the user's `USER ports LIST` line of /etc/burrow/usernet.
    pub ports: Option<String>,
}

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
