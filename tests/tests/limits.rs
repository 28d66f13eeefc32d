//! Resource limits and per-container id ranges, on this machine's real kernel (cgroup v1 with
//! delegated per-user directories, as `burrow admin add-user` prepares them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const V1: &[&str] = &["memory", "pids", "cpu", "cpuacct"];

/// A user with 4 x 65536 subordinate ids and delegated cgroups, both made the way an admin
/// would: `burrow admin remove-user` then `burrow admin add-user --count 262144` (as root, on
/// the real /etc/subuid, /etc/subgid and cgroup hierarchies).
fn limited_user() -> &'static (TestUser, PathBuf) {
    static U: OnceLock<(TestUser, PathBuf)> = OnceLock::new();
    U.get_or_init(|| {
        let u = TestUser::get("lim");
        let b = prefix().join("bin/burrow");
        // Containers left by an earlier, interrupted run of these tests.
        let runtime = format!("/tmp/burrow-limits-{}", u.uid);
        if std::path::Path::new(&runtime).exists() {
            let _ = Run::new(&u).env("XDG_RUNTIME_DIR", &runtime).env("XDG_DATA_HOME", &format!("{runtime}/data")).script(
                "for d in \"$XDG_DATA_HOME\"/burrow/containers/*/; do \"$P/bin/burrow\" rm -f \"$(basename \"$d\")\"; done",
                &[],
            );
            let _ = std::fs::remove_dir_all(&runtime);
        }
        sh(&format!("{0} admin remove-user {1} && {0} admin add-user {1} --count 262144", b.display(), u.name));
        // Named like the harness's templates, so that a later test process removes it once
        // this one is gone (it lives in a static, never dropped).
        let rootfs = tempdir("busybox-template-limits");
        sh(&format!(
            "bash {}/scripts/make-busybox-rootfs.sh {} && chown -R {}: {}",
            workspace().display(),
            rootfs.display(),
            u.name,
            rootfs.display()
        ));
        (u, rootfs)
    })
}

fn burrow(u: &TestUser, args: &[&str]) -> Ran {
    let runtime = format!("/tmp/burrow-limits-{}", u.uid);
    Run::new(u)
        .env("BURROW_HELPERS_DIR", prefix().join("bin").to_str().unwrap())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", &format!("{runtime}/data"))
        .script(
            "mkdir -p -m 700 \"$XDG_RUNTIME_DIR\" && exec \"$P/bin/burrow\" \"$@\"",
            args,
        )
}

fn child_cgroups(u: &TestUser, controller: &str) -> Vec<String> {
    let d = format!("/sys/fs/cgroup/{controller}/burrow/{}", u.name);
    let mut v: Vec<String> = std::fs::read_dir(&d)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn memory_hog_is_oom_killed_inside_its_container_only() {
    require!();
    let (u, rootfs) = limited_user();
    let r = rootfs.to_str().unwrap();
    // The hog grows a shell variable past the limit; the kernel kills it, the container's pid
    // 1 reports it, the host and the next container are fine.
    let out = burrow(
        u,
        &[
            "run",
            "--rm",
            "--name",
            "hog",
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            "--rootfs",
            r,
            "--",
            "/bin/sh",
            "-c",
            "sh -c 'x=$(head -c 200000000 /dev/zero | tr \"\\0\" a)'; echo child=$?",
        ],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "child=137\n"),
        "{}",
        out.stderr
    );
    let next = burrow(
        u,
        &[
            "run",
            "--rm",
            "--memory",
            "32m",
            "--rootfs",
            r,
            "/bin/echo",
            "fine",
        ],
    );
    assert_eq!(
        (next.code, next.stdout.as_str()),
        (Some(0), "fine\n"),
        "{}",
        next.stderr
    );
    assert!(
        !child_cgroups(u, "memory").contains(&"hog".to_owned()),
        "the cgroup must be removed"
    );
}

