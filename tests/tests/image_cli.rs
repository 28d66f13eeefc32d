//! The image commands of the front end (issue 12) against real parts: Debian's
//! `docker-registry` on 127.0.0.1 (plain HTTP, and TLS from a test CA with htpasswd auth), a
//! multi-layer busybox image made by the fixture and pushed with `skopeo`, the installed
//! `burrow` run as an unprivileged test user with real subordinate ranges, whose store-writing
//! commands re-execute themselves in a user namespace through the setuid helpers.
//! Fixtures: `tests/src/image_fixture.rs`. Nothing skips under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::image_fixture::*;
use burrow_tests::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

macro_rules! require_images {
    () => {
        if !require_image_tools() {
            return;
        }
    };
}

/// One plain-HTTP registry for the tests that need no auth, with the test image as
/// `test/busybox:1` and `test/bigid:1` (pushed once).
fn plain() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let i = images();
        let r = Registry::start(&tempdir("img-registry"), false);
        r.push(&i.layout, "1", "test/busybox:1");
        r.push(&i.layout, "big-id", "test/bigid:1");
        r.push(&i.layout, "other-arch", "test/other:1");
        r
    })
}

/// The TLS + htpasswd registry, with the test image as `private/busybox:1`.
fn private() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let i = images();
        let r = Registry::start(&tempdir("img-registry-tls"), true);
        r.push(&i.layout, "1", "private/busybox:1");
        r
    })
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The layer directories of an image, bottom first, from `image inspect`.
fn layer_paths(env: &Env, image: &str) -> Vec<PathBuf> {
    let out = env.burrow(&["image", "inspect", image]);
    check(&out, 0, &out.stdout, "");
    json(&out.stdout)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| PathBuf::from(l["path"].as_str().unwrap()))
        .collect()
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

// ---------------------------------------------------------------- pull and owners

