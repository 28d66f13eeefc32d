//! Subordinate id ranges: parsing `/etc/subuid` and `/etc/subgid`, parsing and checking the
//! `<inner> <outer> <count>` triples of a uid/gid map, and deciding whether a user may map
//! them. Shared by the setuid helpers (`burrow-newuidmap`, `burrow-newgidmap`) and the front
//! end, so the rules exist once.
//!
//! Everything is strict: numbers are plain decimal (`0` or `[1-9][0-9]*`), arithmetic is done
//! in u64 and checked, and a subid line that does not parse is never matched.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::arithmetic_side_effects)]

use std::fmt;

pub mod passwd;
pub mod subid;

pub use subid::{Range, SubidFile};

/// Which map: user ids or group ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// uid_map, /etc/subuid, burrow-newuidmap.
    Uid,
    /// gid_map, /etc/subgid, burrow-newgidmap.
    Gid,
}

impl IdKind {
    /// `"uid"` or `"gid"`.
    pub fn word(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        }
    }
    /// `"uid_map"` or `"gid_map"`.
    pub fn map_file(self) -> &'static str {
        match self {
            IdKind::Uid => "uid_map",
            IdKind::Gid => "gid_map",
        }
    }
    /// `"/etc/subuid"` or `"/etc/subgid"`.
    pub fn subid_path(self) -> &'static str {
        match self {
            IdKind::Uid => "/etc/subuid",
            IdKind::Gid => "/etc/subgid",
        }
    }
    /// The helper's fixed program name (never taken from argv[0]).
    pub fn prog(self) -> &'static str {
        match self {
            IdKind::Uid => "burrow-newuidmap",
            IdKind::Gid => "burrow-newgidmap",
        }
    }
}

/// The largest number of lines a uid_map or gid_map may have (Linux 4.15 and later).
pub const MAX_EXTENTS: usize = 340;
/// The map text must be shorter than a page.
pub const MAX_MAP_BYTES: usize = 4095;
/// Ids and counts must stay at or below this (4294967295 is the kernel's "invalid id").
pub const MAX_ID: u64 = 4_294_967_294;
/// The kernel's hard upper bound for pid_max.
pub const PID_MAX_LIMIT: u32 = 4_194_304;

/// Parses a canonical decimal number: `0` or `[1-9][0-9]*`, nothing else (no sign, no
/// whitespace, no leading zero, no hex), into u64. `None` when it is not canonical or does not
/// fit in u64.
pub fn parse_decimal(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    match b {
        [] => return None,
        [b'0'] => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v
            .checked_mul(10)?
            .checked_add(u64::from(c.wrapping_sub(b'0')))?;
    }
    Some(v)
}

/// Renders untrusted text for an error message: printable ASCII kept, everything else
/// escaped, at most 40 characters shown.
pub fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= 40 {
            out.push_str("...");
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// The target argument: a pid or `fd:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A process id (1 ..= pid_max).
    Pid(i32),
    /// An inherited descriptor: a `/proc/<pid>` directory or a pidfd.
    Fd(i32),
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// No target argument at all.
    Usage,
    /// The target is neither a canonical pid nor `fd:N`.
    BadTarget(String),
    /// The target pid is above the kernel's limit.
    PidRange(u64),
    /// Only a target, no triples.
    NoRanges,
    /// The numbers after the target are not a multiple of three.
    NotTriples(usize),
    /// More than [`MAX_EXTENTS`] triples.
    TooManyRanges(usize),
    /// An argument is not a canonical decimal number. (position, text)
    BadNumber(usize, String),
    /// A value is 4294967295 or more, or a range runs past 4294967294. (range index, what)
    Overflow(usize, &'static str),
    /// A count of zero. (range index)
    ZeroCount(usize),
    /// Two ranges overlap. (first, second, "inside" or "host")
    Overlap(usize, usize, &'static str),
    /// The rendered map is too long for one write. (bytes)
    TooLong(usize),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Usage => write!(f, "missing arguments"),
            ArgError::BadTarget(s) => {
                write!(
                    f,
                    "target \"{}\" is not a pid or fd:N (plain decimal numbers only)",
                    shown(s)
                )
            }
            ArgError::PidRange(p) => write!(f, "target pid {p} is out of range"),
            ArgError::NoRanges => write!(f, "no ranges given: nothing to map"),
            ArgError::NotTriples(n) => write!(
                f,
                "{n} numbers after the target do not form <id> <lower> <count> triples"
            ),
            ArgError::TooManyRanges(n) => {
                write!(
                    f,
                    "{n} ranges given; the kernel accepts at most {MAX_EXTENTS}"
                )
            }
            ArgError::BadNumber(pos, s) => write!(
                f,
                "argument {pos} (\"{}\") is not a plain decimal number",
                shown(s)
            ),
            ArgError::Overflow(i, what) => write!(
                f,
                "range {i}: {what} overflows (ids must be below 4294967295 and id+count at most 4294967295)"
            ),
            ArgError::ZeroCount(i) => write!(f, "range {i} has a count of 0"),
            ArgError::Overlap(a, b, side) => {
                write!(f, "ranges {a} and {b} overlap in their {side} ids")
            }
            ArgError::TooLong(n) => write!(
                f,
                "the map is {n} bytes long; the kernel accepts at most {MAX_MAP_BYTES}"
            ),
        }
    }
}

