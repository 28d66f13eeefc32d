//! Unit tests: every parse error, and the quota cases of docs/cases/burrow-nic.md
//! that are pure logic.
use super::*;
use std::collections::HashMap;

fn perr(text: &str) -> String {
    Usernet::parse(text).unwrap_err().to_string()
}

fn groups(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| (*s).to_owned()).collect()
}

fn usage(pairs: &[(&str, &str, u32)]) -> impl Fn(&Slot) -> u32 {
    let m: HashMap<(String, String), u32> = pairs
        .iter()
        .map(|(o, b, n)| (((*o).to_owned(), (*b).to_owned()), *n))
        .collect();
    move |s: &Slot| {
        m.get(&(s.owner.clone(), s.bridge.clone()))
            .copied()
            .unwrap_or(0)
    }
}

#[test]
fn parses_the_documented_example() {
    let u = Usernet::parse(
        "# USER|@GROUP TYPE BRIDGE COUNT\n\nalice\tveth  lxcbr0 4\n@netusers veth br-lab 10 # lab\nbob veth none 1\n@netusers veth burrow%u 2\n1005 veth br0 0",
    )
    .unwrap();
    assert_eq!(u.entries.len(), 5);
    assert_eq!(
        u.entries[0],
        Entry {
            line: 3,
            owner: Owner::User("alice".into()),
            kind: "veth".into(),
            bridge: Bridge::Name("lxcbr0".into()),
            count: 4
        }
    );
    assert_eq!(u.entries[1].owner, Owner::Group("netusers".into()));
    assert_eq!(u.entries[2].bridge, Bridge::None);
    assert_eq!(u.entries[3].bridge, Bridge::PerUser("burrow%u".into()));
    assert_eq!(u.entries[4].line, 7);
    assert_eq!(u.entries[4].count, 0);
    assert_eq!(Usernet::parse("").unwrap(), Usernet::default());
    assert_eq!(
        Usernet::parse("\n\n# x\n   \n\t# indented comment\n")
            .unwrap()
            .entries,
        vec![]
    );
}

