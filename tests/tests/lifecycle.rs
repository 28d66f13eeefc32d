//! The container lifecycle against the real kernel, as unprivileged test users (issue 4's
//! contract): `run -d`, `create`/`start`, `ls`, `exec`, `stop`, `kill`, `logs`, `inspect`,
//! `attach`, `rm`, crash safety, two users, names, a soak loop and the terminal going away.
//!
//! Same approach as `run.rs`: the installed front end (`$P/bin/burrow`, helpers through
//! `BURROW_HELPERS_DIR`) runs as test users with real /etc/subuid ranges, on a copy of the
//! harness's busybox-static template plus `/bin/probe` (`tests/probes/probe.c`, shared with
//! `run.rs`), a tiny static C program.
//! Every test gets a private `XDG_RUNTIME_DIR` (owned by its user, 0700), so tests running in
//! parallel never see each other's containers; the tests that count a user's processes have a
//! user of their own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- fixtures

/// `monitor::LOG_MAX`: the size at which the log rotates.
const LOG_MAX: u64 = 1024 * 1024;

/// The PATH burrow searches by default (in "command not found" messages).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A test user and its subordinate id range (start, count).
struct User {
    u: TestUser,
    sub: (u32, u32),
}

struct Fixture {
    /// The main user (user A of the two-user test).
    a: User,
    /// User B of the two-user test.
    b: User,
    /// Only the crash-safety test runs as this user (it counts the user's processes).
    crash: User,
    /// Only the soak test runs as this user.
    soak: User,
    /// `tests/probes/probe.c` (compiled once, [`probe_binary`]), copied into every rootfs as
    /// /bin/probe (the tests use `probe fds`).
    probe: PathBuf,
}

fn user(tag: &str) -> User {
    let u = TestUser::get(tag);
    let (s, _, c) = u.ensure_real_subids();
    User { u, sub: (s, c) }
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        // All changes to the real /etc/sub[ug]id happen here, one after the other.
        let a = user("lc");
        let b = user("lcb");
        let crash = user("lccrash");
        let soak = user("lcsoak");
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );
        let probe = probe_binary("probe");
        Fixture {
            a,
            b,
            crash,
            soak,
            probe,
        }
    })
}

/// One test's world: a user, a private XDG_RUNTIME_DIR (so a private state directory) and a
/// private rootfs owned by the user (a [`Rootfs`] plus /bin/probe). On drop every container in
/// it is removed (rm -f) and the directories are deleted.
struct Env {
    user: TestUser,
    xdg: PathBuf,
    rootfs: Rootfs,
}

impl Env {
    fn new(u: &User, tag: &str) -> Env {
        let user = u.u.clone();
        let xdg = tempdir(&format!("{tag}-xdg"));
        sh(&format!(
            "chown {}:{} {d} && chmod 0700 {d}",
            user.uid,
            user.gid,
            d = xdg.display()
        ));
        let rootfs = Rootfs::new(&user, &format!("{tag}-rootfs"));
        let probe = rootfs.dir.join("bin/probe");
        fs::copy(&fx().probe, &probe).unwrap();
        std::os::unix::fs::chown(probe, Some(user.uid), Some(user.gid)).unwrap();
        Env { user, xdg, rootfs }
    }

    fn r(&self) -> &str {
        self.rootfs.path()
    }

    fn xdg_s(&self) -> &str {
        self.xdg.to_str().unwrap()
    }

    /// The state directory: `$XDG_RUNTIME_DIR/burrow`.
    fn state(&self) -> PathBuf {
        self.xdg.join("burrow")
    }

    /// The private XDG_DATA_HOME (configurations and logs live below it).
    fn data_home(&self) -> String {
        self.xdg.join("data").to_string_lossy().into_owned()
    }

    /// The containers' data directory: `$XDG_DATA_HOME/burrow/containers`.
    fn data(&self) -> PathBuf {
        self.xdg.join("data/burrow/containers")
    }

    /// Runs `bash -c script` as the user: `$B` is the front end, `$R` the rootfs,
    /// XDG_RUNTIME_DIR and BURROW_HELPERS_DIR are set.
    fn script(&self, script: &str, args: &[&str]) -> Ran {
        Run::new(&self.user)
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("XDG_RUNTIME_DIR", self.xdg_s())
            .env("XDG_DATA_HOME", &self.data_home())
            .env("B", helper("burrow").to_str().unwrap())
            .env("R", self.r())
            .script(script, args)
    }

    /// `burrow ARGS...` as the user.
    fn b(&self, args: &[&str]) -> Ran {
        self.script("exec \"$B\" \"$@\"", args)
    }

    /// `burrow run -d --name NAME --rootfs R OPTS... CMD...`, which must print the name.
    fn run_d(&self, name: &str, opts: &[&str], cmd: &[&str]) {
        let mut args = vec!["run", "-d", "--name", name, "--rootfs", self.r()];
        args.extend_from_slice(opts);
        args.extend_from_slice(cmd);
        ok_out(&self.b(&args), &format!("{name}\n"));
    }