impl std::error::Error for ArgError {}

/// One line of a uid_map/gid_map: `count` ids starting at `inner` inside the namespace map to
/// `count` ids starting at `outer` in the parent namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First id inside the new namespace.
    pub inner: u32,
    /// First id in the parent namespace (the host side).
    pub outer: u32,
    /// Number of ids, at least 1.
    pub count: u32,
}

impl Extent {
    /// The host-side ids as a half-open range.
    pub fn outer_range(&self) -> Range {
        Range::new(u64::from(self.outer), u64::from(self.count))
    }
    /// The inside ids as a half-open range.
    pub fn inner_range(&self) -> Range {
        Range::new(u64::from(self.inner), u64::from(self.count))
    }
}

impl fmt::Display for Extent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.inner_range();
        let o = self.outer_range();
        write!(f, "[{}-{}) -> [{}-{})", i.start, i.end, o.start, o.end)
    }
}

/// Parses the target argument (`<pid>` or `fd:<N>`), strictly.
pub fn parse_target(s: &str, pid_max: u32) -> Result<Target, ArgError> {
    let (is_fd, digits) = match s.strip_prefix("fd:") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let n = parse_decimal(digits).ok_or_else(|| ArgError::BadTarget(s.to_owned()))?;
    if is_fd {
        let fd = i32::try_from(n).map_err(|_| ArgError::BadTarget(s.to_owned()))?;
        return Ok(Target::Fd(fd));
    }
    if n == 0 {
        return Err(ArgError::BadTarget(s.to_owned()));
    }
    if n > u64::from(pid_max.min(PID_MAX_LIMIT)) {
        return Err(ArgError::PidRange(n));
    }
    let pid = i32::try_from(n).map_err(|_| ArgError::PidRange(n))?;
    Ok(Target::Pid(pid))
}

