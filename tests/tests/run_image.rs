//! `burrow run IMAGE` (issue 12, "Running an image"), as an unprivileged test user with a real
//! subordinate range, against images made here by hand (`tests/src/run_image_fixture.rs`: two
//! layers, a whiteout, files owned by 1000, three configs) and imported with the front end's
//! own `burrow image import`. The root is overlayfs over the layers, mounted in the
//! container's user namespace; `BURROW_OVERLAY=0` forces the flattened fallback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_image_fixture::*;
use burrow_tests::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fx() -> &'static ImageUser {
    image_user("img")
}

/// One test's world ([`ImageEnv`]) for the "img" user.
struct Env;

impl Env {
    #[allow(clippy::new_ret_no_self)]
    fn new(tag: &str) -> ImageEnv {
        ImageEnv::new(fx(), &format!("img-{tag}"))
    }
}

/// Runs python code on a JSON document (`d`); its stdout.
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

// ---------------------------------------------------------------- commands and output

#[test]
fn i01_run_image_true_and_output() {
    require!();
    let e = Env::new("true");
    e.run(&["base", "/bin/true"]).ok();
    ok_out(
        &e.run(&["base", "/bin/echo", "hello", "image"]),
        "hello image\n",
    );
    // The command's status is burrow's.
    check(&e.run(&["base", "/bin/sh", "-c", "exit 7"]), 7, "", "");
    // The root is overlayfs (not a bind of a directory).
    let out = e.run(&[
        "base",
        "/bin/sh",
        "-c",
        "grep ' / ' /proc/self/mounts | cut -d' ' -f3",
    ]);
    ok_out(&out, "overlay\n");
    // Nothing of the foreground run is left in the containers' directory.
    assert_eq!(e.container_dirs(), Vec::<String>::new());
    // An unknown image: the store's message, status 125.
    check(
        &e.run(&["nosuch", "/bin/true"]),
        125,
        "",
        "burrow: no image \"nosuch\" in storage; see `burrow images`, or `burrow pull` it first\n",
    );
}

#[test]
fn i02_entrypoint_cmd_and_override() {
    require!();
    let e = Env::new("ep");
    // Entrypoint + Cmd.
    ok_out(&e.run(&["ep"]), "ep cmd-default\n");
    // Arguments replace Cmd, not the Entrypoint.
    ok_out(&e.run(&["ep", "x", "y"]), "ep x y\n");
    // --entrypoint replaces the Entrypoint, and the image's Cmd is then not used.
    ok_out(&e.run(&["--entrypoint", "/bin/echo", "ep"]), "\n");
    ok_out(&e.run(&["--entrypoint", "/bin/echo", "ep", "z"]), "z\n");
    // A JSON array for several words.
    ok_out(
        &e.run(&["--entrypoint", "[\"/bin/echo\",\"a\"]", "ep", "b"]),
        "a b\n",
    );
    // "" clears it: the arguments are the whole command.
    ok_out(&e.run(&["--entrypoint", "", "ep", "/bin/echo", "c"]), "c\n");
    // Cmd alone (base: /bin/sh, stdin is /dev/null so it ends at once).
    e.run(&["base"]).ok();
    // No command at all.
    check(
        &e.run(&["--entrypoint", "", "ep"]),
        125,
        "",
        "burrow: no command: image ep has neither Entrypoint nor Cmd; give one after the image name\n",
    );
    // --entrypoint with --rootfs makes no sense.
    let out = e.b(&[
        "run",
        "--rm",
        "--entrypoint",
        "/x",
        "--rootfs",
        "/",
        "/bin/true",
    ]);
    check(
        &out,
        125,
        "",
        "burrow: --entrypoint needs an image (with --rootfs, give the command itself)\n",
    );
}