    /// Every container as (name, state, pid, exit code), from `ls -a --format json`.
    fn rows(&self) -> Vec<(String, String, Option<i32>, Option<i32>)> {
        let out = self.b(&["ls", "-a", "--format", "json"]);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        py(
            &out.stdout,
            "for r in d: print(r['name'], r['state'], json.dumps(r['pid']), json.dumps(r['exit_code']))",
        )
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].parse().ok(),
                f[3].parse().ok(),
            )
        })
        .collect()
    }

    /// (state, pid, exit code) of one container.
    fn row(&self, name: &str) -> Option<(String, Option<i32>, Option<i32>)> {
        self.rows()
            .into_iter()
            .find(|r| r.0 == name)
            .map(|(_, s, p, e)| (s, p, e))
    }

    /// Polls `ls -a --format json` until the container is in `state` (at most `secs`).
    fn wait_state(&self, name: &str, state: &str, secs: u64) -> (Option<i32>, Option<i32>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let row = self.row(name);
            if let Some((s, p, e)) = &row {
                if s == state {
                    return (*p, *e);
                }
            }
            assert!(
                Instant::now() < deadline,
                "{name} not {state} after {secs} s: {row:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host pid of the container's pid 1 (it must be running).
    fn pid(&self, name: &str) -> i32 {
        let (p, _) = self.wait_state(name, "running", 5);
        p.expect("a running container has a pid")
    }

    /// `burrow inspect NAME`, queried with python (`d` is the parsed JSON).
    fn inspect(&self, name: &str, code: &str) -> String {
        let out = self.b(&["inspect", name]);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        py(&out.stdout, code)
    }

    /// Waits until `logs NAME` contains `want`.
    fn wait_log(&self, name: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.b(&["logs", name]);
            if out.stdout.contains(want) {
                return out.stdout;
            }
            assert!(
                Instant::now() < deadline,
                "{want:?} never appeared in the log of {name}: {out:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `burrow ARGS...` as the user in the background (stdin null, stdout and stderr
    /// piped).
    fn spawn(&self, args: &[&str]) -> Child {
        Command::new("setpriv")
            .args([
                "--reuid",
                &self.user.uid.to_string(),
                "--regid",
                &self.user.gid.to_string(),
                "--init-groups",
                "--",
            ])
            .arg(helper("burrow"))
            .args(args)
            .env("BURROW_HELPERS_DIR", helpers_dir())
            .env("XDG_RUNTIME_DIR", self.xdg_s())
            .env("XDG_DATA_HOME", self.data_home())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.script(
            "for d in \"$XDG_RUNTIME_DIR\"/burrow/*/; do [ -d \"$d\" ] && \"$B\" rm -f \"$(basename \"$d\")\"; done >/dev/null 2>&1",
            &[],
        );
        let _ = fs::remove_dir_all(&self.xdg);
        // The rootfs is removed when the field is dropped, right after this.
    }
}

/// Runs python code on a JSON document (`d`, with `json` and `sys` imported); its stdout.
fn py(json_text: &str, code: &str) -> String {
    let mut c = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(format!(
            "import json, sys\nd = json.load(sys.stdin)\n{code}"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(json_text.as_bytes())
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "python on the JSON failed: {}\nJSON: {json_text}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn no_such(name: &str) -> String {
    format!("burrow: no such container: {name} (see burrow ls --all)\n")
}

/// Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [2] pgrp,
/// [3] session, [4] tty_nr, ...
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_owned).collect())
}

/// Gone or a zombie: dead either way.
fn dead(pid: i32) -> bool {
    stat_fields(pid).is_none_or(|f| f[0] == "Z")
}

fn wait_dead(pid: i32, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !dead(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) still alive after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes running as the user's uid or one of its subordinate uids, as "pid state comm";
/// zombies only with `zombies`.
fn procs_of(u: &User, zombies: bool) -> Vec<String> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let Ok(uid) = field("Uid:").parse::<u32>() else {
            continue;
        };
        let (start, count) = u.sub;
        let ours = uid == u.u.uid || (uid >= start && uid - start < count);
        let state = field("State:");
        if ours && (zombies || state != "Z") {
            v.push(format!("{pid} {state} {}", field("Name:")));
        }
    }
    v
}

/// Waits until no process (zombies included: they wait for init) of the user is left.
fn wait_no_procs(u: &User, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = procs_of(u, true);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of {} left after {secs} s: {left:?}",
            u.u.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Open descriptor numbers of a process (host view).
fn fd_numbers(pid: i32) -> Vec<String> {
    let mut v: Vec<(u32, String)> = listing(Path::new(&format!("/proc/{pid}/fd")))
        .into_iter()
        .map(|n| {
            let t = fs::read_link(format!("/proc/{pid}/fd/{n}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            (n.parse().unwrap(), format!("{n} {t}"))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

/// Reads the lines of a child's stdout in a thread.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

#[track_caller]
fn expect_line(rx: &mpsc::Receiver<String>, want: &str) {
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(l) => assert_eq!(l, want),
        Err(e) => panic!("expected the line {want:?}, got {e:?}"),
    }
}

/// Waits for a child to exit within `secs`; None if it is still running.
fn wait_child(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LOOP: &str = "while :; do sleep 0.1; done";

// ---------------------------------------------------------------- 1: run -d, ls, exec

#[test]
fn t01_run_detached_ls_and_exec() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "exec");
    e.run_d("lc-exec", &[], &["/bin/sleep", "1000"]);
    let pid = e.pid("lc-exec");
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap(),
        "/bin/sleep\u{0}1000\u{0}",
        "ls shows the pid of another process"
    );
    // The table: only running containers without -a, with the pid.
    let out = e.b(&["ls"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let table = norm(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(lines[0], "NAME STATE PID CREATED COMMAND EXIT");
    let f1: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(
        (f1[0], f1[1], f1[2], f1[5], f1[6]),
        (
            "lc-exec",
            "running",
            pid.to_string().as_str(),
            "/bin/sleep",
            "1000"
        ),
        "{table}"
    );

    // Same pid namespace (pid 1 is the container's command), same hostname.
    let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    ok_out(
        &e.b(&[
            "exec",
            "lc-exec",
            "/bin/sh",
            "-c",
            "ps -o pid,args | grep '^ *1 '; hostname; readlink /proc/self/ns/pid",
        ]),
        &format!("    1 /bin/sleep 1000\nlc-exec\n{}\n", ns.display()),
    );

    // Capabilities, seccomp and no_new_privs of exec'd processes are those of pid 1.
    let sec = "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; echo --; \
               grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/1/status";
    let out = e.b(&["exec", "lc-exec", "/bin/sh", "-c", sec]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let (mine, one) = out.stdout.split_once("--\n").unwrap();
    assert_eq!(mine, one, "exec differs from pid 1");
    assert_eq!(mine.lines().count(), 4, "{mine}");
    assert!(
        mine.contains("NoNewPrivs:\t1\n") && mine.contains("Seccomp:\t2\n"),
        "{mine}"
    );
    // ... also with a non-default policy (so equality is not a coincidence).
    e.run_d(
        "lc-exec2",
        &[
            "--cap-policy",
            "deny",
            "--cap-add",
            "net_raw",
            "--seccomp",
            "unconfined",
        ],
        &["/bin/sleep", "1000"],
    );
    let out = e.b(&["exec", "lc-exec2", "/bin/sh", "-c", sec]);
    ok_out(
        &out,
        "CapEff:\t0000000000002000\nCapBnd:\t0000000000002000\nNoNewPrivs:\t1\nSeccomp:\t0\n--\n\
         CapEff:\t0000000000002000\nCapBnd:\t0000000000002000\nNoNewPrivs:\t1\nSeccomp:\t0\n",
    );

    // Exit statuses propagate; a missing command is 127.
    check(
        &e.b(&["exec", "lc-exec", "/bin/sh", "-c", "exit 7"]),
        7,
        "",
        "",
    );
    check(
        &e.b(&["exec", "lc-exec", "nosuch"]),
        127,
        "",
        &format!(
            "burrow: command not found in the rootfs: nosuch (searched PATH={DEFAULT_PATH})\n"
        ),
    );
    // -e, -w, -u.
    ok_out(
        &e.b(&[
            "exec",
            "-e",
            "A=1",
            "-e",
            "B=two words",
            "-w",
            "/tmp",
            "-u",
            "5:6",
            "lc-exec",
            "/bin/sh",
            "-c",
            "echo \"$A|$B\"; pwd; id -u; id -g",
        ]),
        "1|two words\n/tmp\n5\n6\n",
    );
    // Nothing of the caller reaches the process: only 0-2, and the host cwd is not its cwd.
    let out = e.script(
        "cd \"$R/tmp\" && exec \"$B\" exec lc-exec /bin/sh -c '/bin/probe fds | cut -d\" \" -f1; readlink /proc/self/cwd; pwd'",
        &[],
    );
    ok_out(&out, "0\n1\n2\n/\n/\n");
    // And the monitor leaks nothing into the container's pid 1.
    let fds: Vec<String> = fd_numbers(pid)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(fds, ["0", "1", "2"], "pid 1's fds: {:?}", fd_numbers(pid));

    // Round trip: stop, exec refused, rm, gone.
    ok_out(&e.b(&["stop", "-t", "1", "lc-exec"]), "lc-exec\n");
    check(
        &e.b(&["exec", "lc-exec", "/bin/true"]),
        125,
        "",
        "burrow: container lc-exec is not running\n",
    );
    ok_out(&e.b(&["rm", "lc-exec"]), "lc-exec\n");
    check(
        &e.b(&["exec", "lc-exec", "/bin/true"]),
        125,
        "",
        &no_such("lc-exec"),
    );
}

// ---------------------------------------------------------------- 2: stop, kill, exit codes

#[test]
fn t02_stop_kill_and_recorded_exit_codes() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "stop");
    // SIGTERM ignored: SIGKILL after the timeout.
    e.run_d(
        "deaf",
        &[],
        &["/bin/sh", "-c", &format!("trap '' TERM; {LOOP}")],
    );
    e.pid("deaf");
    let t0 = Instant::now();
    ok_out(&e.b(&["stop", "-t", "1", "deaf"]), "deaf\n");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stop -t 1 took {took:?}"
    );
    assert_eq!(
        e.row("deaf"),
        Some(("stopped".into(), None, Some(137))),
        "stop returns once the exit is recorded"
    );
    let table = norm(&e.b(&["ls", "-a"]).stdout);
    let row = table.lines().find(|l| l.starts_with("deaf ")).unwrap();
    assert!(
        row.starts_with("deaf stopped - ") && row.ends_with(" 137"),
        "{row}"
    );
    // Not listed without -a.
    assert_eq!(
        norm(&e.b(&["ls"]).stdout),
        "NAME STATE PID CREATED COMMAND EXIT"
    );

    // SIGTERM handled: the container ends at once with its own status.
    e.run_d(
        "polite",
        &[],
        &[
            "/bin/sh",
            "-c",
            &format!("trap 'echo got-term; exit 143' TERM; {LOOP}"),
        ],
    );
    e.pid("polite");
    let t0 = Instant::now();
    ok_out(&e.b(&["stop", "-t", "10", "polite"]), "polite\n");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(e.row("polite"), Some(("stopped".into(), None, Some(143))));
    ok_out(&e.b(&["logs", "polite"]), "got-term\n");

    // A plain shell loop as pid 1 has no SIGTERM handler, so the kernel drops SIGTERM (pid 1
    // of a namespace) and stop must fall back to SIGKILL.
    e.run_d("plain", &[], &["/bin/sh", "-c", LOOP]);
    e.pid("plain");
    ok_out(&e.b(&["stop", "-t", "1", "plain"]), "plain\n");
    assert_eq!(e.row("plain"), Some(("stopped".into(), None, Some(137))));
    // Stopping a stopped container is fine.
    ok_out(&e.b(&["stop", "plain"]), "plain\n");

    // The exit status of a detached command is recorded.
    e.run_d("three", &[], &["/bin/sh", "-c", "exit 3"]);
    assert_eq!(e.wait_state("three", "stopped", 5), (None, Some(3)));

    // kill -s reaches a trap; the container goes on.
    e.run_d(
        "usr1",
        &[],
        &[
            "/bin/sh",
            "-c",
            &format!("trap 'echo got-usr1' USR1; {LOOP}"),
        ],
    );
    let pid = e.pid("usr1");
    ok_out(&e.b(&["kill", "-s", "USR1", "usr1"]), "usr1\n");
    e.wait_log("usr1", "got-usr1\n");
    ok_out(&e.b(&["kill", "-s", "SIGUSR1", "usr1"]), "usr1\n");
    e.wait_log("usr1", "got-usr1\ngot-usr1\n");
    assert_eq!(e.row("usr1"), Some(("running".into(), Some(pid), None)));
    check(
        &e.b(&["kill", "-s", "NOPE", "usr1"]),
        125,
        "",
        "burrow: unknown signal \"NOPE\": use a name like TERM or KILL, or a number\n",
    );
    // kill's default is KILL.
    ok_out(&e.b(&["kill", "usr1"]), "usr1\n");
    assert_eq!(e.wait_state("usr1", "stopped", 5), (None, Some(137)));
    check(
        &e.b(&["kill", "usr1"]),
        125,
        "",
        "burrow: container usr1 is not running\n",
    );
}

#[test]
fn t02_stop_with_init_records_143() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "stop-init");
    // --init: pid 1 forwards SIGTERM to the shell (pid 2), which dies of it: 128 + 15.
    let mut child = e.spawn(&[
        "run",
        "-d",
        "--init",
        "--name",
        "withinit",
        "--rootfs",
        e.r(),
        "/bin/sh",
        "-c",
        LOOP,
    ]);
    if wait_child(&mut child, 10).is_none() {
        // Say what the container's init holds, then clean up (its death releases burrow).
        let pid = e.row("withinit").and_then(|r| r.1).unwrap_or(0);
        let fds = fd_numbers(pid);
        let _ = e.b(&["rm", "-f", "withinit"]);
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "burrow run -d --init did not return within 10 s (the container's init, pid {pid}, holds: {fds:?})"
        );
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).as_ref(),
            String::from_utf8_lossy(&o.stderr).as_ref()
        ),
        (Some(0), "withinit\n", "")
    );
    e.pid("withinit");
    // exec joins the command's namespaces through the command (the init is not dumpable and
    // never exec'd: joining through it needed CAP_SYS_PTRACE on the host and failed, EPERM).
    ok_out(
        &e.b(&[
            "exec",
            "withinit",
            "/bin/sh",
            "-c",
            "echo joined; head -c 11 /proc/1/cmdline; echo",
        ]),
        "joined\nburrow-init\n",
    );
    let t0 = Instant::now();
    ok_out(&e.b(&["stop", "-t", "10", "withinit"]), "withinit\n");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(e.row("withinit"), Some(("stopped".into(), None, Some(143))));
}