/// Parses the triples that follow the target and checks them on their own: canonical
/// numbers, no zero counts, no overflow, no overlap, not too many, not too long. Ranges are
/// numbered from 1 in errors; argument positions count the target as 1.
pub fn parse_extents(args: &[&str]) -> Result<Vec<Extent>, ArgError> {
    if args.is_empty() {
        return Err(ArgError::NoRanges);
    }
    if !args.len().is_multiple_of(3) {
        return Err(ArgError::NotTriples(args.len()));
    }
    let n = args.len() / 3;
    if n > MAX_EXTENTS {
        return Err(ArgError::TooManyRanges(n));
    }
    let mut out = Vec::with_capacity(n);
    for (idx, triple) in args.chunks_exact(3).enumerate() {
        let range_no = idx.saturating_add(1);
        let mut vals = [0u64; 3];
        for (j, s) in triple.iter().enumerate() {
            let pos = idx.saturating_mul(3).saturating_add(j).saturating_add(2);
            vals[j] = parse_decimal(s).ok_or_else(|| ArgError::BadNumber(pos, (*s).to_owned()))?;
        }
        let [inner, outer, count] = vals;
        if count == 0 {
            return Err(ArgError::ZeroCount(range_no));
        }
        for (v, what) in [
            (inner, "the inside id"),
            (outer, "the host id"),
            (count, "the count"),
        ] {
            if v > MAX_ID {
                return Err(ArgError::Overflow(range_no, what));
            }
        }
        // Both sums fit in u64 since each term is below 2^32.
        if inner.saturating_add(count) > MAX_ID.saturating_add(1) {
            return Err(ArgError::Overflow(range_no, "inside id + count"));
        }
        if outer.saturating_add(count) > MAX_ID.saturating_add(1) {
            return Err(ArgError::Overflow(range_no, "host id + count"));
        }
        let to32 = |v: u64| u32::try_from(v).map_err(|_| ArgError::Overflow(range_no, "a value"));
        out.push(Extent {
            inner: to32(inner)?,
            outer: to32(outer)?,
            count: to32(count)?,
        });
    }
    for (a, ea) in out.iter().enumerate() {
        for (b, eb) in out.iter().enumerate().skip(a.saturating_add(1)) {
            let (na, nb) = (a.saturating_add(1), b.saturating_add(1));
            if ea.inner_range().overlaps(&eb.inner_range()) {
                return Err(ArgError::Overlap(na, nb, "inside"));
            }
            if ea.outer_range().overlaps(&eb.outer_range()) {
                return Err(ArgError::Overlap(na, nb, "host"));
            }
        }
    }
    let len = render_map(&out).len();
    if len > MAX_MAP_BYTES {
        return Err(ArgError::TooLong(len));
    }
    Ok(out)
}

/// The map text the kernel expects: one `inner outer count\n` line per extent.
pub fn render_map(extents: &[Extent]) -> String {
    let mut s = String::new();
    for e in extents {
        s.push_str(&format!("{} {} {}\n", e.inner, e.outer, e.count));
    }
    s
}

/// Parses what the kernel shows in /proc/PID/uid_map (columns padded with spaces).
pub fn parse_kernel_map(text: &str) -> Option<Vec<Extent>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let [a, b, c] = f.as_slice() else { return None };
        let v = |s: &str| parse_decimal(s).and_then(|n| u32::try_from(n).ok());
        out.push(Extent {
            inner: v(a)?,
            outer: v(b)?,
            count: v(c)?,
        });
    }
    Some(out)
}

/// The identity asking for a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The caller's real uid.
    pub uid: u32,
    /// The id of this kind the caller may map to itself without a subid range: the real uid
    /// for uid maps, the real gid for gid maps.
    pub own_id: u32,
}

/// How a request was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// At least one extent was allowed through a subid range (not only the own id). For gid
    /// maps this decides whether setgroups must be set to "deny" (CVE-2018-7169).
    pub used_subids: bool,
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The extent that is not allowed.
    pub extent: Extent,
    /// Why.
    pub reason: DenyReason,
}

/// Why an extent is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// It includes host id 0 and the caller is not root mapping itself.
    HostRoot,
    /// It is not fully inside the caller's subid ranges (and is not the own-id exception).
    NotDelegated,
}

/// Decides whether `caller` may write `extents`. `allowed` are the caller's subid ranges, in
/// any order (adjacent and overlapping ranges are merged first).
///
/// An extent is allowed when it is exactly the caller's own id (`count == 1`), or when its
/// host ids lie entirely inside the caller's merged subid ranges and do not include host id 0.
pub fn authorize(caller: Caller, extents: &[Extent], allowed: &[Range]) -> Result<Grant, Denied> {
    let merged = subid::merge(allowed);
    let mut used_subids = false;
    for e in extents {
        if e.count == 1 && e.outer == caller.own_id {
            continue;
        }
        let r = e.outer_range();
        if r.start == 0 {
            return Err(Denied {
                extent: *e,
                reason: DenyReason::HostRoot,
            });
        }
        if !merged.iter().any(|m| m.contains(&r)) {
            return Err(Denied {
                extent: *e,
                reason: DenyReason::NotDelegated,
            });
        }
        used_subids = true;
    }
    Ok(Grant { used_subids })
}

