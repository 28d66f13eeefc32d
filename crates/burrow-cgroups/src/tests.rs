//! Tests over fake cgroup trees in temporary directories (the kernel-backed ones are in
//! tests/kernel.rs). Ownership is faked with chown, so the tests that need two owners need
//! root; they are skipped (loudly, and failing under CI=true) otherwise.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{chown, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::limits::writes;
use crate::Controller::{Cpu, Cpuacct, Memory, Pids};
use crate::*;
use burrow_config::{parse_size, Limits};

/// This machine's /proc/self/mountinfo (cgroup v1 plus a cgroup2 holding only hugetlb).
const HYBRID: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs none rw
";

/// This machine's /proc/self/cgroup.
const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/fb2a072b183e187a843e2faa8a357ee6
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

/// A systemd host with the unified hierarchy (Debian 12 default).
const V2: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

/// A systemd host with the legacy hierarchies (cpu and cpuacct co-mounted).
const V1: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
";

const SYSD: &str = "user.slice/user-1000.slice/user@1000.service";

struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Tmp {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "burrow-cgroups-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn root() -> bool {
    let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "these tests need root (chown), and CI=true forbids skipping"
        );
        eprintln!("SKIP: not root (the fake trees need files owned by another uid)");
    }
    root
}

/// A fake cgroup directory: the directory and its interface files, owned by `uid`.
fn fake_cg(dir: &Path, uid: u32, controllers: &str) {
    fs::create_dir_all(dir).unwrap();
    chown(dir, Some(uid), None).unwrap();
    for (f, v) in [
        ("cgroup.procs", ""),
        ("cgroup.subtree_control", ""),
        ("cgroup.controllers", controllers),
    ] {
        fs::write(dir.join(f), v).unwrap();
        chown(dir.join(f), Some(uid), None).unwrap();
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Deletes the regular files of a fake tree, as the kernel does when a cgroup is removed.
fn strip_files(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            strip_files(&e.path());
        } else {
            fs::remove_file(e.path()).unwrap();
        }
    }
}

fn all_limits() -> Limits {
    Limits {
        memory: Some(parse_size("512m").unwrap()),
        memory_swap: Some(parse_size("1g").unwrap()),
        cpu_quota_us: Some(Limits::from_cpus(1.5).unwrap()),
        cpu_weight: Some(500),
        pids: Some(100),
    }
}

#[test]
fn mountinfo_hybrid() {
    let m = parse_mountinfo(HYBRID).unwrap();
    assert_eq!(m.len(), 10);
    let h = Host::with_roots(HYBRID, HYBRID_CGROUP, Path::new("/"), 0, "root").unwrap();
    let mp = |c| h.v1_mount(c).map(|m| m.mount_point.clone()).unwrap();
    assert_eq!(mp(Cpu), Path::new("/sys/fs/cgroup/cpu"));
    assert_eq!(mp(Cpuacct), Path::new("/sys/fs/cgroup/cpuacct"));
    assert_eq!(mp(Memory), Path::new("/sys/fs/cgroup/memory"));
    assert_eq!(mp(Pids), Path::new("/sys/fs/cgroup/pids"));
    let v2 = h.v2_mount().unwrap();
    assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup/unified"));
    assert!(v2.options.is_empty() && v2.root == "/");
    assert_eq!(h.own_v2_dir().unwrap(), Path::new("/sys/fs/cgroup/unified"));
    let cpuset = m
        .iter()
        .find(|m| m.mount_point.ends_with("cpuset"))
        .unwrap();
    assert_eq!(cpuset.options, ["cpuset", "clone_children"]);
}