// ---------------------------------------------------------------- 3: logs

#[test]
fn t03_logs_and_follow() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "logs");
    e.run_d(
        "talk",
        &[],
        &[
            "/bin/sh",
            "-c",
            "echo out; echo err >&2; echo more; sleep 1000",
        ],
    );
    e.wait_log("talk", "more\n");
    ok_out(&e.b(&["logs", "talk"]), "out\nerr\nmore\n");
    check(&e.b(&["logs", "nosuch"]), 125, "", &no_such("nosuch"));

    // -f prints what comes later and ends when the container stops.
    let go = e.rootfs.dir.join("tmp/go");
    e.run_d(
        "follow",
        &[],
        &[
            "/bin/sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
             echo second; while :; do sleep 0.05; done",
        ],
    );
    e.wait_log("follow", "first\n");
    let mut child = e.spawn(&["logs", "-f", "follow"]);
    let rx = line_reader(&mut child);
    expect_line(&rx, "first");
    fs::write(&go, "").unwrap();
    expect_line(&rx, "second");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f ended while the container runs"
    );
    ok_out(&e.b(&["stop", "-t", "5", "follow"]), "follow\n");
    expect_line(&rx, "bye");
    let st = wait_child(&mut child, 5).expect("logs -f did not end after the container stopped");
    assert_eq!(st.code(), Some(0));
    assert!(rx.recv_timeout(Duration::from_secs(1)).is_err());
    assert_eq!(e.row("follow"), Some(("stopped".into(), None, Some(0))));
}

