//! Layer unpacking: normal content, whiteouts, owners and hostile archives (each with its
//! exact outcome). These run as any user; owner checks adapt to root or not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_image::unpack::{clean_path, unpack, Mode, Ownership, UnpackError, UnpackOptions};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// A tar built entry by entry with raw names (tar's own builder refuses `..`).
struct T(tar::Builder<Vec<u8>>);

impl T {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }
    fn raw(
        mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
        uid: u64,
    ) -> Self {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, name: &str, data: &str) -> Self {
        self.raw(
            tar::EntryType::Regular,
            name.as_bytes(),
            b"",
            data.as_bytes(),
            0o644,
            0,
        )
    }
    fn dir(self, name: &str) -> Self {
        self.raw(
            tar::EntryType::Directory,
            name.as_bytes(),
            b"",
            b"",
            0o755,
            0,
        )
    }
    fn sym(self, name: &str, to: &str) -> Self {
        self.raw(
            tar::EntryType::Symlink,
            name.as_bytes(),
            to.as_bytes(),
            b"",
            0o777,
            0,
        )
    }
    fn hard(self, name: &str, to: &str) -> Self {
        self.raw(
            tar::EntryType::Link,
            name.as_bytes(),
            to.as_bytes(),
            b"",
            0o644,
            0,
        )
    }
    /// A regular file with a name of any length (a GNU long-name entry past 100 bytes).
    fn long(mut self, name: &str, data: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, name, data.as_bytes()).unwrap();
        self
    }
    fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn opts(mode: Mode) -> UnpackOptions {
    UnpackOptions {
        mode,
        ownership: Ownership::Record,
        ..UnpackOptions::default()
    }
}

/// A sandbox: `outside/` next to `layer/`, to prove nothing lands outside.
fn sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("layer")).unwrap();
    fs::create_dir(t.path().join("outside")).unwrap();
    let l = t.path().join("layer");
    (t, l)
}

