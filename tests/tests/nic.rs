//! burrow-nic against the real kernel, as unprivileged test users.
//!
//! Each test names what it covers in ../shared/specs/lxc-user-nic.md: "row N" for the table of
//! §7 (lxc-user-nic's observed behaviour) and "adv N" for the adversarial list of §8. The
//! expected stderr is exact. Every test runs with a private /etc (see harness `Etc`), so
//! /etc/burrow/usernet is exactly what the test says.
//!
//! Most tests name the bridge `br0`, which does not exist: an allowed create then ends with
//! "bridge br0 does not exist", which proves every check before it passed. The tests that
//! create veths make their own bridge (`Bridge`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;

const NIC: &str = "burrow-nic";
const USAGE: &str = "usage: burrow-nic create [--json] LXCPATH NAME PID TYPE BRIDGE [NICNAME]
       burrow-nic delete LXCPATH NAME NETNS-PATH TYPE BRIDGE [HOSTNIC]
       burrow-nic check [--json] [TYPE BRIDGE]
       burrow-nic list [--json]
";
const NOT_YET: &str = "burrow-nic: bridge br0 does not exist\n";

fn user_a() -> TestUser {
    TestUser::get("a")
}

fn user_b() -> TestUser {
    TestUser::get("b")
}

fn etc_for(a: &TestUser) -> Etc {
    Etc::new().usernet(&format!(
        "# USER TYPE BRIDGE COUNT\n{} veth br0 2\n",
        a.name
    ))
}

fn nic(u: &TestUser, etc: &Etc, args: &[&str]) -> Ran {
    Run::new(u).etc(etc).cmd(&helper(NIC), args)
}

fn err(msg: &str) -> String {
    format!("{NIC}: {msg}\n")
}

/// A sleeping process of `u` in a new user and network namespace (`unshare -Urn`).
fn own_netns(u: &TestUser) -> Proc {
    Proc::spawn_cmd(u, None, &["unshare", "-Urn", "--"], &["sleep", "600"])
}

fn create(u: &TestUser, etc: &Etc, pid: &str, bridge: &str) -> Ran {
    nic(
        u,
        etc,
        &["create", "/dev/null", "dummy", pid, "veth", bridge, "eth0"],
    )
}

fn pid_max() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn free_pid() -> u32 {
    (300..pid_max())
        .rev()
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

// ------------------------------------------------------------------ command line (row 1, 14)

#[test]
fn row01_usage_errors() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let usage = |msg: &str| format!("{NIC}: {msg}\n{USAGE}");
    nic(&a, &etc, &[]).expect(1, &usage("missing command"));
    nic(&a, &etc, &["frob"]).expect(1, &usage("unknown command \"frob\""));
    nic(&a, &etc, &["create", "/dev/null", "dummy", "1", "veth"])
        .expect(1, &usage("create takes 5 or 6 arguments, not 4"));
    nic(
        &a,
        &etc,
        &[
            "create",
            "/dev/null",
            "dummy",
            "1",
            "veth",
            "br0",
            "eth0",
            "x",
        ],
    )
    .expect(1, &usage("create takes 5 or 6 arguments, not 7"));
    nic(&a, &etc, &["delete", "a"]).expect(1, &usage("delete takes 5 or 6 arguments, not 1"));
    nic(&a, &etc, &["check", "--bogus"]).expect(1, &usage("unknown option \"--bogus\""));
    nic(&a, &etc, &["list", "x"]).expect(1, &usage("list takes no arguments besides --json"));
    let r = nic(&a, &etc, &["--help"]);
    r.expect(0, "");
    assert_eq!(r.stdout, USAGE);
}

#[test]
fn row14_adv1_strict_pids() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    for pid in ["abc", "0x2781", "010", "-1", "+1", "99999999999999999999"] {
        create(&a, &etc, pid, "br0").expect(
            1,
            &err(&format!(
                "invalid pid {pid:?}: expected a decimal process id or fd:N"
            )),
        );
    }
    let max = pid_max();
    let range = format!("1 to {}", max - 1);
    create(&a, &etc, "0", "br0").expect(1, &err(&format!("pid 0 is out of range ({range})")));
    create(&a, &etc, &max.to_string(), "br0")
        .expect(1, &err(&format!("pid {max} is out of range ({range})")));
    let free = free_pid();
    create(&a, &etc, &free.to_string(), "br0")
        .expect(1, &err(&format!("no process with pid {free}")));
}

#[test]
fn adv4_adv5_names_type_and_bridge_are_validated_first() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let t = own_netns(&a);
    let pid = t.pid_s();
    let c = |ty: &str, br: &str, name: &str| {
        nic(
            &a,
            &etc,
            &["create", "/dev/null", "dummy", &pid, ty, br, name],
        )
    };
    c("macvlan", "br0", "eth0")
        .expect(1, &err("type \"macvlan\" is not supported (only \"veth\")"));
    c("veth", "eth0:1", "eth0").expect(1, &err("bridge: interface name \"eth0:1\" contains ':'"));
    c("veth", "br/0", "eth0").expect(1, &err("bridge: interface name \"br/0\" contains '/'"));
    // Spec rows 5, 16-17: LXC leaks the veth pair on these; here nothing is even attempted.
    c("veth", "br0", "").expect(1, &err("container nic name: interface name is empty"));
    c("veth", "br0", "abcdefghijklmnopq").expect(
        1,
        &err("container nic name: interface name \"abcdefghijklmnopq\" is 17 bytes long (at most 15)"),
    );
    c("veth", "br0", "a/b").expect(
        1,
        &err("container nic name: interface name \"a/b\" contains '/'"),
    );
    c("veth", "br0", "a:b").expect(
        1,
        &err("container nic name: interface name \"a:b\" contains ':'"),
    );
    c("veth", "br0", "..").expect(
        1,
        &err("container nic name: interface name \"..\" is not allowed"),
    );
    c("veth", "br0", "a b").expect(
        1,
        &err("container nic name: interface name \"a b\" contains whitespace"),
    );
    c("veth", "br0", "e%s").expect(
        1,
        &err("container nic name: interface name \"e%s\" contains '%' other than one \"%d\""),
    );
    // And the valid request passes every check.
    c("veth", "br0", "net%d").expect(1, NOT_YET);
}

