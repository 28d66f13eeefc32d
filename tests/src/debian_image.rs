//! The Debian 12 image of the tests (`tests/tests/image_debian.rs`): a real distribution, made
//! here with `debootstrap --variant=minbase --include=iputils-ping,libcap2-bin bookworm` (so
//! `/usr/bin/ping` has its file capability `cap_net_raw=ep` and `getcap` is in the image),
//! with a non-root user added inside (`useradd -m -s /bin/bash -G users,adm app`, in a chroot),
//! packed as one gzip layer (with the `security.capability` xattrs; without /dev, /proc,
//! /sys, /run and /var/log contents and apt's lists and .debs, as an image has it) in an OCI
//! layout and pushed with `skopeo` to a `docker-registry` on 127.0.0.1 started for the test
//! process.
//!
//! debootstrap from the mirror takes a minute, so the tree and the layout are cached in
//! [`CACHE`], keyed by the UTC date and the debootstrap version, each reused only when its
//! done-marker (written last) is there; builders take a lock file, so concurrent test
//! processes build once. `BURROW_TEST_DEBIAN_MIRROR` overrides the mirror.
//!
//! Needs root, network access to the mirror and the packages of scripts/install-test-deps.sh
//! (debootstrap, libcap2-bin, and the image tests' docker-registry, skopeo). Skipped with a
//! message when the tools are missing, a failure under CI=true.

use crate::image_fixture::{require_image_tools, Registry};
use crate::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the debootstrap trees and their OCI layouts are kept between test runs.
pub const CACHE: &str = "/var/tmp/burrow-test-debian-cache";
/// The non-root user of the image (uid 1000, home /home/app, in Debian's groups `users` (100)
/// and `adm` (4)).
pub const APP_USER: &str = "app";
/// The image's name in the test registry.
pub const REPO: &str = "test/debian:12";

/// False (with a message) when this machine cannot build the Debian image; panics under
/// CI=true.
pub fn require_debian_tools() -> bool {
    if !require_image_tools() {
        return false;
    }
    require_tools(
        "the Debian image tests",
        &["debootstrap", "chroot", "getcap", "gzip", "sha256sum"],
        Vec::new(),
    )
}

fn run(cmd: &mut Command) -> String {
    run_ok(cmd).trim().to_owned()
}

/// The Debian image, built (or found in the cache) and pushed once per test process.
#[derive(Debug)]
pub struct Debian {
    /// The registry holding it (plain HTTP on 127.0.0.1).
    pub registry: Registry,
    /// `127.0.0.1:PORT/test/debian:12`.
    pub reference: String,
    /// The debootstrap tree the layer was made from (root-owned, in the cache).
    pub tree: PathBuf,
    /// `getcap` of the tree's `/usr/bin/ping`, as the host sees it.
    pub ping_cap: String,
}

