//! burrow-newuidmap / burrow-newgidmap against the real kernel, as unprivileged test users.
//!
//! Each test's doc comment names the cases of docs/cases/newidmap.md it covers: "C N" for the
//! observed behaviour of shadow's newuidmap/newgidmap, "A N" for the attacks a replacement
//! must resist. The expected stderr is exact. Every test runs with a private /etc (see harness
//! `Etc`), so the subid files are exactly what the test says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;

const N: &str = "burrow-newuidmap";
const G: &str = "burrow-newgidmap";
const SUB: u32 = 365_536;

/// /etc with `a` owning 365536+65536 in both files, and `b` 431072+65536.
fn std_etc(a: &TestUser) -> Etc {
    let b = user_b();
    Etc::new().subids(&format!(
        "{}:{SUB}:65536\n{}:431072:65536\n",
        a.name, b.name
    ))
}

fn run(prog: &str, u: &TestUser, etc: &Etc, args: &[&str]) -> Ran {
    Run::new(u).etc(etc).cmd(&helper(prog), args)
}

fn err(prog: &str, msg: &str) -> String {
    format!("{prog}: {msg}\n")
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

// ---------------------------------------------------------------- command line (C1-C16)

/// Cases C1 of docs/cases/newidmap.md.
#[test]
fn no_arguments_print_the_usage() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    run(N, &a, &etc, &[]).expect(
        1,
        "burrow-newuidmap: missing arguments\nusage: burrow-newuidmap <pid>|fd:<N> <uid> <loweruid> <count> [<uid> <loweruid> <count>]...\n",
    );
    run(G, &a, &etc, &[]).expect(
        1,
        "burrow-newgidmap: missing arguments\nusage: burrow-newgidmap <pid>|fd:<N> <gid> <lowergid> <count> [<gid> <lowergid> <count>]...\n",
    );
}

/// Cases C2; A6 of docs/cases/newidmap.md.
#[test]
fn zero_ranges_are_refused_not_a_no_op() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s()]).expect(1, &err(N, "no ranges given: nothing to map"));
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C3, C4; A6 of docs/cases/newidmap.md.
#[test]
fn numbers_that_are_not_triples_are_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let uid = s(a.uid);
    run(N, &a, &etc, &[&t.pid_s(), "0", &uid]).expect(
        1,
        &err(
            N,
            "2 numbers after the target do not form <id> <lower> <count> triples",
        ),
    );
    run(N, &a, &etc, &[&t.pid_s(), "0", &uid, "1", "1"]).expect(
        1,
        &err(
            N,
            "4 numbers after the target do not form <id> <lower> <count> triples",
        ),
    );
}

/// Cases C5, C6, C7, C8; A8 of docs/cases/newidmap.md.
#[test]
fn bad_targets_are_refused_before_anything() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let uid = s(a.uid);
    let t = Proc::spawn(&a, Ns::New, None);
    let bad = |target: &str, msg: &str| {
        run(N, &a, &etc, &[target, "0", &uid, "1"]).expect(1, &err(N, msg))
    };
    bad(
        "abc",
        "target \"abc\" is not a pid or fd:N (plain decimal numbers only)",
    );
    bad(
        "",
        "target \"\" is not a pid or fd:N (plain decimal numbers only)",
    );
    bad("4294985290", "target pid 4294985290 is out of range");
    bad("99999999", "target pid 99999999 is out of range");
    bad(
        "-1",
        "target \"-1\" is not a pid or fd:N (plain decimal numbers only)",
    );
    bad(
        "0",
        "target \"0\" is not a pid or fd:N (plain decimal numbers only)",
    );
    bad(
        "+1",
        "target \"+1\" is not a pid or fd:N (plain decimal numbers only)",
    );
    // C8: shadow accepted a leading space and wrote the map.
    bad(
        &format!(" {}", t.pid),
        &format!(
            "target \" {}\" is not a pid or fd:N (plain decimal numbers only)",
            t.pid
        ),
    );
    let free = free_pid();
    bad(&s(free), &format!("no process with pid {free}"));
    bad("fd:9", "fd:9 is not an open descriptor");
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C9, C10, C13, C14, C15; A5 of docs/cases/newidmap.md.
#[test]
fn numbers_must_be_plain_decimal() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let uid = s(a.uid);
    let bad_at = |args: &[&str], pos: usize, shown: &str| {
        let mut v = vec![p.as_str()];
        v.extend_from_slice(args);
        run(N, &a, &etc, &v).expect(
            1,
            &err(
                N,
                &format!("argument {pos} (\"{shown}\") is not a plain decimal number"),
            ),
        );
    };
    for junk in [
        "10x",
        "",
        "1e3",
        "abc",
        "18446744073709551616",
        "-1",
        "0x3ed",
        "+1005",
        " 1005",
        "01311740",
        "0365536",
    ] {
        bad_at(&["0", junk, "1"], 3, junk);
    }
    bad_at(&["0x0", &uid, "1"], 2, "0x0");
    bad_at(&["+0", &uid, "1"], 2, "+0");
    bad_at(&["0", &uid, " 1"], 4, " 1");
    bad_at(&["0", &uid, "1\n"], 4, "1\\n");
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C11, C48; A4 of docs/cases/newidmap.md.
#[test]
fn overflowing_ids_and_counts_are_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let over = |prog: &str, args: &[&str], what: &str| {
        let mut v = vec![p.as_str()];
        v.extend_from_slice(args);
        run(prog, &a, &etc, &v).expect(
            1,
            &err(
                prog,
                &format!("range 1: {what} overflows (ids must be below 4294967295 and id+count at most 4294967295)"),
            ),
        );
    };
    let sub = s(SUB);
    over(N, &["0", &sub, "4294967295"], "the count");
    over(N, &["0", &sub, "4294967296"], "the count");
    over(N, &["0", &sub, "18446744073709551615"], "the count");
    over(N, &["4294967295", &sub, "1"], "the inside id");
    over(N, &["0", "4294967295", "1"], "the host id");
    over(N, &["4294967000", &sub, "1000"], "inside id + count");
    over(N, &["0", "4294967000", "1000"], "host id + count");
    over(G, &["0", &sub, "4294967295"], "the count");
    assert_eq!(t.map("uid_map"), "");
    assert_eq!(t.map("gid_map"), "");
}

