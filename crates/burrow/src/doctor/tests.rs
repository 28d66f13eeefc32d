use super::*;
use crate::probes::*;
use crate::report::*;

#[test]
fn report_renders_fixes_and_summary() {
    let mut r = Report::new("t");
    r.push(Line::ok("a", "fine"));
    r.push(Line::fail("b", "broken").fix("sudo fix-it"));
    r.push(Line::warn("c", "meh"));
    assert_eq!(
        r.render(),
        "t\n[ok]   a: fine\n[FAIL] b: broken\n       fix: sudo fix-it\n[warn] c: meh\n1 failure(s), 1 warning(s)\n"
    );
    assert_eq!(r.exit_code(), 1);
    let mut ok = Report::new("t");
    ok.push(Line::info("x", "y"));
    assert!(ok.render().ends_with("no problems found\n"));
    assert_eq!(ok.exit_code(), 0);
}

#[test]
fn status_fields() {
    let s = "Name:\tbash\nUid:\t1000\t0\t0\t0\nNoNewPrivs:\t1\n";
    assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
    assert_eq!(effective_uid(s), Some(0));
    assert_eq!(nnp_line(s, Asker::User).status, Status::Fail);
    assert_eq!(
        nnp_line("NoNewPrivs:\t0\n", Asker::Admin).status,
        Status::Ok
    );
    assert_eq!(nnp_line("", Asker::Admin).status, Status::Warn);
}

#[test]
fn userns_switches() {
    let l = userns_lines(Some("15000\n"), None, None, Asker::Admin);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].status, Status::Ok);
    let l = userns_lines(Some("0\n"), Some("0\n"), Some("1\n"), Asker::User);
    assert!(l.iter().all(|l| l.status == Status::Fail));
    assert_eq!(
        l[0].fix.as_deref(),
        Some("ask your admin: sudo sysctl -w user.max_user_namespaces=15000 && echo user.max_user_namespaces=15000 | sudo tee /etc/sysctl.d/90-burrow-userns.conf")
    );
    assert!(l[1].message.contains("unprivileged_userns_clone is 0"));
    assert!(l[2]
        .fix
        .as_deref()
        .unwrap()
        .contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"));
    assert_eq!(
        userns_lines(None, None, None, Asker::Admin)[0].status,
        Status::Fail
    );
}

#[test]
fn mountinfo_and_nosuid() {
    let t = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
             30 22 0:40 / /var/tmp rw,nosuid,nodev - tmpfs tmpfs rw\n\
             31 22 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
             garbage\n";
    let m = parse_mountinfo(t);
    assert_eq!(m.len(), 3);
    assert_eq!(m[2].point, PathBuf::from("/mnt/with space"));
    assert_eq!(
        mount_of(&m, Path::new("/var/tmp/p/bin/burrow-newuidmap"))
            .unwrap()
            .options,
        "rw,nosuid,nodev"
    );
    assert_eq!(
        mount_of(&m, Path::new("/usr/bin/x")).unwrap().fstype,
        "ext4"
    );
    assert_eq!(mount_of(&m, Path::new("/var/tmpx")).unwrap().fstype, "ext4");
    let facts = HelperFacts {
        path: PathBuf::from("/var/tmp/p/bin/burrow-newuidmap"),
        file: Some(FileFacts {
            symlink: false,
            regular: true,
            dir: false,
            uid: 0,
            mode: 0o104755,
        }),
        dir: Some(FileFacts {
            symlink: false,
            regular: false,
            dir: true,
            uid: 0,
            mode: 0o40755,
        }),
        mount_options: Some("rw,nosuid,nodev".into()),
    };
    let l = helper_lines(std::slice::from_ref(&facts), "PATH", Asker::Admin);
    assert_eq!(
        l[0].message,
        "/var/tmp/p/bin/burrow-newuidmap: installed setuid root (found through PATH)"
    );
    assert_eq!(l[1].status, Status::Fail);
    assert!(l[1].message.contains("nosuid"));
    let mut writable = facts;
    writable.mount_options = None;
    writable.dir = Some(FileFacts {
        symlink: false,
        regular: false,
        dir: true,
        uid: 1000,
        mode: 0o40755,
    });
    let l = helper_lines(&[writable], "PATH", Asker::Admin);
    assert_eq!(l.len(), 2);
    assert_eq!(
        l[1].fix.as_deref(),
        Some("sudo chown root:root /var/tmp/p/bin /var/tmp/p/bin/burrow-newuidmap && sudo chmod go-w /var/tmp/p/bin /var/tmp/p/bin/burrow-newuidmap")
    );
}

#[test]
fn helper_errors() {
    let msg = "/opt/b/burrow-newgidmap is neither setuid root nor has file capabilities, so it cannot map ids; ask your admin to run: chown root:root /opt/b/burrow-newgidmap && chmod 4755 /opt/b/burrow-newgidmap   (or: setcap cap_setgid+ep /opt/b/burrow-newgidmap)";
    let l = helper_error_line(msg, Asker::User);
    assert_eq!(l.status, Status::Fail);
    assert_eq!(
        l.fix.as_deref(),
        Some("ask your admin: sudo chown root:root /opt/b/burrow-newgidmap && sudo chmod 4755 /opt/b/burrow-newgidmap   (or: sudo setcap cap_setgid+ep /opt/b/burrow-newgidmap)")
    );
    let l = helper_error_line("burrow-newuidmap and burrow-newgidmap not found (looked in: /x); install burrow's helpers (...)", Asker::Admin);
    assert_eq!(
        l.message,
        "burrow-newuidmap and burrow-newgidmap not found (looked in: /x)"
    );
    assert!(l
        .fix
        .unwrap()
        .starts_with("sudo bash scripts/quickstart.sh"));
}

