//! Against real parts started here: Debian's `docker-registry` (the distribution registry) on
//! 127.0.0.1, once plain HTTP and once with TLS from a test CA (made with `openssl`) and
//! htpasswd auth; images built here (busybox-static, a deletion, an opaque directory, a hard
//! link, a setuid file, a file capability from `setcap`, an owner, a `user.*` xattr; a zstd
//! layer; an index with two platforms) and pushed with `skopeo`; oci-archive and
//! docker-archive made with skopeo; an OCI layout made with `umoci`.
//!
//! Needs root (setcap, chown, overlay mount) and the packages of
//! scripts/install-test-deps.sh; skipped with a message otherwise, a failure under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_image::registry::{auth_entry, Client, ClientOptions, Credentials, RegistryError};
use burrow_image::store::{ImageRecord, Store, StoreError};
use burrow_image::{Digest, RegistriesConf};
use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// False (with a message) when this machine cannot run these tests; panics under CI=true.
fn require() -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_owned());
    }
    for t in [
        "docker-registry",
        "skopeo",
        "openssl",
        "htpasswd",
        "setcap",
        "tar",
        "umoci",
    ] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            missing.push(t.to_owned());
        }
    }
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (busybox-static)".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "registry tests need {}: run as root after scripts/install-test-deps.sh",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

fn other_arch() -> &'static str {
    if host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    }
}

/// A running registry, killed on drop.
struct Registry {
    child: Child,
    addr: String,
    storage: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path, tls: Option<(&Path, &Path)>, htpasswd: Option<&Path>) -> Registry {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).unwrap();
    let mut cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
        storage.display()
    );
    if let Some((c, k)) = tls {
        cfg.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            c.display(),
            k.display()
        ));
    }
    if let Some(h) = htpasswd {
        cfg.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
            h.display()
        ));
    }
    let cfgp = dir.join("config.yml");
    fs::write(&cfgp, cfg).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfgp)
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("registry.log")).unwrap())
        .spawn()
        .unwrap();
    let r = Registry {
        child,
        addr: addr.clone(),
        storage,
    };
    let t = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "registry did not start: {}",
            fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

/// A test CA and a server certificate for 127.0.0.1: (ca.crt, server.crt, server.key).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, cak, crt, key, csr, ext) = (
        dir.join("ca.crt"),
        dir.join("ca.key"),
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("ext.cnf"),
    );
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=burrow test CA",
        ])
        .arg("-keyout")
        .arg(&cak)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    fs::write(&ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&cak)
        .arg("-CAcreateserial")
        .arg("-out")
        .arg(&crt)
        .arg("-extfile")
        .arg(&ext));
    (ca, crt, key)
}

fn tar_layer(stage: &Path, out: &Path) {
    run(Command::new("tar")
        .args([
            "--format=posix",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "--sort=name",
            "-cf",
        ])
        .arg(out)
        .arg("-C")
        .arg(stage)
        .arg("."));
}

