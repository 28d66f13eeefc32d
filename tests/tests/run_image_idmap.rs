//! `burrow run IMAGE --idmap auto|keep-id` (issue 12, id maps): the image's layers get a copy
//! with shifted owners, made once per (layer, map) in the store (`storage/shifted/KEY/HEX`)
//! and reused. As an unprivileged test user with a real subordinate range, against the
//! hand-made images of `tests/src/run_image_fixture.rs` (files owned by 0 and by 1000, a
//! whiteout), imported with `burrow image import`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::run_image_fixture::*;
use burrow_tests::*;
use std::os::unix::fs::MetadataExt;

fn fx() -> &'static ImageUser {
    image_user("idm")
}

/// One test's world ([`ImageEnv`]) for the "idm" user.
struct Env;

impl Env {
    #[allow(clippy::new_ret_no_self)]
    fn new(tag: &str) -> ImageEnv {
        ImageEnv::new(fx(), &format!("idm-{tag}"))
    }
}

/// (map key, layer hex) of every shifted copy, sorted.
fn shifted(e: &ImageEnv) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for k in std::fs::read_dir(e.storage().join("shifted"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for l in std::fs::read_dir(k.path()).into_iter().flatten().flatten() {
            v.push((
                k.file_name().to_string_lossy().into_owned(),
                l.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    v.sort();
    v
}

/// Entries of `storage/tmp` (work in progress; none once a command is done).
fn tmp_entries(e: &ImageEnv) -> usize {
    std::fs::read_dir(e.storage().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What the test image's files look like inside: owners of a root-owned file, of the files
/// owned by 1000 in the image, and the whiteout applied.
const OWNERS: &str = "stat -c '%u:%g' /etc/passwd /data/owned1000 /home/app /bin/busybox; test ! -e /data/gone && echo whiteout-ok";
const OWNERS_OUT: &str = "0:0\n1000:1000\n1000:1000\n0:0\nwhiteout-ok\n";

/// The first line of a uid_map: (inside, outside, count).
fn first_map_line(map: &str) -> (u64, u64, u64) {
    let f: Vec<u64> = map
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (f[0], f[1], f[2])
}

/// `burrow [OPTS] run --rm --idmap auto:2000 base` showing [`OWNERS`] and its uid map: the
/// run (checked: exit 0, the image's owners inside, one 2000-id map from 0) and where its
/// slice starts on the host.
fn owners_run(e: &ImageEnv, opts: &[&str]) -> (Ran, u64) {
    let script = format!("{OWNERS}; cat /proc/self/uid_map");
    let mut args = vec!["run"];
    args.extend_from_slice(opts);
    args.extend([
        "--rm",
        "--idmap",
        "auto:2000",
        "base",
        "/bin/sh",
        "-c",
        &script,
    ]);
    let out = e.b(&args);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with(OWNERS_OUT), "{out:?}");
    let (inside, start, count) = first_map_line(&out.stdout[OWNERS_OUT.len()..]);
    assert_eq!((inside, count), (0, 2000), "{out:?}");
    (out, start)
}

#[test]
fn m01_auto_owners_second_slice_and_reuse() {
    require!();
    let f = fx();
    let e = Env::new("auto");
    // First run: the owners are the image's, in a slice of the range; the copy is made (said
    // at --log-level info) and nothing is left in tmp/.
    let (out, start) = owners_run(&e, &["--log-level", "info"]);
    let outside = start;
    assert!(
        outside >= u64::from(f.sub.0) && outside + 2000 <= u64::from(f.sub.0) + u64::from(f.sub.2),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("making the layers of base for the id map auto-"),
        "{out:?}"
    );
    let copies = shifted(&e);
    assert_eq!(copies.len(), 2, "{copies:?}");
    let key = format!(
        "auto-{outside}-{}-2000",
        outside - u64::from(f.sub.0) + u64::from(f.sub.1)
    );
    assert!(copies.iter().all(|(k, _)| *k == key), "{copies:?} {key}");
    // On the host, the copy's files have the slice's ids: image 1000 = slice start + 1000.
    let hex = &copies[0].1;
    let owned: Vec<(u32, u32)> = copies
        .iter()
        .filter_map(|(k, h)| {
            std::fs::metadata(
                e.storage()
                    .join("shifted")
                    .join(k)
                    .join(h)
                    .join("data/owned1000"),
            )
            .ok()
            .map(|m| (m.uid(), m.gid()))
        })
        .collect();
    assert_eq!(owned.len(), 1, "{copies:?}");
    assert_eq!(u64::from(owned[0].0), outside + 1000);
    let layer_dir = e.storage().join("shifted").join(&key).join(hex);
    let ino = std::fs::metadata(&layer_dir).unwrap().ino();
    assert_eq!(tmp_entries(&e), 0);

    // Reuse: a second run takes the same slice (it has the copy) and copies nothing.
    let (out, start) = owners_run(&e, &["--log-level", "info"]);
    assert_eq!(start, outside);
    assert!(!out.stderr.contains("making the layers"), "{out:?}");
    assert_eq!(shifted(&e), copies);
    assert_eq!(std::fs::metadata(&layer_dir).unwrap().ino(), ino);

    // A second container at the same time: another slice, its own copy, same owners inside.
    e.b(&[
        "run",
        "-d",
        "--name",
        "held",
        "--idmap",
        "auto:2000",
        "base",
        "/bin/sleep",
        "60",
    ])
    .code
    .eq(&Some(0))
    .then_some(())
    .expect("run -d held");
    let held = e.b(&["exec", "held", "cat", "/proc/self/uid_map"]);
    assert_eq!(held.code, Some(0), "{held:?}");
    let held_start = first_map_line(&held.stdout).1;
    assert_eq!(
        held_start, outside,
        "the detached one takes the slice with a copy"
    );
    let (out, other) = owners_run(&e, &[]);
    assert_ne!(other, held_start, "{out:?}");
    assert!(other + 2000 <= held_start || held_start + 2000 <= other);
    assert_eq!(shifted(&e).len(), 4, "{:?}", shifted(&e));
    ok_out(&e.b(&["rm", "-f", "held"]), "held\n");

    // rmi removes the copies with the layers (the three images share them).
    assert_eq!(e.b(&["rmi", "base", "ep", "user"]).code, Some(0));
    assert_eq!(shifted(&e), Vec::<(String, String)>::new());
    assert_eq!(tmp_entries(&e), 0);
}

#[test]
fn m02_keep_id_volume_and_owners() {
    require!();
    let f = fx();
    let e = Env::new("keep");
    let (uid, gid) = (f.user.uid, f.user.gid);
    // A directory of the user's own files.
    let vol = tempdir("idm-vol");
    sh(&format!(
        "echo mine > {v}/mine && chown -R {uid}:{gid} {v} && chmod 0755 {v}",
        v = vol.display()
    ));
    let out = e.run(&[
        "--idmap",
        "keep-id",
        "-v",
        &format!("{}:/w", vol.display()),
        "base",
        "/bin/sh",
        "-c",
        &format!(
            "id -u; id -g; stat -c '%u:%g' /w/mine; echo new > /w/new && echo wrote; {OWNERS}; cat /proc/self/uid_map /proc/self/gid_map"
        ),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let head = format!("{uid}\n{gid}\n{uid}:{gid}\nwrote\n{OWNERS_OUT}");
    assert!(out.stdout.starts_with(&head), "{out:?}");
    // podman's keep-id layout: 0..U-1 = range start.., U = you, U+1.. = the rest.
    let (su, sg, n) = (u64::from(f.sub.0), u64::from(f.sub.1), u64::from(f.sub.2));
    let line = |i: u64, o: u64, c: u64| format!("{i:>10} {o:>10} {c:>10}");
    let maps: Vec<String> = out.stdout[head.len()..]
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            line(f[0], f[1], f[2])
        })
        .collect();
    let (u, g) = (u64::from(uid), u64::from(gid));
    let mut want = Vec::new();
    for (own, start) in [(u, su), (g, sg)] {
        if own.min(n) > 0 {
            want.push(line(0, start, own.min(n)));
        }
        want.push(line(own, own, 1));
        if n > own {
            want.push(line(own + 1, start + own, n - own));
        }
    }
    assert_eq!(maps, want, "{out:?}");
    // The file written inside is the user's on the host.
    let m = std::fs::metadata(vol.join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), (uid, gid));
    // -u still wins; root inside is the range's first id, not you.
    ok_out(
        &e.run(&[
            "--idmap", "keep-id", "-u", "0", "base", "/bin/sh", "-c", "id -u",
        ]),
        "0\n",
    );
    // Reused: one copy per layer.
    assert_eq!(shifted(&e).len(), 2, "{:?}", shifted(&e));
    assert!(shifted(&e)
        .iter()
        .all(|(k, _)| *k == format!("keep-id-{uid}-{gid}")));
    // keep-id works with --rootfs too (no copy: the directory is used as it is).
    let r = Rootfs::new(&e.user, "idm-rootfs");
    ok_out(
        &e.b(&[
            "run",
            "--rm",
            "--rootfs",
            r.path(),
            "--idmap",
            "keep-id",
            "/bin/sh",
            "-c",
            "id -u",
        ]),
        &format!("{uid}\n"),
    );
    rmtree(&vol);
    assert_eq!(e.b(&["image", "prune"]).code, Some(0));
    assert_eq!(shifted(&e).len(), 2, "prune keeps what named images use");
    assert_eq!(e.b(&["rmi", "base", "ep", "user"]).code, Some(0));
    assert_eq!(shifted(&e), Vec::<(String, String)>::new());
}

#[test]
fn m03_ids_outside_the_map_are_refused() {
    require!();
    let e = Env::new("small");
    // auto:500 does not have the image's uid 1000.
    let out = e.run(&["--idmap", "auto:500", "base", "/bin/true"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr.contains(
            "is owned by uid 1000, which this id map does not have (its uids are 0 to 499)"
        ),
        "{out:?}"
    );
    assert!(out.stderr.contains("--idmap shared"), "{out:?}");
    // Nothing half made is kept.
    assert_eq!(shifted(&e), Vec::<(String, String)>::new());
    assert_eq!(tmp_entries(&e), 0);
}