#[test]
fn pull_maps_owners_to_the_subordinate_range_and_keeps_setuid() {
    require_images!();
    let (user, su, sg, _) = image_user();
    let reg = plain();
    let env = Env::new(user, "pull");
    let r = format!("{}/test/busybox:1", reg.addr);
    let out = env.burrow(&["pull", &r]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = out.stdout.trim().to_owned();
    assert!(is_hex_id(&id), "stdout is the image id: {out:?}");
    // Not a terminal: one line per layer, on stderr.
    assert!(
        out.stderr
            .starts_with(&format!("pulling {}/test/busybox:1 (2 layers)\n", reg.addr)),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches(" done\n").count(), 2, "{}", out.stderr);
    let layers = layer_paths(&env, &r);
    assert_eq!(layers.len(), 2);
    let (bottom, top) = (&layers[0], &layers[1]);
    // Container 0 is the caller; 1000 is subuid_start + 999.
    assert_eq!(owner(&bottom.join("bin/busybox")), (user.uid, user.gid));
    assert_eq!(owner(&bottom.join("home/user/f")), (su + 999, sg + 999));
    assert_eq!(owner(&bottom.join("home/user")), (su + 999, sg + 999));
    let m = fs::metadata(bottom.join("bin/su-test")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid bit kept");
    assert_eq!(
        fs::metadata(bottom.join("bin/hardlinked")).unwrap().ino(),
        fs::metadata(bottom.join("bin/busybox")).unwrap().ino(),
        "hard link kept"
    );
    assert_eq!(
        fs::read_link(bottom.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let wh = fs::symlink_metadata(top.join("etc/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "the deletion is an overlayfs whiteout"
    );
    assert_eq!(
        fs::read_to_string(top.join("var/cache/new")).unwrap(),
        "new"
    );
    // A second pull finds everything in storage and gives the same id.
    let again = env.burrow(&["pull", "--quiet", &r]);
    check(&again, 0, &format!("{id}\n"), "");
}

#[test]
fn pull_quiet_prints_only_the_image_id() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "quiet");
    let out = env.burrow(&["pull", "-q", &format!("{}/test/busybox:1", reg.addr)]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert!(
        out.stdout.ends_with('\n') && is_hex_id(out.stdout.trim_end()),
        "{out:?}"
    );
    // `image pull` is the same command.
    let again = env.burrow(&[
        "image",
        "pull",
        "--quiet",
        &format!("{}/test/busybox:1", reg.addr),
    ]);
    check(&again, 0, &out.stdout, "");
}

#[test]
fn a_short_name_resolves_through_unqualified_search_registries() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "short");
    env.registries_conf(&format!(
        "unqualified-search-registries = [\"{}\"]\n",
        reg.addr
    ));
    let out = env.burrow(&["pull", "-q", "test/busybox:1"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let imgs = env.burrow(&["images", "--format", "json"]);
    let v = json(&imgs.stdout);
    assert_eq!(
        v[0]["names"],
        serde_json::json!([format!("{}/test/busybox:1", reg.addr)])
    );
}

// ---------------------------------------------------------------- images and inspect

#[test]
fn images_lists_table_and_json() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "images");
    let empty = env.burrow(&["images"]);
    check(
        &empty,
        0,
        &format!(
            "{:<40} {:<12} {:<14} {:<16} {:<12} {}\n",
            "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE"
        ),
        "",
    );
    check(&env.burrow(&["images", "--format", "json"]), 0, "[]\n", "");
    let r = format!("{}/test/busybox:1", reg.addr);
    let id = env.burrow(&["pull", "-q", &r]).stdout.trim().to_owned();
    let i = images();
    let dir_id = env
        .burrow(&[
            "image",
            "import",
            "--name",
            "dirbox:2",
            i.stage1.to_str().unwrap(),
        ])
        .stdout
        .trim()
        .to_owned();
    assert!(is_hex_id(&dir_id));
    let out = env.burrow(&["images"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<String> = norm(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert_eq!(lines[0], "REPOSITORY TAG IMAGE ID CREATED SIZE SHARED SIZE");
    // Newest first: the import (created now) above the pulled image (created 2024).
    assert!(
        lines[1].starts_with(&format!("localhost/dirbox 2 {} ", &dir_id[..12])),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!("{}/test/busybox 1 {} ", reg.addr, &id[..12])),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains(" years ago ") || lines[2].contains(" year ago "));
    let v = json(&env.burrow(&["images", "--format", "json"]).stdout);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let pulled = arr
        .iter()
        .find(|x| x["id"] == format!("sha256:{id}"))
        .unwrap();
    assert_eq!(pulled["names"], serde_json::json!([r]));
    assert_eq!(pulled["short_id"], &id[..12]);
    assert_eq!(pulled["layers"], 2);
    assert_eq!(pulled["created"], 1_704_164_645u64);
    assert!(pulled["size"].as_u64().unwrap() > 500_000);
    assert!(pulled["digest"].as_str().unwrap().starts_with("sha256:"));
    let keys: Vec<&String> = pulled.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created",
            "digest",
            "id",
            "layers",
            "names",
            "shared_size",
            "short_id",
            "size",
            "stored"
        ]
    );
    // `image ls` is the same.
    let ls = env.burrow(&["image", "ls", "--format", "json"]);
    assert_eq!(json(&ls.stdout), v);
}

#[test]
fn image_inspect_shows_id_digest_names_config_and_layers() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "inspect");
    let r = format!("{}/test/busybox:1", reg.addr);
    let id = env.burrow(&["pull", "-q", &r]).stdout.trim().to_owned();
    // By name, by short name of the id, by full id.
    for what in [r.as_str(), &id[..12], id.as_str()] {
        let out = env.burrow(&["image", "inspect", what]);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        let v = json(&out.stdout);
        assert_eq!(v["id"], format!("sha256:{id}"));
        assert_eq!(v["names"], serde_json::json!([r]));
        assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
        let c = &v["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh"]));
        assert_eq!(c["Cmd"], serde_json::json!(["-c", "echo hi"]));
        assert_eq!(c["Env"], serde_json::json!(["PATH=/bin", "A=1"]));
        assert_eq!(c["WorkingDir"], "/home/user");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["StopSignal"], "SIGQUIT");
        assert!(c["ExposedPorts"].to_string().contains("80/tcp"), "{c}");
        assert_eq!(c["Labels"], serde_json::json!({"org.example": "yes"}));
        assert_eq!(v["layers"].as_array().unwrap().len(), 2);
        let sum: u64 = v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum();
        assert_eq!(v["size"].as_u64().unwrap(), sum);
    }
    let unknown = env.burrow(&["image", "inspect", "nosuchimage"]);
    check(
        &unknown,
        125,
        "",
        "burrow: no image \"nosuchimage\" in storage; see `burrow images`, or `burrow pull` it first\n",
    );
}

