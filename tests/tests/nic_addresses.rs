//! burrow-nic against the real kernel: per-user bridges made on first use, their addresses and
//! the containers' (leases from /etc/burrow/nic.conf's pools), and the isolation between two
//! users' bridges. Fixtures in `tests/src/nic_fixture.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;

// ---------------------------------------------------- per-user bridges, addressing, isolation

fn per_user_bridge(u: &TestUser) -> LinkGuard {
    LinkGuard::per_user_bridge(u)
}

fn proc_sys(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/{path}"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The kernel's count of packets dropped by reverse-path filtering (TcpExt IPReversePathFilter
/// in /proc/net/netstat).
fn rp_filter_drops() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == "IPReversePathFilter")
        .unwrap();
    values[i].parse().unwrap()
}

const POOLS: &str = "# test pools\nipv4 10.197.0.0/16 24\nipv6 fd42:b0:1::/48 64\n";

#[test]
fn per_user_bridge_made_on_first_use_addressed_stable_and_hardened() {
    require!();
    let a = TestUser::get("pu1");
    let br = per_user_bridge(&a);
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 3\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    let pid = t.pid_s();
    let args = |json: bool, name: &'static str, nicname: &'static str| {
        let mut v = vec!["create"];
        if json {
            v.push("--json");
        }
        v.extend_from_slice(&["/tmp", name, &pid, "veth", "burrow%u", nicname]);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |v: Vec<String>| {
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        nic(&a, &etc, &r)
    };
    let r = run(args(true, "c1", "eth0"));
    r.expect(0, "");
    let json = r.stdout.clone();
    assert!(json.ends_with("}\n") && json.lines().count() == 1, "{json}");
    assert_eq!(jfield(&json, "container_ifname"), "eth0");
    assert_eq!(jfield(&json, "bridge"), br.0);
    assert_eq!(jfield(&json, "mtu"), "1500");
    let host = jfield(&json, "host_ifname");
    assert_eq!(sys_net(&host, "ifindex"), jfield(&json, "host_ifindex"));
    let (a4, l4, g4) = jaddr(&json, "ipv4");
    let (a6, l6, g6) = jaddr(&json, "ipv6");
    assert_eq!((l4, l6), (24, 64));
    let n: u32 = g4.split('.').nth(2).unwrap().parse().unwrap();
    assert_eq!(g4, format!("10.197.{n}.1"));
    assert!(a4.starts_with(&format!("10.197.{n}.")) && a4 != g4, "{a4}");
    let v6 = |h: u16| {
        std::net::Ipv6Addr::new(0xfd42, 0xb0, 1, u16::try_from(n).unwrap(), 0, 0, 0, h).to_string()
    };
    assert_eq!(g6, v6(1));
    let host_no: u16 = a4.rsplit('.').next().unwrap().parse().unwrap();
    assert_eq!(a6, v6(host_no));
    // The bridge: made on first use, tagged, addressed, up, hardened.
    assert!(std::path::Path::new(&format!("/sys/class/net/{}/bridge", br.0)).is_dir());
    assert_eq!(
        sys_net(&br.0, "ifalias"),
        format!("burrow-nic bridge {} {n}", a.uid)
    );
    assert_eq!(proc_sys(&format!("ipv4/conf/{}/rp_filter", br.0)), "1");
    assert_eq!(proc_sys(&format!("ipv6/conf/{}/accept_ra", br.0)), "0");
    let addrs = sh(&format!("ip -o addr show dev {}", br.0));
    assert!(addrs.contains(&format!("inet {g4}/24")), "{addrs}");
    assert!(addrs.contains(&format!("inet6 {g6}/64")), "{addrs}");
    assert!(sh(&format!("ip -o link show dev {}", br.0)).contains(",UP"));
    // The host end: on the bridge, no router advertisements, no IPv6 of its own, tagged
    // with its addresses.
    let master = std::fs::read_link(format!("/sys/class/net/{host}/master")).unwrap();
    assert_eq!(master.file_name().unwrap().to_str().unwrap(), br.0);
    assert_eq!(proc_sys(&format!("ipv6/conf/{host}/accept_ra")), "0");
    assert_eq!(proc_sys(&format!("ipv6/conf/{host}/disable_ipv6")), "1");
    assert_eq!(
        sys_net(&host, "ifalias"),
        format!("burrow-nic {} {} veth {} {a4} {a6}", a.uid, a.name, br.0)
    );
    // The LXC output is unchanged on a per-user bridge; the next nic gets the next address.
    let r = run(args(false, "c1", "eth1"));
    r.expect(0, "");
    let (cname, _, host2, _) = parse_line(&r.stdout, a.uid);
    assert_eq!(cname, "eth1");
    assert!(sys_net(&host2, "ifalias").contains(&format!("10.197.{n}.")));
    assert_ne!(sys_net(&host2, "ifalias"), sys_net(&host, "ifalias"));
    // list shows the addresses.
    let r = nic(&a, &etc, &["list"]);
    r.expect(0, "");
    assert!(
        r.stdout
            .contains(&format!("{host} veth {} {} {a4} {a6}\n", br.0, a.name)),
        "{}",
        r.stdout
    );
    // Container <-> host through the gateway: ping both families and a TCP connection.
    configure_inside(t.pid, "eth0", &json);
    let out = in_netns(t.pid, &format!("ping -c1 -W5 {g4} && ping -6 -c1 -W5 {g6}"));
    assert!(out.status.success(), "{out:?}");
    let l = std::net::TcpListener::bind((g4.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let out = in_netns(
        t.pid,
        &format!("echo hello-through-veth > /dev/tcp/{g4}/{port}"),
    );
    assert!(out.status.success(), "{out:?}");
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer.ip().to_string(), a4);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut s, &mut got).unwrap();
    assert_eq!(got, "hello-through-veth\n");
    // delete checks the container end is in the namespace named: another netns of the same
    // user is refused; without HOSTNIC every nic of the caller there goes.
    let t2 = own_netns(&a);
    let other = format!("/proc/{}/ns/net", t2.pid);
    let here = format!("/proc/{}/ns/net", t.pid);
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &other, "veth", "burrow%u", &host],
    )
    .expect(
        1,
        &err(&format!(
            "you have no nic {host} of type veth on bridge {} in that network namespace",
            br.0
        )),
    );
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &other, "veth", "burrow%u"],
    )
    .expect(
        1,
        &err(&format!(
            "you have no nic of type veth on bridge {} in that network namespace",
            br.0
        )),
    );
    assert!(std::path::Path::new(&format!("/sys/class/net/{host}")).exists());
    nic(
        &a,
        &etc,
        &["delete", "/tmp", "c1", &here, "veth", "burrow%u"],
    )
    .ok();
    assert!(!std::path::Path::new(&format!("/sys/class/net/{host}")).exists());
    assert!(!std::path::Path::new(&format!("/sys/class/net/{host2}")).exists());
    // Stable: the same (name, nic name) gets its address again once it is free; another
    // name gets another one.
    drop(t);
    let t3 = own_netns(&a);
    let pid3 = t3.pid_s();
    let again = |name: &str| {
        let r = nic(
            &a,
            &etc,
            &[
                "create", "--json", "/tmp", name, &pid3, "veth", "burrow%u", "eth0",
            ],
        );
        r.expect(0, "");
        r.stdout
    };
    let j = again("c1");
    assert_eq!(jaddr(&j, "ipv4").0, a4);
    assert_eq!(jaddr(&j, "ipv6").0, a6);
    let host3 = jfield(&j, "host_ifname");
    let r = nic(
        &a,
        &etc,
        &[
            "create", "--json", "/tmp", "c9", &pid3, "veth", "burrow%u", "eth1",
        ],
    );
    r.expect(0, "");
    assert_ne!(jaddr(&r.stdout, "ipv4").0, a4);
    // The lease file is root's, outside the user's reach.
    let m = std::fs::metadata("/var/lib/burrow/nic-leases").unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&m),
            std::os::unix::fs::MetadataExt::mode(&m) & 0o777
        ),
        (0, 0o600)
    );
    drop(t3);
    wait_gone(&host3);
}