#[test]
fn mountinfo_v1_v2_and_escapes() {
    let h = Host::with_roots(V1, "0::/\n", Path::new("/"), 0, "root").unwrap();
    let cc = Path::new("/sys/fs/cgroup/cpu,cpuacct");
    assert_eq!(h.v1_mount(Cpu).unwrap().mount_point, cc);
    assert_eq!(h.v1_mount(Cpuacct).unwrap().mount_point, cc);
    assert!(h.v2_mount().is_none());
    let h = Host::with_roots(V2, "0::/x\n", Path::new("/"), 0, "root").unwrap();
    assert!(h.v1_mount(Memory).is_none());
    assert_eq!(h.own_v2_dir().unwrap(), Path::new("/sys/fs/cgroup/x"));
    // An escaped space, and a mount of a sub-cgroup (root not "/").
    let m =
        parse_mountinfo("1 2 0:9 /a\\040b /mnt/my\\040cg rw shared:1 - cgroup2 none rw\n").unwrap();
    assert_eq!(m[0].mount_point, Path::new("/mnt/my cg"));
    assert_eq!(m[0].root, "/a b");
    let h = Host::with_roots(
        "1 2 0:9 /a /mnt/cg rw - cgroup2 none rw",
        "0::/a/s\n",
        Path::new("/"),
        0,
        "r",
    )
    .unwrap();
    assert_eq!(h.own_v2_dir().unwrap(), Path::new("/mnt/cg/s"));
    let h = Host::with_roots(
        "1 2 0:9 /a /mnt/cg rw - cgroup2 none rw",
        "0::/ab\n",
        Path::new("/"),
        0,
        "r",
    )
    .unwrap();
    assert_eq!(h.own_v2_dir(), None);
    for bad in ["1 2 0:9 / /x rw cgroup2 none rw", "1 2 - cgroup"] {
        assert!(
            matches!(parse_mountinfo(bad), Err(Error::Format(_))),
            "{bad}"
        );
    }
}

#[test]
fn proc_cgroup() {
    let c = parse_proc_cgroup(HYBRID_CGROUP).unwrap();
    assert_eq!(c.len(), 10);
    assert_eq!(
        c[5],
        ProcCgroup {
            id: 4,
            controllers: vec!["memory".into()],
            path: "/process_api/fb2a072b183e187a843e2faa8a357ee6".into()
        }
    );
    assert_eq!(c[0].controllers, ["name=systemd"]);
    assert_eq!(
        c[9],
        ProcCgroup {
            id: 0,
            controllers: vec![],
            path: "/".into()
        }
    );
    // Colons in the path are kept.
    assert_eq!(parse_proc_cgroup("0::/a:b").unwrap()[0].path, "/a:b");
    assert!(parse_proc_cgroup("0:/x").is_err());
    assert!(parse_proc_cgroup("x::/").is_err());
}

#[test]
fn cpu_mapping_and_validation() {
    assert_eq!(cpu_shares(1), 2);
    assert_eq!(cpu_shares(100), 2597);
    assert_eq!(cpu_shares(10_000), 262_144);
    assert_eq!(cpu_shares(0), 2);
    assert_eq!(controllers(&all_limits()), [Memory, Cpu, Pids]);
}

#[test]
fn limit_files() {
    let v2: Vec<_> = writes(&all_limits(), true)
        .unwrap()
        .into_iter()
        .map(|(_, f, v)| (f, v))
        .collect();
    assert_eq!(
        v2,
        [
            ("memory.max", "536870912".to_owned()),
            ("memory.swap.max", "536870912".to_owned()),
            ("cpu.max", "150000 100000".to_owned()),
            ("cpu.weight", "500".to_owned()),
            ("pids.max", "100".to_owned()),
        ]
    );
    let v1: Vec<_> = writes(&all_limits(), false)
        .unwrap()
        .into_iter()
        .map(|(_, f, v)| (f, v))
        .collect();
    assert_eq!(
        v1,
        [
            ("memory.limit_in_bytes", "536870912".to_owned()),
            ("memory.memsw.limit_in_bytes", "1073741824".to_owned()),
            ("cpu.cfs_period_us", "100000".to_owned()),
            ("cpu.cfs_quota_us", "150000".to_owned()),
            ("cpu.shares", cpu_shares(500).to_string()),
            ("pids.max", "100".to_owned()),
        ]
    );
}