// ---------------------------------------------------------------- import

#[test]
fn import_a_directory_and_a_rootfs_tarball() {
    require_images!();
    let (user, su, sg, _) = image_user();
    let env = Env::new(user, "import");
    let i = images();
    // A directory as a container of this user sees it: root's files are the user's, 1000's
    // are subuid_start + 999 (what `burrow unshare` or a container makes). Inside the user
    // namespace of the import they are 0 and 1000 again. (chown clears the setuid bit: set
    // it again.)
    let src = env.dir.join("rootfs");
    sh(&format!(
        "mkdir -p {s} && cp -a {}/. {s}/ && chown -R {}:{} {s} && chown -R {}:{} {s}/home/user && chmod 4755 {s}/bin/su-test",
        i.stage1.display(),
        user.uid,
        user.gid,
        su + 999,
        sg + 999,
        s = src.display()
    ));
    let d = env.burrow(&["image", "import", "--name", "dirbox", src.to_str().unwrap()]);
    assert_eq!((d.code, d.stderr.as_str()), (Some(0), ""), "{d:?}");
    let t = env.burrow(&[
        "image",
        "import",
        "--name",
        "tarbox:v1",
        i.rootfs_tgz.to_str().unwrap(),
    ]);
    assert_eq!((t.code, t.stderr.as_str()), (Some(0), ""), "{t:?}");
    for name in ["dirbox", "localhost/dirbox:latest", "tarbox:v1"] {
        let layers = layer_paths(&env, name);
        assert_eq!(layers.len(), 1, "{name}");
        let l = &layers[0];
        assert_eq!(
            owner(&l.join("home/user/f")),
            (su + 999, sg + 999),
            "{name}"
        );
        assert_eq!(
            owner(&l.join("bin/busybox")),
            (user.uid, user.gid),
            "{name}"
        );
        assert_eq!(
            fs::metadata(l.join("bin/su-test")).unwrap().mode() & 0o7777,
            0o4755,
            "{name}"
        );
    }
    let v = json(&env.burrow(&["images", "--format", "json"]).stdout);
    let mut names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x["names"].as_array().unwrap().clone())
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["localhost/dirbox:latest", "localhost/tarbox:v1"]);
    let missing = env.burrow(&["image", "import", "/nonexistent/rootfs.tar"]);
    check(
        &missing,
        125,
        "",
        "burrow: cannot import /nonexistent/rootfs.tar: no such file or directory\n",
    );
}

