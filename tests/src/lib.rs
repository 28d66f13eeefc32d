//! Integration-test harness. Tests run as root (CI and developers are root on the test
//! machines); the harness
//! - installs the freshly built helpers setuid root into a private prefix ([`prefix`]),
//! - creates unprivileged test users ([`TestUser::get`]),
//! - runs scripts as those users with `setpriv`, optionally inside a private mount namespace
//!   whose /etc is a throwaway copy ([`Etc`]) so each case has its own /etc/subuid,
//!   /etc/subgid, /etc/login.defs without touching the host's ([`Run`]),
//! - starts target processes in new user namespaces ([`Proc::spawn`]) and cleans them up.
//!
//! Nothing is mocked: the helpers write real maps that the tests read back from /proc.
//! Without root a test fails loudly under `CI=true` and is skipped (with a message) otherwise.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod ctr_env;
pub mod debian_image;
pub mod image_fixture;
pub mod nic_fixture;
pub mod run_fixture;
pub mod run_image_fixture;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// True when tests must not skip anything.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Returns false (and says why) when the test cannot run here; panics under CI=true.
pub fn require_root() -> bool {
    let root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if !root {
        if in_ci() {
            panic!("integration tests must run as root under CI=true (they create users and install setuid helpers)");
        }
        eprintln!("SKIP: not root; run the tests as root (see README)");
    }
    root
}

/// True when every tool of `tools` is found; else false with a message naming the missing
/// ones (and `extra`, missing things found by the caller), or a panic under CI=true.
pub fn require_tools(what: &str, tools: &[&str], mut extra: Vec<String>) -> bool {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|t| (*t).to_owned())
        .collect();
    missing.append(&mut extra);
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{what} need {}: run as root after scripts/install-test-deps.sh",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    false
}

/// Runs `cmd`, panics with its output when it fails; its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `require!()` at the top of each integration test.
#[macro_export]
macro_rules! require {
    () => {
        if !$crate::require_root() {
            return;
        }
    };
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The private prefix with the helpers installed setuid root: `$BURROW_TEST_PREFIX` if set
/// (CI installs there), else installed once per test process from target/release.
pub fn prefix() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        if let Ok(p) = std::env::var("BURROW_TEST_PREFIX") {
            return PathBuf::from(p);
        }
        let p = PathBuf::from("/var/tmp/burrow-test-prefix");
        let st = Command::new("bash")
            .arg(workspace().join("tests/install-helpers.sh"))
            .arg(&p)
            .status()
            .expect("run tests/install-helpers.sh");
        assert!(
            st.success(),
            "tests/install-helpers.sh failed: build first with cargo build --release"
        );
        p
    })
}

/// Path of an installed helper, e.g. `helper("burrow-newuidmap")`.
pub fn helper(name: &str) -> PathBuf {
    prefix().join("bin").join(name)
}

/// An unprivileged user made for the tests (created on first use, kept afterwards).
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

static USERADD: Mutex<()> = Mutex::new(());

fn getent(db: &str, key: &str) -> Option<Vec<String>> {
    let out = Command::new("getent").args([db, key]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(':')
            .map(str::to_owned)
            .collect(),
    )
}

