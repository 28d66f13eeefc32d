//! The fixtures of the `burrow run IMAGE` tests (`tests/tests/run_image.rs`): OCI image
//! layouts built here by hand (tar, sha256sum, JSON), imported with the front end's own
//! `burrow image import` as a test user with a real subordinate range.
//!
//! The layouts share two uncompressed layers:
//! - base: the harness's busybox template, `/etc/passwd` (root, `app` 1000:1000 with home
//!   `/home/app`), `/etc/group` (root, `app` 1000, `staff` 50), `/home/app` and
//!   `/data/owned1000` owned by 1000:1000, `/data/gone`, `/srv/marker`;
//! - top: a whiteout `/data/.wh.gone` and `/etc/top-layer`.
//!
//! and differ in their configs (see [`CONFIGS`]).

use crate::*;
use std::fs;
use std::path::{Path, PathBuf};

/// (layout name, config's `config` object).
pub const CONFIGS: &[(&str, &str)] = &[
    (
        "base",
        r#"{"Env":["PATH=/usr/bin:/bin","FOO=image","BAR=image"],"Cmd":["/bin/sh"],"WorkingDir":"/srv","StopSignal":"SIGUSR1","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Labels":{"org.test.kind":"base","maintainer":"burrow tests"}}"#,
    ),
    (
        "ep",
        r#"{"Env":["PATH=/bin"],"Entrypoint":["/bin/echo","ep"],"Cmd":["cmd-default"]}"#,
    ),
    (
        "user",
        r#"{"Env":["PATH=/bin"],"Cmd":["/bin/sh","-c","id -u; id -g; echo $HOME"],"User":"app:staff"}"#,
    ),
];

/// Builds the layouts under a new directory (root-owned, readable by all): `DIR/NAME/` for
/// each of [`CONFIGS`].
pub fn build_layouts() -> PathBuf {
    remove_stale_tempdirs(&["oci-layouts"]);
    let dir = tempdir("oci-layouts");
    let script = r#"
set -euo pipefail
D=$1; T=$2
st=$D/stage; mkdir -p $st/base $st/top
cp -a $T/. $st/base/
mkdir -p $st/base/etc $st/base/home/app $st/base/data $st/base/srv
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n' > $st/base/etc/passwd
printf 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n' > $st/base/etc/group
echo owned > $st/base/data/owned1000
echo gone > $st/base/data/gone
echo marker > $st/base/srv/marker
chown -R 0:0 $st/base
chown 1000:1000 $st/base/home/app $st/base/data/owned1000
mkdir -p $st/top/data $st/top/etc
: > $st/top/data/.wh.gone
echo top > $st/top/etc/top-layer
chown -R 0:0 $st/top
mkdir -p $D/blobs
for l in base top; do
  tar -C $st/$l --numeric-owner --sort=name --mtime=@0 -cf $D/blobs/$l.tar .
done
sha() { sha256sum "$1" | cut -d' ' -f1; }
bsha=$(sha $D/blobs/base.tar); tsha=$(sha $D/blobs/top.tar)
bsize=$(stat -c %s $D/blobs/base.tar); tsize=$(stat -c %s $D/blobs/top.tar)
arch=$(dpkg --print-architecture)
shift 2
while [ $# -gt 0 ]; do
  name=$1; cfg=$2; shift 2
  L=$D/$name; mkdir -p $L/blobs/sha256
  cp $D/blobs/base.tar $L/blobs/sha256/$bsha
  cp $D/blobs/top.tar $L/blobs/sha256/$tsha
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
    "$arch" "$cfg" "$bsha" "$tsha" > $L/config.json
  csha=$(sha $L/config.json); csize=$(stat -c %s $L/config.json); mv $L/config.json $L/blobs/sha256/$csha
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$csha" "$csize" "$bsha" "$bsize" "$tsha" "$tsize" > $L/manifest.json
  msha=$(sha $L/manifest.json); msize=$(stat -c %s $L/manifest.json); mv $L/manifest.json $L/blobs/sha256/$msha
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' "$msha" "$msize" > $L/index.json
  echo '{"imageLayoutVersion":"1.0.0"}' > $L/oci-layout
done
rm -rf $st $D/blobs
chmod -R a+rX $D
"#;
    let mut args: Vec<String> = vec![
        dir.display().to_string(),
        busybox_template().display().to_string(),
    ];
    for (n, c) in CONFIGS {
        args.push((*n).to_owned());
        args.push((*c).to_owned());
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("build-layouts")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the OCI layouts failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The layouts, built once per test process.
pub fn layouts() -> &'static Path {
    static L: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    L.get_or_init(build_layouts)
}

/// Every layout directory that holds `name`'s image.
pub fn layout(name: &str) -> PathBuf {
    let p = layouts().join(name);
    assert!(p.join("index.json").is_file(), "{}", p.display());
    p
}

/// Removes a directory tree whatever its owners (the test runs as root).
pub fn rmtree(p: &Path) {
    let _ = fs::remove_dir_all(p);
}

/// The test user of an image test binary, with a real subordinate range, and the layouts
/// built (once per test binary).
#[derive(Debug)]
pub struct ImageUser {
    /// The user.
    pub user: TestUser,
    /// (subuid start, subgid start, count).
    pub sub: (u32, u32, u32),
}

/// The [`ImageUser`] of this test binary: `tag` names the user on the first call.
pub fn image_user(tag: &str) -> &'static ImageUser {
    static FX: std::sync::OnceLock<ImageUser> = std::sync::OnceLock::new();
    FX.get_or_init(|| {
        let user = TestUser::get(tag);
        let sub = user.ensure_real_subids();
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );
        layouts();
        ImageUser { user, sub }
    })
}