// ------------------------------------------------------------------- targets (rows 8, 12, 15)

#[test]
fn row12_adv1_targets_the_caller_does_not_own() {
    require!();
    let a = user_a();
    let b = user_b();
    let etc = etc_for(&a);
    // Another user's container-like process, root's process, pid 1.
    let other = own_netns(&b);
    for pid in [other.pid_s(), "1".to_owned()] {
        create(&a, &etc, &pid, "br0").expect(
            1,
            &err(&format!(
                "you may not access the network namespace of process {pid}"
            )),
        );
    }
    let roots = Proc::spawn(&TestUser::root(), Ns::Init, None);
    create(&a, &etc, &roots.pid_s(), "br0").expect(
        1,
        &err(&format!(
            "you may not access the network namespace of process {}",
            roots.pid
        )),
    );
}

#[test]
fn row15_adv1_own_process_in_the_host_netns_is_refused_before_anything() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let host = Proc::spawn(&a, Ns::Init, None);
    let msg = |pid: u32| {
        err(&format!("the network namespace of process {pid} belongs to your own user namespace (the host's): only a network namespace created inside a user namespace you own can get a nic"))
    };
    create(&a, &etc, &host.pid_s(), "br0").expect(1, &msg(host.pid));
    // A new user namespace without a new network namespace: still the host's netns.
    let userns_only = Proc::spawn(&a, Ns::SelfMapped, None);
    create(&a, &etc, &userns_only.pid_s(), "br0").expect(1, &msg(userns_only.pid));
}

#[test]
fn row08_owned_netns_nested_and_by_fd_pass() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let t = own_netns(&a);
    create(&a, &etc, &t.pid_s(), "br0").expect(1, NOT_YET);
    // A netns owned by a user namespace nested in one the caller created.
    let nested = Proc::spawn_cmd(
        &a,
        None,
        &["unshare", "-Ur", "--", "unshare", "-Urn", "--"],
        &["sleep", "600"],
    );
    create(&a, &etc, &nested.pid_s(), "br0").expect(1, NOT_YET);
    // fd:N with a /proc/<pid> directory.
    let r = Run::new(&a).etc(&etc).script(
        "exec 5</proc/$1 && exec \"$2\" create /dev/null dummy fd:5 veth br0 eth0",
        &[&t.pid_s(), helper(NIC).to_str().unwrap()],
    );
    r.expect(1, NOT_YET);
}

// ------------------------------------------------------------------- policy (§3, rows 9-11, 20, 24)

#[test]
fn row09_no_entry_and_quota_are_distinct_messages() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let t = own_netns(&a);
    create(&a, &etc, &t.pid_s(), "br1").expect(
        1,
        &err(&format!(
            "no entry in /etc/burrow/usernet allows user {} a veth on bridge br1",
            a.name
        )),
    );
    let zero = Etc::new().usernet(&format!("{} veth br0 0\n", a.name));
    create(&a, &zero, &t.pid_s(), "br0").expect(
        1,
        &err(&format!(
            "quota reached: user {} has 0 of 0 veth nics allowed on bridge br0",
            a.name
        )),
    );
}

#[test]
fn row20_adv7_group_lines_of_other_groups_do_not_crash() {
    require!();
    let a = user_a();
    let etc = Etc::new().usernet(&format!(
        "@burrowt-nogroup veth br0 1\n@root veth br0 1\n{} veth br0 1\n",
        a.name
    ));
    let t = own_netns(&a);
    create(&a, &etc, &t.pid_s(), "br0").expect(1, NOT_YET);
}

#[test]
fn row24_adv7_bad_config_lines_are_errors_with_line_numbers() {
    require!();
    let a = user_a();
    let t = own_netns(&a);
    let cases: &[(&str, &str)] = &[
        (
            "# header\n alice veth br0 1\n",
            "/etc/burrow/usernet: line 2: starts with whitespace (lxc-user-nic ignores such a line; remove the indentation)",
        ),
        (
            "alice veth br0 -1\n",
            "/etc/burrow/usernet: line 1: count \"-1\" is not a decimal number from 0 to 65535",
        ),
        (
            "alice veth br0 0x10\n",
            "/etc/burrow/usernet: line 1: count \"0x10\" is not a decimal number from 0 to 65535",
        ),
        (
            "alice veth br0\n",
            "/etc/burrow/usernet: line 1: expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found 3",
        ),
        (
            "@ veth br0 1\n",
            "/etc/burrow/usernet: line 1: owner \"@\" names no group",
        ),
        (
            "alice veth br0 1\nalice veth br0 2\n",
            "/etc/burrow/usernet: line 2: same owner, type and bridge as line 1 (merge the two lines)",
        ),
    ];
    for (text, want) in cases {
        let etc = Etc::new().usernet(text);
        create(&a, &etc, &t.pid_s(), "br0").expect(1, &err(want));
        nic(&a, &etc, &["check"]).expect(1, &err(want));
    }
}