#[test]
fn t03_log_is_size_bounded() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "logsize");
    // 40 x 64 KiB of 'x', then "END\n": 2.5 MiB.
    e.run_d(
        "big",
        &[],
        &[
            "/bin/sh",
            "-c",
            "i=0; while [ $i -lt 40 ]; do head -c 65536 /dev/zero | tr '\\0' x; i=$((i+1)); done; echo END",
        ],
    );
    assert_eq!(e.wait_state("big", "stopped", 20), (None, Some(0)));
    let total: u64 = 40 * 65536 + 4;
    let dir = e.data().join("big");
    let size = |n: &str| fs::metadata(dir.join(n)).map(|m| m.len()).ok();
    assert_eq!(
        (size("ctr.log.1"), size("ctr.log"), size("ctr.log.2")),
        (Some(LOG_MAX), Some(total % LOG_MAX), None),
        "{:?}",
        listing(&dir)
    );
    let out = e.b(&["logs", "big"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""));
    assert_eq!(out.stdout.len() as u64, LOG_MAX + total % LOG_MAX);
    assert!(out.stdout.ends_with("xxxEND\n"));
    assert!(out.stdout[..out.stdout.len() - 4]
        .bytes()
        .all(|b| b == b'x'));
}

// ---------------------------------------------------------------- 4: create, start