/// Cases C12; A4 of docs/cases/newidmap.md.
#[test]
fn a_count_of_zero_is_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "0"])
        .expect(1, &err(N, "range 1 has a count of 0"));
}

/// Cases C16 of docs/cases/newidmap.md.
#[test]
fn the_highest_inside_id_can_be_mapped() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "4294967294", &s(a.uid), "1"]).ok();
    assert_eq!(t.map("uid_map"), format!("4294967294 {} 1", a.uid));
}

// ---------------------------------------------------------------- authorization (C17-C29)

/// Cases C17, C18, C19 of docs/cases/newidmap.md.
#[test]
fn own_id_and_subordinate_ranges_are_mapped() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(
        N,
        &a,
        &etc,
        &[&t.pid_s(), "0", &s(a.uid), "1", "1", &s(SUB), "65536"],
    )
    .ok();
    assert_eq!(t.map("uid_map"), format!("0 {} 1\n1 {SUB} 65536", a.uid));
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(SUB), "65536"]).ok();
    assert_eq!(t.map("uid_map"), format!("0 {SUB} 65536"));
    for inner in ["0", "1000"] {
        let t = Proc::spawn(&a, Ns::New, None);
        run(N, &a, &etc, &[&t.pid_s(), inner, &s(a.uid), "1"]).ok();
        assert_eq!(t.map("uid_map"), format!("{inner} {} 1", a.uid));
    }
}

/// Cases C20; A8 of docs/cases/newidmap.md.
#[test]
fn a_second_map_is_refused_as_already_mapped() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).ok();
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
        1,
        &err(
            N,
            &format!(
                "process {} already has a uid_map (it can be written only once)",
                t.pid
            ),
        ),
    );
}

/// Cases C21, C22, C23, C24, C25, C26; A1, A3 of docs/cases/newidmap.md.
#[test]
fn ranges_outside_the_allocation_and_host_root_are_refused() {
    require!();
    let a = user_a();
    let b = user_b();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let denied = |args: &[&str], range: &str, why: &str| {
        let mut v = vec![p.as_str()];
        v.extend_from_slice(args);
        run(N, &a, &etc, &v).expect(1, &err(N, &format!("uid range {range} not allowed: {why}")));
    };
    let within = "not within your ranges in /etc/subuid";
    let u = a.uid;
    denied(
        &["0", &s(u), "2"],
        &format!("[0-2) -> [{u}-{})", u + 2),
        within,
    );
    denied(&["0", "431072", "1"], "[0-1) -> [431072-431073)", within);
    denied(&["0", "431071", "2"], "[0-2) -> [431071-431073)", within);
    denied(&["0", "365535", "2"], "[0-2) -> [365535-365537)", within);
    denied(
        &["0", "365536", "65537"],
        "[0-65537) -> [365536-431073)",
        within,
    );
    denied(
        &["0", "0", "1"],
        "[0-1) -> [0-1)",
        "host uid 0 cannot be mapped",
    );
    // C25: the bad range is the second one; nothing is written.
    denied(
        &["0", "365536", "10", "10", "0", "1"],
        "[10-11) -> [0-1)",
        "host uid 0 cannot be mapped",
    );
    denied(
        &["0", &s(b.uid), "1"],
        &format!("[0-1) -> [{}-{})", b.uid, b.uid + 1),
        within,
    );
    denied(&["0", "431072", "10"], "[0-10) -> [431072-431082)", within);
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C27; A7 of docs/cases/newidmap.md.
#[test]
fn overlapping_ranges_are_refused_before_the_kernel() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let ov = |args: &[&str], side: &str| {
        let mut v = vec![p.as_str()];
        v.extend_from_slice(args);
        run(N, &a, &etc, &v).expect(
            1,
            &err(N, &format!("ranges 1 and 2 overlap in their {side} ids")),
        );
    };
    ov(&["0", "365536", "100", "500", "365586", "100"], "host");
    ov(&["0", "365536", "10", "5", "365636", "10"], "inside");
    ov(&["0", "365536", "10", "0", "365536", "10"], "inside");
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C28, C29; A6 of docs/cases/newidmap.md.
#[test]
fn range_count_and_map_size_limits_are_said_before_writing() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let triples = |n: u32| -> Vec<String> {
        (0..n)
            .flat_map(|i| [s(i * 2), s(SUB + i * 2), s(1)])
            .collect()
    };
    // 300 ranges: accepted and all written.
    let t = Proc::spawn(&a, Ns::New, None);
    let mut args = vec![t.pid_s()];
    args.extend(triples(300));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(N, &a, &etc, &refs).ok();
    assert_eq!(t.map("uid_map").lines().count(), 300);
    // 330 ranges: too long for one page; said before anything is written.
    let mut args = vec![t.pid_s()];
    args.extend(triples(330));
    let text: usize = (0..330u32)
        .map(|i| format!("{} {} 1\n", i * 2, SUB + i * 2).len())
        .sum();
    let t2 = Proc::spawn(&a, Ns::New, None);
    args[0] = t2.pid_s();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(N, &a, &etc, &refs).expect(
        1,
        &err(
            N,
            &format!("the map is {text} bytes long; the kernel accepts at most 4095"),
        ),
    );
    // 341 and 5000 ranges: more than the kernel's 340 lines.
    for n in [341u32, 5000] {
        let mut args = vec![t2.pid_s()];
        args.extend(triples(n));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(N, &a, &etc, &refs).expect(
            1,
            &err(
                N,
                &format!("{n} ranges given; the kernel accepts at most 340"),
            ),
        );
    }
    assert_eq!(t2.map("uid_map"), "");
}

