//! burrow-nic against the real kernel: real veths on test bridges (the exact output line, MTU,
//! alias tag, quota, delete), and a quota that holds under parallel creates, SIGKILL and a
//! hostile file size limit. Cases: see the doc comment of each test and
//! docs/cases/burrow-nic.md; fixtures in `tests/src/nic_fixture.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;

// --------------------------------------------------------------------------------- real veths

/// Cases C2, C3, C4, C6, C10, C16, C25, C26, C30; A8, A9 of docs/cases/burrow-nic.md.
#[test]
fn create_makes_real_veths_with_the_exact_line_and_keeps_the_quota() {
    require!();
    // Users of their own: the tagged-link counts below must not see other tests.
    let a = TestUser::get("nr");
    let br = test_bridge("q", 1400);
    let etc = Etc::new().usernet(&format!("{0} veth {1} 2\n{0} veth none 1\n", a.name, br.0));
    let t = own_netns(&a);
    let pid = t.pid_s();
    let before = tagged_links(a.uid);
    // C2: the LXC line, nothing on stderr.
    let r = nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0, "eth0"],
    );
    r.expect(0, "");
    let (cname, cidx, host, hidx) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "eth0");
    let first_host = host.clone();
    assert_eq!(sys_net(&host, "ifindex"), hidx.to_string());
    assert_eq!(sys_net(&host, "mtu"), "1400");
    assert_eq!(
        sys_net(&host, "ifalias"),
        format!("burrow-nic {} {} veth {}", a.uid, a.name, br.0)
    );
    let master = std::fs::read_link(format!("/sys/class/net/{host}/master")).unwrap();
    assert_eq!(master.file_name().unwrap().to_str().unwrap(), br.0);
    let inside = links_in(t.pid);
    assert!(inside.contains(&format!("{cidx}: eth0@")), "{inside}");
    assert!(inside.contains("mtu 1400"), "{inside}");
    // C16: a name that exists in the container: refused, and no pair is left behind.
    let r = nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0, "eth0"],
    );
    r.expect(
        1,
        &err("a link named \"eth0\" already exists in the target network namespace"),
    );
    assert_eq!(tagged_links(a.uid).len(), before.len() + 1);
    // C3: no name: the kernel's eth%d.
    let r = nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0],
    );
    r.expect(0, "");
    let (cname, _, _, _) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "eth1");
    // Quota 2 on the bridge is reached; `none` has its own count (C10).
    nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0, "net%d"],
    )
    .expect(
        1,
        &err(&format!(
            "quota reached: user {} has 2 of 2 veth nics allowed on bridge {}",
            a.name, br.0
        )),
    );
    // C6: bridge none: unattached, MTU 1500.
    let r = nic(
        &a,
        &etc,
        &[
            "create",
            "/dev/null",
            "dummy",
            &pid,
            "veth",
            "none",
            "net%d",
        ],
    );
    r.expect(0, "");
    let (cname, _, host, _) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "net0");
    assert_eq!(sys_net(&host, "mtu"), "1500");
    assert!(!std::path::Path::new(&format!("/sys/class/net/{host}/master")).exists());
    // Delete (C25, C26, C30, A8): another user, a wrong bridge or type, or a name that is
    // not a nic of the caller all get the same answer; the owner's delete works for a Linux
    // bridge port and removes the pair.
    let b = user_b();
    let netns_a = format!("/proc/{}/ns/net", t.pid);
    let own_b = own_netns(&b);
    let netns_b = format!("/proc/{}/ns/net", own_b.pid);
    let etc_b = etc_for(&b);
    let no = |h: &str, br: &str| {
        err(&format!(
            "you have no nic {h} of type veth on bridge {br} in that network namespace"
        ))
    };
    nic(
        &b,
        &etc_b,
        &[
            "delete",
            "/dev/null",
            "dummy",
            &netns_b,
            "veth",
            &br.0,
            &first_host,
        ],
    )
    .expect(1, &no(&first_host, &br.0));
    nic(
        &a,
        &etc,
        &[
            "delete",
            "/dev/null",
            "dummy",
            &netns_a,
            "veth",
            "none",
            &first_host,
        ],
    )
    .expect(1, &no(&first_host, "none"));
    nic(
        &a,
        &etc,
        &[
            "delete",
            "/dev/null",
            "dummy",
            &netns_a,
            "veth",
            &br.0,
            &br.0,
        ],
    )
    .expect(1, &no(&br.0, &br.0));
    let r = nic(
        &a,
        &etc,
        &[
            "delete",
            "/dev/null",
            "dummy",
            &netns_a,
            "veth",
            &br.0,
            &first_host,
        ],
    );
    r.ok();
    assert!(!std::path::Path::new(&format!("/sys/class/net/{first_host}")).exists());
    nic(
        &a,
        &etc,
        &[
            "delete",
            "/dev/null",
            "dummy",
            &netns_a,
            "veth",
            &br.0,
            &first_host,
        ],
    )
    .expect(1, &no(&first_host, &br.0));
    let r = nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0, "eth2"],
    );
    r.expect(0, "");
    // check and list see them.
    let r = nic(&a, &etc, &["check", "veth", &br.0]);
    r.expect(0, "");
    assert_eq!(
        r.stdout,
        format!("veth {} allowed=2 used=2 remaining=0\n", br.0)
    );
    let r = nic(&a, &etc, &["list"]);
    r.expect(0, "");
    assert_eq!(
        r.stdout.lines().filter(|l| l.contains(&br.0)).count(),
        2,
        "{}",
        r.stdout
    );
    // The nics die with the netns, and stop counting.
    drop(t);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tagged_links(a.uid).len() > before.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "veths outlived their netns"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Cases C18, C19; A5 of docs/cases/burrow-nic.md.
