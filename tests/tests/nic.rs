//! burrow-nic against the real kernel, as unprivileged test users: the command line, the
//! targets a caller may give a nic to, and hygiene (no_new_privs, syslog). The quota policy and
//! delete paths are in `nic_policy.rs`, real veths in `nic_veths.rs`, LXC in `nic_lxc.rs`,
//! per-user bridges and addresses in `nic_addresses.rs`; the fixtures in
//! `tests/src/nic_fixture.rs`.
//!
//! Each test's doc comment names the cases of docs/cases/burrow-nic.md it covers: "C N" for
//! the observed behaviour of LXC's lxc-user-nic, "A N" for the attacks a replacement must
//! resist. The expected stderr is exact. Every test runs with a private /etc (see harness
//! `Etc`), so /etc/burrow/usernet is exactly what the test says.
//!
//! Most tests name the bridge `br0`, which does not exist: an allowed create then ends with
//! "bridge br0 does not exist", which proves every check before it passed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;

// ------------------------------------------------------------------------------- command line

/// Cases C1 of docs/cases/burrow-nic.md.
#[test]
fn usage_errors_name_the_problem_and_print_the_usage() {
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

/// Cases C4, C13, C14; A1 of docs/cases/burrow-nic.md.
#[test]
fn pids_must_be_plain_decimal_and_in_range() {
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

/// Cases C5, C17; A4, A5 of docs/cases/burrow-nic.md.
#[test]
fn names_type_and_bridge_are_validated_before_anything() {
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
    // C5, C16, C17: LXC leaks the veth pair on these; here nothing is even attempted.
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

// ------------------------------------------------------------------------------------ targets

/// Cases C12; A1 of docs/cases/burrow-nic.md.
#[test]
fn processes_of_other_users_and_root_are_refused() {
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

/// Cases C15; A1 of docs/cases/burrow-nic.md.
#[test]
fn own_process_in_the_host_netns_is_refused_before_anything() {
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

/// Cases C8 of docs/cases/burrow-nic.md.
#[test]
fn owned_nested_and_fd_targets_pass_every_check() {
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

// ------------------------------------------------------------------------------------ hygiene

/// Cases A11 of docs/cases/burrow-nic.md.
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

/// Cases C31; A3 of docs/cases/burrow-nic.md.
#[test]
fn delete_accepts_descriptor_paths_and_refuses_fifos() {
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