#[test]
fn v1_detect_admin_and_errors() {
    if !root() {
        return;
    }
    let t = Tmp::new();
    for m in ["cpu", "cpuacct", "cpuset", "memory", "pids"] {
        fs::create_dir_all(t.p(&format!("sys/fs/cgroup/{m}"))).unwrap();
    }
    let host = |uid, user| Host::with_roots(HYBRID, HYBRID_CGROUP, &t.0, uid, user).unwrap();
    let alice = host(1000, "alice");
    assert_eq!(
        alice.detect(&[Memory]).unwrap_err().to_string(),
        format!(
            "memory limits need a delegated cgroup: this host uses cgroup v1 and {}/sys/fs/cgroup/memory/burrow/alice does not exist; ask your admin to run: burrow admin add-user alice",
            t.0.display()
        )
    );
    // Nothing needed: an empty v1 mode (run without a cgroup).
    assert_eq!(
        alice.detect(&[]).unwrap(),
        Mode::V1 {
            dirs: BTreeMap::new()
        }
    );

    let made = alice.admin_prepare_v1("alice", 1000, 1001).unwrap();
    assert_eq!(made.len(), 4);
    for d in &made {
        let md = fs::metadata(d).unwrap();
        assert_eq!((md.uid(), md.gid()), (1000, 1001), "{}", d.display());
        let base = fs::metadata(d.parent().unwrap()).unwrap();
        assert_eq!((base.uid(), base.mode() & 0o7777), (0, 0o755));
    }
    assert!(!t.p("sys/fs/cgroup/cpuset/burrow").exists());
    // Idempotent.
    assert_eq!(alice.admin_prepare_v1("alice", 1000, 1001).unwrap(), made);
    let Mode::V1 { dirs } = alice.detect(&[Memory, Cpu, Pids]).unwrap() else {
        panic!()
    };
    assert_eq!(
        dirs.keys().copied().collect::<Vec<_>>(),
        [Memory, Cpu, Cpuacct, Pids]
    );
    assert_eq!(dirs[&Memory], t.p("sys/fs/cgroup/memory/burrow/alice"));

    // Someone else's directory.
    let e = host(1002, "alice").detect(&[Pids]).unwrap_err().to_string();
    assert!(e.contains("pids/burrow/alice belongs to uid 1000 (mode 755), not to you (uid 1002); ask your admin to run: burrow admin add-user alice"), "{e}");
    // Mixed versions are refused: pretend pids lives in v2.
    let mixed = HYBRID.replace("rw,pids", "rw,nopids");
    let h = Host::with_roots(&mixed, HYBRID_CGROUP, &t.0, 1000, "alice").unwrap();
    let e = h.detect(&[Memory, Pids]).unwrap_err().to_string();
    assert!(
        e.starts_with("memory limits and pids limits are in different cgroup versions"),
        "{e}"
    );

    assert_eq!(alice.admin_remove_v1("alice").unwrap(), made);
    assert!(made.iter().all(|d| !d.exists()));
    assert!(alice.admin_prepare_v1("../x", 1, 1).is_err());
}

