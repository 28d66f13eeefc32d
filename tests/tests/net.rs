//! `burrow run --net bridge` against the real kernel, as unprivileged test users: the setuid
//! burrow-nic (installed in the test prefix) gives the container a veth on the user's
//! per-user bridge; burrow sets up eth0, its address, the default route and /etc/resolv.conf
//! inside; the veth is gone with the container. Each test has a private /etc (usernet,
//! nic.conf, resolv.conf) and a user of its own, so its per-user bridge is its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::time::{Duration, Instant};

const POOLS: &str = "ipv4 10.198.0.0/16 24\nipv6 fd42:b0:2::/48 64\n";
const RESOLV: &str =
    "# host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\noptions edns0\n";

/// The IPv4 address of a bridge (its gateway address).
fn gateway(br: &LinkGuard) -> String {
    let out = sh(&format!("ip -o -4 addr show dev {}", br.0));
    let f: Vec<&str> = out.split_whitespace().collect();
    let i = f.iter().position(|w| *w == "inet").unwrap();
    f[i + 1].split('/').next().unwrap().to_owned()
}

fn setup(tag: &str, count: u32) -> (TestUser, Etc, LinkGuard, Rootfs) {
    let u = TestUser::get(tag);
    u.ensure_real_subids();
    let etc = setup_etc(&u, count);
    let br = LinkGuard::per_user_bridge(&u);
    let r = Rootfs::new(&u, tag);
    (u, etc, br, r)
}

fn burrow(u: &TestUser, etc: &Etc, args: &[&str]) -> Ran {
    Run::new(u)
        .etc(etc)
        .env("BURROW_HELPERS_DIR", prefix().join("bin").to_str().unwrap())
        .env("XDG_RUNTIME_DIR", "")
        .cmd(&helper("burrow"), args)
}

/// `burrow run OPTS... --net bridge --rootfs R CMD...` as `u`.
fn bridged(u: &TestUser, etc: &Etc, r: &Rootfs, opts: &[&str], cmd: &[&str]) -> Ran {
    let mut all = vec!["run"];
    all.extend_from_slice(opts);
    all.extend_from_slice(&["--net", "bridge", "--rootfs", r.path()]);
    all.extend_from_slice(cmd);
    burrow(u, etc, &all)
}

fn wait_no_veths(uid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_veths_of(uid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "veths outlived the container: {:?}",
            host_veths_of(uid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_net_bridge_configures_eth0_route_and_dns_and_the_nic_goes_with_the_container() {
    require!();
    let (u, etc, br, r) = setup("net1", 2);
    let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let script = r#"set -e
ip -4 addr show dev eth0 | awk '/inet /{print $2}'
ip -6 addr show dev eth0 | awk '/scope global/{print $2}'
ip route | grep ^default
ip -6 route | grep ^default | cut -d' ' -f1-5
cat /etc/resolv.conf
gw=$(ip route | awk '/^default/{print $3}')
echo hello-from-container | nc -w 5 $gw $1
"#;
    l.set_nonblocking(true).unwrap();
    let accept = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut s, peer) = loop {
            match l.accept() {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return (String::new(), format!("no connection: {e}")),
            }
        };
        s.set_nonblocking(false).unwrap();
        let mut got = String::new();
        std::io::Read::read_to_string(&mut s, &mut got).unwrap();
        (peer.ip().to_string(), got)
    });
    let out = bridged(
        &u,
        &etc,
        &r,
        &["--rm"],
        &["/bin/sh", "-c", script, "sh", &port],
    );
    out.expect(0, "");
    let (peer, got) = accept.join().unwrap();
    let gw = gateway(&br);
    let n: u16 = gw.split('.').nth(2).unwrap().parse().unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let a4 = lines[0].strip_suffix("/24").unwrap();
    assert!(
        a4.starts_with(&format!("10.198.{n}.")) && a4 != gw,
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with(&format!("fd42:b0:2:{n:x}::")) && lines[1].ends_with("/64"),
        "{}",
        out.stdout
    );
    assert_eq!(lines[2], format!("default via {gw} dev eth0 "));
    assert_eq!(lines[3], format!("default via fd42:b0:2:{n:x}::1 dev eth0"));
    assert_eq!(
        lines[4..].join("\n"),
        "# made by burrow from the host's /etc/resolv.conf\nnameserver 192.0.2.53\nsearch example.test\noptions edns0"
    );
    // The TCP connection came from the container's address, through the gateway.
    assert_eq!(peer, a4);
    assert_eq!(got, "hello-from-container\n");
    // The veth went with the container; the per-user bridge stays for next time.
    wait_no_veths(u.uid);
    assert!(std::path::Path::new(&format!("/sys/class/net/{}", br.0)).exists());
    // The same container name gets the same address again.
    let address_of_stable = || {
        let out = bridged(
            &u,
            &etc,
            &r,
            &["--rm", "--name", "stable"],
            &[
                "/bin/sh",
                "-c",
                "ip -4 addr show dev eth0 | awk '/inet /{print $2}'",
            ],
        );
        out.expect(0, "");
        wait_no_veths(u.uid);
        out.stdout
    };
    assert_eq!(address_of_stable(), address_of_stable());
}

