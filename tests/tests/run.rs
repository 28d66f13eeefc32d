//! `burrow run` against the real kernel, as unprivileged test users (issue 3's contract).
//!
//! Every test runs the installed front end (`$P/bin/burrow`, helpers from `$P/bin` through
//! `BURROW_HELPERS_DIR`) as a test user whose real /etc/subuid and /etc/subgid ranges burrow
//! reads. The container's rootfs is a copy of the harness's busybox-static template (one
//! relative symlink per applet) plus `/etc/notexec` and `/bin/probe`, a tiny static C program
//! compiled here that makes syscalls, lists its descriptors, opens files and connects to
//! sockets, and prints the errno.
//! Outputs, exit codes and error messages are compared exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- fixtures

/// The C probe copied into every rootfs as /bin/probe.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* name, native number, i386 number (-1: none) */
static const struct { const char *name; long nr; long nr32; } SYS[] = {
    {"keyctl", SYS_keyctl, 288},
    {"bpf", SYS_bpf, 357},
    {"perf_event_open", SYS_perf_event_open, 336},
    {"io_uring_setup", SYS_io_uring_setup, 425},
    {"kexec_load", SYS_kexec_load, 283},
    {"init_module", SYS_init_module, 128},
    {"open_by_handle_at", SYS_open_by_handle_at, 342},
    {"userfaultfd", SYS_userfaultfd, 374},
    {"getpid", SYS_getpid, 20},
    {"getppid", SYS_getppid, 64},
};

static int find(const char *name) {
    for (size_t i = 0; i < sizeof SYS / sizeof SYS[0]; i++)
        if (strcmp(SYS[i].name, name) == 0) return (int)i;
    fprintf(stderr, "probe: unknown syscall %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "sys") == 0) {
        /* probe sys NAME...: calls each with all-zero arguments */
        for (int a = 2; a < argc; a++) {
            int i = find(argv[a]);
            long r = syscall(SYS[i].nr, 0L, 0L, 0L, 0L, 0L, 0L);
            printf("%s ret=%ld errno=%d\n", argv[a], r < 0 ? -1L : r, r < 0 ? errno : 0);
        }
        return 0;
    }
#if defined(__x86_64__)
    if (argc >= 3 && strcmp(argv[1], "sys32") == 0) {
        /* probe sys32 NAME...: the same through the i386 ABI (int $0x80) */
        for (int a = 2; a < argc; a++) {
            int i = find(argv[a]);
            long r;
            __asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS[i].nr32), "b"(0L), "c"(0L), "d"(0L), "S"(0L), "D"(0L) : "memory");
            printf("%s ret=%ld errno=%ld\n", argv[a], r < 0 ? -1L : r, r < 0 ? -r : 0L);
        }
        return 0;
    }
#endif
    if (argc == 2 && strcmp(argv[1], "fds") == 0) {
        /* every open descriptor but the one listing them, with its target */
        DIR *d = opendir("/proc/self/fd");
        if (!d) { perror("opendir /proc/self/fd"); return 2; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
            char p[300], t[4096];
            snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(p, t, sizeof t - 1);
            t[n < 0 ? 0 : n] = 0;
            printf("%s %s\n", e->d_name, t);
        }
        return 0;
    }
    if (argc == 3 && (strcmp(argv[1], "write") == 0 || strcmp(argv[1], "read") == 0)) {
        int w = argv[1][0] == 'w';
        int fd = open(argv[2], (w ? O_WRONLY | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
        printf("%s %s errno=%d\n", argv[1], argv[2], fd < 0 ? errno : 0);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "connect") == 0) {
        /* probe connect @NAME: an abstract unix socket */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(argv[2]);
        if (n >= sizeof a.sun_path) return 2;
        memcpy(a.sun_path, argv[2], n);
        if (a.sun_path[0] == '@') a.sun_path[0] = 0;
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
        printf("connect %s errno=%d\n", argv[2], r < 0 ? errno : 0);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "segv") == 0) {
        *(volatile int *)0 = 1;
        return 0;
    }
    fprintf(stderr, "usage: probe sys NAME... | sys32 NAME... | fds | write PATH | read PATH | connect @NAME | segv\n");
    return 2;
}
"#;