#[test]
fn i03_env_and_workdir() {
    require!();
    let e = Env::new("env");
    let out = e.run(&[
        "-e",
        "BAR=cli",
        "-e",
        "NEW=1",
        "base",
        "/bin/sh",
        "-c",
        "echo $FOO $BAR $NEW $PATH; pwd; cat marker",
    ]);
    ok_out(&out, "image cli 1 /usr/bin:/bin\n/srv\nmarker\n");
    // -w wins over WorkingDir.
    ok_out(&e.run(&["-w", "/tmp", "base", "/bin/pwd"]), "/tmp\n");
}

#[test]
fn i04_user_names_groups_and_home() {
    require!();
    let e = Env::new("user");
    // Default: root, HOME from passwd.
    ok_out(
        &e.run(&["base", "/bin/sh", "-c", "id -u; id -g; echo $HOME"]),
        "0\n0\n/root\n",
    );
    // A name: uid, primary gid and home from the image's passwd.
    ok_out(
        &e.run(&[
            "-u",
            "app",
            "base",
            "/bin/sh",
            "-c",
            "id -u; id -g; echo $HOME; id -un",
        ]),
        "1000\n1000\n/home/app\napp\n",
    );
    // name:group from the image's group.
    ok_out(
        &e.run(&["-u", "app:staff", "base", "/bin/sh", "-c", "id -u; id -g"]),
        "1000\n50\n",
    );
    // A numeric uid in passwd gets its primary group and home.
    ok_out(
        &e.run(&["-u", "1000", "base", "/bin/sh", "-c", "id -g; echo $HOME"]),
        "1000\n/home/app\n",
    );
    // -e HOME wins.
    ok_out(
        &e.run(&[
            "-u",
            "app",
            "-e",
            "HOME=/x",
            "base",
            "/bin/sh",
            "-c",
            "echo $HOME",
        ]),
        "/x\n",
    );
    // The image's User (app:staff).
    ok_out(&e.run(&["user"]), "1000\n50\n/home/app\n");
    // -u overrides it.
    ok_out(&e.run(&["-u", "0", "user"]), "0\n0\n/root\n");
    // Unknown names say where they were looked up.
    check(
        &e.run(&["-u", "nobody", "base", "/bin/true"]),
        125,
        "",
        "burrow: user \"nobody\": no user \"nobody\" in the container's /etc/passwd\n",
    );
    check(
        &e.run(&["-u", "app:wheel", "base", "/bin/true"]),
        125,
        "",
        "burrow: user \"app:wheel\": no group \"wheel\" in the container's /etc/group\n",
    );
}