/// Runs a command and panics with its stderr when it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestUser {
    /// The test user `burrowt-<tag>` (created with a home and a group of the same name).
    pub fn get(tag: &str) -> TestUser {
        let name = format!("burrowt-{tag}");
        let _g = USERADD.lock().unwrap_or_else(|e| e.into_inner());
        if getent("passwd", &name).is_none() {
            sh(&format!("useradd -m -U -s /bin/bash {name}"));
        }
        let pw = getent("passwd", &name).unwrap();
        TestUser {
            name,
            uid: pw[2].parse().unwrap(),
            gid: pw[3].parse().unwrap(),
        }
    }

    /// root, as a caller.
    pub fn root() -> TestUser {
        TestUser {
            name: "root".into(),
            uid: 0,
            gid: 0,
        }
    }

    /// A uid with no passwd entry (runs with no supplementary groups).
    pub fn ghost(uid: u32) -> TestUser {
        TestUser {
            name: String::new(),
            uid,
            gid: uid,
        }
    }

    /// A group `burrowt-<tag>` the user is a supplementary member of.
    pub fn aux_group(&self, tag: &str) -> u32 {
        let g = format!("burrowt-{tag}");
        let _l = USERADD.lock().unwrap_or_else(|e| e.into_inner());
        if getent("group", &g).is_none() {
            sh(&format!("groupadd {g}"));
        }
        sh(&format!("usermod -a -G {g} {}", self.name));
        getent("group", &g).unwrap()[2].parse().unwrap()
    }

    /// Makes sure the real /etc/subuid and /etc/subgid give this user a range (for tools that
    /// read them directly, e.g. podman and LXC); returns (subuid start, subgid start, count).
    pub fn ensure_real_subids(&self) -> (u32, u32, u32) {
        let _l = USERADD.lock().unwrap_or_else(|e| e.into_inner());
        let find = |f: &str| -> Option<(u32, u32)> {
            fs::read_to_string(f).ok()?.lines().find_map(|l| {
                let p: Vec<&str> = l.split(':').collect();
                (p.len() == 3 && p[0] == self.name)
                    .then(|| (p[1].parse().ok(), p[2].parse().ok()))
                    .and_then(|(a, b)| Some((a?, b?)))
            })
        };
        if find("/etc/subuid").is_none() || find("/etc/subgid").is_none() {
            // Pick a free block above everything present.
            let max_end = ["/etc/subuid", "/etc/subgid"]
                .iter()
                .filter_map(|f| fs::read_to_string(f).ok())
                .flat_map(|t| {
                    t.lines()
                        .filter_map(|l| {
                            let p: Vec<&str> = l.split(':').collect();
                            Some(p.get(1)?.parse::<u64>().ok()? + p.get(2)?.parse::<u64>().ok()?)
                        })
                        .collect::<Vec<_>>()
                })
                .max()
                .unwrap_or(100_000)
                .max(100_000);
            let s = max_end;
            let e = s + 65_535;
            sh(&format!(
                "usermod --add-subuids {s}-{e} --add-subgids {s}-{e} {}",
                self.name
            ));
        }
        let (u, c) = find("/etc/subuid").unwrap();
        let (g, _) = find("/etc/subgid").unwrap();
        (u, g, c)
    }
}

