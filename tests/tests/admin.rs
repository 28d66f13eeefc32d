//! `burrow admin add-user/remove-user/check` and `burrow doctor` against the real kernel and
//! the installed front end and helpers (issue 6's contract).
//!
//! Every admin command runs as root inside a private mount namespace whose /etc is a
//! throwaway copy ([`Etc`]), so the host's /etc/subuid and /etc/subgid are never changed;
//! the test then reads the copy back byte for byte. `doctor` runs as test users, with the
//! installed helpers (`$P/bin` through `BURROW_HELPERS_DIR`), mapping a real process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

fn burrow() -> PathBuf {
    helper("burrow")
}

/// Does the installed front end have the admin commands? (They are wired into main.rs
/// separately.) Panics under CI=true when it does not; skips otherwise.
fn wired() -> bool {
    static W: OnceLock<bool> = OnceLock::new();
    let ok = *W.get_or_init(|| {
        std::process::Command::new(burrow())
            .args(["admin", "check", "--help"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if !ok {
        assert!(
            !in_ci(),
            "{} has no `admin` subcommand: wire crates/burrow/src/admin.rs and doctor.rs into main.rs",
            burrow().display()
        );
        eprintln!("SKIP: {} has no `admin` subcommand yet", burrow().display());
    }
    ok
}

macro_rules! require_admin {
    () => {
        require!();
        if !wired() {
            return;
        }
    };
}

/// `burrow ARGS` as root with this /etc.
fn admin(etc: &Etc, args: &[&str]) -> Ran {
    Run::new(&TestUser::root())
        .etc(etc)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&burrow(), args)
}

/// `burrow doctor` as `user` with this /etc.
fn doctor(user: &TestUser, etc: &Etc) -> Ran {
    Run::new(user)
        .etc(etc)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&burrow(), &["doctor"])
}

fn read(etc: &Etc, name: &str) -> Vec<u8> {
    fs::read(etc.path().join(name)).unwrap()
}

fn text(etc: &Etc, name: &str) -> String {
    String::from_utf8(read(etc, name)).unwrap()
}

/// Appends lines to a file of the copy.
fn append(etc: Etc, name: &str, lines: &str) -> Etc {
    let t = fs::read_to_string(etc.path().join(name)).unwrap_or_default() + lines;
    etc.file(name, &t)
}

/// (owner, start, count) of every well-formed line.
fn ranges(t: &str) -> Vec<(String, u64, u64)> {
    t.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

fn max_id(t: &str) -> u64 {
    t.lines()
        .filter_map(|l| l.split(':').nth(2)?.parse::<u64>().ok())
        .filter(|&id| id != u64::from(u32::MAX))
        .max()
        .unwrap()
}

#[test]
fn add_user_allocates_disjoint_block_above_all_ids() {
    require_admin!();
    let u = TestUser::get("adm");
    let etc = Etc::new();
    // A uid and a gid far above the usual ones: the block must go above both.
    let etc = append(
        etc,
        "passwd",
        "burrowt-bigid:x:300000:300000::/nonexistent:/usr/sbin/nologin\n",
    );
    let etc = append(etc, "group", "burrowt-biggrp:x:400000:\n");
    let su = "bt1:100000:65536\nother:165536:65536\n# a comment\nlast:231072:65536";
    let sg = "x:100000:200000\n";
    let etc = etc.file("subuid", su).file("subgid", sg);
    let r = admin(&etc, &["admin", "add-user", &u.name]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let line = format!("{}:427680:65536", u.name);
    assert!(
        r.stdout.contains(&format!("/etc/subuid: added {line}\n"))
            && r.stdout.contains(&format!("/etc/subgid: added {line}\n")),
        "{}",
        r.stdout
    );
    // Every other byte kept; the missing final newline of the last line added.
    assert_eq!(text(&etc, "subuid"), format!("{su}\n{line}\n"));
    assert_eq!(text(&etc, "subgid"), format!("{sg}{line}\n"));
    // The invariants, checked independently of the expected numbers.
    let top = max_id(&text(&etc, "passwd")).max(max_id(&text(&etc, "group")));
    for f in ["subuid", "subgid"] {
        let all = ranges(&text(&etc, f));
        let (_, s, c) = all.iter().find(|(o, _, _)| *o == u.name).unwrap().clone();
        assert!(s > top, "{f}: {s} is not above {top}");
        assert_eq!(
            (s - 100_000) % 65_536,
            0,
            "aligned to the count from the base"
        );
        for (o, s2, c2) in all
            .iter()
            .chain(ranges(&text(&etc, if f == "subuid" { "subgid" } else { "subuid" })).iter())
        {
            if *o != u.name {
                assert!(
                    s + c <= *s2 || s2 + c2 <= s,
                    "{f}: {s}+{c} overlaps {o}:{s2}:{c2}"
                );
            }
        }
        let md = fs::metadata(etc.path().join(f)).unwrap();
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (0, 0, 0o644),
            "{f}"
        );
    }
    let leftovers: Vec<String> = fs::read_dir(etc.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Idempotent: a second run changes nothing, not even the inode.
    let before = (read(&etc, "subuid"), read(&etc, "subgid"));
    let ino = fs::metadata(etc.path().join("subuid")).unwrap().ino();
    let r = admin(&etc, &["admin", "add-user", &u.name]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains(&format!(
        "{} already has uids 427680-493215 in /etc/subuid and gids 427680-493215 in /etc/subgid (at least 65536 ids each): nothing changed",
        u.name
    )), "{}", r.stdout);
    assert_eq!((read(&etc, "subuid"), read(&etc, "subgid")), before);
    assert_eq!(fs::metadata(etc.path().join("subuid")).unwrap().ino(), ino);
}

/// Runs add-user for `user` in a fresh /etc copy prepared by `setup`; returns its subuid line.
fn allocate(user: &TestUser, setup: impl FnOnce(Etc) -> Etc, extra: &[&str]) -> String {
    let etc = setup(Etc::new());
    let mut args = vec!["admin", "add-user", user.name.as_str()];
    args.extend_from_slice(extra);
    let r = admin(&etc, &args);
    assert_eq!(r.code, Some(0), "{r:?}");
    let find = |f: &str| {
        text(&etc, f)
            .lines()
            .find(|l| l.starts_with(&format!("{}:", user.name)))
            .unwrap()
            .to_owned()
    };
    assert_eq!(find("subuid"), find("subgid"), "same numbers in both files");
    find("subuid")
}

#[test]
fn add_user_avoids_existing_and_reserved_ranges() {
    require_admin!();
    let u = TestUser::get("adm2");
    let base = |e: Etc| append(e, "group", "burrowt-biggrp:x:400000:\n");
    // Free: the first aligned slot above gid 400000.
    assert_eq!(
        allocate(&u, |e| base(e).subids("a:100000:65536\n"), &[]),
        format!("{}:427680:65536", u.name)
    );
    // Ten ids of another user in that slot (in /etc/subuid only) push both files to the next.
    assert_eq!(
        allocate(
            &u,
            |e| base(e)
                .file("subuid", "someone:427680:10\n")
                .file("subgid", ""),
            &[]
        ),
        format!("{}:493216:65536", u.name)
    );
    // Same through /etc/subgid only, and through a line burrow itself rejects (leading zero).
    assert_eq!(
        allocate(
            &u,
            |e| base(e).file("subuid", "").file("subgid", "g:427690:1\n"),
            &[]
        ),
        format!("{}:493216:65536", u.name)
    );
    assert_eq!(
        allocate(&u, |e| base(e).subids("odd:0427690:1\n"), &[]),
        format!("{}:493216:65536", u.name)
    );
    // Reserved network ids: the file and --reserve.
    assert_eq!(
        allocate(
            &u,
            |e| {
                fs::create_dir_all(e.path().join("burrow")).unwrap();
                base(e)
                    .subids("")
                    .file("burrow/subid-reserved", "# LDAP users\n427680-493215\n")
            },
            &["--reserve", "493216-493216"]
        ),
        format!("{}:558752:65536", u.name)
    );
    // --count and --base.
    assert_eq!(
        allocate(
            &u,
            |e| base(e).subids("z:500000:1000\n"),
            &["--count", "1000", "--base", "500000"]
        ),
        format!("{}:501000:1000", u.name)
    );
}

#[test]
fn add_user_refusals() {
    require_admin!();
    let u = TestUser::get("adm3");
    let etc = Etc::new();
    let r = admin(&etc, &["admin", "add-user", "burrowt-no-such-user"]);
    r.expect(
        125,
        "burrow: no user named burrowt-no-such-user: create it first (sudo useradd -m burrowt-no-such-user)\n",
    );
    let r = Run::new(&u)
        .etc(&etc)
        .cmd(&burrow(), &["admin", "add-user", &u.name]);
    r.expect(
        125,
        &format!(
            "burrow: this must run as root: sudo burrow admin add-user {}\n",
            u.name
        ),
    );
    // An existing range smaller than asked: refused with the fix, nothing written.
    let etc = etc.subids(&format!("{}:600000:1000\n", u.name));
    let r = admin(&etc, &["admin", "add-user", &u.name]);
    assert_eq!(r.code, Some(125));
    assert!(
        r.stderr.ends_with(&format!(
            "To replace it: sudo burrow admin remove-user {0} && sudo burrow admin add-user {0} --count 65536\n",
            u.name
        )),
        "{}",
        r.stderr
    );
    assert_eq!(text(&etc, "subuid"), format!("{}:600000:1000\n", u.name));
    // A symlinked /etc/subuid is not edited.
    let etc = etc.symlink("subuid", "subgid");
    let r = admin(&etc, &["admin", "add-user", &u.name, "--count", "10"]);
    assert_eq!(r.code, Some(125));
    assert!(
        r.stderr
            .contains("/etc/subuid is a symbolic link; refusing to edit it"),
        "{}",
        r.stderr
    );
}

#[test]
fn remove_user_removes_exactly_that_users_lines() {
    require_admin!();
    let u = TestUser::get("adm4");
    let n = &u.name;
    let id = u.uid;
    let su = format!(
        "a:100000:10\n{n}:200000:65536\n# {n}:1:1\nb:300000:10\n{id}:400000:5\n{n}:bad\n{n}x:1:1\nlast:500000:5"
    );
    let sg = format!("{n}:200000:65536\n");
    let etc = Etc::new().file("subuid", &su).file("subgid", &sg);
    let r = admin(&etc, &["admin", "remove-user", n]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        text(&etc, "subuid"),
        format!("a:100000:10\n# {n}:1:1\nb:300000:10\n{n}x:1:1\nlast:500000:5")
    );
    assert_eq!(text(&etc, "subgid"), "");
    for removed in [
        format!("/etc/subuid: removed {n}:200000:65536"),
        format!("/etc/subuid: removed {id}:400000:5"),
        format!("/etc/subuid: removed {n}:bad"),
        format!("/etc/subgid: removed {n}:200000:65536"),
    ] {
        assert!(r.stdout.contains(&removed), "{removed}\n{}", r.stdout);
    }
    // Idempotent.
    let before = (read(&etc, "subuid"), read(&etc, "subgid"));
    let r = admin(&etc, &["admin", "remove-user", n]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("/etc/subuid: no line for {n} or {id}: unchanged")),
        "{}",
        r.stdout
    );
    assert_eq!((read(&etc, "subuid"), read(&etc, "subgid")), before);
}

#[test]
fn check_reports_ranges_covering_real_ids_and_root() {
    require_admin!();
    let u = TestUser::get("adm5");
    let etc = Etc::new()
        .file("subuid", &format!("evil:0:65536\n{}:1000:65536\n", u.name))
        .file_mode("subgid", "x:100000:10\n", 0o666, 0);
    let r = admin(&etc, &["admin", "check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let out = &r.stdout;
    assert!(
        out.contains("[FAIL] /etc/subuid: line 1 (evil): the range includes id 0"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "[FAIL] /etc/subuid: line 2 ({}:1000:65536) covers existing uids: ",
            u.name
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "       fix: sudo burrow admin remove-user {0} && sudo burrow admin add-user {0}\n",
            u.name
        )),
        "{out}"
    );
    assert!(
        out.contains("[FAIL] /etc/subgid: is writable by group or others (mode 0666): the helpers refuse it\n       fix: sudo chown root:root /etc/subgid && sudo chmod 0644 /etc/subgid\n"),
        "{out}"
    );
    assert!(out.contains("[info] cgroups: "), "{out}");
    assert!(
        out.contains("[info] usernet: /etc/burrow/usernet does not exist: no user may create nics (--net bridge)\n       fix: sudo burrow admin add-user USER (writes USER veth burrow%u 4)\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "[ok]   burrow-nic: {}/burrow-nic is setuid root\n",
            helpers_dir()
        )),
        "{out}"
    );

    // Overlapping ranges of two users.
    let etc = Etc::new().subids(&format!("{}:200000:65536\nbt1:250000:65536\n", u.name));
    let r = admin(&etc, &["admin", "check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "[FAIL] /etc/subuid: line 1 ({}:200000:65536) and line 2 (bt1:250000:65536) overlap",
            u.name
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_without_range_says_so_with_the_fix() {
    require_admin!();
    let u = TestUser::get("admno");
    let etc = Etc::new().subids("someone:100000:65536\n");
    let r = doctor(&u, &etc);
    assert_eq!(r.code, Some(0), "warnings only: {r:?}");
    for kind in ["uid", "gid"] {
        let want = format!(
            "[warn] /etc/sub{kind}: no subordinate {kind} range for {0}: containers get one id (root inside = you), files of other owners in an image cannot be represented and --idmap auto is unavailable\n       fix: ask your admin: sudo burrow admin add-user {0}\n",
            u.name
        );
        assert!(r.stdout.contains(&want), "{want}\n{}", r.stdout);
    }
    assert!(
        r.stdout
            .contains("[info] id map test: skipped: no subordinate ranges"),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_with_helpers_not_setuid_says_so() {
    require_admin!();
    let u = TestUser::get("admok");
    let etc = Etc::new()
        .subids(&format!("{}:700000:65536\n", u.name))
        .usernet(&format!("{} veth burrow%u 2\n", u.name));
    let dir = tempdir("plainhelpers");
    for h in ["burrow-newuidmap", "burrow-newgidmap"] {
        fs::copy(helper(h), dir.join(h)).unwrap();
        fs::set_permissions(dir.join(h), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let r = Run::new(&u)
        .etc(&etc)
        .env("BURROW_HELPERS_DIR", dir.to_str().unwrap())
        .cmd(&burrow(), &["doctor"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let p = dir.join("burrow-newuidmap").display().to_string();
    let want = format!(
        "[FAIL] helpers: {p} is neither setuid root nor has file capabilities, so it cannot map ids\n       fix: ask your admin: sudo chown root:root {p} && sudo chmod 4755 {p}   (or: sudo setcap cap_setuid+ep {p})\n"
    );
    assert!(r.stdout.contains(&want), "{want}\n{}", r.stdout);
    assert!(
        r.stdout
            .contains("[info] id map test: skipped: the helpers are not usable (see above)"),
        "{}",
        r.stdout
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn doctor_under_no_new_privs_says_so() {
    require_admin!();
    let u = TestUser::get("admok");
    let etc = Etc::new()
        .subids(&format!("{}:700000:65536\n", u.name))
        .usernet(&format!("{} veth burrow%u 2\n", u.name));
    let r = Run::new(&u)
        .etc(&etc)
        .nnp()
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&burrow(), &["doctor"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stdout
            .contains("[FAIL] no_new_privs: this process runs under no_new_privs"),
        "{}",
        r.stdout
    );
    // The real map attempt fails, with the helper's own explanation and the same fix.
    assert!(
        r.stdout
            .matches("       fix: start your shell outside NoNewPrivileges=")
            .count()
            == 2,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "[FAIL] id map test: mapping the container's ids failed: burrow-newuidmap: running under no_new_privs: setuid and file capabilities are ignored"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_as_a_good_user_is_ok() {
    require_admin!();
    let u = TestUser::get("admok");
    let etc = Etc::new()
        .subids(&format!("{}:700000:65536\n", u.name))
        .usernet(&format!("{} veth burrow%u 2\n", u.name));
    let r = doctor(&u, &etc);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!r.stdout.contains("[FAIL]"), "{}", r.stdout);
    // This user has no delegated cgroups: the only warnings are about limits, each with the fix.
    for l in r.stdout.lines().filter(|l| l.starts_with("[warn]")) {
        assert!(
            l.starts_with("[warn] limits: ")
                && l.ends_with(&format!(
                    "ask your admin to run: burrow admin add-user {}",
                    u.name
                )),
            "{}",
            r.stdout
        );
    }
    for want in [
        format!("burrow doctor: {} (uid {}, gid {})\n", u.name, u.uid, u.gid),
        "[ok]   kernel: Linux ".to_owned(),
        "[ok]   user namespaces: you can create one (unshare -U true works)\n".to_owned(),
        "[ok]   /etc/subuid: uids 700000-765535 (65536 ids)\n".to_owned(),
        format!(
            "[ok]   id map test: the helpers mapped a test process: uid_map 0 {} 1, 1 700000 65536; gid_map 0 {} 1, 1 700000 65536\n",
            u.uid, u.gid
        ),
        "0 failure(s), 3 warning(s)\n".to_owned(),
    ] {
        assert!(r.stdout.contains(&want), "{want}\n{}", r.stdout);
    }
}

#[test]
fn add_user_then_doctor_works_end_to_end() {
    require_admin!();
    let u = TestUser::get("admfresh");
    let etc = Etc::new().subids("");
    let r = admin(&etc, &["admin", "add-user", &u.name]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = doctor(&u, &etc);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("[ok]   id map test: the helpers mapped a test process"),
        "{}",
        r.stdout
    );
    let r = admin(&etc, &["admin", "check"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("[ok]   /etc/subuid: 1 range(s) of 1 user(s): no overlap"),
        "{}",
        r.stdout
    );
}

#[test]
fn add_user_writes_the_usernet_quota_and_doctor_and_check_report_networking() {
    require_admin!();
    let u = TestUser::get("admnet");
    let etc = Etc::new().subids("");
    let r = admin(&etc, &["admin", "add-user", &u.name, "--nics", "3"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.ends_with(&format!(
            "/etc/burrow/usernet: added {} veth burrow%u 3 (burrow run --net bridge)\nnetwork: /etc/burrow/nic.conf is missing, so per-user bridges get no addresses: see burrow-nic.conf(5) (e.g. `ipv4 10.77.0.0/16 24`)\n",
            u.name
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        text(&etc, "burrow/usernet"),
        format!(
            "# USER|@GROUP TYPE BRIDGE COUNT (see burrow-usernet(5))\n{} veth burrow%u 3\n",
            u.name
        )
    );
    let md = fs::metadata(etc.path().join("burrow/usernet")).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o644));
    // Idempotent.
    let r = admin(&etc, &["admin", "add-user", &u.name]);
    assert!(
        r.stdout.ends_with(&format!(
            "/etc/burrow/usernet: {} already has a line for burrow%u: unchanged\n",
            u.name
        )),
        "{}",
        r.stdout
    );
    // doctor asks burrow-nic what the user may have.
    let r = doctor(&u, &etc);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "[ok]   network: --net bridge: veth burrow{} allowed=3 used=0 remaining=3\n",
            u.uid
        )),
        "{}",
        r.stdout
    );
    // check parses both files and names a bad line.
    let etc = etc
        .file("burrow/nic.conf", "ipv4 10.88.0.0/16 24\n")
        .file("burrow/usernet", "x veth br0 010\n");
    let r = admin(&etc, &["admin", "check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stdout.contains("[FAIL] usernet: /etc/burrow/usernet: line 1: count \"010\" has a leading zero (write plain decimal): burrow-nic refuses every request\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("[ok]   nic addresses: 10.88.0.0/16 (/24 per user); 256 user subnets\n"),
        "{}",
        r.stdout
    );
    let r = doctor(&u, &etc);
    assert!(
        r.stdout.contains("[warn] network: --net bridge is not available: burrow-nic: /etc/burrow/usernet: line 1: count \"010\" has a leading zero (write plain decimal)\n       fix: ask your admin: sudo burrow admin add-user YOU (adds a usernet line)\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_reports_usernet_lines_that_collide_with_per_user_bridges() {
    require_admin!();
    let etc = Etc::new()
        .usernet("@all veth burrow%u 2\nadmin veth burrow1040 4\nb veth br%u 1\nc veth br1%u 1\n");
    let r = admin(&etc, &["admin", "check"]);
    for want in [
        "[warn] usernet: /etc/burrow/usernet: line 1 (for uid 1040) and line 2 both name bridge burrow1040: a per-user bridge must be one user's alone\n       fix: rename the shared bridge or change one of the patterns in /etc/burrow/usernet (see burrow-usernet(5))\n",
        "[warn] usernet: /etc/burrow/usernet: line 3 (for uid 11) and line 4 (for uid 1) both name bridge br11: a per-user bridge must be one user's alone\n",
    ] {
        assert!(r.stdout.contains(want), "{want}\n{}", r.stdout);
    }
    // A file without such lines says nothing of the kind.
    let etc = Etc::new().usernet("@all veth burrow%u 2\nadmin veth br-lab 4\n");
    let r = admin(&etc, &["admin", "check"]);
    assert!(!r.stdout.contains("both name bridge"), "{}", r.stdout);
}

#[test]
fn remove_user_releases_the_users_subnet_leases() {
    require_admin!();
    let u = TestUser::get("admls");
    let id = u.uid;
    let etc = Etc::new().subids(&format!("{}:200000:65536\n", u.name));
    let dir = tempdir("leases");
    fs::write(
        dir.join("nic-leases"),
        format!("# burrow-nic leases (written by burrow-nic; do not edit)\nsubnet burrow{id} 3 {id}\nsubnet burrow9 4 9\nnic burrow{id} 2 c/eth0\nnic burrow9 2 d/eth0\n"),
    )
    .unwrap();
    fs::set_permissions(dir.join("nic-leases"), fs::Permissions::from_mode(0o600)).unwrap();
    sh("install -d -o root -g root -m 0755 /var/lib/burrow");
    let run = || {
        Run::new(&TestUser::root())
            .etc(&etc)
            .bind(&dir, std::path::Path::new("/var/lib/burrow"))
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .cmd(&burrow(), &["admin", "remove-user", &u.name])
    };
    let r = run();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "/var/lib/burrow/nic-leases: released the subnet lease of bridge burrow{id}\n"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.join("nic-leases")).unwrap(),
        "# burrow-nic leases (written by burrow-nic; do not edit)\nsubnet burrow9 4 9\nnic burrow9 2 d/eth0\n"
    );
    // Again: nothing left to release, the file unchanged.
    let r = run();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!r.stdout.contains("released"), "{}", r.stdout);
    let _ = fs::remove_dir_all(&dir);
}
