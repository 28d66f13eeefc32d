//! `burrow run` against the real kernel: the masked and read-only kernel paths, and a
//! malicious rootfs (symlinked /proc, /sys, /dev; volume targets that point out of the rootfs).
//! Fixtures, users and the probe as in `run.rs` (`tests/src/run_fixture.rs`); outputs, exit
//! codes and error messages are compared exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_fixture::*;
use burrow_tests::*;
use std::fs;
use std::path::Path;

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

// ---------------------------------------------------------------- 10: malicious rootfs

#[test]
fn t10_symlinked_proc_sys_dev_are_refused() {
    require!();
    let f = fx();
    let outside = TempDir::new("outside");
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
    let victim = TempDir::new("victim");
    fs::write(victim.0.join("marker"), "host\n").unwrap();
    let src = TempDir::new("volsrc");
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
    let src = TempDir::new("volsrc2");
    let vol = format!("{}:/tmp/../../etc", src.path());
    check(
        &burrow(&r, &["-v", &vol, "/bin/true"]),
        125,
        "",
        "burrow: volume target /tmp/../../etc must not contain ..\n",
    );
}
