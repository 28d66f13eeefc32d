//! Against the real kernel, as root: v1 memory, cpu, cpuacct and pids hierarchies (each test
//! works below its own `burrow-test-<pid>-<tag>` directory in them, which the host's mountinfo
//! lines are pointed at), and whatever the cgroup2 mount allows. Every directory made is
//! removed by a guard, also when a test fails. Skipped (with a message) without root or
//! without the hierarchies; under CI=true that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use burrow_cgroups::Controller::{Cpu, Cpuacct, Memory, Pids};
use burrow_cgroups::{cpu_shares, Cgroup, Error, Host, Mode};
use burrow_config::{parse_size, Limits};

/// Kills its children and removes its directories (deepest first) when dropped.
#[derive(Default)]
struct Guard {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

fn rmdir_all(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_all(&e.path());
            }
        }
    }
    for _ in 0..100 {
        match fs::remove_dir(d) {
            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in self.dirs.iter().rev() {
            rmdir_all(d);
            if d.exists() {
                eprintln!("LEFT BEHIND: {}", d.display());
            }
        }
    }
}

fn skip(why: &str) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "{why}, and CI=true forbids skipping");
    eprintln!("SKIP: {why}");
    true
}

/// Test directories in the real v1 hierarchies, and mountinfo text whose mount points are
/// those directories. `None` when the test cannot run here.
fn v1_setup(tag: &str, g: &mut Guard) -> Option<String> {
    if fs::metadata("/proc/self").map_or(0, |m| m.uid()) != 0 {
        skip("not root");
        return None;
    }
    let host = Host::system().unwrap();
    let mut mountinfo = String::new();
    for c in [Memory, Cpu, Cpuacct, Pids] {
        let Some(m) = host.v1_mount(c) else {
            skip(&format!("no cgroup v1 {} hierarchy", c.name()));
            return None;
        };
        let dir = m
            .mount_point
            .join(format!("burrow-test-{}-{tag}", std::process::id()));
        if g.dirs.contains(&dir) {
            continue;
        }
        fs::create_dir(&dir).unwrap();
        g.dirs.push(dir.clone());
        mountinfo += &format!(
            "1 1 0:1 / {} rw - cgroup cgroup rw,{}\n",
            dir.display(),
            m.options.join(",")
        );
    }
    Some(mountinfo)
}

fn line(path: &Path) -> String {
    fs::read_to_string(path).unwrap().trim().to_owned()
}

