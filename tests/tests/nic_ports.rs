//! burrow-nic publish / unpublish against the real kernel: nftables DNAT from host ports to a
//! container's leased address, reached from a "remote" host (a root-made netns behind a veth),
//! from the host (127.0.0.1 and a host address) and from a sibling container (hairpin); the
//! refusals; the kernel state after publish/unpublish; reconcile of stale rules and SIGKILL
//! at random points. Fixtures in `tests/src/nic_fixture.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const POOLS: &str = "ipv4 10.196.0.0/16 24\nipv6 fd42:b0:6::/48 64\n";

/// The remote host's link: host side address, remote side address (IPv4 and IPv6).
const HOST_ADDR: &str = "10.199.77.1";
const REMOTE_ADDR: &str = "10.199.77.2";
const HOST_ADDR6: &str = "fd99:77::1";
const REMOTE_ADDR6: &str = "fd99:77::2";

/// PROTO tcp or udp (IPv4), tcp6 or udp6 (IPv6 only: beside an IPv4 one on the same port).
const SERVER: &str = r#"
import socket, sys
port, proto = int(sys.argv[1]), sys.argv[2]
if proto.endswith("6"):
    fam, any = socket.AF_INET6, "::"
else:
    fam, any = socket.AF_INET, "0.0.0.0"
proto = proto.rstrip("6")
if proto == "tcp":
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((any, port))
    s.listen(16)
    print("ready", flush=True)
    while True:
        c, a = s.accept()
        c.sendall((a[0] + "\n").encode())
        c.close()
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((any, port))
    print("ready", flush=True)
    while True:
        d, a = s.recvfrom(100)
        s.sendto((a[0] + "\n").encode(), a)
"#;

const CLIENT: &str = r#"
import socket, sys
ip, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if proto == "tcp":
    s = socket.create_connection((ip, port), timeout=10)
    print(s.recv(100).decode().strip())
else:
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(b"x", (ip, port))
    print(s.recv(100).decode().strip())
"#;

/// A python server in the netns of `pid` that answers each client with its address.
struct Server(Child);

impl Server {
    fn start(pid: u32, port: u16, proto: &str) -> Server {
        let mut c = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "python3", "-u", "-c", SERVER])
            .args([&port.to_string(), proto])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        Server(c)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks `ip:port` over `proto`, from the netns `prefix` enters (empty: the host); returns the
/// address the server saw, or the client's error.
fn ask(prefix: &[&str], ip: &str, port: u16, proto: &str) -> String {
    let mut argv: Vec<&str> = prefix.to_vec();
    let port = port.to_string();
    argv.extend_from_slice(&["python3", "-c", CLIENT, ip, &port, proto]);
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim())
    }
}

/// A root-made netns linked to the host by a veth: the "remote" client, with an IPv4 and an
/// IPv6 address. Also turns on IPv4 and IPv6 forwarding for the test (restored on drop). One
/// at a time (its names, addresses and the forwarding it restores are fixed).
struct Remote {
    ns: String,
    link: LinkGuard,
    forward: String,
    forward6: String,
    _one: std::sync::MutexGuard<'static, ()>,
}

static ONE_REMOTE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Remote {
    fn new() -> Remote {
        let one = ONE_REMOTE.lock().unwrap_or_else(|e| e.into_inner());
        let id = std::process::id() % 100_000;
        let ns = format!("bnpr{id}");
        let link = LinkGuard::fresh(&format!("bnpr{id}h"));
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        sh(&format!(
            "ip netns add {ns} && ip link add {0} type veth peer name r0 netns {ns} && ip addr add {HOST_ADDR}/30 dev {0} && ip addr add {HOST_ADDR6}/64 dev {0} nodad && ip link set {0} up && ip netns exec {ns} sh -c 'ip link set lo up && ip addr add {REMOTE_ADDR}/30 dev r0 && ip addr add {REMOTE_ADDR6}/64 dev r0 nodad && ip link set r0 up'",
            link.0
        ));
        let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        let forward6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap();
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").unwrap();
        Remote {
            ns,
            link,
            forward,
            forward6,
            _one: one,
        }
    }

    fn prefix(&self) -> Vec<&str> {
        vec!["ip", "netns", "exec", &self.ns]
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", self.forward.trim());
        let _ = std::fs::write(
            "/proc/sys/net/ipv6/conf/all/forwarding",
            self.forward6.trim(),
        );
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = &self.link;
    }
}

/// A "container": a netns of the user's own with a nic on the per-user bridge, configured.
struct Ctr {
    t: Proc,
    host: String,
    ifindex: String,
    addr: String,
    gw: String,
    /// The IPv6 address and gateway (empty without an ipv6 pool).
    addr6: String,
    gw6: String,
}

