//! Fuzzes the policy of burrow-nic: /etc/burrow/usernet, the quota decision, nic tags and
//! interface names.
//!
//! Input: arbitrary bytes, read as UTF-8 (lossy) text. The first line describes the caller and
//! the request, `<uid> <user> <bridge> [<group>...]` (missing or bad fields get defaults); the
//! rest is the usernet file given to `Usernet::parse`. Checks:
//! - an accepted file: every entry has type `veth`, a count <= MAX_COUNT, a valid owner and
//!   bridge, line numbers strictly increasing and within the file, exactly the non-blank,
//!   non-comment lines, each line exactly the canonical fields (no sign, leading zero or junk
//!   accepted), no two entries with the same (owner, type, bridge); rendered back as
//!   `owner type bridge count` lines it parses to the same entries;
//! - `ports` lines: each exactly the canonical `owner ports LIST` (a LIST that renders back
//!   as written), at most one per owner, and together with the nic entries exactly the
//!   non-blank, non-comment lines;
//! - a refused file: the error names a non-blank, non-comment line of the file, and every line
//!   before it parses (it is the first bad line);
//! - `decide` matches an independent statement of the rule (own lines, then group lines, each
//!   in file order; the first slot below its count gets the nic), with usage derived from the
//!   input and with no usage at all; a grant is for the requested bridge, its slot survives the
//!   nic tag round trip, and with no slot over its count it has used < allowed; with no usage,
//!   every line that applies with a count > 0 and sets its slot's count grants (of two lines of
//!   one owner that expand to one bridge, the one naming it outright sets the count, else the
//!   first pattern);
//! - `allowances` matches the same rule, and from an empty host exactly `allowed()` nics can be
//!   created on each (type, bridge) before `decide` says the quota is reached;
//! - `NicTag::parse` accepts only the exact rendering of a tag (with an optional newline) and
//!   reads its rendering back to the same tag;
//! - `check_ifname` (every pattern) and `resolve_request` agree with an independent statement
//!   of the name rules; a resolved bridge is 1..=15 bytes of printable ASCII without `/`, `:`,
//!   `%` or whitespace, and not `.` or `..`.
#![no_main]

use burrow_usernet::{
    check_ifname, resolve_request, Allowance, Bridge, Caller, Denial, Entry, Grant, NicTag, Owner,
    Pattern, Slot, Usernet, MAX_COUNT, MAX_IFNAME, MAX_OWNER, PORTS, VETH,
};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Upper bound on `decide` calls spent creating nics until the quota is reached, per input.
const SIMULATION_BUDGET: u32 = 1024;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (head, text) = input.split_once('\n').unwrap_or((&input, ""));

    let fields: Vec<&str> = head.split_whitespace().collect();
    let uid = fields
        .first()
        .and_then(|f| f.parse::<u32>().ok())
        .unwrap_or(1002);
    let user = fields.get(1).copied().unwrap_or("alice");
    let request = fields.get(2).copied().unwrap_or("none");
    let groups: Vec<String> = fields.iter().skip(3).map(|g| (*g).to_owned()).collect();
    let who = Caller {
        user,
        uid,
        groups: &groups,
    };

    // Names and tags: every token and every line of the whole input.
    for token in input.split_whitespace() {
        check_names(token, uid);
    }
    for line in input.split('\n') {
        check_names(line, uid);
        check_tag(line);
        check_tag(&format!("{line}\n"));
    }
    check_tag(&input);
    check_pools_and_leases(text, uid);

    let Some(usernet) = check_parse(text) else {
        return;
    };

    // Usage per slot, derived from the input: mostly 0 to 3, around the small counts of real
    // files, so that full, free and over-quota slots all occur.
    let seed = fnv(head.as_bytes(), 0xcbf2_9ce4_8422_2325);
    let used = |s: &Slot| {
        let h = fnv(s.owner.as_bytes(), seed);
        let h = fnv(s.kind.as_bytes(), h);
        u32::try_from(fnv(s.bridge.as_bytes(), h) % 4).unwrap_or(0)
    };
    let none = |_: &Slot| 0u32;

    // The requested bridge, then every bridge an entry names for this caller (whether it
    // applies to the caller or not), each once.
    let mut bridges: Vec<String> = Vec::new();
    if let Ok(b) = resolve_request(request, uid) {
        bridges.push(b);
    }
    for e in &usernet.entries {
        if let Some(b) = expand(&e.bridge, uid) {
            if !bridges.contains(&b) {
                bridges.push(b);
            }
        }
    }
    for bridge in &bridges {
        check_decide(&usernet, &who, VETH, bridge, &used);
        check_decide(&usernet, &who, VETH, bridge, &none);
        check_decide(&usernet, &who, "macvlan", bridge, &none);
    }

    // With nothing in use, any line that applies with a count > 0 and sets its slot's count
    // (not overridden by a line of the same owner naming the bridge outright) must grant.
    for e in usernet.entries.iter().filter(|e| applies(e, &who)) {
        let Some(bridge) = expand(&e.bridge, uid) else {
            continue;
        };
        let got = usernet.decide(&who, &e.kind, &bridge, none);
        let sets_count = matching(&usernet, &who, &e.kind, &bridge)
            .iter()
            .any(|m| m.line == e.line);
        if e.count > 0 && sets_count {
            let g =
                got.unwrap_or_else(|d| panic!("line {} (count {}) denied: {d}", e.line, e.count));
            assert_eq!(g.slot.bridge, bridge);
        }
    }

    check_allowances(&usernet, &who);
});