/// One test's world: the user, a private XDG_RUNTIME_DIR and XDG_DATA_HOME (so a private
/// image store and container directories), the images of [`CONFIGS`] imported as `base`,
/// `ep` and `user`. Removed (every container rm -f'd first) on drop.
#[derive(Debug)]
pub struct ImageEnv {
    /// The user.
    pub user: TestUser,
    /// XDG_RUNTIME_DIR (XDG_DATA_HOME is its `data`).
    pub xdg: PathBuf,
    /// More environment for every command.
    pub extra_env: Vec<(String, String)>,
}

impl ImageEnv {
    /// A new world named `tag`, for `fx`'s user.
    pub fn new(fx: &ImageUser, tag: &str) -> ImageEnv {
        let xdg = tempdir(tag);
        sh(&format!(
            "chown {}:{} {d} && chmod 0700 {d}",
            fx.user.uid,
            fx.user.gid,
            d = xdg.display()
        ));
        let e = ImageEnv {
            user: fx.user.clone(),
            xdg,
            extra_env: Vec::new(),
        };
        for (name, _) in CONFIGS {
            let out = e.b(&[
                "image",
                "import",
                "--name",
                name,
                layout(name).to_str().unwrap_or_default(),
            ]);
            assert_eq!(out.code, Some(0), "import {name}: {out:?}");
        }
        e
    }

    /// XDG_DATA_HOME.
    pub fn data_home(&self) -> PathBuf {
        self.xdg.join("data")
    }

    /// `$XDG_DATA_HOME/burrow/containers`.
    pub fn containers(&self) -> PathBuf {
        self.data_home().join("burrow/containers")
    }

    /// `$XDG_DATA_HOME/burrow/storage`.
    pub fn storage(&self) -> PathBuf {
        self.data_home().join("burrow/storage")
    }

    /// Runs `script` (bash, `$B` is burrow) as the user in this world.
    pub fn script(&self, script: &str, args: &[&str]) -> Ran {
        let mut r = Run::new(&self.user)
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("XDG_RUNTIME_DIR", self.xdg.to_str().unwrap_or_default())
            .env(
                "XDG_DATA_HOME",
                self.data_home().to_str().unwrap_or_default(),
            )
            .env("B", helper("burrow").to_str().unwrap_or_default());
        for (k, v) in &self.extra_env {
            r = r.env(k, v);
        }
        r.script(script, args)
    }

    /// `burrow ARGS...`.
    pub fn b(&self, args: &[&str]) -> Ran {
        self.script("exec \"$B\" \"$@\"", args)
    }

    /// `burrow run --rm ARGS...`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        self.b(&all)
    }

    /// Names of entries of the containers' directory (hidden ones too).
    pub fn container_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.containers())
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for ImageEnv {
    fn drop(&mut self) {
        let names = self.b(&["ls", "-a", "--format", "json"]).stdout;
        for n in names
            .split("\"name\":")
            .skip(1)
            .filter_map(|s| s.split('"').nth(1))
        {
            let _ = self.b(&["rm", "-f", n]);
        }
        rmtree(&self.xdg);
    }
}