impl Ctr {
    fn new(u: &TestUser, etc: &Etc, name: &str) -> Ctr {
        let t = own_netns(u);
        let r = nic(
            u,
            etc,
            &[
                "create",
                "--json",
                "/tmp",
                name,
                &t.pid_s(),
                "veth",
                "burrow%u",
                "eth0",
            ],
        );
        r.expect(0, "");
        let has = |fam: &str| r.stdout.contains(&format!("\"{fam}\":{{"));
        let (addr, gw, addr6, gw6) = match (has("ipv4"), has("ipv6")) {
            (true, true) => {
                configure_inside(t.pid, "eth0", &r.stdout);
                let (a, _, g) = jaddr(&r.stdout, "ipv4");
                let (a6, _, g6) = jaddr(&r.stdout, "ipv6");
                (a, g, a6, g6)
            }
            (true, false) => {
                let (a, l, g) = jaddr(&r.stdout, "ipv4");
                let out = in_netns(
                    t.pid,
                    &format!("set -e; ip link set lo up; ip addr add {a}/{l} dev eth0; ip link set eth0 up; ip route add default via {g}"),
                );
                assert!(out.status.success(), "{out:?}");
                (a, g, String::new(), String::new())
            }
            // An ipv6 pool only.
            (false, true) => {
                let (a, l, g) = jaddr(&r.stdout, "ipv6");
                let out = in_netns(
                    t.pid,
                    &format!("set -e; ip link set lo up; ip addr add {a}/{l} dev eth0 nodad; ip link set eth0 up; ip -6 route add default via {g}"),
                );
                assert!(out.status.success(), "{out:?}");
                (String::new(), String::new(), a, g)
            }
            (false, false) => panic!("no address: {}", r.stdout),
        };
        Ctr {
            t,
            host: jfield(&r.stdout, "host_ifname"),
            ifindex: jfield(&r.stdout, "host_ifindex"),
            addr,
            gw,
            addr6,
            gw6,
        }
    }

    fn netns(&self) -> String {
        format!("/proc/{}/ns/net", self.t.pid)
    }

    fn prefix(&self) -> Vec<String> {
        vec!["nsenter".into(), "-t".into(), self.t.pid_s(), "-n".into()]
    }

    /// The comment burrow-nic puts on this container's rules.
    fn comment(&self, uid: u32, name: &str) -> String {
        format!(
            "comment \"burrow-nic {uid} {} {} {name}\"",
            self.host, self.ifindex
        )
    }
}

fn publish(u: &TestUser, etc: &Etc, c: &Ctr, name: &str, maps: &[&str]) -> Ran {
    let ns = c.netns();
    let mut v = vec!["publish", ns.as_str(), c.host.as_str(), name];
    v.extend_from_slice(maps);
    nic(u, etc, &v)
}

/// The rules of `nft list table ip burrow_ports` for host end `host` (trimmed, in order).
fn rules_of(host: &str) -> Vec<String> {
    rules_in("ip", host)
}

/// The rules of `nft list table ip6 burrow_ports` for host end `host` (trimmed, in order).
fn rules6_of(host: &str) -> Vec<String> {
    rules_in("ip6", host)
}

fn rules_in(family: &str, host: &str) -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "table", family, "burrow_ports"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!(" {host} ")) && l.contains("comment \"burrow-nic "))
        .map(|l| l.trim().to_owned())
        .collect()
}

