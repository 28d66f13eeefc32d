//! A real distribution (issue 12): a Debian 12 image made here with debootstrap and pushed to
//! a test registry (`tests/src/debian_image.rs`), pulled by an unprivileged test user with a
//! real subordinate range, then run: bash, apt-get, a login shell of the image's non-root user
//! with its supplementary groups from the image's /etc/group, and ping (with its file
//! capability, kept through the layer's xattrs and burrow's unpacking) to the gateway of a
//! bridged container's network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::debian_image::*;
use burrow_tests::*;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The test user (a real subordinate range: Debian's files belong to ids up to 65534).
fn user() -> &'static TestUser {
    static U: OnceLock<TestUser> = OnceLock::new();
    U.get_or_init(|| {
        let u = TestUser::get("deb");
        let (_, _, n) = u.ensure_real_subids();
        assert!(n >= 65_535, "the test user's range is too small: {n}");
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );
        u
    })
}

/// One test's private store and runtime directory (removed on drop), the image pulled into
/// it; `etc` is a private /etc for the bridged test (usernet, nic.conf).
struct Env {
    dir: PathBuf,
    etc: Option<Etc>,
}

impl Env {
    fn new(tag: &str, etc: Option<Etc>) -> Env {
        let u = user();
        let dir = tempdir(&format!("img-deb-{tag}"));
        for d in ["data", "run"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        sh(&format!(
            "chown -R {}:{} {d} && chmod 0700 {d}/run",
            u.uid,
            u.gid,
            d = dir.display()
        ));
        let e = Env { dir, etc };
        let out = e.b(&["pull", "-q", "--tls-verify=false", &debian().reference]);
        assert_eq!(out.code, Some(0), "burrow pull: {out:?}");
        e
    }

    /// `burrow ARGS...` as the test user.
    fn b(&self, args: &[&str]) -> Ran {
        let mut r = Run::new(user())
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("XDG_DATA_HOME", self.dir.join("data").to_str().unwrap())
            .env("XDG_RUNTIME_DIR", self.dir.join("run").to_str().unwrap());
        if let Some(etc) = &self.etc {
            r = r.etc(etc);
        }
        r.cmd(&helper("burrow"), args)
    }

    /// `burrow run --rm OPTS... IMAGE CMD...`.
    fn run(&self, opts: &[&str], cmd: &[&str]) -> Ran {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(opts);
        all.push(&debian().reference);
        all.extend_from_slice(cmd);
        self.b(&all)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Containers a failed test left running go first.
        let names = self.b(&["ls", "-a", "--format", "json"]).stdout;
        for n in names
            .split("\"name\":")
            .skip(1)
            .filter_map(|s| s.split('"').nth(1))
        {
            let _ = self.b(&["rm", "-f", n]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn debian_runs_bash_and_apt_get() {
    if !require_debian_tools() {
        return;
    }
    let e = Env::new("bash", None);
    let want = std::fs::read_to_string(debian().tree.join("etc/debian_version")).unwrap();
    assert!(want.starts_with("12."), "{want}");
    ok_out(&e.run(&[], &["cat", "/etc/debian_version"]), &want);
    let out = e.run(&[], &["bash", "-c", "echo $BASH_VERSION"]);
    out.expect(0, "");
    assert!(out.stdout.starts_with("5.2."), "{out:?}");
    let out = e.run(&[], &["apt-get", "--version"]);
    out.expect(0, "");
    let arch = burrow_tests::image_fixture::host_arch();
    assert!(
        out.stdout.starts_with("apt 2.6.") && out.stdout.contains(&format!("({arch})")),
        "{out:?}"
    );
    // The image's default command is bash (stdin is /dev/null: it exits at once).
    ok_out(&e.b(&["run", "--rm", &debian().reference]), "");
}

#[test]
fn debian_login_shell_of_a_non_root_user_has_its_groups_and_home() {
    if !require_debian_tools() {
        return;
    }
    let e = Env::new("login", None);
    // users (100) and adm (4) list app in the image's /etc/group.
    ok_out(
        &e.run(&["-u", APP_USER], &["bash", "-lc", "id; echo $HOME; pwd"]),
        "uid=1000(app) gid=1000(app) groups=1000(app),4(adm),100(users)\n/home/app\n/\n",
    );
    // In its home, with a group added by name from the image's /etc/group and one by number.
    ok_out(
        &e.run(
            &[
                "-u",
                APP_USER,
                "-w",
                "/home/app",
                "--group-add",
                "audio",
                "--group-add",
                "4242",
            ],
            &[
                "bash",
                "-lc",
                "id -G; pwd; touch mine && stat -c %U:%G mine",
            ],
        ),
        // (the kernel keeps the supplementary groups sorted)
        "1000 4 29 100 4242\n/home/app\napp:app\n",
    );
    // exec -u NAME: the user's groups too.
    let name = format!("deb-login-{}", std::process::id());
    ok_out(
        &e.b(&[
            "run",
            "-d",
            "--name",
            &name,
            &debian().reference,
            "sleep",
            "600",
        ]),
        &format!("{name}\n"),
    );
    let out = e.b(&[
        "exec",
        "-u",
        APP_USER,
        &name,
        "bash",
        "-lc",
        "id -Gn; echo $HOME",
    ]);
    // The groups work: a directory of group adm, mode 0750, is open to app, not to nobody.
    let made = e.b(&[
        "exec",
        &name,
        "bash",
        "-c",
        "install -d -g adm -m 0750 /srv/adm && touch /srv/adm/f",
    ]);
    let app = e.b(&["exec", "-u", APP_USER, &name, "ls", "/srv/adm"]);
    let nobody = e.b(&["exec", "-u", "nobody", &name, "ls", "/srv/adm"]);
    let rm = e.b(&["rm", "-f", &name]);
    ok_out(&out, "app adm users\n/home/app\n");
    ok_out(&made, "");
    ok_out(&app, "f\n");
    check(
        &nobody,
        2,
        "",
        "ls: cannot open directory '/srv/adm': Permission denied\n",
    );
    ok_out(&rm, &format!("{name}\n"));
}

const POOLS: &str = "ipv4 10.199.0.0/16 24\nipv6 fd42:b0:3::/48 64\n";

/// The IPv4 address of a bridge (its gateway address).
fn gateway(br: &LinkGuard) -> String {
    let out = sh(&format!("ip -o -4 addr show dev {}", br.0));
    let f: Vec<&str> = out.split_whitespace().collect();
    let i = f
        .iter()
        .position(|w| *w == "inet")
        .unwrap_or_else(|| panic!("no IPv4 address on {}: {out}", br.0));
    f[i + 1].split('/').next().unwrap().to_owned()
}

#[test]
fn debian_ping_with_its_file_capability_reaches_the_bridge_gateway() {
    if !require_debian_tools() {
        return;
    }
    // debootstrap configures libcap2-bin before iputils-ping, whose postinst then gives ping
    // cap_net_raw (without setcap it would make ping setuid root instead).
    let d = debian();
    assert_eq!(
        d.ping_cap,
        format!("{} cap_net_raw=ep", d.tree.join("usr/bin/ping").display())
    );
    let u = user();
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 2\n", u.name))
        .file("burrow/nic.conf", POOLS)
        .file("resolv.conf", "nameserver 192.0.2.53\n");
    let br = LinkGuard::per_user_bridge(u);
    let e = Env::new("ping", Some(etc));
    // The capability came through the layer and burrow's unpacking; ping is not setuid.
    ok_out(
        &e.run(
            &["--net", "bridge"],
            &[
                "bash",
                "-c",
                "getcap /usr/bin/ping; stat -c %A /usr/bin/ping",
            ],
        ),
        "/usr/bin/ping cap_net_raw=ep\n-rwxr-xr-x\n",
    );
    // The first run made the per-user bridge; its address is the containers' gateway.
    let gw = gateway(&br);
    let out = e.run(&["--net", "bridge"], &["ping", "-c1", "-W5", &gw]);
    out.expect(0, "");
    assert!(
        out.stdout
            .contains("1 packets transmitted, 1 received, 0% packet loss"),
        "{out:?}"
    );
    // Without CAP_NET_RAW (ping_group_range, "1 0" in a new network namespace, leaves out
    // every gid, so no ICMP datagram socket either) ping cannot open a socket.
    let out = e.run(
        &["--net", "bridge", "--cap-drop", "net_raw"],
        &["ping", "-c1", "-W5", &gw],
    );
    assert_ne!(out.code, Some(0), "{out:?}");
}
