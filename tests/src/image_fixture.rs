//! The fixtures of the image command tests (`tests/tests/image_cli.rs`): a real
//! `docker-registry` (Debian's package, the distribution registry) on 127.0.0.1, plain HTTP or
//! TLS from a test CA (made with `openssl`) with htpasswd auth; a multi-layer busybox image
//! built here (a deletion, an opaque directory, a hard link, a setuid file, a file owned by
//! uid 1000) and pushed with `skopeo`; a test user with real subordinate ranges; and a private
//! environment per test (XDG_DATA_HOME for the store, XDG_RUNTIME_DIR for auth.json and
//! container state, XDG_CONFIG_HOME for registries.conf and certs.d) so tests never share a
//! store.
//!
//! Needs root, the packages of scripts/install-test-deps.sh (docker-registry, skopeo,
//! openssl, apache2-utils, busybox-static). Skipped with a message when they are missing, a
//! failure under CI=true.

use crate::*;
use sha2::Digest as _;
use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The test registry's user and password.
pub const REG_USER: &str = "tester";
pub const REG_PASSWORD: &str = "s3cret-pw";

/// False (with a message) when this machine cannot run the image tests; panics under CI=true.
pub fn require_image_tools() -> bool {
    if !require_root() {
        return false;
    }
    let mut extra = Vec::new();
    if !Path::new("/bin/busybox").exists() {
        extra.push("/bin/busybox (busybox-static)".to_owned());
    }
    require_tools(
        "image tests",
        &["docker-registry", "skopeo", "openssl", "htpasswd", "tar"],
        extra,
    )
}

fn run(cmd: &mut Command) -> String {
    run_ok(cmd)
}

/// A running registry, killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// With TLS: the directory holding the test CA as `ca.crt` (skopeo's and burrow's
    /// `--cert-dir`).
    pub cert_dir: Option<PathBuf>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGTERM: the watchdog's trap stops the registry.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a registry under `dir`: plain HTTP, or TLS with htpasswd auth (user
    /// [`REG_USER`], password [`REG_PASSWORD`]).
    pub fn start(dir: &Path, tls_auth: bool) -> Registry {
        fs::create_dir_all(dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.join("storage");
        fs::create_dir_all(&storage).unwrap();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        let mut cert_dir = None;
        if tls_auth {
            let (ca, crt, key) = make_certs(dir);
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                crt.display(),
                key.display()
            ));
            let htp = dir.join("htpasswd");
            fs::write(
                &htp,
                run(Command::new("htpasswd").args(["-Bbn", REG_USER, REG_PASSWORD])),
            )
            .unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
                htp.display()
            ));
            let cd = dir.join("certs");
            fs::create_dir_all(&cd).unwrap();
            fs::copy(&ca, cd.join("ca.crt")).unwrap();
            fs::set_permissions(cd.join("ca.crt"), fs::Permissions::from_mode(0o644)).unwrap();
            cert_dir = Some(cd);
        }
        let cfgp = dir.join("config.yml");
        fs::write(&cfgp, cfg).unwrap();
        // The registries live in statics, which are never dropped: a watchdog kills the
        // registry when the test process is gone, and the registry gets none of the test's
        // descriptors (e.g. the flock a caller holds around `cargo test`).
        let child = Command::new("bash")
            .arg("-c")
            .arg(
                r#"for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
docker-registry serve "$1" </dev/null & r=$!
trap 'kill $r 2>/dev/null' EXIT TERM
while kill -0 "$2" 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done"#,
            )
            .arg("registry-watchdog")
            .arg(&cfgp)
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        let r = Registry {
            child,
            addr: addr.clone(),
            cert_dir,
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

    /// Pushes tag `tag` of the OCI layout `layout` as `REPO:TAG` with skopeo.
    pub fn push(&self, layout: &Path, tag: &str, dest: &str) {
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy", "--all", "--preserve-digests"]);
        match &self.cert_dir {
            Some(cd) => {
                c.arg("--dest-cert-dir")
                    .arg(cd)
                    .arg("--dest-creds")
                    .arg(format!("{REG_USER}:{REG_PASSWORD}"));
            }
            None => {
                c.arg("--dest-tls-verify=false");
            }
        }
        c.arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.addr));
        run(&mut c);
    }
}

/// A test CA and a server certificate for 127.0.0.1: (ca.crt, server.crt, server.key).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=burrow image-cli test CA"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
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
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-out")
        .arg(p("server.crt"))
        .arg("-extfile")
        .arg(p("ext.cnf")));
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