#[test]
fn every_parse_error_has_its_line_and_message() {
    let cases: &[(&str, &str)] = &[
        (
            "a veth br0 1\n a veth br1 1\n",
            "line 2: starts with whitespace (lxc-user-nic ignores such a line; remove the indentation)",
        ),
        ("\ta veth br0 1", "line 1: starts with whitespace (lxc-user-nic ignores such a line; remove the indentation)"),
        ("a veth br0", "line 1: expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found 3"),
        ("a veth br0 1 junk", "line 1: expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found 5"),
        ("a", "line 1: expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found 1"),
        ("@ veth br0 1", "line 1: owner \"@\" names no group"),
        ("a:b veth br0 1", "line 1: owner \"a:b\" is not a valid user or @group name"),
        ("@@g veth br0 1", "line 1: owner \"@@g\" is not a valid user or @group name"),
        ("-a veth br0 1", "line 1: owner \"-a\" is not a valid user or @group name"),
        ("é veth br0 1", "line 1: owner \"é\" is not a valid user or @group name"),
        ("a macvlan br0 1", "line 1: type \"macvlan\" is not supported (only \"veth\")"),
        ("a VETH br0 1", "line 1: type \"VETH\" is not supported (only \"veth\")"),
        (
            "a veth 1234567890123456 1",
            "line 1: bridge: interface name \"1234567890123456\" is 16 bytes long (at most 15)",
        ),
        ("a veth br/0 1", "line 1: bridge: interface name \"br/0\" contains '/'"),
        ("a veth br:0 1", "line 1: bridge: interface name \"br:0\" contains ':'"),
        ("a veth .. 1", "line 1: bridge: interface name \"..\" is not allowed"),
        (
            "a veth br%d 1",
            "line 1: bridge: interface name \"br%d\" contains '%' other than one \"%u\"",
        ),
        (
            "a veth b%u%u 1",
            "line 1: bridge: interface name \"b%u%u\" contains '%' other than one \"%u\"",
        ),
        (
            "a veth abcdefghijklmno%u 1",
            "line 1: bridge pattern \"abcdefghijklmno%u\": interface name \"abcdefghijklmno0\" is 16 bytes long (at most 15)",
        ),
        ("a veth br0 -1", "line 1: count \"-1\" is not a decimal number from 0 to 65535"),
        ("a veth br0 +1", "line 1: count \"+1\" is not a decimal number from 0 to 65535"),
        ("a veth br0 0x10", "line 1: count \"0x10\" is not a decimal number from 0 to 65535"),
        ("a veth br0 two", "line 1: count \"two\" is not a decimal number from 0 to 65535"),
        ("a veth br0 010", "line 1: count \"010\" has a leading zero (write plain decimal)"),
        ("a veth br0 65536", "line 1: count \"65536\" is larger than 65535"),
        (
            "a veth br0 99999999999999999999999",
            "line 1: count \"99999999999999999999999\" is larger than 65535",
        ),
        ("a veth br0 1\r\n", "line 1: count \"1\\r\" is not a decimal number from 0 to 65535"),
        (
            "a veth br0 1\n# c\na veth br0 2\n",
            "line 3: same owner, type and bridge as line 1 (merge the two lines)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&perr(text), want, "for {text:?}");
    }
    // A long owner.
    let long = "u".repeat(256);
    assert_eq!(
        perr(&format!("{long} veth br0 1")),
        format!("line 1: owner \"{long}\" is longer than 255 bytes")
    );
    // Distinct owners, bridges or @group vs user on the same bridge are not duplicates.
    assert!(Usernet::parse("a veth br0 1\n@a veth br0 1\na veth br1 1\na veth none 1\n").is_ok());
}

#[test]
fn no_entry_is_not_quota_reached() {
    // Case C9 of docs/cases/burrow-nic.md / lxc#245: "Quota reached" for everything; here two distinct messages.
    let u = Usernet::parse("alice veth br0 2\n").unwrap();
    let g = groups(&[]);
    let bob = Caller {
        user: "bob",
        uid: 1001,
        groups: &g,
    };
    assert_eq!(
        u.decide(&bob, "veth", "br0", usage(&[]))
            .unwrap_err()
            .to_string(),
        "no entry in /etc/burrow/usernet allows user bob a veth on bridge br0"
    );
    let alice = Caller {
        user: "alice",
        uid: 1000,
        groups: &g,
    };
    assert_eq!(
        u.decide(&alice, "veth", "br1", usage(&[]))
            .unwrap_err()
            .to_string(),
        "no entry in /etc/burrow/usernet allows user alice a veth on bridge br1"
    );
    assert_eq!(
        u.decide(&alice, "macvlan", "br0", usage(&[]))
            .unwrap_err()
            .to_string(),
        "no entry in /etc/burrow/usernet allows user alice a macvlan on bridge br0"
    );
    let g = u
        .decide(&alice, "veth", "br0", usage(&[("alice", "br0", 1)]))
        .unwrap();
    assert_eq!(
        (g.slot.owner.as_str(), g.line, g.allowed, g.used),
        ("alice", 1, 2, 1)
    );
    assert_eq!(
        u.decide(&alice, "veth", "br0", usage(&[("alice", "br0", 2)]))
            .unwrap_err()
            .to_string(),
        "quota reached: user alice has 2 of 2 veth nics allowed on bridge br0"
    );
}

#[test]
fn quota_is_per_owner_type_and_bridge() {
    // Case C10 (LXC PR #3142): nics on br-test must not use up the `none` quota.
    let u = Usernet::parse("nicuser veth br-test 2\nnicuser veth none 1\n").unwrap();
    let g = groups(&[]);
    let me = Caller {
        user: "nicuser",
        uid: 1002,
        groups: &g,
    };
    let used = usage(&[("nicuser", "br-test", 2)]);
    let grant = u.decide(&me, "veth", "none", &used).unwrap();
    assert_eq!(
        grant.slot,
        Slot {
            owner: "nicuser".into(),
            kind: "veth".into(),
            bridge: "none".into()
        }
    );
    assert!(u.decide(&me, "veth", "br-test", &used).is_err());
}

#[test]
fn user_lines_first_then_groups_in_file_order_as_shared_pools() {
    // lxc#513; cases C7 and C11.
    let u =
        Usernet::parse("@g1 veth br0 1\n@g2 veth br0 1\nnicuser2 veth br0 1\n@other veth br0 5\n")
            .unwrap();
    let g = groups(&["g2", "g1"]);
    let me = Caller {
        user: "nicuser2",
        uid: 1003,
        groups: &g,
    };
    let grant = u.decide(&me, "veth", "br0", usage(&[])).unwrap();
    assert_eq!(
        (grant.slot.owner.as_str(), grant.line, grant.allowed),
        ("nicuser2", 3, 3)
    );
    let grant = u
        .decide(&me, "veth", "br0", usage(&[("nicuser2", "br0", 1)]))
        .unwrap();
    assert_eq!(grant.slot.owner, "@g1");
    let grant = u
        .decide(
            &me,
            "veth",
            "br0",
            usage(&[("nicuser2", "br0", 1), ("@g1", "br0", 1)]),
        )
        .unwrap();
    assert_eq!(grant.slot.owner, "@g2");
    // The group pool is shared: another member filled @g2.
    assert_eq!(
        u.decide(
            &me,
            "veth",
            "br0",
            usage(&[("nicuser2", "br0", 1), ("@g1", "br0", 1), ("@g2", "br0", 1)])
        )
        .unwrap_err()
        .to_string(),
        "quota reached: user nicuser2 has 3 of 3 veth nics allowed on bridge br0"
    );
}

#[test]
fn group_lines_of_other_groups_are_harmless() {
    // Case C20: LXC 5.0 segfaults on a @group line the caller is not in.
    let u = Usernet::parse("@nicgrp veth br-test2 1\nnicuser veth br-test 1\n").unwrap();
    let g = groups(&["nicuser"]);
    let me = Caller {
        user: "nicuser",
        uid: 1002,
        groups: &g,
    };
    assert!(u.decide(&me, "veth", "br-test", usage(&[])).is_ok());
    assert!(matches!(
        u.decide(&me, "veth", "br-test2", usage(&[])),
        Err(Denial::NoEntry { .. })
    ));
}

#[test]
fn zero_count_refuses() {
    let u = Usernet::parse("a veth br0 0\n").unwrap();
    let g = groups(&[]);
    let me = Caller {
        user: "a",
        uid: 5,
        groups: &g,
    };
    assert_eq!(
        u.decide(&me, "veth", "br0", usage(&[]))
            .unwrap_err()
            .to_string(),
        "quota reached: user a has 0 of 0 veth nics allowed on bridge br0"
    );
}

#[test]
fn numeric_owner_matches_the_uid() {
    let u = Usernet::parse("1002 veth br0 1\n").unwrap();
    let g = groups(&[]);
    let me = Caller {
        user: "nicuser",
        uid: 1002,
        groups: &g,
    };
    assert_eq!(
        u.decide(&me, "veth", "br0", usage(&[])).unwrap().slot.owner,
        "1002"
    );
    let other = Caller {
        user: "x",
        uid: 1003,
        groups: &g,
    };
    assert!(u.decide(&other, "veth", "br0", usage(&[])).is_err());
}

#[test]
fn per_user_bridges() {
    let u = Usernet::parse("@users veth burrow%u 2\n").unwrap();
    let g = groups(&["users"]);
    let a = Caller {
        user: "a",
        uid: 1002,
        groups: &g,
    };
    let b = Caller {
        user: "b",
        uid: 1003,
        groups: &g,
    };
    assert_eq!(resolve_request("burrow%u", 1002).unwrap(), "burrow1002");
    let ga = u.decide(&a, "veth", "burrow1002", usage(&[])).unwrap();
    assert_eq!(ga.slot.bridge, "burrow1002");
    // Each user's bridge is their own: b cannot ask for a's.
    assert!(matches!(
        u.decide(&b, "veth", "burrow1002", usage(&[])),
        Err(Denial::NoEntry { .. })
    ));
    // The group pool is per expanded bridge, so per user.
    assert!(u
        .decide(
            &b,
            "veth",
            "burrow1003",
            usage(&[("@users", "burrow1002", 2)])
        )
        .is_ok());
    // A uid too long for the pattern.
    let big = Caller {
        user: "big",
        uid: 4_000_000_000,
        groups: &g,
    };
    assert_eq!(
        resolve_request("burrow%u", big.uid)
            .unwrap_err()
            .to_string(),
        "interface name \"burrow4000000000\" is 16 bytes long (at most 15)"
    );
    let all = u.allowances(&big);
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].clone().unwrap_err(),
        (1, NameError::TooLong("burrow4000000000".into()))
    );
}