#[test]
fn limits_are_written_and_the_container_sees_only_its_own_cgroup() {
    require!();
    let (u, rootfs) = limited_user();
    let r = rootfs.to_str().unwrap();
    let out = burrow(
        u,
        &[
            "run",
            "-d",
            "--name",
            "lim1",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpus",
            "0.5",
            "--cpu-weight",
            "200",
            "--rootfs",
            r,
            "/bin/sleep",
            "100",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let base = |c: &str| format!("/sys/fs/cgroup/{c}/burrow/{}/lim1", u.name);
    let read = |p: String| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        read(format!("{}/memory.limit_in_bytes", base("memory"))),
        (64u64 << 20).to_string()
    );
    assert_eq!(read(format!("{}/pids.max", base("pids"))), "50");
    assert_eq!(read(format!("{}/cpu.cfs_quota_us", base("cpu"))), "50000");
    assert_eq!(read(format!("{}/cpu.cfs_period_us", base("cpu"))), "100000");
    assert_eq!(
        read(format!("{}/cpu.shares", base("cpu"))),
        burrow_cgroups_shares(200).to_string()
    );
    // The container's pid 1 is in it; inside, its cgroup namespace is rooted there.
    let procs = read(format!("{}/leaf/cgroup.procs", base("pids")));
    assert_eq!(procs.lines().count(), 1, "{procs}");
    let inside = burrow(u, &["exec", "lim1", "/bin/cat", "/proc/self/cgroup"]);
    assert_eq!(inside.code, Some(0), "{}", inside.stderr);
    for line in inside
        .stdout
        .lines()
        .filter(|l| l.contains("memory") || l.contains("pids"))
    {
        assert!(
            line.ends_with(":/"),
            "exec must be in the container's cgroup, seen as /: {line}"
        );
    }
    // exec joined the cgroup: while it runs, pids.current counts it.
    let both = burrow(
        u,
        &[
            "exec",
            "lim1",
            "/bin/sh",
            "-c",
            "cat /proc/self/cgroup | grep -c :/$ >/dev/null; sleep 0.3",
        ],
    );
    assert_eq!(both.code, Some(0), "{}", both.stderr);
    let stats = burrow(u, &["stats", "lim1"]);
    assert_eq!(stats.code, Some(0), "{}", stats.stderr);
    assert!(
        stats.stdout.contains("PIDS 1 (limit 50)") && stats.stdout.contains("limit 64.0 MiB"),
        "{}",
        stats.stdout
    );
    // CVE-2023-25809 / CVE-2022-0492 classes: the container may mount its namespaced v1
    // hierarchy, but it is rooted at the leaf below the limits, it has no release_agent, and
    // raising the leaf's own limit does not lift the container's.
    let m = burrow(
        u,
        &["exec", "lim1", "/bin/sh", "-c", "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null; ls /tmp/cg | grep -c release_agent; echo 999999999999 > /tmp/cg/memory.limit_in_bytes 2>/dev/null; true"],
    );
    assert_eq!(m.stdout.trim(), "0", "{} {}", m.stdout, m.stderr);
    assert_eq!(
        read(format!("{}/memory.limit_in_bytes", base("memory"))),
        (64u64 << 20).to_string()
    );
    assert_eq!(burrow(u, &["rm", "-f", "lim1"]).code, Some(0));
    assert!(
        !Path::new(&base("memory")).exists(),
        "the cgroup must be removed with the container"
    );
}

fn burrow_cgroups_shares(w: u64) -> u64 {
    2 + (w - 1) * 262_142 / 9_999
}

#[test]
fn fork_bomb_hits_pids_max() {
    require!();
    let (u, rootfs) = limited_user();
    let r = rootfs.to_str().unwrap();
    // 60 background sleeps under a limit of 20: forks fail, and at no time do more than 20
    // tasks exist (counted from inside, while the sleeps run).
    // xargs forks until refused; the shell then waits and counts with builtins only (once the
    // limit is reached it could fork nothing, and a failed fork would end it).
    let count = "mkfifo /dev/shm/f; (seq 60 | xargs -P 60 -n 1 sleep 5) 2>/dev/null & read -t 2 x <> /dev/shm/f; set -- /proc/[0-9]*; echo $#";
    let out = burrow(
        u,
        &[
            "run",
            "--rm",
            "--pids-limit",
            "20",
            "--rootfs",
            r,
            "/bin/sh",
            "-c",
            count,
        ],
    );
    let n: u32 = out.stdout.trim().parse().unwrap_or(999);
    assert!(
        (10..=20).contains(&n),
        "pids.max 20 must cap the tasks, saw {n}: {}",
        out.stderr
    );
    let free = burrow(u, &["run", "--rm", "--rootfs", r, "/bin/sh", "-c", count]);
    let m: u32 = free.stdout.trim().parse().unwrap_or(0);
    assert!(
        m > 60,
        "without a limit all 60 run, saw {m}: {}",
        free.stderr
    );
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    require!();
    let (u, rootfs) = limited_user();
    let r = rootfs.to_str().unwrap();
    // A busy loop for 1 s of wall time: with 0.2 cpus it gets about 0.2 s of cpu.
    let run = |extra: &[&str]| -> f64 {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--rootfs", r, "/bin/sh", "-c", "timeout 1 sh -c 'while :; do :; done'; cat /proc/self/stat >/dev/null; cut -d' ' -f14-17 /proc/1/stat"]);
        let out = burrow(u, &args);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        // utime+stime+cutime+cstime of pid 1, in clock ticks (100 per second).
        let ticks: u64 = out
            .stdout
            .split_whitespace()
            .filter_map(|x| x.parse::<u64>().ok())
            .sum();
        ticks as f64 / 100.0
    };
    let limited = run(&["--cpus", "0.2"]);
    assert!(
        limited < 0.45,
        "0.2 cpus for 1 s must give well under 0.45 s of cpu, got {limited}"
    );
    let free = run(&[]);
    assert!(
        free > limited * 1.5,
        "unlimited ({free} s) must get clearly more than limited ({limited} s)"
    );
}

#[test]
fn limits_without_delegation_fail_with_what_to_do() {
    require!();
    let u = TestUser::get("nodeleg");
    u.ensure_real_subids();
    for c in V1 {
        let _ = std::fs::remove_dir_all(format!("/sys/fs/cgroup/{c}/burrow/{}", u.name));
    }
    let rootfs = tempdir("busybox-template-nodeleg");
    sh(&format!(
        "bash {}/scripts/make-busybox-rootfs.sh {}",
        workspace().display(),
        rootfs.display()
    ));
    let out = burrow(
        &u,
        &[
            "run",
            "--rm",
            "--memory",
            "64m",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "/bin/true",
        ],
    );
    assert_eq!(out.code, Some(125));
    assert!(
        out.stderr
            .contains(&format!("burrow admin add-user {}", u.name))
            && out.stderr.contains("/sys/fs/cgroup/memory/burrow/"),
        "the error must say what the admin must do: {}",
        out.stderr
    );
    // Without limits nothing needs a cgroup.
    let ok = burrow(
        &u,
        &[
            "run",
            "--rm",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "/bin/echo",
            "ok",
        ],
    );
    assert_eq!(
        (ok.code, ok.stdout.as_str()),
        (Some(0), "ok\n"),
        "{}",
        ok.stderr
    );
    let _ = std::fs::remove_dir_all(&rootfs);
}

#[test]
fn idmap_auto_gives_disjoint_ranges_and_distinct_host_uids() {
    require!();
    let (u, rootfs) = limited_user();
    let r = rootfs.to_str().unwrap();
    let mut pids = Vec::new();
    for n in ["auto1", "auto2"] {
        let out = burrow(
            u,
            &[
                "run",
                "-d",
                "--name",
                n,
                "--idmap",
                "auto",
                "--rootfs",
                r,
                "/bin/sleep",
                "100",
            ],
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let map = burrow(u, &["exec", n, "/bin/cat", "/proc/self/uid_map"]);
        assert_eq!(map.code, Some(0), "{}", map.stderr);
        let f: Vec<u64> = map
            .stdout
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!((f.len(), f[0], f[2]), (3, 0, 65_536), "{}", map.stdout);
        pids.push((f[1], inspect_pid(u, n)));
    }
    let (a, b) = (pids[0].0, pids[1].0);
    assert!(
        a + 65_536 <= b || b + 65_536 <= a,
        "slices overlap: {a} and {b}"
    );
    for (start, pid) in &pids {
        let uid_line = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = uid_line
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap();
        assert_eq!(
            uid, *start,
            "container root runs as the first id of its slice on the host"
        );
    }
    // A third and fourth fit (4 slices), a fifth does not; it says why.
    let more: Vec<Ran> = ["auto3", "auto4", "auto5"]
        .iter()
        .map(|n| {
            burrow(
                u,
                &[
                    "run",
                    "-d",
                    "--name",
                    n,
                    "--idmap",
                    "auto",
                    "--rootfs",
                    r,
                    "/bin/sleep",
                    "100",
                ],
            )
        })
        .collect();
    assert_eq!(
        (more[0].code, more[1].code),
        (Some(0), Some(0)),
        "{} {}",
        more[0].stderr,
        more[1].stderr
    );
    assert_eq!(more[2].code, Some(125));
    assert!(
        more[2].stderr.contains("no free slice of 65536 ids left"),
        "{}",
        more[2].stderr
    );
    // After one stops, its slice is free again.
    assert_eq!(burrow(u, &["rm", "-f", "auto2"]).code, Some(0));
    let again = burrow(
        u,
        &[
            "run",
            "-d",
            "--name",
            "auto6",
            "--idmap",
            "auto",
            "--rootfs",
            r,
            "/bin/sleep",
            "100",
        ],
    );
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let all = ["auto1", "auto3", "auto4", "auto5", "auto6"];
    let mut args = vec!["rm", "-f"];
    args.extend_from_slice(&all);
    burrow(u, &args);
    // Too small a range: say so.
    let big = burrow(
        u,
        &[
            "run",
            "--rm",
            "--idmap",
            "auto:300000",
            "--rootfs",
            r,
            "/bin/true",
        ],
    );
    assert_eq!(big.code, Some(125));
    assert!(
        big.stderr
            .contains("too few for --idmap auto with 300000 ids"),
        "{}",
        big.stderr
    );
}

fn inspect_pid(u: &TestUser, name: &str) -> u64 {
    let out = burrow(u, &["inspect", name]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("\"pid\":"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    line.trim()
        .trim_start_matches("\"pid\":")
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap()
}

#[test]
fn unshare_runs_as_root_of_the_mapped_namespace() {
    require!();
    let (u, rootfs) = limited_user();
    let f = rootfs.join("owned-by-1000");
    std::fs::write(&f, "x").unwrap();
    sh(&format!("chown {0}:{0} {1}", u.name, f.display()));
    let out = burrow(
        u,
        &[
            "unshare",
            "/bin/sh",
            "-c",
            &format!("id -u; chown 1000:1000 {}", f.display()),
        ],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "0\n"),
        "{}",
        out.stderr
    );
    use std::os::unix::fs::MetadataExt;
    let sub_start: u64 = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{}:", u.name))?
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .unwrap();
    assert_eq!(
        u64::from(std::fs::metadata(&f).unwrap().uid()),
        sub_start + 999
    );
}
