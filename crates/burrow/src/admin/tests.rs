use super::alloc::*;
use super::etc::*;
use crate::cgroup_setup::*;
use crate::probes::*;
use burrow_idmap::{IdKind, Range, MAX_ID};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

fn acct() -> Account {
    Account {
        name: "alice".into(),
        uid: 1005,
        gid: 1005,
    }
}

fn pol(count: u64) -> Policy {
    Policy {
        count,
        base: 100_000,
        limit: MAX_ID + 1,
        reserved: vec![],
    }
}

#[test]
fn names() {
    assert!(validate_name("alice").is_ok());
    assert!(validate_name("svc.web-1").is_ok());
    for bad in ["", "-x", "a:b", "a b", "a\nb", "../x"] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn login_defs_and_policy() {
    let defs = "SUB_UID_MIN\t\t   200000\n#SUB_GID_MIN 1\nSUB_GID_MIN 150000\nSUB_UID_MAX 600100000\nSUB_GID_MAX 500000000\n";
    assert_eq!(login_defs_number(defs, "SUB_UID_MIN"), Some(200_000));
    assert_eq!(login_defs_number(defs, "SUB_UID_COUNT"), None);
    let p = policy(None, None, &[], defs, None).unwrap();
    assert_eq!((p.count, p.base, p.limit), (65_536, 200_000, 500_000_001));
    let p = policy(
        Some(10),
        Some(5000),
        &["7000-7999".into()],
        defs,
        Some("# net\n1000000-1999999 # ldap\n\n"),
    )
    .unwrap();
    assert_eq!((p.count, p.base, p.limit), (10, 5000, MAX_ID + 1));
    assert_eq!(
        p.reserved,
        vec![Range::new(7000, 1000), Range::new(1_000_000, 1_000_000)]
    );
    assert_eq!(policy(None, None, &[], "", None).unwrap().base, 100_000);
    assert!(policy(Some(0), None, &[], "", None).is_err());
    assert!(policy(None, Some(0), &[], "", None).is_err());
    assert!(policy(None, None, &["9-1".into()], "", None).is_err());
    assert_eq!(
        policy(None, None, &[], "", Some("x\n")).unwrap_err(),
        "/etc/burrow/subid-reserved: line 1: reserved range \"x\": use FIRST-LAST with FIRST <= LAST <= 4294967294"
    );
}

#[test]
fn lenient_occupancy() {
    let o = occupied("a:100:10\n# c:1:1\nb:010:2\nc:0x20:1\nd:5:0\ne:7:3:9\nf: 40:1\n");
    assert_eq!(
        o,
        vec![
            Range::new(100, 10),
            Range::new(10, 2),
            Range::new(8, 2),
            Range::new(32, 1),
            Range::new(7, 3),
            Range::new(40, 1)
        ]
    );
}

#[test]
fn free_blocks() {
    let t = [Range::new(100_000, 65_536), Range::new(165_536, 65_536)];
    assert_eq!(
        find_free(65_536, 100_000, 0, MAX_ID + 1, &t),
        Some(Range::new(231_072, 65_536))
    );
    // Above every id.
    assert_eq!(
        find_free(65_536, 100_000, 300_001, MAX_ID + 1, &[]),
        Some(Range::new(362_144, 65_536))
    );
    // A small range in the way pushes to the next aligned slot.
    assert_eq!(
        find_free(65_536, 100_000, 0, MAX_ID + 1, &[Range::new(150_000, 1)]),
        Some(Range::new(165_536, 65_536))
    );
    // Gaps are used when aligned slots fit.
    assert_eq!(
        find_free(10, 100, 0, 1000, &[Range::new(100, 10), Range::new(120, 5)]),
        Some(Range::new(110, 10))
    );
    assert_eq!(find_free(10, 100, 0, 120, &[Range::new(100, 15)]), None);
    assert_eq!(
        find_free(10, 100, 0, 130, &[Range::new(100, 15)]),
        Some(Range::new(120, 10))
    );
    assert_eq!(find_free(0, 100, 0, 130, &[]), None);
    assert_eq!(
        find_free(65_536, 100_000, u64::from(u32::MAX), MAX_ID + 1, &[]),
        None
    );
}

#[test]
fn highest() {
    let users = vec![
        ("root".into(), 0),
        ("nobody".into(), 65_534),
        ("bad".into(), u32::MAX),
    ];
    let groups = vec![("big".into(), 70_000)];
    assert_eq!(
        highest_id(&users, &groups),
        Some((70_000, "gid 70000 (big)".into()))
    );
    assert_eq!(highest_id(&[], &[]), None);
}

#[test]
fn plans() {
    let a = acct();
    let h = (65_534, "uid 65534 (nobody)".to_string());
    let other = "bob:100000:65536\ncarol:165536:65536\n";
    assert_eq!(
        plan_add(&a, &pol(65_536), other, other, Some(&h)).unwrap(),
        AddPlan::Add {
            uid: Some(Range::new(231_072, 65_536)),
            gid: Some(Range::new(231_072, 65_536))
        }
    );
    // A subgid range elsewhere blocks the slot in both files (same numbers in both).
    let g = "dave:231072:10\n";
    assert_eq!(
        plan_add(&a, &pol(65_536), other, g, Some(&h)).unwrap(),
        AddPlan::Add {
            uid: Some(Range::new(296_608, 65_536)),
            gid: Some(Range::new(296_608, 65_536))
        }
    );
    // Already there (by name or by uid): unchanged.
    let mine = "bob:100000:65536\nalice:300000:65536\n";
    let mine_uid = "1005:300000:70000\n";
    assert_eq!(
        plan_add(&a, &pol(65_536), mine, mine_uid, Some(&h)).unwrap(),
        AddPlan::Unchanged {
            uid: Range::new(300_000, 65_536),
            gid: Range::new(300_000, 70_000)
        }
    );
    // Only subuid: subgid gets the same numbers when they are free there.
    assert_eq!(
        plan_add(&a, &pol(65_536), mine, other, Some(&h)).unwrap(),
        AddPlan::Add {
            uid: None,
            gid: Some(Range::new(300_000, 65_536))
        }
    );
    // ... and a fresh block when they are not.
    assert_eq!(
        plan_add(&a, &pol(65_536), mine, "eve:310000:5\n", Some(&h)).unwrap(),
        AddPlan::Add {
            uid: None,
            gid: Some(Range::new(165_536, 65_536))
        }
    );
    // Too small: refuse with the exact fix.
    let e = plan_add(&a, &pol(65_536), "alice:300000:1000\n", "", Some(&h)).unwrap_err();
    assert!(e.contains("fewer than 65536"), "{e}");
    assert!(e.ends_with(
        "sudo burrow admin remove-user alice && sudo burrow admin add-user alice --count 65536"
    ));
    // Reserved ranges are avoided.
    let mut p = pol(65_536);
    p.reserved = vec![Range::new(200_000, 100_000)];
    assert_eq!(
        plan_add(&a, &p, other, other, Some(&h)).unwrap(),
        AddPlan::Add {
            uid: Some(Range::new(362_144, 65_536)),
            gid: Some(Range::new(362_144, 65_536))
        }
    );
    // Nothing left.
    let mut p = pol(65_536);
    p.limit = 200_000;
    let e = plan_add(&a, &p, other, other, Some(&h)).unwrap_err();
    assert!(e.starts_with("no free block of 65536 ids from 100000 to 199999 above the highest existing id, uid 65534 (nobody)"), "{e}");
    // A rejected line of another user still counts as taken.
    assert_eq!(
        plan_add(&a, &pol(65_536), "x:0:200000\n", "", Some(&h)).unwrap(),
        AddPlan::Add {
            uid: Some(Range::new(231_072, 65_536)),
            gid: Some(Range::new(231_072, 65_536))
        }
    );
}

#[test]
fn line_edits_keep_bytes() {
    assert_eq!(append_line(b"", "a:1:2"), b"a:1:2\n");
    assert_eq!(append_line(b"x:5:5", "a:1:2"), b"x:5:5\na:1:2\n");
    assert_eq!(
        append_line(b"x:5:5\n\xff\n", "a:1:2"),
        b"x:5:5\n\xff\na:1:2\n"
    );
    let text = b"# alice:1:1\nalice:100:10\nbob:200:10\r\nalicex:5:5\n1005:300:3\nalice\nalice:bad:line:here\nlast:1:1";
    let (out, removed) = remove_owner_lines(text, &["alice".into(), "1005".into()]);
    assert_eq!(out, b"# alice:1:1\nbob:200:10\r\nalicex:5:5\nlast:1:1");
    assert_eq!(
        removed,
        vec!["alice:100:10", "1005:300:3", "alice", "alice:bad:line:here"]
    );
    let (out, removed) = remove_owner_lines(b"bob:1:1", &["alice".into()]);
    assert_eq!((out.as_slice(), removed.len()), (b"bob:1:1".as_slice(), 0));
}

#[test]
fn modes() {
    assert_eq!(new_mode(None), 0o644);
    assert_eq!(new_mode(Some(0o100644)), 0o644);
    assert_eq!(new_mode(Some(0o100444)), 0o444);
    assert_eq!(new_mode(Some(0o100664)), 0o644);
    assert_eq!(new_mode(Some(0o100600)), 0o644);
    assert_eq!(new_mode(Some(0o104644)), 0o644);
}

fn accounts() -> Accounts {
    Accounts {
        users: parse_ids("root:x:0:0::/root:/bin/sh\nalice:x:1005:1005::/:/bin/sh\nbob:x:1006:1006::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nbad:x:-1:0::/:/x\n"),
        groups: parse_ids("root:x:0:\nalice:x:1005:\nstaff:x:50:\n"),
    }
}

#[test]
fn content_findings() {
    let a = accounts();
    assert_eq!(a.users.len(), 4);
    let good = subid_content_lines(
        IdKind::Uid,
        "alice:100000:65536\n1006:165536:65536\n",
        &a,
        &[],
    );
    assert_eq!(good.len(), 1);
    assert_eq!(good[0].status, crate::report::Status::Ok);
    assert_eq!(
        good[0].message,
        "2 range(s) of 2 user(s): no overlap, none covers an existing uid or a reserved range"
    );
    let text = "evil:0:65536\nbob:1000:65536\nalice:100000:65536\n1006:150000:10\nghost:400000:10\nalice:0x10:5\n";
    let l = subid_content_lines(IdKind::Uid, text, &a, &[Range::new(400_005, 1)]);
    let msgs: Vec<String> = l.iter().map(|l| l.message.clone()).collect();
    assert_eq!(
        msgs,
        vec![
            "line 1 (evil): the range includes id 0: burrow ignores it, other tools may read it as a different range",
            "line 6 (alice): start or count is not a plain decimal number: burrow ignores it, other tools may read it as a different range",
            "line 2 (bob:1000:65536) covers existing uids: 1005 (alice), 1006 (bob), 65534 (nobody): that user's containers can act as them",
            "line 5 (ghost:400000:10): owner ghost is not a known user (a stale line?)",
            "line 5 (ghost:400000:10) overlaps the reserved range 400005-400005",
            "line 3 (alice:100000:65536) and line 4 (1006:150000:10) overlap: the two users' containers share host ids",
        ]
    );
    assert_eq!(
        l[0].fix.as_deref(),
        Some("sudo burrow admin remove-user evil && sudo burrow admin add-user evil")
    );
    assert_eq!(
        l[2].fix.as_deref(),
        Some("sudo burrow admin remove-user bob && sudo burrow admin add-user bob")
    );
    assert_eq!(
        l[5].fix.as_deref(),
        Some("sudo burrow admin remove-user bob && sudo burrow admin add-user bob")
    );
    // Same owner twice (by name and uid) is not an overlap; gids are checked against groups.
    let l = subid_content_lines(IdKind::Gid, "alice:40:20\n1005:45:2\n", &a, &[]);
    assert_eq!(l.len(), 1);
    assert!(
        l[0].message.contains("covers existing gids: 50 (staff)"),
        "{:?}",
        l[0]
    );
    let garbage = subid_content_lines(IdKind::Gid, "a b:1:1\n", &a, &[]);
    assert_eq!(
        garbage[0].fix.as_deref(),
        Some("sudo sed -i '1d' /etc/subgid")
    );
    assert_eq!(
        subid_content_lines(IdKind::Uid, "", &a, &[])[0].message,
        "no ranges"
    );
}

#[test]
fn cgroup_modes() {
    let this_host = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children\n\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    let l = cgroup_layout(&parse_mountinfo(this_host));
    assert_eq!(l.v1.len(), 4);
    assert_eq!(l.v2, vec![PathBuf::from("/sys/fs/cgroup/unified")]);
    let line = cgroup_mode_line(&l, |_| Some("hugetlb\n".into()));
    assert_eq!(
        line.message,
        "hybrid: v1 controllers cpu, cpuset, memory, name=systemd; cgroup2 at /sys/fs/cgroup/unified (controllers: hugetlb)"
    );
    let v2 = cgroup_layout(&parse_mountinfo(
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
    ));
    assert_eq!(
        cgroup_mode_line(&v2, |_| Some("cpu memory pids".into())).message,
        "v2 (unified): cgroup2 at /sys/fs/cgroup (controllers: cpu, memory, pids)"
    );
    let v1 = CgroupLayout {
        v1: vec![(PathBuf::from("/x"), vec!["pids".into()])],
        v2: vec![],
    };
    assert_eq!(
        cgroup_mode_line(&v1, |_| None).message,
        "v1: controllers pids"
    );
    assert_eq!(
        cgroup_mode_line(&CgroupLayout::default(), |_| None).status,
        crate::report::Status::Warn
    );
}

fn euid() -> u32 {
    effective_uid(&read_opt("/proc/self/status").unwrap()).unwrap()
}

fn tmp_etc(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("burrow-admin-unit-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn edit_files_atomically_and_idempotently() {
    let me = euid();
    let etc = tmp_etc("edit");
    let orig_u = b"# keep me\nbob:100000:65536\r\ncarol:165536:65536";
    fs::write(etc.join("subuid"), orig_u).unwrap();
    fs::set_permissions(etc.join("subuid"), fs::Permissions::from_mode(0o664)).unwrap();
    let acc = accounts();
    let a = acct();
    let out = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap();
    let u = fs::read(etc.join("subuid")).unwrap();
    assert_eq!(
        u,
        b"# keep me\nbob:100000:65536\r\ncarol:165536:65536\nalice:231072:65536\n"
    );
    assert_eq!(
        fs::read(etc.join("subgid")).unwrap(),
        b"alice:231072:65536\n"
    );
    let md = fs::metadata(etc.join("subuid")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o644);
    assert!(out
        .iter()
        .any(|l| l.ends_with("mode was 0664 (unsafe or unreadable for the helpers), now 0644")));
    assert!(!etc.join("subuid.lock").exists());
    // Second run: nothing changes, not even the inode.
    let ino = std::os::unix::fs::MetadataExt::ino(&md);
    let out = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap();
    assert!(out[0].ends_with("nothing changed"), "{out:?}");
    let md2 = fs::metadata(etc.join("subuid")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&md2), ino);
    assert_eq!(fs::read(etc.join("subuid")).unwrap(), u);
    // A live lock holder blocks; a stale one is taken over.
    fs::write(etc.join("subuid.lock"), std::process::id().to_string()).unwrap();
    let e = add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).unwrap_err();
    assert!(e.msg.contains("is locked by process"), "{}", e.msg);
    fs::write(etc.join("subuid.lock"), "999999999").unwrap();
    assert!(add_user_at(&etc, &a, &pol(65_536), &acc, (me, me)).is_ok());
    // Removal: exactly alice's lines (name and uid).
    fs::write(
        etc.join("subgid"),
        "1005:5:5\nalice:231072:65536\ndave:1:1\n",
    )
    .unwrap();
    let out = remove_user_at(&etc, &["alice".into(), "1005".into()], (me, me)).unwrap();
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        fs::read(etc.join("subuid")).unwrap(),
        orig_u.iter().copied().chain(*b"\n").collect::<Vec<u8>>()
    );
    assert_eq!(fs::read(etc.join("subgid")).unwrap(), b"dave:1:1\n");
    let out = remove_user_at(&etc, &["alice".into()], (me, me)).unwrap();
    assert!(out.iter().all(|l| l.ends_with("unchanged")), "{out:?}");
    // Symlinks are refused.
    fs::remove_file(etc.join("subgid")).unwrap();
    std::os::unix::fs::symlink("subuid", etc.join("subgid")).unwrap();
    let e = add_user_at(
        &etc,
        &Account {
            name: "zed".into(),
            uid: 2000,
            gid: 2000,
        },
        &pol(10),
        &acc,
        (me, me),
    )
    .unwrap_err();
    assert!(
        e.msg.contains("is a symbolic link; refusing to edit it"),
        "{}",
        e.msg
    );
    let leftovers: Vec<_> = fs::read_dir(&etc)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with('.')
                || n.ends_with(".lock")
                || n.contains(&std::process::id().to_string())
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    fs::remove_dir_all(&etc).unwrap();
}