#[test]
fn per_user_bridge_without_pools_and_a_squatted_name() {
    require!();
    let a = TestUser::get("pu4");
    let br = per_user_bridge(&a);
    let etc = Etc::new().usernet(&format!("{} veth burrow%u 1\n", a.name));
    let t = own_netns(&a);
    let pid = t.pid_s();
    // No nic.conf: a bridge with no address, and JSON says so.
    let r = nic(
        &a,
        &etc,
        &[
            "create", "--json", "/tmp", "c", &pid, "veth", "burrow%u", "eth0",
        ],
    );
    r.expect(0, "");
    assert!(
        r.stdout.contains("\"ipv4\":null,\"ipv6\":null}"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sys_net(&br.0, "ifalias"),
        format!("burrow-nic bridge {}", a.uid)
    );
    assert!(!sh(&format!("ip -o addr show dev {}", br.0)).contains("inet "));
    drop(t);
    // A link of that name that is not a bridge, or a bridge tagged for someone else, is
    // refused before anything is created.
    sh(&format!(
        "ip link del {0}; ip link add {0} type veth peer name {0}p",
        br.0
    ));
    let t = own_netns(&a);
    let pid = t.pid_s();
    nic(
        &a,
        &etc,
        &["create", "/tmp", "c", &pid, "veth", "burrow%u", "eth0"],
    )
    .expect(
        1,
        &err(&format!(
            "{} is not a Linux bridge; refusing to attach to it",
            br.0
        )),
    );
    sh(&format!(
        "ip link del {0}; ip link add {0} type bridge; ip link set {0} alias 'admin bridge'",
        br.0
    ));
    nic(&a, &etc, &["create", "/tmp", "c", &pid, "veth", "burrow%u", "eth0"]).expect(
        1,
        &err(&format!(
            "{} exists and is not burrow-nic's per-user bridge of uid {} (its alias is \"admin bridge\"); the admin must remove or rename it",
            br.0, a.uid
        )),
    );
    assert!(tagged_links(a.uid).is_empty());
}

#[test]
fn two_users_bridges_are_separate_at_l2_and_spoofed_sources_are_dropped() {
    require!();
    let (a, b) = (TestUser::get("pu2"), TestUser::get("pu3"));
    let (_bra, _brb) = (per_user_bridge(&a), per_user_bridge(&b));
    let usernet = format!("{} veth burrow%u 2\n{} veth burrow%u 2\n", a.name, b.name);
    let etc = Etc::new().usernet(&usernet).file("burrow/nic.conf", POOLS);
    let (ta, tb) = (own_netns(&a), own_netns(&b));
    let mk = |u: &TestUser, t: &Proc, name: &str, ifname: &str| {
        let r = nic(
            u,
            &etc,
            &[
                "create",
                "--json",
                "/tmp",
                name,
                &t.pid_s(),
                "veth",
                "burrow%u",
                ifname,
            ],
        );
        r.expect(0, "");
        configure_inside(t.pid, ifname, &r.stdout);
        r.stdout
    };
    let ja = mk(&a, &ta, "x", "eth0");
    let jb = mk(&b, &tb, "x", "eth0");
    let (a4, _, ga4) = jaddr(&ja, "ipv4");
    let (b4, _, gb4) = jaddr(&jb, "ipv4");
    let (b6, _, _) = jaddr(&jb, "ipv6");
    assert_ne!(ga4, gb4, "each user has a subnet of their own");
    // Same user, same bridge: L2 works (the control for the checks below).
    let ta2 = own_netns(&a);
    let ja2 = mk(&a, &ta2, "y", "eth0");
    let (a4_2, _, _) = jaddr(&ja2, "ipv4");
    let out = in_netns(ta.pid, &format!("ping -c1 -W5 {a4_2}"));
    assert!(out.status.success(), "{out:?}");
    // A cannot reach B's container at L2 (even with an on-link route), nor over IPv6.
    let bsub = format!("{}.0/24", gb4.rsplit_once('.').unwrap().0);
    let out = in_netns(
        ta.pid,
        &format!("ip route add {bsub} dev eth0 && ! ping -c2 -W1 {b4} && ! ping -6 -c2 -W1 {b6} && ip neigh show {b4}"),
    );
    assert!(out.status.success(), "{out:?}");
    let neigh = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!neigh.contains("lladdr"), "{neigh}");
    // Spoofing: a datagram from A's real address reaches the host; the same datagram with a
    // source from B's subnet is dropped by reverse-path filtering on A's bridge.
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let spoof = format!("{}.77", gb4.rsplit_once('.').unwrap().0);
    let send = |src: &str| {
        let out = in_netns(
            ta.pid,
            &format!(
                "python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"{src}\", 0)); s.sendto(b\"from-{src}\", (\"{ga4}\", {port}))'"
            ),
        );
        assert!(out.status.success(), "{out:?}");
    };
    send(&a4);
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], format!("from-{a4}").as_bytes());
    assert_eq!(from.ip().to_string(), a4);
    let out = in_netns(ta.pid, &format!("ip addr add {spoof}/32 dev eth0"));
    assert!(out.status.success(), "{out:?}");
    let drops = rp_filter_drops();
    send(&spoof);
    send(&a4);
    // Only the second real datagram arrives.
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        format!("from-{a4}").as_bytes(),
        "spoofed datagram arrived"
    );
    // ... and it is the reverse-path filter that dropped it.
    assert!(rp_filter_drops() > drops);
    drop((ta, tb, ta2));
}

