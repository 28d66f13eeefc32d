//! `burrow run` against the real kernel: the capability sets each `--cap-policy` gives, and
//! the seccomp filter (`--seccomp default|unconfined|FILE`) seen from inside through
//! `/bin/probe sys` and `sys32`. Fixtures, users and the probe as in `run.rs`
//! (`tests/src/run_fixture.rs`); outputs, exit codes and error messages are compared exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_fixture::*;
use burrow_tests::*;
use std::fs;
use std::process::Command;

// ---------------------------------------------------------------- 5: capabilities

#[test]
fn t05_capability_sets_follow_the_policy() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "caps");
    let (all, def) = (all_caps(), default_caps());
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec![], cap_lines(0, def, def, def, 0)),
        (
            vec!["--cap-policy", "default"],
            cap_lines(0, def, def, def, 0),
        ),
        (vec!["--cap-policy", "deny"], cap_lines(0, 0, 0, 0, 0)),
        (
            vec!["--cap-policy", "allow"],
            cap_lines(0, all, all, all, 0),
        ),
        (
            vec!["--cap-policy", "deny", "--cap-add", "net_raw"],
            cap_lines(0, 1 << 13, 1 << 13, 1 << 13, 0),
        ),
        (
            vec![
                "--cap-policy",
                "deny",
                "--cap-add",
                "CAP_NET_RAW",
                "--cap-add",
                "chown",
                "--cap-drop",
                "net_raw",
            ],
            cap_lines(0, 1, 1, 1, 0),
        ),
        (
            vec!["--cap-drop", "CAP_CHOWN"],
            cap_lines(0, def & !1, def & !1, def & !1, 0),
        ),
        (
            vec!["--cap-add", "mknod"],
            cap_lines(0, def | 1 << 27, def | 1 << 27, def | 1 << 27, 0),
        ),
        (
            vec!["--cap-policy", "deny", "--cap-add", "all"],
            cap_lines(0, all, all, all, 0),
        ),
        (vec!["-u", "1000:1000"], cap_lines(0, 0, 0, def, 0)),
        (
            vec![
                "-u",
                "1000:1000",
                "--cap-policy",
                "deny",
                "--cap-add",
                "net_raw",
            ],
            cap_lines(0, 0, 0, 1 << 13, 0),
        ),
    ];
    for (flags, want) in cases {
        let mut args = flags.clone();
        args.extend(["/bin/grep", "^Cap", "/proc/self/status"]);
        let out = burrow(&r, &args);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(0), want.as_str(), ""),
            "flags {flags:?}"
        );
    }
    for bad in ["net_rawr", "CAP_"] {
        let out = burrow(&r, &["--cap-add", bad, "/bin/true"]);
        check(
            &out,
            125,
            "",
            &format!("burrow: unknown capability \"{bad}\": use names like net_raw or CAP_NET_RAW (see capabilities(7)), or all\n"),
        );
    }
    let out = burrow(&r, &["--cap-drop", "sys_nonsense", "/bin/true"]);
    check(
        &out,
        125,
        "",
        "burrow: unknown capability \"sys_nonsense\": use names like net_raw or CAP_NET_RAW (see capabilities(7)), or all\n",
    );
    let out = burrow(&r, &["--cap-policy", "some", "/bin/true"]);
    check(
        &out,
        125,
        "",
        "burrow: unknown capability policy \"some\": use default, deny or allow\n",
    );
}

// ---------------------------------------------------------------- 6: seccomp

const BLOCKED: &[&str] = &[
    "keyctl",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "open_by_handle_at",
];

fn sys_lines(names: &[&str], errno: i32) -> String {
    names
        .iter()
        .map(|n| format!("{n} ret=-1 errno={errno}\n"))
        .collect()
}