// ---------------------------------------------------------------- targets (C30-C41)

/// Cases C30, C31, C32; A8 of docs/cases/newidmap.md.
#[test]
fn a_target_of_another_user_or_root_is_refused() {
    require!();
    let a = user_a();
    let b = user_b();
    let etc = std_etc(&a);
    let tb = Proc::spawn(&b, Ns::New, None);
    let msg = format!(
        "target process {} runs as uid {} gid {}, not as you (uid {} gid {})",
        tb.pid, b.uid, b.gid, a.uid, a.gid
    );
    run(N, &a, &etc, &[&tb.pid_s(), "0", &s(a.uid), "1"]).expect(1, &err(N, &msg));
    run(G, &a, &etc, &[&tb.pid_s(), "0", &s(a.gid), "1"]).expect(1, &err(G, &msg));
    run(N, &a, &etc, &["1", "0", &s(a.uid), "1"]).expect(
        1,
        &err(N, &format!("target process 1 runs as uid 0 gid 0, not as you (uid {} gid {}) (or is not dumpable)", a.uid, a.gid)),
    );
    assert_eq!(tb.map("uid_map"), "");
}

/// Cases C33, C34; A8 of docs/cases/newidmap.md.
#[test]
fn a_target_still_in_the_callers_namespace_is_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::Init, None);
    let msg = format!(
        "process {} is still in your user namespace: map a process in a new one (unshare -U)",
        t.pid
    );
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(1, &err(N, &msg));
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).expect(1, &err(G, &msg));
}

/// Cases C35; A8 of docs/cases/newidmap.md.
#[test]
fn a_nested_namespace_is_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::Grandchild, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
        1,
        &err(N, &format!("the user namespace of process {} is nested: it must be mapped from its parent namespace", t.pid)),
    );
}

/// Cases C36; A8 of docs/cases/newidmap.md.
#[test]
fn a_target_that_mapped_itself_is_already_mapped() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::SelfMapped, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
        1,
        &err(
            N,
            &format!(
                "process {} already has a uid_map (it can be written only once)",
                t.pid
            ),
        ),
    );
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).expect(
        1,
        &err(
            G,
            &format!(
                "process {} already has a gid_map (it can be written only once)",
                t.pid
            ),
        ),
    );
}

/// Cases A8 of docs/cases/newidmap.md.
#[test]
fn a_namespace_created_by_someone_else_is_refused() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    // root creates the namespace and maps only a's ids into it; the process then becomes a
    // inside: it runs as a, but the namespace is root's.
    let root = TestUser::root();
    let script = format!(
        "import ctypes,os,time\nlibc=ctypes.CDLL(None,use_errno=True)\nassert libc.unshare(0x10000000)==0\nwhile not open('/proc/self/uid_map').read(): time.sleep(0.01)\nos.setgroups([]); os.setresgid({g},{g},{g}); os.setresuid({u},{u},{u}); os.execvp('sleep',['sleep','600'])",
        u = a.uid,
        g = a.gid
    );
    let t = Proc::spawn_cmd(&root, None, &[], &["python3", "-c", &script]);
    t.wait_new_userns();
    std::fs::write(
        format!("/proc/{}/gid_map", t.pid),
        format!("{0} {0} 1\n", a.gid),
    )
    .unwrap();
    std::fs::write(
        format!("/proc/{}/uid_map", t.pid),
        format!("{0} {0} 1\n", a.uid),
    )
    .unwrap();
    t.wait_comm("sleep");
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
        1,
        &err(
            N,
            &format!(
                "the user namespace of process {} was not created by you",
                t.pid
            ),
        ),
    );
}

/// Cases C37; A11 of docs/cases/newidmap.md.
#[test]
fn a_caller_running_with_a_supplementary_group_is_refused() {
    require!();
    let a = user_a();
    let x = a.aux_group("x");
    let etc = std_etc(&a);
    for target_gid in [a.gid, x] {
        let t = Proc::spawn(&a, Ns::New, Some(target_gid));
        Run::new(&a).etc(&etc).regid(x).cmd(&helper(N), &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
            1,
            &err(N, &format!("your current group {x} is not your login group {} (sg/newgrp/Group=); run with your login group, or the admin may set GRANT_AUX_GROUP_SUBIDS yes in /etc/login.defs", a.gid)),
        );
    }
}