/// `Usernet::parse` and its invariants; the parsed file when it was accepted.
fn check_parse(text: &str) -> Option<Usernet> {
    let lines: Vec<&str> = text.split('\n').collect();
    let meaningful = |l: &str| {
        let t = l.trim_matches([' ', '\t']);
        !t.is_empty() && !t.starts_with('#')
    };
    let usernet = match Usernet::parse(text) {
        Ok(u) => u,
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= lines.len(),
                "error line {} of {}: {e}",
                e.line,
                lines.len()
            );
            assert!(
                meaningful(lines[e.line - 1]),
                "error on a blank or comment line: {e}"
            );
            assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
            let before = lines[..e.line - 1].join("\n");
            if let Err(first) = Usernet::parse(&before) {
                panic!("error {e} reported after an earlier bad line: {first}");
            }
            return None;
        }
    };

    let mut last = 0usize;
    for (i, e) in usernet.entries.iter().enumerate() {
        assert_eq!(e.kind, VETH, "{e:?}");
        assert!(
            e.count <= MAX_COUNT,
            "count above MAX_COUNT accepted: {e:?}"
        );
        assert!(
            e.line > last && e.line <= lines.len(),
            "line {} after {last} of {}: {e:?}",
            e.line,
            lines.len()
        );
        last = e.line;
        check_owner(&e.owner);
        check_bridge(&e.bridge);
        let raw = lines[e.line - 1];
        assert!(
            !raw.starts_with([' ', '\t']),
            "indented line accepted: {raw:?}"
        );
        let mut f: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        if let Some(c) = f.iter().position(|f| f.starts_with('#')) {
            f.truncate(c);
        }
        let canonical = [
            e.owner.to_string(),
            e.kind.clone(),
            e.bridge.to_string(),
            e.count.to_string(),
        ];
        assert_eq!(f, canonical, "non-canonical line accepted: {raw:?}");
        for other in &usernet.entries[..i] {
            assert!(
                !(other.owner == e.owner && other.kind == e.kind && other.bridge == e.bridge),
                "duplicate slot accepted: {other:?} and {e:?}"
            );
        }
    }
    let expected: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| meaningful(l))
        .map(|(i, _)| i + 1)
        .collect();
    // Port grant lines: canonical `owner ports LIST`, one per owner, lines in order.
    let mut last = 0usize;
    for (i, p) in usernet.ports.iter().enumerate() {
        assert!(p.line > last && p.line <= lines.len(), "{p:?}");
        last = p.line;
        check_owner(&p.owner);
        let raw = lines[p.line - 1];
        let mut f: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        if let Some(c) = f.iter().position(|f| f.starts_with('#')) {
            f.truncate(c);
        }
        // A single port may be written as a range of one (`8000-8000`); the list prints it as
        // `8000`. Every other element must be written as it prints.
        let written: Vec<String> = f
            .iter()
            .enumerate()
            .map(|(k, w)| {
                if k != 2 {
                    return (*w).to_owned();
                }
                w.split(',')
                    .map(|e| match e.split_once('-') {
                        Some((a, b)) if a == b => a,
                        _ => e,
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let canonical = [p.owner.to_string(), PORTS.to_owned(), p.list.to_string()];
        assert_eq!(written, canonical, "non-canonical ports line accepted: {raw:?}");
        assert!(!p.list.ranges.is_empty());
        for r in &p.list.ranges {
            assert!(r.start >= 1 && r.start <= r.end, "{p:?}");
        }
        for other in &usernet.ports[..i] {
            assert_ne!(other.owner, p.owner, "two ports lines of one owner accepted");
        }
    }
    let mut got: Vec<usize> = usernet.entries.iter().map(|e| e.line).collect();
    got.extend(usernet.ports.iter().map(|p| p.line));
    got.sort_unstable();
    assert_eq!(got, expected, "lines lost or invented");

    let rendered: String = usernet
        .entries
        .iter()
        .map(|e| format!("{} {} {} {}\n", e.owner, e.kind, e.bridge, e.count))
        .collect();
    match Usernet::parse(&rendered) {
        Ok(again) => {
            let strip = |u: &Usernet| -> Vec<Entry> {
                u.entries
                    .iter()
                    .map(|e| Entry {
                        line: 0,
                        ..e.clone()
                    })
                    .collect()
            };
            assert_eq!(strip(&again), strip(&usernet), "rendered as {rendered:?}");
            let lines: Vec<usize> = again.entries.iter().map(|e| e.line).collect();
            assert_eq!(lines, (1..=again.entries.len()).collect::<Vec<_>>());
        }
        Err(e) => panic!("rendered entries refused: {e}; rendered as {rendered:?}"),
    }
    Some(usernet)
}

fn check_owner(o: &Owner) {
    let name = match o {
        Owner::User(n) | Owner::Group(n) => n,
    };
    assert!(
        !name.is_empty() && name.len() <= MAX_OWNER,
        "owner length {}: {o:?}",
        name.len()
    );
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b',' | b'@')),
        "invalid owner accepted: {o:?}"
    );
    assert!(
        !name.starts_with(['-', '#']),
        "invalid owner accepted: {o:?}"
    );
}