#[test]
fn only_existing_linux_bridges_are_attached_to() {
    require!();
    let a = user_a();
    let br = test_bridge("n", 1500);
    let missing = format!("{}x", br.0);
    let etc = Etc::new().usernet(&format!("{0} veth lo 1\n{0} veth {1} 1\n", a.name, missing));
    let t = own_netns(&a);
    let before = tagged_links(a.uid);
    create(&a, &etc, &t.pid_s(), "lo").expect(
        1,
        &err("lo is not a Linux bridge; refusing to attach to it"),
    );
    create(&a, &etc, &t.pid_s(), &missing)
        .expect(1, &err(&format!("bridge {missing} does not exist")));
    assert_eq!(tagged_links(a.uid), before);
}

/// Cases A10 of docs/cases/burrow-nic.md.
#[test]
fn lock_file_is_root_root_whatever_the_callers_group() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let t = own_netns(&a);
    create(&a, &etc, &t.pid_s(), "br0").expect(1, NOT_YET);
    use std::os::unix::fs::MetadataExt;
    let d = std::fs::symlink_metadata("/run/burrow").unwrap();
    let f = std::fs::symlink_metadata("/run/burrow/nic.lock").unwrap();
    assert_eq!((d.uid(), d.gid(), d.mode() & 0o7777), (0, 0, 0o755));
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (0, 0, 0o600));
}

/// Cases C32; A6 of docs/cases/burrow-nic.md.
#[test]
fn quota_holds_under_parallel_creates() {
    require!();
    let a = TestUser::get("np");
    let br = test_bridge("p", 1500);
    let etc = Etc::new().usernet(&format!("{} veth {} 5\n", a.name, br.0));
    let t = own_netns(&a);
    // 100 creates at once into one netns: exactly 5 succeed, the rest are refused by quota.
    let r = Run::new(&a).etc(&etc).script(
        "pids=(); for i in $(seq 100); do \"$1\" create /dev/null dummy \"$2\" veth \"$3\" \"n$i\" >/dev/null 2>&1 & pids+=($!); done; ok=0; for j in \"${pids[@]}\"; do wait $j && ok=$((ok+1)); done; echo $ok",
        &[helper(NIC).to_str().unwrap(), &t.pid_s(), &br.0],
    );
    assert_eq!((r.code, r.stdout.trim()), (Some(0), "5"), "{}", r.stderr);
    let ports = std::fs::read_dir(format!("/sys/class/net/{}/brif", br.0))
        .unwrap()
        .count();
    assert_eq!(ports, 5);
}

