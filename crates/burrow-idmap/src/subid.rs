//! `/etc/subuid` and `/etc/subgid`: `owner:start:count` lines, where the owner is a login name
//! or a numeric uid (in both files: subgid is keyed by user, as in shadow).
//!
//! Stricter than shadow: exactly three fields, canonical decimal numbers, `count >= 1`,
//! `start + count <= 2^32 - 1`, and no line may cover host id 0. A line that breaks a rule is
//! kept in [`SubidFile::rejected`] with the reason and never matched (fail closed). Comments
//! (`#`) and blank lines are skipped; a last line without a newline is accepted.

use crate::{parse_decimal, MAX_ID};
use std::fmt;

/// A half-open id range `[start, end)` in u64 so that no sum can wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First id.
    pub start: u64,
    /// One past the last id.
    pub end: u64,
}

impl Range {
    /// `[start, start + count)`, saturating (inputs are u32-sized in practice).
    pub fn new(start: u64, count: u64) -> Range {
        Range {
            start,
            end: start.saturating_add(count),
        }
    }
    /// Number of ids.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    /// True when the range holds no id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Does `self` include all of `other`?
    pub fn contains(&self, other: &Range) -> bool {
        self.start <= other.start && other.end <= self.end
    }
    /// Do the two ranges share an id?
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Sorts and merges overlapping or adjacent ranges.
pub fn merge(ranges: &[Range]) -> Vec<Range> {
    let mut v: Vec<Range> = ranges.iter().copied().filter(|r| !r.is_empty()).collect();
    v.sort();
    let mut out: Vec<Range> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// One valid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubidEntry {
    /// 1-based line number.
    pub line: usize,
    /// Login name or numeric uid, as written.
    pub owner: String,
    /// The ids granted.
    pub range: Range,
}

/// Why a line was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// Not exactly three `:`-separated fields.
    FieldCount,
    /// Empty owner, or an owner with whitespace or control characters.
    BadOwner,
    /// start or count is not a canonical decimal number.
    BadNumber,
    /// count is 0 (shadow <= 4.19 read this as "every id").
    ZeroCount,
    /// start + count runs past 4294967295.
    Overflow,
    /// The range includes host id 0.
    HostRoot,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineProblem::FieldCount => "not of the form owner:start:count",
            LineProblem::BadOwner => "bad owner field",
            LineProblem::BadNumber => "start or count is not a plain decimal number",
            LineProblem::ZeroCount => "count is 0",
            LineProblem::Overflow => "start + count is past 4294967295",
            LineProblem::HostRoot => "the range includes id 0",
        })
    }
}

/// A rejected line: its number, its owner field (possibly garbage) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number.
    pub line: usize,
    /// The first field as written.
    pub owner: String,
    /// Why it was rejected.
    pub problem: LineProblem,
}

/// A parsed subid file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubidFile {
    /// Lines that passed every rule.
    pub entries: Vec<SubidEntry>,
    /// Lines that did not (never matched).
    pub rejected: Vec<Rejected>,
}

fn parse_line(line: &str) -> Result<(String, Range), (String, LineProblem)> {
    let fields: Vec<&str> = line.split(':').collect();
    let owner = fields.first().copied().unwrap_or("").to_owned();
    let [o, s, c] = fields.as_slice() else {
        return Err((owner, LineProblem::FieldCount));
    };
    if o.is_empty() || o.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err((owner, LineProblem::BadOwner));
    }
    let (Some(start), Some(count)) = (parse_decimal(s), parse_decimal(c)) else {
        return Err((owner, LineProblem::BadNumber));
    };
    if count == 0 {
        return Err((owner, LineProblem::ZeroCount));
    }
    match start.checked_add(count) {
        Some(end) if end <= MAX_ID.saturating_add(1) => {}
        _ => return Err((owner, LineProblem::Overflow)),
    }
    if start == 0 {
        return Err((owner, LineProblem::HostRoot));
    }
    Ok((owner, Range::new(start, count)))
}

impl SubidFile {
    /// Parses the whole text. Never fails: bad lines land in `rejected`.
    pub fn parse(text: &str) -> SubidFile {
        let mut f = SubidFile::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i.saturating_add(1);
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            match parse_line(raw) {
                Ok((owner, range)) => f.entries.push(SubidEntry { line, owner, range }),
                Err((owner, problem)) => f.rejected.push(Rejected {
                    line,
                    owner,
                    problem,
                }),
            }
        }
        f
    }

    /// The ranges whose owner `is_owner` accepts, merged.
    pub fn ranges_for(&self, is_owner: impl Fn(&str) -> bool) -> Vec<Range> {
        let mine: Vec<Range> = self
            .entries
            .iter()
            .filter(|e| is_owner(&e.owner))
            .map(|e| e.range)
            .collect();
        merge(&mine)
    }

    /// Rejected lines that name this owner (for telling the user why a range is missing).
    pub fn rejected_for<'a>(
        &'a self,
        is_owner: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Rejected> {
        self.rejected.iter().filter(move |r| is_owner(&r.owner))
    }
}

/// The owner test used everywhere: the field equals the login name, or is the uid in canonical
/// decimal, or is another name (`aliases`) that resolves to the same uid.
pub fn owner_matches(field: &str, name: &str, uid: u32, aliases: &[String]) -> bool {
    field == name
        || parse_decimal(field) == Some(u64::from(uid))
        || aliases.iter().any(|a| a == field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_good_and_bad_lines() {
        let text = "nmapa:365536:65536\n# comment\n\n1005:500000:1000\nnmapa:0:0\nnmapa:1:18446744073709551615\n nmapa:1:10\nnmapa:570000:10 \nnmapa: 570000:10\nnmapa:0x7a120:10\nnmapa:01000000:10\nnmapa:1:2:3\nnmapa:0:65536\nnmapa:4294967000:296\nnmapa:4294967000:295\nlast:600000:5";
        let f = SubidFile::parse(text);
        let lines: Vec<usize> = f.entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 4, 15, 16]);
        let probs: Vec<(usize, LineProblem)> =
            f.rejected.iter().map(|r| (r.line, r.problem)).collect();
        assert_eq!(
            probs,
            vec![
                (5, LineProblem::ZeroCount),
                (6, LineProblem::Overflow),
                (7, LineProblem::BadOwner),
                (8, LineProblem::BadNumber),
                (9, LineProblem::BadNumber),
                (10, LineProblem::BadNumber),
                (11, LineProblem::BadNumber),
                (12, LineProblem::FieldCount),
                (13, LineProblem::HostRoot),
                (14, LineProblem::Overflow),
            ]
        );
        assert_eq!(f.entries[3].range, Range::new(600_000, 5));
    }

    #[test]
    fn owner_rules() {
        let f = SubidFile::parse(
            "nmapa:100:10\n1005:200:10\nalias:300:10\nNMAPA:400:10\nnmapb:500:10\n",
        );
        let aliases = vec!["alias".to_string()];
        let r = f.ranges_for(|o| owner_matches(o, "nmapa", 1005, &aliases));
        assert_eq!(
            r,
            vec![
                Range::new(100, 10),
                Range::new(200, 10),
                Range::new(300, 10)
            ]
        );
        assert!(!owner_matches("01005", "nmapa", 1005, &[]));
    }

    #[test]
    fn merging() {
        let m = merge(&[
            Range::new(20, 5),
            Range::new(10, 10),
            Range::new(26, 1),
            Range::new(12, 1),
        ]);
        assert_eq!(
            m,
            vec![Range { start: 10, end: 25 }, Range { start: 26, end: 27 }]
        );
    }
}