#[test]
fn t04_create_then_start() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "create");
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "later",
            "--rootfs",
            e.r(),
            "/bin/sleep",
            "1000",
        ]),
        "later\n",
    );
    assert_eq!(e.row("later"), Some(("created".into(), None, None)));
    assert_eq!(
        norm(&e.b(&["ls"]).stdout),
        "NAME STATE PID CREATED COMMAND EXIT"
    );
    check(
        &e.b(&["exec", "later", "/bin/true"]),
        125,
        "",
        "burrow: container later is not running\n",
    );
    ok_out(&e.b(&["start", "later"]), "later\n");
    let pid = e.pid("later");
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap(),
        "/bin/sleep\u{0}1000\u{0}"
    );
    check(
        &e.b(&["start", "later"]),
        125,
        "",
        "burrow: container later is already running\n",
    );

    // start -a of a container without a terminal: its output, then its exit status.
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "once",
            "--rootfs",
            e.r(),
            "/bin/sh",
            "-c",
            "echo out1; echo err1 >&2; exit 5",
        ]),
        "once\n",
    );
    assert_eq!(e.row("once"), Some(("created".into(), None, None)));
    check(&e.b(&["start", "-a", "once"]), 5, "out1\nerr1\n", "");
    assert_eq!(e.row("once"), Some(("stopped".into(), None, Some(5))));
    check(&e.b(&["start", "nosuch"]), 125, "", &no_such("nosuch"));
}

// ---------------------------------------------------------------- 5: inspect

#[test]
fn t05_inspect() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "inspect");
    e.run_d("insp", &[], &["/bin/sleep", "1000"]);
    let pid = e.pid("insp");
    let got = e.inspect(
        "insp",
        "print(d['name']); print(d['state']); print(d['pid']); print(d['pid'] in d['pids']); \
         print(json.dumps(d['uid_map'])); print(json.dumps(d['gid_map'])); \
         print(len(d['mounts']) > 0, any(m.startswith('/proc proc ') for m in d['mounts'])); \
         print(json.dumps(d['config']['command'])); print(type(d['monitor_pid']).__name__)",
    );
    let (s, c) = f.a.sub;
    let (a, g) = (f.a.u.uid, f.a.u.gid);
    assert_eq!(
        got,
        format!(
            "insp\nrunning\n{pid}\nTrue\n[[0, {a}, 1], [1, {s}, {c}]]\n[[0, {g}, 1], [1, {s}, {c}]]\n\
             True True\n[\"/bin/sleep\", \"1000\"]\nint\n"
        )
    );
    check(&e.b(&["inspect", "nosuch"]), 125, "", &no_such("nosuch"));
}

// ---------------------------------------------------------------- 6: attach

