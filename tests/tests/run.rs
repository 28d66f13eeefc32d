//! `burrow run` against the real kernel, as unprivileged test users (issue 3's contract): id
//! maps, file ownership, the network modes, exit codes, signals, `-it`, descriptors, clean
//! failures, the single-id fallback and missing helpers. Mounts and the malicious rootfs are in
//! `run_mounts.rs`, capabilities and seccomp in `run_caps.rs`, the options in
//! `run_options.rs`; the numbers in the section banners are the items of issue 3's contract.
//!
//! Every test runs the installed front end (`$P/bin/burrow`, helpers from `$P/bin` through
//! `BURROW_HELPERS_DIR`) as a test user whose real /etc/subuid and /etc/subgid ranges burrow
//! reads (fixtures: `tests/src/run_fixture.rs`). The container's rootfs is a copy of the
//! harness's busybox-static template (one relative symlink per applet) plus `/etc/notexec` and
//! `/bin/probe` (`tests/probes/probe.c`), a tiny static C program that makes syscalls, lists
//! its descriptors, opens files and connects to sockets, and prints the errno.
//! Outputs, exit codes and error messages are compared exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_fixture::*;
use burrow_tests::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- 1: id maps

#[test]
fn t01_maps_show_caller_and_full_subid_range() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "maps");
    let out = burrow(
        &r,
        &[
            "/bin/sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g; cat /proc/self/setgroups",
        ],
    );
    check(&out, 0, &out.stdout, "");
    let (su, sg, count) = f.sub;
    assert_eq!(
        norm(&out.stdout),
        format!(
            "0 {} 1\n1 {su} {count}\n--\n0 {} 1\n1 {sg} {count}\n--\n0\n0\nallow",
            f.user.uid, f.user.gid
        )
    );
}

// ---------------------------------------------------------------- 2: file ownership

#[test]
fn t02_files_created_inside_are_owned_by_mapped_ids_on_host() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "owner");
    let out = burrow(
        &r,
        &[
            "/bin/sh",
            "-c",
            "set -e; touch /tmp/root-file; mkdir /tmp/root-dir; touch /tmp/u1000 /tmp/top; \
             chown 1000:1000 /tmp/u1000; chown 65536:65536 /tmp/top; \
             if chown 65537 /tmp/root-file 2>/dev/null; then echo unmapped-chown-worked; fi; echo done",
        ],
    );
    ok_out(&out, "done\n");
    let (su, sg, _) = f.sub;
    let owner = |p: &str| {
        let m = fs::metadata(r.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("tmp/root-file"), (f.user.uid, f.user.gid));
    assert_eq!(owner("tmp/root-dir"), (f.user.uid, f.user.gid));
    assert_eq!(owner("tmp/u1000"), (su + 999, sg + 999));
    assert_eq!(owner("tmp/top"), (su + 65535, sg + 65535));
}

// ---------------------------------------------------------------- 3: network

#[test]
fn t03_default_net_is_private_loopback_only() {
    require!();
    use std::os::linux::net::SocketAddrExt;
    let f = fx();
    let r = rootfs(&f.user, "net");
    let name = format!("burrow-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    assert!(
        fs::read_to_string("/proc/net/unix")
            .unwrap()
            .contains(&format!("@{name}")),
        "the host socket is not in the host's /proc/net/unix"
    );
    let host_netns = fs::read_link("/proc/self/ns/net").unwrap();
    let script = format!(
        "ls /sys/class/net; echo --; ip link | grep '^[0-9]'; echo --; \
         grep -c '@{name}' /proc/net/unix; /bin/probe connect @{name}; readlink /proc/self/ns/net"
    );
    let out = burrow(&r, &["/bin/sh", "-c", &script]);
    let inside_ns = out.stdout.lines().last().unwrap_or_default().to_owned();
    ok_out(
        &out,
        &format!(
            "lo\n--\n1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n--\n0\n\
             connect @{name} errno=111\n{inside_ns}\n"
        ),
    );
    assert_ne!(
        Path::new(&inside_ns),
        host_netns,
        "the container shares the host's netns"
    );
}

