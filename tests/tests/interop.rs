//! Interoperability: real rootless podman and a real unprivileged LXC container, with our
//! `burrow-newuidmap` / `burrow-newgidmap` in place of shadow's `newuidmap` / `newgidmap`.
//!
//! Each test runs, as root, `unshare -m --propagation private` and in that private mount
//! namespace
//! - bind-mounts the installed helpers over /usr/bin/newuidmap and /usr/bin/newgidmap,
//! - puts a directory first in PATH whose `newuidmap` / `newgidmap` are symlinks to them,
//! - replaces /dev by a copy whose /dev/log is a [`SyslogSink`], so the helpers' audit lines
//!   prove that they, and nothing else, wrote the maps,
//! - checks that /usr/bin/newuidmap (and the PATH lookups) print our usage,
//!
//! then drops to a test user with real /etc/subuid and /etc/subgid ranges and starts a
//! container from a busybox-static rootfs. The container prints its uid_map, gid_map and ids;
//! the test asserts the full mapping (`0 <uid> 1`, `1 <subuid start> 65536`) and root inside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the container prints: both maps and the ids, separated by marker lines.
const PROBE: &str = "echo '--uid_map'; cat /proc/self/uid_map; echo '--gid_map'; \
                     cat /proc/self/gid_map; echo '--id'; id -u; id -g";

