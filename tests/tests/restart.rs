//! Restart policies (`--restart`) and `burrow generate systemd`, against the real kernel, as
//! an unprivileged test user on the busybox rootfs: the monitor restarts the container after a
//! growing delay, counts the restarts (ls, inspect), and never restarts after `burrow stop`,
//! `kill` or `rm -f`. Every test has a private XDG_RUNTIME_DIR and XDG_DATA_HOME.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::ctr_env::*;
use burrow_tests::*;
use std::fs;
use std::time::{Duration, Instant};

fn user() -> &'static TestUser {
    ctr_user("rst")
}

// One test's world: private state and data directories and a rootfs; on drop every container
// is removed (rm -f) and the directories deleted.
burrow_tests::ctr_env_newtype!(Env);

impl Env {
    fn new(tag: &str) -> Env {
        Env(CtrEnv::new(user(), &format!("rst-{tag}")))
    }

    /// `burrow run -d --name NAME --rootfs R --restart POLICY sh -c SCRIPT`.
    fn run_d(&self, name: &str, policy: &str, script: &str) {
        let r = self.b(&[
            "run",
            "-d",
            "--name",
            name,
            "--rootfs",
            self.rootfs.path(),
            "--restart",
            policy,
            "/bin/sh",
            "-c",
            script,
        ]);
        ok_out(&r, &format!("{name}\n"));
    }

    /// (state, restart_count, exit_code) from inspect.
    fn status(&self, name: &str) -> (String, u64, Option<i64>) {
        let v = self.inspect(name);
        (
            v["state"].as_str().unwrap().to_owned(),
            v["restart_count"].as_u64().unwrap(),
            v["exit_code"].as_i64(),
        )
    }

    /// Polls until `pred` holds for the status (at most `secs`).
    fn wait_for(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        pred: impl Fn(&(String, u64, Option<i64>)) -> bool,
    ) -> (String, u64, Option<i64>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(name);
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not {what} after {secs} s: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self, name: &str) -> String {
        let r = self.b(&["logs", name]);
        assert_eq!(r.code, Some(0), "{r:?}");
        r.stdout
    }