/// `sh -c script` that waits for a line on stdin first, so that everything it starts runs
/// in the cgroup it is moved into meanwhile.
fn held(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", &format!("read x; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn release(c: &mut Child) {
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
}

#[test]
fn v1_admin_detect_limits_process_stats_remove() {
    let mut g = Guard::default();
    let Some(mountinfo) = v1_setup("full", &mut g) else {
        return;
    };
    let host = Host::with_roots(&mountinfo, "0::/\n", Path::new("/"), 65534, "nobody").unwrap();

    let mode = host.detect(&[Memory]);
    let e = mode.unwrap_err().to_string();
    assert!(
        e.ends_with(
            "/burrow/nobody does not exist; ask your admin to run: burrow admin add-user nobody"
        ),
        "{e}"
    );

    let made = host.admin_prepare_v1("nobody", 65534, 65534).unwrap();
    assert_eq!(made.len(), 4);
    for d in &made {
        assert_eq!(fs::metadata(d).unwrap().uid(), 65534);
        assert_eq!(fs::metadata(d.join("cgroup.procs")).unwrap().uid(), 65534);
        assert_eq!(fs::metadata(d.join("tasks")).unwrap().uid(), 65534);
        assert_eq!(fs::metadata(d.join("notify_on_release")).unwrap().uid(), 0);
    }
    assert_eq!(host.admin_prepare_v1("nobody", 65534, 65534).unwrap(), made);
    let mode = host.detect(&[Memory, Cpu, Pids]).unwrap();
    let Mode::V1 { dirs } = &mode else {
        panic!("{mode:?}")
    };
    assert_eq!(dirs.len(), 4);

    let limits = Limits {
        memory: Some(parse_size("64m").unwrap()),
        memory_swap: Some(parse_size("96m").unwrap()),
        cpu_quota_us: Some(Limits::from_cpus(0.2).unwrap()),
        cpu_weight: Some(200),
        pids: Some(16),
    };
    let cg = Cgroup::create(&mode, "c1", &limits).unwrap();
    let at = |c, f: &str| dirs[&c].join("c1").join(f);
    assert_eq!(line(&at(Memory, "memory.limit_in_bytes")), "67108864");
    assert_eq!(
        line(&at(Memory, "memory.memsw.limit_in_bytes")),
        "100663296"
    );
    assert_eq!(line(&at(Cpu, "cpu.cfs_quota_us")), "20000");
    assert_eq!(line(&at(Cpu, "cpu.cfs_period_us")), "100000");
    assert_eq!(line(&at(Cpu, "cpu.shares")), cpu_shares(200).to_string());
    assert_eq!(line(&at(Pids, "pids.max")), "16");
    assert!(matches!(
        Cgroup::create(&mode, "c1", &limits),
        Err(Error::Exists(_))
    ));

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    cg.add_process(pid).unwrap();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for c in ["memory", "cpu", "cpuacct", "pids"] {
        let want = format!(
            ":{c}:/burrow-test-{}-full/burrow/nobody/c1/leaf\n",
            std::process::id()
        );
        assert!(own.contains(&want), "{c}: {own}");
    }
    let s = Cgroup::open(&mode, "c1").unwrap().stats().unwrap();
    assert_eq!(s.pids_current, Some(1));
    assert_eq!(s.oom_kills, Some(0));
    assert!(
        s.memory_current.is_some() && s.memory_peak.is_some() && s.cpu_usage_ns.is_some(),
        "{s:?}"
    );

    // Busy while the process lives (only after the retries: about a second).
    assert!(matches!(cg.clone().remove(), Err(Error::Busy(_))));
    child.kill().unwrap();
    child.wait().unwrap();
    cg.clone().remove().unwrap();
    assert!(cg.paths().iter().all(|d| !d.exists()));
    cg.remove().unwrap();
    assert!(matches!(Cgroup::open(&mode, "c1"), Err(Error::NotFound(_))));

    assert_eq!(host.admin_remove_v1("nobody").unwrap(), made);
    assert!(made.iter().all(|d| !d.exists()));
}

#[test]
fn v1_memory_hog_is_oom_killed() {
    let mut g = Guard::default();
    let Some(mountinfo) = v1_setup("oom", &mut g) else {
        return;
    };
    let host = Host::with_roots(&mountinfo, "0::/\n", Path::new("/"), 0, "root").unwrap();
    host.admin_prepare_v1("root", 0, 0).unwrap();
    let mode = host.detect(&[Memory]).unwrap();
    let limits = Limits {
        memory: Some(16 << 20),
        memory_swap: Some(16 << 20),
        ..Limits::default()
    };
    let cg = Cgroup::create(&mode, "hog", &limits).unwrap();
    // tail keeps a line without newline in memory: 200 MB of zeros.
    let mut hog = held("head -c 200000000 /dev/zero | tail");
    cg.add_process(i32::try_from(hog.id()).unwrap()).unwrap();
    release(&mut hog);
    let status = hog.wait().unwrap();
    assert!(!status.success(), "{status}");
    let s = cg.stats().unwrap();
    assert!(s.oom_kills >= Some(1), "{s:?}");
    assert!(s.memory_peak.unwrap() <= 16 << 20, "{s:?}");
    cg.remove().unwrap();
}

#[test]
fn v1_pids_limit_stops_forks() {
    let mut g = Guard::default();
    let Some(mountinfo) = v1_setup("pids", &mut g) else {
        return;
    };
    let host = Host::with_roots(&mountinfo, "0::/\n", Path::new("/"), 0, "root").unwrap();
    host.admin_prepare_v1("root", 0, 0).unwrap();
    let mode = host.detect(&[Pids]).unwrap();
    let cg = Cgroup::create(
        &mode,
        "fork",
        &Limits {
            pids: Some(4),
            ..Limits::default()
        },
    )
    .unwrap();
    let mut sh = held("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait");
    cg.add_process(i32::try_from(sh.id()).unwrap()).unwrap();
    release(&mut sh);
    let out = sh.wait_with_output().unwrap();
    let dir = cg
        .paths()
        .into_iter()
        .find(|d| d.join("pids.events").exists())
        .unwrap();
    // The processes live in the leaf below the limit; the kernel counts the refusals there.
    let events = line(&dir.join("leaf").join("pids.events"));
    assert!(events.starts_with("max ") && events != "max 0", "{events}");
    assert!(!out.stderr.is_empty());
    cg.remove().unwrap();
}

#[test]
fn v2_leaf_on_this_hosts_cgroup2_mount() {
    let mut g = Guard::default();
    if fs::metadata("/proc/self").map_or(0, |m| m.uid()) != 0 {
        skip("not root");
        return;
    }
    let real = Host::system().unwrap();
    let Some(m) = real.v2_mount() else {
        skip("no cgroup2 mount");
        return;
    };
    let tag = format!("burrow-test-{}-v2", std::process::id());
    let top = m.mount_point.join(&tag);
    fs::create_dir(&top).unwrap();
    g.dirs.push(top.clone());
    let session = top.join("session");
    fs::create_dir(&session).unwrap();
    for d in [&top, &session] {
        for f in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ] {
            std::os::unix::fs::chown(d.join(f), Some(65534), Some(65534)).unwrap();
        }
    }
    // The real kernel's ownership: the highest delegated ancestor of the session.
    let mountinfo = format!(
        "1 1 0:1 / {} rw - cgroup2 cgroup2 rw\n",
        m.mount_point.display()
    );
    let own = format!("0::/{tag}/session\n");
    let host = Host::with_roots(&mountinfo, &own, Path::new("/"), 65534, "nobody").unwrap();
    let mode = host.detect(&[]).unwrap();
    assert_eq!(mode, Mode::V2 { root: top.clone() });
    let controllers = fs::read_to_string(top.join("cgroup.controllers")).unwrap();
    if !controllers.contains("memory") {
        let e = host.detect(&[Memory]).unwrap_err().to_string();
        assert!(e.contains("does not offer it"), "{e}");
        let l = Limits {
            memory: Some(64 << 20),
            ..Limits::default()
        };
        assert!(Cgroup::create(&mode, "c1", &l)
            .unwrap_err()
            .to_string()
            .contains("memory controller"));
        assert!(!top.join("burrow/c1").exists());
    }

    let cg = Cgroup::create(&mode, "c1", &Limits::default()).unwrap();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    cg.add_process(pid).unwrap();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        own.contains(&format!("0::/{tag}/burrow/c1/leaf\n")),
        "{own}"
    );
    let s = cg.stats().unwrap();
    assert!(s.cpu_usage_ns.is_some(), "{s:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    cg.remove().unwrap();
    assert!(!top.join("burrow/c1").exists());
}