/// A throwaway copy of the files under /etc the tools read, to be bind-mounted over /etc in a
/// private mount namespace. Host files are never modified.
#[derive(Debug)]
pub struct Etc {
    dir: PathBuf,
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh private temporary directory (root-owned, 0755).
pub fn tempdir(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = PathBuf::from(format!(
        "/var/tmp/burrow-test-{}-{tag}-{n}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Removes the [`tempdir`]s with these tags (`TAG-N`) that test processes that are gone left
/// in /var/tmp (fixtures kept in statics are never dropped).
pub fn remove_stale_tempdirs(tags: &[&str]) {
    for e in fs::read_dir("/var/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, rest)) = name
            .strip_prefix("burrow-test-")
            .and_then(|r| r.split_once('-'))
        else {
            continue;
        };
        let tagged = tags
            .iter()
            .any(|t| rest.strip_prefix(t).is_some_and(|n| n.starts_with('-')));
        if tagged && pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl Etc {
    /// Copies passwd, group, login.defs, nsswitch.conf, ld.so.cache and the subid files.
    pub fn new() -> Etc {
        let dir = tempdir("etc");
        for f in [
            "passwd",
            "group",
            "login.defs",
            "nsswitch.conf",
            "ld.so.cache",
            "ld.so.conf",
            "subuid",
            "subgid",
        ] {
            let src = Path::new("/etc").join(f);
            if src.exists() {
                fs::copy(&src, dir.join(f)).unwrap();
            }
        }
        if Path::new("/etc/ld.so.conf.d").is_dir() {
            sh(&format!("cp -a /etc/ld.so.conf.d {}/", dir.display()));
        }
        Etc { dir }
    }

    /// Writes a file as root with mode 0644.
    pub fn file(self, name: &str, text: &str) -> Etc {
        self.file_mode(name, text, 0o644, 0)
    }

    /// Writes a file with the given mode and owner uid.
    pub fn file_mode(self, name: &str, text: &str, mode: u32, owner: u32) -> Etc {
        let p = self.dir.join(name);
        let _ = fs::remove_file(&p);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(owner), None).unwrap();
        self
    }

    /// Replaces a file by a symlink.
    pub fn symlink(self, name: &str, to: &str) -> Etc {
        let p = self.dir.join(name);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(to, p).unwrap();
        self
    }

    /// Removes a file.
    pub fn remove(self, name: &str) -> Etc {
        let _ = fs::remove_file(self.dir.join(name));
        self
    }

    /// `/etc/burrow/usernet` (root-owned 0644, in a root-owned 0755 directory).
    pub fn usernet(self, text: &str) -> Etc {
        let d = self.dir.join("burrow");
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        self.file("burrow/usernet", text)
    }

    /// `/etc/subuid` and `/etc/subgid` with the same text.
    pub fn subids(self, text: &str) -> Etc {
        self.file("subuid", text).file("subgid", text)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Default for Etc {
    fn default() -> Self {
        Etc::new()
    }
}

impl Drop for Etc {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Result of a run, with helpers for exact assertions.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    /// Asserts exit status and exact stderr.
    #[track_caller]
    pub fn expect(&self, code: i32, stderr: &str) {
        assert_eq!(
            (self.code, self.stderr.as_str()),
            (Some(code), stderr),
            "unexpected result; stdout: {}",
            self.stdout
        );
    }
    /// Asserts success with nothing on stdout or stderr.
    #[track_caller]
    pub fn ok(&self) {
        self.expect(0, "");
        assert_eq!(self.stdout, "", "stdout must be empty");
    }
}

/// How to run a script as a test user.
#[derive(Debug)]
pub struct Run<'a> {
    user: &'a TestUser,
    etc: Option<&'a Etc>,
    nnp: bool,
    regid: Option<u32>,
    devlog: Option<PathBuf>,
    binds: Vec<(PathBuf, PathBuf)>,
    env: Vec<(String, String)>,
}

impl<'a> Run<'a> {
    pub fn new(user: &'a TestUser) -> Run<'a> {
        Run {
            user,
            etc: None,
            nnp: false,
            regid: None,
            devlog: None,
            binds: Vec::new(),
            env: Vec::new(),
        }
    }
    /// Use this /etc (private mount namespace).
    pub fn etc(mut self, etc: &'a Etc) -> Self {
        self.etc = Some(etc);
        self
    }
    /// Run under no_new_privs.
    pub fn nnp(mut self) -> Self {
        self.nnp = true;
        self
    }
    /// Run with this real/effective gid instead of the login group.
    pub fn regid(mut self, gid: u32) -> Self {
        self.regid = Some(gid);
        self
    }
    /// Replace /dev/log with this socket (private mount namespace, private /dev).
    pub fn devlog(mut self, sock: &Path) -> Self {
        self.devlog = Some(sock.to_path_buf());
        self
    }
    /// Bind-mount `src` over `dst` (private mount namespace, as root, after /etc).
    pub fn bind(mut self, src: &Path, dst: &Path) -> Self {
        self.binds.push((src.to_path_buf(), dst.to_path_buf()));
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Runs `bash -c script` as the user with `args` as $1...; `$N` and `$G` are the installed
    /// burrow-newuidmap and burrow-newgidmap.
    pub fn script(&self, script: &str, args: &[&str]) -> Ran {
        let mut setup = String::new();
        if let Some(etc) = self.etc {
            setup.push_str(&format!(
                "mount --bind {} /etc || exit 97\n",
                etc.path().display()
            ));
        }
        for (src, dst) in &self.binds {
            setup.push_str(&format!(
                "mount --bind '{}' '{}' || exit 97\n",
                src.display(),
                dst.display()
            ));
        }
        if let Some(sock) = &self.devlog {
            setup.push_str(&format!(
                "D=$(mktemp -d) && mount -t tmpfs tmpfs $D && for n in null zero full random urandom tty; do touch $D/$n && mount --bind /dev/$n $D/$n; done && touch $D/log && mount --bind {} $D/log && mount --rbind $D /dev || exit 97\n",
                sock.display()
            ));
        }
        let gid = self.regid.unwrap_or(self.user.gid);
        let nnp = if self.nnp { "--no-new-privs" } else { "" };
        let groups = if self.user.name.is_empty() {
            "--clear-groups"
        } else {
            "--init-groups"
        };
        let wrapper = format!(
            "{setup}exec setpriv --reuid {} --regid {gid} {groups} {nnp} -- bash -c \"$0\" burrow-test \"$@\"",
            self.user.uid
        );
        let mut cmd = if self.etc.is_some() || self.devlog.is_some() || !self.binds.is_empty() {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                &wrapper,
            ]);
            c
        } else {
            let mut c = Command::new("bash");
            c.args(["-c", &wrapper]);
            c
        };
        cmd.arg(script).args(args);
        cmd.env("N", helper("burrow-newuidmap"))
            .env("G", helper("burrow-newgidmap"));
        cmd.env("P", prefix());
        cmd.env("HOME", format!("/home/{}", self.user.name))
            .env("USER", &self.user.name);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.current_dir("/");
        cmd.stdin(Stdio::null());
        let out = cmd.output().unwrap();
        let ran = Ran::from(out);
        assert_ne!(ran.code, Some(97), "test setup failed: {}", ran.stderr);
        ran
    }

    /// Runs one program with arguments as the user.
    pub fn cmd(&self, prog: &Path, args: &[&str]) -> Ran {
        let mut all = vec![prog.to_str().unwrap()];
        all.extend_from_slice(args);
        self.script("exec \"$@\"", &all)
    }
}

/// A process of a test user, killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    pub pid: u32,
}

/// What kind of target process to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// `unshare -U`: a new, unmapped user namespace.
    New,
    /// No new namespace.
    Init,
    /// `unshare -U --map-root-user`: already mapped by itself.
    SelfMapped,
    /// A namespace inside a self-mapped one.
    Grandchild,
    /// `unshare -U --setgroups deny`.
    SetgroupsDeny,
}

impl Proc {
    /// Starts `sleep` as `user` (with gid `gid`, default the login group) in the namespace
    /// arrangement `ns`, and waits until it is running.
    pub fn spawn(user: &TestUser, ns: Ns, gid: Option<u32>) -> Proc {
        let inner: &[&str] = match ns {
            Ns::New => &["unshare", "-U", "--"],
            Ns::Init => &[],
            Ns::SelfMapped => &["unshare", "-U", "--map-root-user", "--"],
            Ns::Grandchild => &[
                "unshare",
                "-U",
                "--map-root-user",
                "--",
                "unshare",
                "-U",
                "--",
            ],
            Ns::SetgroupsDeny => &["unshare", "-U", "--setgroups", "deny", "--"],
        };
        Proc::spawn_cmd(user, gid, inner, &["sleep", "600"])
    }

    /// Starts an arbitrary command as the user (wrapped by `wrap`, e.g. `unshare -U --`) and
    /// waits until the process runs `cmd[0]`.
    pub fn spawn_cmd(user: &TestUser, gid: Option<u32>, wrap: &[&str], cmd: &[&str]) -> Proc {
        let gid = gid.unwrap_or(user.gid);
        let groups = if user.name.is_empty() {
            "--clear-groups"
        } else {
            "--init-groups"
        };
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &user.uid.to_string(),
            "--regid",
            &gid.to_string(),
            groups,
            "--",
        ]);
        c.args(wrap).args(cmd);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/");
        let child = c.spawn().unwrap();
        let pid = child.id();
        let want = Path::new(cmd[0])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == want {
                break;
            }
            assert!(Instant::now() < deadline, "target {pid} did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Proc { child, pid }
    }

    /// Waits until the process has left the test's user namespace.
    pub fn wait_new_userns(&self) {
        let ours = fs::read_link("/proc/self/ns/user").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_link(format!("/proc/{}/ns/user", self.pid))
            .map(|l| l == ours)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "process {} never unshared",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the process runs a program named `comm`.
    pub fn wait_comm(&self, comm: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_to_string(format!("/proc/{}/comm", self.pid))
            .unwrap_or_default()
            .trim()
            != comm
        {
            assert!(
                Instant::now() < deadline,
                "process {} never ran {comm}",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid_s(&self) -> String {
        self.pid.to_string()
    }

    /// A file of the process under /proc.
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(format!("/proc/{}/{name}", self.pid)).unwrap()
    }

    /// The uid_map (or gid_map) as normalised `a b c` lines.
    pub fn map(&self, name: &str) -> String {
        self.read(name)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A datagram socket standing in for /dev/log; collects what the helpers log.
#[derive(Debug)]
pub struct SyslogSink {
    pub dir: PathBuf,
    sock: std::os::unix::net::UnixDatagram,
}

impl SyslogSink {
    pub fn new() -> SyslogSink {
        let dir = tempdir("log");
        let path = dir.join("log");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        SyslogSink { dir, sock }
    }
    pub fn path(&self) -> PathBuf {
        self.dir.join("log")
    }
    /// Every message received so far.
    pub fn drain(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = self.sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }
}

impl Default for SyslogSink {
    fn default() -> Self {
        SyslogSink::new()
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A root-owned busybox-static rootfs to copy (busybox, one relative symlink per applet,
/// /etc/hostname, /tmp 1777), built once per test process. Templates left by test processes
/// that are gone are removed first.
pub fn busybox_template() -> &'static Path {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        remove_stale_tempdirs(&["busybox-template"]);
        let t = tempdir("busybox-template");
        for d in ["bin", "etc", "tmp"] {
            fs::create_dir(t.join(d)).unwrap();
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("busybox-static is not installed (apt-get install busybox-static)");
        fs::copy(busybox, t.join("bin/busybox")).unwrap();
        let list = sh(&format!("{busybox} --list"));
        for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
            std::os::unix::fs::symlink("busybox", t.join("bin").join(applet)).unwrap();
        }
        fs::write(t.join("etc/hostname"), "template\n").unwrap();
        sh(&format!("chmod 1777 {}/tmp", t.display()));
        t
    })
}

/// A private copy of [`busybox_template`] owned by a user (so the container's root, which is
/// that user, owns it), removed on drop.
#[derive(Debug)]
pub struct Rootfs {
    pub dir: PathBuf,
}

impl Rootfs {
    pub fn new(owner: &TestUser, tag: &str) -> Rootfs {
        let dir = tempdir(tag);
        sh(&format!(
            "cp -a {}/. {d}/ && chown -R {}:{} {d}",
            busybox_template().display(),
            owner.uid,
            owner.gid,
            d = dir.display()
        ));
        Rootfs { dir }
    }
    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Names of the host ends of `uid`'s burrow-nic veths (`veth<uid>_XXXX`) in the host netns,
/// sorted.
pub fn host_veths_of(uid: u32) -> Vec<String> {
    let prefix = format!("veth{uid}_");
    let mut v: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// A network link of the host netns that a test makes or expects, deleted (with `ip link
/// del`) when created and when dropped.
#[derive(Debug)]
pub struct LinkGuard(pub String);

impl LinkGuard {
    /// Deletes any leftover `name` (of an earlier failed run) and guards it.
    pub fn fresh(name: &str) -> LinkGuard {
        let _ = Command::new("ip").args(["link", "del", name]).output();
        LinkGuard(name.to_owned())
    }

    /// The per-user bridge burrow-nic makes for `u` (`burrow<uid>`).
    pub fn per_user_bridge(u: &TestUser) -> LinkGuard {
        LinkGuard::fresh(&format!("burrow{}", u.uid))
    }
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// The directory of the installed helpers and front end (for `BURROW_HELPERS_DIR`).
pub fn helpers_dir() -> String {
    prefix().join("bin").to_str().unwrap().to_owned()
}

/// Asserts the exit status, stdout and stderr exactly, showing all three on failure.
#[track_caller]
pub fn check(r: &Ran, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(code), stdout, stderr),
        "unexpected result (left: actual, right: expected)"
    );
}

/// Asserts success with this exact stdout and nothing on stderr.
#[track_caller]
pub fn ok_out(r: &Ran, stdout: &str) {
    check(r, 0, stdout, "");
}

/// Lines with runs of whitespace collapsed to one space.
pub fn norm(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a setuid-root process here may raise a hard rlimit (CAP_SYS_RESOURCE is in the
/// bounding set; some VMs and containers drop it).
pub fn setuid_root_can_raise_rlimits() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    bnd & (1 << 24) != 0
}

/// Shell prefixes that set up a hostile caller of a setuid helper: a file size limit of 0
/// (soft only, or hard and soft), SIGXFSZ ignored, SIGXFSZ blocked (the wrapper, second
/// field, runs the helper with it blocked). The flag says whether the hard limit is 0 too.
pub const HOSTILE_FSIZE: [(&str, &str, bool); 5] = [
    ("ulimit -S -f 0", "", false),
    ("ulimit -S -f 0; trap '' XFSZ", "", false),
    ("ulimit -f 0", "", true),
    ("ulimit -f 0; trap '' XFSZ", "", true),
    (
        "ulimit -f 0",
        "perl -MPOSIX -e 'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGXFSZ)) or die; exec {$ARGV[0]} @ARGV or die' --",
        true,
    ),
];

/// Compiles a C program statically (`gcc -static -O2`) into a directory named like the
/// harness's templates (`busybox-template-<tag>`), so the stale-template sweep removes it once
/// this test process is gone; returns the binary's path. The source is read where it is;
/// nothing is written next to it.
pub fn compile_static_c(tag: &str, source: &Path) -> PathBuf {
    let dir = tempdir(&format!("busybox-template-{tag}"));
    let bin = dir.join("prog");
    sh(&format!(
        "gcc -static -O2 -o {} {}",
        bin.display(),
        source.display()
    ));
    bin
}

/// The C program `tests/probes/<name>.c`, compiled by [`compile_static_c`] once per test
/// process (the first caller compiles it, later callers get the same binary).
pub fn probe_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, bin)) = built.iter().find(|(n, _)| n == name) {
        return bin.clone();
    }
    let source = workspace().join("tests/probes").join(format!("{name}.c"));
    assert!(source.is_file(), "{} is missing", source.display());
    let bin = compile_static_c(&format!("probe-{name}"), &source);
    built.push((name.to_owned(), bin.clone()));
    bin
}

/// The names in a directory, sorted; none when it does not exist or cannot be read.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The highest pid plus one (`/proc/sys/kernel/pid_max`).
pub fn pid_max() -> u32 {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A pid that no process has right now (below pid_max).
pub fn free_pid() -> u32 {
    (300..pid_max())
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

/// The test users `burrowt-a` and `burrowt-b` of the helper tests (newidmap, nic): `a` is
/// the caller, `b` "another user".
pub fn user_a() -> TestUser {
    TestUser::get("a")
}

/// See [`user_a`].
pub fn user_b() -> TestUser {
    TestUser::get("b")
}

/// A [`tempdir`] removed (as root, with everything in it) on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(tempdir(tag))
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