/// Drives `burrow attach` (argv) through a pty: waits a little, types `echo $((6*7))`, waits
/// for 42, then sends `finish` (a python bytes literal); prints the transcript (repr) and
/// the exit status.
const ATTACH_DRIVER: &str = r##"
import os, pty, select, sys, time
finish = eval(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
def pump(secs, want=None):
    global out
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return
            if not d:
                return
            out += d
            if want is not None and want in out:
                return
pump(0.3)
os.write(fd, b"echo $((6*7))\r")
pump(5, b"42\r\n")
os.write(fd, finish)
pump(5)
deadline = time.time() + 5
while True:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        p, st = os.waitpid(pid, 0)
        break
    time.sleep(0.02)
print(repr(out))
print("status", os.waitstatus_to_exitcode(st))
"##;

#[test]
fn t06_attach() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "attach");
    e.run_d("term", &["-t"], &["/bin/sh"]);
    let pid = e.pid("term");
    let drive = |finish: &str| {
        let out = e.script(
            "exec /usr/bin/python3 -c \"$1\" \"$2\" \"$B\" attach term",
            &[ATTACH_DRIVER, finish],
        );
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        out.stdout
    };
    // ctrl-p ctrl-q detaches; the container keeps running.
    let out = drive("b'\\x10\\x11'");
    assert!(out.contains(r"42\r\n"), "{out}");
    assert!(out.contains("burrow: detached from term"), "{out}");
    assert!(out.ends_with("\nstatus 0\n"), "{out}");
    assert_eq!(e.row("term"), Some(("running".into(), Some(pid), None)));
    ok_out(&e.b(&["exec", "term", "/bin/echo", "alive"]), "alive\n");
    // Again, then the shell exits while attached: attach returns its status.
    let out = drive("b'exit 3\\r'");
    assert!(out.contains(r"42\r\n"), "{out}");
    assert!(out.ends_with("\nstatus 3\n"), "{out}");
    assert_eq!(e.row("term"), Some(("stopped".into(), None, Some(3))));
    check(
        &e.b(&["attach", "term"]),
        125,
        "",
        "burrow: container term is not running\n",
    );

    // start -a of a created container with a terminal: what it printed before the attach
    // connected is there too (the monitor replays it), then the terminal until it exits.
    ok_out(
        &e.b(&[
            "create",
            "-t",
            "--name",
            "sai",
            "--rootfs",
            e.r(),
            "/bin/sh",
            "-c",
            "echo early-$((40+2)); exec /bin/sh",
        ]),
        "sai\n",
    );
    let out = e.script(
        "exec /usr/bin/python3 -c \"$1\" \"$2\" \"$B\" start -a sai",
        &[ATTACH_DRIVER, "b'exit 4\\r'"],
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert!(out.stdout.contains(r"early-42\r\n"), "{out:?}");
    assert_eq!(out.stdout.matches("early-42").count(), 1, "{out:?}");
    assert!(out.stdout.contains(r"42\r\n"), "{out:?}");
    assert!(out.stdout.ends_with("\nstatus 4\n"), "{out:?}");
    assert_eq!(e.row("sai"), Some(("stopped".into(), None, Some(4))));

    // A container without a terminal cannot be attached.
    e.run_d("noterm", &[], &["/bin/sleep", "1000"]);
    check(
        &e.b(&["attach", "noterm"]),
        125,
        "",
        "burrow: container noterm has no terminal (start it with -t to attach; use burrow logs -f noterm for its output)\n",
    );
}

// ---------------------------------------------------------------- 7: crash safety

#[test]
fn t07_monitor_or_container_killed() {
    require!();
    let f = fx();
    let u = &f.crash;
    wait_no_procs(u, 10);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let e = Env::new(u, "crash");

    // SIGKILL to the monitor: the container dies with it (parent-death signal).
    e.run_d("mon", &[], &["/bin/sleep", "1000"]);
    let pid = e.pid("mon");
    let mon: i32 = e
        .inspect("mon", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        stat_fields(pid).unwrap()[1],
        mon.to_string(),
        "the monitor is the container's parent"
    );
    sh(&format!("kill -KILL {mon}"));
    wait_dead(pid, 5, "the container of a killed monitor");
    // Its status is unknown (nobody could record it). Zombies linger until init reaps them:
    // poll (the zombie case has a test of its own).
    assert_eq!(e.wait_state("mon", "stopped", 10), (None, None));
    let table = norm(&e.b(&["ls", "-a"]).stdout);
    let row = table.lines().find(|l| l.starts_with("mon ")).unwrap();
    assert!(
        row.starts_with("mon stopped - ") && row.ends_with(" unknown"),
        "{row}"
    );
    ok_out(&e.b(&["rm", "mon"]), "mon\n");
    assert!(!e.state().join("mon").exists());

    // SIGKILL to the container's pid 1: the monitor records 137 and exits.
    e.run_d("one", &[], &["/bin/sleep", "1000"]);
    let pid = e.pid("one");
    let mon: i32 = e
        .inspect("one", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    sh(&format!("kill -KILL {pid}"));
    assert_eq!(e.wait_state("one", "stopped", 5), (None, Some(137)));
    wait_dead(mon, 5, "the monitor of a dead container");
    ok_out(&e.b(&["rm", "one"]), "one\n");

    assert_eq!(listing(&e.state()), Vec::<String>::new());
    assert_eq!(listing(&e.data()), Vec::<String>::new());
    assert_eq!(procs_of(u, false), Vec::<String>::new());
    wait_no_procs(u, 10);
    assert_eq!(fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts);
}

/// Lets `burrow run -d` run under a subreaper that never reaps, so the monitor and the
/// container stay zombies once killed: prints "ready", exits at end of input.
const SUBREAPER: &str = r#"
import ctypes, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
print("ready", r.returncode, r.stdout.decode().strip(), r.stderr.decode().strip(), flush=True)
sys.stdin.read()
"#;

#[test]
fn t07_zombies_are_not_running() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "zombie");
    let mut py = Command::new("/usr/bin/python3")
        .args(["-c", SUBREAPER, "setpriv", "--reuid"])
        .arg(e.user.uid.to_string())
        .arg("--regid")
        .arg(e.user.gid.to_string())
        .args(["--init-groups", "--"])
        .arg(helper("burrow"))
        .args([
            "run",
            "-d",
            "--name",
            "zomb",
            "--rootfs",
            e.r(),
            "/bin/sleep",
            "1000",
        ])
        .env("BURROW_HELPERS_DIR", helpers_dir())
        .env("XDG_RUNTIME_DIR", e.xdg_s())
        .env("XDG_DATA_HOME", e.data_home())
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut py);
    expect_line(&rx, "ready 0 zomb ");
    let pid = e.pid("zomb");
    let mon: i32 = e
        .inspect("zomb", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    sh(&format!("kill -KILL {mon}"));
    wait_dead(pid, 5, "the container of a killed monitor");
    wait_dead(mon, 5, "the killed monitor");
    let zombies = stat_fields(pid).is_some() && stat_fields(mon).is_some();
    // Dead processes (zombies, not reaped yet) are not a running container.
    let row = e.row("zomb");
    let rm = e.b(&["rm", "zomb"]);
    drop(py.stdin.take());
    let _ = py.wait();
    assert!(zombies, "the subreaper did not keep the zombies");
    assert_eq!(
        (row, rm.code, rm.stdout.as_str(), rm.stderr.as_str()),
        (Some(("stopped".into(), None, None)), Some(0), "zomb\n", ""),
        "ls -a and rm while the monitor and the container are zombies"
    );
}