#[test]
fn sigkill_mid_create_on_a_per_user_bridge_keeps_bridge_addresses_and_quota_consistent() {
    require!();
    let a = TestUser::get("nk2");
    let br = per_user_bridge(&a);
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 3\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    // The bridge does not exist yet: the first creates race to make it while being killed;
    // others die while the lease file is being rewritten or the veth made.
    let r = Run::new(&a).etc(&etc).script(
        "for i in $(seq 60); do \"$1\" create /dev/null c$i \"$2\" veth burrow%u \"k$i\" >/dev/null 2>&1 & p=$!; sleep 0.00$((RANDOM % 10)); kill -9 $p 2>/dev/null; wait $p 2>/dev/null; done; \"$1\" create --json /dev/null last \"$2\" veth burrow%u last; exit 0",
        &[helper(NIC).to_str().unwrap(), &t.pid_s()],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The bridge is burrow-nic's, tagged with its subnet, addressed and up.
    let tag = sys_net(&br.0, "ifalias");
    let n: u32 = tag
        .strip_prefix(&format!("burrow-nic bridge {} ", a.uid))
        .unwrap_or_else(|| panic!("{tag}"))
        .parse()
        .unwrap();
    let addrs = sh(&format!("ip -o addr show dev {}", br.0));
    assert!(addrs.contains(&format!("inet 10.197.{n}.1/24")), "{addrs}");
    // At most the quota, every port tagged with a distinct address of that subnet.
    let ports: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{}/brif", br.0))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!ports.is_empty() && ports.len() <= 3, "{ports:?}");
    let mut seen = Vec::new();
    for p in &ports {
        let alias = sys_net(p, "ifalias");
        let f: Vec<&str> = alias.split(' ').collect();
        assert_eq!(
            f[..5],
            ["burrow-nic", &a.uid.to_string(), &a.name, "veth", &br.0],
            "{alias}"
        );
        assert!(f[5].starts_with(&format!("10.197.{n}.")), "{alias}");
        assert!(
            !seen.contains(&f[5].to_owned()),
            "address given twice: {alias}"
        );
        seen.push(f[5].to_owned());
    }
    let untagged: Vec<String> = tagged_links(a.uid)
        .into_iter()
        .filter(|n| sys_net(n, "ifalias").is_empty())
        .collect();
    assert!(untagged.is_empty(), "{untagged:?}");
    // The last create either got a nic (JSON) or was told the quota is reached.
    assert!(
        r.stdout.contains("\"container_ifname\":\"last\"") || r.stderr.contains("quota reached"),
        "{r:?}"
    );
}

#[test]
fn two_per_user_patterns_of_one_user_get_two_subnets() {
    require!();
    let a = TestUser::get("pu5");
    let (b1, b2) = (
        per_user_bridge(&a),
        LinkGuard::fresh(&format!("bx{}", a.uid)),
    );
    let etc = Etc::new()
        .usernet(&format!("{0} veth burrow%u 1\n{0} veth bx%u 1\n", a.name))
        .file("burrow/nic.conf", POOLS);
    let t = own_netns(&a);
    let pid = t.pid_s();
    let mk = |bridge: &str, ifname: &str| {
        let r = nic(
            &a,
            &etc,
            &[
                "create", "--json", "/tmp", "c", &pid, "veth", bridge, ifname,
            ],
        );
        r.expect(0, "");
        jaddr(&r.stdout, "ipv4")
    };
    let (a1, _, g1) = mk("burrow%u", "eth0");
    let (a2, _, g2) = mk("bx%u", "eth1");
    assert_ne!(g1, g2, "each per-user bridge has its own subnet");
    assert_ne!(a1, a2);
    assert_eq!(sys_net(&b1.0, "ifalias").split(' ').count(), 4);
    assert!(sh(&format!("ip -o -4 addr show dev {}", b2.0)).contains(&format!("inet {g2}/24")));
}