const CAP_NET_RAW_EP: &[u8] = &[
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn put(layout: &Path, data: &[u8]) -> (Digest, usize) {
    let d = Digest::of(data);
    fs::write(layout.join("blobs/sha256").join(d.hex()), data).unwrap();
    (d, data.len())
}

/// Builds the test OCI layout: tag "1" (host platform, two layers) and tag "multi" (an index
/// with the host's and another platform's manifest).
fn build_layout(dir: &Path) -> PathBuf {
    let s1 = dir.join("stage1");
    for d in ["bin", "etc", "var/cache", "home/user"] {
        fs::create_dir_all(s1.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", s1.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", s1.join("bin/sh")).unwrap();
    fs::hard_link(s1.join("bin/busybox"), s1.join("bin/hardlinked")).unwrap();
    fs::write(s1.join("bin/su-test"), "suid").unwrap();
    fs::set_permissions(s1.join("bin/su-test"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(s1.join("bin/ping-test"), "cap").unwrap();
    run(Command::new("setcap")
        .arg("cap_net_raw+ep")
        .arg(s1.join("bin/ping-test")));
    fs::write(s1.join("etc/gone"), "deleted above").unwrap();
    fs::write(s1.join("etc/kept"), "kept").unwrap();
    fs::write(s1.join("var/cache/old"), "hidden by an opaque dir").unwrap();
    fs::write(s1.join("home/user/f"), "mine").unwrap();
    std::os::unix::fs::chown(s1.join("home/user/f"), Some(1000), Some(1000)).unwrap();
    let f = fs::File::open(s1.join("etc/kept")).unwrap();
    burrow_sys::fsetxattr(std::os::fd::AsFd::as_fd(&f), c"user.test", b"value").unwrap();
    let s2 = dir.join("stage2");
    fs::create_dir_all(s2.join("etc")).unwrap();
    fs::create_dir_all(s2.join("var/cache")).unwrap();
    fs::write(s2.join("etc/.wh.gone"), "").unwrap();
    fs::write(s2.join("var/cache/.wh..wh..opq"), "").unwrap();
    fs::write(s2.join("var/cache/new"), "new").unwrap();

    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    tar_layer(&s1, &dir.join("l1.tar"));
    tar_layer(&s2, &dir.join("l2.tar"));
    let t1 = fs::read(dir.join("l1.tar")).unwrap();
    let t2 = fs::read(dir.join("l2.tar")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &t1).unwrap();
    let (b1, n1) = put(&layout, &gz.finish().unwrap());
    let (b2, n2) = put(&layout, &zstd::encode_all(&t2[..], 3).unwrap());
    let mut gz2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz2, &t2).unwrap();
    let (b2g, n2g) = put(&layout, &gz2.finish().unwrap());
    let (d1, d2) = (Digest::of(&t1), Digest::of(&t2));
    let manifest_for = |arch: &str, zst: bool| {
        let (b2, n2, t2) = if zst {
            (&b2, n2, "zstd")
        } else {
            (&b2g, n2g, "gzip")
        };
        let cfg = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hi"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/home/user",
                       "User": "1000:1000", "StopSignal": "SIGQUIT", "ExposedPorts": {"80/tcp": {}}, "Labels": {"org.example": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": [d1.to_string(), d2.to_string()]},
        });
        let (cd, cn) = put(&layout, &serde_json::to_vec(&cfg).unwrap());
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b1.to_string(), "size": n1},
                {"mediaType": format!("application/vnd.oci.image.layer.v1.tar+{t2}"), "digest": b2.to_string(), "size": n2},
            ],
        });
        put(&layout, &serde_json::to_vec(&m).unwrap())
    };
    let (mh, mhn) = manifest_for(host_arch(), true);
    let (mo, mon) = manifest_for(other_arch(), true);
    let (mg, mgn) = manifest_for(host_arch(), false);
    let idx = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mh.to_string(), "size": mhn, "platform": {"os": "linux", "architecture": host_arch()}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mo.to_string(), "size": mon, "platform": {"os": "linux", "architecture": other_arch()}},
        ],
    });
    let (ix, ixn) = put(&layout, &serde_json::to_vec(&idx).unwrap());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mh.to_string(), "size": mhn, "annotations": {"org.opencontainers.image.ref.name": "1"}},
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": ix.to_string(), "size": ixn, "annotations": {"org.opencontainers.image.ref.name": "multi"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mg.to_string(), "size": mgn, "annotations": {"org.opencontainers.image.ref.name": "gz"}},
        ],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    layout
}

fn xattr(p: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let f = fs::File::open(p).ok()?;
    burrow_sys::fgetxattr(std::os::fd::AsFd::as_fd(&f), name).ok()
}