/// Cases C38, C39, C40 of docs/cases/newidmap.md.
#[test]
fn root_is_not_exempt_but_may_map_its_own_id() {
    require!();
    let a = user_a();
    let root = TestUser::root();
    let etc = std_etc(&a);
    let ta = Proc::spawn(&a, Ns::New, None);
    run(N, &root, &etc, &[&ta.pid_s(), "0", "0", "1"]).expect(
        1,
        &err(
            N,
            &format!(
                "target process {} runs as uid {} gid {}, not as you (uid 0 gid 0)",
                ta.pid, a.uid, a.gid
            ),
        ),
    );
    // Root maps its own id 0 into its own namespace (needs CAP_SETFCAP, kept only for root).
    let tr = Proc::spawn(&root, Ns::New, None);
    run(N, &root, &etc, &[&tr.pid_s(), "0", "0", "1"]).ok();
    run(G, &root, &etc, &[&tr.pid_s(), "0", "0", "1"]).ok();
    assert_eq!(tr.map("uid_map"), "0 0 1");
    assert_eq!(tr.map("gid_map"), "0 0 1");
    assert_eq!(tr.read("setgroups"), "deny\n");
    let tr = Proc::spawn(&root, Ns::New, None);
    run(N, &root, &etc, &[&tr.pid_s(), "0", "100000", "10"]).expect(
        1,
        &err(
            N,
            "uid range [0-10) -> [100000-100010) not allowed: you have no range in /etc/subuid",
        ),
    );
}

/// Cases C41; A11 of docs/cases/newidmap.md.
#[test]
fn a_caller_without_passwd_entry_is_refused() {
    require!();
    let ghost = TestUser::ghost(54321);
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&ghost, Ns::New, None);
    run(N, &ghost, &etc, &[&t.pid_s(), "0", "54321", "1"]).expect(
        1,
        &err(
            N,
            "cannot determine your user name: uid 54321 has no passwd entry",
        ),
    );
}

// ---------------------------------------------------------------- newgidmap (C42-C50)

/// Cases C42, C43; A12 of docs/cases/newidmap.md.
#[test]
fn own_gid_only_sets_setgroups_deny() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    assert_eq!(t.read("setgroups"), "allow\n");
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).ok();
    assert_eq!(t.map("gid_map"), format!("0 {} 1", a.gid));
    assert_eq!(t.read("setgroups"), "deny\n");
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).expect(
        1,
        &err(
            G,
            &format!(
                "process {} already has a gid_map (it can be written only once)",
                t.pid
            ),
        ),
    );
}

/// Cases C44, C45, C46 of docs/cases/newidmap.md.
#[test]
fn a_subgid_range_keeps_setgroups_allow() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(SUB), "65536"]).ok();
    assert_eq!(t.read("setgroups"), "allow\n");
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).expect(
        1,
        &err(
            G,
            &format!(
                "process {} already has a gid_map (it can be written only once)",
                t.pid
            ),
        ),
    );
    for extra in ["65536", "1"] {
        let t = Proc::spawn(&a, Ns::New, None);
        run(
            G,
            &a,
            &etc,
            &[&t.pid_s(), "0", &s(a.gid), "1", "1", &s(SUB), extra],
        )
        .ok();
        assert_eq!(t.read("setgroups"), "allow\n");
        assert_eq!(t.map("gid_map"), format!("0 {} 1\n1 {SUB} {extra}", a.gid));
    }
}

/// Cases C47; A1, A3 of docs/cases/newidmap.md.
#[test]
fn gids_that_are_not_yours_are_refused() {
    require!();
    let a = user_a();
    let x = a.aux_group("x");
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let denied = |lower: u32, why: &str| {
        run(G, &a, &etc, &[&p, "0", &s(lower), "1"]).expect(
            1,
            &err(
                G,
                &format!(
                    "gid range [0-1) -> [{lower}-{}) not allowed: {why}",
                    lower + 1
                ),
            ),
        );
    };
    let within = "not within your ranges in /etc/subgid";
    denied(x, within);
    denied(431_072, within);
    if a.uid != a.gid {
        denied(a.uid, within);
    }
    run(G, &a, &etc, &[&p, "0", "0", "1"]).expect(
        1,
        &err(
            G,
            "gid range [0-1) -> [0-1) not allowed: host gid 0 cannot be mapped",
        ),
    );
    assert_eq!(t.map("gid_map"), "");
    assert_eq!(t.read("setgroups"), "allow\n");
}

/// Cases C49 of docs/cases/newidmap.md.
#[test]
fn a_target_that_denied_setgroups_stays_denied() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    for lower in [a.gid, SUB] {
        let t = Proc::spawn(&a, Ns::SetgroupsDeny, None);
        assert_eq!(t.read("setgroups"), "deny\n");
        run(G, &a, &etc, &[&t.pid_s(), "0", &s(lower), "1"]).ok();
        assert_eq!(t.read("setgroups"), "deny\n");
    }
}

