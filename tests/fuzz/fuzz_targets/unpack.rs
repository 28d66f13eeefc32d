//! Fuzzes burrow-image's layer unpacker: entry-path handling (`clean_path`) and `unpack` of a
//! whole tar stream into a real directory.
//!
//! Input: the first byte picks the form. Odd: the rest is given to `unpack` as it is (a raw,
//! possibly compressed, tar stream: the parser's and decompressors' error paths). Even: the
//! rest is read as a list of entries, each `kind, name_len, link_len, data_len` bytes followed
//! by those bytes, from which a tar is built here with correct checksums (so the fuzzer reaches
//! the unpacker's own logic instead of dying on checksums): kinds are file, directory,
//! symlink, hard link, fifo, char device (its top bit set: the name length times 32), and
//! whiteouts come from names.
//!
//! Checks, for every input, in a fresh sandbox `S/{layer,outside}` with a sentinel file in
//! `outside/` and a sentinel symlink `layer/../outside` targets may aim at:
//! - `unpack` returns (no panic), into `S/layer`, in both modes;
//! - nothing outside `S/layer` changed: `S` holds exactly `layer` and `outside`, `outside`
//!   holds exactly the sentinel with its content and mode;
//! - walking `S/layer` without following symlinks finds no path deeper than the bound;
//! - `clean_path` of each raw name: components are non-empty, never `.` or `..`, have no `/`,
//!   are at most 255 bytes, at most `MAX_DEPTH` of them, and rejoined they are the name
//!   without its empty and `.` components.
#![no_main]

use burrow_image::unpack::{clean_path, unpack, Mode, Ownership, UnpackOptions, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn build(mut d: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    while d.len() >= 4 && names.len() < 64 {
        // A kind with its top bit set stretches the name (up to 8160 bytes, past PATH_MAX).
        let stretch = if d[0] & 0x80 != 0 { 32 } else { 1 };
        let (kind, nl, ll, dl) = (
            d[0],
            usize::from(d[1]) * stretch,
            usize::from(d[2] % 101),
            usize::from(d[3]),
        );
        d = &d[4..];
        let take = |d: &mut &[u8], n: usize| {
            let n = n.min(d.len());
            let (a, rest) = d.split_at(n);
            *d = rest;
            a.to_vec()
        };
        let name = take(&mut d, nl);
        let link = take(&mut d, ll);
        let data = take(&mut d, dl);
        let entry = match kind % 6 {
            0 => tar::EntryType::Regular,
            1 => tar::EntryType::Directory,
            2 => tar::EntryType::Symlink,
            3 => tar::EntryType::Link,
            4 => tar::EntryType::Fifo,
            _ => tar::EntryType::Char,
        };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(entry);
        h.set_mode(u32::from(kind) << 4 | 0o600);
        h.set_mtime(1);
        let data = if entry == tar::EntryType::Regular {
            data
        } else {
            Vec::new()
        };
        h.set_size(data.len() as u64);
        // Raw names: up to 100 bytes in the header itself (tar's setters refuse `..`), longer
        // ones as a GNU long-name entry first.
        if name.len() <= 100 && !name.is_empty() {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(&name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(&link);
            h.set_cksum();
            let _ = b.append(&h, &data[..]);
        } else if !name.is_empty() {
            let mut ln = tar::Header::new_gnu();
            ln.set_entry_type(tar::EntryType::GNULongName);
            ln.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
            let mut nz = name.clone();
            nz.push(0);
            ln.set_size(nz.len() as u64);
            ln.set_cksum();
            let _ = b.append(&ln, &nz[..]);
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..100].copy_from_slice(&name[..100]);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(&link);
            h.set_cksum();
            let _ = b.append(&h, &data[..]);
        }
        names.push(name);
        names.push(link);
    }
    (b.into_inner().unwrap_or_default(), names)
}

fn check_clean(raw: &[u8]) {
    let Ok(comps) = clean_path(raw) else { return };
    assert!(
        comps.len() <= MAX_DEPTH,
        "{} components accepted",
        comps.len()
    );
    for c in &comps {
        assert!(
            !c.is_empty() && c != b"." && c != b"..",
            "bad component {c:?} from {raw:?}"
        );
        assert!(
            !c.contains(&b'/') && c.len() <= 255,
            "bad component {c:?} from {raw:?}"
        );
    }
    let want: Vec<&[u8]> = raw
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    assert_eq!(comps.iter().map(Vec::as_slice).collect::<Vec<_>>(), want);
}

fn walk_depth(p: &Path, depth: usize) {
    assert!(
        depth <= MAX_DEPTH + 1,
        "{} is deeper than the bound",
        p.display()
    );
    let Ok(rd) = fs::read_dir(p) else { return };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_depth(&e.path(), depth + 1);
        }
    }
}

fn sandbox_ok(s: &Path) {
    let mut top: Vec<String> = fs::read_dir(s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["layer", "outside"],
        "something landed next to the layer"
    );
    let out: Vec<_> = fs::read_dir(s.join("outside")).unwrap().collect();
    assert_eq!(out.len(), 1, "something landed in outside/");
    let m = fs::symlink_metadata(s.join("outside/sentinel")).unwrap();
    assert!(m.is_file() && m.permissions().mode() & 0o7777 == 0o600);
    assert_eq!(fs::read(s.join("outside/sentinel")).unwrap(), b"keep");
}

/// Makes writable again what the unpack made read-only, so the sandbox can be removed.
fn loosen(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    loosen(&e.path());
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let (tar, names) = if form % 2 == 1 {
        (rest.to_vec(), Vec::new())
    } else {
        build(rest)
    };
    for n in &names {
        check_clean(n);
    }
    check_clean(rest);
    let t = tempfile::tempdir().unwrap();
    let s = t.path();
    fs::create_dir(s.join("layer")).unwrap();
    fs::create_dir(s.join("outside")).unwrap();
    fs::write(s.join("outside/sentinel"), b"keep").unwrap();
    fs::set_permissions(
        s.join("outside/sentinel"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for mode in [Mode::Layer, Mode::Flatten] {
        let o = UnpackOptions {
            mode,
            ownership: Ownership::Record,
            id_count: Some(65536),
            max_entries: 10_000,
        };
        let _ = unpack(&tar[..], &s.join("layer"), &o);
        sandbox_ok(s);
        walk_depth(&s.join("layer"), 0);
    }
    loosen(&s.join("layer"));
});
