//! Published ports in user space (`-p` with `--net none`): the forwarder of the container's
//! monitor (or of a foreground run) accepts on the host and connects to 127.0.0.1:CTRPORT in
//! the container's network namespace. Real containers as an unprivileged test user on the
//! busybox rootfs with `tests/probes/echo.c` as /bin/echo-srv (it tells each client the
//! address it sees); the host side is this test process (root, in the host's network
//! namespace); what is listening is read back from /proc/net/tcp and /proc/net/udp. Every test
//! has a private XDG_RUNTIME_DIR and XDG_DATA_HOME and its own host ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::ctr_env::*;
use burrow_tests::*;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn user() -> &'static TestUser {
    ctr_user("pfu")
}

// One test's world: private state and data directories and a rootfs with /bin/echo-srv;
// on drop every container is removed (rm -f) and the directories deleted.
burrow_tests::ctr_env_newtype!(Env);

impl Env {
    fn new(tag: &str) -> Env {
        let e = CtrEnv::new(user(), &format!("pfu-{tag}"));
        let srv = e.rootfs.dir.join("bin/echo-srv");
        fs::copy(probe_binary("echo"), &srv).unwrap();
        std::os::unix::fs::chown(&srv, Some(e.user.uid), Some(e.user.gid)).unwrap();
        // The mount points an --idmap auto root (not the user) cannot make itself.
        for d in ["proc", "dev", "sys"] {
            let p = e.rootfs.dir.join(d);
            fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::chown(&p, Some(e.user.uid), Some(e.user.gid)).unwrap();
        }
        Env(e)
    }

    /// `burrow run -d --init --name NAME --rootfs R EXTRA... /bin/sh -c SCRIPT`.
    fn run_d(&self, name: &str, extra: &[&str], script: &str) -> Ran {
        let mut args = vec!["run", "-d", "--init", "--name", name, "--rootfs"];
        args.push(self.rootfs.path());
        args.extend_from_slice(extra);
        args.extend_from_slice(&["/bin/sh", "-c", script]);
        self.b(&args)
    }