fn outside_untouched(t: &tempfile::TempDir) {
    assert_eq!(fs::read_dir(t.path().join("outside")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 2);
}

fn hostile(e: UnpackError) -> (String, &'static str) {
    match e {
        UnpackError::Hostile { path, reason } => (path, reason),
        other => panic!("expected a hostile-archive refusal, got {other:?}"),
    }
}

#[test]
fn paths_are_cleaned() {
    assert_eq!(
        clean_path(b"/./a//b/").unwrap(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert!(clean_path(b"a/../b").is_err());
}

#[test]
fn normal_layer() {
    let (t, l) = sandbox();
    let tar = T::new()
        .dir("./")
        .dir("etc/")
        .file("etc/hostname", "box\n")
        .raw(tar::EntryType::Regular, b"bin/su", b"", b"x", 0o4755, 0)
        .hard("bin/su2", "bin/su")
        .sym("lib", "usr/lib")
        .raw(tar::EntryType::Char, b"dev/null", b"", b"", 0o666, 0)
        .raw(tar::EntryType::Block, b"dev/sda", b"", b"", 0o660, 0)
        .file("implicit/parents/f", "x")
        .done();
    let r = unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert_eq!(fs::read_to_string(l.join("etc/hostname")).unwrap(), "box\n");
    let su = fs::metadata(l.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(su.ino(), fs::metadata(l.join("bin/su2")).unwrap().ino());
    assert_eq!(su.mtime(), 1_000_000);
    assert_eq!(fs::read_link(l.join("lib")).unwrap(), Path::new("usr/lib"));
    assert_eq!(r.devices_skipped, 2);
    assert!(!l.join("dev/null").exists());
    assert!(l.join("implicit/parents/f").exists());
    assert_eq!(r.entries, 9);
    // The diff-id is the digest of the uncompressed stream.
    assert_eq!(r.diff_id.unwrap(), burrow_image::Digest::of(&tar));
    // The setuid file is recorded for the later fix-up (Record mode).
    assert!(r
        .owners
        .iter()
        .any(|o| o.path == "bin/su" && o.mode == 0o4755));
    outside_untouched(&t);
}

#[test]
fn compressed_layers_unpack_alike() {
    use std::io::Write;
    let tar = T::new().file("a", "1").done();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&tar).unwrap();
    let xz = xz.finish().unwrap();
    for data in [gz, zst, xz] {
        let (_t, l) = sandbox();
        let r = unpack(&data[..], &l, &opts(Mode::Layer)).unwrap();
        assert_eq!(fs::read_to_string(l.join("a")).unwrap(), "1");
        assert_eq!(r.diff_id.unwrap(), burrow_image::Digest::of(&tar));
    }
}

#[test]
fn whiteouts_in_layer_form() {
    let (_t, l) = sandbox();
    let tar = T::new()
        .dir("etc/")
        .file("etc/.wh.gone", "")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", "")
        .file("var/cache/new", "n")
        .done();
    let r = unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    let wh = fs::symlink_metadata(l.join("etc/gone")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(r.whiteouts, ["etc/gone"]);
    assert_eq!(r.opaque_dirs, ["var/cache"]);
    let out = std::process::Command::new("getfattr")
        .args([
            "--absolute-names",
            "-n",
            "user.overlay.opaque",
            "--only-values",
        ])
        .arg(l.join("var/cache"))
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            assert_eq!(out.stdout, b"y");
        }
    }
    assert!(l.join("var/cache/new").exists());
}

#[test]
fn flattening_applies_whiteouts_and_replacements() {
    let (t, l) = sandbox();
    let base = T::new()
        .file("etc/gone", "old")
        .file("etc/kept", "k")
        .file("var/cache/old1", "o")
        .dir("var/cache/sub/")
        .file("x", "file first")
        .dir("d/")
        .file("d/inner", "i")
        .done();
    unpack(&base[..], &l, &opts(Mode::Flatten)).unwrap();
    let top = T::new()
        .file("etc/.wh.gone", "")
        .file("var/cache/.wh..wh..opq", "")
        .file("var/cache/new", "n")
        .dir("x/")
        .file("x/now-a-dir", "y")
        .file("d", "dir replaced by a file")
        .done();
    unpack(&top[..], &l, &opts(Mode::Flatten)).unwrap();
    assert!(!l.join("etc/gone").exists());
    assert!(l.join("etc/kept").exists());
    let cache: Vec<_> = fs::read_dir(l.join("var/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cache, ["new"]);
    assert!(l.join("x").is_dir());
    assert_eq!(fs::read_to_string(l.join("x/now-a-dir")).unwrap(), "y");
    assert_eq!(
        fs::read_to_string(l.join("d")).unwrap(),
        "dir replaced by a file"
    );
    outside_untouched(&t);
}

#[test]
fn hostile_dotdot_is_refused() {
    let (t, l) = sandbox();
    let tar = T::new().file("../outside/pwned", "x").done();
    let (p, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    assert_eq!(
        (p.as_str(), why),
        ("../outside/pwned", "has a `..` component")
    );
    let tar = T::new().file("a/../../outside/pwned", "x").done();
    hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    outside_untouched(&t);
}

#[test]
fn hostile_absolute_path_lands_inside() {
    let (t, l) = sandbox();
    let abs = format!("{}/outside/pwned", t.path().display());
    let tar = T::new().file(&abs, "x").done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert!(l.join(abs.trim_start_matches('/')).exists());
    outside_untouched(&t);
}

#[test]
fn hostile_write_through_symlink_is_refused() {
    let (t, l) = sandbox();
    let out = t.path().join("outside");
    for target in [out.to_str().unwrap(), "../outside"] {
        let tar = T::new().sym("evil", target).file("evil/pwned", "x").done();
        let (p, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
        assert_eq!(
            (p.as_str(), why),
            ("evil/pwned", "passes through a symlink")
        );
        fs::remove_file(l.join("evil")).unwrap();
    }
    // A symlink in place of the file itself is replaced, not followed.
    let tar = T::new().sym("f", "../outside/pwned").file("f", "x").done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert_eq!(fs::read_to_string(l.join("f")).unwrap(), "x");
    outside_untouched(&t);
}

#[test]
fn hostile_hard_link_outside_is_refused() {
    let (t, l) = sandbox();
    fs::write(t.path().join("outside/secret"), "s").unwrap();
    let tar = T::new().hard("h", "../outside/secret").done();
    let (_, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    assert_eq!(why, "has a `..` component");
    let abs = format!("{}/outside/secret", t.path().display());
    let tar = T::new().hard("h", &abs).done();
    let (_, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    assert_eq!(why, "is a hard link to a file that is not in this layer");
    // Through a symlink inside the layer.
    let tar = T::new()
        .sym("s", t.path().join("outside").to_str().unwrap())
        .hard("h", "s/secret")
        .done();
    let (_, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    assert_eq!(why, "is a hard link whose target passes through a symlink");
    assert!(!l.join("h").exists());
    fs::remove_file(t.path().join("outside/secret")).unwrap();
    outside_untouched(&t);
}

#[test]
fn hostile_symlink_loop() {
    let (t, l) = sandbox();
    let tar = T::new().sym("a", "b").sym("b", "a").done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert_eq!(fs::read_link(l.join("a")).unwrap(), Path::new("b"));
    let tar = T::new().file("a/x", "1").done();
    let (_, why) = hostile(unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap_err());
    assert_eq!(why, "passes through a symlink");
    outside_untouched(&t);
}

#[test]
fn hostile_duplicates_later_wins() {
    let (_t, l) = sandbox();
    let tar = T::new()
        .file("f", "one")
        .file("f", "two")
        .dir("d/")
        .file("d", "file now")
        .done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert_eq!(fs::read_to_string(l.join("f")).unwrap(), "two");
    assert_eq!(fs::read_to_string(l.join("d")).unwrap(), "file now");
}

#[test]
fn hostile_newline_names_kept() {
    let (_t, l) = sandbox();
    let tar = T::new()
        .raw(tar::EntryType::Regular, b"a\nb", b"", b"x", 0o644, 1000)
        .done();
    let r = unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert!(l.join("a\nb").exists());
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("a\\nb"), "{json}");
}

#[test]
fn hostile_tar_bomb_is_bounded() {
    let (_t, l) = sandbox();
    let mut t = T::new();
    for i in 0..2000 {
        t = t.file(&format!("f{i}"), "");
    }
    let tar = t.done();
    let o = UnpackOptions {
        max_entries: 1000,
        ..opts(Mode::Layer)
    };
    match unpack(&tar[..], &l, &o).unwrap_err() {
        UnpackError::TooManyEntries(1000) => {}
        e => panic!("{e:?}"),
    }
    assert!(fs::read_dir(&l).unwrap().count() <= 1000);
}

#[test]
fn hostile_deep_or_long_paths_are_refused() {
    let (t, l) = sandbox();
    let o = opts(Mode::Layer);
    let too_deep = vec!["d"; 513].join("/");
    let (p, why) = hostile(unpack(&T::new().long(&too_deep, "x").done()[..], &l, &o).unwrap_err());
    assert_eq!((p, why), (too_deep, "is more than 512 directories deep"));
    let too_long = vec!["abcdefghij"; 400].join("/");
    let (_, why) = hostile(unpack(&T::new().long(&too_long, "x").done()[..], &l, &o).unwrap_err());
    assert_eq!(why, "is longer than 4095 bytes (PATH_MAX)");
    let (_, why) =
        hostile(unpack(&T::new().long(&"a".repeat(256), "x").done()[..], &l, &o).unwrap_err());
    assert_eq!(why, "has a component longer than 255 bytes (NAME_MAX)");
    // A hard link's target is held to the same bounds.
    let tar = T::new().file("f", "x").done();
    unpack(&tar[..], &l, &o).unwrap();
    let deep_target = vec!["d"; 600].join("/");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(1);
    h.set_uid(0);
    h.set_gid(0);
    b.append_link(&mut h, "h", &deep_target).unwrap();
    let (_, why) = hostile(unpack(&b.into_inner().unwrap()[..], &l, &o).unwrap_err());
    assert_eq!(why, "is more than 512 directories deep");
    // At the bounds: kept.
    let deepest = vec!["d"; 512].join("/");
    unpack(&T::new().long(&deepest, "x").done()[..], &l, &o).unwrap();
    assert_eq!(fs::read_to_string(l.join(&deepest)).unwrap(), "x");
    outside_untouched(&t);
}

#[test]
fn ids_outside_the_range_are_refused() {
    let (_t, l) = sandbox();
    let tar = T::new()
        .raw(tar::EntryType::Regular, b"f", b"", b"", 0o644, 70000)
        .done();
    let o = UnpackOptions {
        id_count: Some(65536),
        ..opts(Mode::Layer)
    };
    let e = unpack(&tar[..], &l, &o).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("uid 70000") && msg.contains("burrow admin add-user --count 70001"),
        "{msg}"
    );
}

#[test]
fn owners_recorded_or_applied() {
    let (_t, l) = sandbox();
    let tar = T::new()
        .raw(tar::EntryType::Regular, b"f", b"", b"", 0o644, 1234)
        .done();
    let r = unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert!(!r.chowned);
    assert_eq!(r.owners.len(), 1);
    assert_eq!((r.owners[0].uid, r.owners[0].gid), (1234, 1234));
    if nix::unistd::geteuid().is_root() {
        let (_t, l) = sandbox();
        let o = UnpackOptions {
            ownership: Ownership::Chown,
            ..opts(Mode::Layer)
        };
        let r = unpack(&tar[..], &l, &o).unwrap();
        assert!(r.chowned && r.owners.is_empty());
        assert_eq!(fs::metadata(l.join("f")).unwrap().uid(), 1234);
    }
}

#[test]
fn sparse_files_stay_sparse() {
    let (_t, l) = sandbox();
    let mut data = vec![0u8; 4 << 20];
    data[0] = 1;
    *data.last_mut().unwrap() = 2;
    let tar = T::new()
        .raw(tar::EntryType::Regular, b"sparse", b"", &data, 0o644, 0)
        .done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    let m = fs::metadata(l.join("sparse")).unwrap();
    assert_eq!(m.len(), 4 << 20);
    assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
    assert_eq!(fs::read(l.join("sparse")).unwrap(), data);
    // Ending in a hole: the length is still right.
    let mut tail = vec![0u8; 1 << 20];
    tail[0] = 1;
    let tar = T::new()
        .raw(tar::EntryType::Regular, b"tail", b"", &tail, 0o644, 0)
        .done();
    unpack(&tar[..], &l, &opts(Mode::Layer)).unwrap();
    assert_eq!(fs::read(l.join("tail")).unwrap(), tail);
}

/// Child mode for `unprivileged_unpack_records_owners`: unpacks `$BURROW_IMAGE_CHILD_TAR` into
/// `$BURROW_IMAGE_CHILD_DEST` with the default (Auto) ownership and writes the report next to it.
#[test]
fn child_unpack() {
    let (Ok(tar), Ok(dest)) = (
        std::env::var("BURROW_IMAGE_CHILD_TAR"),
        std::env::var("BURROW_IMAGE_CHILD_DEST"),
    ) else {
        return;
    };
    let data = fs::read(&tar).unwrap();
    fs::create_dir(&dest).unwrap();
    let r = unpack(&data[..], Path::new(&dest), &UnpackOptions::default()).unwrap();
    fs::write(format!("{dest}.json"), serde_json::to_vec(&r).unwrap()).unwrap();
}

/// As a plain unprivileged user (`nobody`, via setpriv; needs root to switch): nothing is
/// chowned, setuid bits are kept on the user's own files, whiteouts are still made, and the
/// owners and the file capability are recorded.
#[test]
fn unprivileged_unpack_records_owners() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true" && v != "1"),
            "needs root under CI=true"
        );
        eprintln!("SKIP: needs root to switch to nobody");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o4755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_size(1);
    b.append_pax_extensions([(
        "SCHILY.xattr.security.capability",
        &[
            1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ][..],
    )])
    .unwrap();
    b.append_data(&mut h.clone(), "bin/ping", &b"x"[..])
        .unwrap();
    h.set_mode(0o644);
    h.set_uid(1000);
    h.set_gid(1000);
    b.append_data(&mut h.clone(), "home/u/f", &b"x"[..])
        .unwrap();
    h.set_size(0);
    b.append_data(&mut h, "etc/.wh.gone", &b""[..]).unwrap();
    let tar = t.path().join("layer.tar");
    fs::write(&tar, b.into_inner().unwrap()).unwrap();
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).unwrap();
    let dest = t.path().join("layer");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child_unpack", "--nocapture", "--test-threads=1"])
        .env("BURROW_IMAGE_CHILD_TAR", &tar)
        .env("BURROW_IMAGE_CHILD_DEST", &dest)
        .current_dir(t.path())
        .output()
        .unwrap();
    // The child's own directory is made by the child.
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: burrow_image::unpack::UnpackReport =
        serde_json::from_slice(&fs::read(format!("{}.json", dest.display())).unwrap()).unwrap();
    assert!(!r.chowned);
    let ping = r.owners.iter().find(|o| o.path == "bin/ping").unwrap();
    assert_eq!(ping.mode, 0o4755);
    assert_eq!(ping.capability.as_deref().map(|c| c.len()), Some(20));
    let f = r.owners.iter().find(|o| o.path == "home/u/f").unwrap();
    assert_eq!((f.uid, f.gid), (1000, 1000));
    let m = fs::metadata(dest.join("bin/ping")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (65534, 0o4755));
    assert_eq!(fs::metadata(dest.join("home/u/f")).unwrap().uid(), 65534);
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(dest.join("etc/gone"))
        .unwrap()
        .file_type()
        .is_char_device());
}