fn check_bridge(b: &Bridge) {
    match b {
        Bridge::None => {}
        Bridge::Name(n) => {
            assert!(valid_name(n), "invalid bridge accepted: {b:?}");
            assert_ne!(n, "none", "{b:?}");
        }
        Bridge::PerUser(p) => {
            assert_eq!(p.matches('%').count(), 1, "{b:?}");
            assert!(p.contains("%u"), "{b:?}");
            // Room for at least a one-digit uid.
            assert!(valid_name(&p.replacen("%u", "0", 1)), "{b:?}");
        }
    }
}

/// What an entry's bridge is for `uid`, stated independently of `Bridge::resolve` (which must
/// agree); `None` when a per-user bridge is too long for the uid.
fn expand(b: &Bridge, uid: u32) -> Option<String> {
    let want = match b {
        Bridge::None => Some("none".to_owned()),
        Bridge::Name(n) => Some(n.clone()),
        Bridge::PerUser(p) => {
            let n = p.replacen("%u", &uid.to_string(), 1);
            valid_name(&n).then_some(n)
        }
    };
    let got = b.resolve(uid);
    assert_eq!(
        got.as_ref().ok(),
        want.as_ref(),
        "{b:?} for uid {uid}: {got:?}"
    );
    if let Ok(n) = &got {
        check_resolved(n);
    }
    want
}

fn applies(e: &Entry, who: &Caller<'_>) -> bool {
    match &e.owner {
        Owner::User(u) => u == who.user || *u == who.uid.to_string(),
        Owner::Group(g) => who.groups.contains(g),
    }
}

