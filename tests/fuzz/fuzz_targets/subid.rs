//! Fuzzes `/etc/subuid` parsing and range merging.
//!
//! Input: arbitrary bytes, read as UTF-8 (lossy) text and given to `SubidFile::parse`.
//! Checks:
//! - every accepted entry has `count >= 1`, `start >= 1`, `end <= 4294967295`, a non-empty
//!   owner without whitespace or control characters, and its line is exactly the canonical
//!   `owner:start:count` (so no hex, octal, sign, padding or `\r` was accepted);
//! - every non-empty, non-comment line is either accepted or rejected, exactly once;
//! - `merge()` of the entries (and of arbitrary u64 ranges built from the raw bytes) is sorted,
//!   non-overlapping, non-adjacent, has no empty range, and covers exactly the union of its
//!   input, checked against an independent sweep-line union.
#![no_main]

use burrow_idmap::subid::{merge, SubidFile};
use burrow_idmap::Range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = SubidFile::parse(&text);
    let lines: Vec<&str> = text.split('\n').collect();

    for e in &file.entries {
        let r = e.range;
        assert!(r.len() >= 1, "empty range accepted: {e:?}");
        assert!(r.start >= 1, "range with host id 0 accepted: {e:?}");
        assert!(
            r.end <= 4_294_967_295,
            "range past 4294967294 accepted: {e:?}"
        );
        assert!(!e.owner.is_empty(), "empty owner accepted: {e:?}");
        assert!(
            !e.owner.chars().any(|c| c.is_whitespace() || c.is_control()),
            "owner with whitespace/control accepted: {e:?}"
        );
        let raw = lines[e.line - 1];
        let canonical = format!("{}:{}:{}", e.owner, r.start, r.len());
        assert_eq!(raw, canonical, "non-canonical line accepted: {e:?}");
    }

    // Each meaningful line lands in exactly one of the two lists, in order.
    let meaningful: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, _)| i + 1)
        .collect();
    let mut seen: Vec<usize> = file
        .entries
        .iter()
        .map(|e| e.line)
        .chain(file.rejected.iter().map(|r| r.line))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, meaningful, "lines lost or counted twice");

    let ranges: Vec<Range> = file.entries.iter().map(|e| e.range).collect();
    check_merge(&ranges);

    // The same bytes as raw (start, count) pairs: merge() must also hold for ranges the parser
    // would never produce (empty, huge, saturating at u64::MAX).
    let raw: Vec<Range> = data
        .chunks_exact(16)
        .map(|c| {
            let (a, b) = c.split_at(8);
            let start = u64::from_le_bytes(a.try_into().unwrap());
            let count = u64::from_le_bytes(b.try_into().unwrap());
            Range::new(start, count)
        })
        .collect();
    check_merge(&raw);
});

fn check_merge(input: &[Range]) {
    let merged = merge(input);
    for m in &merged {
        assert!(m.start < m.end, "empty range in merge output: {merged:?}");
    }
    for w in merged.windows(2) {
        // Sorted, disjoint and not adjacent: a gap of at least one id between neighbours.
        assert!(
            w[0].end < w[1].start,
            "merge output not sorted/disjoint/non-adjacent: {w:?}"
        );
    }
    assert_eq!(
        merged,
        union(input),
        "merge output is not the union of {input:?}"
    );
    for r in input.iter().filter(|r| !r.is_empty()) {
        assert!(
            merged.iter().any(|m| m.contains(r)),
            "{r:?} not covered by {merged:?}"
        );
    }
}

/// The union of half-open ranges by a sweep over +1/-1 events (independent of `merge`):
/// maximal runs where the coverage count is positive, adjacent runs joined.
fn union(input: &[Range]) -> Vec<Range> {
    let mut events: Vec<(u64, i64)> = Vec::with_capacity(input.len() * 2);
    for r in input.iter().filter(|r| r.start < r.end) {
        events.push((r.start, 1));
        events.push((r.end, -1));
    }
    events.sort_unstable();
    let mut out: Vec<Range> = Vec::new();
    let mut depth: i64 = 0;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        let before = depth;
        while i < events.len() && events[i].0 == at {
            depth += events[i].1;
            i += 1;
        }
        if before == 0 && depth > 0 {
            out.push(Range { start: at, end: at });
        } else if before > 0 && depth == 0 {
            if let Some(last) = out.last_mut() {
                last.end = at;
            }
        }
    }
    assert_eq!(depth, 0);
    out
}