/// Holds an exclusive lock on `CACHE/lock` (bounded wait), released on drop.
struct CacheLock(#[allow(dead_code)] fs::File);

impl CacheLock {
    fn take() -> CacheLock {
        fs::create_dir_all(CACHE).unwrap();
        let f = fs::File::create(Path::new(CACHE).join("lock")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            match f.try_lock() {
                Ok(()) => return CacheLock(f),
                Err(fs::TryLockError::WouldBlock) => {
                    assert!(
                        Instant::now() < deadline,
                        "{CACHE}/lock is held by another test process for 15 minutes: is a debootstrap stuck? (remove {CACHE} and retry)"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(fs::TryLockError::Error(e)) => panic!("{CACHE}/lock: {e}"),
            }
        }
    }
}

/// The cache key: the UTC date and the debootstrap version.
fn cache_key() -> String {
    let day = run(Command::new("date").args(["-u", "+%Y%m%d"]));
    let ver = run(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "debootstrap"]));
    let ver: String = ver
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("bookworm-minbase-{day}-debootstrap{ver}")
}

/// The debootstrap tree under `dir/tree`, made unless `dir/tree.done` is there.
fn debootstrap(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    let done = dir.join("tree.done");
    if done.is_file() {
        return tree;
    }
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(dir).unwrap();
    let mirror = std::env::var("BURROW_TEST_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_owned());
    let log = dir.join("debootstrap.log");
    let t = Instant::now();
    // Bounded: a stalled mirror must not hang the test run.
    let st = Command::new("timeout")
        .args(["600", "debootstrap", "--variant=minbase"])
        .arg("--include=iputils-ping,libcap2-bin")
        .arg("bookworm")
        .arg(&tree)
        .arg(&mirror)
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(dir.join("debootstrap.err")).unwrap())
        .status()
        .unwrap();
    if !st.success() {
        let tail = |p: PathBuf| {
            let t = fs::read_to_string(p).unwrap_or_default();
            let l: Vec<&str> = t.lines().collect();
            l[l.len().saturating_sub(15)..].join("\n")
        };
        panic!(
            "debootstrap of bookworm from {mirror} failed ({st}; is the mirror reachable? set BURROW_TEST_DEBIAN_MIRROR to another): {}\n{}",
            tail(log),
            tail(dir.join("debootstrap.err"))
        );
    }
    eprintln!(
        "debootstrap bookworm from {mirror}: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // A non-root user of the image, in Debian's own groups users (100) and adm (4).
    run(Command::new("chroot").arg(&tree).args([
        "useradd",
        "-m",
        "-s",
        "/bin/bash",
        "-G",
        "users,adm",
        APP_USER,
    ]));
    fs::write(&done, "").unwrap();
    tree
}

fn sha256(p: &Path) -> String {
    run(Command::new("sha256sum").arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Moves `file` into `layout`'s blobs; returns (digest, size).
fn blob(layout: &Path, file: &Path) -> (String, u64) {
    let hex = sha256(file);
    let size = fs::metadata(file).unwrap().len();
    fs::rename(file, layout.join("blobs/sha256").join(&hex)).unwrap();
    (format!("sha256:{hex}"), size)
}

/// The OCI layout (tag `12`) of `tree` under `dir/oci`, made unless `dir/oci.done` is there.
fn layout(dir: &Path, tree: &Path) -> PathBuf {
    let oci = dir.join("oci");
    let done = dir.join("oci.done");
    if done.is_file() {
        return oci;
    }
    let _ = fs::remove_dir_all(&oci);
    fs::create_dir_all(oci.join("blobs/sha256")).unwrap();
    let tar = dir.join("layer.tar");
    // As an image has it; the file capabilities kept (tar leaves xattrs out by default).
    run(Command::new("tar")
        .args([
            "--numeric-owner",
            "--sort=name",
            "--mtime=@0",
            "--format=posix",
        ])
        .args(["--xattrs", "--xattrs-include=security.capability"])
        .args([
            "--exclude=./dev/?*",
            "--exclude=./proc/?*",
            "--exclude=./sys/?*",
            "--exclude=./run/?*",
            "--exclude=./var/log/?*",
            "--exclude=./var/cache/apt/archives/*.deb",
            "--exclude=./var/lib/apt/lists/?*",
        ])
        .arg("-C")
        .arg(tree)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let diff_id = sha256(&tar);
    run(Command::new("gzip").args(["-n", "-1"]).arg(&tar));
    let (ld, ls) = blob(&oci, &dir.join("layer.tar.gz"));
    let cfg = serde_json::json!({
        "architecture": crate::image_fixture::host_arch(), "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let write_blob = |v: &serde_json::Value, name: &str| {
        let p = dir.join(name);
        fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        blob(&oci, &p)
    };
    let (cd, cs) = write_blob(&cfg, "config.json");
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
    });
    let (md, ms) = write_blob(&m, "manifest.json");
    let idx = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "12"}}]});
    fs::write(oci.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    fs::write(oci.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(&done, "").unwrap();
    oci
}

/// The image, built or found in the cache, pushed to a registry of this test process.
pub fn debian() -> &'static Debian {
    static D: OnceLock<Debian> = OnceLock::new();
    D.get_or_init(|| {
        remove_stale_tempdirs(&["img-registry-debian", "img-deb"]);
        let key = cache_key();
        let (tree, oci) = {
            let _lock = CacheLock::take();
            // Older days' trees and layouts go.
            for e in fs::read_dir(CACHE).unwrap().flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n != "lock" && n != key {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
            let dir = Path::new(CACHE).join(&key);
            let tree = debootstrap(&dir);
            (tree.clone(), layout(&dir, &tree))
        };
        let ping_cap = run(Command::new("getcap").arg(tree.join("usr/bin/ping")));
        let registry = Registry::start(&tempdir("img-registry-debian"), false);
        let t = Instant::now();
        registry.push(&oci, "12", REPO);
        eprintln!(
            "skopeo push of the Debian image: {:.1}s",
            t.elapsed().as_secs_f64()
        );
        Debian {
            reference: format!("{}/{REPO}", registry.addr),
            registry,
            tree,
            ping_cap,
        }
    })
}