fn sha256_hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tar_dir(stage: &Path, out: &Path) {
    run(Command::new("tar")
        .args(["--format=posix", "--numeric-owner", "--sort=name", "-cf"])
        .arg(out)
        .arg("-C")
        .arg(stage)
        .arg("."));
}

/// Writes `data` as a blob of `layout`; returns (digest "sha256:HEX", size).
fn put(layout: &Path, data: &[u8]) -> (String, usize) {
    let hex = sha256_hex(data);
    fs::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    (format!("sha256:{hex}"), data.len())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    gz.finish().unwrap()
}

/// The host's architecture as registries name it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// An architecture that is not the host's.
pub fn other_arch() -> &'static str {
    if host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    }
}

/// Makes an OCI layout at `dir/NAME` with one tag per (tag, layer stages) entry; every image
/// has the same config (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ExposedPorts,
/// Labels).
fn layout_of(dir: &Path, name: &str, images: &[(&str, Vec<PathBuf>)]) -> PathBuf {
    let layout = dir.join(name);
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut manifests = Vec::new();
    for (tag, stages) in images {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, s) in stages.iter().enumerate() {
            let t = dir.join(format!("{name}-{tag}-{i}.tar"));
            tar_dir(s, &t);
            let raw = fs::read(&t).unwrap();
            diff_ids.push(format!("sha256:{}", sha256_hex(&raw)));
            let (d, n) = put(&layout, &gzip(&raw));
            layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
        }
        let cfg = serde_json::json!({
            "created": "2024-01-02T03:04:05Z",
            "architecture": host_arch(), "os": "linux",
            "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hi"], "Env": ["PATH=/bin", "A=1"],
                       "WorkingDir": "/home/user", "User": "1000:1000", "StopSignal": "SIGQUIT",
                       "ExposedPorts": {"80/tcp": {}}, "Labels": {"org.example": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let (cd, cn) = put(&layout, &serde_json::to_vec(&cfg).unwrap());
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": layers,
        });
        let (md, mn) = put(&layout, &serde_json::to_vec(&m).unwrap());
        manifests.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
            "annotations": {"org.opencontainers.image.ref.name": tag}}));
    }
    let idx = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    fs::write(layout.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    layout
}

/// The test images, built once per test process.
#[derive(Debug)]
pub struct Images {
    /// OCI layout: tag `1` is the two-layer busybox image (layer 1: busybox and its `sh`
    /// symlink, `bin/hardlinked` (a hard link to busybox), `bin/su-test` (mode 4755),
    /// `etc/gone`, `etc/kept`, `var/cache/old`, `home/user/f` owned by 1000:1000; layer 2:
    /// deletes `etc/gone`, makes `var/cache` opaque and adds `var/cache/new`); tag `big-id`
    /// has one file owned by uid 70000 (outside a 65536-id range); tag `other-arch` is an
    /// index with only a manifest for [`other_arch`].
    pub layout: PathBuf,
    /// Layer 1's tree, for `image import` of a directory (root-owned; busybox inside).
    pub stage1: PathBuf,
    /// A rootfs tarball (gzip) of layer 1's tree.
    pub rootfs_tgz: PathBuf,
}