#[test]
fn an_owner_outside_the_range_is_refused_with_the_fix() {
    require_images!();
    let (user, _, _, count) = image_user();
    let reg = plain();
    let env = Env::new(user, "bigid");
    let out = env.burrow(&["pull", "-q", &format!("{}/test/bigid:1", reg.addr)]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    let ids = count + 1;
    assert!(
        out.stderr.contains(&format!(
            "layer entry \"./data/far\" is owned by uid 70000, outside the {ids} ids mapped for this user; give the user a larger range with `burrow admin add-user --count 70001` (as root)"
        )) || out.stderr.contains("is owned by uid 70000, outside the"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("burrow admin add-user --count"),
        "{}",
        out.stderr
    );
    check(&env.burrow(&["images", "--format", "json"]), 0, "[]\n", "");
}

#[test]
fn without_a_subordinate_range_owners_stay_yours_with_one_warning() {
    require_images!();
    let u = TestUser::get("imgnosub");
    burrow_tests::run_fixture::remove_real_subids(&u);
    let env = Env::new(&u, "nosub");
    let i = images();
    let out = env.burrow(&[
        "image",
        "import",
        "--name",
        "mine",
        i.stage1.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stderr,
        "burrow: warning: burrowt-imgnosub has no subordinate id range, so image files stay owned by you (the owners they should have are recorded in storage); ask your admin for one: burrow admin add-user burrowt-imgnosub\n"
    );
    let l = &layer_paths(&env, "mine")[0];
    assert_eq!(owner(&l.join("home/user/f")), (u.uid, u.gid));
    // The intended owner is recorded beside the layer.
    let report = fs::read_to_string(l.with_extension("json")).unwrap();
    assert!(report.contains("\"uid\": 1000"), "{report}");
}

// ---------------------------------------------------------------- registry errors and login

#[test]
fn unknown_image_and_unreachable_registry_errors_name_the_fix() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "errors");
    let out = env.burrow(&["pull", &format!("{}/test/nosuch:1", reg.addr)]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "burrow: image {a}/test/nosuch (test/nosuch/manifests/1) not found in its registry; check the name and tag (`skopeo list-tags docker://REPO` lists tags)\n",
            a = reg.addr
        )
    );
    let out = env.burrow(&["pull", "127.0.0.1:1/x/y:1"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr
            .starts_with("burrow: cannot reach registry 127.0.0.1:1; check the network"),
        "{}",
        out.stderr
    );
    let out = env.burrow(&["pull", &format!("{}/test/other:1", reg.addr)]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "burrow: {}/test/other:1 has no image for linux/{} (it has: linux/{}); choose one with --platform OS/ARCH[/VARIANT]\n",
            reg.addr,
            host_arch(),
            other_arch()
        )
    );
    let out = env.burrow(&["pull", "--platform", "linux", "x/y"]);
    check(
        &out,
        125,
        "",
        "burrow: invalid platform \"linux\": expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7\n",
    );
}

#[test]
fn login_with_password_stdin_then_pull_then_logout() {
    require_images!();
    let (user, ..) = image_user();
    let reg = private();
    let env = Env::new(user, "login");
    let cd = reg.cert_dir.as_ref().unwrap().to_str().unwrap();
    let r = format!("{}/private/busybox:1", reg.addr);
    // Nothing sent: the registry refuses, and says so.
    let out = env.burrow(&["pull", "-q", "--cert-dir", cd, &r]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr
            .contains("(no credentials were sent); log in with `burrow login`"),
        "{}",
        out.stderr
    );
    // A wrong password is refused at login, and the password is not printed.
    let bad = env.script(
        "printf %s wrong-pw | \"$B\" login -u tester --password-stdin --cert-dir \"$1\" \"$2\"",
        &[cd, &reg.addr],
    );
    check(
        &bad,
        125,
        "",
        &format!(
            "burrow: {} refused the credentials of tester (credentials were sent): check the user name and the password\n",
            reg.addr
        ),
    );
    let ok = env.script(
        "printf '%s\\n' \"$3\" | \"$B\" login -u tester --password-stdin --cert-dir \"$1\" \"$2\"",
        &[cd, &reg.addr, REG_PASSWORD],
    );
    check(&ok, 0, "Login Succeeded!\n", "");
    // Without the CA the certificate is refused, not retried over plain HTTP, and both fixes
    // are named; --tls-verify=false skips the check (podman's meaning), for pull and login.
    let out = env.burrow(&["pull", "-q", &r]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "burrow: registry {} has a TLS certificate this machine does not trust (",
            reg.addr
        )) && out.stderr.contains("--cert-dir DIR")
            && out.stderr.contains("--tls-verify=false"),
        "{}",
        out.stderr
    );
    let out = env.burrow(&["pull", "-q", "--tls-verify=false", &r]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert!(is_hex_id(out.stdout.trim()), "{out:?}");
    let untrusted = env.script(
        "printf '%s\\n' \"$2\" | \"$B\" login -u tester --password-stdin \"$1\"",
        &[&reg.addr, REG_PASSWORD],
    );
    assert_eq!(untrusted.code, Some(125), "{untrusted:?}");
    assert!(
        untrusted
            .stderr
            .contains("has a TLS certificate this machine does not trust"),
        "{untrusted:?}"
    );
    let insecure = env.script(
        "printf '%s\\n' \"$2\" | \"$B\" login -u tester --password-stdin --tls-verify=false \"$1\"",
        &[&reg.addr, REG_PASSWORD],
    );
    check(&insecure, 0, "Login Succeeded!\n", "");
    let auth = fs::read_to_string(env.dir.join("run/containers/auth.json")).unwrap();
    assert!(auth.contains(&reg.addr), "{auth}");
    assert!(
        !auth.contains(REG_PASSWORD),
        "stored base64, as podman does"
    );
    // The CA from certs.d (podman's place) instead of --cert-dir.
    let certs_d = env.dir.join("config/containers/certs.d").join(&reg.addr);
    fs::create_dir_all(&certs_d).unwrap();
    fs::copy(format!("{cd}/ca.crt"), certs_d.join("ca.crt")).unwrap();
    sh(&format!(
        "chown -R {}:{} {}",
        user.uid,
        user.gid,
        env.dir.join("config").display()
    ));
    let out = env.burrow(&["pull", "-q", &r]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    assert!(is_hex_id(out.stdout.trim()));
    check(
        &env.burrow(&["logout", &reg.addr]),
        0,
        &format!("Removed login credentials for {}\n", reg.addr),
        "",
    );
    check(
        &env.burrow(&["logout", &reg.addr]),
        125,
        "",
        &format!(
            "burrow: not logged into {} (nothing in {})\n",
            reg.addr,
            env.dir.join("run/containers/auth.json").display()
        ),
    );
    // Logged out: the pull fails and says no credentials were sent (the layers already
    // stored do not help: the manifest needs auth).
    let out = env.burrow(&["rmi", &r]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = env.burrow(&["pull", "-q", &r]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "burrow: {} refused access to private/busybox/manifests/1 (no credentials were sent); log in with `burrow login` if the image is private\n",
            reg.addr
        )
    );
    // Wrong credentials in podman's file: the error says they were sent, and not the secret.
    let home_auth = env.dir.join("config-home-auth.json");
    fs::write(
        &home_auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"dGVzdGVyOndyb25nLXB3"}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    let auth_dir = env.dir.join("run/containers");
    fs::create_dir_all(&auth_dir).unwrap();
    fs::copy(&home_auth, auth_dir.join("auth.json")).unwrap();
    sh(&format!(
        "chown -R {}:{} {}",
        user.uid,
        user.gid,
        auth_dir.display()
    ));
    let out = env.burrow(&["pull", "-q", &r]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "burrow: {} refused access to private/busybox/manifests/1 (credentials were sent); check them with `burrow login`\n",
            reg.addr
        )
    );
    assert!(!out.stderr.contains("wrong-pw"));
}