#[test]
fn request_resolution() {
    assert_eq!(resolve_request("none", 1).unwrap(), "none");
    assert_eq!(resolve_request("br0", 1).unwrap(), "br0");
    assert_eq!(
        resolve_request("br%d", 1).unwrap_err().to_string(),
        "interface name \"br%d\" contains '%' other than one \"%u\""
    );
    assert_eq!(
        resolve_request("a b", 1).unwrap_err().to_string(),
        "interface name \"a b\" contains whitespace"
    );
}

#[test]
fn allowances_for_check() {
    let u = Usernet::parse(
        "a veth br0 2\n@g veth br0 3\na veth none 1\n@h veth br9 4\n@g veth p%u 1\n",
    )
    .unwrap();
    let g = groups(&["g"]);
    let me = Caller {
        user: "a",
        uid: 7,
        groups: &g,
    };
    let all: Vec<Allowance> = u.allowances(&me).into_iter().map(Result::unwrap).collect();
    let short: Vec<(&str, u32, usize)> = all
        .iter()
        .map(|a| (a.bridge.as_str(), a.allowed(), a.slots.len()))
        .collect();
    assert_eq!(short, vec![("br0", 5, 2), ("none", 1, 1), ("p7", 1, 1)]);
    assert_eq!(all[0].slots[1].0.owner, "@g");
}