/// The lines that apply to a request: the caller's own, then its groups', each in file order;
/// of several lines of one owner that expand to the same bridge (one slot), the first that
/// names the bridge outright, else the first (a pattern), in the place of the owner's first.
fn matching<'a>(u: &'a Usernet, who: &Caller<'_>, kind: &str, bridge: &str) -> Vec<&'a Entry> {
    let fits = |e: &&Entry| {
        applies(e, who) && e.kind == kind && expand(&e.bridge, who.uid).as_deref() == Some(bridge)
    };
    let own = u
        .entries
        .iter()
        .filter(|e| matches!(e.owner, Owner::User(_)))
        .filter(fits);
    let groups = u
        .entries
        .iter()
        .filter(|e| matches!(e.owner, Owner::Group(_)))
        .filter(fits);
    let all: Vec<&'a Entry> = own.chain(groups).collect();
    let pattern = |e: &Entry| matches!(e.bridge, Bridge::PerUser(_));
    let mut out: Vec<&'a Entry> = Vec::new();
    for e in &all {
        if out.iter().any(|o| o.owner == e.owner) {
            continue;
        }
        let of_owner = || all.iter().filter(|o| o.owner == e.owner);
        let named = of_owner().find(|o| !pattern(o));
        out.push(named.or_else(|| of_owner().next()).copied().unwrap_or(e));
    }
    out
}

/// Whether `bridge` is the caller's per-user bridge: some `%u` line that applies to the
/// caller for `kind` expands to it (whether or not that line sets the count).
fn per_user(u: &Usernet, who: &Caller<'_>, kind: &str, bridge: &str) -> bool {
    u.entries.iter().any(|e| {
        applies(e, who)
            && e.kind == kind
            && matches!(e.bridge, Bridge::PerUser(_))
            && expand(&e.bridge, who.uid).as_deref() == Some(bridge)
    })
}

fn slot_of(e: &Entry, kind: &str, bridge: &str) -> Slot {
    Slot {
        owner: e.owner.to_string(),
        kind: kind.to_owned(),
        bridge: bridge.to_owned(),
    }
}

/// `decide` against an independent statement of the rule.
fn check_decide(
    u: &Usernet,
    who: &Caller<'_>,
    kind: &str,
    bridge: &str,
    used: &dyn Fn(&Slot) -> u32,
) {
    let lines = matching(u, who, kind, bridge);
    let got = u.decide(who, kind, bridge, used);
    match &got {
        Ok(g) => check_grant(g, who, kind, bridge),
        Err(d) => assert!(!d.to_string().is_empty()),
    }
    if lines.is_empty() {
        let want = Denial::NoEntry {
            user: who.user.to_owned(),
            kind: kind.to_owned(),
            bridge: bridge.to_owned(),
        };
        assert_eq!(
            got,
            Err(want),
            "no line applies to {who:?} for {kind} {bridge}"
        );
        return;
    }
    let allowed = lines.iter().fold(0u32, |a, e| a.saturating_add(e.count));
    let in_use = lines.iter().fold(0u32, |a, e| {
        a.saturating_add(used(&slot_of(e, kind, bridge)))
    });
    let first = lines
        .iter()
        .find(|e| used(&slot_of(e, kind, bridge)) < e.count);
    let want = match first {
        Some(e) => Ok(Grant {
            slot: slot_of(e, kind, bridge),
            line: e.line,
            allowed,
            used: in_use,
            per_user: per_user(u, who, kind, bridge),
        }),
        None => Err(Denial::QuotaReached {
            user: who.user.to_owned(),
            kind: kind.to_owned(),
            bridge: bridge.to_owned(),
            used: in_use,
            allowed,
        }),
    };
    assert_eq!(got, want, "{who:?} for {kind} {bridge}");

    // A slot can be over its count (the admin lowered it): then the totals may say
    // used >= allowed even for a grant. Otherwise a grant always leaves room.
    let over = lines
        .iter()
        .any(|e| used(&slot_of(e, kind, bridge)) > e.count);
    if let (Ok(g), false) = (&got, over) {
        assert!(
            g.used < g.allowed,
            "grant with {} of {} used",
            g.used,
            g.allowed
        );
    }
}

fn check_grant(g: &Grant, who: &Caller<'_>, kind: &str, bridge: &str) {
    assert_eq!(g.slot.bridge, bridge, "{g:?}");
    assert_eq!(g.slot.kind, kind, "{g:?}");
    // The tag burrow-nic puts on the nic (with or without addresses) must count it against
    // this slot again.
    let h = fnv(g.slot.owner.as_bytes(), u64::from(who.uid));
    let v4 = Ipv4Addr::from(u32::try_from(h >> 32).unwrap_or(0));
    let v6 = Ipv6Addr::from(u128::from(h) << 64 | u128::from(h.rotate_left(17)));
    for (v4, v6) in [
        (None, None),
        (Some(v4), None),
        (None, Some(v6)),
        (Some(v4), Some(v6)),
    ] {
        let tag = NicTag {
            uid: who.uid,
            slot: g.slot.clone(),
            v4,
            v6,
        };
        let text = tag.render();
        assert_eq!(
            NicTag::parse(&text),
            Some(tag),
            "grant's tag {text:?} does not parse back"
        );
    }
}