#[test]
fn detached_container_on_the_bridge_serves_the_host_exec_sees_eth0_rm_removes_the_nic() {
    require!();
    let (u, etc, _br, r) = setup("net2", 2);
    // A run of this test that failed may have left it.
    let _ = burrow(&u, &etc, &["rm", "-f", "web"]);
    let out = bridged(
        &u,
        &etc,
        &r,
        &["-d", "--name", "web"],
        &[
            "/bin/sh",
            "-c",
            "while true; do echo served-by-web | nc -l -p 8080; done",
        ],
    );
    out.expect(0, "");
    let insp = burrow(&u, &etc, &["inspect", "web"]);
    insp.expect(0, "");
    let at = insp.stdout.find("\"ipv4\"").expect("nic in inspect");
    let rest = &insp.stdout[at..];
    let a = rest.find("\"address\"").unwrap();
    let addr: String = rest[a + 9..]
        .chars()
        .skip_while(|c| *c != '"')
        .skip(1)
        .take_while(|c| *c != '"')
        .collect();
    assert!(addr.starts_with("10.198."), "{}", insp.stdout);
    // The host reaches the container's service at its address.
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        if let Ok(mut s) = std::net::TcpStream::connect((addr.as_str(), 8080)) {
            let mut got = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut got);
            if !got.is_empty() {
                break got;
            }
        }
        assert!(Instant::now() < deadline, "no answer from {addr}:8080");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(got, "served-by-web\n");
    // exec joins the container's network namespace.
    let ex = burrow(
        &u,
        &etc,
        &[
            "exec", "web", "ip", "-o", "-4", "addr", "show", "dev", "eth0",
        ],
    );
    ex.expect(0, "");
    assert!(
        ex.stdout.contains(&format!("inet {addr}/24")),
        "{}",
        ex.stdout
    );
    assert_eq!(host_veths_of(u.uid).len(), 1);
    burrow(&u, &etc, &["rm", "-f", "web"]).expect(0, "");
    wait_no_veths(u.uid);
}

#[test]
fn no_usernet_entry_or_quota_fails_cleanly_and_leaves_nothing() {
    require!();
    let (u, _etc, br, r) = setup("net3", 1);
    // No line for this user.
    let etc = Etc::new()
        .usernet("# nobody\n")
        .file("burrow/nic.conf", POOLS)
        .file("resolv.conf", RESOLV);
    let out = bridged(&u, &etc, &r, &["--rm"], &["/bin/true"]);
    out.expect(
        125,
        &format!(
            "burrow: cannot give the container a network interface: burrow-nic: no entry in /etc/burrow/usernet allows user {} a veth on bridge {} (ask your admin for a line in /etc/burrow/usernet, e.g. `sudo burrow admin add-user USER`)\n",
            u.name, br.0
        ),
    );
    assert!(host_veths_of(u.uid).is_empty());
    assert_eq!(sh(&format!("pgrep -u {} -c || true", u.uid)).trim(), "0");
    // Quota 1: a second container while the first runs is refused; the first keeps its nic.
    let etc1 = setup_etc(&u, 1);
    let out = bridged(
        &u,
        &etc1,
        &r,
        &["-d", "--name", "one"],
        &["/bin/sleep", "600"],
    );
    out.expect(0, "");
    let out = bridged(&u, &etc1, &r, &["--rm"], &["/bin/true"]);
    out.expect(
        125,
        &format!(
            "burrow: cannot give the container a network interface: burrow-nic: quota reached: user {} has 1 of 1 veth nics allowed on bridge {}\n",
            u.name, br.0
        ),
    );
    assert_eq!(host_veths_of(u.uid).len(), 1);
    burrow(&u, &etc1, &["rm", "-f", "one"]).expect(0, "");
    wait_no_veths(u.uid);
}

fn setup_etc(u: &TestUser, count: u32) -> Etc {
    Etc::new()
        .usernet(&format!("{} veth burrow%u {count}\n", u.name))
        .file("burrow/nic.conf", POOLS)
        .file("resolv.conf", RESOLV)
}

#[test]
fn a_volume_on_resolv_conf_wins_over_the_generated_one() {
    require!();
    let (u, etc, _br, r) = setup("net4", 1);
    let mine = tempdir("net4-resolv");
    let file = mine.join("resolv.conf");
    std::fs::write(&file, "nameserver 203.0.113.9\n").unwrap();
    let vol = format!("{}:/etc/resolv.conf:ro", file.display());
    let out = bridged(
        &u,
        &etc,
        &r,
        &["--rm", "-v", &vol],
        &["/bin/cat", "/etc/resolv.conf"],
    );
    out.expect(0, "");
    assert_eq!(out.stdout, "nameserver 203.0.113.9\n");
    let _ = std::fs::remove_dir_all(&mine);
    wait_no_veths(u.uid);
}
