//! Storage: verification, crash safety (readers that fail mid-stream, processes killed at
//! random points), concurrency (threads and processes), names, rmi and prune.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_image::store::{Store, StoreError};
use burrow_image::Digest;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, n, c.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A reader that fails after `n` bytes: a transfer cut off, or a process killed mid-stream.
struct Cut<'a>(&'a [u8], usize);
impl Read for Cut<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1 == 0 {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
        }
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        self.1 -= n;
        Ok(n)
    }
}

fn count(p: &Path) -> usize {
    fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

/// Every blob hashes to its name; every layer directory has its report and vice versa;
/// every image's blobs and layers exist; nothing unnamed lies outside tmp/.
fn assert_consistent(root: &Path) {
    for e in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let d = Digest::of(&fs::read(e.path()).unwrap());
        assert_eq!(
            d.hex(),
            e.file_name().to_str().unwrap(),
            "blob content does not match its name"
        );
    }
    for e in fs::read_dir(root.join("layers")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        // A report without its directory (killed between the two renames) is harmless: the
        // directory is the mark of completion.
        if !n.ends_with(".json") {
            assert!(
                root.join("layers").join(format!("{n}.json")).is_file(),
                "layer {n} has no report"
            );
        }
    }
    let s = Store::open(root).unwrap();
    for i in s.images().unwrap() {
        let r = s.record(&i.id).unwrap();
        assert!(s.has_blob(&r.id) && s.has_blob(&r.manifest));
        for l in &r.layers {
            assert!(s.has_blob(&l.blob));
            assert!(s.layer_path(&l.diff_id).is_dir());
        }
    }
}

#[test]
fn blob_mismatch_and_cut_transfers_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let data = vec![7u8; 1 << 20];
    let d = Digest::of(&data);
    let wrong = Digest::of(b"other");
    match s.put_blob(&wrong, &data[..]).unwrap_err() {
        StoreError::DigestMismatch { expected, got, .. } => {
            assert_eq!((expected, got), (wrong.clone(), d.clone()))
        }
        e => panic!("{e:?}"),
    }
    for cut in [0, 1, 4096, (1 << 20) - 1] {
        assert!(s.put_blob(&d, Cut(&data, cut)).is_err());
    }
    assert_eq!(count(&t.path().join("blobs/sha256")), 0);
    assert_eq!(count(&t.path().join("tmp")), 0);
    assert_eq!(s.put_blob(&d, &data[..]).unwrap(), 1 << 20);
    // Already there: nothing is read.
    assert_eq!(s.put_blob(&d, Cut(&data, 0)).unwrap(), 1 << 20);
    assert_consistent(t.path());
}

#[test]
fn a_second_pull_resumes_from_complete_layers() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let l1 = layer_tar(&[("a", "1")]);
    let l2 = layer_tar(&[("b", "2")]);
    let (d1, d2) = (Digest::of(&l1), Digest::of(&l2));
    s.ensure_layer(&d1, Some(&d1), || Ok(&l1[..])).unwrap();
    // The second layer's transfer is cut: nothing of it is kept.
    assert!(s
        .ensure_layer(&d2, Some(&d2), || Ok(Cut(&l2, 100)))
        .is_err());
    assert!(!s.has_blob(&d2) && !s.layer_path(&d2).exists());
    // The next run fetches only what is missing.
    let calls = AtomicUsize::new(0);
    s.ensure_layer(&d1, Some(&d1), || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(&l1[..])
    })
    .unwrap();
    s.ensure_layer(&d2, Some(&d2), || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(&l2[..])
    })
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        fs::read_to_string(s.layer_path(&d2).join("b")).unwrap(),
        "2"
    );
    assert_eq!(count(&t.path().join("tmp")), 0);
}

#[test]
fn a_wrong_diff_id_keeps_no_layer() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let l = layer_tar(&[("a", "1")]);
    let d = Digest::of(&l);
    let e = s
        .ensure_layer(&d, Some(&Digest::of(b"x")), || Ok(&l[..]))
        .unwrap_err();
    assert!(matches!(e, StoreError::DigestMismatch { .. }), "{e:?}");
    assert_eq!(count(&t.path().join("layers")), 0);
    assert_eq!(count(&t.path().join("tmp")), 0);
}

