//! The fixtures of the `burrow run` tests (`tests/tests/run*.rs`): the test users and their
//! real subordinate ranges, a rootfs with `/bin/probe` ([`probe_binary`]`("probe")`) and
//! `/etc/notexec`, and ways to run the installed front end as a test user and watch what it
//! starts.
//!
//! Every test runs the installed front end (`$P/bin/burrow`, helpers from `$P/bin` through
//! `BURROW_HELPERS_DIR`) as a test user whose real /etc/subuid and /etc/subgid ranges burrow
//! reads.

use crate::*;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What every test shares, built once per test process.
#[derive(Debug)]
pub struct Fixture {
    /// The main test user (real subuid/subgid ranges).
    pub user: TestUser,
    /// (subuid start, subgid start, count) of `user`.
    pub sub: (u32, u32, u32),
    /// A user only the "nothing left behind" test runs as (it counts the user's processes).
    pub leak: TestUser,
    /// A user without any subordinate range.
    pub nosub: TestUser,
    /// `tests/probes/probe.c`, compiled ([`probe_binary`]), copied into every rootfs as
    /// /bin/probe.
    pub probe: PathBuf,
}

pub fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        // All changes to the real /etc/sub[ug]id happen here, one after the other.
        let user = TestUser::get("run");
        let sub = user.ensure_real_subids();
        let leak = TestUser::get("runleak");
        leak.ensure_real_subids();
        let nosub = TestUser::get("nosub");
        remove_real_subids(&nosub);
        // Make sure the installed front end exists (prefix() installs it when needed).
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );

        let probe = probe_binary("probe");
        Fixture {
            user,
            sub,
            leak,
            nosub,
            probe,
        }
    })
}

/// Deletes every subordinate range of `u` from the real /etc/subuid and /etc/subgid.
pub fn remove_real_subids(u: &TestUser) {
    for (file, flag) in [
        ("/etc/subuid", "--del-subuids"),
        ("/etc/subgid", "--del-subgids"),
    ] {
        let text = fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let p: Vec<&str> = line.split(':').collect();
            if p.len() == 3 && (p[0] == u.name || p[0] == u.uid.to_string()) {
                let (start, count): (u64, u64) = (p[1].parse().unwrap(), p[2].parse().unwrap());
                if count > 0 {
                    sh(&format!(
                        "usermod {flag} {start}-{} {}",
                        start + count - 1,
                        u.name
                    ));
                }
            }
        }
        let left = fs::read_to_string(file).unwrap_or_default();
        assert!(
            !left
                .lines()
                .any(|l| l.split(':').next() == Some(u.name.as_str())),
            "{file} still has a range for {}:\n{left}",
            u.name
        );
    }
}

/// A private copy of the harness's busybox template (see [`Rootfs`]) plus `/etc/notexec` (a
/// script without the execute bit) and `/bin/probe`, all owned by `owner` (so container root
/// owns them), removed on drop.
pub fn rootfs(owner: &TestUser, tag: &str) -> Rootfs {
    let r = Rootfs::new(owner, tag);
    let (probe, notexec) = (r.dir.join("bin/probe"), r.dir.join("etc/notexec"));
    fs::copy(&fx().probe, &probe).unwrap();
    fs::write(&notexec, "#!/bin/sh\necho no\n").unwrap();
    for p in [probe, notexec] {
        std::os::unix::fs::chown(p, Some(owner.uid), Some(owner.gid)).unwrap();
    }
    r
}

/// Paths inside a rootfs.
pub trait Inside {
    /// `p` (absolute or not) below the rootfs.
    fn join(&self, p: &str) -> PathBuf;
}

impl Inside for Rootfs {
    fn join(&self, p: &str) -> PathBuf {
        self.dir.join(p.trim_start_matches('/'))
    }
}

/// `burrow run ARGS...` as `u`, with the test prefix's helpers.
pub fn burrow_as(u: &TestUser, args: &[&str]) -> Ran {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Run::new(u)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&helper("burrow"), &all)
}

/// `burrow run --rootfs R ARGS...` as the main user.
pub fn burrow(r: &Rootfs, args: &[&str]) -> Ran {
    let mut all = vec!["--rootfs", r.path()];
    all.extend_from_slice(args);
    burrow_as(&fx().user, &all)
}

/// Runs a bash script as `u` (`$B` is the front end, BURROW_HELPERS_DIR is set).
pub fn script_as(u: &TestUser, script: &str, args: &[&str]) -> Ran {
    Run::new(u)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .env("B", helper("burrow").to_str().unwrap())
        .script(script, args)
}

pub fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Every bit the running kernel supports, from /proc/sys/kernel/cap_last_cap.
pub fn all_caps() -> u64 {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

/// The `default` policy: everything but sys_module (16), sys_boot (22), sys_time (25),
/// mknod (27), audit_control (30), mac_admin (33).
pub fn default_caps() -> u64 {
    all_caps() & !((1 << 16) | (1 << 22) | (1 << 25) | (1 << 27) | (1 << 30) | (1 << 33))
}

pub fn cap_lines(inh: u64, prm: u64, eff: u64, bnd: u64, amb: u64) -> String {
    format!(
        "CapInh:\t{inh:016x}\nCapPrm:\t{prm:016x}\nCapEff:\t{eff:016x}\nCapBnd:\t{bnd:016x}\nCapAmb:\t{amb:016x}\n"
    )
}

/// Starts `burrow run ARGS...` as `u` in the background (stdio to pipes / null).
pub fn spawn_burrow(u: &TestUser, args: &[&str]) -> Child {
    Command::new("setpriv")
        .args([
            "--reuid",
            &u.uid.to_string(),
            "--regid",
            &u.gid.to_string(),
            "--init-groups",
            "--",
        ])
        .arg(helper("burrow"))
        .arg("run")
        .args(args)
        .env("BURROW_HELPERS_DIR", helpers_dir())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Descendants of `pid` as (pid, comm).
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let kids = fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for k in kids
            .split_whitespace()
            .filter_map(|k| k.parse::<u32>().ok())
        {
            let comm = fs::read_to_string(format!("/proc/{k}/comm")).unwrap_or_default();
            out.push((k, comm.trim().to_owned()));
            todo.push(k);
        }
    }
    out
}

/// Waits until a descendant of `pid` runs `comm`.
pub fn wait_descendant(child: &mut Child, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !descendants(child.id()).iter().any(|(_, c)| c == comm) {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("burrow ended early ({st}) before running {comm}");
        }
        assert!(
            Instant::now() < deadline,
            "{comm} never started in the container"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit within `secs`; returns (code, stdout, stderr).
pub fn wait_exit(mut child: Child, secs: u64) -> Ran {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            return Ran {
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "burrow did not exit within {secs} s; stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn send_signal(pid: u32, sig: &str) {
    sh(&format!("kill -{sig} {pid}"));
}

/// Processes of `uid` (pgrep), as "pid comm" lines.
pub fn procs_of(uid: u32) -> String {
    let out = Command::new("pgrep")
        .args(["-l", "-u", &uid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A rootfs (of the main user) whose `dir` is a symlink to `to`.
pub fn symlinked(tag: &str, dir: &str, to: &str) -> Rootfs {
    let f = fx();
    let r = rootfs(&f.user, tag);
    let p = r.join(dir);
    let _ = fs::remove_dir(&p);
    std::os::unix::fs::symlink(to, &p).unwrap();
    sh(&format!(
        "chown -h {}:{} {}",
        f.user.uid,
        f.user.gid,
        p.display()
    ));
    r
}