// ---------------------------------------------------------------- 7b: descriptors

#[test]
fn t07_monitor_keeps_no_descriptor_of_the_caller() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "fds");
    // The caller has an extra descriptor (as under make's jobserver, or `7>&1 | cat`): the
    // monitor, which outlives the caller, must not keep it, or whoever waits for its end
    // of file waits as long as the container runs.
    let mark = e.xdg.join("caller-fd");
    let out = e.script(
        "exec \"$B\" run -d --name fds --rootfs \"$R\" /bin/sleep 1000 7>\"$1\"",
        &[mark.to_str().unwrap()],
    );
    ok_out(&out, "fds\n");
    let pid = e.pid("fds");
    let mon: i32 = e
        .inspect("fds", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    let mark = mark.display().to_string();
    for (who, p) in [("the monitor", mon), ("the container", pid)] {
        let held: Vec<String> = fd_numbers(p)
            .into_iter()
            .filter(|l| l.ends_with(&format!(" {mark}")))
            .collect();
        assert_eq!(
            held,
            Vec::<String>::new(),
            "{who} (pid {p}) holds the caller's descriptor; all: {:?}",
            fd_numbers(p)
        );
    }
}

// ---------------------------------------------------------------- 8: two users

#[test]
fn t08_users_cannot_see_or_touch_each_other() {
    require!();
    let f = fx();
    let a = Env::new(&f.a, "usera");
    a.run_d("secret", &[], &["/bin/sleep", "1000"]);
    let pid = a.pid("secret");
    let mon: i32 = a
        .inspect("secret", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    let b = &f.b.u;
    let as_b = |xdg: Option<&str>, args: &[&str]| {
        let mut r = Run::new(b)
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("B", helper("burrow").to_str().unwrap());
        let script = match xdg {
            Some(x) => {
                r = r.env("XDG_RUNTIME_DIR", x);
                "exec \"$B\" \"$@\""
            }
            None => "unset XDG_RUNTIME_DIR; exec \"$B\" \"$@\"",
        };
        r.script(script, args)
    };
    // B's own state directory, and B pointing XDG_RUNTIME_DIR at A's (not B's: ignored).
    for xdg in [None, Some(a.xdg_s())] {
        ok_out(&as_b(xdg, &["ls", "-a", "--format", "json"]), "[]\n");
        let out = as_b(xdg, &["ls", "-a"]);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""));
        assert_eq!(norm(&out.stdout), "NAME STATE PID CREATED COMMAND EXIT");
        for args in [
            &["stop", "-t", "1", "secret"][..],
            &["kill", "secret"],
            &["rm", "secret"],
            &["rm", "-f", "secret"],
            &["exec", "secret", "/bin/true"],
            &["logs", "secret"],
            &["inspect", "secret"],
            &["attach", "secret"],
            &["start", "secret"],
        ] {
            let out = as_b(xdg, args);
            check(&out, 125, "", &no_such("secret"));
        }
    }
    // Nor can B signal A's processes or read A's state.
    for p in [pid, mon] {
        let out = Run::new(b).script("kill -KILL \"$1\"", &[&p.to_string()]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
    }
    let out = Run::new(b).script("ls \"$1\"", &[a.state().to_str().unwrap()]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert_eq!(a.row("secret"), Some(("running".into(), Some(pid), None)));
}

// ---------------------------------------------------------------- 9: names

#[test]
fn t09_names() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "names");
    e.run_d("dup", &[], &["/bin/sleep", "1000"]);
    let pid = e.pid("dup");
    let taken =
        "burrow: a container named dup already exists: remove it (burrow rm dup) or choose another name\n";
    for cmd in ["run", "create"] {
        let mut args = vec![cmd];
        if cmd == "run" {
            args.push("-d");
        }
        args.extend_from_slice(&["--name", "dup", "--rootfs", e.r(), "/bin/true"]);
        check(&e.b(&args), 125, "", taken);
    }
    assert_eq!(e.row("dup"), Some(("running".into(), Some(pid), None)));

    let long = "x".repeat(65);
    for bad in ["bad/name", "-x", ".hidden", "a b", "..", long.as_str()] {
        check(
            &e.b(&["run", "-d", "--name", bad, "--rootfs", e.r(), "/bin/true"]),
            125,
            "",
            &format!("burrow: invalid container name \"{bad}\": use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit\n"),
        );
    }
    // 64 is fine, and so is no name (a random one).
    let max = "y".repeat(64);
    e.run_d(&max, &[], &["/bin/true"]);
    let out = e.b(&["run", "-d", "--rootfs", e.r(), "/bin/true"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let name = out.stdout.trim_end();
    assert!(
        name.len() == 15
            && name.starts_with("burrow-")
            && name[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{out:?}"
    );
    assert!(e.state().join(name).is_dir());

    // rm of a running container needs -f.
    check(
        &e.b(&["rm", "dup"]),
        125,
        "",
        "burrow: container dup is running: stop it first (burrow stop dup) or use burrow rm -f\n",
    );
    assert_eq!(e.row("dup"), Some(("running".into(), Some(pid), None)));
    ok_out(&e.b(&["rm", "-f", "dup"]), "dup\n");
    assert!(dead(pid));
    assert!(e.row("dup").is_none());
    assert!(!e.state().join("dup").exists());
    check(&e.b(&["rm", "dup"]), 125, "", &no_such("dup"));
    // The name is free again.
    e.run_d("dup", &[], &["/bin/true"]);
}

// ---------------------------------------------------------------- 10: soak

#[test]
fn t10_soak_start_and_remove_50() {
    require!();
    let f = fx();
    let u = &f.soak;
    wait_no_procs(u, 10);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let e = Env::new(u, "soak");
    let out = e.script(
        "for i in $(seq 1 50); do \
           n=soak-$i; \
           o=$(\"$B\" run -d --name $n --rootfs \"$R\" /bin/sleep 1000 2>&1); [ \"$o\" = $n ] || { echo \"run $i: $o\"; exit 1; }; \
           o=$(\"$B\" rm -f $n 2>&1); [ \"$o\" = $n ] || { echo \"rm $i: $o\"; exit 1; }; \
         done; echo done",
        &[],
    );
    ok_out(&out, "done\n");
    assert_eq!(listing(&e.state()), Vec::<String>::new());
    assert_eq!(listing(&e.data()), Vec::<String>::new());
    // rm -f returns once the monitor is gone: nothing alive right away, zombies soon reaped.
    assert_eq!(procs_of(u, false), Vec::<String>::new());
    wait_no_procs(u, 10);
    assert_eq!(fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts);
    // The rootfs holds nothing new but the mount points burrow creates.
    assert_eq!(
        listing(&e.rootfs.dir),
        ["bin", "dev", "etc", "proc", "sys", "tmp"]
    );
}

// ---------------------------------------------------------------- 11: terminal closing

#[test]
fn t11_survives_the_terminal_closing() {
    require!();
    let f = fx();
    let e = Env::new(&f.a, "hup");
    let caller_file = e.xdg.join("caller");
    // A pty session like a terminal window: script(1) in a new session runs a shell that
    // starts the container, records its pid and stays. SIGHUP's default action is restored
    // first: a test run under nohup would otherwise hand its SIG_IGN down to the shell.
    let mut script = Command::new("env")
        .args([
            "--default-signal=HUP",
            "setpriv",
            "--reuid",
            &e.user.uid.to_string(),
            "--regid",
            &e.user.gid.to_string(),
            "--init-groups",
            "--",
            "setsid",
            "script",
            "-qec",
            "\"$B\" run -d --name hup --rootfs \"$R\" /bin/sleep 1000 >\"$X/out\" 2>&1; echo $$ >\"$X/caller.tmp\"; mv \"$X/caller.tmp\" \"$X/caller\"; exec sleep 60",
            "/dev/null",
        ])
        .env("BURROW_HELPERS_DIR", helpers_dir())
        .env("XDG_RUNTIME_DIR", e.xdg_s())
        .env("XDG_DATA_HOME", e.data_home())
        .env("B", helper("burrow"))
        .env("R", e.r())
        .env("X", e.xdg_s())
        .env("SHELL", "/bin/sh")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !caller_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the session never started the container: {:?}",
            fs::read_to_string(e.xdg.join("out"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fs::read_to_string(e.xdg.join("out")).unwrap(), "hup\n");
    let caller: i32 = fs::read_to_string(&caller_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = e.pid("hup");
    let mon: i32 = e
        .inspect("hup", "print(d['monitor_pid'])")
        .trim()
        .parse()
        .unwrap();
    let c = stat_fields(caller).unwrap();
    let m = stat_fields(mon).unwrap();
    assert_ne!(c[4], "0", "the caller has the pty as its terminal");
    assert_ne!(m[3], c[3], "the monitor is in the caller's session");
    assert_eq!(m[3], mon.to_string(), "the monitor leads its own session");
    assert_eq!(m[4], "0", "the monitor has a controlling terminal");
    // Hang up: SIGHUP to the caller's process group, then the terminal goes away.
    sh(&format!("kill -HUP -- -{}", c[2]));
    let _ = script.kill();
    let _ = script.wait();
    wait_dead(caller, 5, "the shell of the closed terminal");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(e.row("hup"), Some(("running".into(), Some(pid), None)));
    ok_out(&e.b(&["exec", "hup", "/bin/echo", "still"]), "still\n");
}