/// What every test shares, built once per test process.
struct Fixture {
    /// The main test user (real subuid/subgid ranges).
    user: TestUser,
    /// (subuid start, subgid start, count) of `user`.
    sub: (u32, u32, u32),
    /// A user only test 13 runs as (it counts the user's processes).
    leak: TestUser,
    /// A user without any subordinate range.
    nosub: TestUser,
    /// The compiled [`PROBE_C`], copied into every rootfs as /bin/probe.
    probe: PathBuf,
}

fn fx() -> &'static Fixture {
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

        // The probe is compiled once per test process.
        let probe = compile_static_c("run-probe", PROBE_C);
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
fn remove_real_subids(u: &TestUser) {
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
fn rootfs(owner: &TestUser, tag: &str) -> Rootfs {
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
trait Inside {
    /// `p` (absolute or not) below the rootfs.
    fn join(&self, p: &str) -> PathBuf;
}

impl Inside for Rootfs {
    fn join(&self, p: &str) -> PathBuf {
        self.dir.join(p.trim_start_matches('/'))
    }
}

/// A temporary directory removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        Tmp(tempdir(tag))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `burrow run ARGS...` as `u`, with the test prefix's helpers.
fn burrow_as(u: &TestUser, args: &[&str]) -> Ran {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Run::new(u)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&helper("burrow"), &all)
}

/// `burrow run --rootfs R ARGS...` as the main user.
fn burrow(r: &Rootfs, args: &[&str]) -> Ran {
    let mut all = vec!["--rootfs", r.path()];
    all.extend_from_slice(args);
    burrow_as(&fx().user, &all)
}

/// Runs a bash script as `u` (`$B` is the front end, BURROW_HELPERS_DIR is set).
fn script_as(u: &TestUser, script: &str, args: &[&str]) -> Ran {
    Run::new(u)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .env("B", helper("burrow").to_str().unwrap())
        .script(script, args)
}

fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every bit the running kernel supports, from /proc/sys/kernel/cap_last_cap.
fn all_caps() -> u64 {
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
fn default_caps() -> u64 {
    all_caps() & !((1 << 16) | (1 << 22) | (1 << 25) | (1 << 27) | (1 << 30) | (1 << 33))
}

fn cap_lines(inh: u64, prm: u64, eff: u64, bnd: u64, amb: u64) -> String {
    format!(
        "CapInh:\t{inh:016x}\nCapPrm:\t{prm:016x}\nCapEff:\t{eff:016x}\nCapBnd:\t{bnd:016x}\nCapAmb:\t{amb:016x}\n"
    )
}

/// Starts `burrow run ARGS...` as `u` in the background (stdio to pipes / null).
fn spawn_burrow(u: &TestUser, args: &[&str]) -> Child {
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
fn descendants(pid: u32) -> Vec<(u32, String)> {
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
fn wait_descendant(child: &mut Child, comm: &str) {
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
fn wait_exit(mut child: Child, secs: u64) -> Ran {
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

fn send_signal(pid: u32, sig: &str) {
    sh(&format!("kill -{sig} {pid}"));
}

/// Processes of `uid` (pgrep), as "pid comm" lines.
fn procs_of(uid: u32) -> String {
    let out = Command::new("pgrep")
        .args(["-l", "-u", &uid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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

// ---------------------------------------------------------------- 4: masked paths

#[test]
fn t04_masked_and_read_only_kernel_paths() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "mask");
    // Masked files: bound to /dev/null when the kernel has them (char 1:3, empty), absent
    // otherwise (e.g. /proc/kcore without CONFIG_PROC_KCORE).
    let files = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sysrq-trigger",
    ];
    let mut script = String::new();
    let mut want = String::new();
    for p in files {
        script.push_str(&format!(
            "if [ -e {p} ]; then echo {p} $(stat -c %t:%T {p}) $(cat {p} | wc -c); else echo {p} absent; fi; "
        ));
        if Path::new(p).exists() {
            want.push_str(&format!("{p} 1:3 0\n"));
        } else {
            want.push_str(&format!("{p} absent\n"));
        }
    }
    // /proc/sys read-only: a sysctl container root owns (its own netns, its own ipc ns) fails
    // with EROFS; kernel/hostname fails too (EACCES before EROFS: its owner is host root).
    script.push_str(
        "/bin/probe write /proc/sys/net/ipv4/ip_forward; /bin/probe write /proc/sys/kernel/shmmax; \
         /bin/probe write /proc/sys/kernel/hostname | grep -vq 'errno=0$' && echo hostname-write-fails; ",
    );
    want.push_str(
        "write /proc/sys/net/ipv4/ip_forward errno=30\nwrite /proc/sys/kernel/shmmax errno=30\nhostname-write-fails\n",
    );
    // sysfs read-only (even the container's own lo), /sys/firmware an empty read-only tmpfs.
    script.push_str(
        "/bin/probe write /sys/class/net/lo/mtu; /bin/probe write /sys/burrow-new; \
         echo firmware: $(ls -A /sys/firmware | wc -l); \
         grep -E ' /(sys|proc/sys|sys/firmware) ' /proc/self/mountinfo | while read -r id p maj root mp opts rest; do \
         echo $mp ${opts%%,*} ${rest##*- }; done",
    );
    want.push_str(
        "write /sys/class/net/lo/mtu errno=30\nwrite /sys/burrow-new errno=30\nfirmware: 0\n",
    );
    let out = burrow(&r, &["/bin/sh", "-c", &script]);
    // mountinfo tails: "<mountpoint> <first option> <fstype> <source> <super options>"
    let tail: Vec<String> = out
        .stdout
        .lines()
        .skip(want.lines().count())
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let head: String = out
        .stdout
        .lines()
        .take(want.lines().count())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert_eq!(head, want, "{out:?}");
    assert_eq!(
        tail,
        [
            "/sys ro sysfs",
            "/sys/firmware ro tmpfs",
            "/proc/sys ro proc"
        ],
        "{out:?}"
    );
    if listing(Path::new("/sys/firmware")).is_empty() {
        eprintln!("note: the host's /sys/firmware is empty: the masking check proves little here");
    }
}

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

    let dir = Tmp::new("seccomp-profiles");
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
        "burrow: no root filesystem: give --rootfs DIR (or rootfs = \"DIR\" in the config file)\n",
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

// ---------------------------------------------------------------- 10: malicious rootfs

fn symlinked(tag: &str, dir: &str, to: &str) -> Rootfs {
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

#[test]
fn t10_symlinked_proc_sys_dev_are_refused() {
    require!();
    let f = fx();
    let outside = Tmp::new("outside");
    fs::create_dir(outside.0.join("x")).unwrap();
    let before = mountinfo();
    for (dir, to) in [
        ("proc", "/etc".to_owned()),
        ("proc", format!("../../../../..{}", outside.path())),
        ("sys", "/tmp".to_owned()),
        ("dev", "../../../../tmp/x".to_owned()),
        ("dev", format!("/../../../..{}/x", outside.path())),
    ] {
        let r = symlinked(&format!("mal-{dir}"), dir, &to);
        let out = burrow(&r, &["/bin/true"]);
        check(
            &out,
            125,
            "",
            &format!(
                "burrow: the rootfs's /{dir} is a symlink: refusing to mount over it (it could lead outside the rootfs); make it a directory\n"
            ),
        );
        assert_eq!(fs::read_link(r.join(dir)).unwrap(), Path::new(&to));
    }
    // A regular file where a directory must be.
    let r = rootfs(&f.user, "mal-file");
    fs::write(r.join("proc"), "").unwrap();
    check(
        &burrow(&r, &["/bin/true"]),
        125,
        "",
        "burrow: the rootfs's /proc is not a directory: make it one\n",
    );
    assert_eq!(listing(&outside.0), ["x"]);
    assert_eq!(listing(&outside.0.join("x")), Vec::<String>::new());
    assert_eq!(mountinfo(), before, "the host's mount table changed");
}

/// A volume whose target is a symlink `/data -> /../../../../../<host dir>`: the bind must land
/// on `<host dir>` resolved inside the rootfs. `in_root_exists` says whether that in-rootfs
/// directory exists beforehand.
fn volume_symlink_case(in_root_exists: bool) {
    let f = fx();
    let victim = Tmp::new("victim");
    fs::write(victim.0.join("marker"), "host\n").unwrap();
    let src = Tmp::new("volsrc");
    fs::write(src.0.join("fromvolume"), "vol\n").unwrap();
    let r = symlinked(
        "mal-vol",
        "data",
        &format!("/../../../../..{}", victim.path()),
    );
    let inside = r.join(victim.path());
    if in_root_exists {
        sh(&format!(
            "mkdir -p {} && chown -R {}:{} {}",
            inside.display(),
            f.user.uid,
            f.user.gid,
            r.join("var").display()
        ));
    }
    let before = mountinfo();
    let vol = format!("{}:/data", src.path());
    let script = format!(
        "ls /data; ls {v}; grep -c ' {v} ' /proc/self/mountinfo",
        v = victim.path()
    );
    let out = burrow(&r, &["-v", &vol, "/bin/sh", "-c", &script]);
    // Whatever happened, the host is untouched...
    assert_eq!(
        listing(&victim.0),
        ["marker"],
        "the host directory changed; {out:?}"
    );
    assert_eq!(
        fs::read_to_string(victim.0.join("marker")).unwrap(),
        "host\n"
    );
    assert_eq!(
        mountinfo(),
        before,
        "the host's mount table changed; {out:?}"
    );
    assert_eq!(listing(&src.0), ["fromvolume"]);
    // ...and the volume is seen inside at the link and at its in-rootfs resolution, mounted there.
    ok_out(&out, "fromvolume\nfromvolume\n1\n");
    assert!(inside.is_dir(), "the target was not made inside the rootfs");
    assert_eq!(listing(&inside), Vec::<String>::new());
}

#[test]
fn t10_volume_target_symlink_pointing_out_lands_inside_rootfs() {
    require!();
    fx();
    volume_symlink_case(true);
}

#[test]
fn t10_volume_target_dangling_symlink_pointing_out_lands_inside_rootfs() {
    require!();
    fx();
    volume_symlink_case(false);
}

#[test]
fn t10_volume_target_with_dotdot_is_refused() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "mal-dotdot");
    let src = Tmp::new("volsrc2");
    let vol = format!("{}:/tmp/../../etc", src.path());
    check(
        &burrow(&r, &["-v", &vol, "/bin/true"]),
        125,
        "",
        "burrow: volume target /tmp/../../etc must not contain ..\n",
    );
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

// ---------------------------------------------------------------- 12: options

#[test]
fn t12_hostname_env_workdir() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "opts");
    ok_out(&burrow(&r, &["/bin/hostname"]), "burrow\n");
    ok_out(&burrow(&r, &["--name", "web", "/bin/hostname"]), "web\n");
    ok_out(
        &burrow(
            &r,
            &[
                "--name",
                "web",
                "--hostname",
                "box.example",
                "/bin/hostname",
            ],
        ),
        "box.example\n",
    );
    check(
        &burrow(&r, &["--hostname", "bad_name", "/bin/true"]),
        125,
        "",
        "burrow: hostname \"bad_name\": use 1-64 letters, digits, '-' or '.'\n",
    );
    // Exactly this environment: nothing from the caller's.
    let out = Run::new(&f.user)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .env("SECRET_FROM_HOST", "leak")
        .cmd(
            &helper("burrow"),
            &[
                "run",
                "--rootfs",
                r.path(),
                "-e",
                "FOO=bar=baz",
                "-e",
                "EMPTY",
                "/bin/env",
            ],
        );
    ok_out(
        &out,
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=burrow\nHOME=/root\nFOO=bar=baz\nEMPTY=\n",
    );
    ok_out(
        &burrow(&r, &["-e", "PATH=/bin", "-e", "HOSTNAME=x", "/bin/env"]),
        "HOME=/root\nPATH=/bin\nHOSTNAME=x\n",
    );
    ok_out(&burrow(&r, &["-w", "/tmp", "/bin/pwd"]), "/tmp\n");
    ok_out(&burrow(&r, &["/bin/pwd"]), "/\n");
    check(
        &burrow(&r, &["-w", "/nonexistent", "/bin/true"]),
        125,
        "",
        "burrow: working directory /nonexistent does not exist in the container: ENOENT: No such file or directory\n",
    );
    check(
        &burrow(&r, &["-w", "tmp", "/bin/true"]),
        125,
        "",
        "burrow: workdir \"tmp\" must be an absolute path\n",
    );
}

#[test]
fn t12_user() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "user");
    ok_out(
        &burrow(&r, &["-u", "1000:1000", "/bin/id"]),
        "uid=1000 gid=1000 groups=1000\n",
    );
    ok_out(
        &burrow(
            &r,
            &["-u", "1234", "/bin/sh", "-c", "id -u; id -g; echo $HOME"],
        ),
        "1234\n1234\n/\n",
    );
    ok_out(
        &burrow(&r, &["-u", "0:1000", "/bin/sh", "-c", "id -u; id -g"]),
        "0\n1000\n",
    );
    check(
        &burrow(&r, &["-u", "root", "/bin/true"]),
        125,
        "",
        "burrow: user \"root\": expected numeric UID[:GID]\n",
    );
}

#[test]
fn t12_user_outside_the_range_says_it_is_unmapped() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "user-unmapped");
    // Container ids 0..=count exist; count + 1 does not. The error must name the id and say
    // why (child.rs means "cannot switch to gid N: ... (is it mapped?)"), not a bare errno.
    let big = (f.sub.2 + 1).to_string();
    for spec in [big.clone(), format!("0:{big}"), format!("{big}:0")] {
        let out = burrow(&r, &["-u", &spec, "/bin/true"]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(125), ""),
            "-u {spec}: {out:?}"
        );
        assert!(
            out.stderr.starts_with("burrow: ")
                && out.stderr.contains(&big)
                && out.stderr.contains("mapped")
                && out.stderr.lines().count() <= 2,
            "-u {spec}: {out:?}"
        );
    }
}