#[test]
fn nic_tags_round_trip_and_reject_junk() {
    let t = NicTag {
        uid: 1002,
        slot: Slot {
            owner: "@nicgrp".into(),
            kind: "veth".into(),
            bridge: "br-test".into(),
        },
        v4: None,
        v6: None,
    };
    assert_eq!(t.render(), "burrow-nic 1002 @nicgrp veth br-test");
    assert_eq!(
        NicTag::parse("burrow-nic 1002 @nicgrp veth br-test\n"),
        Some(t.clone())
    );
    let mut a = t.clone();
    a.v4 = Some("10.88.3.2".parse().unwrap());
    assert_eq!(
        a.render(),
        "burrow-nic 1002 @nicgrp veth br-test 10.88.3.2 -"
    );
    assert_eq!(NicTag::parse(&a.render()), Some(a.clone()));
    a.v6 = Some("fd42::3:2".parse().unwrap());
    assert_eq!(
        a.render(),
        "burrow-nic 1002 @nicgrp veth br-test 10.88.3.2 fd42::3:2"
    );
    assert_eq!(NicTag::parse(&a.render()), Some(a));
    for junk in [
        "",
        "burrow-nic 1002 a veth",
        "burrow-nic 1002 a veth br0 x",
        "burrow-nic 1002 a veth br0 - -",
        "burrow-nic 1002 a veth br0 10.1.1.1",
        "burrow-nic 1002 a veth br0 fd00::1 -",
        "burrow-nic 1002 a veth br0 10.1.1.1 10.1.1.2",
        "burrow-nic 01 a veth br0",
        "burrow-nic 1 a macvlan br0",
        "burrow-nic 1 a veth br/0",
        "burrow-nic  1 a veth br0",
        "lxc 1 a veth br0",
    ] {
        assert_eq!(NicTag::parse(junk), None, "{junk:?}");
    }
}