pub fn images() -> &'static Images {
    static I: OnceLock<Images> = OnceLock::new();
    I.get_or_init(|| {
        remove_stale_tempdirs(&["image-fixture", "img-registry"]);
        let dir = tempdir("image-fixture");
        let s1 = dir.join("stage1");
        for d in ["bin", "etc", "var/cache", "home/user", "tmp"] {
            fs::create_dir_all(s1.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", s1.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", s1.join("bin/sh")).unwrap();
        fs::hard_link(s1.join("bin/busybox"), s1.join("bin/hardlinked")).unwrap();
        fs::write(s1.join("bin/su-test"), "suid").unwrap();
        fs::set_permissions(s1.join("bin/su-test"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::write(s1.join("etc/gone"), "deleted above").unwrap();
        fs::write(s1.join("etc/kept"), "kept").unwrap();
        fs::write(s1.join("var/cache/old"), "hidden by an opaque dir").unwrap();
        fs::write(s1.join("home/user/f"), "mine").unwrap();
        std::os::unix::fs::chown(s1.join("home/user/f"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::chown(s1.join("home/user"), Some(1000), Some(1000)).unwrap();
        fs::set_permissions(s1.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let s2 = dir.join("stage2");
        fs::create_dir_all(s2.join("etc")).unwrap();
        fs::create_dir_all(s2.join("var/cache")).unwrap();
        fs::write(s2.join("etc/.wh.gone"), "").unwrap();
        fs::write(s2.join("var/cache/.wh..wh..opq"), "").unwrap();
        fs::write(s2.join("var/cache/new"), "new").unwrap();
        let big = dir.join("stage-big");
        fs::create_dir_all(big.join("data")).unwrap();
        fs::write(big.join("data/far"), "far away").unwrap();
        std::os::unix::fs::chown(big.join("data/far"), Some(70000), Some(70000)).unwrap();
        let layout = layout_of(
            &dir,
            "layout",
            &[
                ("1", vec![s1.clone(), s2.clone()]),
                ("big-id", vec![big.clone()]),
            ],
        );
        // Tag `other-arch`: an index whose only manifest is for another architecture.
        let idx_path = layout.join("index.json");
        let mut top: serde_json::Value =
            serde_json::from_slice(&fs::read(&idx_path).unwrap()).unwrap();
        let mut m = top["manifests"][0].clone();
        m.as_object_mut().unwrap().remove("annotations");
        m["platform"] = serde_json::json!({"os": "linux", "architecture": other_arch()});
        let other = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m]});
        let (od, on) = put(&layout, &serde_json::to_vec(&other).unwrap());
        top["manifests"].as_array_mut().unwrap().push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": od, "size": on,
            "annotations": {"org.opencontainers.image.ref.name": "other-arch"}}));
        fs::write(&idx_path, serde_json::to_vec(&top).unwrap()).unwrap();
        let rootfs_tgz = dir.join("rootfs.tar.gz");
        run(Command::new("tar")
            .args(["--numeric-owner", "-czf"])
            .arg(&rootfs_tgz)
            .arg("-C")
            .arg(&s1)
            .arg("."));
        // Everything readable by the test users (they import from here).
        sh(&format!("chmod -R a+rX {}", dir.display()));
        Images {
            layout,
            stage1: s1,
            rootfs_tgz,
        }
    })
}

/// The image test user (real subordinate ranges): (user, subuid start, subgid start, count).
pub fn image_user() -> &'static (TestUser, u32, u32, u32) {
    static U: OnceLock<(TestUser, u32, u32, u32)> = OnceLock::new();
    U.get_or_init(|| {
        let u = TestUser::get("img");
        let (su, sg, n) = u.ensure_real_subids();
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );
        (u, su, sg, n)
    })
}

/// A private environment for one test: its own store, runtime directory and config
/// directory, owned by the user and removed on drop.
#[derive(Debug)]
pub struct Env {
    pub dir: PathBuf,
    pub user: TestUser,
}

impl Env {
    pub fn new(user: &TestUser, tag: &str) -> Env {
        let dir = tempdir(&format!("img-{tag}"));
        for d in ["data", "run", "config"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        sh(&format!(
            "chown -R {}:{} {d} && chmod 0700 {d}/run",
            user.uid,
            user.gid,
            d = dir.display()
        ));
        Env {
            dir,
            user: user.clone(),
        }
    }

    /// The store root.
    pub fn store(&self) -> PathBuf {
        self.dir.join("data/burrow/storage")
    }

    /// Writes `$XDG_CONFIG_HOME/containers/registries.conf`.
    pub fn registries_conf(&self, text: &str) {
        let d = self.dir.join("config/containers");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("registries.conf"), text).unwrap();
        sh(&format!(
            "chown -R {}:{} {}",
            self.user.uid,
            self.user.gid,
            self.dir.join("config").display()
        ));
    }

    /// Runs a bash script as the user in this environment: `$B` is the installed front end,
    /// BURROW_HELPERS_DIR is set.
    pub fn script(&self, script: &str, args: &[&str]) -> Ran {
        Run::new(&self.user)
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("B", helper("burrow").to_str().unwrap())
            .env("XDG_DATA_HOME", self.dir.join("data").to_str().unwrap())
            .env("XDG_RUNTIME_DIR", self.dir.join("run").to_str().unwrap())
            .env("XDG_CONFIG_HOME", self.dir.join("config").to_str().unwrap())
            .script(script, args)
    }

    /// `burrow ARGS...` as the user in this environment.
    pub fn burrow(&self, args: &[&str]) -> Ran {
        self.script("exec \"$B\" \"$@\"", args)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