#[test]
fn t12_volumes_and_read_only_root() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "vol");
    let rw = Tmp::new("vol-rw");
    sh(&format!(
        "chown {}:{} {}",
        f.user.uid,
        f.user.gid,
        rw.path()
    ));
    let ro = Tmp::new("vol-ro");
    fs::write(ro.0.join("host-file"), "from host\n").unwrap();
    sh(&format!(
        "chown -R {}:{} {}",
        f.user.uid,
        f.user.gid,
        ro.path()
    ));
    let single = Tmp::new("vol-file");
    let file = format!("{}/conf", single.path());
    fs::write(&file, "single file\n").unwrap();
    // Owned by the user (container root): only the read-only mount stops the write.
    sh(&format!("chown {}:{} {file}", f.user.uid, f.user.gid));

    let v_rw = format!("{}:/vol/rw", rw.path());
    let v_ro = format!("{}:/vol/ro:ro", ro.path());
    let v_file = format!("{file}:/etc/conf.d/conf:ro");
    let out = burrow(
        &r,
        &[
            "-v",
            &v_rw,
            "-v",
            &v_ro,
            "-v",
            &v_file,
            "/bin/sh",
            "-c",
            "echo hi > /vol/rw/new && cat /vol/ro/host-file /etc/conf.d/conf; \
             /bin/probe write /vol/ro/x; /bin/probe write /vol/ro/host-file; /bin/probe write /etc/conf.d/conf; \
             grep -E ' /vol/r[ow] ' /proc/self/mountinfo | while read -r id p maj root mp opts rest; do echo $mp $opts; done",
        ],
    );
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            // relatime etc. are the host filesystem's business: keep ro/rw, nosuid, nodev.
            l.split([' ', ','])
                .filter(|w| !w.contains("time"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert_eq!(
        lines,
        [
            "from host",
            "single file",
            "write /vol/ro/x errno=30",
            "write /vol/ro/host-file errno=30",
            "write /etc/conf.d/conf errno=30",
            "/vol/rw rw nosuid nodev",
            "/vol/ro ro nosuid nodev",
        ],
        "{out:?}"
    );
    let m = fs::metadata(rw.0.join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), (f.user.uid, f.user.gid));
    assert_eq!(fs::read_to_string(rw.0.join("new")).unwrap(), "hi\n");
    assert_eq!(listing(&ro.0), ["host-file"]);

    // --read-only: the root (and its /tmp) cannot be written, a rw volume still can.
    let out = burrow(
        &r,
        &[
            "--read-only",
            "-v",
            &v_rw,
            "/bin/sh",
            "-c",
            "/bin/probe write /new; /bin/probe write /tmp/new; /bin/probe write /etc/hostname; /bin/probe write /vol/rw/again",
        ],
    );
    ok_out(
        &out,
        "write /new errno=30\nwrite /tmp/new errno=30\nwrite /etc/hostname errno=30\nwrite /vol/rw/again errno=0\n",
    );
    assert!(!r.join("new").exists() && !r.join("tmp/new").exists());
    // Without it, the root is writable.
    ok_out(
        &burrow(&r, &["/bin/probe", "write", "/new"]),
        "write /new errno=0\n",
    );

    let missing = format!("{}/nope", rw.path());
    check(
        &burrow(&r, &["-v", &format!("{missing}:/x"), "/bin/true"]),
        125,
        "",
        &format!("burrow: volume {missing}:/x: the source {missing} does not exist or is not accessible\n"),
    );
    check(
        &burrow(&r, &["-v", "rel:/x", "/bin/true"]),
        125,
        "",
        "burrow: volume \"rel:/x\": the source must be an absolute host path\n",
    );
}