#[test]
fn lines_expanding_to_one_slot_count_once() {
    // Found by the usernet fuzz target: two lines of one owner that expand to the same
    // bridge are one slot; the first line decides its count.
    let u = Usernet::parse("alice veth burrow1002 2\nalice veth burrow%u 3\n").unwrap();
    let g = groups(&[]);
    let a = Caller {
        user: "alice",
        uid: 1002,
        groups: &g,
    };
    let all = u.allowances(&a);
    let al = all[0].as_ref().unwrap();
    assert_eq!((al.bridge.as_str(), al.allowed()), ("burrow1002", 2));
    assert_eq!(all.len(), 1);
    let d = u
        .decide(
            &a,
            "veth",
            "burrow1002",
            usage(&[("alice", "burrow1002", 2)]),
        )
        .unwrap_err();
    assert_eq!(
        d.to_string(),
        "quota reached: user alice has 2 of 2 veth nics allowed on bridge burrow1002"
    );
    let g2 = groups(&["g"]);
    let x = Caller {
        user: "x",
        uid: 1,
        groups: &g2,
    };
    let u = Usernet::parse("x veth x%u1 2\nx veth x1%u 3\n@g veth x11 1\n").unwrap();
    let all = u.allowances(&x);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].as_ref().unwrap().allowed(), 3);
}

#[test]
fn a_line_naming_the_bridge_wins_over_a_pattern_wherever_it_stands() {
    // Found by the usernet fuzz target (kept as corpus/seed-usernet/11-name-after-pattern):
    // `alice veth burrow1002 0` after (or before) `alice veth burrow%u 3` is the admin's
    // exception for uid 1002: it sets the slot's count, in either order.
    let g = groups(&[]);
    let a = Caller {
        user: "alice",
        uid: 1002,
        groups: &g,
    };
    for text in [
        "alice veth burrow1002 0\nalice veth burrow%u 3\n",
        "alice veth burrow%u 3\nalice veth burrow1002 0\n",
    ] {
        let u = Usernet::parse(text).unwrap();
        let d = u.decide(&a, "veth", "burrow1002", usage(&[])).unwrap_err();
        assert_eq!(
            d.to_string(),
            "quota reached: user alice has 0 of 0 veth nics allowed on bridge burrow1002",
            "{text:?}"
        );
        let all = u.allowances(&a);
        assert_eq!(all.len(), 1, "{text:?}");
        assert_eq!(all[0].as_ref().unwrap().allowed(), 0, "{text:?}");
    }
    // A larger exception: granted from line 2, and still a per-user bridge (burrow-nic makes
    // and addresses it) because a `%u` line of the caller expands to it.
    let u = Usernet::parse("alice veth burrow%u 1\nalice veth burrow1002 5\n").unwrap();
    let gr = u
        .decide(
            &a,
            "veth",
            "burrow1002",
            usage(&[("alice", "burrow1002", 1)]),
        )
        .unwrap();
    assert_eq!((gr.line, gr.allowed, gr.used, gr.per_user), (2, 5, 1, true));
    // Another uid gets the pattern's count.
    let b = Caller {
        user: "alice",
        uid: 1003,
        groups: &g,
    };
    let gb = u.decide(&b, "veth", "burrow1003", usage(&[])).unwrap();
    assert_eq!((gb.line, gb.allowed, gb.per_user), (1, 1, true));
}