#[test]
fn t06_default_seccomp_filter_blocks_attack_surface_with_eperm() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "seccomp");
    let out = burrow(
        &r,
        &[
            "/bin/grep",
            "-E",
            "^(NoNewPrivs|Seccomp):",
            "/proc/self/status",
        ],
    );
    ok_out(&out, "NoNewPrivs:\t1\nSeccomp:\t2\n");

    let mut args = vec!["/bin/probe", "sys"];
    args.extend_from_slice(BLOCKED);
    args.extend(["getpid", "getppid"]);
    let out = burrow(&r, &args);
    ok_out(
        &out,
        &format!(
            "{}getpid ret=1 errno=0\ngetppid ret=0 errno=0\n",
            sys_lines(BLOCKED, 1)
        ),
    );

    // The i386 ABI (int $0x80 from a 64-bit process) is filtered as well.
    if cfg!(target_arch = "x86_64") {
        let host = Command::new(r.join("bin/probe"))
            .args(["sys32", "getpid"])
            .output()
            .unwrap();
        if host.status.success() {
            let mut args = vec!["/bin/probe", "sys32"];
            args.extend_from_slice(BLOCKED);
            args.push("getpid");
            let out = burrow(&r, &args);
            ok_out(
                &out,
                &format!("{}getpid ret=1 errno=0\n", sys_lines(BLOCKED, 1)),
            );
        } else {
            eprintln!("note: no i386 emulation in this kernel: the i386 ABI check is moot here");
        }
    }
}

#[test]
fn t06_seccomp_unconfined_and_profiles() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "seccomp-prof");
    let out = burrow(
        &r,
        &[
            "--seccomp",
            "unconfined",
            "/bin/grep",
            "-E",
            "^(NoNewPrivs|Seccomp):",
            "/proc/self/status",
        ],
    );
    ok_out(&out, "NoNewPrivs:\t1\nSeccomp:\t0\n");
    // Without the filter keyctl(0, 0, 0) reaches the kernel, which rejects the arguments
    // (EINVAL; ENOSYS without CONFIG_KEYS): anything but the filter's EPERM.
    let out = burrow(
        &r,
        &["--seccomp", "unconfined", "/bin/probe", "sys", "keyctl"],
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert!(
        out.stdout.starts_with("keyctl ret=-1 errno=") && out.stdout != "keyctl ret=-1 errno=1\n",
        "{out:?}"
    );

    let dir = TempDir::new("seccomp-profiles");
    let good = format!("{}/enosys.toml", dir.path());
    fs::write(
        &good,
        "default_action = \"allow\"\n\n[[syscalls]]\nnames = [\"getppid\"]\naction = \"errno\"\nerrno = \"ENOSYS\"\n",
    )
    .unwrap();
    let out = burrow(
        &r,
        &[
            "--seccomp",
            &good,
            "/bin/probe",
            "sys",
            "getppid",
            "getpid",
            "keyctl",
        ],
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    // A profile replaces the default policy: keyctl reaches the kernel again.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_eq!(
        lines[..2],
        ["getppid ret=-1 errno=38", "getpid ret=1 errno=0"],
        "{out:?}"
    );
    assert!(
        lines[2].starts_with("keyctl ret=-1 errno=") && lines[2] != "keyctl ret=-1 errno=1",
        "{out:?}"
    );
    let out = burrow(
        &r,
        &[
            "--seccomp",
            &good,
            "/bin/grep",
            "^Seccomp:",
            "/proc/self/status",
        ],
    );
    ok_out(&out, "Seccomp:\t2\n");

    let bad = format!("{}/bad.toml", dir.path());
    fs::write(
        &bad,
        "default_action = \"allow\"\n[[syscalls]]\nnames = [\"nosuchsyscall\"]\naction = \"errno\"\n",
    )
    .unwrap();
    let out = burrow(&r, &["--seccomp", &bad, "/bin/true"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("burrow: seccomp profile {bad}: "))
            && out.stderr.contains("line 3")
            && out.stderr.contains("nosuchsyscall")
            && out.stderr.ends_with('\n')
            && out.stderr.lines().count() <= 2,
        "{out:?}"
    );
    let syntax = format!("{}/syntax.toml", dir.path());
    fs::write(&syntax, "default_action = allow\n").unwrap();
    let out = burrow(&r, &["--seccomp", &syntax, "/bin/true"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("burrow: seccomp profile {syntax}: "))
            && out.stderr.contains("line 1"),
        "{out:?}"
    );
    let missing = format!("{}/missing.toml", dir.path());
    let out = burrow(&r, &["--seccomp", &missing, "/bin/true"]);
    check(
        &out,
        125,
        "",
        &format!("burrow: seccomp profile {missing}: No such file or directory (os error 2)\n"),
    );
}