/// Reads a yes/no key of /etc/login.defs (such as `GRANT_AUX_GROUP_SUBIDS`). Only an
/// exact, case-insensitive `yes` value turns it on.
pub fn login_defs_yes(text: &str, key: &str) -> bool {
    let mut on = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let mut it = line.split_ascii_whitespace();
        if it.next() == Some(key) {
            on = matches!(it.next(), Some(v) if v.eq_ignore_ascii_case("yes"))
                && it.next().is_none();
        }
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(args: &str) -> Result<Vec<Extent>, ArgError> {
        let v: Vec<&str> = args.split(' ').filter(|s| !s.is_empty()).collect();
        parse_extents(&v)
    }

    #[test]
    fn decimal_is_canonical_only() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("1005"), Some(1005));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01311740",
            "0x3ed",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "10x",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("42", 32768), Ok(Target::Pid(42)));
        assert_eq!(parse_target("fd:3", 32768), Ok(Target::Fd(3)));
        assert_eq!(parse_target("fd:0", 32768), Ok(Target::Fd(0)));
        assert_eq!(
            parse_target("99999999", 32768),
            Err(ArgError::PidRange(99_999_999))
        );
        assert_eq!(
            parse_target("4194305", u32::MAX),
            Err(ArgError::PidRange(4_194_305))
        );
        for bad in [
            "0",
            "-1",
            " 5",
            "+5",
            "abc",
            "",
            "fd:",
            "fd:-1",
            "fd:03",
            "fd:2147483648",
            "FD:3",
        ] {
            assert!(
                matches!(parse_target(bad, 32768), Err(ArgError::BadTarget(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extents_ok() {
        assert_eq!(
            ext("0 1005 1 1 365536 65536").unwrap(),
            vec![
                Extent {
                    inner: 0,
                    outer: 1005,
                    count: 1
                },
                Extent {
                    inner: 1,
                    outer: 365536,
                    count: 65536
                }
            ]
        );
        assert_eq!(ext("4294967294 1005 1").unwrap()[0].inner, 4_294_967_294);
    }

    #[test]
    fn extents_rejected() {
        assert_eq!(ext(""), Err(ArgError::NoRanges));
        assert_eq!(ext("0 1005"), Err(ArgError::NotTriples(2)));
        assert_eq!(ext("0 1005 1 1"), Err(ArgError::NotTriples(4)));
        assert_eq!(ext("0 1005 0"), Err(ArgError::ZeroCount(1)));
        assert_eq!(ext("0 1005 -1"), Err(ArgError::BadNumber(4, "-1".into())));
        assert_eq!(
            ext("0 0x3ed 1"),
            Err(ArgError::BadNumber(3, "0x3ed".into()))
        );
        assert_eq!(
            ext("0 01311740 1"),
            Err(ArgError::BadNumber(3, "01311740".into()))
        );
        assert_eq!(
            ext("0 365536 4294967295"),
            Err(ArgError::Overflow(1, "the count"))
        );
        assert_eq!(
            ext("4294967295 1 1"),
            Err(ArgError::Overflow(1, "the inside id"))
        );
        assert_eq!(
            ext("0 4294967295 1"),
            Err(ArgError::Overflow(1, "the host id"))
        );
        assert_eq!(
            ext("4294967000 365536 1000"),
            Err(ArgError::Overflow(1, "inside id + count"))
        );
        assert_eq!(
            ext("0 4294967000 1000"),
            Err(ArgError::Overflow(1, "host id + count"))
        );
        assert_eq!(
            ext("0 365536 18446744073709551616"),
            Err(ArgError::BadNumber(4, "18446744073709551616".into()))
        );
        assert_eq!(
            ext("0 365536 100 500 365586 100"),
            Err(ArgError::Overlap(1, 2, "host"))
        );
        assert_eq!(
            ext("0 365536 10 5 365636 10"),
            Err(ArgError::Overlap(1, 2, "inside"))
        );
        assert_eq!(
            ext("0 365536 10 0 365536 10"),
            Err(ArgError::Overlap(1, 2, "inside"))
        );
        let many: Vec<String> = (0..341u32)
            .flat_map(|i| [i.to_string(), (100_000 + i).to_string(), "1".into()])
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(parse_extents(&refs), Err(ArgError::TooManyRanges(341)));
        let long: Vec<String> = (0..324u32)
            .flat_map(|i| {
                [
                    (1_000_000 + i).to_string(),
                    (1_000_000 + i).to_string(),
                    "1".into(),
                ]
            })
            .collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        assert!(matches!(parse_extents(&refs), Err(ArgError::TooLong(n)) if n > 4095));
    }

    #[test]
    fn kernel_map_roundtrip() {
        let e = ext("0 1005 1 1 365536 65536").unwrap();
        let shown = "         0       1005          1\n         1     365536      65536\n";
        assert_eq!(parse_kernel_map(shown).unwrap(), e);
        assert_eq!(parse_kernel_map(&render_map(&e)).unwrap(), e);
    }

    #[test]
    fn authorization_rules() {
        let me = Caller {
            uid: 1005,
            own_id: 1005,
        };
        let mine = [Range::new(365_536, 65_536)];
        assert_eq!(
            authorize(me, &ext("0 1005 1").unwrap(), &mine),
            Ok(Grant { used_subids: false })
        );
        assert_eq!(
            authorize(me, &ext("1000 1005 1").unwrap(), &mine),
            Ok(Grant { used_subids: false })
        );
        assert_eq!(
            authorize(me, &ext("0 1005 1 1 365536 65536").unwrap(), &mine),
            Ok(Grant { used_subids: true })
        );
        let deny = |a: &str, r: &[Range]| authorize(me, &ext(a).unwrap(), r).unwrap_err().reason;
        assert_eq!(deny("0 1005 2", &mine), DenyReason::NotDelegated);
        assert_eq!(deny("0 431072 1", &mine), DenyReason::NotDelegated);
        assert_eq!(deny("0 365535 2", &mine), DenyReason::NotDelegated);
        assert_eq!(deny("0 365536 65537", &mine), DenyReason::NotDelegated);
        assert_eq!(deny("0 1006 1", &mine), DenyReason::NotDelegated);
        assert_eq!(deny("0 0 1", &mine), DenyReason::HostRoot);
        assert_eq!(
            deny("0 0 10", &[Range::new(0, 65_536)]),
            DenyReason::HostRoot
        );
        // Adjacent ranges chain; a one-id gap does not.
        let adj = [Range::new(520_100, 100), Range::new(520_000, 100)];
        assert!(authorize(me, &ext("0 520050 100").unwrap(), &adj).is_ok());
        let gap = [Range::new(530_000, 100), Range::new(530_101, 100)];
        assert_eq!(deny("0 530050 100", &gap), DenyReason::NotDelegated);
        // Root maps itself (own id 0), nothing else without ranges.
        let root = Caller { uid: 0, own_id: 0 };
        assert!(authorize(root, &ext("0 0 1").unwrap(), &[]).is_ok());
        assert!(authorize(root, &ext("0 100000 10").unwrap(), &[]).is_err());
    }

    #[test]
    fn login_defs() {
        assert!(login_defs_yes(
            "GRANT_AUX_GROUP_SUBIDS yes\n",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
        assert!(login_defs_yes(
            "  GRANT_AUX_GROUP_SUBIDS\tYES",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
        assert!(!login_defs_yes(
            "#GRANT_AUX_GROUP_SUBIDS yes\n",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
        assert!(!login_defs_yes(
            "GRANT_AUX_GROUP_SUBIDS no\n",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
        assert!(!login_defs_yes(
            "GRANT_AUX_GROUP_SUBIDS yes please\n",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
        assert!(!login_defs_yes(
            "GRANT_AUX_GROUP_SUBIDSX yes\n",
            "GRANT_AUX_GROUP_SUBIDS"
        ));
    }
}