#[test]
fn ports_lines_parse_and_apply() {
    let u = Usernet::parse(
        "alice veth burrow%u 4\nalice ports 8000-8099,443 # web\n@web ports 80\n@other ports 22\n1002 veth none 1\n",
    )
    .unwrap();
    assert_eq!(u.entries.len(), 2);
    assert_eq!(u.ports.len(), 3);
    assert_eq!(u.ports[0].line, 2);
    assert_eq!(u.ports[0].owner, Owner::User("alice".into()));
    assert_eq!(u.ports[0].list.to_string(), "8000-8099,443");
    assert_eq!(u.ports[1].owner, Owner::Group("web".into()));
    let g = groups(&["web", "users"]);
    let who = Caller {
        user: "alice",
        uid: 1002,
        groups: &g,
    };
    let grant = u.port_grant(&who);
    assert_eq!(grant.lines.len(), 2);
    assert!(grant.contains(80) && grant.contains(443) && grant.contains(8099));
    assert!(!grant.contains(22) && !grant.contains(8100));
    assert_eq!(grant.list(), "8000-8099,443,80");
    assert_eq!(
        grant.describe(),
        "line 2 \"alice ports 8000-8099,443\"; line 3 \"@web ports 80\""
    );
    let p = ports::Publish::parse("8098-8101:98-101").unwrap();
    assert_eq!(
        grant.check(&p).unwrap_err().to_string(),
        "host port 8100/tcp is not in your port grant (/etc/burrow/usernet: line 2 \"alice ports 8000-8099,443\"; line 3 \"@web ports 80\"); ask the admin to extend it (burrow admin add-user --ports LIST) or publish through the user-space forwarder (--publish-mode user)"
    );
    assert!(grant
        .check(&ports::Publish::parse("80:8080/udp").unwrap())
        .is_ok());
    // By uid too; another user's line never counts.
    let none: Vec<String> = Vec::new();
    let bob = Caller {
        user: "bob",
        uid: 1003,
        groups: &none,
    };
    let g = u.port_grant(&bob);
    assert!(g.lines.is_empty() && g.list().is_empty());
    assert_eq!(
        g.check(&ports::Publish::parse("8000:80").unwrap())
            .unwrap_err()
            .to_string(),
        "host port 8000/tcp is not in your port grant (/etc/burrow/usernet: no ports line for bob or its groups); ask the admin for a grant (burrow admin add-user --ports LIST) or publish through the user-space forwarder (--publish-mode user)"
    );
    let by_uid = Usernet::parse("1003 ports 5000").unwrap();
    assert!(by_uid.port_grant(&bob).contains(5000));
}

#[test]
fn every_ports_line_error_has_its_line_and_message() {
    let cases: &[(&str, &str)] = &[
        (
            "a ports",
            "line 1: expected 3 fields (USER|@GROUP ports LIST), found 2",
        ),
        (
            "a ports 80 81",
            "line 1: expected 3 fields (USER|@GROUP ports LIST), found 4",
        ),
        ("a ports 80,", "line 1: ports \"80,\": port list \"80,\" has an empty element"),
        ("a ports ,80", "line 1: ports \",80\": port list \",80\" has an empty element"),
        ("a ports 0", "line 1: ports \"0\": port \"0\" is out of range (1 to 65535)"),
        ("a ports 65536", "line 1: ports \"65536\": port \"65536\" is out of range (1 to 65535)"),
        ("a ports 080", "line 1: ports \"080\": port \"080\" has a leading zero (write plain decimal)"),
        ("a ports 90-80", "line 1: ports \"90-80\": port range \"90-80\" ends before it starts"),
        ("a ports +80", "line 1: ports \"+80\": \"+80\" is not a port (a decimal number from 1 to 65535)"),
        ("a ports 0x50", "line 1: ports \"0x50\": \"0x50\" is not a port (a decimal number from 1 to 65535)"),
        ("a ports all", "line 1: ports \"all\": \"all\" is not a port (a decimal number from 1 to 65535)"),
        ("@ ports 80", "line 1: owner \"@\" names no group"),
        ("a:b ports 80", "line 1: owner \"a:b\" is not a valid user or @group name"),
        (
            "a ports 80\nb ports 80\na ports 443",
            "line 3: second ports line for a (the first is line 1; merge the two lists)",
        ),
        (
            "@g ports 80\n@g ports 443",
            "line 2: second ports line for @g (the first is line 1; merge the two lists)",
        ),
        (
            "a ports 80\n a ports 443",
            "line 2: starts with whitespace (lxc-user-nic ignores such a line; remove the indentation)",
        ),
        ("a PORTS 80", "line 1: expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found 3"),
        ("a ports 80 1", "line 1: expected 3 fields (USER|@GROUP ports LIST), found 4"),
    ];
    for (text, want) in cases {
        assert_eq!(perr(text), *want, "{text:?}");
    }
    // A user line and a group line of the same name are two owners.
    assert!(Usernet::parse("a ports 80\n@a ports 80").is_ok());
    // A trailing comment is not a field.
    assert_eq!(Usernet::parse("a ports 80 # x").unwrap().ports.len(), 1);
}
