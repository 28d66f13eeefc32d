//! `burrow run` against the real kernel: the options (`--hostname`, `-e`, `-w`, `-u`, `-v`,
//! `--read-only`, `--ulimit`, `--config`). Fixtures, users and the probe as in `run.rs`
//! (`tests/src/run_fixture.rs`); outputs, exit codes and error messages are compared exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_fixture::*;
use burrow_tests::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

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
    let rw = TempDir::new("vol-rw");
    sh(&format!(
        "chown {}:{} {}",
        f.user.uid,
        f.user.gid,
        rw.path()
    ));
    let ro = TempDir::new("vol-ro");
    fs::write(ro.0.join("host-file"), "from host\n").unwrap();
    sh(&format!(
        "chown -R {}:{} {}",
        f.user.uid,
        f.user.gid,
        ro.path()
    ));
    let single = TempDir::new("vol-file");
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
    let dir = TempDir::new("config");
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

// ------------------------------------------------- --security-opt (AppArmor in tests/guest)

/// podman's `--security-opt` spellings: seccomp= is --seccomp, no-new-privileges and
/// label=disable are accepted (burrow always sets no_new_privs and applies no SELinux label),
/// the rest refused with what to give. AppArmor itself is checked in the guest (this host has
/// no AppArmor): here a named profile must fail saying AppArmor is not enabled, and the default
/// (burrow-default where loaded) must leave containers running.
#[test]
fn security_opt_spellings_and_apparmor_without_apparmor() {
    require!();
    let f = fx();
    let r = rootfs(&f.user, "secopt");
    let seccomp_mode = "/bin/grep ^Seccomp: /proc/self/status";
    ok_out(
        &burrow(&r, &["/bin/sh", "-c", seccomp_mode]),
        "Seccomp:\t2\n",
    );
    ok_out(
        &burrow(
            &r,
            &[
                "--security-opt",
                "seccomp=unconfined",
                "/bin/sh",
                "-c",
                seccomp_mode,
            ],
        ),
        "Seccomp:\t0\n",
    );
    ok_out(
        &burrow(
            &r,
            &[
                "--security-opt",
                "no-new-privileges",
                "--security-opt",
                "label=disable",
                "--security-opt",
                "apparmor=unconfined",
                "/bin/sh",
                "-c",
                "/bin/grep ^NoNewPrivs: /proc/self/status",
            ],
        ),
        "NoNewPrivs:\t1\n",
    );
    check(
        &burrow(
            &r,
            &[
                "--security-opt",
                "seccomp=unconfined",
                "--seccomp",
                "default",
                "/bin/true",
            ],
        ),
        125,
        "",
        "burrow: --security-opt seccomp=unconfined and --seccomp both given: give one\n",
    );
    check(
        &burrow(&r, &["--security-opt", "label=type:spc_t", "/bin/true"]),
        125,
        "",
        "burrow: --security-opt label=type:spc_t: burrow does not apply SELinux labels (only label=disable is accepted)\n",
    );
    check(
        &burrow(&r, &["--security-opt", "no-new-privileges=false", "/bin/true"]),
        125,
        "",
        "burrow: --security-opt no-new-privileges: burrow always sets no_new_privs; it cannot be turned off\n",
    );
    check(
        &burrow(&r, &["--security-opt", "mask=/proc/x", "/bin/true"]),
        125,
        "",
        "burrow: --security-opt mask=/proc/x: use apparmor=PROFILE|unconfined, seccomp=unconfined|FILE, no-new-privileges or label=disable\n",
    );
    assert!(
        !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists()
            || fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .unwrap()
                .trim()
                != "Y",
        "this test expects a host without AppArmor (the guest checks AppArmor)"
    );
    check(
        &burrow(&r, &["--security-opt", "apparmor=burrow-default", "/bin/true"]),
        125,
        "",
        "burrow: AppArmor profile burrow-default: AppArmor is not enabled on this host; drop --security-opt apparmor=burrow-default (or give apparmor=unconfined)\n",
    );
    // The same from a config file.
    let dir = tempdir("secopt-conf");
    let conf = format!("{}/c.toml", dir.display());
    fs::write(&conf, "apparmor = \"my-profile\"\n").unwrap();
    check(
        &burrow(&r, &["--config", &conf, "/bin/true"]),
        125,
        "",
        "burrow: AppArmor profile my-profile: AppArmor is not enabled on this host; drop --security-opt apparmor=my-profile (or give apparmor=unconfined)\n",
    );
}
