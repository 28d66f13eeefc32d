//! Bridge names in /etc/burrow/usernet that can collide with per-user bridges (for `burrow
//! admin check`).
//!
//! A per-user bridge (`burrow%u`) is one user's L2 segment. burrow-nic refuses to attach
//! anyone else to it (its tag names the uid), but the file itself can say two contradictory
//! things, and the admin should hear about them before a user does:
//! - a plain line naming a bridge that is also some uid's per-user bridge (`burrow1040` next to
//!   `burrow%u`): whoever creates it first owns it;
//! - two patterns that expand to the same name for different uids (`x%u1` for uid 12 and
//!   `x1%u` for uid 21 are both `x121`; `br%u` for uid 10 and `br1%u` for uid 0 are both
//!   `br10`).
//!
//! Every reported collision comes with a concrete example, checked by expanding both sides.

use crate::{expand_uid, Bridge, Usernet};
use std::fmt;

/// Two lines whose bridges can be the same link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The earlier line.
    pub line: usize,
    /// The later line.
    pub other: usize,
    /// The bridge name both can mean.
    pub bridge: String,
    /// The uid for which `line` means it (None for a plain name).
    pub uid: Option<u32>,
    /// The uid for which `other` means it (None for a plain name).
    pub other_uid: Option<u32>,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |line: usize, uid: Option<u32>| match uid {
            Some(u) => format!("line {line} (for uid {u})"),
            None => format!("line {line}"),
        };
        write!(
            f,
            "{} and {} both name bridge {}: a per-user bridge must be one user's alone",
            side(self.line, self.uid),
            side(self.other, self.other_uid),
            self.bridge
        )
    }
}

/// The prefix and suffix around `%u`.
fn parts(pattern: &str) -> Option<(&str, &str)> {
    pattern.split_once("%u")
}

/// Plain decimal (no sign, no leading zero) that fits a uid.
fn uid_of(digits: &str) -> Option<u32> {
    let canonical = digits == "0"
        || (!digits.is_empty()
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// The uid for which `pattern` expands to `name`, if any.
fn uid_for(pattern: &str, name: &str) -> Option<u32> {
    let (a, b) = parts(pattern)?;
    let uid = uid_of(name.strip_prefix(a)?.strip_suffix(b)?)?;
    (expand_uid(pattern, uid).ok()? == name).then_some(uid)
}

/// A name both patterns give, for two different uids, if there is one. Derivation: with
/// `p = a1 %u b1`, `q = a2 %u b2` and `a1` no longer than `a2`, `a2` must be `a1` followed by
/// digits `r`; then either `b1 = e b2` (digits `e`) and `x e = r y`, or `b2 = e b1` and
/// `x = r y e`, for the uids' digits `x` (of p) and `y` (of q). Small candidates for `y` built
/// from `e` cover every case; each is checked by expanding both patterns.
fn pattern_pair(p: &str, q: &str) -> Option<(String, u32, u32)> {
    let (a1, a2) = (parts(p)?.0, parts(q)?.0);
    let (short, long, swapped) = if a1.len() <= a2.len() {
        (p, q, false)
    } else {
        (q, p, true)
    };
    let (sa, sb) = parts(short)?;
    let (la, lb) = parts(long)?;
    let r = la.strip_prefix(sa)?;
    if !r.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let e = if sb.len() >= lb.len() {
        sb.strip_suffix(lb)?
    } else {
        lb.strip_suffix(sb)?
    };
    if !e.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut candidates: Vec<String> = (1..=9).map(|d| format!("{d}{e}")).collect();
    candidates.extend((0..=99).map(|d| d.to_string()));
    for y in candidates {
        let Some(uy) = uid_of(&y) else { continue };
        let Ok(name) = expand_uid(long, uy) else {
            continue;
        };
        if let Some(ux) = uid_for(short, &name) {
            if ux != uy {
                return Some(if swapped {
                    (name, uy, ux)
                } else {
                    (name, ux, uy)
                });
            }
        }
    }
    None
}

impl Usernet {
    /// Pairs of lines whose bridges can collide with a per-user bridge, in file order.
    pub fn collisions(&self) -> Vec<Collision> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            for f in self.entries.iter().skip(i.saturating_add(1)) {
                let found = match (&e.bridge, &f.bridge) {
                    (Bridge::PerUser(p), Bridge::PerUser(q)) if p != q => {
                        pattern_pair(p, q).map(|(name, ux, uy)| (name, Some(ux), Some(uy)))
                    }
                    (Bridge::PerUser(p), Bridge::Name(n)) => {
                        uid_for(p, n).map(|u| (n.clone(), Some(u), None))
                    }
                    (Bridge::Name(n), Bridge::PerUser(p)) => {
                        uid_for(p, n).map(|u| (n.clone(), None, Some(u)))
                    }
                    _ => None,
                };
                if let Some((bridge, uid, other_uid)) = found {
                    let c = Collision {
                        line: e.line,
                        other: f.line,
                        bridge,
                        uid,
                        other_uid,
                    };
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        Usernet::parse(text)
            .unwrap()
            .collisions()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_plain_name_that_is_some_uids_per_user_bridge() {
        assert_eq!(
            found("@all veth burrow%u 2\nadmin veth burrow1040 4\n"),
            ["line 1 (for uid 1040) and line 2 both name bridge burrow1040: a per-user bridge must be one user's alone"]
        );
        // Not a canonical uid, or not that shape: no collision.
        assert_eq!(
            found("@all veth burrow%u 2\nadmin veth burrow01 4\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("@all veth burrow%u 2\nadmin veth burrowx 4\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("@all veth br%u 2\nadmin veth br0 4\nb veth none 1\n").len(),
            1
        );
    }

    #[test]
    fn two_patterns_that_meet() {
        assert_eq!(
            found("a veth x%u1 1\nb veth x1%u 1\n"),
            ["line 1 (for uid 12) and line 2 (for uid 21) both name bridge x121: a per-user bridge must be one user's alone"]
        );
        let two = found("a veth br%u 1\nb veth br1%u 1\n");
        assert_eq!(two.len(), 1, "{two:?}");
        // Different literal parts never meet; the same pattern twice is one uid's.
        assert_eq!(
            found("a veth br%u 1\nb veth lab%u 1\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("a veth br%u 1\nb veth br%ux 1\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("a veth br%u 1\n@g veth br%u 1\n"),
            Vec::<String>::new()
        );
        // A leading zero cannot start a uid.
        assert_eq!(
            found("a veth br%u 1\nb veth br0%u 1\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_reported_example_is_real() {
        let pats = [
            "b%u", "b1%u", "b%u1", "b12%u", "b%u12", "b1%u2", "c%u", "b0%u", "%u", "1%u",
        ];
        for p in pats {
            for q in pats {
                if p == q {
                    continue;
                }
                if let Some((name, x, y)) = pattern_pair(p, q) {
                    assert_ne!(x, y);
                    assert_eq!(expand_uid(p, x).unwrap(), name, "{p} {q}");
                    assert_eq!(expand_uid(q, y).unwrap(), name, "{p} {q}");
                }
            }
        }
        assert!(pattern_pair("b%u", "b1%u").is_some());
        assert!(pattern_pair("b%u", "c%u").is_none());
    }
}