/// Checks an image made by [`build_layout`], as layers, through overlayfs and flattened.
fn check_image(store: &Store, rec: &ImageRecord, work: &Path) {
    let layers = store.layers_for(rec);
    assert_eq!(layers.len(), 2);
    let (top, bottom) = (&layers[0], &layers[1]);
    // Layer form.
    let wh = fs::symlink_metadata(top.join("etc/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert_eq!(
        xattr(&top.join("var/cache"), c"user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    let su = fs::metadata(bottom.join("bin/su-test")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(
        fs::metadata(bottom.join("bin/hardlinked")).unwrap().ino(),
        fs::metadata(bottom.join("bin/busybox")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(bottom.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        xattr(&bottom.join("etc/kept"), c"user.test").as_deref(),
        Some(&b"value"[..])
    );
    assert_eq!(
        xattr(&bottom.join("bin/ping-test"), c"security.capability").as_deref(),
        Some(CAP_NET_RAW_EP)
    );
    assert_eq!(
        fs::metadata(bottom.join("home/user/f")).unwrap().uid(),
        1000
    );
    // Config.
    let c = store.config(rec).unwrap();
    let cc = c.config().as_ref().unwrap();
    assert_eq!(
        cc.entrypoint().as_deref(),
        Some(&["/bin/sh".to_owned()][..])
    );
    assert_eq!(cc.working_dir().as_deref(), Some("/home/user"));
    assert_eq!(cc.user().as_deref(), Some("1000:1000"));
    assert_eq!(cc.stop_signal().as_deref(), Some("SIGQUIT"));
    assert_eq!(
        cc.exposed_ports().as_deref(),
        Some(&["80/tcp".to_owned()][..])
    );
    assert_eq!(cc.labels().as_ref().unwrap()["org.example"], "yes");
    // Through overlayfs with userxattr (the form a user namespace mounts).
    let w = tempfile::tempdir_in(work).unwrap();
    let work = w.path();
    let mnt = work.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let lower = format!("lowerdir={}:{},userxattr", top.display(), bottom.display());
    run(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &lower])
        .arg(&mnt));
    let seen = || {
        assert!(!mnt.join("etc/gone").exists());
        assert_eq!(fs::read_to_string(mnt.join("etc/kept")).unwrap(), "kept");
        let cache: Vec<_> = fs::read_dir(mnt.join("var/cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(cache, ["new"]);
        let out = Command::new("chroot")
            .arg(&mnt)
            .args(["/bin/sh", "-c", "echo from-image"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "from-image\n");
    };
    seen();
    run(Command::new("umount").arg(&mnt));
    // Flattened.
    let flat = work.join("flat");
    fs::create_dir_all(&flat).unwrap();
    store.flatten(rec, &flat).unwrap();
    assert!(!flat.join("etc/gone").exists());
    let cache: Vec<_> = fs::read_dir(flat.join("var/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cache, ["new"]);
    assert_eq!(
        fs::metadata(flat.join("bin/su-test")).unwrap().mode() & 0o7777,
        0o4755
    );
}

fn skopeo_push(layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
    let mut c = Command::new("skopeo");
    c.args(["--insecure-policy", "copy", "--all", "--preserve-digests"])
        .args(extra);
    c.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    run(&mut c);
}

fn no_progress(_: burrow_image::registry::Progress) {}

#[test]
fn pull_over_tls_with_htpasswd_auth() {
    if !require() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = build_layout(t.path());
    let (ca, crt, key) = make_certs(t.path());
    let htp = t.path().join("htpasswd");
    fs::write(
        &htp,
        run(Command::new("htpasswd").args(["-Bbn", "tester", "s3cret-pw"])),
    )
    .unwrap();
    let reg = start_registry(&t.path().join("reg"), Some((&crt, &key)), Some(&htp));
    let certdir = t.path().join("certs.d");
    fs::create_dir_all(&certdir).unwrap();
    fs::copy(&ca, certdir.join("ca.crt")).unwrap();
    let cd = certdir.display().to_string();
    skopeo_push(
        &layout,
        "1",
        &format!("{}/test/busybox:1", reg.addr),
        &["--dest-cert-dir", &cd, "--dest-creds", "tester:s3cret-pw"],
    );
    skopeo_push(
        &layout,
        "multi",
        &format!("{}/test/busybox:multi", reg.addr),
        &["--dest-cert-dir", &cd, "--dest-creds", "tester:s3cret-pw"],
    );

    let auth = |user: &str, pw: &str| {
        let f = t.path().join(format!("auth-{user}-{pw}.json"));
        let c = Credentials {
            username: user.into(),
            password: pw.into(),
        };
        fs::write(
            &f,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
                reg.addr,
                auth_entry(&c)
            ),
        )
        .unwrap();
        f
    };
    let client = |files: Vec<PathBuf>| {
        Client::new(ClientOptions {
            registries: RegistriesConf::default(),
            extra_ca: Some(ca.clone()),
            auth_files: files,
        })
        .unwrap()
    };
    let store = Store::open(t.path().join("store")).unwrap();
    let r = format!("{}/test/busybox:1", reg.addr);
    // Nothing sent: the error says so.
    let nobody = t.path().join("no-such-auth.json");
    match store
        .pull(&client(vec![nobody]), &r, None, &no_progress)
        .unwrap_err()
    {
        RegistryError::Unauthorized {
            sent_credentials: false,
            ..
        } => {}
        e => panic!("{e:?}"),
    }
    // Wrong password: said, and the secret is not in the message.
    let e = store
        .pull(
            &client(vec![auth("tester", "wrong-pw")]),
            &r,
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Unauthorized {
                sent_credentials: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("wrong-pw"));
    // Right credentials.
    let c = client(vec![auth("tester", "s3cret-pw")]);
    let id = store.pull(&c, &r, None, &no_progress).unwrap();
    let rec = store.resolve(&r).unwrap();
    assert_eq!(rec.id, id);
    check_image(&store, &rec, t.path());
    // Unknown image.
    let e = store
        .pull(
            &c,
            &format!("{}/test/nothing:1", reg.addr),
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::UnknownImage(_)), "{e:?}");
    // A manifest list: the host's platform by default, another when asked, none when absent.
    let m = format!("{}/test/busybox:multi", reg.addr);
    let host = store.pull(&c, &m, None, &no_progress).unwrap();
    assert_eq!(host, id);
    let other =
        burrow_image::platform::Platform::parse(&format!("linux/{}", other_arch())).unwrap();
    let oid = store.pull(&c, &m, Some(&other), &no_progress).unwrap();
    assert_ne!(oid, id);
    let mips = burrow_image::platform::Platform::parse("linux/mips64le").unwrap();
    let e = store.pull(&c, &m, Some(&mips), &no_progress).unwrap_err();
    assert!(
        matches!(e, RegistryError::NoPlatform { .. }) && e.to_string().contains("--platform"),
        "{e}"
    );
    // The CA not given: the certificate is refused, and the message says how to trust it.
    let untrusted = Client::new(ClientOptions {
        registries: RegistriesConf::default(),
        extra_ca: None,
        auth_files: vec![auth("tester", "s3cret-pw")],
    })
    .unwrap();
    let e = store.pull(&untrusted, &r, None, &no_progress).unwrap_err();
    assert!(matches!(e, RegistryError::Untrusted { .. }), "{e:?}");
    assert!(e.to_string().contains("--tls-verify=false"), "{e}");
    // Marked insecure (`--tls-verify=false`, or `insecure = true`): HTTPS without the check,
    // as podman does; the credentials still go over TLS.
    let insecure = Client::new(ClientOptions {
        registries: RegistriesConf {
            insecure: vec![reg.addr.clone()],
            ..RegistriesConf::default()
        },
        extra_ca: None,
        auth_files: vec![auth("tester", "s3cret-pw")],
    })
    .unwrap();
    assert_eq!(store.pull(&insecure, &r, None, &no_progress).unwrap(), id);
    // Both images share their layers on disk: two layer directories in all.
    let dirs = fs::read_dir(store.root().join("layers"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 2);
}

#[test]
fn pull_plain_http_concurrently_and_refuse_a_corrupt_blob() {
    if !require() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = build_layout(t.path());
    let reg = start_registry(&t.path().join("reg"), None, None);
    skopeo_push(
        &layout,
        "1",
        &format!("{}/test/busybox:1", reg.addr),
        &["--dest-tls-verify=false"],
    );
    let r = format!("{}/test/busybox:1", reg.addr);
    let root = t.path().join("store");
    let ids: Vec<Digest> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let store = Store::open(&root).unwrap();
                    let c = Client::new(ClientOptions::default()).unwrap();
                    store.pull(&c, &r, None, &no_progress).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids[0], ids[1]);
    let store = Store::open(&root).unwrap();
    check_image(&store, &store.resolve(&r).unwrap(), t.path());
    assert_eq!(store.images().unwrap().len(), 1);

    // Corrupt the zstd layer's data in the registry: a fresh store keeps nothing of it.
    let rec = store.resolve(&r).unwrap();
    let bad = &rec.layers[1].blob;
    let data = reg
        .storage
        .join("docker/registry/v2/blobs/sha256")
        .join(&bad.hex()[..2])
        .join(bad.hex())
        .join("data");
    let mut bytes = fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&data, bytes).unwrap();
    let fresh = Store::open(t.path().join("fresh")).unwrap();
    let e = fresh
        .pull(
            &Client::new(ClientOptions::default()).unwrap(),
            &r,
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Store(StoreError::DigestMismatch { .. })),
        "{e:?}"
    );
    assert!(!fresh.has_blob(bad));
    assert!(fresh.images().unwrap().is_empty());
    let tmp = fs::read_dir(fresh.root().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0);
}

#[test]
fn import_archives_layouts_tarballs_and_directories() {
    if !require() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = build_layout(t.path());
    let store = Store::open(t.path().join("store")).unwrap();
    // The layout itself.
    let id = store.import(&layout, Some("layout:1")).unwrap();
    check_image(&store, &store.resolve("layout:1").unwrap(), t.path());
    // oci-archive and docker-archive made by skopeo.
    let oa = t.path().join("img.oci.tar");
    let da = t.path().join("img.docker.tar");
    run(Command::new("skopeo")
        .args(["--insecure-policy", "copy"])
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("oci-archive:{}:1", oa.display())));
    run(Command::new("skopeo")
        .args(["--insecure-policy", "copy"])
        .arg(format!("oci:{}:gz", layout.display()))
        .arg(format!("docker-archive:{}:example/busybox:1", da.display())));
    let oid = store.import(&oa, Some("ociarchive:1")).unwrap();
    assert_eq!(oid, id);
    check_image(&store, &store.resolve("ociarchive:1").unwrap(), t.path());
    let did = store.import(&da, None).unwrap();
    let drec = store.resolve("example/busybox:1").unwrap();
    assert_eq!(drec.id, did);
    // Same diff-ids as the layout's image (gzip instead of zstd): same layer directories.
    assert_eq!(
        drec.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
        store
            .resolve("layout:1")
            .unwrap()
            .layers
            .iter()
            .map(|l| &l.diff_id)
            .collect::<Vec<_>>()
    );
    check_image(&store, &drec, t.path());
    // A plain rootfs tarball in each compression, and a directory.
    let stage = t.path().join("stage1");
    for (flag, ext) in [
        ("", "tar"),
        ("-z", "tar.gz"),
        ("-J", "tar.xz"),
        ("--zstd", "tar.zst"),
    ] {
        let f = t.path().join(format!("rootfs.{ext}"));
        let mut c = Command::new("tar");
        c.args(["--xattrs", "--numeric-owner", "-c"]);
        if !flag.is_empty() {
            c.arg(flag);
        }
        run(c.arg("-f").arg(&f).arg("-C").arg(&stage).arg("."));
        store
            .import(&f, Some(&format!("rootfs:{}", ext.replace('.', "-"))))
            .unwrap();
        let rec = store
            .resolve(&format!("rootfs:{}", ext.replace('.', "-")))
            .unwrap();
        let l = &store.layers_for(&rec)[0];
        assert_eq!(
            fs::metadata(l.join("bin/su-test")).unwrap().mode() & 0o7777,
            0o4755,
            "{ext}"
        );
        assert!(l.join("etc/gone").is_file());
    }
    store.import(&stage, Some("fromdir")).unwrap();
    let rec = store.resolve("fromdir").unwrap();
    let l = &store.layers_for(&rec)[0];
    assert_eq!(fs::read_to_string(l.join("etc/kept")).unwrap(), "kept");
    assert_eq!(fs::metadata(l.join("home/user/f")).unwrap().uid(), 1000);
    // An OCI layout made by umoci (an image without layers).
    let ul = t.path().join("umoci");
    run(Command::new("umoci").arg("init").arg("--layout").arg(&ul));
    run(Command::new("umoci")
        .arg("new")
        .arg("--image")
        .arg(format!("{}:empty", ul.display())));
    store.import(&ul, Some("umoci:empty")).unwrap();
    assert!(store.resolve("umoci:empty").unwrap().layers.is_empty());
}

/// Child mode for the kill test: pulls, removes, pulls again, forever.
#[test]
fn child_pull_loop() {
    let (Ok(root), Ok(r)) = (
        std::env::var("BURROW_IMAGE_CHILD_ROOT"),
        std::env::var("BURROW_IMAGE_CHILD_REF"),
    ) else {
        return;
    };
    let s = Store::open(&root).unwrap();
    let c = Client::new(ClientOptions::default()).unwrap();
    loop {
        s.pull(&c, &r, None, &no_progress).unwrap();
        s.remove(&r, true, &|_| None).unwrap();
    }
}

/// Blobs hash to their names, layers have reports, images point at what exists.
fn assert_consistent(root: &Path) {
    for e in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            Digest::of(&fs::read(e.path()).unwrap()).hex(),
            e.file_name().to_str().unwrap()
        );
    }
    for e in fs::read_dir(root.join("layers")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
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
            assert!(s.has_blob(&l.blob) && s.layer_path(&l.diff_id).is_dir());
        }
    }
}

#[test]
fn sigkill_during_pulls_leaves_storage_consistent() {
    if !require() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = build_layout(t.path());
    let reg = start_registry(&t.path().join("reg"), None, None);
    let r = format!("{}/test/busybox:1", reg.addr);
    skopeo_push(&layout, "1", &r, &["--dest-tls-verify=false"]);
    let root = t.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let ms = 10 + seed % 400;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_pull_loop",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BURROW_IMAGE_CHILD_ROOT", &root)
            .env("BURROW_IMAGE_CHILD_REF", &r)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        child.wait().unwrap();
        if root.join("blobs").exists() {
            assert_consistent(&root);
        }
    }
    let s = Store::open(&root).unwrap();
    s.pull(
        &Client::new(ClientOptions::default()).unwrap(),
        &r,
        None,
        &no_progress,
    )
    .unwrap();
    s.prune(&|_| None).unwrap();
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_consistent(&root);
    check_image(&s, &s.resolve(&r).unwrap(), t.path());
}