/// Cases C22, C33; A6 of docs/cases/burrow-nic.md.
#[test]
fn sigkill_mid_create_never_exceeds_the_quota_and_is_reconciled() {
    require!();
    let a = TestUser::get("nk");
    let br = test_bridge("k", 1500);
    let etc = Etc::new().usernet(&format!("{} veth {} 3\n", a.name, br.0));
    let t = own_netns(&a);
    // Kill the helper (as its caller may: it runs with the caller's uids) at varying points.
    let r = Run::new(&a).etc(&etc).script(
        "for i in $(seq 60); do \"$1\" create /dev/null dummy \"$2\" veth \"$3\" \"k$i\" >/dev/null 2>&1 & p=$!; sleep 0.00$((RANDOM % 10)); kill -9 $p 2>/dev/null; wait $p 2>/dev/null; done; \"$1\" create /dev/null dummy \"$2\" veth \"$3\" last >/dev/null 2>&1; exit 0",
        &[helper(NIC).to_str().unwrap(), &t.pid_s(), &br.0],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let ports: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{}/brif", br.0))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(ports.len() <= 3, "{ports:?}");
    for p in &ports {
        assert_eq!(
            sys_net(p, "ifalias"),
            format!("burrow-nic {} {} veth {}", a.uid, a.name, br.0)
        );
    }
    // The last create reconciled: no untagged host end of this user is left.
    let untagged: Vec<String> = tagged_links(a.uid)
        .into_iter()
        .filter(|n| sys_net(n, "ifalias").is_empty())
        .collect();
    assert!(untagged.is_empty(), "{untagged:?}");
}

// ------------------------------------------------------------------- caller-set process state

/// Cases C22; A6 of docs/cases/burrow-nic.md.
#[test]
fn file_size_limit_zero_and_sigxfsz_do_not_break_create_or_accounting() {
    require!();
    let a = TestUser::get("nf");
    let br = test_bridge("f", 1500);
    let can_raise = setuid_root_can_raise_rlimits();
    let works = |hard_zero: bool| !hard_zero || can_raise;
    let quota = HOSTILE_FSIZE.iter().filter(|h| works(h.2)).count();
    let etc = Etc::new().usernet(&format!("{} veth {} {quota}\n", a.name, br.0));
    let t = own_netns(&a);
    let before = tagged_links(a.uid);
    // stdout goes to a file: with RLIMIT_FSIZE 0 the helper's one write would raise SIGXFSZ
    // (death after the veth exists) unless sanitize lifted the limit. When the hard limit is
    // 0 and cannot be raised, the helper must refuse before doing anything, and not die.
    let run = |pre: &str, wrap: &str, name: &str, err_to: &str| {
        Run::new(&a).etc(&etc).script(
            &format!(
                "{pre}\nd=$(mktemp -d) || exit 90\n{wrap} \"$1\" create /dev/null dummy \"$2\" veth \"$3\" \"$4\" >$d/out {err_to}\necho rc=$?; cat $d/out; echo --; cat $d/err 2>/dev/null; rm -rf $d"
            ),
            &[helper(NIC).to_str().unwrap(), &t.pid_s(), &br.0, name],
        )
    };
    let mut made = 0;
    for (i, (pre, wrap, hard_zero)) in HOSTILE_FSIZE.iter().enumerate() {
        let r = run(pre, wrap, &format!("f{i}"), "");
        let what = format!("{pre} {wrap}: {r:?}");
        assert_eq!(r.code, Some(0), "{what}");
        let (status, rest) = r.stdout.split_once('\n').unwrap();
        let (out, _) = rest.split_once("--\n").unwrap();
        if works(*hard_zero) {
            assert_eq!((status, r.stderr.as_str()), ("rc=0", ""), "{what}");
            let (cname, _, host, _) = parse_line(out, a.uid);
            assert_eq!(cname, format!("f{i}"));
            assert_eq!(
                sys_net(&host, "ifalias"),
                format!("burrow-nic {} {} veth {}", a.uid, a.name, br.0)
            );
            made += 1;
        } else {
            assert_eq!((status, out), ("rc=1", ""), "{what}");
            assert_eq!(
                r.stderr,
                err("standard output is a file that the file size limit (ulimit -f) leaves no room in for the result; nothing was done"),
                "{what}"
            );
        }
        // Exact accounting: one more tagged nic per successful create, nothing else.
        assert_eq!(tagged_links(a.uid).len(), before.len() + made, "{what}");
    }
    assert_eq!(made, quota);
    // The quota is reached, and the refusal reaches its file (stderr) whole.
    for (pre, wrap, hard_zero) in HOSTILE_FSIZE {
        if !works(hard_zero) {
            continue;
        }
        let r = run(pre, wrap, "over", "2>$d/err");
        assert_eq!(
            r.stdout,
            format!(
                "rc=1\n--\n{}",
                err(&format!(
                    "quota reached: user {} has {quota} of {quota} veth nics allowed on bridge {}",
                    a.name, br.0
                ))
            ),
            "{pre} {wrap}: {}",
            r.stderr
        );
    }
    assert_eq!(tagged_links(a.uid).len(), before.len() + quota);
    let ports = std::fs::read_dir(format!("/sys/class/net/{}/brif", br.0))
        .unwrap()
        .count();
    assert_eq!(ports, quota);
}