fn etc_for_ports(a: &TestUser, b: &TestUser, a_ports: Option<&str>) -> Etc {
    let mut text = format!(
        "{0} veth burrow%u 4\n{1} veth burrow%u 4\n{1} ports 47000-47099\n",
        a.name, b.name
    );
    if let Some(p) = a_ports {
        text.push_str(&format!("{} ports {p}\n", a.name));
    }
    Etc::new().usernet(&text).file("burrow/nic.conf", POOLS)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every create and publish reconciles every user's stale rules: the reconcile test, which
/// looks at stale rules before anyone reconciles them, runs alone (write); the others share
/// (read).
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn published_ports_reach_the_container_from_outside_the_host_and_siblings() {
    require!();
    let _alone = shared();
    let a = TestUser::get("pp1");
    let b = TestUser::get("pp2");
    let _br = LinkGuard::per_user_bridge(&a);
    let etc = etc_for_ports(&a, &b, Some("47080-47089,443"));
    let remote = Remote::new();
    let web = Ctr::new(&a, &etc, "web");
    let _tcp = Server::start(web.t.pid, 8080, "tcp");
    let _udp = Server::start(web.t.pid, 5353, "udp");
    publish(&a, &etc, &web, "web", &["47080:8080", "47081:5353/udp"]).expect(0, "");
    let c = web.comment(a.uid, "web");
    let br = format!("burrow{}", a.uid);
    let net = format!("{}.0/24", web.gw.rsplit_once('.').unwrap().0);
    assert_eq!(
        rules_of(&web.host),
        [
            format!("tcp dport 47080 dnat to {}:8080 {c}", web.addr),
            format!("udp dport 47081 dnat to {}:5353 {c}", web.addr),
            format!(
                "ip saddr 127.0.0.0/8 ip daddr {} ct status dnat masquerade {c}",
                web.addr
            ),
            format!(
                "oifname \"{br}\" ip saddr {net} ip daddr {} ct status dnat masquerade {c}",
                web.addr
            ),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"))
            .unwrap()
            .trim(),
        "1"
    );
    // (a) From another host: the container sees the client's own address, TCP and UDP.
    let rp = remote.prefix();
    assert_eq!(ask(&rp, HOST_ADDR, 47080, "tcp"), REMOTE_ADDR);
    assert_eq!(ask(&rp, HOST_ADDR, 47081, "udp"), REMOTE_ADDR);
    // (b) From the host: at 127.0.0.1 (masqueraded to the bridge's address) and at a host
    // address (the host's own address is the source).
    assert_eq!(ask(&[], "127.0.0.1", 47080, "tcp"), web.gw);
    assert_eq!(ask(&[], "127.0.0.1", 47081, "udp"), web.gw);
    assert_eq!(ask(&[], HOST_ADDR, 47080, "tcp"), HOST_ADDR);
    assert_eq!(ask(&[], HOST_ADDR, 47081, "udp"), HOST_ADDR);
    // (c) Hairpin: a sibling on the same bridge reaches it through the host's address and
    // through its gateway.
    let sib = Ctr::new(&a, &etc, "sib");
    let sp = sib.prefix();
    assert_eq!(ask(&strs(&sp), HOST_ADDR, 47080, "tcp"), web.gw);
    assert_eq!(ask(&strs(&sp), &web.gw, 47081, "udp"), web.gw);
    // Publish replaces the set; no mapping removes it; unpublish removes it (also twice).
    publish(&a, &etc, &web, "web", &["127.0.0.1:47082:8080"]).expect(0, "");
    assert_eq!(
        rules_of(&web.host),
        [
            format!(
                "ip daddr 127.0.0.1 tcp dport 47082 dnat to {}:8080 {c}",
                web.addr
            ),
            format!(
                "ip saddr 127.0.0.0/8 ip daddr {} ct status dnat masquerade {c}",
                web.addr
            ),
            format!(
                "oifname \"{br}\" ip saddr {net} ip daddr {} ct status dnat masquerade {c}",
                web.addr
            ),
        ]
    );
    assert_eq!(ask(&[], "127.0.0.1", 47082, "tcp"), web.gw);
    assert!(ask(&rp, HOST_ADDR, 47082, "tcp").starts_with("failed"));
    publish(&a, &etc, &web, "web", &[]).expect(0, "");
    assert!(rules_of(&web.host).is_empty());
    publish(&a, &etc, &web, "web", &["47083-47084:47083-47084"]).expect(0, "");
    assert_eq!(
        rules_of(&web.host)[0],
        format!("tcp dport 47083-47084 dnat to {} {c}", web.addr)
    );
    let r = nic(&a, &etc, &["unpublish", &web.host]);
    check(&r, 0, "", "");
    assert!(rules_of(&web.host).is_empty());
    nic(&a, &etc, &["unpublish", &web.host]).expect(0, "");
    // The table goes with the last rule of anyone; while other tests' rules keep it, its
    // base chains have exactly their fixed rules.
    let table = Command::new("nft")
        .args(["list", "table", "ip", "burrow_ports"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    if table.contains("comment \"burrow-nic ") {
        for want in [
            "iifname != \"lo\" ip daddr 127.0.0.0/8 drop",
            "fib daddr type local jump ports",
        ] {
            assert!(table.contains(want), "{table}");
        }
    } else {
        assert_eq!(table, "", "a table without rules is deleted");
    }
    drop(sib);
}

/// The /64 (the ipv6 pool's subnet size in [`POOLS`]) of an IPv6 address, as nft prints it.
fn net64(a: &str) -> String {
    let a: std::net::Ipv6Addr = a.parse().unwrap();
    let n = u128::from(a) & (u128::MAX << 64);
    format!("{}/64", std::net::Ipv6Addr::from(n))
}

#[test]
fn ipv6_published_ports_reach_the_container_from_a_remote_ipv6_client() {
    require!();
    let _alone = shared();
    let a = TestUser::get("pp9");
    let b = TestUser::get("pp2");
    let _br = LinkGuard::per_user_bridge(&a);
    let etc = etc_for_ports(&a, &b, Some("47100-47119"));
    let remote = Remote::new();
    let web = Ctr::new(&a, &etc, "web6");
    assert!(!web.addr6.is_empty(), "the ipv6 pool addressed it");
    let _servers: Vec<Server> = ["tcp", "tcp6"]
        .iter()
        .map(|p| Server::start(web.t.pid, 8080, p))
        .chain(
            ["udp", "udp6"]
                .iter()
                .map(|p| Server::start(web.t.pid, 5353, p)),
        )
        .collect();
    // No host address: both families, in one transaction.
    publish(&a, &etc, &web, "web6", &["47100:8080", "47101:5353/udp"]).expect(0, "");
    let c = web.comment(a.uid, "web6");
    let br = format!("burrow{}", a.uid);
    let (addr6, net6) = (web.addr6.as_str(), net64(&web.addr6));
    let hairpin6 = format!(
        "oifname \"{br}\" ip6 saddr {net6} ip6 daddr {addr6} ct status dnat masquerade {c}"
    );
    assert_eq!(
        rules6_of(&web.host),
        [
            format!("tcp dport 47100 dnat to [{addr6}]:8080 {c}"),
            format!("udp dport 47101 dnat to [{addr6}]:5353 {c}"),
            hairpin6.clone(),
        ]
    );
    assert_eq!(
        rules_of(&web.host)[..2],
        [
            format!("tcp dport 47100 dnat to {}:8080 {c}", web.addr),
            format!("udp dport 47101 dnat to {}:5353 {c}", web.addr),
        ]
    );
    // (a) From another host over IPv6: the container sees the client's own address.
    let rp = remote.prefix();
    assert_eq!(ask(&rp, HOST_ADDR6, 47100, "tcp"), REMOTE_ADDR6);
    assert_eq!(ask(&rp, HOST_ADDR6, 47101, "udp"), REMOTE_ADDR6);
    // ... and over IPv4 as before.
    assert_eq!(ask(&rp, HOST_ADDR, 47100, "tcp"), REMOTE_ADDR);
    // (b) From the host at its own IPv6 address (the source).
    assert_eq!(ask(&[], HOST_ADDR6, 47100, "tcp"), HOST_ADDR6);
    assert_eq!(ask(&[], HOST_ADDR6, 47101, "udp"), HOST_ADDR6);
    // (c) Hairpin: a sibling through the host's IPv6 address is seen as the gateway.
    let sib = Ctr::new(&a, &etc, "sib6");
    assert_eq!(ask(&strs(&sib.prefix()), HOST_ADDR6, 47100, "tcp"), web.gw6);
    assert_eq!(ask(&strs(&sib.prefix()), HOST_ADDR6, 47101, "udp"), web.gw6);
    // Replace: an IPv6 host address has rules in ip6 only; 0.0.0.0 in ip only.
    publish(
        &a,
        &etc,
        &web,
        "web6",
        &[&format!("[{HOST_ADDR6}]:47102:8080"), "0.0.0.0:47103:8080"],
    )
    .expect(0, "");
    assert_eq!(
        rules6_of(&web.host),
        [
            format!("ip6 daddr {HOST_ADDR6} tcp dport 47102 dnat to [{addr6}]:8080 {c}"),
            hairpin6.clone(),
        ]
    );
    assert_eq!(
        rules_of(&web.host)[0],
        format!("tcp dport 47103 dnat to {}:8080 {c}", web.addr)
    );
    assert_eq!(rules_of(&web.host).len(), 3, "{:?}", rules_of(&web.host));
    assert_eq!(ask(&rp, HOST_ADDR6, 47102, "tcp"), REMOTE_ADDR6);
    assert_eq!(ask(&rp, HOST_ADDR, 47103, "tcp"), REMOTE_ADDR);
    assert!(ask(&rp, HOST_ADDR, 47102, "tcp").starts_with("failed"));
    // [::] alone: ip6 only, no rule of this container in ip.
    publish(&a, &etc, &web, "web6", &["[::]:47104-47105:8080-8081"]).expect(0, "");
    assert_eq!(
        rules6_of(&web.host),
        [
            format!("tcp dport 47104 dnat to [{addr6}]:8080 {c}"),
            format!("tcp dport 47105 dnat to [{addr6}]:8081 {c}"),
            hairpin6,
        ]
    );
    assert!(rules_of(&web.host).is_empty());
    assert_eq!(ask(&rp, HOST_ADDR6, 47104, "tcp"), REMOTE_ADDR6);
    // Unpublish removes both families' rules.
    nic(&a, &etc, &["unpublish", &web.host]).expect(0, "");
    assert!(rules6_of(&web.host).is_empty() && rules_of(&web.host).is_empty());
    // The ip6 table goes with the last rule of anyone; while other tests' rules keep it, its
    // base chains have exactly their fixed rules.
    let table = Command::new("nft")
        .args(["list", "table", "ip6", "burrow_ports"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    if table.contains("comment \"burrow-nic ") {
        for want in [
            "iifname != \"lo\" ip6 daddr ::1 drop",
            "fib daddr type local jump ports",
        ] {
            assert!(table.contains(want), "{table}");
        }
    } else {
        assert_eq!(table, "", "a table without rules is deleted");
    }
    drop(sib);
}

#[test]
fn ipv6_refusals_and_a_container_without_ipv6_gets_no_ip6_rules() {
    require!();
    let _alone = shared();
    let a = TestUser::get("pq1");
    let b = TestUser::get("pp4");
    let _br = LinkGuard::per_user_bridge(&a);
    let etc = etc_for_ports(&a, &b, Some("47110-47119"));
    let c1 = Ctr::new(&a, &etc, "c61");
    let c2 = Ctr::new(&a, &etc, "c62");
    // ::1 cannot work through DNAT: refused, naming the way that works.
    publish(&a, &etc, &c1, "c61", &["[::1]:47110:80"]).expect(
        1,
        &err("[::1]:47110:80/tcp: ::1 cannot be published through the kernel (IPv6 has no route_localnet: the kernel drops loopback packets sent off lo); publish it through the user-space forwarder (--publish-mode user), or publish on every IPv6 address ([::]) and connect to one of the host's own addresses"),
    );
    // Not an address of this host.
    publish(&a, &etc, &c1, "c61", &["[2001:db8::77]:47110:80"]).expect(
        1,
        &err("host address 2001:db8::77 (in [2001:db8::77]:47110:80/tcp) is not an address of this host"),
    );
    // Clashes across families: [::] and 0.0.0.0 share nothing; no address clashes with both.
    publish(&a, &etc, &c1, "c61", &["[::]:47111:80"]).expect(0, "");
    publish(&a, &etc, &c2, "c62", &["0.0.0.0:47111:80"]).expect(0, "");
    publish(&a, &etc, &c2, "c62", &["47111:80"]).expect(
        1,
        &err("host port 47111/tcp is already published by your container c61"),
    );
    publish(&a, &etc, &c2, "c62", &[&format!("[{}]:47111:80", c2.gw6)]).expect(
        1,
        &err("host port 47111/tcp is already published by your container c61"),
    );
    // A host socket on ::1 (tcp6) holds IPv6 only.
    let l = std::net::TcpListener::bind("[::1]:47112").unwrap();
    publish(&a, &etc, &c2, "c62", &["[::]:47112:80"])
        .expect(1, &err("host port 47112/tcp is in use"));
    publish(&a, &etc, &c2, "c62", &["47112:80"]).expect(1, &err("host port 47112/tcp is in use"));
    publish(&a, &etc, &c2, "c62", &["0.0.0.0:47112:80"]).expect(0, "");
    drop(l);
    nic(&a, &etc, &["unpublish", &c1.host]).expect(0, "");
    nic(&a, &etc, &["unpublish", &c2.host]).expect(0, "");
    // Pools without ipv6: the container has no IPv6 address, no mapping gets ip6 rules, and
    // an IPv6 host address is refused.
    drop((c1, c2));
    let etc4 = Etc::new()
        .usernet(&format!(
            "{0} veth burrow%u 4\n{0} ports 47110-47119\n",
            a.name
        ))
        .file("burrow/nic.conf", "ipv4 10.196.0.0/16 24\n");
    let c4 = Ctr::new(&a, &etc4, "c64");
    assert!(c4.addr6.is_empty());
    publish(&a, &etc4, &c4, "c64", &["47113:80", "0.0.0.0:47114:80/udp"]).expect(0, "");
    assert_eq!(rules_of(&c4.host).len(), 4, "{:?}", rules_of(&c4.host));
    assert!(rules6_of(&c4.host).is_empty());
    publish(&a, &etc4, &c4, "c64", &["47113:80", "[::]:47115:80"]).expect(
        1,
        &err(&format!(
            "{} has no IPv6 address from burrow-nic, so [::]:47115:80/tcp cannot be published through the kernel (an IPv6 host address needs a nic on a per-user bridge with an IPv6 pool in /etc/burrow/nic.conf); publish through the user-space forwarder (--publish-mode user)",
            c4.host
        )),
    );
    assert_eq!(rules_of(&c4.host).len(), 4, "a refusal changes nothing");
    nic(&a, &etc4, &["unpublish", &c4.host]).expect(0, "");
    assert!(rules_of(&c4.host).is_empty());
    drop(c4);
    // Pools with ipv6 only: IPv6 mappings get ip6 rules and no ip ones; a mapping that needs
    // IPv4 is refused, naming the way that works.
    let etc6 = Etc::new()
        .usernet(&format!(
            "{0} veth burrow%u 4\n{0} ports 47110-47119\n",
            a.name
        ))
        .file("burrow/nic.conf", "ipv6 fd42:b0:6::/48 64\n");
    let c6 = Ctr::new(&a, &etc6, "c66");
    assert!(c6.addr.is_empty() && !c6.addr6.is_empty(), "{:?}", c6.addr6);
    let sink = SyslogSink::new();
    Run::new(&a)
        .etc(&etc6)
        .devlog(&sink.path())
        .cmd(
            &helper(NIC),
            &["publish", &c6.netns(), &c6.host, "c66", "[::]:47116:80"],
        )
        .expect(0, "");
    let log = sink.drain().join("\n");
    assert!(
        log.contains(&format!(
            "allowed: publish {} (ifindex {}) container c66 to {}: [[::]:47116:80/tcp] (replacing 0 rules; grant line 2 \"{} ports 47110-47119\")",
            c6.host, c6.ifindex, c6.addr6, a.name
        )),
        "{log}"
    );
    let six = rules6_of(&c6.host);
    assert!(
        six.iter()
            .any(|r| r.starts_with(&format!("tcp dport 47116 dnat to [{}]:80 ", c6.addr6))),
        "{six:?}"
    );
    assert!(rules_of(&c6.host).is_empty(), "{:?}", rules_of(&c6.host));
    publish(&a, &etc6, &c6, "c66", &["47117:80"]).expect(
        1,
        &err(&format!(
            "{} has no IPv4 address from burrow-nic (only a nic on a per-user bridge with an IPv4 pool in /etc/burrow/nic.conf can publish ports through the kernel); publish through the user-space forwarder (--publish-mode user)",
            c6.host
        )),
    );
    assert_eq!(rules6_of(&c6.host), six, "a refusal changes nothing");
    nic(&a, &etc6, &["unpublish", &c6.host]).expect(0, "");
    assert!(rules6_of(&c6.host).is_empty());
}

#[test]
fn refusals_name_the_grant_the_holder_and_the_fixes() {
    require!();
    let _alone = shared();
    let a = TestUser::get("pp3");
    let b = TestUser::get("pp4");
    let _bra = LinkGuard::per_user_bridge(&a);
    let _brb = LinkGuard::per_user_bridge(&b);
    let fixes = "(burrow admin add-user --ports LIST) or publish through the user-space forwarder (--publish-mode user)";
    // No grant at all (b's grant does not count for a).
    let etc = etc_for_ports(&a, &b, None);
    let c1 = Ctr::new(&a, &etc, "c1");
    publish(&a, &etc, &c1, "c1", &["47000:80"]).expect(
        1,
        &err(&format!(
            "host port 47000/tcp is not in your port grant (/etc/burrow/usernet: no ports line for {} or its groups); ask the admin for a grant {fixes}",
            a.name
        )),
    );
    // Outside the grant.
    let etc = etc_for_ports(&a, &b, Some("47000-47009,443"));
    publish(&a, &etc, &c1, "c1", &["47008-47010:8008-8010/udp"]).expect(
        1,
        &err(&format!(
            "host port 47010/udp is not in your port grant (/etc/burrow/usernet: line 4 \"{} ports 47000-47009,443\"); ask the admin to extend it {fixes}",
            a.name
        )),
    );
    assert!(rules_of(&c1.host).is_empty());
    // A clash with the caller's own container names it.
    // Every decision goes to syslog, allowed and refused.
    let sink = SyslogSink::new();
    let ns1 = c1.netns();
    let logged = |args: &[&str]| {
        Run::new(&a)
            .etc(&etc)
            .devlog(&sink.path())
            .cmd(&helper(NIC), args)
    };
    logged(&["publish", &ns1, &c1.host, "c1", "47001:80"]).expect(0, "");
    logged(&["publish", &ns1, &c1.host, "c1", "47050:80"]).expect(
        1,
        &err(&format!(
            "host port 47050/tcp is not in your port grant (/etc/burrow/usernet: line 4 \"{} ports 47000-47009,443\"); ask the admin to extend it {fixes}",
            a.name
        )),
    );
    let log = sink.drain().join("\n");
    assert!(
        log.contains(&format!(
            "uid={} gid={}: allowed: publish {} (ifindex {}) container c1 to {}: [47001:80/tcp] (replacing 0 rules; grant line 4 \"{} ports 47000-47009,443\")",
            a.uid, a.gid, c1.host, c1.ifindex, c1.addr, a.name
        )),
        "{log}"
    );
    assert!(
        log.contains("refused: host port 47050/tcp is not in your port grant"),
        "{log}"
    );
    let c2 = Ctr::new(&a, &etc, "c2");
    publish(&a, &etc, &c2, "c2", &["47000-47005:80-85"]).expect(
        1,
        &err("host port 47001/tcp is already published by your container c1"),
    );
    // Same port, other protocol or another host address: fine.
    publish(&a, &etc, &c2, "c2", &["47001:80/udp"]).expect(0, "");
    // Another user's rule: "in use", nothing about whose.
    let cb = Ctr::new(&b, &etc, "theirs");
    publish(&b, &etc, &cb, "theirs", &["47002:80"]).expect(0, "");
    publish(&a, &etc, &c2, "c2", &["47002:80"]).expect(1, &err("host port 47002/tcp is in use"));
    // A host listener, TCP and UDP, on the wildcard or the address asked for.
    let l = std::net::TcpListener::bind("127.0.0.1:47003").unwrap();
    publish(&a, &etc, &c2, "c2", &["47003:80"]).expect(1, &err("host port 47003/tcp is in use"));
    publish(&a, &etc, &c2, "c2", &["127.0.0.1:47003:80"])
        .expect(1, &err("host port 47003/tcp is in use"));
    let u = std::net::UdpSocket::bind("0.0.0.0:47004").unwrap();
    publish(&a, &etc, &c2, "c2", &["127.0.0.1:47004:80/udp"])
        .expect(1, &err("host port 47004/udp is in use"));
    drop((l, u));
    // Not a local address.
    publish(&a, &etc, &c2, "c2", &["192.0.2.77:47005:80"]).expect(
        1,
        &err("host address 192.0.2.77 (in 192.0.2.77:47005:80/tcp) is not an address of this host"),
    );
    // HOSTNIC: another user's, or the caller's in another netns, or no such link.
    for (host, ns) in [
        (cb.host.as_str(), c2.netns()),
        (c1.host.as_str(), c2.netns()),
        ("nosuchnic", c2.netns()),
    ] {
        nic(&a, &etc, &["publish", &ns, host, "c2", "47006:80"]).expect(
            1,
            &err(&format!(
                "{host} is not a veth of yours with its container end in that network namespace"
            )),
        );
    }
    // Another user's netns.
    nic(
        &a,
        &etc,
        &["publish", &cb.netns(), &cb.host, "x", "47006:80"],
    )
    .expect(
        1,
        &err(&format!(
            "{:?} is not a network namespace file you can open",
            cb.netns()
        )),
    );
    // b cannot remove a's rules: unpublish of a's host end is a no-op for b.
    nic(&b, &etc, &["unpublish", &c1.host]).expect(0, "");
    assert_eq!(rules_of(&c1.host).len(), 3);
    // Bad mappings and names never reach the kernel.
    let ns = c2.netns();
    for (args, msg) in [
        (
            vec!["publish", &ns, &c2.host, "-x", "47006:80"],
            "container name \"-x\" may hold only letters, digits, '_', '.' and '-', and not start with '-' or '.'".to_owned(),
        ),
        (
            vec!["publish", &ns, &c2.host, "a b", "47006:80"],
            "container name \"a b\" may hold only letters, digits, '_', '.' and '-', and not start with '-' or '.'".to_owned(),
        ),
        (
            vec!["publish", &ns, &c2.host, "c2", "47006:0"],
            "invalid port mapping \"47006:0\": port \"0\" is out of range (1 to 65535) (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)".to_owned(),
        ),
        (
            vec!["publish", &ns, &c2.host, "c2", "47006:80", "47006:81"],
            "port mappings 47006:80/tcp and 47006:81/tcp publish the same host port".to_owned(),
        ),
    ] {
        nic(&a, &etc, &args).expect(1, &err(&msg));
    }
    // The policy file is checked as strictly as ever.
    let bad = Etc::new()
        .usernet(&format!("{} ports 47000,\n", a.name))
        .file("burrow/nic.conf", POOLS);
    publish(&a, &bad, &c2, "c2", &["47006:80"]).expect(
        1,
        &err("/etc/burrow/usernet: line 1: ports \"47000,\": port list \"47000,\" has an empty element"),
    );
    // check shows the grant.
    let r = nic(&a, &etc, &["check"]);
    r.expect(0, "");
    assert!(
        r.stdout.ends_with("ports 47000-47009,443\n"),
        "{}",
        r.stdout
    );
    let r = nic(&a, &etc, &["check", "--json"]);
    assert!(
        r.stdout.ends_with(",\"ports\":\"47000-47009,443\"}\n"),
        "{}",
        r.stdout
    );
    // A nic without an IPv4 address from burrow-nic (no pools) has nothing to DNAT to.
    let nopools = Etc::new().usernet(&format!(
        "{0} veth burrow%u 4\n{0} ports 47000-47009\n",
        a.name
    ));
    let t = own_netns(&a);
    let r = nic(
        &a,
        &nopools,
        &[
            "create",
            "--json",
            "/tmp",
            "bare",
            &t.pid_s(),
            "veth",
            "burrow%u",
            "eth0",
        ],
    );
    r.expect(0, "");
    let bare = jfield(&r.stdout, "host_ifname");
    nic(
        &a,
        &nopools,
        &["publish", &format!("/proc/{}/ns/net", t.pid), &bare, "bare", "47007:80"],
    )
    .expect(
        1,
        &err(&format!(
            "{bare} has no IPv4 address from burrow-nic (only a nic on a per-user bridge with an IPv4 pool in /etc/burrow/nic.conf can publish ports through the kernel); publish through the user-space forwarder (--publish-mode user)"
        )),
    );
    drop(t);
    // A group's line is the grant of its members.
    a.aux_group("ppg");
    let getc = Etc::new()
        .usernet(&format!(
            "{} veth burrow%u 4\n@burrowt-ppg ports 47040\n",
            a.name
        ))
        .file("burrow/nic.conf", POOLS);
    publish(&a, &getc, &c2, "c2", &["47040:80"]).expect(0, "");
    publish(&a, &getc, &c2, "c2", &["47041:80"]).expect(
        1,
        &err(&format!(
            "host port 47041/tcp is not in your port grant (/etc/burrow/usernet: line 2 \"@burrowt-ppg ports 47040\"); ask the admin to extend it {fixes}"
        )),
    );
    for c in [&c1, &c2, &cb] {
        let u = if c.host == cb.host { &b } else { &a };
        nic(u, &etc, &["unpublish", &c.host]).expect(0, "");
        assert!(rules_of(&c.host).is_empty());
    }
}

/// The uid's nft children (burrow-nic runs nft as the caller).
fn wait_no_nft(uid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while Command::new("pgrep")
        .args(["-u", &uid.to_string(), "-x", "nft"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "nft outlived burrow-nic"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn stale_rules_are_reconciled_and_sigkill_leaves_before_or_after() {
    require!();
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    let a = TestUser::get("pp5");
    let b = TestUser::get("pp6");
    let _br = LinkGuard::per_user_bridge(&a);
    let _brb = LinkGuard::per_user_bridge(&b);
    let etc = etc_for_ports(&a, &b, Some("47000-47099"));
    // A container dies with its rules in place: the next publish of anyone reconciles them,
    // and their port is free again.
    // (A container of `a` that publishes `maps` and dies: its host end, whose `n` rules stay.)
    let dead = |name: &str, maps: &[&str], n: usize| {
        let gone = Ctr::new(&a, &etc, name);
        publish(&a, &etc, &gone, name, maps).expect(0, "");
        assert_eq!(rules_of(&gone.host).len(), n);
        let host = gone.host.clone();
        drop(gone);
        wait_gone(&host);
        assert_eq!(rules_of(&host).len(), n, "nothing removes them by itself");
        host
    };
    let host = dead("gone", &["47010:80", "47011:81/udp"], 4);
    let other = Ctr::new(&b, &etc, "other");
    publish(&b, &etc, &other, "other", &["47010:80"]).expect(0, "");
    assert!(rules_of(&host).is_empty());
    // ... and so does a create.
    let host = dead("gone2", &["47012:80"], 3);
    let live = Ctr::new(&a, &etc, "live");
    assert!(rules_of(&host).is_empty());
    // ... and unpublish works after the veth is gone.
    let host = dead("gone3", &["47013:80"], 3);
    nic(&a, &etc, &["unpublish", &host]).expect(0, "");
    assert!(rules_of(&host).is_empty());
    // SIGKILL at random points of publish: the table is before or after, never half; the
    // next publish reconciles to exactly what it asks.
    let sets: [&[&str]; 2] = [
        &["47020:80", "47021-47022:81-82/udp"],
        &["47030-47039:47030-47039"],
    ];
    let expect = |i: usize| {
        publish(&a, &etc, &live, "live", sets[i]).expect(0, "");
        rules_of(&live.host)
    };
    let states = [expect(0), expect(1)];
    assert_ne!(states[0], states[1]);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let ns = live.netns();
    for round in 0..24 {
        let from = round % 2;
        let to = 1 - from;
        expect(from);
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let delay_us = (seed >> 8) % 60_000;
        let mut args = vec!["publish", ns.as_str(), live.host.as_str(), "live"];
        args.extend_from_slice(sets[to]);
        let mut all = vec![helper(NIC).to_str().unwrap().to_owned()];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        let r = Run::new(&a).etc(&etc).script(
            &format!("\"$@\" & p=$!; sleep 0.{delay_us:06}; kill -9 $p 2>/dev/null; wait $p; true"),
            &strs(&all),
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        wait_no_nft(a.uid);
        let now = rules_of(&live.host);
        assert!(
            now == states[from] || now == states[to],
            "round {round} (killed after {delay_us} us): half a rule set: {now:#?}"
        );
    }
    assert_eq!(expect(0), states[0]);
    nic(&a, &etc, &["unpublish", &live.host]).expect(0, "");
    nic(&b, &etc, &["unpublish", &other.host]).expect(0, "");
    assert!(rules_of(&live.host).is_empty() && rules_of(&other.host).is_empty());
}

#[test]
fn parallel_publishes_of_one_port_have_one_winner() {
    require!();
    let _alone = shared();
    let a = TestUser::get("pp7");
    let b = TestUser::get("pp8");
    let _bra = LinkGuard::per_user_bridge(&a);
    let _brb = LinkGuard::per_user_bridge(&b);
    let etc = Etc::new()
        .usernet(&format!(
            "{0} veth burrow%u 4\n{1} veth burrow%u 4\n{0} ports 47060-47069\n{1} ports 47060-47069\n",
            a.name, b.name
        ))
        .file("burrow/nic.conf", POOLS);
    let ca = Ctr::new(&a, &etc, "ca");
    let cb = Ctr::new(&b, &etc, "cb");
    for round in 0..8u16 {
        let port = format!("{}:80", 47060 + round);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| publish(&a, &etc, &ca, "ca", &[&port]));
            let tb = s.spawn(|| publish(&b, &etc, &cb, "cb", &[&port]));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let refusal = err(&format!("host port {}/tcp is in use", 47060 + round));
        let won_a = ra.code == Some(0);
        let (winner, loser) = if won_a { (&ra, &rb) } else { (&rb, &ra) };
        check(winner, 0, "", "");
        check(loser, 1, "", &refusal);
        let (w, l) = if won_a { (&ca, &cb) } else { (&cb, &ca) };
        assert_eq!(rules_of(&w.host).len(), 3, "round {round}");
        assert!(rules_of(&l.host).is_empty(), "round {round}");
        nic(if won_a { &a } else { &b }, &etc, &["unpublish", &w.host]).expect(0, "");
    }
}