#[test]
fn t03_net_host_warns_and_shares_host_network() {
    require!();
    use std::os::linux::net::SocketAddrExt;
    let f = fx();
    let r = rootfs(&f.user, "nethost");
    let name = format!("burrow-test-host-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let host_netns = fs::read_link("/proc/self/ns/net").unwrap();
    let host_ifs = listing(Path::new("/sys/class/net")).join("\n");
    let script = format!(
        "ls /sys/class/net; echo --; grep -c '@{name}' /proc/net/unix; /bin/probe connect @{name}; readlink /proc/self/ns/net"
    );
    let out = burrow(&r, &["--net", "host", "/bin/sh", "-c", &script]);
    check(
        &out,
        0,
        &format!(
            "{host_ifs}\n--\n1\nconnect @{name} errno=0\n{}\n",
            host_netns.display()
        ),
        "burrow: warning: --net host: the container shares the host's network namespace: it sees and can use every host \
interface and address, can bind host ports, and can connect to the host's abstract unix sockets (such as systemd's and D-Bus's)\n",
    );
}

// ---------------------------------------------------------------- 7: exit codes

#[test]
fn t07_exit_codes() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "exit");
    check(&burrow(&r, &["/bin/sh", "-c", "exit 42"]), 42, "", "");
    check(&burrow(&r, &["/bin/true"]), 0, "", "");
    check(&burrow(&r, &["/bin/false"]), 1, "", "");
    // The command as pid 2 under --init, killed by a signal: 128 + 9.
    check(
        &burrow(&r, &["--init", "/bin/sh", "-c", "kill -9 $$"]),
        137,
        "",
        "",
    );
    // The command as pid 1 killed by a signal (a fault; pid 1 ignores kill -9 from itself).
    check(&burrow(&r, &["/bin/probe", "segv"]), 139, "", "");
    check(
        &burrow(&r, &["--init", "/bin/sh", "-c", "exit 3"]),
        3,
        "",
        "",
    );
    // --init's pid 1 shows a neutral command line, not burrow's path and arguments on the host.
    check(
        &burrow(
            &r,
            &[
                "--init",
                "/bin/sh",
                "-c",
                "tr '\\0' ' ' < /proc/1/cmdline | tr -s ' '; echo",
            ],
        ),
        0,
        "burrow-init \n",
        "",
    );
    check(
        &burrow(&r, &["nosuchcmd"]),
        127,
        "",
        "burrow: command not found in the rootfs: nosuchcmd (searched PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\n",
    );
    check(
        &burrow(&r, &["-e", "PATH=/nowhere:/etc", "sh"]),
        127,
        "",
        "burrow: command not found in the rootfs: sh (searched PATH=/nowhere:/etc)\n",
    );
    check(
        &burrow(&r, &["/bin/nosuch"]),
        127,
        "",
        "burrow: command not found in the rootfs: /bin/nosuch\n",
    );
    check(
        &burrow(&r, &["/etc/notexec"]),
        126,
        "",
        "burrow: /etc/notexec in the rootfs is not an executable file\n",
    );
    check(
        &burrow(&r, &["/etc"]),
        126,
        "",
        "burrow: /etc in the rootfs is not an executable file\n",
    );
    check(
        &burrow(&r, &["--init", "nosuchcmd"]),
        127,
        "",
        "burrow: command not found in the rootfs: nosuchcmd (searched PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\n",
    );

    let missing = format!("{}-missing", r.path());
    check(
        &burrow_as(&f.user, &["--rootfs", &missing, "/bin/true"]),
        125,
        "",
        &format!("burrow: rootfs {missing} does not exist or is not accessible: No such file or directory (os error 2)\n"),
    );
    let file = r.join("etc/hostname");
    let file = file.to_str().unwrap();
    check(
        &burrow_as(&f.user, &["--rootfs", file, "/bin/true"]),
        125,
        "",
        &format!("burrow: rootfs {file} is not a directory\n"),
    );
    check(
        &burrow_as(&f.user, &["/bin/true"]),
        125,
        "",
        "burrow: no root filesystem: give --rootfs DIR (or rootfs = \"DIR\" in the config file), or an IMAGE before the command\n",
    );
    check(
        &burrow(&r, &[]),
        125,
        "",
        "burrow: no command: give the command to run after the options (e.g. burrow run --rootfs DIR /bin/sh)\n",
    );
}