/// Cases C50 of docs/cases/newidmap.md.
#[test]
fn podman_order_works_both_ways() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    for order in [[N, G], [G, N]] {
        let t = Proc::spawn(&a, Ns::New, None);
        for prog in order {
            let own = if prog == N { a.uid } else { a.gid };
            run(
                prog,
                &a,
                &etc,
                &[&t.pid_s(), "0", &s(own), "1", "1", &s(SUB), "65536"],
            )
            .ok();
        }
        assert_eq!(t.map("uid_map"), format!("0 {} 1\n1 {SUB} 65536", a.uid));
        assert_eq!(t.map("gid_map"), format!("0 {} 1\n1 {SUB} 65536", a.gid));
        // Inside: container root is the caller, container 1.. the range.
        let st = t.read("status");
        assert!(st.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["Uid:", &s(a.uid), &s(a.uid), &s(a.uid), &s(a.uid)]));
    }
}

/// Cases A12 of docs/cases/newidmap.md.
#[test]
fn negative_group_acls_survive_own_gid_maps() {
    require!();
    let a = user_a();
    let blocked = a.aux_group("blocked");
    let etc = std_etc(&a);
    let dir = tempdir("acl");
    let secret = dir.join("secret");
    std::fs::write(&secret, "secret\n").unwrap();
    sh(&format!(
        "chmod 0644 {0} && setfacl -m g:{blocked}:--- {0}",
        secret.display()
    ));
    // The target waits for a go file, then tries to shed its groups and read the file.
    let go = dir.join("go");
    let script = format!(
        "while [ ! -e {go} ]; do sleep 0.01; done; if setpriv --clear-groups true 2>/dev/null; then echo CLEARED > {out}; fi; cat {sec} > {out}.read 2>/dev/null; echo done > {out}.done; sleep 600",
        go = go.display(),
        out = dir.join("out").display(),
        sec = secret.display()
    );
    sh(&format!("chmod 0777 {}", dir.display()));
    let t = Proc::spawn_cmd(&a, None, &["unshare", "-U", "--"], &["bash", "-c", &script]);
    t.wait_new_userns();
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).ok();
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).ok();
    assert_eq!(t.read("setgroups"), "deny\n");
    std::fs::write(&go, "").unwrap();
    let done = dir.join("out.done");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "target did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!dir.join("out").exists(), "setgroups() must fail inside");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.read")).unwrap(),
        "",
        "the negative ACL must still apply"
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- subid files (C51-C66)

/// Cases C51, C64; A13 of docs/cases/newidmap.md.
#[test]
fn symlinked_foreign_owned_or_writable_subid_files_are_refused() {
    require!();
    let a = user_a();
    let t = Proc::spawn(&a, Ns::New, None);
    let own = [t.pid_s(), s(0), s(a.uid), s(1)];
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let line = format!("{}:{SUB}:65536\n", a.name);
    let etc = Etc::new()
        .file("real-subuid", &line)
        .symlink("subuid", "/etc/real-subuid");
    run(N, &a, &etc, &own).expect(
        1,
        &err(N, "/etc/subuid is a symlink or under one; refusing it (it must be a regular root-owned file)"),
    );
    let etc = Etc::new().file_mode("subuid", &line, 0o666, a.uid);
    run(N, &a, &etc, &own).expect(
        1,
        &err(
            N,
            &format!(
                "/etc/subuid is owned by uid {}, not root; refusing it",
                a.uid
            ),
        ),
    );
    let etc = Etc::new().file_mode("subuid", &line, 0o666, 0);
    run(N, &a, &etc, &own).expect(
        1,
        &err(
            N,
            "/etc/subuid is writable by group or others (mode 0666); refusing it",
        ),
    );
    let etc = Etc::new().file_mode("subuid", &line, 0o664, 0);
    run(N, &a, &etc, &own).expect(
        1,
        &err(
            N,
            "/etc/subuid is writable by group or others (mode 0664); refusing it",
        ),
    );
    assert_eq!(t.map("uid_map"), "");
}

/// Cases C52 of docs/cases/newidmap.md.
#[test]
fn missing_subid_files_still_allow_the_own_id() {
    require!();
    let a = user_a();
    let etc = Etc::new().remove("subuid").remove("subgid");
    // Unlike shadow 4.13, the own-id mapping works without the files.
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(a.uid), "1"]).ok();
    run(G, &a, &etc, &[&t.pid_s(), "0", &s(a.gid), "1"]).ok();
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", &s(SUB), "10"]).expect(
        1,
        &err(
            N,
            "uid range [0-10) -> [365536-365546) not allowed: /etc/subuid does not exist",
        ),
    );
}

/// Cases C53, C54, C55, C56 of docs/cases/newidmap.md.
#[test]
fn numeric_and_alias_owners_match_and_adjacent_lines_chain() {
    require!();
    let a = user_a();
    let alias = format!("{}-alias", a.name);
    let passwd = format!(
        "{}{alias}:x:{}:{}::/nonexistent:/usr/sbin/nologin\n",
        std::fs::read_to_string("/etc/passwd").unwrap(),
        a.uid,
        a.gid
    );
    let subuid = format!(
        "{uid}:500000:1000\n{alias}:510000:100\n{n}:520000:100\n{n}:520100:100\n{n}:530000:100\n{n}:530101:100\n",
        uid = a.uid,
        n = a.name
    );
    let etc = Etc::new().file("passwd", &passwd).subids(&subuid);
    let ok = |lower: &str, count: &str| {
        let t = Proc::spawn(&a, Ns::New, None);
        run(N, &a, &etc, &[&t.pid_s(), "0", lower, count]).ok();
        assert_eq!(t.map("uid_map"), format!("0 {lower} {count}"));
    };
    ok("500000", "1000"); // numeric owner
    ok("510000", "100"); // another name with the same uid
    ok("520050", "100"); // adjacent lines chain
    let t = Proc::spawn(&a, Ns::New, None);
    run(N, &a, &etc, &[&t.pid_s(), "0", "530050", "100"])
        .expect(1, &err(N, "uid range [0-100) -> [530050-530150) not allowed: not within your ranges in /etc/subuid"));
}