// ---------------------------------------------------------------- rmi and prune

#[test]
fn rmi_removes_names_then_images_and_their_layers() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "rmi");
    let r = format!("{}/test/busybox:1", reg.addr);
    let id = env.burrow(&["pull", "-q", &r]).stdout.trim().to_owned();
    let layers = layer_paths(&env, &r);
    assert!(layers.iter().all(|l| l.is_dir()));
    let out = env.burrow(&["rmi", &r]);
    check(&out, 0, &format!("Deleted: {id}\n"), "");
    // Layers owned by subordinate ids are gone too (removed inside the user namespace).
    assert!(layers.iter().all(|l| !l.exists()), "layers removed");
    check(&env.burrow(&["images", "--format", "json"]), 0, "[]\n", "");
    let out = env.burrow(&["rmi", "nosuchimage"]);
    check(
        &out,
        125,
        "",
        "burrow: no image \"nosuchimage\" in storage; see `burrow images`, or `burrow pull` it first\n",
    );
    // Two names: the first rmi untags, the second deletes; `image rm` is the same command.
    let i = images();
    let src = i.stage1.to_str().unwrap();
    let a = env.burrow(&["image", "import", "--name", "a", src]).stdout;
    let b = env.burrow(&["image", "import", "--name", "b", src]).stdout;
    assert_eq!(a, b, "same content, same id");
    check(&env.burrow(&["rmi", "a"]), 0, "Untagged: a\n", "");
    check(
        &env.burrow(&["image", "rm", "b"]),
        0,
        &format!("Deleted: {a}"),
        "",
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses_and_prune_keeps_it() {
    require_images!();
    let (user, ..) = image_user();
    let env = Env::new(user, "inuse");
    let i = images();
    let id = env
        .burrow(&[
            "image",
            "import",
            "--name",
            "used",
            i.stage1.to_str().unwrap(),
        ])
        .stdout
        .trim()
        .to_owned();
    // A container recorded as made from the image: `burrow create` writes its state, and the
    // image field is filled in the way `burrow create IMAGE` records it.
    let rootfs = Rootfs::new(user, "img-inuse-rootfs");
    let out = env.burrow(&[
        "create",
        "--name",
        "c1",
        "--rootfs",
        rootfs.path(),
        "/bin/true",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let st = env.dir.join("run/burrow/c1/state.json");
    let mut v = json(&fs::read_to_string(&st).unwrap());
    v["image"] = serde_json::json!(format!("sha256:{id}"));
    fs::write(&st, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = env.burrow(&["rmi", "used"]);
    check(
        &out,
        125,
        "",
        "burrow: image used is used by container c1; remove the container first or use -f\n",
    );
    // Unnamed and in use: prune keeps it.
    let out = env.burrow(&["image", "import", i.rootfs_tgz.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let unnamed = out.stdout.trim().to_owned();
    v["image"] = serde_json::json!(format!("sha256:{unnamed}"));
    fs::write(&st, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = env.burrow(&["image", "prune"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{out:?}");
    assert_eq!(
        json(&env.burrow(&["images", "--format", "json"]).stdout)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // No longer in use: prune removes the unnamed image, keeps the named one.
    check(&env.burrow(&["rm", "c1"]), 0, "c1\n", "");
    let out = env.burrow(&["image", "prune"]);
    assert_eq!(
        (out.code, out.stdout.clone()),
        (Some(0), format!("{unnamed}\n")),
        "{out:?}"
    );
    assert!(
        out.stderr.starts_with("removed 1 images, ")
            && out.stderr.ends_with(" leftovers of interrupted pulls\n"),
        "{}",
        out.stderr
    );
    // -f removes an image in use.
    let out = env.burrow(&[
        "create",
        "--name",
        "c2",
        "--rootfs",
        rootfs.path(),
        "/bin/true",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let st2 = env.dir.join("run/burrow/c2/state.json");
    let mut v2 = json(&fs::read_to_string(&st2).unwrap());
    v2["image"] = serde_json::json!(format!("sha256:{id}"));
    fs::write(&st2, serde_json::to_string_pretty(&v2).unwrap()).unwrap();
    check(
        &env.burrow(&["rmi", "-f", "used"]),
        0,
        &format!("Deleted: {id}\n"),
        &format!(
            "burrow: removed container c2 (made from image {})\n",
            &id[..12]
        ),
    );
    check(&env.burrow(&["images", "--format", "json"]), 0, "[]\n", "");
}

/// `rmi -f`, as podman's: the containers made from the image go too, a running one stopped
/// first; containers of other images stay; an image only untagged keeps its containers.
#[test]
fn rmi_force_removes_the_containers_made_from_the_image_running_or_not() {
    require_images!();
    let (user, ..) = image_user();
    let env = Env::new(user, "rmif");
    let i = images();
    let import = |name: &str, src: &Path| {
        let out = env.burrow(&["image", "import", "--name", name, src.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{out:?}");
        out.stdout.trim().to_owned()
    };
    let id = import("doomed", &i.stage1);
    let other = import("kept", &i.rootfs_tgz);
    assert_ne!(id, other);
    let rootfs = Rootfs::new(user, "img-rmif-rootfs");
    // Made "from" an image the way `burrow create IMAGE` records it.
    let make = |name: &str, image: &str, detached: bool| {
        let mut args = vec![if detached { "run" } else { "create" }];
        if detached {
            args.push("-d");
        }
        args.extend(["--name", name, "--rootfs", rootfs.path()]);
        args.extend(if detached {
            ["/bin/sleep", "600"]
        } else {
            ["/bin/true", ""]
        });
        args.retain(|a| !a.is_empty());
        let out = env.burrow(&args);
        assert_eq!(out.code, Some(0), "{out:?}");
        let st = env.dir.join(format!("run/burrow/{name}/state.json"));
        let mut v = json(&fs::read_to_string(&st).unwrap());
        v["image"] = serde_json::json!(format!("sha256:{image}"));
        fs::write(&st, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    make("stopped", &id, false);
    make("running", &id, true);
    make("other", &other, false);
    let ls = json(&env.burrow(&["ls", "-a", "--format", "json"]).stdout);
    let pid = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "running")
        .and_then(|r| r["pid"].as_i64())
        .unwrap_or_else(|| panic!("no pid for running in {ls}"));
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // A second name: -f on one name only untags, the containers stay.
    let out = env.burrow(&[
        "image",
        "import",
        "--name",
        "alias",
        i.stage1.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    check(
        &env.burrow(&["rmi", "-f", "alias"]),
        0,
        "Untagged: alias\n",
        "",
    );
    assert!(env.dir.join("run/burrow/stopped").exists());
    // The image itself: both its containers go, the running one killed first.
    let out = env.burrow(&["rmi", "-f", "doomed"]);
    assert_eq!(
        (out.code, out.stdout.clone()),
        (Some(0), format!("Deleted: {id}\n")),
        "{out:?}"
    );
    let mut said: Vec<&str> = out.stderr.lines().collect();
    said.sort_unstable();
    assert_eq!(
        said,
        [
            format!(
                "burrow: removed container running (made from image {})",
                &id[..12]
            ),
            format!(
                "burrow: removed container stopped (made from image {})",
                &id[..12]
            ),
        ],
        "{out:?}"
    );
    assert!(!env.dir.join("run/burrow/stopped").exists());
    assert!(!env.dir.join("run/burrow/running").exists());
    let gone = std::time::Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            gone.elapsed() < std::time::Duration::from_secs(10),
            "pid {pid} still alive"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Another image's container stays, and without -f its image is still refused.
    assert!(env.dir.join("run/burrow/other").exists());
    check(
        &env.burrow(&["rmi", "kept"]),
        125,
        "",
        "burrow: image kept is used by container other; remove the container first or use -f\n",
    );
    check(&env.burrow(&["rm", "other"]), 0, "other\n", "");
}

/// A store lock held by a stuck process: `pull` and `rmi` give up after BURROW_LOCK_TIMEOUT
/// seconds, naming the lock file, the holder's pid and command, and what to do; nothing
/// changes; once the holder is gone they work.
#[test]
fn a_stuck_store_lock_fails_pull_and_rmi_after_the_bound_naming_the_holder() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "lock");
    let i = images();
    let out = env.burrow(&[
        "image",
        "import",
        "--name",
        "held",
        i.stage1.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = out.stdout.trim().to_owned();
    let lock = env.store().join("locks/gc.lock");
    assert!(lock.is_file(), "{} missing", lock.display());
    // The holder: util-linux flock, as a stuck `burrow pull` would hold it.
    let mut holder = std::process::Command::new("flock")
        .args(["-x", "-o"]) // -o: only flock holds it, so killing it releases the lock
        .arg(&lock)
        .args(["sleep", "120"])
        // Its sleep outlives a killed flock: it must not hold the test's output open.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let hpid = holder.id();
    let start = std::time::Instant::now();
    while !fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(&hpid.to_string()))
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "flock never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let bounded = |args: &[&str]| {
        let t = std::time::Instant::now();
        let out = env.script("BURROW_LOCK_TIMEOUT=1 exec \"$B\" \"$@\"", args);
        (out, t.elapsed())
    };
    let want = format!(
        "burrow: gave up after 1s waiting for the storage lock {} (held by pid {hpid} (flock -x -o {} sleep 120)); another burrow command on this storage is stuck or stopped: let it finish, or end it (`kill PID`), then try again; a long pull of the same image may legitimately hold it, BURROW_LOCK_TIMEOUT=SECONDS waits longer\n",
        lock.display(),
        lock.display()
    );
    let r = format!("{}/test/busybox:1", reg.addr);
    for args in [&["rmi", "held"][..], &["pull", "-q", &r][..]] {
        let (out, took) = bounded(args);
        assert!(
            took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(15),
            "{args:?} took {took:?}"
        );
        check(&out, 125, "", &want);
    }
    let _ = holder.kill();
    let _ = holder.wait();
    check(
        &env.burrow(&["rmi", "held"]),
        0,
        &format!("Deleted: {id}\n"),
        "",
    );
}

#[test]
fn pull_on_a_terminal_draws_progress_bars() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "tty");
    // `script` gives the pull a terminal (util-linux); its output is the terminal's.
    let out = env.script(
        "script -qec \"\\\"$B\\\" pull $1\" /dev/null",
        &[&format!("{}/test/busybox:1", reg.addr)],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = out.stdout.replace('\r', "");
    // The total bar (the reference) and one bar per layer with its short digest, drawn
    // with '=' at 100%; no line-per-layer output.
    assert!(
        text.contains(&format!("{}/test/busybox:1", reg.addr)),
        "{text}"
    );
    assert!(text.contains("[=============================="), "{text}");
    assert!(!text.contains(" fetching "), "{text}");
    let id = env.burrow(&["pull", "-q", &format!("{}/test/busybox:1", reg.addr)]);
    assert!(text.contains(id.stdout.trim()), "{text}");
}

/// Unmounts on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_is_reported_with_the_fix_and_leaves_nothing() {
    require_images!();
    let (user, ..) = image_user();
    let reg = plain();
    let env = Env::new(user, "full");
    // The store on a 1 MiB tmpfs; the busybox layer alone is about 1 MB compressed.
    let data = env.dir.join("data");
    sh(&format!(
        "mount -t tmpfs -o size=1m,mode=0755,uid={},gid={} burrow-test-full {}",
        user.uid,
        user.gid,
        data.display()
    ));
    let _m = Mounted(data.clone());
    let out = env.burrow(&["pull", "-q", &format!("{}/test/busybox:1", reg.addr)]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(125), ""), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "burrow: no space left on the device holding {}",
            env.store().display()
        )) && out
            .stderr
            .contains("free some space (`burrow image prune` removes unused images) and try again"),
        "{}",
        out.stderr
    );
    check(&env.burrow(&["images", "--format", "json"]), 0, "[]\n", "");
    // Nothing half-written stays: prune finds no leftovers of live processes, and the
    // temporary directory is empty once the pull is gone.
    let out = env.burrow(&["image", "prune"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let left: Vec<_> = fs::read_dir(env.store().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let blobs: Vec<_> = fs::read_dir(env.store().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "{blobs:?}");
}

#[test]
fn import_oci_and_docker_archives_made_by_skopeo() {
    require_images!();
    let (user, su, sg, _) = image_user();
    let env = Env::new(user, "archives");
    let i = images();
    let oci = env.dir.join("img.oci.tar");
    let docker = env.dir.join("img.docker.tar");
    sh(&format!(
        "skopeo --insecure-policy copy oci:{l}:1 oci-archive:{o} && skopeo --insecure-policy copy oci:{l}:1 docker-archive:{d}:example/dock:7 && chmod a+r {o} {d}",
        l = i.layout.display(),
        o = oci.display(),
        d = docker.display()
    ));
    let a = env.burrow(&[
        "image",
        "import",
        "--name",
        "ociarch:1",
        oci.to_str().unwrap(),
    ]);
    assert_eq!((a.code, a.stderr.as_str()), (Some(0), ""), "{a:?}");
    let b = env.burrow(&["image", "import", docker.to_str().unwrap()]);
    assert_eq!((b.code, b.stderr.as_str()), (Some(0), ""), "{b:?}");
    for name in ["ociarch:1", b.stdout.trim()] {
        let layers = layer_paths(&env, name);
        assert_eq!(layers.len(), 2, "{name}");
        assert_eq!(
            owner(&layers[0].join("home/user/f")),
            (su + 999, sg + 999),
            "{name}"
        );
        assert_eq!(
            fs::metadata(layers[0].join("bin/su-test")).unwrap().mode() & 0o7777,
            0o4755
        );
    }
    // The two archives hold the same image (same config, so the same id): stored once, with
    // both names; the docker-archive's own tag is qualified as docker does.
    let v = json(&env.burrow(&["images", "--format", "json"]).stdout);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v[0]["names"],
        serde_json::json!(["docker.io/example/dock:7", "localhost/ociarch:1"])
    );
    assert_eq!(v[0]["id"], format!("sha256:{}", a.stdout.trim()));
}