/// A reader that is slow, so two fetchers overlap.
struct Slow<'a>(&'a [u8]);
impl Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_millis(2));
        let n = buf.len().min(4096).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn two_concurrent_pulls_keep_one_copy() {
    let t = tempfile::tempdir().unwrap();
    let big: String = "x".repeat(200_000);
    let l = layer_tar(&[("big", &big)]);
    let d = Digest::of(&l);
    let calls = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                let s = Store::open(t.path()).unwrap();
                s.ensure_layer(&d, Some(&d), || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Slow(&l))
                })
                .unwrap();
                let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
                let (cd, _) = s.put_blob_any(&cfg[..]).unwrap();
                let (md, _) = s.put_blob_any(&b"{}"[..]).unwrap();
                let layer = burrow_image::store::LayerRecord { blob: d.clone(), diff_id: d.clone(), size: l.len() as u64 };
                s.commit(&md, &cd, vec![layer], "test", Some("localhost/x:1")).unwrap();
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(count(&t.path().join("layers")), 2); // the directory and its report
    assert_eq!(count(&t.path().join("images")), 1);
    assert_consistent(t.path());
}

#[test]
fn names_rmi_and_prune() {
    let t = tempfile::tempdir().unwrap();
    Store::open(t.path().join("new/root")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in ["new/root", "new/root/layers"] {
        assert_eq!(
            fs::metadata(t.path().join(p)).unwrap().permissions().mode() & 0o777,
            0o700,
            "{p}"
        );
    }
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let l = layer_tar(&[("a", "1")]);
    let d = Digest::of(&l);
    s.ensure_layer(&d, Some(&d), || Ok(&l[..])).unwrap();
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"],"StopSignal":"SIGQUIT"}},"rootfs":{{"type":"layers","diff_ids":["{d}"]}}}}"#
    );
    let (cd, _) = s.put_blob_any(cfg.as_bytes()).unwrap();
    let (md, _) = s.put_blob_any(&b"{}"[..]).unwrap();
    let layer = burrow_image::store::LayerRecord {
        blob: d.clone(),
        diff_id: d.clone(),
        size: l.len() as u64,
    };
    let id = s
        .commit(&md, &cd, vec![layer], "test", Some("localhost/app:1"))
        .unwrap();
    s.tag(&id, "localhost/app:2").unwrap();
    let rec = s.resolve("app:1").unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(s.resolve(&id.short()[..8]).unwrap().id, id);
    let c = s.config(&rec).unwrap();
    let cc = c.config().as_ref().unwrap();
    assert_eq!(cc.cmd().as_deref(), Some(&["/bin/sh".to_owned()][..]));
    assert_eq!(cc.stop_signal().as_deref(), Some("SIGQUIT"));
    assert_eq!(s.layers_for(&rec), vec![s.layer_path(&d)]);
    let imgs = s.images().unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].names, ["localhost/app:1", "localhost/app:2"]);
    // In use: refused, naming the container.
    let used = |_: &Digest| Some("web".to_owned());
    s.remove("localhost/app:2", false, &used).unwrap(); // only untags: another name is left
    let e = s.remove("localhost/app:1", false, &used).unwrap_err();
    assert!(e.to_string().contains("container web"), "{e}");
    s.remove("localhost/app:1", true, &used).unwrap();
    assert!(s.images().unwrap().is_empty());
    assert_eq!(count(&t.path().join("blobs/sha256")), 0);
    assert_eq!(count(&t.path().join("layers")), 0);
    assert!(matches!(
        s.resolve("app:1").unwrap_err(),
        StoreError::UnknownImage(_)
    ));
    // Leftovers of a dead process are pruned; prune of an empty store is fine.
    fs::write(t.path().join("tmp/999999999-0-blob"), "partial").unwrap();
    let r = s.prune(&|_| None).unwrap();
    assert_eq!(r.temporaries, 1);
}