// ---------------------------------------------------------------- 8: signals

#[test]
fn t08_sigterm_to_burrow_reaches_the_container() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "signals");

    // --init: forwarded to init, then to the command, which dies of it: 128 + 15.
    let mut child = spawn_burrow(
        &f.user,
        &["--rootfs", r.path(), "--init", "/bin/sleep", "100"],
    );
    wait_descendant(&mut child, "sleep");
    let t0 = Instant::now();
    send_signal(child.id(), "TERM");
    let out = wait_exit(child, 5);
    check(&out, 143, "", "");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );

    // The command as pid 1 with a handler gets the forwarded SIGTERM.
    let mut child = spawn_burrow(
        &f.user,
        &[
            "--rootfs",
            r.path(),
            "/bin/sh",
            "-c",
            "trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.1; done",
        ],
    );
    wait_descendant(&mut child, "sleep");
    send_signal(child.id(), "TERM");
    let out = wait_exit(child, 5);
    check(&out, 7, "got TERM\n", "");

    // Other forwarded signals too (SIGUSR1 to a handler).
    let mut child = spawn_burrow(
        &f.user,
        &[
            "--rootfs",
            r.path(),
            "--init",
            "/bin/sh",
            "-c",
            "trap 'echo got USR1; exit 9' USR1; while :; do sleep 0.1; done",
        ],
    );
    wait_descendant(&mut child, "sleep");
    send_signal(child.id(), "USR1");
    let out = wait_exit(child, 5);
    check(&out, 9, "got USR1\n", "");
}

// ---------------------------------------------------------------- 9: -it

/// Drives `burrow run -it` through a pty made by python3 (as the user): sets the window to
/// ROWS x COLS, waits for the prompt, sends a first line, resizes, sends a second line, and
/// prints the transcript (repr) and the exit status.
const PTY_DRIVER: &str = r##"
import os, pty, select, struct, sys, termios, fcntl, time
rows, cols = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
steps = [
    (b"# ", b"tty; stty size; echo $((6*7))\n", None),
    (b"42\r\n", b"stty size; exit 5\n", (40, 100)),
]
out = b""
deadline = time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    if steps and steps[0][0] in out:
        _, line, size = steps.pop(0)
        if size:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
            time.sleep(0.2)
        os.write(fd, line)
else:
    os.kill(pid, 9)
_, st = os.waitpid(pid, 0)
print(repr(out))
print("status", os.waitstatus_to_exitcode(st))
"##;

#[test]
fn t09_interactive_tty() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "tty");
    let out = script_as(
        &f.user,
        "exec /usr/bin/python3 -c \"$1\" 33 77 \"$B\" run -it --rootfs \"$2\" /bin/sh",
        &[PTY_DRIVER, r.path()],
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let transcript = out.stdout.lines().next().unwrap_or_default();
    assert!(
        out.stdout.ends_with("\nstatus 5\n"),
        "exit status of the shell not propagated: {}",
        out.stdout
    );
    for want in [
        r"/dev/pts/0\r\n33 77\r\n42\r\n",
        r"stty size; exit 5\r\n40 100\r\n",
    ] {
        assert!(
            transcript.contains(want),
            "missing {want:?} in {transcript}"
        );
    }
    assert!(
        !transcript.contains("job control turned off"),
        "no job control: {transcript}"
    );
}