/// `allowances` against the same rule, and the quota each one reports is what `decide` grants.
fn check_allowances(u: &Usernet, who: &Caller<'_>) {
    let got = u.allowances(who);
    let mut want: Vec<Result<Allowance, usize>> = Vec::new();
    for e in u.entries.iter().filter(|e| applies(e, who)) {
        let Some(bridge) = expand(&e.bridge, who.uid) else {
            want.push(Err(e.line));
            continue;
        };
        let seen = want
            .iter()
            .any(|a| matches!(a, Ok(a) if a.kind == e.kind && a.bridge == bridge));
        if seen {
            continue;
        }
        let slots = matching(u, who, &e.kind, &bridge)
            .iter()
            .map(|m| (slot_of(m, &e.kind, &bridge), m.count))
            .collect();
        want.push(Ok(Allowance {
            kind: e.kind.clone(),
            bridge,
            slots,
        }));
    }
    let got_lines: Vec<Result<Allowance, usize>> = got
        .iter()
        .map(|a| {
            a.clone().map_err(|(line, err)| {
                assert!(!err.to_string().is_empty());
                line
            })
        })
        .collect();
    assert_eq!(got_lines, want, "allowances for {who:?}");

    // Create nics on an empty host until the quota is reached.
    let mut budget = SIMULATION_BUDGET;
    for a in got.iter().filter_map(|a| a.as_ref().ok()) {
        let allowed = a.allowed();
        if allowed >= budget {
            continue;
        }
        let mut held: HashMap<Slot, u32> = HashMap::new();
        let mut made = 0u32;
        loop {
            budget -= 1;
            let usage = |s: &Slot| held.get(s).copied().unwrap_or(0);
            match u.decide(who, &a.kind, &a.bridge, usage) {
                Ok(g) => {
                    made += 1;
                    assert!(
                        made <= allowed,
                        "{made} {} nics granted on {}, {allowed} allowed: {a:?}",
                        a.kind,
                        a.bridge
                    );
                    *held.entry(g.slot).or_insert(0) += 1;
                }
                Err(d) => {
                    assert!(matches!(d, Denial::QuotaReached { .. }), "{d:?} for {a:?}");
                    break;
                }
            }
        }
        assert_eq!(
            made, allowed,
            "check reports {allowed} {} nics allowed on {}, but only {made} can be created: {a:?}",
            a.kind, a.bridge
        );
    }
}

fn check_tag(s: &str) {
    let Some(t) = NicTag::parse(s) else {
        return;
    };
    let text = t.render();
    assert!(!text.contains('\n'), "{text:?}");
    // Exactly the rendering, except that an IPv6 address may be written in any of its forms.
    let given: Vec<&str> = s.strip_suffix('\n').unwrap_or(s).split(' ').collect();
    let canonical: Vec<&str> = text.split(' ').collect();
    assert_eq!(given.len(), canonical.len(), "{s:?} read as {t:?}");
    for (i, (a, b)) in given.iter().zip(&canonical).enumerate() {
        if i == 6 && *b != "-" {
            assert_eq!(a.parse::<Ipv6Addr>().ok(), t.v6, "{s:?}");
        } else {
            assert_eq!(a, b, "non-canonical tag accepted: {s:?}");
        }
    }
    assert_eq!(t.slot.kind, VETH, "{t:?}");
    assert!(
        t.slot.bridge == "none" || valid_name(&t.slot.bridge),
        "{t:?}"
    );
    let name = t.slot.owner.strip_prefix('@').unwrap_or(&t.slot.owner);
    check_owner(&Owner::User(name.to_owned()));
    assert_eq!(NicTag::parse(&text).as_ref(), Some(&t));
    assert_eq!(NicTag::parse(&format!("{text}\n")).as_ref(), Some(&t));
}