#[test]
fn v2_systemd_delegation() {
    if !root() {
        return;
    }
    let t = Tmp::new();
    let cg = t.p("sys/fs/cgroup");
    fake_cg(&cg, 0, "cpuset cpu io memory hugetlb pids");
    fake_cg(
        &cg.join("user.slice/user-1000.slice"),
        0,
        "cpu io memory pids",
    );
    fake_cg(&cg.join(SYSD), 1000, "cpu memory pids");
    fake_cg(&cg.join(SYSD).join("app.slice"), 1000, "cpu memory pids");
    fake_cg(&cg.join(SYSD).join("app.slice/run-1.scope"), 1000, "");
    fake_cg(
        &cg.join("user.slice/user-1000.slice/session-3.scope"),
        0,
        "",
    );
    let own = format!("0::/{SYSD}/app.slice/run-1.scope\n");
    let host = |uid, own: &str| Host::with_roots(V2, own, &t.0, uid, "alice").unwrap();

    // The highest delegated ancestor, not the caller's own cgroup.
    let mode = host(1000, &own).detect(&[Memory, Cpu, Pids]).unwrap();
    assert_eq!(
        mode,
        Mode::V2 {
            root: cg.join(SYSD)
        }
    );
    assert_eq!(host(1000, &own).detect(&[]).unwrap(), mode);
    // Ownership is by owner uid: a root-owned subtree_control disqualifies user@1000.service.
    chown(cg.join(SYSD).join("cgroup.subtree_control"), Some(0), None).unwrap();
    let mode = host(1000, &own).detect(&[Memory]).unwrap();
    assert_eq!(
        mode,
        Mode::V2 {
            root: cg.join(SYSD).join("app.slice")
        }
    );
    chown(
        cg.join(SYSD).join("cgroup.subtree_control"),
        Some(1000),
        None,
    )
    .unwrap();

    // A controller systemd did not delegate.
    fs::write(cg.join(SYSD).join("cgroup.controllers"), "memory pids").unwrap();
    let e = host(1000, &own).detect(&[Cpu]).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "cpu limits need the cpu controller, but your delegated cgroup {} does not offer it",
            cg.join(SYSD).display()
        )),
        "{e}"
    );
    // There only Delegate= helps: admin add-user creates nothing on a systemd host.
    assert!(e.contains("Delegate=cpu memory pids"), "{e}");
    assert!(!e.contains("add-user"), "{e}");

    // A login session outside user@1000.service.
    let e = host(1000, "0::/user.slice/user-1000.slice/session-3.scope\n")
        .detect(&[Memory])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("systemd delegates") && e.contains("systemd-run --user --scope burrow"),
        "{e}"
    );

    // Another user: nothing delegated.
    let e = host(1001, &own).detect(&[Memory]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "memory limits need a delegated cgroup: this host uses cgroup v2, no cgroup above this process (/{SYSD}/app.slice/run-1.scope) belongs to you (uid 1001), and {}/burrow/alice does not exist; ask your admin to enable systemd user delegation (Delegate=yes in user@.service) or run: burrow admin add-user alice",
            cg.display()
        )
    );
}