/// Cases C57, C58, C59, C60, C61, C62; A2 of docs/cases/newidmap.md.
#[test]
fn absurd_and_malformed_subid_lines_never_match() {
    require!();
    let a = user_a();
    let n = &a.name;
    let t = Proc::spawn(&a, Ns::New, None);
    let p = t.pid_s();
    let check = |file: &str, args: &[&str], msg: &str| {
        let etc = Etc::new().subids(file);
        let mut v = vec![p.as_str()];
        v.extend_from_slice(args);
        run(N, &a, &etc, &v).expect(1, &err(N, msg));
    };
    // C57: shadow 4.13 mapped host root from `user:0:0`.
    check(&format!("{n}:0:0\n"), &["0", "0", "1"], "uid range [0-1) -> [0-1) not allowed: host uid 0 cannot be mapped (line 1 ignored: count is 0)");
    check(&format!("{n}:0:0\n"), &["0", "0", "65536"], "uid range [0-65536) -> [0-65536) not allowed: host uid 0 cannot be mapped (line 1 ignored: count is 0)");
    check(&format!("{n}:0:65536\n"), &["0", "1", "10"], "uid range [0-10) -> [1-11) not allowed: you have no range in /etc/subuid (line 1 ignored: the range includes id 0)");
    // C58
    check(&format!("{n}:1:18446744073709551615\n"), &["0", "1", "1000"], "uid range [0-1000) -> [1-1001) not allowed: you have no range in /etc/subuid (line 1 ignored: start + count is past 4294967295)");
    // C59
    check(&format!("{n}:0x7a120:10\n{n}:01000000:10\n"), &["0", "500000", "10"], "uid range [0-10) -> [500000-500010) not allowed: you have no range in /etc/subuid (line 1 ignored: start or count is not a plain decimal number; line 2 ignored: start or count is not a plain decimal number)");
    // C61
    check(
        &format!(
            " {n}:570000:10\n#{n}:570000:10\n{}:570000:10\n",
            n.to_uppercase()
        ),
        &["0", "570000", "10"],
        "uid range [0-10) -> [570000-570010) not allowed: you have no range in /etc/subuid",
    );
    check(&format!("{n}:570000:10 \n"), &["0", "570000", "10"], "uid range [0-10) -> [570000-570010) not allowed: you have no range in /etc/subuid (line 1 ignored: start or count is not a plain decimal number)");
    check(&format!("{n}:570000:10:extra\n"), &["0", "570000", "10"], "uid range [0-10) -> [570000-570010) not allowed: you have no range in /etc/subuid (line 1 ignored: not of the form owner:start:count)");
    // C62
    check(&format!("{n}: 570000:10\n"), &["0", "570000", "10"], "uid range [0-10) -> [570000-570010) not allowed: you have no range in /etc/subuid (line 1 ignored: start or count is not a plain decimal number)");
    assert_eq!(t.map("uid_map"), "");
    // C60: a last line without a newline is accepted.
    let etc = Etc::new().subids(&format!("{n}:580000:10"));
    run(N, &a, &etc, &[&p, "0", "580000", "10"]).ok();
}

/// Cases C63 of docs/cases/newidmap.md.
#[test]
fn another_users_line_listing_my_range_is_theirs() {
    require!();
    // Allocations that overlap between users are the admin's to avoid (burrow admin check
    // reports them); the helper authorizes by owner, as shadow does.
    let a = user_a();
    let b = user_b();
    let etc = Etc::new().subids(&format!("{}:{SUB}:65536\n{}:{SUB}:10\n", a.name, b.name));
    let t = Proc::spawn(&b, Ns::New, None);
    run(N, &b, &etc, &[&t.pid_s(), "0", &s(SUB), "10"]).ok();
}

/// Cases C65, C66; A11 of docs/cases/newidmap.md.
#[test]
fn grant_aux_group_subids_allows_the_current_group() {
    require!();
    let a = user_a();
    let x = a.aux_group("x");
    let etc = std_etc(&a).file("login.defs", "GRANT_AUX_GROUP_SUBIDS yes\n");
    let t = Proc::spawn(&a, Ns::New, Some(x));
    let runx = |prog: &str, args: &[&str]| Run::new(&a).etc(&etc).regid(x).cmd(&helper(prog), args);
    runx(N, &[&t.pid_s(), "0", &s(a.uid), "1", "1", &s(SUB), "65536"]).ok();
    runx(G, &[&t.pid_s(), "0", &s(a.gid), "1"]).expect(
        1,
        &err(
            G,
            &format!(
                "gid range [0-1) -> [{}-{}) not allowed: not within your ranges in /etc/subgid",
                a.gid,
                a.gid + 1
            ),
        ),
    );
    runx(G, &[&t.pid_s(), "0", &s(x), "1"]).ok();
    assert_eq!(t.read("setgroups"), "deny\n");
    assert_eq!(t.map("gid_map"), format!("0 {x} 1"));
}