fn facts(uid: u32, mode: u32) -> Option<FileFacts> {
    Some(FileFacts {
        symlink: false,
        regular: mode & 0o170000 == 0o100000,
        dir: mode & 0o170000 == 0o040000,
        uid,
        mode,
    })
}

#[test]
fn subid_file_rules() {
    let etc = facts(0, 0o40755);
    let l = |f| subid_file_line(IdKind::Uid, f, etc, Asker::Admin, "alice");
    assert_eq!(l(facts(0, 0o100644)).status, Status::Ok);
    let g = l(facts(0, 0o100664));
    assert_eq!(g.status, Status::Fail);
    assert_eq!(
        g.message,
        "is writable by group or others (mode 0664): the helpers refuse it"
    );
    assert_eq!(
        g.fix.as_deref(),
        Some("sudo chown root:root /etc/subuid && sudo chmod 0644 /etc/subuid")
    );
    assert!(l(facts(1000, 0o100644))
        .message
        .contains("owned by uid 1000"));
    assert!(l(facts(0, 0o100600))
        .message
        .contains("not readable by everyone"));
    let mut sl = facts(0, 0o120777).unwrap();
    sl.symlink = true;
    assert!(l(Some(sl)).message.contains("symbolic link"));
    let missing = l(None);
    assert_eq!(missing.status, Status::Warn);
    assert_eq!(
        missing.fix.as_deref(),
        Some("sudo burrow admin add-user alice")
    );
    let bad_etc = subid_file_line(
        IdKind::Gid,
        facts(0, 0o100644),
        facts(0, 0o40777),
        Asker::User,
        "",
    );
    assert_eq!(bad_etc.status, Status::Fail);
}

#[test]
fn my_ranges() {
    let me = Me {
        uid: 1005,
        gid: 1005,
        name: "alice".into(),
    };
    let l = my_subid_lines(IdKind::Uid, Ok("bob:100000:65536\n"), &me);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].status, Status::Warn);
    assert!(l[0]
        .message
        .starts_with("no subordinate uid range for alice"));
    assert_eq!(
        l[0].fix.as_deref(),
        Some("ask your admin: sudo burrow admin add-user alice")
    );
    let l = my_subid_lines(
        IdKind::Gid,
        Ok("alice:0:10\n1005:165536:65536\nalice:300000:5\n"),
        &me,
    );
    assert_eq!(l[0].status, Status::Warn);
    assert_eq!(
        l[0].message,
        "line 1 names you but is ignored: the range includes id 0"
    );
    assert_eq!(l[1].message, "gids 165536-231071 (65536 ids)");
    assert_eq!(l[2].status, Status::Info);
    let l = my_subid_lines(IdKind::Uid, Ok("alice:200000:1000\n"), &me);
    assert_eq!(l[1].status, Status::Warn);
    assert!(l[1].message.starts_with("only 1000 ids"));
    let l = my_subid_lines(IdKind::Uid, Err("permission denied"), &me);
    assert_eq!(l[0].status, Status::Warn);
}

#[test]
fn state_dirs() {
    let d = facts(1000, 0o40700);
    let (p, note) = state_dir_path(1000, Some((Path::new("/run/user/1000"), d)));
    assert_eq!(p, PathBuf::from("/run/user/1000/burrow"));
    assert!(note.is_none());
    let (p, note) = state_dir_path(1000, Some((Path::new("/run/user/0"), facts(0, 0o40700))));
    assert_eq!(p, PathBuf::from("/tmp/burrow-1000"));
    assert_eq!(note.unwrap().status, Status::Info);
    assert_eq!(state_dir_path(7, None).0, PathBuf::from("/tmp/burrow-7"));
    let base = Path::new("/tmp/burrow-1000");
    assert_eq!(state_dir_line(1000, base, None).status, Status::Ok);
    assert_eq!(
        state_dir_line(1000, base, facts(1000, 0o40700)).status,
        Status::Ok
    );
    let open = state_dir_line(1000, base, facts(1000, 0o40755));
    assert_eq!(open.fix.as_deref(), Some("chmod 0700 /tmp/burrow-1000"));
    let squat = state_dir_line(1000, base, facts(1001, 0o40700));
    assert_eq!(squat.status, Status::Fail);
    assert!(squat.message.contains("belongs to uid 1001"));
}

#[test]
fn apparmor_line_says_what_confines_containers() {
    let off = apparmor_line(false, false);
    assert_eq!(off.status, Status::Info);
    assert!(off.message.contains("not enabled"));
    let on = apparmor_line(true, true);
    assert_eq!(on.status, Status::Ok);
    assert!(on.message.contains("burrow-default"));
    let missing = apparmor_line(true, false);
    assert_eq!(missing.status, Status::Warn);
    assert!(missing
        .fix
        .unwrap()
        .contains("apparmor_parser -r /etc/apparmor.d/burrow-default"));
}