/// Child mode for the kill test: imports a rootfs tarball again and again.
#[test]
fn child_import_loop() {
    let (Ok(root), Ok(src)) = (
        std::env::var("BURROW_IMAGE_CHILD_ROOT"),
        std::env::var("BURROW_IMAGE_CHILD_SRC"),
    ) else {
        return;
    };
    let s = Store::open(&root).unwrap();
    for i in 0.. {
        s.import(Path::new(&src), Some(&format!("kill:{}", i % 3)))
            .unwrap();
        s.remove(&format!("kill:{}", i % 3), true, &|_| None).ok();
    }
}

#[test]
fn sigkill_at_random_points_leaves_storage_consistent() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let src = t.path().join("rootfs.tar.gz");
    {
        let mut files = Vec::new();
        let names: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        let body = "y".repeat(3000);
        for n in &names {
            files.push((n.as_str(), body.as_str()));
        }
        let tar = layer_tar(&files);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        fs::write(&src, gz.finish().unwrap()).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    // Deterministic "random" points, spread over 5-150 ms.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let ms = 5 + seed % 145;
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "child_import_loop",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BURROW_IMAGE_CHILD_ROOT", &root)
            .env("BURROW_IMAGE_CHILD_SRC", &src)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if root.exists() {
            assert_consistent(&root);
        }
    }
    let s = Store::open(&root).unwrap();
    let id = s.import(&src, Some("after:kill")).unwrap();
    assert_eq!(s.resolve("after:kill").unwrap().id, id);
    let r = s.prune(&|_| None).unwrap();
    assert_eq!(count(&root.join("tmp")), 0, "{r:?}");
    assert_consistent(&root);
}

/// A full disk (a 2 MiB tmpfs, as root) is reported as such, and leaves nothing behind.
#[test]
fn disk_full_is_named() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true" && v != "1"),
            "disk_full_is_named needs root under CI=true"
        );
        eprintln!("SKIP: needs root to mount a small tmpfs");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("small");
    fs::create_dir(&m).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&m)
        .status()
        .unwrap();
    assert!(st.success());
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Umount(&m);
    let s = Store::open(m.join("store")).unwrap();
    // 3 MiB that do not compress.
    let mut x: u64 = 88172645463325252;
    let data: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    let e = s.put_blob(&Digest::of(&data), &data[..]).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull { .. }), "{e:?}");
    assert!(e.to_string().contains("burrow image prune"), "{e}");
    // A layer that fits as a blob but not unpacked as well.
    let body: String = "a".repeat(3 << 20);
    let l = layer_tar(&[("big", &body)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    io::Write::write_all(&mut gz, &l).unwrap();
    let gz = gz.finish().unwrap();
    let d = Digest::of(&gz);
    fs::remove_dir_all(m.join("store")).unwrap();
    let s = Store::open(m.join("store")).unwrap();
    let e = s.ensure_layer(&d, None, || Ok(&gz[..])).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull { .. }), "{e:?}");
    assert!(s.has_blob(&d), "the verified blob stays for the next try");
    assert_eq!(count(&m.join("store/layers")), 0);
    assert_eq!(count(&m.join("store/tmp")), 0);
}