// ---------------------------------------------------------------- hygiene (A9, A10, A14, A15)

/// Cases C68; A14 of docs/cases/newidmap.md.
#[test]
fn argv0_is_never_echoed() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let r = Run::new(&a)
        .etc(&etc)
        .script("exec -a $'/x/31000\\nEVIL' \"$N\" -1 0 0 1", &[]);
    r.expect(
        1,
        &err(
            N,
            "target \"-1\" is not a pid or fd:N (plain decimal numbers only)",
        ),
    );
}

/// Cases A15 of docs/cases/newidmap.md.
#[test]
fn no_new_privs_is_named() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let msg = "running under no_new_privs: setuid and file capabilities are ignored, so this helper has no privilege (run it outside NoNewPrivileges=/no-new-privileges, or write the map yourself)";
    Run::new(&a)
        .etc(&etc)
        .nnp()
        .cmd(&helper(N), &[&t.pid_s(), "0", &s(a.uid), "1"])
        .expect(1, &err(N, msg));
    Run::new(&a)
        .etc(&etc)
        .nnp()
        .cmd(&helper(G), &[&t.pid_s(), "0", &s(a.gid), "1"])
        .expect(1, &err(G, msg));
    assert_eq!(t.map("uid_map"), "");
}

#[test]
fn file_capabilities_install_works() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let t = Proc::spawn(&a, Ns::New, None);
    let fc = |name: &str| prefix().join("fcaps").join(name);
    Run::new(&a)
        .etc(&etc)
        .cmd(
            &fc(N),
            &[&t.pid_s(), "0", &s(a.uid), "1", "1", &s(SUB), "65536"],
        )
        .ok();
    Run::new(&a)
        .etc(&etc)
        .cmd(
            &fc(G),
            &[&t.pid_s(), "0", &s(a.gid), "1", "1", &s(SUB), "65536"],
        )
        .ok();
    assert_eq!(t.map("uid_map"), format!("0 {} 1\n1 {SUB} 65536", a.uid));
    assert_eq!(t.map("gid_map"), format!("0 {} 1\n1 {SUB} 65536", a.gid));
}

#[test]
fn not_installed_privileged_says_how_to_fix() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let dir = tempdir("plain");
    let plain = dir.join(N);
    std::fs::copy(helper(N), &plain).unwrap();
    sh(&format!("chmod 0755 {}", plain.display()));
    let t = Proc::spawn(&a, Ns::New, None);
    Run::new(&a).etc(&etc).cmd(&plain, &[&t.pid_s(), "0", &s(a.uid), "1"]).expect(
        1,
        &err(N, "this helper has no privilege: install it setuid root (chown root:root; chmod 4755) or with file capabilities (setcap cap_setuid+ep)"),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cases C5; A9, A10 of docs/cases/newidmap.md.
#[test]
fn fd_targets_must_be_process_directories_or_pidfds() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let uid = s(a.uid);
    // A /proc/<pid> directory fd opened by the caller.
    let t = Proc::spawn(&a, Ns::New, None);
    Run::new(&a)
        .etc(&etc)
        .script(
            "exec 5</proc/$1 && exec \"$N\" fd:5 0 \"$2\" 1",
            &[&t.pid_s(), &uid],
        )
        .ok();
    assert_eq!(t.map("uid_map"), format!("0 {} 1", a.uid));
    // A real pidfd.
    let t = Proc::spawn(&a, Ns::New, None);
    let py = "import os,sys; fd=os.pidfd_open(int(sys.argv[1])); os.set_inheritable(fd, True); os.execv(os.environ['N'], ['x', 'fd:%d' % fd, '0', sys.argv[2], '1'])";
    Run::new(&a)
        .etc(&etc)
        .script(
            "exec python3 -c \"$1\" \"$2\" \"$3\"",
            &[py, &t.pid_s(), &uid],
        )
        .ok();
    assert_eq!(t.map("uid_map"), format!("0 {} 1", a.uid));
    // Things that are not a process directory.
    let t = Proc::spawn(&a, Ns::New, None);
    let bad = |open: &str, msg: &str| {
        Run::new(&a)
            .etc(&etc)
            .script(
                &format!("{open} && exec \"$N\" fd:5 0 \"$2\" 1"),
                &[&t.pid_s(), &uid],
            )
            .expect(1, &err(N, msg));
    };
    bad("exec 5</proc", "fd:5 is not a /proc/<pid> directory");
    bad(
        "exec 5</proc/sys/kernel",
        "fd:5 is not a /proc/<pid> directory",
    );
    bad(
        "exec 5</proc/$1/task/$1",
        &format!(
            "the descriptor is not the /proc/{} directory of this /proc",
            t.pid
        ),
    );
    bad(
        "exec 5</etc/passwd",
        "fd:5 is neither a pidfd nor a /proc/<pid> directory",
    );
    // shadow PR #667: a user-made directory with a uid_map symlink to a root file.
    bad(
        "D=$(mktemp -d) && ln -s /etc/shadow $D/uid_map && echo 'Tgid: 1' > $D/status && exec 5<$D",
        "fd:5 is neither a pidfd nor a /proc/<pid> directory",
    );
    bad("true", "fd:5 is not an open descriptor");
    // A pidfd whose process has exited and been reaped: pid reuse cannot redirect the write.
    let py = "import os,sys; pid=os.fork()\nif pid==0: os._exit(0)\nfd=os.pidfd_open(pid); os.waitpid(pid,0); os.set_inheritable(fd, True); os.execv(os.environ['N'], ['x', 'fd:%d' % fd, '0', sys.argv[1], '1'])";
    let r = Run::new(&a)
        .etc(&etc)
        .script("exec python3 -c \"$1\" \"$2\"", &[py, &uid]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .ends_with(": the process has exited or is in another pid namespace\n")
            && r.stderr.starts_with("burrow-newuidmap: fd:"),
        "{}",
        r.stderr
    );
    assert_eq!(t.map("uid_map"), "");
}