#[test]
fn adv10_config_file_must_be_root_owned_and_present() {
    require!();
    let a = user_a();
    let missing = Etc::new();
    nic(&a, &missing, &["check"]).expect(
        1,
        &err("/etc/burrow/usernet does not exist: no user may create nics"),
    );
    let text = format!("{} veth br0 1\n", a.name);
    let writable = Etc::new().usernet(&text);
    std::fs::set_permissions(
        writable.path().join("burrow/usernet"),
        std::os::unix::fs::PermissionsExt::from_mode(0o664),
    )
    .unwrap();
    nic(&a, &writable, &["check"]).expect(
        1,
        &err("/etc/burrow/usernet is writable by group or others (mode 0664); refusing it"),
    );
    let owned = Etc::new()
        .usernet("")
        .file_mode("burrow/usernet", &text, 0o644, a.uid);
    nic(&a, &owned, &["check"]).expect(
        1,
        &err(&format!(
            "/etc/burrow/usernet is owned by uid {}, not root; refusing it",
            a.uid
        )),
    );
    let link = Etc::new()
        .usernet("")
        .file("burrow/real", &text)
        .symlink("burrow/usernet", "real");
    nic(&a, &link, &["check"]).expect(
        1,
        &err("/etc/burrow/usernet is a symlink or under one; refusing it (it must be a regular root-owned file)"),
    );
}

#[test]
fn check_reports_allowances_text_and_json() {
    require!();
    let a = user_a();
    a.aux_group("nicg");
    let etc = Etc::new().usernet(&format!(
        "{0} veth br0 2\n@burrowt-nicg veth br0 3\n@burrowt-nicg veth none 1\n{0} veth nb%u 1\n@burrowt-nogroup veth br9 7\n",
        a.name
    ));
    let r = nic(&a, &etc, &["check"]);
    r.expect(0, "");
    assert_eq!(
        r.stdout,
        format!(
            "veth br0 allowed=5 used=0 remaining=5\nveth none allowed=1 used=0 remaining=1\nveth nb{0} allowed=1 used=0 remaining=1\n",
            a.uid
        )
    );
    let r = nic(&a, &etc, &["check", "--json", "veth", "nb%u"]);
    r.expect(0, "");
    assert_eq!(
        r.stdout,
        format!(
            "{{\"user\":\"{}\",\"uid\":{1},\"allowances\":[{{\"type\":\"veth\",\"bridge\":\"nb{1}\",\"allowed\":1,\"used\":0,\"remaining\":1}}]}}\n",
            a.name, a.uid
        )
    );
    nic(&a, &etc, &["check", "veth", "br9"]).expect(
        1,
        &err(&format!(
            "no entry in /etc/burrow/usernet allows user {} a veth on bridge br9",
            a.name
        )),
    );
    // (Other tests of the same user may have nics right now.)
    let r = nic(&a, &etc, &["list", "--json"]);
    r.expect(0, "");
    assert!(
        r.stdout.starts_with('[') && r.stdout.ends_with("]\n"),
        "{}",
        r.stdout
    );
}

// ------------------------------------------------------------------- delete paths (rows 27-29)

#[test]
fn row27_adv3_delete_paths_give_one_uniform_error() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let other = own_netns(&user_b());
    let paths = [
        "/root/.nope".to_owned(),
        "/root/.bashrc".to_owned(),
        "/etc/shadow".to_owned(),
        "/etc/passwd".to_owned(),
        "/dev/null".to_owned(),
        "/proc/self/ns/user".to_owned(),
        "/proc/1/ns/net".to_owned(),
        format!("/proc/{}/ns/net", other.pid),
    ];
    for p in &paths {
        nic(
            &a,
            &etc,
            &["delete", "/dev/null", "dummy", p, "veth", "br0", "veth1_x"],
        )
        .expect(
            1,
            &err(&format!(
                "{p:?} is not a network namespace file you can open"
            )),
        );
    }
    // The caller's own (host) netns: opened, then refused as not owned.
    nic(
        &a,
        &etc,
        &["delete", "/dev/null", "dummy", "/proc/self/ns/net", "veth", "br0", "veth1_x"],
    )
    .expect(
        1,
        &err("the network namespace of \"/proc/self/ns/net\" belongs to your own user namespace (the host's): only a network namespace created inside a user namespace you own can get a nic"),
    );
    let mine = own_netns(&a);
    let p = format!("/proc/{}/ns/net", mine.pid);
    nic(
        &a,
        &etc,
        &["delete", "/dev/null", "dummy", &p, "veth", "br0", "veth1_x"],
    )
    .expect(
        1,
        &err("you have no nic veth1_x of type veth on bridge br0 in that network namespace"),
    );
}

// ------------------------------------------------------------------- hygiene

#[test]
fn no_new_privs_is_named() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    Run::new(&a).etc(&etc).nnp().cmd(&helper(NIC), &["check"]).expect(
        1,
        &err("running under no_new_privs: setuid is ignored, so this helper has no privilege (run it outside NoNewPrivileges=/no-new-privileges)"),
    );
}

#[test]
fn decisions_are_logged_to_syslog() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let t = own_netns(&a);
    let sink = SyslogSink::new();
    let r = Run::new(&a).etc(&etc).devlog(&sink.path()).cmd(
        &helper(NIC),
        &[
            "create",
            "/dev/null",
            "dummy",
            &t.pid_s(),
            "veth",
            "br0",
            "eth0",
        ],
    );
    r.expect(1, NOT_YET);
    let log = sink.drain().join("\n");
    assert!(
        log.contains(&format!(
            "uid={} gid={}: allowed: create pid={} type=veth bridge=br0 nic=eth0 owner={} (line 2, 0 of 2 in use)",
            a.uid, a.gid, t.pid, a.name
        )),
        "{log}"
    );
    assert!(log.contains("refused: bridge br0 does not exist"), "{log}");
}