    /// The container's monitor is gone (its pid, with its start time, from state.json).
    fn no_monitor(&self, name: &str) {
        let st = fs::read_to_string(self.xdg.join(format!("burrow/{name}/state.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&st).unwrap();
        let (Some(pid), Some(start)) = (v["monitor_pid"].as_i64(), v["monitor_start"].as_u64())
        else {
            return;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // A zombie (not yet reaped by whoever inherited it) has exited.
        let alive = stat.rsplit_once(") ").is_some_and(|(_, rest)| {
            let f: Vec<&str> = rest.split(' ').collect();
            !matches!(f[0], "Z" | "X") && f.get(19) == Some(&start.to_string().as_str())
        });
        assert!(!alive, "{name}: its monitor {pid} is still there");
    }
}

/// Lines of the log that start with `tag`, as their second field (a number).
fn stamps(log: &str, tag: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn on_failure_n_restarts_exactly_n_times() {
    let e = Env::new("onf");
    e.run_d("onf", "on-failure:2", "echo run; exit 1");
    let s = e.wait_for("onf", 60, "stopped", |s| s.0 == "stopped");
    assert_eq!(s, ("stopped".into(), 2, Some(1)));
    // Nothing more happens: wait longer than the next delays would be.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.status("onf"), ("stopped".into(), 2, Some(1)));
    assert_eq!(e.log("onf"), "run\nrun\nrun\n", "the log holds every run");
    let v = e.inspect("onf");
    assert_eq!(v["restart_policy"], "on-failure:2");
    let table = norm(&e.b(&["ls", "-a"]).stdout);
    let row = table.lines().find(|l| l.starts_with("onf ")).unwrap();
    assert!(
        row.starts_with("onf stopped - ") && row.ends_with(" 1 (restarts: 2)"),
        "{row}"
    );
    let json = e.b(&["ls", "-a", "--format", "json"]).stdout;
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["restart_count"], 2, "{json}");
    e.no_monitor("onf");

    // on-failure does not restart a success.
    e.run_d("onf0", "on-failure", "echo ok; exit 0");
    let s = e.wait_for("onf0", 30, "stopped", |s| s.0 == "stopped");
    assert_eq!(s, ("stopped".into(), 0, Some(0)));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.status("onf0"), ("stopped".into(), 0, Some(0)));
}

/// `start -a` on a container with a restart policy follows every run, and ends with the
/// container's last exit status once the monitor gives up, with a terminal and without.
#[test]
fn start_attach_follows_restarts() {
    let e = Env::new("sta");
    for (name, tty) in [("sta", false), ("statty", true)] {
        let mut args = vec!["create", "--name", name, "--rootfs", e.rootfs.path()];
        if tty {
            args.push("-t");
        }
        args.extend([
            "--restart",
            "on-failure:2",
            "/bin/sh",
            "-c",
            "echo run; exit 7",
        ]);
        ok_out(&e.b(&args), &format!("{name}\n"));
        // Twice: the second start prints its own runs, not the first one's again.
        for _ in 0..2 {
            let r = if tty {
                // Stdin is not a terminal here; `script` gives `start -a` one.
                e.script(
                    "script -qec \"$B start -a $1\" /dev/null </dev/null",
                    &[name],
                )
            } else {
                e.b(&["start", "-a", name])
            };
            assert_eq!(r.code, Some(7), "{name}: {r:?}");
            // Counted as words: a terminal may add its own bytes around them (script(1)
            // writes an end-of-file character when its stdin ends).
            let runs = r.stdout.matches("run").count();
            assert_eq!(runs, 3, "{name}: each run's output, once: {r:?}");
            assert_eq!(e.status(name), ("stopped".into(), 2, Some(7)));
            e.no_monitor(name);
        }
        let all = e.log(name);
        assert_eq!(all.lines().filter(|l| l.trim_end() == "run").count(), 6);
    }
}

#[test]
fn no_policy_never_restarts() {
    let e = Env::new("no");
    e.run_d("nope", "no", "echo once; exit 3");
    let s = e.wait_for("nope", 30, "stopped", |s| s.0 == "stopped");
    assert_eq!(s, ("stopped".into(), 0, Some(3)));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(e.status("nope"), ("stopped".into(), 0, Some(3)));
    assert_eq!(e.log("nope"), "once\n");
    assert_eq!(e.inspect("nope")["restart_policy"], "no");
    let table = norm(&e.b(&["ls", "-a"]).stdout);
    let row = table.lines().find(|l| l.starts_with("nope ")).unwrap();
    assert!(row.ends_with(" 3"), "no restart count shown: {row}");
}

#[test]
fn delay_grows_between_restarts() {
    let e = Env::new("delay");
    // Each run prints the host's uptime (seconds, 1/100 s resolution) when it starts.
    e.run_d(
        "slow",
        "on-failure:4",
        "echo \"t $(cut -d' ' -f1 /proc/uptime)\"; exit 2",
    );
    let s = e.wait_for("slow", 90, "stopped", |s| s.0 == "stopped");
    assert_eq!(s, ("stopped".into(), 4, Some(2)));
    let t = stamps(&e.log("slow"), "t ");
    assert_eq!(t.len(), 5, "{t:?}");
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    // The delays are 0.1, 0.2, 0.4 and 0.8 s: each gap is at least its delay (a sleep is
    // never shorter; the uptime's resolution is 0.01 s), and the delay grows far more than
    // any start-up jitter between the first and the last.
    for (g, min) in gaps.iter().zip([0.09, 0.19, 0.39, 0.79]) {
        assert!(*g >= min, "gaps {gaps:?}: one is shorter than its delay");
    }
    assert!(gaps[3] > gaps[0], "the delay did not grow: {gaps:?}");
    assert!(gaps[3] >= gaps[0] + 0.5, "the delay did not grow: {gaps:?}");
}

/// The container restarts (count grows), then the user's `how` ends it for good.
fn restarts_until_user_stops(policy: &str, how: &str) {
    let e = Env::new(&format!("{}-{how}", policy.replace(':', "")));
    e.run_d("loop", policy, "echo tick; exit 0");
    e.wait_for("loop", 60, "restarted 3 times", |s| s.1 >= 3);
    let r = match how {
        "stop" => e.b(&["stop", "-t", "2", "loop"]),
        "kill" => e.b(&["kill", "loop"]),
        "rm" => e.b(&["rm", "-f", "loop"]),
        _ => unreachable!(),
    };
    ok_out(&r, "loop\n");
    if how == "rm" {
        std::thread::sleep(Duration::from_millis(2500));
        ok_out(&e.b(&["ls", "-a", "--format", "json"]), "[]\n");
        assert!(
            !e.xdg.join("data/burrow/containers/loop").exists(),
            "rm -f: a restart brought the container back"
        );
        return;
    }
    let s = e.wait_for("loop", 15, "stopped", |s| s.0 == "stopped");
    // Longer than the next delay (at most 1.6 s after 4 restarts; more restarts may have
    // happened before the stop arrived, so a few delays): nothing comes back.
    std::thread::sleep(Duration::from_millis(3500));
    let after = e.status("loop");
    assert_eq!(after.0, "stopped", "{how} was undone: {after:?}");
    assert_eq!(
        after.1, s.1,
        "{how} was undone: restarts went on: {after:?}"
    );
    e.no_monitor("loop");
    let runs = e.log("loop").lines().filter(|l| *l == "tick").count() as u64;
    assert_eq!(runs, after.1 + 1, "one log line per run");
    assert_eq!(
        norm(&e.b(&["ls"]).stdout),
        "NAME STATE PID CREATED COMMAND EXIT",
        "not listed as running"
    );
    // A start is a new life: the count starts again and the policy holds again.
    ok_out(&e.b(&["start", "loop"]), "loop\n");
    e.wait_for("loop", 60, "restarted again", |s| s.1 >= 1);
    ok_out(&e.b(&["stop", "-t", "2", "loop"]), "loop\n");
    e.wait_for("loop", 15, "stopped", |s| s.0 == "stopped");
}

#[test]
fn always_until_stop() {
    restarts_until_user_stops("always", "stop");
}

#[test]
fn unless_stopped_until_stop() {
    restarts_until_user_stops("unless-stopped", "stop");
}

#[test]
fn always_until_kill() {
    restarts_until_user_stops("always", "kill");
}

#[test]
fn always_until_rm_f() {
    restarts_until_user_stops("always", "rm");
}

#[test]
fn on_failure_is_not_undone_after_kill_of_a_long_run() {
    // A container that runs (sleep) and is killed: exit 137, a failure, yet no restart.
    let e = Env::new("killrun");
    e.run_d("k", "on-failure", "echo up; exec sleep 600");
    e.wait_for("k", 30, "running", |s| s.0 == "running");
    ok_out(&e.b(&["kill", "k"]), "k\n");
    let s = e.wait_for("k", 15, "stopped", |s| s.0 == "stopped");
    assert_eq!(s, ("stopped".into(), 0, Some(137)));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(e.status("k"), ("stopped".into(), 0, Some(137)));
}

#[test]
fn sigkill_of_the_monitor_ends_it_without_restart() {
    let e = Env::new("monkill");
    e.run_d("m", "always", "exec sleep 600");
    e.wait_for("m", 30, "running", |s| s.0 == "running");
    let v = e.inspect("m");
    let mon = v["monitor_pid"].as_i64().unwrap();
    sh(&format!("kill -KILL {mon}"));
    let s = e.wait_for("m", 15, "stopped", |s| s.0 == "stopped");
    assert_eq!(s.1, 0);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(e.status("m").0, "stopped");
    assert!(e.inspect("m")["pids"].as_array().unwrap().is_empty());
}

#[test]
fn a_held_container_lock_is_waited_for_within_a_bound() {
    // A command stuck while holding a container's lock (here: a process of the test holding
    // the flock of $XDG_RUNTIME_DIR/burrow/NAME/lock) stalls no later command forever: stop
    // and ls fail after BURROW_LOCK_TIMEOUT, naming the container, the lock and its holder.
    let e = Env::new("lockheld");
    e.run_d("h", "no", "exec sleep 600");
    e.wait_for("h", 30, "running", |s| s.0 == "running");
    let lock = e.xdg.join("burrow/h/lock");
    assert!(lock.is_file(), "{} missing", lock.display());
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "60"])
        // Its sleep outlives a killed flock: it must not hold the test's output open.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = e.script("BURROW_LOCK_TIMEOUT=1 exec \"$B\" stop -t 1 h", &[]);
    let took = t0.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_ne!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr.contains("container h stayed locked")
            && r.stderr.contains(lock.to_str().unwrap())
            && r.stderr.contains("BURROW_LOCK_TIMEOUT"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("flock") || r.stderr.contains("sleep"),
        "the holder is not named: {r:?}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // Once the holder is gone the same stop works.
    ok_out(&e.b(&["stop", "-t", "1", "h"]), "h\n");
}

#[test]
fn refused_options() {
    let e = Env::new("refuse");
    let rootfs = e.rootfs.path();
    for (args, msg) in [
        (
            &["run", "-d", "--rm", "--restart", "always"][..],
            "--rm and --restart always conflict (a removed container cannot be restarted): use one of them",
        ),
        (
            &["run", "--restart", "always"][..],
            "--restart always needs a detached container (its monitor restarts it): add -d, or use burrow create then burrow start",
        ),
        (
            &["create", "--restart", "sometimes"][..],
            "restart policy \"sometimes\": use no, on-failure, on-failure:N (N a number of retries), always or unless-stopped",
        ),
    ] {
        let mut all = args.to_vec();
        all.extend(["--rootfs", rootfs, "/bin/true"]);
        e.b(&all).expect(125, &format!("burrow: {msg}\n"));
    }
    ok_out(&e.b(&["ls", "-a", "--format", "json"]), "[]\n");

    // The TOML key, strictly parsed too.
    let conf = e.xdg.join("c.toml");
    fs::write(
        &conf,
        "restart = \"on-failure:3\"\ncommand = [\"/bin/true\"]\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "t",
            "--config",
            c,
            "--rootfs",
            e.rootfs.path(),
        ]),
        "t\n",
    );
    assert_eq!(e.inspect("t")["restart_policy"], "on-failure:3");
    fs::write(&conf, "restart = \"always:2\"\ncommand = [\"/bin/true\"]\n").unwrap();
    let r = e.b(&["create", "--config", c, "--rootfs", e.rootfs.path()]);
    assert_eq!(r.code, Some(125), "{r:?}");
    assert!(
        r.stderr
            .contains("only on-failure takes a number of retries"),
        "{r:?}"
    );
}