#[test]
fn i05_user_names_with_a_rootfs_directory() {
    require!();
    let e = Env::new("user-rootfs");
    let r = Rootfs::new(&e.user, "img-user-rootfs");
    std::fs::write(
        r.dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(r.dir.join("etc/group"), "root:x:0:\nweb:x:33:\nadm:x:4:\n").unwrap();
    ok_out(
        &e.b(&[
            "run",
            "--rm",
            "--rootfs",
            r.path(),
            "-u",
            "web:adm",
            "/bin/sh",
            "-c",
            "id -u; id -g; echo $HOME",
        ]),
        "33\n4\n/var/www\n",
    );
    // A rootfs without /etc/passwd: the name cannot be looked up, and that is what it says.
    std::fs::remove_file(r.dir.join("etc/passwd")).unwrap();
    check(
        &e.b(&["run", "--rm", "--rootfs", r.path(), "-u", "web", "/bin/true"]),
        125,
        "",
        "burrow: user \"web\": the container has no /etc/passwd to look up \"web\" in (give a numeric UID[:GID])\n",
    );
    // A symlinked /etc/passwd pointing out of the rootfs is resolved inside it (not the
    // host's, which has root).
    std::os::unix::fs::symlink("/../../../../etc/shadow-not-here", r.dir.join("etc/passwd"))
        .unwrap();
    check(
        &e.b(&["run", "--rm", "--rootfs", r.path(), "-u", "root", "/bin/true"]),
        125,
        "",
        "burrow: user \"root\": the container has no /etc/passwd to look up \"root\" in (give a numeric UID[:GID])\n",
    );
}

#[test]
fn i05b_supplementary_groups_from_the_container_and_group_add() {
    require!();
    let e = Env::new("groups");
    // The image's /etc/group lists app in staff (50): a named user gets it (podman's rule).
    ok_out(&e.run(&["-u", "app", "base", "/bin/id", "-G"]), "1000 50\n");
    // So does a numeric uid found in the image's passwd; root is in no list.
    ok_out(
        &e.run(&["-u", "1000", "base", "/bin/id", "-G"]),
        "1000 50\n",
    );
    ok_out(&e.run(&["base", "/bin/id", "-G"]), "0\n");
    // --group-add: names from the image's /etc/group and numbers, after the user's own.
    ok_out(
        &e.run(&[
            "-u",
            "app",
            "--group-add",
            "4242",
            "--group-add",
            "root",
            "base",
            "/bin/id",
            "-G",
        ]),
        // The kernel keeps the list sorted.
        "1000 0 50 4242\n",
    );
    ok_out(
        &e.run(&["--group-add", "staff", "base", "/bin/id", "-G"]),
        "0 50\n",
    );
    check(
        &e.run(&["--group-add", "wheel", "base", "/bin/true"]),
        125,
        "",
        "burrow: --group-add wheel: no group \"wheel\" in the container's /etc/group (give a numeric gid, or a group the container has)\n",
    );
    // A gid outside the container's id map cannot be a group of its process.
    let out = e.run(&["--group-add", "4000000000", "base", "/bin/true"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr
            .contains("cannot set the supplementary groups [4000000000]"),
        "{out:?}"
    );
    // exec: -u NAME gets the user's groups too, --group-add adds to the container's.
    ok_out(
        &e.b(&[
            "run",
            "-d",
            "--name",
            "g",
            "--group-add",
            "7",
            "base",
            "/bin/sh",
            "-c",
            "while :; do sleep 1; done",
        ]),
        "g\n",
    );
    ok_out(&e.b(&["exec", "g", "/bin/id", "-G"]), "0 7\n");
    ok_out(
        &e.b(&["exec", "-u", "app", "g", "/bin/id", "-G"]),
        "1000 7 50\n",
    );
    ok_out(
        &e.b(&[
            "exec",
            "-u",
            "app",
            "--group-add",
            "9",
            "g",
            "/bin/id",
            "-G",
        ]),
        "1000 7 9 50\n",
    );
    ok_out(&e.b(&["rm", "-f", "g"]), "g\n");
    // A --rootfs directory: a named user's groups come from its /etc/group.
    let r = Rootfs::new(&e.user, "img-groups-rootfs");
    std::fs::write(
        r.dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        r.dir.join("etc/group"),
        "root:x:0:\nweb:x:33:\nadm:x:4:syslog,web\nwebbers:x:44:web\n",
    )
    .unwrap();
    ok_out(
        &e.b(&[
            "run",
            "--rm",
            "--rootfs",
            r.path(),
            "-u",
            "web",
            "/bin/id",
            "-G",
        ]),
        "33 4 44\n",
    );
    // A numeric user there reads nothing: no supplementary groups.
    ok_out(
        &e.b(&[
            "run",
            "--rm",
            "--rootfs",
            r.path(),
            "-u",
            "33",
            "/bin/id",
            "-G",
        ]),
        "33\n",
    );
}

// ---------------------------------------------------------------- layers, upper, owners

#[test]
fn i06_writes_are_per_container_and_go_with_rm() {
    require!();
    let e = Env::new("upper");
    // Foreground: a file written in one container is not in the next one.
    e.run(&[
        "base",
        "/bin/sh",
        "-c",
        "echo one > /tmp/f; echo x > /etc/top-layer",
    ])
    .ok();
    ok_out(
        &e.run(&[
            "base",
            "/bin/sh",
            "-c",
            "ls /tmp/f 2>&1; cat /etc/top-layer",
        ]),
        "ls: /tmp/f: No such file or directory\ntop\n",
    );
    assert_eq!(e.container_dirs(), Vec::<String>::new());
    // Two detached containers of one image: each its own upper.
    for n in ["c1", "c2"] {
        ok_out(
            &e.b(&[
                "run",
                "-d",
                "--name",
                n,
                "base",
                "/bin/sh",
                "-c",
                "while :; do sleep 1; done",
            ]),
            &format!("{n}\n"),
        );
    }
    ok_out(
        &e.b(&[
            "exec",
            "c1",
            "/bin/sh",
            "-c",
            "echo c1 > /tmp/mine; mkdir /tmp/d; touch /tmp/d/f; chown -R 1000:1000 /tmp/d",
        ]),
        "",
    );
    ok_out(
        &e.b(&["exec", "c2", "/bin/sh", "-c", "cat /tmp/mine 2>&1; true"]),
        "cat: can't open '/tmp/mine': No such file or directory\n",
    );
    let upper = e.containers().join("c1/upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("tmp/mine")).unwrap(),
        "c1\n"
    );
    // The container's 1000 is the user's subordinate 1000 on the host.
    let (su, _, _) = fx().sub;
    assert_eq!(
        std::fs::metadata(upper.join("tmp/d/f")).unwrap().uid(),
        su + 999
    );
    // The image's layers are untouched.
    let out = e.b(&[
        "exec",
        "c2",
        "/bin/sh",
        "-c",
        "rm /data/owned1000 && ls /data",
    ]);
    ok_out(&out, "");
    ok_out(&e.b(&["exec", "c1", "/bin/ls", "/data"]), "owned1000\n");
    // rm removes the upper directory, files of subordinate ids too.
    ok_out(&e.b(&["rm", "-f", "c1", "c2"]), "c1\nc2\n");
    assert!(
        !e.containers().join("c1").exists(),
        "{:?}",
        e.container_dirs()
    );
    assert!(!e.containers().join("c2").exists());
}

#[test]
fn i07_whiteout_hides_the_lower_file_and_owners_are_the_images() {
    require!();
    let e = Env::new("whiteout");
    ok_out(
        &e.run(&["base", "/bin/sh", "-c", "ls /data; ls -a /data | grep -c wh; stat -c '%u %g %n' /data/owned1000 /home/app /etc/passwd"]),
        "owned1000\n0\n1000 1000 /data/owned1000\n1000 1000 /home/app\n0 0 /etc/passwd\n",
    );
    // On the host, the layer's file belongs to the user's subordinate id 1000.
    let (su, sg, _) = fx().sub;
    let found = sh(&format!(
        "find {} -path '*/layers/*/data/owned1000' -printf '%U %G\\n'",
        e.data_home().join("burrow/storage").display()
    ));
    assert_eq!(found, format!("{} {}\n", su + 999, sg + 999));
}

// ---------------------------------------------------------------- stop, inspect

#[test]
fn i08_stop_uses_the_images_stop_signal_and_inspect_shows_the_image() {
    require!();
    let e = Env::new("stop");
    ok_out(
        &e.b(&[
            "run",
            "-d",
            "--name",
            "s",
            "base",
            "/bin/sh",
            "-c",
            "trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.1; done",
        ]),
        "s\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.b(&["logs", "s"]).stdout != "ready\n" {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ins = e.b(&["inspect", "s"]);
    assert_eq!(ins.code, Some(0), "{ins:?}");
    let base_id = e.b(&["image", "inspect", "base"]);
    let shown = py(
        &ins.stdout,
        "i = d['image']; print(i['name'], i['id'].startswith('sha256:'), i['digest'].startswith('sha256:'), i['id'] != i['digest'], ','.join(i['exposed_ports']), json.dumps(i['labels'], sort_keys=True), i['stop_signal'], i['root'])",
    );
    assert_eq!(
        shown,
        "base True True True 53/udp,80/tcp {\"maintainer\": \"burrow tests\", \"org.test.kind\": \"base\"} SIGUSR1 overlay\n",
        "{}",
        base_id.stdout
    );
    let id = py(&ins.stdout, "print(d['image']['id'])");
    assert!(
        base_id
            .stdout
            .contains(id.trim().strip_prefix("sha256:").unwrap()),
        "{}",
        base_id.stdout
    );
    // stop sends SIGUSR1 (the trap answers), not SIGTERM.
    let t0 = Instant::now();
    ok_out(&e.b(&["stop", "-t", "10", "s"]), "s\n");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(e.b(&["logs", "s"]).stdout, "ready\ngot-usr1\n");
    let ins = e.b(&["inspect", "s"]);
    assert_eq!(py(&ins.stdout, "print(d['exit_code'])"), "3\n");
    // create + start works from the saved image description.
    ok_out(
        &e.b(&["create", "--name", "later", "ep", "later"]),
        "later\n",
    );
    ok_out(&e.b(&["start", "-a", "later"]), "ep later\n");
}

// ---------------------------------------------------------------- the fallback, --rootfs

#[test]
fn i09_flattened_fallback_says_why() {
    require!();
    let mut e = Env::new("flat");
    e.extra_env.push(("BURROW_OVERLAY".into(), "0".into()));
    let out = e.run(&[
        "base",
        "/bin/sh",
        "-c",
        "ls /data; stat -c %u /data/owned1000; grep ' / ' /proc/self/mounts | cut -d' ' -f3",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "owned1000\n1000\next4\n");
    let dir = e.containers();
    assert!(
        out.stderr.starts_with("burrow: warning: overlayfs cannot be used (BURROW_OVERLAY=0 is set): made a flattened copy of image base for this container in ")
            && out.stderr.contains(&format!("{}/.run-", dir.display()))
            && out.stderr.ends_with("it uses disk space and is kept until the container is removed)\n")
            && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
    assert_eq!(
        e.container_dirs(),
        Vec::<String>::new(),
        "the flattened copy goes with the run"
    );
    // A detached container: made once, reused (and said again) at the next start.
    let out = e.b(&[
        "run",
        "-d",
        "--name",
        "f",
        "base",
        "/bin/sh",
        "-c",
        "echo $$ >> /tmp/starts",
    ]);
    assert_eq!(out.stdout, "f\n");
    assert!(
        out.stderr.contains("made a flattened copy of image base"),
        "{}",
        out.stderr
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = e.b(&["start", "f"]);
    assert_eq!(out.stdout, "f\n");
    assert!(
        out.stderr
            .contains("using this container's flattened copy of image base")
            && out.stderr.contains("BURROW_OVERLAY=0 is set"),
        "{}",
        out.stderr
    );
    let ins = e.b(&["inspect", "f"]);
    assert_eq!(py(&ins.stdout, "print(d['image']['root'])"), "flattened\n");
    ok_out(&e.b(&["rm", "-f", "f"]), "f\n");
    assert_eq!(e.container_dirs(), Vec::<String>::new());
}

/// A foreground run that writes, watched from the host: it writes a file, signals through a
/// volume, and the script counts what the containers' directory holds (and greps it for the
/// file's content) while the container still runs, then after. `upper` is `--upper-size`'s.
fn watch_a_writing_run(e: &ImageEnv, upper: &str) -> String {
    let out = e.script(
        r#"set -u
sig="$XDG_RUNTIME_DIR/sig-$1"; mkdir "$sig"
"$B" run --rm --upper-size "$1" -v "$sig:/sig" base /bin/sh -c 'echo tmpfs-secret > /tmp/w; echo x > /etc/new; touch /sig/ready; i=0; while [ ! -e /sig/done ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; cat /tmp/w' &
i=0; while [ ! -e "$sig/ready" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
[ -e "$sig/ready" ] || echo "the container did not start"
c="$XDG_DATA_HOME/burrow/containers"
echo "during: $(find "$c" -mindepth 1 | wc -l) entries, $(grep -rls tmpfs-secret "$c" | wc -l) with the file"
touch "$sig/done"; wait $!; echo "status $?"
echo "after: $(find "$c" -mindepth 1 | wc -l) entries"
"#,
        &[upper],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
}

#[test]
fn i11_foreground_writes_stay_in_memory_and_disk_is_a_choice() {
    require!();
    let e = Env::new("tmpfs");
    // The default: a tmpfs in the container's own mount namespace; nothing on disk.
    assert_eq!(
        watch_a_writing_run(&e, "1g"),
        "during: 0 entries, 0 with the file\ntmpfs-secret\nstatus 0\nafter: 0 entries\n"
    );
    // --upper-size disk: the run's directory on disk while it runs, gone after it.
    let out = watch_a_writing_run(&e, "disk");
    assert!(
        out.starts_with("during: ")
            && !out.starts_with("during: 0 entries")
            && out.contains(", 1 with the file\n")
            && out.ends_with("tmpfs-secret\nstatus 0\nafter: 0 entries\n"),
        "{out}"
    );
    // A whiteout on the tmpfs upper: a lower file removed, a lower directory replaced.
    ok_out(
        &e.run(&[
            "base",
            "/bin/sh",
            "-c",
            "rm /etc/passwd && ls /etc/passwd 2>&1; rm -r /home/app && mkdir /home/app && ls -a /home/app | wc -l",
        ]),
        "ls: /etc/passwd: No such file or directory\n2\n",
    );
    // The size bound: writing past it fails inside with ENOSPC; the host is untouched and
    // the next run starts clean.
    let out = e.run(&[
        "--upper-size",
        "2m",
        "base",
        "/bin/sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1024 count=4096 2>&1 | grep -o 'No space left on device' | head -n1; echo dd done",
    ]);
    ok_out(&out, "No space left on device\ndd done\n");
    ok_out(
        &e.run(&["base", "/bin/sh", "-c", "ls /big 2>&1; true"]),
        "ls: /big: No such file or directory\n",
    );
    assert_eq!(e.container_dirs(), Vec::<String>::new());
    // A created (or detached) container keeps its upper on disk: --upper-size is said to
    // have no effect there, not silently ignored.
    let out = e.b(&[
        "create",
        "--name",
        "upsz",
        "--upper-size",
        "2m",
        "base",
        "/bin/true",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("--upper-size applies to foreground image runs only"),
        "{out:?}"
    );
    ok_out(&e.b(&["rm", "upsz"]), "upsz\n");
    // A bad size says what is expected.
    let out = e.run(&["--upper-size", "lots", "base", "/bin/true"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(out.stderr.contains("512m"), "{}", out.stderr);
}

#[test]
fn i10_rootfs_runs_are_unchanged_and_open_no_store() {
    require!();
    let e = Env::new("rootfs");
    // (--idmap auto and keep-id with an image: tests/tests/run_image_idmap.rs.)
    rmtree(&e.data_home().join("burrow/storage"));
    let r = Rootfs::new(&e.user, "img-rootfs");
    ok_out(
        &e.b(&[
            "run",
            "--rm",
            "--rootfs",
            r.path(),
            "/bin/sh",
            "-c",
            "echo $HOME; id -u",
        ]),
        "/root\n0\n",
    );
    assert!(
        !e.data_home().join("burrow/storage").exists(),
        "a --rootfs run opened the image store"
    );
    // The first argument is the command with --rootfs, even when it names an image.
    check(
        &e.b(&["run", "--rm", "--rootfs", r.path(), "base"]),
        127,
        "",
        "burrow: command not found in the rootfs: base (searched PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\n",
    );
}