#[test]
fn adv3_delete_path_forms_held_by_the_caller() {
    require!();
    let a = user_a();
    let etc = etc_for(&a);
    let mine = own_netns(&a);
    // LXC's form: a descriptor held by the caller's (dumpable) process, /proc/<pid>/fd/<n>.
    Run::new(&a)
        .etc(&etc)
        .script(
            "exec 5</proc/$1/ns/net && \"$2\" delete /dev/null dummy /proc/$$/fd/5 veth br0 veth1_x; rc=$?; exit $rc",
            &[&mine.pid_s(), helper(NIC).to_str().unwrap()],
        )
        .expect(1, &err("you have no nic veth1_x of type veth on bridge br0 in that network namespace"));
    // A FIFO of the caller is refused without being opened for reading (which would block).
    let r = Run::new(&a).etc(&etc).script(
        "d=$(mktemp -d) && mkfifo $d/f && \"$1\" delete /dev/null dummy $d/f veth br0 veth1_x; rc=$?; rm -rf $d; exit $rc",
        &[helper(NIC).to_str().unwrap()],
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.starts_with("burrow-nic: \"/tmp/")
            && r.stderr
                .ends_with("/f\" is not a network namespace file you can open\n"),
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------------------- real veths (rows 2-7, 16-19)

/// A Linux bridge in the host netns for one test (deleted on drop).
fn test_bridge(tag: &str, mtu: u32) -> LinkGuard {
    let g = LinkGuard::fresh(&format!("bnt{}{tag}", std::process::id() % 100_000));
    sh(&format!("ip link add {} mtu {mtu} type bridge", g.0));
    g
}

fn sys_net(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `container-ifname:container-ifindex:host-ifname:host-ifindex`, checked and split.
fn parse_line(out: &str, uid: u32) -> (String, u32, String, u32) {
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "{out:?}"
    );
    let f: Vec<&str> = out.trim_end().split(':').collect();
    assert_eq!(f.len(), 4, "{out:?}");
    let host = f[2].to_owned();
    let rest = host.strip_prefix(&format!("veth{uid}_")).unwrap();
    assert!(
        rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{host}"
    );
    (
        f[0].to_owned(),
        f[1].parse().unwrap(),
        host,
        f[3].parse().unwrap(),
    )
}

/// Names and indexes of the links in the netns of `pid`.
fn links_in(pid: u32) -> String {
    sh(&format!("nsenter -t {pid} -n ip -o link show"))
}

fn tagged_links(uid: u32) -> Vec<String> {
    host_veths_of(uid)
}

#[test]
fn row02_to_07_create_real_veths_with_exact_output_and_quota() {
    require!();
    // Users of their own: the tagged-link counts below must not see other tests.
    let a = TestUser::get("nr");
    let br = test_bridge("q", 1400);
    let etc = Etc::new().usernet(&format!("{0} veth {1} 2\n{0} veth none 1\n", a.name, br.0));
    let t = own_netns(&a);
    let pid = t.pid_s();
    let before = tagged_links(a.uid);
    // Row 2: the LXC line, nothing on stderr.
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
    // Row 16: a name that exists in the container: refused, and no pair is left behind.
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
    // Row 3: no name: the kernel's eth%d.
    let r = nic(
        &a,
        &etc,
        &["create", "/dev/null", "dummy", &pid, "veth", &br.0],
    );
    r.expect(0, "");
    let (cname, _, _, _) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "eth1");
    // Quota 2 on the bridge is reached; `none` has its own count (row 10).
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
    // Row 6: bridge none: unattached, MTU 1500.
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
    // Delete (row 25-26, 30, adv 8): another user, a wrong bridge or type, or a name that is
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

#[test]
fn row18_adv5_only_real_linux_bridges() {
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

#[test]
fn adv10_lock_file_is_root_root_whatever_the_callers_group() {
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

#[test]
fn adv6_quota_holds_under_parallel_creates() {
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

#[test]
fn row22_adv6_sigkill_mid_create_never_exceeds_quota_and_is_reconciled() {
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

// ------------------------------------------------------------------- LXC interop

/// A Linux bridge named `bnlx<pid % 10000>`, deleted on drop (also when the test fails).
fn lxc_bridge() -> LinkGuard {
    let g = LinkGuard::fresh(&format!("bnlx{}", std::process::id() % 10_000));
    sh(&format!("ip link add {} type bridge", g.0));
    g
}

/// A work directory removed (as root) on drop.
struct WorkDir(std::path::PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where Debian's LXC looks for its nic helper (`LIBEXECDIR/lxc/lxc-user-nic`).
const LXC_USER_NIC: &str = "/usr/libexec/lxc/lxc-user-nic";

/// `dir/rootfs`: /bin/busybox (static) plus a relative symlink per applet, owned by `u`.
fn busybox_rootfs(dir: &std::path::Path, u: &TestUser) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let r = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static is installed");
    std::fs::set_permissions(
        r.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    let applets = String::from_utf8(list.stdout).unwrap();
    for a in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::set_permissions(r.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    sh(&format!("chown -R -h {}:{} {}", u.uid, u.gid, r.display()));
    r
}

/// Runs as the user (in the private mount namespace): starts the container in the background,
/// waits until it has written its view of its links, records the host's view of the bridge
/// ports and their aliases while it runs, then lets it finish.
const LXC_SCRIPT: &str = r#"U=$1; BR=$2
export XDG_RUNTIME_DIR="$U/xdg"; mkdir -m 0700 "$XDG_RUNTIME_DIR" "$U/lxcpath" || exit 90
timeout -k 5 60 lxc-execute -P "$U/lxcpath" -n burrow-nic-lxc -f "$U/container.conf" \
  -o "$U/lxc.log" -l INFO -- /bin/sh -c \
  'ip -o link show >/tmp/links.new && mv /tmp/links.new /tmp/links; n=0; while [ ! -e /tmp/go ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done' \
  >"$U/lxc.out" 2>&1 &
lxc=$!
n=0
while [ ! -e "$U/rootfs/tmp/links" ] && [ $n -lt 600 ]; do
  kill -0 $lxc 2>/dev/null || break; sleep 0.05; n=$((n+1))
done
ip -o link show master "$BR" >"$U/host-master" 2>&1
ip -d link show >"$U/host-detail" 2>&1
touch "$U/rootfs/tmp/go"
wait $lxc
echo "lxc-rc=$?""#;

#[test]
fn lxc_unprivileged_container_gets_a_veth_through_burrow_nic() {
    require!();
    use std::os::unix::fs::PermissionsExt;
    let a = TestUser::get("nl");
    let (subuid, subgid, count) = a.ensure_real_subids();
    let count = count.min(65536);
    let br = lxc_bridge();
    // After ensure_real_subids: the private /etc has the user's ranges for newuidmap.
    let etc = Etc::new().usernet(&format!("{} veth {} 1\n", a.name, br.0));
    let sink = SyslogSink::new();
    let w = WorkDir(tempdir("lxcnic"));
    let u = w.0.join("u");
    std::fs::create_dir(&u).unwrap();
    std::fs::set_permissions(&u, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&u, Some(a.uid), Some(a.gid)).unwrap();
    let rootfs = busybox_rootfs(&u, &a);
    let conf = format!(
        "lxc.uts.name = burrow-nic-lxc\n\
         lxc.rootfs.path = dir:{rootfs}\n\
         lxc.idmap = u 0 {uid} 1\n\
         lxc.idmap = u 1 {subuid} {count}\n\
         lxc.idmap = g 0 {gid} 1\n\
         lxc.idmap = g 1 {subgid} {count}\n\
         lxc.net.0.type = veth\n\
         lxc.net.0.link = {br}\n\
         lxc.net.0.name = eth0\n\
         lxc.net.0.flags = up\n\
         lxc.mount.auto = proc:mixed sys:ro\n\
         lxc.autodev = 1\n\
         lxc.pty.max = 0\n\
         lxc.tty.max = 0\n\
         lxc.console.path = none\n\
         lxc.apparmor.profile = unconfined\n",
        rootfs = rootfs.display(),
        uid = a.uid,
        gid = a.gid,
        br = br.0,
    );
    let conf_path = u.join("container.conf");
    std::fs::write(&conf_path, conf).unwrap();
    std::os::unix::fs::chown(&conf_path, Some(a.uid), Some(a.gid)).unwrap();
    assert!(tagged_links(a.uid).is_empty(), "{:?}", tagged_links(a.uid));
    let r = Run::new(&a)
        .etc(&etc)
        .bind(&helper(NIC), std::path::Path::new(LXC_USER_NIC))
        .devlog(&sink.path())
        .script(LXC_SCRIPT, &[u.to_str().unwrap(), &br.0]);
    let read = |f: &str| std::fs::read_to_string(u.join(f)).unwrap_or_default();
    let diag = format!(
        "script: {:?} {} {}\n--- lxc.out:\n{}\n--- lxc.log:\n{}",
        r.code,
        r.stdout,
        r.stderr,
        read("lxc.out"),
        read("lxc.log")
    );
    assert_eq!(r.stdout.trim(), "lxc-rc=0", "{diag}");
    // Inside: eth0 exists and is UP.
    let inside = std::fs::read_to_string(rootfs.join("tmp/links")).unwrap_or_default();
    let eth0 = inside
        .lines()
        .find(|l| l.contains(": eth0@") || l.contains(": eth0:"))
        .unwrap_or_else(|| panic!("no eth0 inside: {inside}\n{diag}"));
    let flags = eth0.split('<').nth(1).and_then(|f| f.split('>').next());
    assert!(
        flags.is_some_and(|f| f.split(',').any(|x| x == "UP")),
        "{eth0}"
    );
    // Host, while it ran: one port of the bridge, a veth of the user's, with our tag.
    let master = read("host-master");
    let ports: Vec<&str> = master
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap())
        .collect();
    assert_eq!(ports.len(), 1, "{master}\n{diag}");
    let host = ports[0];
    assert!(host.starts_with(&format!("veth{}_", a.uid)), "{master}");
    let detail = read("host-detail");
    let block: String = detail
        .split('\n')
        .skip_while(|l| !l.contains(&format!(": {host}@")))
        .take_while({
            let mut first = true;
            move |l| std::mem::replace(&mut first, false) || l.starts_with(' ')
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("veth"), "{block}\n{detail}");
    assert!(
        block.contains(&format!(
            "alias burrow-nic {} {} veth {}",
            a.uid, a.name, br.0
        )),
        "{block}"
    );
    // Our binary ran in place of lxc-user-nic: its audit line, through the private /dev/log.
    let log = sink.drain().join("\n");
    assert!(
        log.contains(&format!(
            "uid={} gid={}: allowed: create pid=",
            a.uid, a.gid
        )) && log.contains(&format!("type=veth bridge={} nic=eth0", br.0)),
        "{log}\n{diag}"
    );
    // After the container: no veth of the user's remains (the netns is gone).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !tagged_links(a.uid).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "veths outlived the container: {:?}",
            tagged_links(a.uid)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ------------------------------------------------ per-user bridges, addressing, isolation

/// A string or number field of a flat part of burrow-nic's JSON (`"key":"v"` or `"key":7`).
fn jfield(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len();
    let rest = &json[at..];
    if let Some(r) = rest.strip_prefix('"') {
        r[..r.find('"').unwrap()].to_owned()
    } else {
        rest[..rest.find([',', '}']).unwrap()].to_owned()
    }
}

/// (address, prefix, gateway) of the "ipv4" or "ipv6" object.
fn jaddr(json: &str, fam: &str) -> (String, u32, String) {
    let at = json
        .find(&format!("\"{fam}\":{{"))
        .unwrap_or_else(|| panic!("{fam} in {json}"));
    let obj = &json[at..at + json[at..].find('}').unwrap()];
    (
        jfield(obj, "address"),
        jfield(obj, "prefix").parse().unwrap(),
        jfield(obj, "gateway"),
    )
}

fn per_user_bridge(u: &TestUser) -> LinkGuard {
    LinkGuard::per_user_bridge(u)
}

fn proc_sys(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/{path}"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Runs `script` with bash inside the netns of `pid`, as root.
fn in_netns(pid: u32, script: &str) -> std::process::Output {
    std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "bash", "-c", script])
        .output()
        .unwrap()
}

/// Gives the container end its addresses and default routes (what `burrow run` does).
fn configure_inside(pid: u32, ifname: &str, json: &str) {
    let (a4, l4, g4) = jaddr(json, "ipv4");
    let (a6, l6, g6) = jaddr(json, "ipv6");
    let out = in_netns(
        pid,
        &format!(
            "set -e; ip link set lo up; ip addr add {a4}/{l4} dev {ifname}; ip addr add {a6}/{l6} dev {ifname} nodad; ip link set {ifname} up; ip route add default via {g4}; ip -6 route add default via {g6}"
        ),
    );
    assert!(out.status.success(), "{out:?}");
}

fn wait_gone(name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} outlived its netns"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The kernel's count of packets dropped by reverse-path filtering (TcpExt IPReversePathFilter
/// in /proc/net/netstat).
fn rp_filter_drops() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == "IPReversePathFilter")
        .unwrap();
    values[i].parse().unwrap()
}

const POOLS: &str = "# test pools\nipv4 10.197.0.0/16 24\nipv6 fd42:b0:1::/48 64\n";

#[test]
fn per_user_bridge_made_on_first_use_addressed_stable_and_hardened() {
    require!();
    let a = TestUser::get("pu1");
    let br = per_user_bridge(&a);
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 3\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    let pid = t.pid_s();
    let args = |json: bool, name: &'static str, nicname: &'static str| {
        let mut v = vec!["create"];
        if json {
            v.push("--json");
        }
        v.extend_from_slice(&["/tmp", name, &pid, "veth", "burrow%u", nicname]);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |v: Vec<String>| {
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        nic(&a, &etc, &r)
    };
    let r = run(args(true, "c1", "eth0"));
    r.expect(0, "");
    let json = r.stdout.clone();
    assert!(json.ends_with("}\n") && json.lines().count() == 1, "{json}");
    assert_eq!(jfield(&json, "container_ifname"), "eth0");
    assert_eq!(jfield(&json, "bridge"), br.0);
    assert_eq!(jfield(&json, "mtu"), "1500");
    let host = jfield(&json, "host_ifname");
    assert_eq!(sys_net(&host, "ifindex"), jfield(&json, "host_ifindex"));
    let (a4, l4, g4) = jaddr(&json, "ipv4");
    let (a6, l6, g6) = jaddr(&json, "ipv6");
    assert_eq!((l4, l6), (24, 64));
    let n: u32 = g4.split('.').nth(2).unwrap().parse().unwrap();
    assert_eq!(g4, format!("10.197.{n}.1"));
    assert!(a4.starts_with(&format!("10.197.{n}.")) && a4 != g4, "{a4}");
    let v6 = |h: u16| {
        std::net::Ipv6Addr::new(0xfd42, 0xb0, 1, u16::try_from(n).unwrap(), 0, 0, 0, h).to_string()
    };
    assert_eq!(g6, v6(1));
    let host_no: u16 = a4.rsplit('.').next().unwrap().parse().unwrap();
    assert_eq!(a6, v6(host_no));
    // The bridge: made on first use, tagged, addressed, up, hardened.
    assert!(std::path::Path::new(&format!("/sys/class/net/{}/bridge", br.0)).is_dir());
    assert_eq!(
        sys_net(&br.0, "ifalias"),
        format!("burrow-nic bridge {} {n}", a.uid)
    );
    assert_eq!(proc_sys(&format!("ipv4/conf/{}/rp_filter", br.0)), "1");
    assert_eq!(proc_sys(&format!("ipv6/conf/{}/accept_ra", br.0)), "0");
    let addrs = sh(&format!("ip -o addr show dev {}", br.0));
    assert!(addrs.contains(&format!("inet {g4}/24")), "{addrs}");
    assert!(addrs.contains(&format!("inet6 {g6}/64")), "{addrs}");
    assert!(sh(&format!("ip -o link show dev {}", br.0)).contains(",UP"));
    // The host end: on the bridge, no router advertisements, no IPv6 of its own, tagged
    // with its addresses.
    let master = std::fs::read_link(format!("/sys/class/net/{host}/master")).unwrap();
    assert_eq!(master.file_name().unwrap().to_str().unwrap(), br.0);
    assert_eq!(proc_sys(&format!("ipv6/conf/{host}/accept_ra")), "0");
    assert_eq!(proc_sys(&format!("ipv6/conf/{host}/disable_ipv6")), "1");
    assert_eq!(
        sys_net(&host, "ifalias"),
        format!("burrow-nic {} {} veth {} {a4} {a6}", a.uid, a.name, br.0)
    );
    // The LXC output is unchanged on a per-user bridge; the next nic gets the next address.
    let r = run(args(false, "c1", "eth1"));
    r.expect(0, "");
    let (cname, _, host2, _) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "eth1");
    assert!(sys_net(&host2, "ifalias").contains(&format!("10.197.{n}.")));
    assert_ne!(sys_net(&host2, "ifalias"), sys_net(&host, "ifalias"));
    // list shows the addresses.
    let r = nic(&a, &etc, &["list"]);
    r.expect(0, "");
    assert!(
        r.stdout
            .contains(&format!("{host} veth {} {} {a4} {a6}\n", br.0, a.name)),
        "{}",
        r.stdout
    );
    // Container <-> host through the gateway: ping both families and a TCP connection.
    configure_inside(t.pid, "eth0", &json);
    let out = in_netns(t.pid, &format!("ping -c1 -W5 {g4} && ping -6 -c1 -W5 {g6}"));
    assert!(out.status.success(), "{out:?}");
    let l = std::net::TcpListener::bind((g4.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let out = in_netns(
        t.pid,
        &format!("echo hello-through-veth > /dev/tcp/{g4}/{port}"),
    );
    assert!(out.status.success(), "{out:?}");
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer.ip().to_string(), a4);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut s, &mut got).unwrap();
    assert_eq!(got, "hello-through-veth\n");
    // delete checks the container end is in the namespace named: another netns of the same
    // user is refused; without HOSTNIC every nic of the caller there goes.
    let t2 = own_netns(&a);
    let other = format!("/proc/{}/ns/net", t2.pid);
    let here = format!("/proc/{}/ns/net", t.pid);
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &other, "veth", "burrow%u", &host],
    )
    .expect(
        1,
        &err(&format!(
            "you have no nic {host} of type veth on bridge {} in that network namespace",
            br.0
        )),
    );
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &other, "veth", "burrow%u"],
    )
    .expect(
        1,
        &err(&format!(
            "you have no nic of type veth on bridge {} in that network namespace",
            br.0
        )),
    );
    assert!(std::path::Path::new(&format!("/sys/class/net/{host}")).exists());
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &here, "veth", "burrow%u"],
    )
    .ok();
    assert!(!std::path::Path::new(&format!("/sys/class/net/{host}")).exists());
    assert!(!std::path::Path::new(&format!("/sys/class/net/{host2}")).exists());
    // Stable: the same (name, nic name) gets its address again once it is free; another
    // name gets another one.
    drop(t);
    let t3 = own_netns(&a);
    let pid3 = t3.pid_s();
    let again = |name: &str| {
        let r = nic(
            &a,
            &etc,
            &[
                "create", "--json", "/tmp", name, &pid3, "veth", "burrow%u", "eth0",
            ],
        );
        r.expect(0, "");
        r.stdout
    };
    let j = again("c1");
    assert_eq!(jaddr(&j, "ipv4").0, a4);
    assert_eq!(jaddr(&j, "ipv6").0, a6);
    let host3 = jfield(&j, "host_ifname");
    let r = nic(
        &a,
        &etc,
        &[
            "create", "--json", "/tmp", "c9", &pid3, "veth", "burrow%u", "eth1",
        ],
    );
    r.expect(0, "");
    assert_ne!(jaddr(&r.stdout, "ipv4").0, a4);
    // The lease file is root's, outside the user's reach.
    let m = std::fs::metadata("/var/lib/burrow/nic-leases").unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&m),
            std::os::unix::fs::MetadataExt::mode(&m) & 0o777
        ),
        (0, 0o600)
    );
    drop(t3);
    wait_gone(&host3);
}