/// A docker-archive whose manifest.json points outside the archive, or at a symlink to a
/// host file, is refused: nothing of the host is read into storage.
#[test]
fn hostile_docker_archive_cannot_read_host_files() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path().join("store")).unwrap();
    let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
    for (layer, symlink) in [
        ("../../../../etc/passwd", false),
        ("/etc/passwd", false),
        ("l.tar", true),
    ] {
        let mut b = tar::Builder::new(Vec::new());
        let manifest =
            format!(r#"[{{"Config":"c.json","RepoTags":["evil:1"],"Layers":["{layer}"]}}]"#);
        for (name, data) in [("manifest.json", manifest.as_bytes()), ("c.json", &cfg[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            b.append_data(&mut h, name, data).unwrap();
        }
        if symlink {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            b.append_link(&mut h, "l.tar", "/etc/passwd").unwrap();
        }
        let p = t.path().join("evil.tar");
        fs::write(&p, b.into_inner().unwrap()).unwrap();
        let e = s.import(&p, None).unwrap_err();
        assert!(e.to_string().contains("cannot open"), "{layer}: {e}");
        assert!(s.images().unwrap().is_empty());
        assert_eq!(
            count(&t.path().join("store/blobs/sha256")),
            1,
            "only the config was stored"
        ); // c.json
        assert_eq!(count(&t.path().join("store/tmp")), 0);
    }
}

/// Holds an flock on `path` from another process (util-linux `flock`) until dropped.
struct Holder(std::process::Child);
impl Holder {
    fn take(path: &Path, shared: bool) -> Holder {
        let h = Holder(
            std::process::Command::new("flock")
                .arg(if shared { "-s" } else { "-x" })
                .arg("-o") // only flock itself holds it: killing it releases the lock
                .arg(path)
                .args(["sleep", "60"])
                .spawn()
                .unwrap(),
        );
        // Held once an exclusive try of our own fails.
        let start = std::time::Instant::now();
        loop {
            let f = fs::File::open(path).unwrap();
            if burrow_image::lockwait::acquire(&f, false, Duration::ZERO).is_err() {
                return h;
            }
            drop(f);
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "flock never took {path:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_held_lock_is_waited_for_within_the_bound_and_names_its_holder() {
    use burrow_image::lockwait::{acquire, WaitError};
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    drop(s.use_lock().unwrap()); // creates locks/gc.lock
    let p = t.path().join("locks/gc.lock");
    let h = Holder::take(&p, false);
    let f = fs::File::open(&p).unwrap();
    for shared in [false, true] {
        let start = std::time::Instant::now();
        match acquire(&f, shared, Duration::from_millis(700)) {
            Err(WaitError::TimedOut(d, holders)) => {
                assert_eq!(d, Duration::from_millis(700));
                assert_eq!(holders.len(), 1, "{holders:?}");
                assert_eq!(holders[0].pid, i32::try_from(h.0.id()).unwrap());
                let shown = holders[0].to_string();
                assert!(
                    shown.starts_with(&format!("pid {} (flock -x ", h.0.id())),
                    "{shown}"
                );
            }
            r => panic!("{r:?}"),
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    // A shared holder lets shared takers in, keeps an exclusive one out; once it goes, the
    // waiter gets the lock without waiting out the bound.
    drop(h);
    let h = Holder::take(&p, true);
    acquire(&f, true, Duration::from_millis(100)).unwrap();
    let g = fs::File::open(&p).unwrap();
    assert!(matches!(
        acquire(&g, false, Duration::from_millis(100)),
        Err(WaitError::TimedOut(..))
    ));
    drop(f);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(h);
    });
    let start = std::time::Instant::now();
    acquire(&g, false, Duration::from_secs(20)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    killer.join().unwrap();
}

#[test]
fn a_tar_bomb_layer_is_refused_and_leaves_nothing() {
    use burrow_image::unpack::{UnpackError, UnpackOptions};
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path())
        .unwrap()
        .with_unpack_options(UnpackOptions {
            max_entries: 1000,
            ..UnpackOptions::default()
        });
    let names: Vec<String> = (0..2000).map(|i| format!("d/f{i}")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    let tar = layer_tar(&files);
    let blob = Digest::of(&tar);
    let e = s.ensure_layer(&blob, None, || Ok(&tar[..])).unwrap_err();
    assert!(
        matches!(&e, StoreError::Unpack(b, UnpackError::TooManyEntries(1000)) if *b == blob),
        "{e:?}"
    );
    assert_eq!(
        std::error::Error::source(&e).unwrap().to_string(),
        "refusing layer: it has more than 1000 entries (a tar bomb?)"
    );
    assert_eq!(count(&t.path().join("layers")), 0, "no layer kept");
    assert_eq!(count(&t.path().join("tmp")), 0, "no partial unpack kept");
}