#[test]
fn v2_admin_prepared_directory() {
    if !root() {
        return;
    }
    let t = Tmp::new();
    let cg = t.p("sys/fs/cgroup");
    fake_cg(&cg, 0, "cpuset cpu io memory pids");
    let h = |own: &str| Host::with_roots(V2, own, &t.0, 1000, "alice").unwrap();
    let dir = h("0::/\n").admin_prepare_v2("alice", 1000, 1000).unwrap();
    assert_eq!(dir, cg.join("burrow/alice"));
    assert_eq!(
        read(&cg.join("cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    assert_eq!(
        read(&cg.join("burrow/cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    assert_eq!(fs::metadata(&dir).unwrap().uid(), 1000);
    // The kernel would have made the interface files; the second run gives them away.
    for f in [
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
        "memory.max",
    ] {
        fs::write(dir.join(f), "").unwrap();
    }
    fs::write(dir.join("cgroup.controllers"), "cpu memory pids").unwrap();
    assert_eq!(
        h("0::/\n").admin_prepare_v2("alice", 1000, 1000).unwrap(),
        dir
    );
    assert_eq!(
        fs::metadata(dir.join("cgroup.threads")).unwrap().uid(),
        1000
    );
    assert_eq!(fs::metadata(dir.join("memory.max")).unwrap().uid(), 0);

    // A session outside the prepared directory.
    let e = h("0::/\n").detect(&[Memory]).unwrap_err().to_string();
    assert!(
        e.contains(
            "burrow/alice is prepared for you, but this process runs in cgroup /, outside it"
        ),
        "{e}"
    );
    // A session inside it (in a root-owned session cgroup, as a login script may make).
    fake_cg(&dir.join("session"), 0, "");
    let mode = h("0::/burrow/alice/session\n")
        .detect(&[Memory, Pids])
        .unwrap();
    assert_eq!(mode, Mode::V2 { root: dir.clone() });

    strip_files(&dir);
    assert_eq!(
        h("0::/\n").admin_remove_v2("alice").unwrap(),
        Some(dir.clone())
    );
    assert!(!dir.exists());
    assert_eq!(h("0::/\n").admin_remove_v2("alice").unwrap(), None);
}

#[test]
fn v2_create_add_stats_remove() {
    let t = Tmp::new();
    let root = t.p("deleg");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("cgroup.controllers"), "cpu io memory pids").unwrap();
    fs::write(root.join("cgroup.subtree_control"), "cpu memory").unwrap();
    let mode = Mode::V2 { root: root.clone() };
    let cg = Cgroup::create(&mode, "web.1", &all_limits()).unwrap();
    let dir = root.join("burrow/web.1");
    assert_eq!(cg.paths(), std::slice::from_ref(&dir));
    assert_eq!(cg.leaf(), Some(dir.join("leaf")));
    assert_eq!(read(&root.join("cgroup.subtree_control")), "+pids");
    assert_eq!(
        read(&root.join("burrow/cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    assert_eq!(
        read(&dir.join("cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    for (f, v) in [
        ("memory.max", "536870912"),
        ("memory.swap.max", "536870912"),
        ("cpu.max", "150000 100000"),
        ("cpu.weight", "500"),
        ("pids.max", "100"),
    ] {
        assert_eq!(read(&dir.join(f)), v, "{f}");
    }
    assert!(dir.join("leaf").is_dir() && !dir.join("leaf/memory.max").exists());
    cg.add_process(1234).unwrap();
    assert_eq!(read(&dir.join("leaf/cgroup.procs")), "1234");
    assert_eq!(cg.procs_paths(), [dir.join("leaf/cgroup.procs")]);
    assert!(cg.add_process(0).is_err());

    assert_eq!(cg.stats().unwrap(), Stats::default());
    for (f, v) in [
        ("memory.current", "4096\n"),
        ("memory.peak", "8192\n"),
        (
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        ),
        ("pids.current", "3\n"),
        (
            "memory.events",
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
        ),
    ] {
        fs::write(dir.join(f), v).unwrap();
    }
    let s = cg.stats().unwrap();
    assert_eq!(
        s,
        Stats {
            memory_current: Some(4096),
            memory_peak: Some(8192),
            cpu_usage_ns: Some(1_500_000),
            pids_current: Some(3),
            oom_kills: Some(1),
        }
    );
    fs::write(dir.join("pids.current"), "lots").unwrap();
    assert!(matches!(cg.stats(), Err(Error::Format(_))));

    assert!(matches!(
        Cgroup::create(&mode, "web.1", &Limits::default()),
        Err(Error::Exists(_))
    ));
    assert_eq!(Cgroup::open(&mode, "web.1").unwrap(), cg);
    for bad in ["", ".", "..", "a/b", "-x", ".x", "a b"] {
        assert!(
            matches!(
                Cgroup::create(&mode, bad, &Limits::default()),
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }

    strip_files(&dir);
    fs::create_dir(dir.join("leaf/nested")).unwrap();
    cg.clone().remove().unwrap();
    assert!(!dir.exists() && root.join("burrow").is_dir());
    cg.remove().unwrap();
    assert!(matches!(
        Cgroup::open(&mode, "web.1"),
        Err(Error::NotFound(_))
    ));

    // A limit whose controller is not delegated: an error, and nothing made.
    fs::write(root.join("cgroup.controllers"), "memory pids").unwrap();
    let l = Limits {
        cpu_weight: Some(10),
        ..Limits::default()
    };
    let e = Cgroup::create(&mode, "c2", &l).unwrap_err().to_string();
    assert!(e.starts_with("cpu limits need the cpu controller"), "{e}");
    assert!(!root.join("burrow/c2").exists());
}

#[test]
fn v1_create_add_stats_remove() {
    let t = Tmp::new();
    let mem = t.p("memory/burrow/alice");
    let cpu = t.p("cpu,cpuacct/burrow/alice");
    let pids = t.p("pids/burrow/alice");
    for d in [&mem, &cpu, &pids] {
        fs::create_dir_all(d).unwrap();
    }
    let dirs = BTreeMap::from([
        (Memory, mem.clone()),
        (Cpu, cpu.clone()),
        (Cpuacct, cpu.clone()),
        (Pids, pids.clone()),
    ]);
    let mode = Mode::V1 { dirs };
    let e = Cgroup::create(&mode, "c1", &all_limits())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("swap limits need swap accounting (kernel cmdline swapaccount=1)"),
        "{e}"
    );
    assert!(!mem.join("c1").exists());
    fs::write(mem.join("memory.memsw.limit_in_bytes"), "").unwrap();

    let cg = Cgroup::create(&mode, "c1", &all_limits()).unwrap();
    let (m, c, p) = (mem.join("c1"), cpu.join("c1"), pids.join("c1"));
    assert_eq!(cg.paths(), [m.clone(), c.clone(), p.clone()]);
    assert_eq!(cg.leaf(), None);
    for (f, v) in [
        (m.join("memory.limit_in_bytes"), "536870912"),
        (m.join("memory.memsw.limit_in_bytes"), "1073741824"),
        (c.join("cpu.cfs_period_us"), "100000"),
        (c.join("cpu.cfs_quota_us"), "150000"),
        (c.join("cpu.shares"), "13084"),
        (p.join("pids.max"), "100"),
    ] {
        assert_eq!(read(&f), v, "{}", f.display());
    }
    cg.add_process(42).unwrap();
    for d in [&m, &c, &p] {
        assert_eq!(read(&d.join("leaf").join("cgroup.procs")), "42");
    }
    fs::write(m.join("memory.usage_in_bytes"), "100\n").unwrap();
    fs::write(m.join("memory.max_usage_in_bytes"), "200\n").unwrap();
    fs::write(
        m.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    )
    .unwrap();
    fs::write(c.join("cpuacct.usage"), "123456789\n").unwrap();
    fs::write(p.join("pids.current"), "1\n").unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(
        s,
        Stats {
            memory_current: Some(100),
            memory_peak: Some(200),
            cpu_usage_ns: Some(123_456_789),
            pids_current: Some(1),
            oom_kills: Some(2),
        }
    );

    // Failure half-way: the directories made are removed again.
    fs::create_dir(pids.join("c2")).unwrap();
    let e = Cgroup::create(&mode, "c2", &Limits::default()).unwrap_err();
    assert!(
        matches!(e, Error::Exists(ref d) if *d == pids.join("c2")),
        "{e}"
    );
    assert!(!mem.join("c2").exists() && !cpu.join("c2").exists());

    // Open finds the hierarchies where the cgroup exists; removal is per hierarchy.
    assert_eq!(
        Cgroup::open(&mode, "c2").unwrap().paths(),
        [pids.join("c2")]
    );
    for d in [&m, &c, &p] {
        strip_files(d);
    }
    cg.remove().unwrap();
    assert!(!m.exists() && !c.exists() && !p.exists());
    assert!(matches!(Cgroup::open(&mode, "c1"), Err(Error::NotFound(_))));

    // A limit without its delegated directory.
    let only_mem = Mode::V1 {
        dirs: BTreeMap::from([(Memory, mem.clone())]),
    };
    let e = Cgroup::create(
        &only_mem,
        "c3",
        &Limits {
            pids: Some(5),
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("pids limits need a delegated pids cgroup"),
        "{e}"
    );
    assert!(!mem.join("c3").exists());
}