#[test]
fn per_user_bridge_without_pools_and_a_squatted_name() {
    require!();
    let a = TestUser::get("pu4");
    let br = per_user_bridge(&a);
    let etc = Etc::new().usernet(&format!("{} veth burrow%u 1\n", a.name));
    let t = own_netns(&a);
    let pid = t.pid_s();
    // No nic.conf: a bridge with no address, and JSON says so.
    let r = nic(
        &a,
        &etc,
        &[
            "create", "--json", "/tmp", "c", &pid, "veth", "burrow%u", "eth0",
        ],
    );
    r.expect(0, "");
    assert!(
        r.stdout.contains("\"ipv4\":null,\"ipv6\":null}"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sys_net(&br.0, "ifalias"),
        format!("burrow-nic bridge {}", a.uid)
    );
    assert!(!sh(&format!("ip -o addr show dev {}", br.0)).contains("inet "));
    drop(t);
    // A link of that name that is not a bridge, or a bridge tagged for someone else, is
    // refused before anything is created.
    sh(&format!(
        "ip link del {0}; ip link add {0} type veth peer name {0}p",
        br.0
    ));
    let t = own_netns(&a);
    let pid = t.pid_s();
    nic(
        &a,
        &etc,
        &["create", "/tmp", "c", &pid, "veth", "burrow%u", "eth0"],
    )
    .expect(
        1,
        &err(&format!(
            "{} is not a Linux bridge; refusing to attach to it",
            br.0
        )),
    );
    sh(&format!(
        "ip link del {0}; ip link add {0} type bridge; ip link set {0} alias 'admin bridge'",
        br.0
    ));
    nic(&a, &etc, &["create", "/tmp", "c", &pid, "veth", "burrow%u", "eth0"]).expect(
        1,
        &err(&format!(
            "{} exists and is not burrow-nic's per-user bridge of uid {} (its alias is \"admin bridge\"); the admin must remove or rename it",
            br.0, a.uid
        )),
    );
    assert!(tagged_links(a.uid).is_empty());
}

#[test]
fn two_users_bridges_are_separate_at_l2_and_spoofed_sources_are_dropped() {
    require!();
    let (a, b) = (TestUser::get("pu2"), TestUser::get("pu3"));
    let (_bra, _brb) = (per_user_bridge(&a), per_user_bridge(&b));
    let usernet = format!("{} veth burrow%u 2\n{} veth burrow%u 2\n", a.name, b.name);
    let etc = Etc::new().usernet(&usernet).file("burrow/nic.conf", POOLS);
    let (ta, tb) = (own_netns(&a), own_netns(&b));
    let mk = |u: &TestUser, t: &Proc, name: &str, ifname: &str| {
        let r = nic(
            u,
            &etc,
            &[
                "create",
                "--json",
                "/tmp",
                name,
                &t.pid_s(),
                "veth",
                "burrow%u",
                ifname,
            ],
        );
        r.expect(0, "");
        configure_inside(t.pid, ifname, &r.stdout);
        r.stdout
    };
    let ja = mk(&a, &ta, "x", "eth0");
    let jb = mk(&b, &tb, "x", "eth0");
    let (a4, _, ga4) = jaddr(&ja, "ipv4");
    let (b4, _, gb4) = jaddr(&jb, "ipv4");
    let (b6, _, _) = jaddr(&jb, "ipv6");
    assert_ne!(ga4, gb4, "each user has a subnet of their own");
    // Same user, same bridge: L2 works (the control for the checks below).
    let ta2 = own_netns(&a);
    let ja2 = mk(&a, &ta2, "y", "eth0");
    let (a4_2, _, _) = jaddr(&ja2, "ipv4");
    let out = in_netns(ta.pid, &format!("ping -c1 -W5 {a4_2}"));
    assert!(out.status.success(), "{out:?}");
    // A cannot reach B's container at L2 (even with an on-link route), nor over IPv6.
    let bsub = format!("{}.0/24", gb4.rsplit_once('.').unwrap().0);
    let out = in_netns(
        ta.pid,
        &format!("ip route add {bsub} dev eth0 && ! ping -c2 -W1 {b4} && ! ping -6 -c2 -W1 {b6} && ip neigh show {b4}"),
    );
    assert!(out.status.success(), "{out:?}");
    let neigh = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!neigh.contains("lladdr"), "{neigh}");
    // Spoofing: a datagram from A's real address reaches the host; the same datagram with a
    // source from B's subnet is dropped by reverse-path filtering on A's bridge.
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let spoof = format!("{}.77", gb4.rsplit_once('.').unwrap().0);
    let send = |src: &str| {
        let out = in_netns(
            ta.pid,
            &format!(
                "python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"{src}\", 0)); s.sendto(b\"from-{src}\", (\"{ga4}\", {port}))'"
            ),
        );
        assert!(out.status.success(), "{out:?}");
    };
    send(&a4);
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], format!("from-{a4}").as_bytes());
    assert_eq!(from.ip().to_string(), a4);
    let out = in_netns(ta.pid, &format!("ip addr add {spoof}/32 dev eth0"));
    assert!(out.status.success(), "{out:?}");
    let drops = rp_filter_drops();
    send(&spoof);
    send(&a4);
    // Only the second real datagram arrives.
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        format!("from-{a4}").as_bytes(),
        "spoofed datagram arrived"
    );
    // ... and it is the reverse-path filter that dropped it.
    assert!(rp_filter_drops() > drops);
    drop((ta, tb, ta2));
}