    /// Waits until the container's log has `n` "ready" lines (its servers listen).
    fn wait_ready(&self, name: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.b(&["logs", name]);
            let got = r.stdout.lines().filter(|l| *l == "ready").count();
            if got >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {got} of {n} servers ready after 30 s: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until inspect's state, restart count satisfy `pred`.
    fn wait_state(&self, name: &str, what: &str, pred: impl Fn(&str, u64) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.inspect(name);
            let (st, n) = (
                v["state"].as_str().unwrap().to_owned(),
                v["restart_count"].as_u64().unwrap(),
            );
            if pred(&st, n) {
                return;
            }
            assert!(Instant::now() < deadline, "{name}: not {what}: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The start message (after `burrow: warning: `) for these mappings.
fn notice(list: &str) -> String {
    format!(
        "burrow: warning: published ports {list} are forwarded in user space (--net none or --publish-mode user): the container sees connections from 127.0.0.1 (the forwarder), not the client's address; to keep the client's address use the kernel path: --net bridge with a port grant (burrow admin add-user --ports)\n"
    )
}

/// The local ports of `uid`'s sockets in a /proc/net table (`tcp`, `tcp6`: listening ones
/// only).
fn sockets_of(table: &str, uid: u32) -> Vec<u16> {
    sockets_at(table, uid).into_iter().map(|(_, p)| p).collect()
}

/// The local (address in /proc's hex, port) of `uid`'s sockets in a /proc/net table (`tcp`,
/// `tcp6`: listening ones only); none when the table does not exist (no IPv6).
fn sockets_at(table: &str, uid: u32) -> Vec<(String, u16)> {
    let text = fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = !table.starts_with("tcp") || f[3] == "0A";
            let (addr, port) = f[1].rsplit_once(':').unwrap();
            (listening && f[7] == uid.to_string())
                .then(|| (addr.to_owned(), u16::from_str_radix(port, 16).unwrap()))
        })
        .collect()
}

/// /proc/net/tcp6's form of `::` and `::1`.
const ANY6: &str = "00000000000000000000000000000000";
const LO6: &str = "00000000000000000000000001000000";

/// Asserts that no socket of the test user holds any of `ports` (TCP listeners, UDP; both
/// families).
fn nothing_listens(ports: &[u16]) {
    let uid = user().uid;
    for table in ["tcp", "udp", "tcp6", "udp6"] {
        let held: Vec<u16> = sockets_of(table, uid)
            .into_iter()
            .filter(|p| ports.contains(p))
            .collect();
        assert!(held.is_empty(), "{table} ports still held: {held:?}");
    }
}

/// A TCP round trip: the server's first line, then `msg` echoed, then its "bye" after our
/// half-close; returns everything read.
fn tcp_round_trip(port: u16, msg: &str) -> String {
    tcp_round_trip_at("127.0.0.1", port, msg)
}

/// [`tcp_round_trip`] to `addr` (`::1` for IPv6).
fn tcp_round_trip_at(addr: &str, port: u16, msg: &str) -> String {
    let mut s = TcpStream::connect((addr, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(msg.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    got
}

fn udp_round_trip(port: u16, msg: &str) -> String {
    udp_round_trip_at("127.0.0.1", port, msg)
}

/// [`udp_round_trip`] from and to `addr` (`::1` for IPv6).
fn udp_round_trip_at(addr: &str, port: u16, msg: &str) -> String {
    let u = UdpSocket::bind((addr, 0)).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    u.send_to(msg.as_bytes(), (addr, port)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(from.port(), port, "the reply comes from the published port");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// "port CTR peer 127.0.0.1:N REST" with N a port: returns REST.
fn seen_from_forwarder(line: &str, ctr: u16) -> &str {
    let rest = line
        .strip_prefix(&format!("port {ctr} peer 127.0.0.1:"))
        .unwrap_or_else(|| panic!("not from the forwarder to port {ctr}: {line:?}"));
    let (n, rest) = rest.split_at(rest.find([' ', '\n']).unwrap());
    n.parse::<u16>().unwrap();
    rest
}

#[test]
fn tcp_and_udp_round_trips_with_net_none_and_nothing_left_after_stop() {
    require!();
    let e = Env::new("rt");
    let r = e.run_d(
        "rt",
        &[
            "-p",
            "127.0.0.1:18101:80",
            "-p",
            "18102:53/udp",
            "-p",
            "0.0.0.0:18103:80",
        ],
        "echo-srv tcp 80 & exec echo-srv udp 53",
    );
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            Some(0),
            "rt\n",
            notice("127.0.0.1:18101:80/tcp, 18102:53/udp, 0.0.0.0:18103:80/tcp").as_str()
        )
    );
    e.wait_ready("rt", 2);
    let uid = user().uid;
    assert!(sockets_of("tcp", uid).contains(&18101));
    assert!(sockets_of("udp", uid).contains(&18102));
    // TCP: the container sees the forwarder (127.0.0.1); our half-close reaches the server,
    // whose reply after it comes back.
    let got = tcp_round_trip(18101, "hello\nworld\n");
    assert_eq!(seen_from_forwarder(&got, 80), "\nhello\nworld\nbye\n");
    // Two at once, both answered.
    let a = TcpStream::connect(("127.0.0.1", 18101)).unwrap();
    assert_eq!(
        tcp_round_trip(18101, "second\n").lines().nth(1),
        Some("second")
    );
    drop(a);
    // UDP: two clients, each answered at its own address.
    let got = udp_round_trip(18102, "ping");
    assert_eq!(seen_from_forwarder(&got, 53), " ping");
    let got = udp_round_trip(18102, "pong");
    assert_eq!(seen_from_forwarder(&got, 53), " pong");
    // Every IPv4 address of the host (0.0.0.0): reached through the host's
    // own global address, and still seen from the forwarder.
    let out = sh("ip -o -4 addr show scope global");
    let host = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("this host has no global IPv4 address: {out}"))
        .to_owned();
    let mut s = TcpStream::connect((host.as_str(), 18103)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"far\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(seen_from_forwarder(&got, 80), "\nfar\nbye\n");
    // UDP on every address: the reply leaves from the address the client wrote to (not the
    // one routing would pick for 127.0.0.1), or the connected client would not take it.
    let u = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    u.connect((host.as_str(), 18102)).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    u.send(b"far").unwrap();
    let mut buf = [0u8; 256];
    let n = u.recv(&mut buf).unwrap();
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(seen_from_forwarder(&got, 53), " far");
    let r = e.b(&["stop", "-t", "30", "rt"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18101, 18102, 18103]);
}

/// Whether the host has IPv6 (the forwarder then binds `[::]` too); outside CI a host without
/// it skips the IPv6 tests.
fn have_ipv6() -> bool {
    let on = fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|s| s.trim() == "0");
    if !on {
        assert!(!in_ci(), "this CI host has no IPv6");
        eprintln!("SKIP: this host has no IPv6");
    }
    on
}

#[test]
fn no_host_address_forwards_ipv4_and_ipv6_clients_to_an_ipv4_server() {
    require!();
    if !have_ipv6() {
        return;
    }
    let e = Env::new("six");
    let r = e.run_d(
        "six",
        &["-p", "18161:80", "-p", "18162:53/udp"],
        // The servers listen on IPv4 only: IPv6 clients reach them through the forwarder.
        "echo-srv tcp 80 & exec echo-srv udp 53",
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(0), notice("18161:80/tcp, 18162:53/udp").as_str()),
        "{r:?}"
    );
    e.wait_ready("six", 2);
    // One socket per family and port: 0.0.0.0 and [::] (which IPV6_V6ONLY lets coexist).
    let uid = user().uid;
    for (table, addr, port) in [
        ("tcp", "00000000", 18161),
        ("udp", "00000000", 18162),
        ("tcp6", ANY6, 18161),
        ("udp6", ANY6, 18162),
    ] {
        let at = sockets_at(table, uid);
        assert!(
            at.contains(&(addr.to_owned(), port)),
            "{table}: no socket on {addr}:{port}: {at:?}"
        );
    }
    for addr in ["::1", "127.0.0.1"] {
        let got = tcp_round_trip_at(addr, 18161, "six\n");
        assert_eq!(seen_from_forwarder(&got, 80), "\nsix\nbye\n", "{addr}");
        let got = udp_round_trip_at(addr, 18162, "dgram");
        assert_eq!(seen_from_forwarder(&got, 53), " dgram", "{addr}");
    }
    // UDP on every IPv6 address: the reply leaves from the address the client wrote to (a
    // global one of the host; routing would answer ::1 from ::1), or the connected client
    // would not take it (IPV6_PKTINFO).
    let out = sh("ip -o -6 addr show scope global");
    let host = out
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .map(str::to_owned);
    match host {
        Some(host) => {
            let u = UdpSocket::bind(("::1", 0)).unwrap();
            u.connect((host.as_str(), 18162)).unwrap();
            u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            u.send(b"far6").unwrap();
            let mut buf = [0u8; 256];
            let n = u.recv(&mut buf).unwrap();
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert_eq!(seen_from_forwarder(&got, 53), " far6");
            let got = tcp_round_trip_at(&host, 18161, "far\n");
            assert_eq!(seen_from_forwarder(&got, 80), "\nfar\nbye\n");
        }
        None => {
            assert!(!in_ci(), "this CI host has no global IPv6 address: {out}");
            eprintln!("SKIP (part): this host has no global IPv6 address");
        }
    }
    let r = e.b(&["stop", "-t", "30", "six"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18161, 18162]);
}

#[test]
fn an_ipv6_host_address_is_the_only_one_listened_on() {
    require!();
    if !have_ipv6() {
        return;
    }
    let e = Env::new("lo6");
    let r = e.run_d(
        "lo6",
        &["-p", "[::1]:18163:80", "-p", "[::1]:18164:53/udp"],
        "echo-srv tcp 80 & exec echo-srv udp 53",
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(0),
            notice("[::1]:18163:80/tcp, [::1]:18164:53/udp").as_str()
        ),
        "{r:?}"
    );
    e.wait_ready("lo6", 2);
    let got = tcp_round_trip_at("::1", 18163, "lo\n");
    assert_eq!(seen_from_forwarder(&got, 80), "\nlo\nbye\n");
    let got = udp_round_trip_at("::1", 18164, "lo");
    assert_eq!(seen_from_forwarder(&got, 53), " lo");
    // Only ::1: no socket of the user on IPv4 or another IPv6 address, and 127.0.0.1 does not
    // answer (TCP refused; UDP: port unreachable, which a connected socket reports).
    let uid = user().uid;
    let mine = |t: &str| {
        sockets_at(t, uid)
            .into_iter()
            .filter(|(_, p)| [18163, 18164].contains(p))
            .collect::<Vec<_>>()
    };
    assert_eq!(mine("tcp6"), [(LO6.to_owned(), 18163)]);
    assert_eq!(mine("udp6"), [(LO6.to_owned(), 18164)]);
    assert_eq!((mine("tcp"), mine("udp")), (vec![], vec![]));
    let refused = TcpStream::connect(("127.0.0.1", 18163)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let u = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    u.connect(("127.0.0.1", 18164)).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    u.send(b"v4?").unwrap();
    let mut buf = [0u8; 64];
    let e4 = u.recv(&mut buf).unwrap_err();
    assert_eq!(e4.kind(), std::io::ErrorKind::ConnectionRefused, "{e4}");
    let r = e.b(&["rm", "-f", "lo6"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18163, 18164]);
}

#[test]
fn a_range_maps_each_port_and_a_host_address_is_kept() {
    require!();
    let e = Env::new("range");
    let r = e.run_d(
        "range",
        // A slice of the range (--idmap auto): the forwarder joins a user namespace in which
        // the user's own uid is not mapped.
        &["--idmap", "auto", "-p", "127.0.0.1:18111-18113:80-82"],
        "echo-srv tcp 80 & echo-srv tcp 81 & exec echo-srv tcp 82",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("range", 3);
    for (host, ctr) in [(18111, 80), (18112, 81), (18113, 82)] {
        let got = tcp_round_trip(host, "x\n");
        assert_eq!(seen_from_forwarder(&got, ctr), "\nx\nbye\n");
    }
    // Only on 127.0.0.1: the listeners are bound to it, not to every address.
    let text = fs::read_to_string("/proc/net/tcp").unwrap();
    for p in [18111u16, 18112, 18113] {
        let local = format!("0100007F:{p:04X}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&local)),
            "no listener on {local}:\n{text}"
        );
    }
    let r = e.b(&["rm", "-f", "range"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18111, 18112, 18113]);
}

#[test]
fn a_port_in_use_fails_the_start_naming_it() {
    require!();
    let e = Env::new("inuse");
    let held = TcpListener::bind(("127.0.0.1", 18121)).unwrap();
    let r = e.run_d(
        "inuse",
        &["-p", "127.0.0.1:18121:80"],
        "exec echo-srv tcp 80",
    );
    r.expect(
        125,
        "burrow: cannot publish 127.0.0.1:18121:80/tcp: host port 18121/tcp is in use (on 127.0.0.1): choose another host port, or stop what holds it\n",
    );
    let ls = e.b(&["ls", "-a", "--format", "json"]);
    assert_eq!(ls.stdout.trim(), "[]", "nothing is left: {ls:?}");
    // A foreground run says the same, before the container starts.
    let r = e.b(&[
        "run",
        "--rootfs",
        e.rootfs.path(),
        "-p",
        "127.0.0.1:18121:80",
        "/bin/sh",
        "-c",
        "echo started",
    ]);
    assert_eq!(r.stdout, "");
    r.expect(
        125,
        "burrow: cannot publish 127.0.0.1:18121:80/tcp: host port 18121/tcp is in use (on 127.0.0.1): choose another host port, or stop what holds it\n",
    );
    // One port of a range in use fails the whole start.
    let r = e.run_d(
        "inuse2",
        &["-p", "127.0.0.1:18120-18122:80-82/tcp"],
        "exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(125), "{r:?}");
    assert!(r.stderr.contains("host port 18121/tcp is in use"), "{r:?}");
    drop(held);
    nothing_listens(&[18120, 18121, 18122]);
    // Held by one of the user's own containers: named.
    let r = e.run_d(
        "holder",
        &["-p", "127.0.0.1:18123:80"],
        "exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = e.run_d("second", &["-p", "18123:81"], "exec echo-srv tcp 81");
    r.expect(
        125,
        "burrow: cannot publish 18123:81/tcp: host port 18123/tcp is already published by your container holder\n",
    );
}

#[test]
fn a_low_port_is_refused_naming_the_sysctl_and_the_kernel_path() {
    require!();
    let start: u32 = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if start <= 81 {
        assert!(
            !in_ci(),
            "net.ipv4.ip_unprivileged_port_start is {start}: this test needs it above 81"
        );
        eprintln!("SKIP: net.ipv4.ip_unprivileged_port_start is {start}");
        return;
    }
    let e = Env::new("low");
    let r = e.run_d("low", &["-p", "127.0.0.1:81:80"], "exec echo-srv tcp 80");
    r.expect(
        125,
        &format!("burrow: cannot publish 127.0.0.1:81:80/tcp: host port 81/tcp is below net.ipv4.ip_unprivileged_port_start ({start}), which only privileged processes may bind: choose a host port of {start} or above, ask the admin to lower it (sysctl net.ipv4.ip_unprivileged_port_start=81), or use the kernel path (--net bridge with a port grant: burrow admin add-user --ports)\n"),
    );
}

#[test]
fn stop_and_rm_end_open_connections_and_every_listener() {
    require!();
    let e = Env::new("idle");
    let r = e.run_d(
        "idle",
        &["-p", "127.0.0.1:18131:80"],
        "exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("idle", 1);
    // An idle connection, end to end (the server's greeting came through), left open.
    let mut open = TcpStream::connect(("127.0.0.1", 18131)).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut first = [0u8; 10];
    open.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"port 80 pe");
    // The monitor still handles stop: SIGTERM reaches the server (through --init), which
    // ends of it (143) long before the 60 s kill timeout.
    let r = e.b(&["stop", "-t", "60", "idle"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = e.inspect("idle");
    assert_eq!(
        (v["state"].as_str(), v["exit_code"].as_i64()),
        (Some("stopped"), Some(143)),
        "{v}"
    );
    // The open connection ended with the container.
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains("bye"),
        "the connection outlived the container: {rest:?}"
    );
    nothing_listens(&[18131]);

    // Started again: forwards again; rm -f ends it all too.
    let r = e.b(&["start", "idle"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stderr, notice("127.0.0.1:18131:80/tcp"));
    e.wait_ready("idle", 2);
    let mut open = TcpStream::connect(("127.0.0.1", 18131)).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    open.read_exact(&mut first).unwrap();
    let r = e.b(&["rm", "-f", "idle"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    nothing_listens(&[18131]);
}

#[test]
fn a_foreground_run_forwards_until_it_ends() {
    require!();
    let e = Env::new("fg");
    let u = user();
    let mut child = run_fixture::spawn_burrow(
        u,
        &[
            "--rm",
            "--init",
            "--rootfs",
            e.rootfs.path(),
            "-p",
            "127.0.0.1:18141:80/tcp",
            "/bin/echo-srv",
            "tcp",
            "80",
        ],
    );
    let mut out = child.stdout.take().unwrap();
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    let got = tcp_round_trip(18141, "fg\n");
    assert_eq!(seen_from_forwarder(&got, 80), "\nfg\nbye\n");
    // A killed forwarder is started again by the foreground burrow too, which says so.
    let first = new_forwarder(child.id(), 0);
    sh(&format!("kill -KILL {first}"));
    new_forwarder(child.id(), first);
    let got = tcp_round_trip(18141, "again\n");
    assert_eq!(seen_from_forwarder(&got, 80), "\nagain\nbye\n");
    // SIGTERM to burrow reaches the container; the run ends and so does the forwarder.
    sh(&format!("kill -TERM {}", child.id()));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(
        err,
        format!(
            "{}burrow: warning: {RESTARTED}\n",
            notice("127.0.0.1:18141:80/tcp")
        )
    );
    nothing_listens(&[18141]);
}

#[test]
fn an_automatic_restart_forwards_into_the_new_container() {
    require!();
    let e = Env::new("rst");
    let r = e.run_d(
        "rst",
        &[
            "--restart",
            "always",
            "-p",
            "127.0.0.1:18151:80",
            "-p",
            "127.0.0.1:18152:53/udp",
        ],
        "echo-srv udp 53 & exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("rst", 2);
    assert_eq!(
        seen_from_forwarder(&tcp_round_trip(18151, "one\n"), 80),
        "\none\nbye\n"
    );
    assert_eq!(seen_from_forwarder(&udp_round_trip(18152, "u1"), 53), " u1");
    // Killed from outside (not by burrow): the monitor restarts it in new namespaces.
    let pid = e.inspect("rst")["pid"].as_i64().unwrap();
    sh(&format!("kill -KILL {pid}"));
    e.wait_state("rst", "restarted", |st, n| st == "running" && n == 1);
    e.wait_ready("rst", 4);
    assert_ne!(e.inspect("rst")["pid"].as_i64().unwrap(), pid);
    assert_eq!(
        seen_from_forwarder(&tcp_round_trip(18151, "two\n"), 80),
        "\ntwo\nbye\n"
    );
    assert_eq!(seen_from_forwarder(&udp_round_trip(18152, "u2"), 53), " u2");
    let r = e.b(&["stop", "-t", "30", "rst"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18151, 18152]);
}

#[test]
fn net_bridge_with_publish_mode_user_forwards_to_loopback_without_a_grant() {
    require!();
    // A user of its own (its own per-user bridge), allowed a veth but no ports.
    let u = TestUser::get("pfub");
    u.ensure_real_subids();
    let etc = Etc::new()
        .usernet(&format!("{} veth burrow%u 1\n", u.name))
        .file("burrow/nic.conf", "ipv4 10.197.0.0/16 24\n")
        .file("resolv.conf", "nameserver 192.0.2.53\n");
    let _br = LinkGuard::per_user_bridge(&u);
    let rootfs = Rootfs::new(&u, "pfub-rootfs");
    let srv = rootfs.dir.join("bin/echo-srv");
    fs::copy(probe_binary("echo"), &srv).unwrap();
    std::os::unix::fs::chown(&srv, Some(u.uid), Some(u.gid)).unwrap();
    // A foreground run in the background of the script; the client is python on the host.
    let script = r#"
"$B" run --rm --init --net bridge --publish-mode user -p 127.0.0.1:18171:80 --rootfs "$1" /bin/echo-srv tcp 80 >"$2" 2>"$2.err" &
for i in $(seq 600); do grep -q ready "$2" && break; sleep 0.05; done
python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 18171)); s.sendall(b"bridged\n"); s.shutdown(socket.SHUT_WR)
d = b""
while True:
    x = s.recv(4096)
    if not x: break
    d += x
print(d.decode(), end="")
'
kill -TERM %1; wait %1; echo "status $?"
cat "$2.err"
"#;
    let out = tempdir("pfub-out").join("out");
    sh(&format!(
        "chown {}:{} {}",
        u.uid,
        u.gid,
        out.parent().unwrap().display()
    ));
    let r = Run::new(&u)
        .etc(&etc)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .env("XDG_RUNTIME_DIR", "")
        .env("B", helper("burrow").to_str().unwrap())
        .script(script, &[rootfs.path(), out.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let (reply, rest) = r
        .stdout
        .split_once("bye\n")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(seen_from_forwarder(reply, 80), "\nbridged\n");
    assert_eq!(
        rest,
        format!("status 143\n{}", notice("127.0.0.1:18171:80/tcp"))
    );
    nothing_listens(&[18171]);
}

#[test]
fn a_sigkill_of_the_monitor_leaves_no_listener() {
    require!();
    let e = Env::new("mkill");
    let r = e.run_d(
        "mkill",
        &["-p", "127.0.0.1:18181:80", "-p", "127.0.0.1:18182:53/udp"],
        "echo-srv udp 53 & exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("mkill", 2);
    let mut open = TcpStream::connect(("127.0.0.1", 18181)).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut first = [0u8; 10];
    open.read_exact(&mut first).unwrap();
    let st = fs::read_to_string(e.xdg.join("burrow/mkill/state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&st).unwrap();
    let monitor = v["monitor_pid"].as_i64().unwrap();
    sh(&format!("kill -KILL {monitor}"));
    // The forwarder dies with it (parent-death signal): the connection ends, then the ports
    // are free.
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    let uid = user().uid;
    let deadline = Instant::now() + Duration::from_secs(30);
    while sockets_of("tcp", uid).contains(&18181) || sockets_of("udp", uid).contains(&18182) {
        assert!(
            Instant::now() < deadline,
            "the forwarder outlived its monitor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nothing_listens(&[18181, 18182]);
}

/// The `burrow-portfwd` child of `parent` other than `old`, waited for (at most 15 s: a new
/// one comes at most a second after the last one started).
fn new_forwarder(parent: u32, old: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let kids = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        let found = kids.split_whitespace().find_map(|k| {
            let k: u32 = k.parse().ok()?;
            let comm = fs::read_to_string(format!("/proc/{k}/comm")).ok()?;
            (k != old && comm == "burrow-portfwd\n").then_some(k)
        });
        if let Some(k) = found {
            return k;
        }
        assert!(
            Instant::now() < deadline,
            "no new forwarder under {parent} 15 s after {old} was killed: {kids}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const RESTARTED: &str = "the port forwarder killed by signal 9; starting it again";

#[test]
fn a_killed_forwarder_is_started_again() {
    require!();
    let e = Env::new("fk");
    let r = e.run_d(
        "fk",
        &["-p", "127.0.0.1:18211:80", "-p", "127.0.0.1:18212:53/udp"],
        "echo-srv udp 53 & exec echo-srv tcp 80",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("fk", 2);
    let monitor = u32::try_from(e.inspect("fk")["monitor_pid"].as_u64().unwrap()).unwrap();
    let mut fwd = forwarder_of(&e, "fk");
    // Twice, the second time within a second of the new start (it then waits out the gap).
    for round in 1..=2 {
        sh(&format!("kill -KILL {fwd}"));
        fwd = new_forwarder(monitor, fwd);
        let msg = format!("k{round}\n");
        assert_eq!(
            seen_from_forwarder(&tcp_round_trip(18211, &msg), 80),
            format!("\n{msg}bye\n")
        );
        assert_eq!(seen_from_forwarder(&udp_round_trip(18212, "u"), 53), " u");
    }
    assert_eq!(forwarder_of(&e, "fk"), fwd);
    let log = e.b(&["logs", "fk"]).stdout;
    assert_eq!(
        log.lines()
            .filter(|l| *l == format!("burrow: {RESTARTED}"))
            .count(),
        2,
        "{log}"
    );
    assert_eq!(e.inspect("fk")["state"], "running");
    let r = e.b(&["stop", "-t", "30", "fk"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18211, 18212]);
}

/// The forwarder of a running container: the monitor's child that is not the container.
fn forwarder_of(e: &Env, name: &str) -> u32 {
    let st = fs::read_to_string(e.xdg.join(format!("burrow/{name}/state.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&st).unwrap();
    let (monitor, pid) = (
        v["monitor_pid"].as_u64().unwrap(),
        v["pid"].as_u64().unwrap(),
    );
    let kids = fs::read_to_string(format!("/proc/{monitor}/task/{monitor}/children")).unwrap();
    let others: Vec<u32> = kids
        .split_whitespace()
        .map(|k| k.parse().unwrap())
        .filter(|k| u64::from(*k) != pid)
        .collect();
    assert_eq!(others.len(), 1, "monitor {monitor}'s children: {kids}");
    let comm = fs::read_to_string(format!("/proc/{}/comm", others[0])).unwrap();
    assert_eq!(comm, "burrow-portfwd\n");
    others[0]
}

#[test]
fn udp_flows_are_capped_at_1024() {
    require!();
    let e = Env::new("cap");
    let r = e.run_d(
        "cap",
        &["-p", "127.0.0.1:18201:53/udp"],
        "exec echo-srv udp 53",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    e.wait_ready("cap", 1);
    let fwd = forwarder_of(&e, "cap");
    // 1024 clients get a flow each (one thread each in the forwarder, besides its main one);
    // the 1025th is dropped; an existing flow still works. Thread counts are read after a
    // reply that the forwarder sent after it handled the datagram before it, so they are
    // exact.
    let script = r#"
import resource, socket, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fwd = sys.argv[1]
def threads():
    for l in open(f"/proc/{fwd}/status"):
        if l.startswith("Threads:"):
            return int(l.split()[1])
socks = []
for i in range(1025):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(30)
    socks.append(s)
for i in range(1024):
    socks[i].sendto(b"n%d" % i, ("127.0.0.1", 18201))
    d = socks[i].recv(100).decode()
    assert d.endswith(" n%d" % i), d
print("flows", threads() - 1)
socks[1024].sendto(b"over", ("127.0.0.1", 18201))
socks[0].sendto(b"again", ("127.0.0.1", 18201))
print("reply", socks[0].recv(100).decode().split(" ")[-1])
print("flows", threads() - 1)
socks[1024].setblocking(False)
try:
    print("over got", socks[1024].recv(100))
except BlockingIOError:
    print("over dropped")
"#;
    let out = sh(&format!(
        "python3 -c '{}' {fwd}",
        script.replace('\'', "'\\''")
    ));
    assert_eq!(out, "flows 1024\nreply again\nflows 1024\nover dropped\n");
    let r = e.b(&["stop", "-t", "30", "cap"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    nothing_listens(&[18201]);
}
