//! burrow-nic against the real kernel: /etc/burrow/usernet (entries, quotas, bad lines, the
//! file's ownership), `check`, and the netns paths `delete` accepts. Cases: see the doc comment
//! of each test and docs/cases/burrow-nic.md; fixtures in `tests/src/nic_fixture.rs`. The
//! expected stderr is exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;

// ------------------------------------------------------------------------------------- policy

/// Cases C9 of docs/cases/burrow-nic.md.
#[test]
fn no_entry_and_quota_reached_are_distinct_messages() {
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

/// Cases C20; A7 of docs/cases/burrow-nic.md.
#[test]
fn group_lines_of_groups_the_caller_is_not_in_do_not_crash() {
    require!();
    let a = user_a();
    let etc = Etc::new().usernet(&format!(
        "@burrowt-nogroup veth br0 1\n@root veth br0 1\n{} veth br0 1\n",
        a.name
    ));
    let t = own_netns(&a);
    create(&a, &etc, &t.pid_s(), "br0").expect(1, NOT_YET);
}

/// Cases C24; A7 of docs/cases/burrow-nic.md.
#[test]
fn bad_usernet_lines_are_errors_with_line_numbers() {
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

/// Cases A10 of docs/cases/burrow-nic.md.
#[test]
fn usernet_must_exist_and_be_a_root_owned_regular_file() {
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

/// Cases C1 (the `check` LXC lacks), C7 of docs/cases/burrow-nic.md.
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
            "{{\"user\":\"{}\",\"uid\":{1},\"allowances\":[{{\"type\":\"veth\",\"bridge\":\"nb{1}\",\"allowed\":1,\"used\":0,\"remaining\":1}}],\"ports\":null}}\n",
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

// ------------------------------------------------------------------------------- delete paths

/// Cases C27, C28, C29; A3 of docs/cases/burrow-nic.md.
#[test]
fn delete_paths_get_one_uniform_error() {
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