#[test]
fn generate_systemd_unit() {
    let e = Env::new("gen");
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "web",
            "--rootfs",
            e.rootfs.path(),
            "/bin/sleep",
            "600",
        ]),
        "web\n",
    );
    let r = e.b(&["generate", "systemd", "-t", "5", "web"]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
    let b = helper("burrow");
    let b = b.to_str().unwrap();
    let data = e.xdg.join("data");
    for line in [
        "[Unit]".to_owned(),
        "Description=burrow container web".into(),
        "Type=forking".into(),
        "PIDFile=%t/burrow/web/monitor.pid".into(),
        "Environment=XDG_RUNTIME_DIR=%t".into(),
        format!("Environment=XDG_DATA_HOME={}", data.display()),
        format!("ExecStart={b} start web"),
        format!("ExecStop={b} stop -t 5 web"),
        "TimeoutStopSec=35".into(),
        "Restart=on-failure".into(),
        "WantedBy=default.target".into(),
    ] {
        assert!(
            r.stdout.lines().any(|l| l == line),
            "{line} missing:\n{}",
            r.stdout
        );
    }
    // No dependency at all, on a network target least of all.
    assert!(
        !r.stdout.lines().any(|l| ["After=", "Wants=", "Requires="]
            .iter()
            .any(|k| l.starts_with(k))),
        "{}",
        r.stdout
    );

    // A container that restarts itself: systemd only restarts a killed monitor.
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "self",
            "--restart",
            "always",
            "--rootfs",
            e.rootfs.path(),
            "/bin/true",
        ]),
        "self\n",
    );
    let r = e.b(&["generate", "systemd", "self"]);
    assert!(
        r.stdout.lines().any(|l| l == "Restart=on-abnormal"),
        "{r:?}"
    );
    let r = e.b(&["generate", "systemd", "--restart-policy", "always", "self"]);
    assert_eq!(r.code, Some(125), "{r:?}");
    assert!(r.stderr.contains("must not restart it too"), "{r:?}");
    let r = e.b(&["generate", "systemd", "nosuch"]);
    r.expect(
        125,
        "burrow: no such container: nosuch (see burrow ls --all)\n",
    );

    // --files writes container-NAME.service into the current directory.
    let out = e.script(
        "cd \"$XDG_RUNTIME_DIR\" && \"$B\" generate systemd --files --name web && cat container-web.service",
        &[],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with(&format!(
            "{}\n# container-web.service\n",
            e.xdg.join("container-web.service").display()
        )),
        "{out:?}"
    );

    // systemd's own check of the unit (scripts/install-test-deps.sh installs systemd, as a
    // package, for systemd-analyze; under CI its absence is a failure, not a skip).
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"));
    assert!(
        !ci || std::path::Path::new("/usr/bin/systemd-analyze").is_file(),
        "systemd-analyze missing under CI: run scripts/install-test-deps.sh"
    );
    if std::path::Path::new("/usr/bin/systemd-analyze").is_file() {
        let v = e.script(
            "cd \"$XDG_RUNTIME_DIR\" && systemd-analyze verify --user ./container-web.service 2>&1",
            &[],
        );
        assert_eq!(v.code, Some(0), "systemd-analyze verify: {v:?}");
        assert!(
            !v.stdout.contains("container-web.service:"),
            "systemd-analyze complains about the unit: {}",
            v.stdout
        );
    } else {
        eprintln!("systemd-analyze not installed: the unit was checked by its text only");
    }
}

#[test]
fn linger_needs_systemd() {
    if std::path::Path::new("/run/systemd/system").exists() {
        eprintln!("this host runs systemd: the no-systemd message is not testable here");
        return;
    }
    let u = user();
    let before = fs::read_to_string("/etc/subuid").unwrap();
    let r = Run::new(&TestUser::root()).cmd(
        &helper("burrow"),
        &["admin", "add-user", &u.name, "--linger"],
    );
    assert_eq!(r.code, Some(125), "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.starts_with("burrow: --linger: lingering needs systemd-logind, and this host does not run systemd (no /run/systemd/system): nothing was changed."),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains(&format!("runuser -u {} -- burrow start NAME", u.name)),
        "{r:?}"
    );
    assert_eq!(fs::read_to_string("/etc/subuid").unwrap(), before);
}