#[test]
fn t09_stdin_only_with_interactive() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "stdin");
    let out = script_as(
        &f.user,
        "echo hello | \"$B\" run --rootfs \"$1\" /bin/cat; echo rc=$?; echo hello | \"$B\" run -i --rootfs \"$1\" /bin/cat; echo rc=$?",
        &[r.path()],
    );
    ok_out(&out, "rc=0\nhello\nrc=0\n");
}

// ---------------------------------------------------------------- 11: descriptors

#[test]
fn t11_only_stdio_reaches_the_command() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "fds");
    for init in [false, true] {
        let out = script_as(
            &f.user,
            "exec 7</etc/hostname 8>/dev/null 9<$1/bin; [ -e /proc/self/fd/7 ] || exit 3; \
             exec \"$B\" run --rootfs \"$1\" $2 /bin/probe fds",
            &[r.path(), if init { "--init" } else { "" }],
        );
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        let fds: Vec<&str> = out
            .stdout
            .lines()
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(fds, ["0", "1", "2"], "init={init}: {}", out.stdout);
        assert_eq!(
            out.stdout.lines().next(),
            Some("0 /dev/null"),
            "stdin is not /dev/null without -i"
        );
    }
    // Under --init the runtime's process (pid 1, a copy of the burrow binary) cannot be opened.
    let out = burrow(&r, &["--init", "/bin/probe", "read", "/proc/1/exe"]);
    ok_out(&out, "read /proc/1/exe errno=13\n");
}

// ---------------------------------------------------------------- 13: nothing left behind

#[test]
fn t13_failures_leave_no_process_or_mount() {
    require!();
    let f = fx();
    let u = &f.leak;
    let r = rootfs(u, "leak");
    let bad = symlinked("leak-proc", "proc", "/etc");
    sh(&format!("chown -R {}:{} {}", u.uid, u.gid, bad.path()));
    let empty = TempDir::new("leak-nohelpers");
    assert_eq!(
        procs_of(u.uid),
        "",
        "the user has processes before the test"
    );
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["--rootfs", r.path(), "nosuchcmd"], 127),
        (vec!["--rootfs", r.path(), "--init", "nosuchcmd"], 127),
        (vec!["--rootfs", r.path(), "/etc/notexec"], 126),
        (vec!["--rootfs", r.path(), "-w", "/nope", "/bin/true"], 125),
        (vec!["--rootfs", bad.path(), "/bin/true"], 125),
        (
            vec!["--rootfs", r.path(), "-u", "99999999", "/bin/true"],
            125,
        ),
        (
            vec![
                "--rootfs",
                r.path(),
                "--ulimit",
                "nofile=1:99999999999",
                "/bin/true",
            ],
            125,
        ),
        (
            vec!["--rootfs", r.path(), "/bin/sh", "-c", "sleep 100 & exit 4"],
            4,
        ),
    ];
    for (args, code) in cases {
        let out = burrow_as(u, &args);
        assert_eq!(out.code, Some(code), "{args:?}: {out:?}");
        assert_eq!(procs_of(u.uid), "", "left behind by {args:?}");
        assert_eq!(
            fs::read_to_string("/proc/mounts").unwrap(),
            mounts,
            "{args:?}"
        );
    }
    let out = Run::new(u).env("BURROW_HELPERS_DIR", empty.path()).cmd(
        &helper("burrow"),
        &["run", "--rootfs", r.path(), "/bin/true"],
    );
    assert_eq!(out.code, Some(125), "{out:?}");
    assert_eq!(procs_of(u.uid), "");

    // burrow killed outright: the container dies with it.
    let mut child = spawn_burrow(u, &["--rootfs", r.path(), "--init", "/bin/sleep", "100"]);
    wait_descendant(&mut child, "sleep");
    send_signal(child.id(), "KILL");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !procs_of(u.uid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the container outlived burrow: {}",
            procs_of(u.uid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fs::read_to_string("/proc/mounts").unwrap(), mounts);
    // And the rootfs holds nothing new but the mount points burrow creates.
    assert_eq!(listing(&r.dir), ["bin", "dev", "etc", "proc", "sys", "tmp"]);
    assert_eq!(listing(&r.join("tmp")), Vec::<String>::new());
}