#[test]
fn v1_cpu_quota_throttles_a_busy_loop() {
    let mut g = Guard::default();
    let Some(mountinfo) = v1_setup("cpu", &mut g) else {
        return;
    };
    let host = Host::with_roots(&mountinfo, "0::/\n", Path::new("/"), 0, "root").unwrap();
    host.admin_prepare_v1("root", 0, 0).unwrap();
    let mode = host.detect(&[Cpu]).unwrap();
    let limits = Limits {
        cpu_quota_us: Some(Limits::from_cpus(0.1).unwrap()),
        ..Limits::default()
    };
    let cg = Cgroup::create(&mode, "busy", &limits).unwrap();
    let mut busy = held("while :; do :; done");
    cg.add_process(i32::try_from(busy.id()).unwrap()).unwrap();
    release(&mut busy);
    g.children.push(busy);
    std::thread::sleep(Duration::from_millis(1000));
    let used = cg.stats().unwrap().cpu_usage_ns.unwrap();
    let dir = cg
        .paths()
        .into_iter()
        .find(|d| d.join("cpu.cfs_quota_us").exists())
        .unwrap();
    let stat = fs::read_to_string(dir.join("cpu.stat")).unwrap();
    // 0.1 cpu for one second is 100 ms; allow scheduling slack, far below a full cpu.
    assert!(used > 20_000_000 && used < 300_000_000, "{used} ns; {stat}");
    assert!(!stat.contains("nr_throttled 0\n"), "{stat}");
    for mut c in g.children.drain(..) {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    cg.remove().unwrap();
}