/// `check_ifname` with each pattern and `resolve_request`, against the rules stated here.
fn check_names(s: &str, uid: u32) {
    let chars_ok = |n: &str| {
        n.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    };
    let one = |n: &str, tok: &str| n.matches('%').count() == 1 && n.contains(tok);

    let plain = check_ifname(s, Pattern::Plain);
    assert_eq!(plain.is_ok(), valid_name(s), "Plain {s:?}: {plain:?}");
    if plain.is_ok() {
        check_resolved(s);
    }

    let number = check_ifname(s, Pattern::Number);
    let want = if s.contains('%') {
        one(s, "%d") && valid_name(&s.replacen("%d", "00", 1))
    } else {
        valid_name(s)
    };
    assert_eq!(number.is_ok(), want, "Number {s:?}: {number:?}");
    if number.is_ok() {
        assert!(
            !s.is_empty() && s.len() <= MAX_IFNAME && chars_ok(s),
            "{s:?}"
        );
    }

    // A `%u` pattern has no length limit as written (it is checked once expanded).
    let pattern = check_ifname(s, Pattern::Uid);
    let want =
        !s.is_empty() && chars_ok(s) && s != "." && s != ".." && (!s.contains('%') || one(s, "%u"));
    assert_eq!(pattern.is_ok(), want, "Uid {s:?}: {pattern:?}");

    let got = resolve_request(s, uid);
    let want = if s == "none" {
        Some("none".to_owned())
    } else if s.contains('%') {
        let n = s.replacen("%u", &uid.to_string(), 1);
        (one(s, "%u") && chars_ok(s) && valid_name(&n)).then_some(n)
    } else {
        valid_name(s).then(|| s.to_owned())
    };
    assert_eq!(
        got.as_ref().ok(),
        want.as_ref(),
        "request {s:?} for uid {uid}: {got:?}"
    );
    if let Ok(n) = &got {
        check_resolved(n);
    }
}

/// A concrete interface name as the kernel gets it.
fn check_resolved(n: &str) {
    assert!(
        (1..=MAX_IFNAME).contains(&n.len()),
        "{} bytes: {n:?}",
        n.len()
    );
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'%')),
        "bad character in {n:?}"
    );
    assert!(n != "." && n != "..", "{n:?}");
}

/// 1 to 15 bytes of printable ASCII without `/`, `:`, `%` or whitespace, not `.` or `..`.
fn valid_name(n: &str) -> bool {
    (1..=MAX_IFNAME).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'%'))
        && n != "."
        && n != ".."
}

fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// /etc/burrow/nic.conf and the lease file: an accepted pool gives addresses inside itself,
/// gateway and host numbers map back, and the lease file round-trips and never gives a number
/// that is live.
fn check_pools_and_leases(text: &str, seed: u32) {
    use burrow_usernet::pool::{Leases, Pools};
    if let Ok(p) = Pools::parse(text) {
        for pool in [p.v4, p.v6].into_iter().flatten() {
            assert!(pool.sub >= pool.len);
            let n = seed % pool.subnets().max(1);
            let gw = pool.address(n, 1).expect("gateway of an existing subnet");
            assert_eq!(gw.is_ipv4(), pool.net.is_ipv4());
            assert_eq!(pool.host_of(n, gw), None, "the gateway is not a host number");
            let last = pool.last_host();
            if last >= 2 {
                let h = 2 + seed % (last - 1);
                let a = pool.address(n, h).expect("host address");
                assert_eq!(pool.host_of(n, a), Some(h), "{pool} subnet {n} host {h}");
            }
            assert!(pool.address(pool.subnets(), 1).is_none(), "past the last subnet");
        }
    }
    let (l, _) = Leases::parse(text);
    let again = Leases::parse(&l.render());
    assert_eq!(again, (l.clone(), 0), "leases round-trip");
    let mut m = l;
    let live: Vec<u32> = (2..6).filter(|h| seed & (1 << h) != 0).collect();
    if let Some(h) = m.host_for("burrow1", "c/eth0", &live, 254) {
        assert!((2..=254).contains(&h) && !live.contains(&h), "{h} {live:?}");
        let (back, skipped) = Leases::parse(&m.render());
        assert_eq!(skipped, 0);
        assert_eq!(back, m);
    }
}