/// Runs the setup described in the module comment, then `bash -c script` (with the further
/// arguments as $1...) as the user, in `$BT_U`, with only the environment listed here;
/// `XDG_RUNTIME_DIR` is a fresh 0700 directory of the user's under `$BT_U`.
const WRAPPER: &str = r#"
set -u
fail() { echo "interop setup: $*" >&2; exit 97; }
mount --bind "$BT_N" /usr/bin/newuidmap || fail "bind newuidmap"
mount --bind "$BT_G" /usr/bin/newgidmap || fail "bind newgidmap"
# A copy of /dev (every node bound from the real one) plus our /dev/log.
D="$BT_T/dev"
mkdir "$D" && mount -t tmpfs -o mode=0755 burrow-dev "$D" || fail "tmpfs $D"
for e in /dev/* /dev/.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n=${e#/dev/}
  if [ -L "$e" ]; then cp -P "$e" "$D/$n" || fail "copy $e"
  elif [ -d "$e" ]; then mkdir "$D/$n" && mount --rbind "$e" "$D/$n" || fail "rbind $e"
  else touch "$D/$n" && mount --bind "$e" "$D/$n" || fail "bind $e"
  fi
done
touch "$D/log" && mount --bind "$BT_LOG" "$D/log" || fail "bind /dev/log"
mount --move "$D" /dev || fail "move $D to /dev"
# Podman expects / to be a shared mount; this namespace's peer groups are its own.
mount --make-rshared / || fail "make-rshared /"
# Sanity check, as root: the absolute path is ours.
for t in newuidmap newgidmap; do
  /usr/bin/$t >"$BT_T/check/root-$t" 2>&1
  echo "rc=$?" >>"$BT_T/check/root-$t"
done
exec setpriv --reuid "$BT_UID" --regid "$BT_GID" --init-groups -- \
  env -i HOME="$BT_HOME" USER="$BT_USER" LOGNAME="$BT_USER" PATH="$BT_T/bin:/usr/bin:/usr/sbin" \
  LANG=C.UTF-8 BT_T="$BT_T" BT_U="$BT_U" XDG_RUNTIME_DIR="$BT_U/xdg" \
  bash -c '
    mkdir -m 0700 "$XDG_RUNTIME_DIR" || exit 97
    # Sanity check, as the user: every newuidmap/newgidmap on PATH is ours.
    for t in newuidmap newgidmap; do
      type -ap $t >"$BT_U/check-paths-$t"
      $t >"$BT_U/check-user-$t" 2>&1
      echo "rc=$?" >>"$BT_U/check-user-$t"
    done
    cd "$BT_U" && exec timeout -k 5 50 bash -c "$0" interop "$@"' "$0" "$@"
"#;

/// Output of one run.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A root-owned 0755 work dir `t` with `t/bin` (the PATH symlinks), `t/check` (root's
/// sanity-check output), `t/u` (owned by the user, 0700: the tools' state) and `t/rootfs`
/// (busybox-static, owned by the user so that container root owns it). Removed on drop,
/// after any process the user left running from it (podman's pause process) is killed.
struct Work {
    t: PathBuf,
    user: TestUser,
    sink: SyslogSink,
}

impl Work {
    fn new(user: &TestUser, tag: &str) -> Work {
        let t = tempdir(tag);
        let sink = SyslogSink::new();
        fs::create_dir(t.join("bin")).unwrap();
        std::os::unix::fs::symlink(helper("burrow-newuidmap"), t.join("bin/newuidmap")).unwrap();
        std::os::unix::fs::symlink(helper("burrow-newgidmap"), t.join("bin/newgidmap")).unwrap();
        fs::create_dir(t.join("check")).unwrap();
        let u = t.join("u");
        fs::create_dir(&u).unwrap();
        fs::set_permissions(&u, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&u, Some(user.uid), Some(user.gid)).unwrap();
        let w = Work {
            t,
            user: user.clone(),
            sink,
        };
        w.busybox_rootfs();
        w
    }

    fn u(&self) -> PathBuf {
        self.t.join("u")
    }

    fn rootfs(&self) -> PathBuf {
        self.t.join("rootfs")
    }

    /// A copy of the harness's busybox template (/bin/busybox plus a relative symlink per
    /// applet: `busybox --install -s` would make absolute links to the host path, which do not
    /// resolve inside the container) without its /etc/hostname, plus /proc, /sys, /dev, /root,
    /// /etc/passwd and /etc/group, all owned by the user.
    fn busybox_rootfs(&self) {
        let r = self.rootfs();
        sh(&format!(
            "cp -a {}/. {}/",
            busybox_template().display(),
            r.display()
        ));
        assert!(r.join("bin/id").is_symlink(), "busybox has no id applet");
        fs::remove_file(r.join("etc/hostname")).unwrap();
        for d in ["proc", "sys", "dev", "root"] {
            fs::create_dir(r.join(d)).unwrap();
        }
        fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .unwrap();
        fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        sh(&format!(
            "chown -R -h {}:{} {}",
            self.user.uid,
            self.user.gid,
            r.display()
        ));
    }

    /// Runs `script` as the user inside the private mount namespace with our helpers.
    fn run(&self, script: &str, args: &[&str]) -> Out {
        let mut c = Command::new("unshare");
        c.args([
            "-m",
            "--propagation",
            "private",
            "--",
            "bash",
            "-c",
            WRAPPER,
        ])
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("BT_N", helper("burrow-newuidmap"))
        .env("BT_G", helper("burrow-newgidmap"))
        .env("BT_T", &self.t)
        .env("BT_U", self.u())
        .env("BT_LOG", self.sink.path())
        .env("BT_UID", self.user.uid.to_string())
        .env("BT_GID", self.user.gid.to_string())
        .env("BT_USER", &self.user.name)
        .env("BT_HOME", format!("/home/{}", self.user.name))
        .current_dir("/")
        .stdin(Stdio::null());
        let o = c.output().unwrap();
        let out = Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert_ne!(out.code, Some(97), "namespace setup failed: {}", out.stderr);
        out
    }

    /// The sanity checks written by the wrapper: /usr/bin/newXidmap and every PATH lookup
    /// are our helpers.
    fn assert_helpers_are_ours(&self) {
        for t in ["newuidmap", "newgidmap"] {
            let ours = format!("burrow-{t}");
            for (who, f) in [
                (
                    "root, /usr/bin",
                    self.t.join("check").join(format!("root-{t}")),
                ),
                ("user, PATH", self.u().join(format!("check-user-{t}"))),
            ] {
                let text =
                    fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), 3, "{who}: {t} printed:\n{text}");
                assert_eq!(
                    lines[0],
                    format!("{ours}: missing arguments"),
                    "{who}: {text}"
                );
                assert!(
                    lines[1].starts_with(&format!("usage: {ours} ")),
                    "{who}: {t} printed:\n{text}"
                );
                assert_eq!(lines[2], "rc=1", "{who}: {t} printed:\n{text}");
            }
            let paths = fs::read_to_string(self.u().join(format!("check-paths-{t}"))).unwrap();
            assert_eq!(
                paths.lines().collect::<Vec<_>>(),
                [
                    self.t.join("bin").join(t).to_str().unwrap(),
                    &format!("/usr/bin/{t}"),
                ],
                "every {t} on the user's PATH"
            );
        }
    }

    /// Asserts from the helpers' audit log (the private /dev/log) that our helpers wrote these
    /// maps for this user and refused nothing but the four argument-less sanity checks.
    /// Returns the "allowed" lines.
    fn assert_logged(&self, uid_map: &str, gid_map: &str) -> Vec<String> {
        let msgs: Vec<String> = self
            .sink
            .drain()
            .iter()
            .map(|m| m.trim_end().to_owned())
            .collect();
        let checks = msgs
            .iter()
            .filter(|m| m.ends_with(": refused: missing arguments"))
            .count();
        assert_eq!(checks, 4, "sanity-check refusals in the log: {msgs:#?}");
        let allowed: Vec<String> = msgs
            .iter()
            .filter(|m| !m.ends_with(": refused: missing arguments"))
            .cloned()
            .collect();
        assert!(
            allowed.iter().all(|m| m.contains(": allowed: ")),
            "the helpers refused something: {msgs:#?}"
        );
        let u = &self.user;
        for (prog, what) in [
            ("burrow-newuidmap", format!(" uid_map=[{uid_map}] (")),
            ("burrow-newgidmap", format!(" gid_map=[{gid_map}] (")),
        ] {
            let caller = format!(" {prog}[");
            let by_user = format!("]: uid={} gid={}: allowed: pid=", u.uid, u.gid);
            assert!(
                allowed
                    .iter()
                    .any(|m| m.contains(&caller) && m.contains(&by_user) && m.contains(&what)),
                "no log line from {prog} with{what}...; got: {msgs:#?}"
            );
        }
        allowed
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // Podman's pause process (catatonit) outlives `podman run`; it belongs to the user.
        let pidfile = self.u().join("xdg/libpod/tmp/pause.pid");
        if let Some(pid) = fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            kill_if_owned(pid, self.user.uid);
        }
        // Files owned by the subordinate ids: removed as root.
        let _ = fs::remove_dir_all(&self.t);
    }
}

/// Kills `pid` (SIGKILL) if it is a live process of `uid`, and waits until it is gone or a
/// zombie.
fn kill_if_owned(pid: u32, uid: u32) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let owner = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u32>().ok());
    if owner != Some(uid) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parses the probe's output into (uid_map, gid_map, ids), each as normalised lines.
fn parse_probe(stdout: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for l in stdout.lines() {
        if let Some(name) = l.strip_prefix("--") {
            sections.push((name.to_owned(), Vec::new()));
        } else if let Some((_, v)) = sections.last_mut() {
            v.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    let get = |n: &str| {
        sections
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    (get("uid_map"), get("gid_map"), get("id"))
}

/// Asserts the container saw the full mapping and ran as root, printing everything if not.
fn assert_full_mapping(out: &Out, user: &TestUser, subuid: u32, subgid: u32, log: &str) {
    let ctx = format!(
        "exit status {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n{log}",
        out.code, out.stdout, out.stderr
    );
    assert_eq!(out.code, Some(0), "container run failed\n{ctx}");
    let (uid_map, gid_map, ids) = parse_probe(&out.stdout);
    assert_eq!(
        uid_map,
        [format!("0 {} 1", user.uid), format!("1 {subuid} 65536")],
        "uid_map inside the container\n{ctx}"
    );
    assert_eq!(
        gid_map,
        [format!("0 {} 1", user.gid), format!("1 {subgid} 65536")],
        "gid_map inside the container\n{ctx}"
    );
    assert_eq!(ids, ["0", "0"], "id -u / id -g inside the container\n{ctx}");
}

/// The user's podman configuration: no systemd here.
fn podman_user_config(user: &TestUser) {
    let home = PathBuf::from(format!("/home/{}", user.name));
    let dir = home.join(".config/containers");
    sh(&format!(
        "install -d -o {u} -g {g} -m 0755 {h}/.config {d}",
        u = user.uid,
        g = user.gid,
        h = home.display(),
        d = dir.display()
    ));
    let conf = dir.join("containers.conf");
    fs::write(
        &conf,
        "# Written by burrow's tests/tests/interop.rs: no systemd on the test machines.\n\
         [engine]\n\
         cgroup_manager = \"cgroupfs\"\n\
         events_logger = \"file\"\n",
    )
    .unwrap();
    std::os::unix::fs::chown(&conf, Some(user.uid), Some(user.gid)).unwrap();
}

fn with_subids(user: &TestUser) -> (u32, u32) {
    let (subuid, subgid, count) = user.ensure_real_subids();
    // The expected maps below use exactly 65536 (podman maps the user's whole range).
    assert_eq!(count, 65536, "{}: subordinate id count", user.name);
    (subuid, subgid)
}

#[test]
fn podman_rootless_with_burrow_helpers() {
    require!();
    let started = Instant::now();
    let user = TestUser::get("podman");
    let (subuid, subgid) = with_subids(&user);
    podman_user_config(&user);
    let w = Work::new(&user, "podman");
    // Fresh XDG_RUNTIME_DIR and storage: podman has no pause process to join, so it creates
    // its user namespace now and calls newuidmap/newgidmap for it.
    let script = r#"exec podman --root "$BT_U/storage" --runroot "$BT_U/run" --runtime runc \
  run --rm --network none --rootfs "$1" /bin/sh -c "$2""#;
    let rootfs = w.rootfs();
    let out = w.run(script, &[rootfs.to_str().unwrap(), PROBE]);
    assert_full_mapping(&out, &user, subuid, subgid, "");
    w.assert_helpers_are_ours();
    let full = |a: u32, s: u32| format!("0 {a} 1, 1 {s} 65536");
    let msgs = w.assert_logged(&full(user.uid, subuid), &full(user.gid, subgid));
    drop(w);
    eprintln!(
        "podman interop: {:?}; helper log:\n{}",
        started.elapsed(),
        msgs.join("\n")
    );
}

#[test]
fn lxc_unprivileged_with_burrow_helpers() {
    require!();
    let started = Instant::now();
    let user = TestUser::get("lxc");
    let (subuid, subgid) = with_subids(&user);
    let w = Work::new(&user, "lxc");
    // No cgroup setup: unprivileged LXC skips the cgroup v1 hierarchies it cannot write to
    // ("Legacy hierarchy not writable, skipping") and runs without a cgroup of its own.
    let conf = format!(
        "lxc.uts.name = burrow-interop\n\
         lxc.rootfs.path = dir:{rootfs}\n\
         lxc.idmap = u 0 {uid} 1\n\
         lxc.idmap = u 1 {subuid} 65536\n\
         lxc.idmap = g 0 {gid} 1\n\
         lxc.idmap = g 1 {subgid} 65536\n\
         lxc.net.0.type = empty\n\
         lxc.mount.auto = proc:mixed sys:ro\n\
         lxc.autodev = 1\n\
         lxc.pty.max = 0\n\
         lxc.tty.max = 0\n\
         lxc.console.path = none\n\
         lxc.apparmor.profile = unconfined\n",
        rootfs = w.rootfs().display(),
        uid = user.uid,
        gid = user.gid,
    );
    let conf_path = w.u().join("container.conf");
    fs::write(&conf_path, conf).unwrap();
    std::os::unix::fs::chown(&conf_path, Some(user.uid), Some(user.gid)).unwrap();
    let script = r#"mkdir "$BT_U/lxcpath" || exit 90
exec lxc-execute -P "$BT_U/lxcpath" -n burrow-interop -f "$BT_U/container.conf" \
  -o "$BT_U/lxc.log" -l INFO -- /bin/sh -c "$1""#;
    let out = w.run(script, &[PROBE]);
    let log = fs::read_to_string(w.u().join("lxc.log")).unwrap_or_default();
    assert_full_mapping(&out, &user, subuid, subgid, &format!("--- lxc.log:\n{log}"));
    w.assert_helpers_are_ours();
    let full = |a: u32, s: u32| format!("0 {a} 1, 1 {s} 65536");
    let msgs = w.assert_logged(&full(user.uid, subuid), &full(user.gid, subgid));
    drop(w);
    eprintln!(
        "lxc interop: {:?}; helper log:\n{}",
        started.elapsed(),
        msgs.join("\n")
    );
}