#[test]
fn t12_ulimit() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "ulimit");
    let out = burrow(
        &r,
        &[
            "--ulimit",
            "nofile=100:200",
            "/bin/sh",
            "-c",
            "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits",
        ],
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert_eq!(norm(&out.stdout), "100\n200\nMax open files 100 200 files");
    // Raising a hard limit above the caller's is impossible rootless: said so.
    let hard: String = fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| l.split_whitespace().nth(4).unwrap().to_owned())
        .unwrap();
    let above = format!("nofile=1:{}", hard.parse::<u64>().unwrap() + 1);
    check(
        &burrow(&r, &["--ulimit", &above, "/bin/true"]),
        125,
        "",
        &format!("burrow: cannot set ulimit nofile: Operation not permitted (os error 1) (a rootless container cannot raise a hard limit above the one it was started with: {hard})\n"),
    );
}

#[test]
fn t12_config_file() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "config");
    let dir = Tmp::new("config");
    let conf = format!("{}/c.toml", dir.path());
    fs::write(
        &conf,
        format!(
            "rootfs = \"{}\"\ncommand = [\"/bin/sh\", \"-c\", \"echo $(hostname) $A $B; id -u; pwd\"]\nhostname = \"fromfile\"\nenv = [\"A=1\", \"B=file\"]\nworkdir = \"/tmp\"\nuser = \"7:7\"\n",
            r.path()
        ),
    )
    .unwrap();
    ok_out(
        &burrow_as(&f.user, &["--config", &conf]),
        "fromfile 1 file\n7\n/tmp\n",
    );
    // Flags override scalars and add to lists.
    ok_out(
        &burrow_as(
            &f.user,
            &[
                "--config",
                &conf,
                "--hostname",
                "fromflag",
                "-e",
                "B=flag",
                "-u",
                "0",
                "-w",
                "/",
            ],
        ),
        "fromflag 1 flag\n0\n/\n",
    );
    ok_out(
        &burrow_as(&f.user, &["--config", &conf, "/bin/echo", "override"]),
        "override\n",
    );

    let bad = format!("{}/bad.toml", dir.path());
    fs::write(
        &bad,
        format!("rootfs = \"{}\"\nread_only = maybe\n", r.path()),
    )
    .unwrap();
    let out = burrow_as(&f.user, &["--config", &bad, "/bin/true"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!("burrow: {bad}: "))
            && out.stderr.contains("line 2")
            && out.stderr.contains("column"),
        "{out:?}"
    );
    let unknown = format!("{}/unknown.toml", dir.path());
    fs::write(&unknown, "rootfz = \"/x\"\n").unwrap();
    let out = burrow_as(&f.user, &["--config", &unknown, "/bin/true"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!("burrow: {unknown}: "))
            && out.stderr.contains("line 1")
            && out.stderr.contains("column")
            && out.stderr.contains("rootfz"),
        "{out:?}"
    );
    let missing = format!("{}/missing.toml", dir.path());
    check(
        &burrow_as(&f.user, &["--config", &missing, "/bin/true"]),
        125,
        "",
        &format!("burrow: cannot read {missing}: No such file or directory (os error 2)\n"),
    );
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
    let empty = Tmp::new("leak-nohelpers");
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
    let empty = Tmp::new("nosub-nohelpers");
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
    let empty = Tmp::new("nohelpers");
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
    let plain = Tmp::new("plainhelpers");
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