#[test]
fn sigkill_mid_create_on_a_per_user_bridge_keeps_bridge_addresses_and_quota_consistent() {
    require!();
    let a = TestUser::get("nk2");
    let br = per_user_bridge(&a);
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 3\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    // The bridge does not exist yet: the first creates race to make it while being killed;
    // others die while the lease file is being rewritten or the veth made.
    let r = Run::new(&a).etc(&etc).script(
        "for i in $(seq 60); do \"$1\" create /dev/null c$i \"$2\" veth burrow%u \"k$i\" >/dev/null 2>&1 & p=$!; sleep 0.00$((RANDOM % 10)); kill -9 $p 2>/dev/null; wait $p 2>/dev/null; done; \"$1\" create --json /dev/null last \"$2\" veth burrow%u last; exit 0",
        &[helper(NIC).to_str().unwrap(), &t.pid_s()],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The bridge is burrow-nic's, tagged with its subnet, addressed and up.
    let tag = sys_net(&br.0, "ifalias");
    let n: u32 = tag
        .strip_prefix(&format!("burrow-nic bridge {} ", a.uid))
        .unwrap_or_else(|| panic!("{tag}"))
        .parse()
        .unwrap();
    let addrs = sh(&format!("ip -o addr show dev {}", br.0));
    assert!(addrs.contains(&format!("inet 10.197.{n}.1/24")), "{addrs}");
    // At most the quota, every port tagged with a distinct address of that subnet.
    let ports: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{}/brif", br.0))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!ports.is_empty() && ports.len() <= 3, "{ports:?}");
    let mut seen = Vec::new();
    for p in &ports {
        let alias = sys_net(p, "ifalias");
        let f: Vec<&str> = alias.split(' ').collect();
        assert_eq!(
            f[..5],
            ["burrow-nic", &a.uid.to_string(), &a.name, "veth", &br.0],
            "{alias}"
        );
        assert!(f[5].starts_with(&format!("10.197.{n}.")), "{alias}");
        assert!(
            !seen.contains(&f[5].to_owned()),
            "address given twice: {alias}"
        );
        seen.push(f[5].to_owned());
    }
    let untagged: Vec<String> = tagged_links(a.uid)
        .into_iter()
        .filter(|n| sys_net(n, "ifalias").is_empty())
        .collect();
    assert!(untagged.is_empty(), "{untagged:?}");
    // The last create either got a nic (JSON) or was told the quota is reached.
    assert!(
        r.stdout.contains("\"container_ifname\":\"last\"") || r.stderr.contains("quota reached"),
        "{r:?}"
    );
}

#[test]
fn two_per_user_patterns_of_one_user_get_two_subnets() {
    require!();
    let a = TestUser::get("pu5");
    let (b1, b2) = (
        per_user_bridge(&a),
        LinkGuard::fresh(&format!("bx{}", a.uid)),
    );
    let etc = Etc::new()
        .usernet(&format!("{0} veth burrow%u 1\n{0} veth bx%u 1\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    let pid = t.pid_s();
    let mk = |bridge: &str, ifname: &str| {
        let r = nic(
            &a,
            &etc,
            &[
                "create", "--json", "/tmp", "c", &pid, "veth", bridge, ifname,
            ],
        );
        r.expect(0, "");
        jaddr(&r.stdout, "ipv4")
    };
    let (a1, _, g1) = mk("burrow%u", "eth0");
    let (a2, _, g2) = mk("bx%u", "eth1");
    assert_ne!(g1, g2, "each per-user bridge has its own subnet");
    assert_ne!(a1, a2);
    assert_eq!(sys_net(&b1.0, "ifalias").split(' ').count(), 4);
    assert!(sh(&format!("ip -o -4 addr show dev {}", b2.0)).contains(&format!("inet {g2}/24")));
}