/// Cases A8 of docs/cases/newidmap.md.
#[test]
fn a_thread_is_not_a_process() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let py = "import threading,time,os\nthreading.Thread(target=lambda: time.sleep(600), daemon=True).start()\nos.execvp('sleep',['sleep','600']) if False else time.sleep(600)";
    let t = Proc::spawn_cmd(&a, None, &["unshare", "-U", "--"], &["python3", "-c", py]);
    let tid = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let tids: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", t.pid))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|x| *x != t.pid_s())
                .collect();
            if let Some(x) = tids.first() {
                break x.clone();
            }
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    run(N, &a, &etc, &[&tid, "0", &s(a.uid), "1"])
        .expect(1, &err(N, &format!("{tid} is a thread, not a process")));
}

#[test]
fn every_decision_is_logged_to_syslog() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let sink = SyslogSink::new();
    let t = Proc::spawn(&a, Ns::New, None);
    let r = Run::new(&a).etc(&etc).devlog(&sink.path());
    r.cmd(
        &helper(N),
        &[&t.pid_s(), "0", &s(a.uid), "1", "1", &s(SUB), "65536"],
    )
    .ok();
    r.cmd(&helper(G), &[&t.pid_s(), "0", &s(a.gid), "1"]).ok();
    let t2 = Proc::spawn(&a, Ns::New, None);
    r.cmd(&helper(N), &[&t2.pid_s(), "0", "0", "1"]).expect(
        1,
        &err(
            N,
            "uid range [0-1) -> [0-1) not allowed: host uid 0 cannot be mapped",
        ),
    );
    let logs = sink.drain();
    assert_eq!(logs.len(), 3, "{logs:?}");
    // <prio> = facility auth (4) * 8 + severity: notice (5) = 37, warning (4) = 36.
    let body = |l: &str| {
        l.split_once("]: ")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    };
    assert!(
        logs[0].starts_with("<37>") && logs[0].contains("burrow-newuidmap["),
        "{}",
        logs[0]
    );
    assert_eq!(
        body(&logs[0]),
        format!(
            "uid={} gid={}: allowed: pid={} uid_map=[0 {} 1, 1 {SUB} 65536] (/etc/subuid)",
            a.uid, a.gid, t.pid, a.uid
        )
    );
    assert!(
        logs[1].starts_with("<37>") && logs[1].contains("burrow-newgidmap["),
        "{}",
        logs[1]
    );
    assert_eq!(
        body(&logs[1]),
        format!(
            "uid={} gid={}: allowed: pid={} gid_map=[0 {} 1] (own id, setgroups=deny)",
            a.uid, a.gid, t.pid, a.gid
        )
    );
    assert!(logs[2].starts_with("<36>"), "{}", logs[2]);
    assert_eq!(
        body(&logs[2]),
        format!("uid={} gid={}: refused: uid range [0-1) -> [0-1) not allowed: host uid 0 cannot be mapped", a.uid, a.gid)
    );
}

/// Cases A14 of docs/cases/newidmap.md.
#[test]
fn file_size_limit_zero_and_sigxfsz_do_not_break_the_helper() {
    require!();
    let a = user_a();
    let etc = std_etc(&a);
    let can_raise = setuid_root_can_raise_rlimits();
    for (pre, wrap, hard_zero) in HOSTILE_FSIZE {
        let t = Proc::spawn(&a, Ns::New, None);
        // The map is written; then a refusal (already mapped) is written whole to a file on
        // stderr, where a file size limit of 0 would have raised SIGXFSZ mid-message.
        let r = Run::new(&a).etc(&etc).script(
            &format!(
                "{pre}\nd=$(mktemp -d) || exit 90\n{wrap} \"$1\" \"$2\" 0 \"$3\" 1 2>$d/e1; echo rc=$?; cat $d/e1\n{wrap} \"$1\" \"$2\" 0 \"$3\" 1 2>$d/e2; echo rc=$?; cat $d/e2; rm -rf $d"
            ),
            &[helper(N).to_str().unwrap(), &t.pid_s(), &s(a.uid)],
        );
        let refusal = err(
            N,
            &format!(
                "process {} already has a uid_map (it can be written only once)",
                t.pid
            ),
        );
        // When the hard limit is 0 and cannot be raised, the message cannot reach a file, but
        // the helper still exits 1 (no death by SIGXFSZ, status 153).
        let second = if !hard_zero || can_raise {
            refusal.as_str()
        } else {
            ""
        };
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (Some(0), format!("rc=0\nrc=1\n{second}").as_str(), ""),
            "{pre} {wrap}"
        );
        assert_eq!(t.map("uid_map"), format!("0 {} 1", a.uid), "{pre} {wrap}");
    }
}