// ---------------------------------------------------------------- 14: single-id fallback

#[test]
fn t14_no_subid_range_falls_back_to_a_single_id() {
    require!();
    let f = fx();
    let u = &f.nosub;
    let r = rootfs(u, "nosub");
    let out = burrow_as(
        u,
        &[
            "--rootfs",
            r.path(),
            "/bin/sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; touch /tmp/mine",
        ],
    );
    let warning = format!(
        "burrow: warning: no subordinate id range for {0} in /etc/subuid: the container gets one id (root inside = you); \
ask your admin for a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {0}\n",
        u.name
    );
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(0), warning.as_str()),
        "{out:?}"
    );
    assert_eq!(
        norm(&out.stdout),
        format!("0 {} 1\n0 {} 1\ndeny\n0", u.uid, u.gid)
    );
    let m = fs::metadata(r.join("tmp/mine")).unwrap();
    assert_eq!((m.uid(), m.gid()), (u.uid, u.gid));
    // Works without any helper, and other ids do not exist.
    let empty = TempDir::new("nosub-nohelpers");
    let out = Run::new(u).env("BURROW_HELPERS_DIR", empty.path()).cmd(
        &helper("burrow"),
        &[
            "run",
            "--rootfs",
            r.path(),
            "/bin/sh",
            "-c",
            "chown 1 /tmp/mine || echo no-chown",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.ends_with("no-chown\n"), "{out:?}");
}

// ---------------------------------------------------------------- 15: helpers

#[test]
fn t15_missing_or_unprivileged_helpers() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "helpers");
    let empty = TempDir::new("nohelpers");
    let out = Run::new(&f.user)
        .env("BURROW_HELPERS_DIR", empty.path())
        .cmd(
            &helper("burrow"),
            &["run", "--rootfs", r.path(), "/bin/true"],
        );
    check(
        &out,
        125,
        "",
        &format!(
            "burrow: burrow-newuidmap and burrow-newgidmap not found (looked in: {}); install burrow's helpers \
(sudo bash scripts/quickstart.sh) or set BURROW_HELPERS_DIR to their directory\n",
            empty.path()
        ),
    );

    // Copies without setuid or file capabilities.
    let plain = TempDir::new("plainhelpers");
    for h in ["burrow-newuidmap", "burrow-newgidmap"] {
        fs::copy(helper(h), plain.0.join(h)).unwrap();
    }
    sh(&format!(
        "chmod 0755 {0}/burrow-newuidmap {0}/burrow-newgidmap",
        plain.path()
    ));
    let out = Run::new(&f.user)
        .env("BURROW_HELPERS_DIR", plain.path())
        .cmd(
            &helper("burrow"),
            &["run", "--rootfs", r.path(), "/bin/true"],
        );
    let p = format!("{}/burrow-newuidmap", plain.path());
    check(
        &out,
        125,
        "",
        &format!(
            "burrow: {p} is neither setuid root nor has file capabilities, so it cannot map ids; ask your admin to run: \
chown root:root {p} && chmod 4755 {p}   (or: setcap cap_setuid+ep {p})\n"
        ),
    );

    // The directory used is named at --log-level debug; without BURROW_HELPERS_DIR, PATH is used.
    let out = burrow(&r, &["--log-level", "debug", "/bin/true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "found through $BURROW_HELPERS_DIR ({})",
            helpers_dir()
        )),
        "{out:?}"
    );
    let out = script_as(
        &f.user,
        "env -u BURROW_HELPERS_DIR PATH=\"$P/bin:/usr/bin:/bin\" \"$B\" run --log-level debug --rootfs \"$1\" /bin/true",
        &[r.path()],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("found through PATH ({})", helpers_dir())),
        "{out:?}"
    );
}
