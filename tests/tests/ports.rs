//! Published ports (`-p/--publish`, `--publish-mode`) against the real kernel, as unprivileged
//! test users: the refusals of the front end (no helper involved), `burrow port`, `ls` and
//! `inspect`, and the kernel path end to end: `--net bridge -p` makes burrow run the setuid
//! burrow-nic's `publish` (DNAT rules in the nftables table `ip burrow_ports`) under the grant
//! of a private /etc/burrow/usernet, and `unpublish` when the container's network namespace
//! goes. The container's server is the host's python3 (its /usr mounted read-only into a
//! busybox rootfs) answering with the peer address it sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::io::Read;
use std::time::{Duration, Instant};

const POOLS: &str = "ipv4 10.199.0.0/16 24\n";

/// A user with a private /etc (usernet with `extra` lines after its veth line, nic.conf), a
/// private XDG_RUNTIME_DIR and XDG_DATA_HOME, and a busybox rootfs with the host's /usr.
struct Env {
    u: TestUser,
    etc: Etc,
    xdg: TempDir,
    r: Rootfs,
}

impl Env {
    fn new(tag: &str, grant: &str) -> Env {
        Env::with_pools(tag, grant, POOLS)
    }

    /// [`Env::new`] with these pools in nic.conf.
    fn with_pools(tag: &str, grant: &str, pools: &str) -> Env {
        let u = TestUser::get(tag);
        u.ensure_real_subids();
        let etc = Etc::new()
            .usernet(&format!("{} veth burrow%u 4\n{grant}", u.name))
            .file("burrow/nic.conf", pools)
            .file("resolv.conf", "nameserver 192.0.2.53\n");
        let xdg = TempDir::new(&format!("{tag}-xdg"));
        sh(&format!("chown {}:{} {}", u.uid, u.gid, xdg.path()));
        let r = Rootfs::new(&u, tag);
        // The host's python3 inside: /usr from the host, the merged-usr links beside it.
        sh(&format!(
            "cd {0} && mkdir -p usr && ln -s usr/lib lib && ln -s usr/lib64 lib64 && chown -h {1}:{2} usr lib lib64",
            r.path(),
            u.uid,
            u.gid
        ));
        std::fs::write(r.dir.join("srv.py"), SERVER).unwrap();
        std::fs::write(r.dir.join("srv6.py"), SERVER6).unwrap();
        Env { u, etc, xdg, r }
    }

    /// `burrow ARGS...` as the user.
    fn b(&self, args: &[&str]) -> Ran {
        Run::new(&self.u)
            .etc(&self.etc)
            .env("BURROW_HELPERS_DIR", prefix().join("bin").to_str().unwrap())
            .env("XDG_RUNTIME_DIR", self.xdg.path())
            .env("XDG_DATA_HOME", &format!("{}/data", self.xdg.path()))
            .cmd(&helper("burrow"), args)
    }

    /// `burrow run -d --name NAME OPTS... --net bridge -v /usr:/usr:ro --rootfs R` with the
    /// python server listening on tcp/80 and udp/53.
    fn serve(&self, name: &str, opts: &[&str]) -> Ran {
        let mut a = vec!["run", "-d", "--name", name, "--net", "bridge"];
        a.extend_from_slice(opts);
        a.extend_from_slice(&[
            "-v",
            "/usr:/usr:ro",
            "--rootfs",
            self.r.path(),
            "/usr/bin/python3",
            "/srv.py",
        ]);
        self.b(&a)
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.b(&["inspect", name]);
        out.expect(0, "");
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// Every container name (`ls -a --format json`).
    fn names(&self) -> Vec<String> {
        let out = self.b(&["ls", "-a", "--format", "json"]);
        out.expect(0, "");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let out = self.b(&["ls", "-a", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        for r in v.as_array().into_iter().flatten() {
            if let Some(n) = r["name"].as_str() {
                let _ = self.b(&["rm", "-f", n]);
            }
        }
    }
}

/// Answers each TCP connection on 80 and each UDP datagram on 53 with the peer's address.
const SERVER: &str = r#"import socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 53))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(("udp " + a[0] + "\n").encode(), a)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 80))
t.listen(16)
while True:
    c, a = t.accept()
    c.sendall(("tcp " + a[0] + "\n").encode())
    c.close()
"#;

/// [`SERVER`] on IPv4 and IPv6 (IPV6_V6ONLY sockets beside the IPv4 ones).
const SERVER6: &str = r#"import socket, threading
def udp(fam, any):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((any, 53))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(("udp " + a[0] + "\n").encode(), a)
def tcp(fam, any):
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    t.bind((any, 80))
    t.listen(16)
    while True:
        c, a = t.accept()
        c.sendall(("tcp " + a[0] + "\n").encode())
        c.close()
for f, a in [(socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")]:
    threading.Thread(target=udp, args=(f, a), daemon=True).start()
    threading.Thread(target=tcp, args=(f, a), daemon=True).start()
threading.Event().wait()
"#;

/// The host's first global IPv6 address that is not on a bridge of burrow's, if any.
fn host_addr6() -> Option<String> {
    sh("ip -o -6 addr show scope global")
        .lines()
        .filter(|l| {
            !l.split_whitespace()
                .nth(1)
                .unwrap_or("")
                .starts_with("burrow")
                && !l.contains("tentative")
        })
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == "inet6")?;
            Some(f[i + 1].split('/').next()?.to_owned())
        })
}

/// The host's first global IPv4 address that is not on a bridge of burrow's.
fn host_addr() -> String {
    sh("ip -o -4 addr show scope global")
        .lines()
        .filter(|l| {
            !l.split_whitespace()
                .nth(1)
                .unwrap_or("")
                .starts_with("burrow")
        })
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == "inet")?;
            Some(f[i + 1].split('/').next()?.to_owned())
        })
        .expect("the host has a global IPv4 address")
}

/// What the server at `addr:port` answers over TCP; waits (bounded) for it to listen.
fn tcp_answer(addr: &str, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect((addr, port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = String::new();
            let _ = s.read_to_string(&mut got);
            if !got.is_empty() {
                return got;
            }
        }
        assert!(Instant::now() < deadline, "no answer from {addr}:{port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the server at `addr:port` answers over UDP (the datagram is sent again until it does).
fn udp_answer(addr: &str, port: u16) -> String {
    let any = if addr.contains(':') { "::" } else { "0.0.0.0" };
    let s = std::net::UdpSocket::bind((any, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        s.send_to(b"hi", (addr, port)).unwrap();
        let mut buf = [0u8; 256];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no udp answer from {addr}:{port}"
        );
    }
}

/// Nothing listens on `port` of the host once its rules are gone.
fn tcp_refused(addr: &str, port: u16) -> bool {
    let ip: std::net::IpAddr = addr.parse().unwrap();
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from((ip, port)),
        Duration::from_secs(5),
    )
    .is_err()
}

/// IPv4 forwarding on for a test (restored on drop): DNATed traffic that is routed (from other
/// hosts, or a sibling container's through the host's address) needs it.
/// Another host: a network namespace (root's) on a veth to this host, the host end named
/// `TAG<pid>` with `host_cidr`, the remote end `eth0` with `remote_cidr` (IPv4: a default
/// route through the host). Gone on drop, the link first (fields drop in order).
struct Remote {
    _link: LinkGuard,
    ns: Proc,
    /// The host's address on the link.
    host: String,
}

impl Remote {
    fn new(tag: &str, host_cidr: &str, remote_cidr: &str) -> Remote {
        let ns = Proc::spawn_cmd(
            &TestUser::root(),
            None,
            &["unshare", "-n", "--"],
            &["sleep", "600"],
        );
        let link = LinkGuard::fresh(&format!("{tag}{}", std::process::id() % 100_000));
        let host = host_cidr.split('/').next().unwrap().to_owned();
        let (nodad, route) = if host.contains(':') {
            (" nodad", String::new())
        } else {
            ("", format!(" && ip route add default via {host}"))
        };
        sh(&format!(
            "ip link add {l} type veth peer name eth0 netns {pid} && ip addr add {host_cidr} dev {l}{nodad} && ip link set {l} up && \
             nsenter -t {pid} -n sh -c 'ip addr add {remote_cidr} dev eth0{nodad} && ip link set eth0 up && ip link set lo up{route}'",
            l = link.0,
            pid = ns.pid
        ));
        Remote {
            _link: link,
            ns,
            host,
        }
    }

    /// The first answer of the server at the host's address on the link, port `port`.
    fn client(&self, kind: &str, port: u16) -> String {
        sh(&format!(
            "nsenter -t {} -n python3 -c '{REMOTE_CLIENT}' {kind} {} {port}",
            self.ns.pid, self.host
        ))
    }
}

/// `python3 -c REMOTE_CLIENT tcp|udp ADDR PORT`: the first answer of the server at ADDR:PORT
/// (tcp: what it sends; udp: the reply to "hi"), retried for up to 20 s, printed as it is.
const REMOTE_CLIENT: &str = r#"
import socket, sys, time
kind, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
end = time.time() + 20
while True:
    try:
        if kind == "tcp":
            s = socket.create_connection((addr, port), timeout=5)
            got = s.makefile().read()
        else:
            s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            s.sendto(b"hi", (addr, port))
            got = s.recv(256).decode()
        if got:
            sys.stdout.write(got)
            break
    except OSError:
        pass
    if time.time() > end:
        sys.exit("no answer")
    time.sleep(0.1)
"#;

struct Forwarding(String);

impl Forwarding {
    fn on() -> Forwarding {
        let was = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        Forwarding(was)
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", self.0.trim());
    }
}

/// The nftables table of burrow-nic's published ports (empty when there is none).
fn ports_table() -> String {
    family_table("ip")
}

/// `nft list table FAMILY burrow_ports` (empty when there is none).
fn family_table(family: &str) -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "table", family, "burrow_ports"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// IPv6 forwarding on for a test (restored on drop).
struct Forwarding6(String);

impl Forwarding6 {
    fn on() -> Forwarding6 {
        let f = "/proc/sys/net/ipv6/conf/all/forwarding";
        let was = std::fs::read_to_string(f).unwrap();
        std::fs::write(f, "1").unwrap();
        Forwarding6(was)
    }
}

impl Drop for Forwarding6 {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", self.0.trim());
    }
}

/// Waits (bounded) until `f` holds of the ports table.
fn wait_table(what: &str, f: impl Fn(&str) -> bool) {
    wait_family_table("ip", what, f);
}

/// Waits (bounded) until `f` holds of the FAMILY ports table.
fn wait_family_table(family: &str, what: &str, f: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = family_table(family);
        if f(&t) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ------------------------------------------------------------ refusals, no helper involved

#[test]
fn p01_refusals_of_the_front_end() {
    require!();
    let e = Env::new("ports-a", "");
    let r = e.r.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--net", "host", "-p", "8080:80"],
            "burrow: -p/--publish with --net host: the container already uses the host's ports (its servers listen on the host directly); drop -p, or use --net bridge or --net none\n",
        ),
        (
            &["--publish-mode", "kernel", "-p", "8080:80"],
            "burrow: --publish-mode kernel needs --net bridge (burrow-nic forwards host ports to the container's bridge address; the network mode is none): add --net bridge, or use --publish-mode user\n",
        ),
        (
            &["-p", "8080:80", "-p", "127.0.0.1:8080:81"],
            "burrow: port mappings 8080:80/tcp and 127.0.0.1:8080:81/tcp publish the same host port\n",
        ),
        (
            &["-p", "80"],
            "burrow: invalid port mapping \"80\": a host port is required (burrow does not pick one) (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)\n",
        ),
        (
            &["--publish", "8080:80/sctp"],
            "burrow: invalid port mapping \"8080:80/sctp\": protocol \"sctp\" is not tcp or udp (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)\n",
        ),
        (
            &["--publish-mode", "fast"],
            "burrow: unknown publish mode \"fast\": use user or kernel (or auto)\n",
        ),
        (
            &["-p", "::1:8080:80"],
            "burrow: invalid port mapping \"::1:8080:80\": an IPv6 host address must be in brackets: [::1]:HOSTPORT:CTRPORT (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)\n",
        ),
        (
            &["-p", "[::1]:8080:80", "-p", "8080:81"],
            "burrow: port mappings [::1]:8080:80/tcp and 8080:81/tcp publish the same host port\n",
        ),
    ];
    for (opts, want) in cases {
        for cmd in ["run", "create"] {
            let mut a = vec![cmd];
            a.extend_from_slice(opts);
            a.extend_from_slice(&["--rootfs", r, "/bin/true"]);
            check(&e.b(&a), 125, "", want);
        }
    }
    // The same from the file; flags add to the file's list.
    let f = TempDir::new("ports-a-toml");
    let toml = format!("{}/c.toml", f.path());
    std::fs::write(
        &toml,
        format!("rootfs = \"{r}\"\ncommand = [\"/bin/true\"]\npublish = [\"8080:80\"]\n"),
    )
    .unwrap();
    check(
        &e.b(&["run", "--config", &toml, "-p", "8080:81"]),
        125,
        "",
        "burrow: port mappings 8080:80/tcp and 8080:81/tcp publish the same host port\n",
    );
    check(
        &e.b(&["run", "--config", &toml, "--net", "host"]),
        125,
        "",
        "burrow: -p/--publish with --net host: the container already uses the host's ports (its servers listen on the host directly); drop -p, or use --net bridge or --net none\n",
    );
    std::fs::write(
        &toml,
        format!("rootfs = \"{r}\"\ncommand = [\"/bin/true\"]\npublish = [\"8080\"]\n"),
    )
    .unwrap();
    let out = e.b(&["run", "--config", &toml]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr.contains("invalid port mapping \"8080\""),
        "{}",
        out.stderr
    );
    assert!(e.names().is_empty(), "nothing was created");
}

#[test]
fn p02_port_ls_and_inspect_show_the_mappings() {
    require!();
    let e = Env::new("ports-b", "");
    let r = e.r.path();
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "web",
            "-p",
            "8080:80",
            "--publish",
            "127.0.0.1:5353:53/udp",
            "-p",
            "9000-9001:7000-7001",
            "--rootfs",
            r,
            "/bin/true",
        ]),
        "web\n",
    );
    ok_out(
        &e.b(&["create", "--name", "plain", "--rootfs", r, "/bin/true"]),
        "plain\n",
    );
    ok_out(
        &e.b(&["port", "web"]),
        "80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n7000/tcp -> 0.0.0.0:9000\n7001/tcp -> 0.0.0.0:9001\n",
    );
    ok_out(&e.b(&["port", "web", "53/udp"]), "127.0.0.1:5353\n");
    ok_out(&e.b(&["port", "web", "7001"]), "0.0.0.0:9001\n");
    check(
        &e.b(&["port", "web", "53"]),
        125,
        "",
        "burrow: container web does not publish port 53/tcp\n",
    );
    check(
        &e.b(&["port", "web", "80/sctp"]),
        125,
        "",
        "burrow: port \"80/sctp\": protocol \"sctp\" is not tcp or udp\n",
    );
    ok_out(&e.b(&["port", "plain"]), "");
    // An unknown container: as inspect says it.
    let want = e.b(&["inspect", "nosuch"]);
    assert_eq!(want.code, Some(125));
    check(&e.b(&["port", "nosuch"]), 125, "", &want.stderr);

    let table = norm(&e.b(&["ls", "-a"]).stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0], "NAME STATE PID CREATED COMMAND PORTS EXIT",
        "{table}"
    );
    let web = lines.iter().find(|l| l.starts_with("web ")).unwrap();
    assert!(
        web.ends_with(
            " /bin/true 0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:9000-9001->7000-7001/tcp"
        ),
        "{table}"
    );
    let plain = lines.iter().find(|l| l.starts_with("plain ")).unwrap();
    assert!(plain.ends_with(" /bin/true"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&e.b(&["ls", "-a", "--format", "json"]).stdout).unwrap();
    let row = |n: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("web")["ports"],
        serde_json::json!([
            "0.0.0.0:8080->80/tcp",
            "127.0.0.1:5353->53/udp",
            "0.0.0.0:9000-9001->7000-7001/tcp"
        ])
    );
    assert_eq!(row("plain")["ports"], serde_json::json!([]));

    let v = e.inspect("web");
    assert_eq!(v["ports"].as_array().unwrap().len(), 4);
    assert_eq!(
        v["ports"][1],
        serde_json::json!({"host_ip": "127.0.0.1", "host_port": 5353, "container_port": 53, "protocol": "udp", "mode": "user"})
    );
    assert_eq!(
        v["config"]["publish"],
        serde_json::json!([
            "8080:80/tcp",
            "127.0.0.1:5353:53/udp",
            "9000-9001:7000-7001/tcp"
        ])
    );
    assert_eq!(e.inspect("plain")["ports"], serde_json::json!([]));
    // With --net bridge, auto is kernel.
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "br",
            "--net",
            "bridge",
            "-p",
            "8081:80",
            "--rootfs",
            r,
            "/bin/true",
        ]),
        "br\n",
    );
    assert_eq!(e.inspect("br")["ports"][0]["mode"], "kernel");
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "bru",
            "--net",
            "bridge",
            "--publish-mode",
            "user",
            "-p",
            "8082:80",
            "--rootfs",
            r,
            "/bin/true",
        ]),
        "bru\n",
    );
    let v = e.inspect("bru");
    assert_eq!(v["ports"][0]["mode"], "user");
    assert_eq!(v["config"]["publish_mode"], "user");
}

#[test]
fn p03_ipv6_host_addresses_are_listed_in_brackets() {
    require!();
    let e = Env::new("ports-six", "");
    let r = e.r.path();
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "six",
            "-p",
            "[::1]:8080:80",
            "-p",
            "[::]:5353-5354:53-54/udp",
            "-p",
            "0.0.0.0:8080:81",
            "-p",
            "[FD00::0001]:9000:90",
            "--rootfs",
            r,
            "/bin/true",
        ]),
        "six\n",
    );
    ok_out(
        &e.b(&["port", "six"]),
        "80/tcp -> [::1]:8080\n53/udp -> [::]:5353\n54/udp -> [::]:5354\n81/tcp -> 0.0.0.0:8080\n90/tcp -> [fd00::1]:9000\n",
    );
    ok_out(&e.b(&["port", "six", "54/udp"]), "[::]:5354\n");
    let json: serde_json::Value =
        serde_json::from_str(&e.b(&["ls", "-a", "--format", "json"]).stdout).unwrap();
    assert_eq!(
        json[0]["ports"],
        serde_json::json!([
            "[::1]:8080->80/tcp",
            "[::]:5353-5354->53-54/udp",
            "0.0.0.0:8080->81/tcp",
            "[fd00::1]:9000->90/tcp"
        ])
    );
    let v = e.inspect("six");
    assert_eq!(
        v["ports"][0],
        serde_json::json!({"host_ip": "::1", "host_port": 8080, "container_port": 80, "protocol": "tcp", "mode": "user"})
    );
    assert_eq!(v["ports"][2]["host_ip"], "::");
    assert_eq!(
        v["config"]["publish"],
        serde_json::json!([
            "[::1]:8080:80/tcp",
            "[::]:5353-5354:53-54/udp",
            "0.0.0.0:8080:81/tcp",
            "[fd00::1]:9000:90/tcp"
        ])
    );
}

// ------------------------------------------------------------ the kernel path, end to end

/// burrow-nic reconciles every user's stale rules on each create and publish: p14, which
/// looks at a stale rule before it is reconciled, runs alone (write); the other end-to-end
/// tests of this file, which start containers, share it (read).
static NIC_RUNS: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    NIC_RUNS.read().unwrap_or_else(|e| e.into_inner())
}

/// The grant of the end-to-end tests' user.
fn grant(u: &str) -> String {
    format!("{u} ports 18080-18089,18053\n")
}

#[test]
fn p09_without_p_nothing_is_published_and_the_server_answers_at_its_address() {
    require!();
    let _nic = shared();
    let e = Env::new("ports-n", "");
    e.serve("plain", &[]).expect(0, "");
    let v = e.inspect("plain");
    let veth = v["network"]["host_ifname"].as_str().unwrap().to_owned();
    let ctr = v["network"]["ipv4"]["address"].as_str().unwrap().to_owned();
    let gw = v["network"]["ipv4"]["gateway"].as_str().unwrap().to_owned();
    assert_eq!(v["ports"], serde_json::json!([]));
    assert_eq!(tcp_answer(&ctr, 80), format!("tcp {gw}\n"));
    assert_eq!(udp_answer(&ctr, 53), format!("udp {gw}\n"));
    assert!(!ports_table().contains(&veth));
    ok_out(&e.b(&["port", "plain"]), "");
}

#[test]
fn p10_kernel_publish_reaches_the_container_with_the_clients_address_and_goes_with_it() {
    require!();
    let _nic = shared();
    let name = TestUser::get("ports-k").name;
    let e = Env::new("ports-k", &grant(&name));
    let host = host_addr();
    e.serve("web", &["-p", "18080:80", "-p", "18053:53/udp"])
        .expect(0, "");
    let v = e.inspect("web");
    let veth = v["network"]["host_ifname"].as_str().unwrap().to_owned();
    let ctr = v["network"]["ipv4"]["address"].as_str().unwrap().to_owned();
    assert_eq!(v["ports"][0]["mode"], "kernel");
    // From the host's own address: the container sees that address, for TCP and UDP.
    assert_eq!(tcp_answer(&host, 18080), format!("tcp {host}\n"));
    assert_eq!(udp_answer(&host, 18053), format!("udp {host}\n"));
    // From the host at 127.0.0.1.
    assert!(tcp_answer("127.0.0.1", 18080).starts_with("tcp "));
    ok_out(
        &e.b(&["port", "web"]),
        "80/tcp -> 0.0.0.0:18080\n53/udp -> 0.0.0.0:18053\n",
    );
    let t = ports_table();
    assert!(t.contains(&veth) && t.contains(&ctr), "{t}");
    // The user's other container reaches it at the host's address (hairpin: routed in and
    // out of the bridge, so the host must forward, as for clients on other hosts).
    let _fwd = Forwarding::on();
    let other = e.b(&[
        "run",
        "--rm",
        "--net",
        "bridge",
        "--rootfs",
        e.r.path(),
        "/bin/sh",
        "-c",
        &format!("nc -w 5 {host} 18080 </dev/null"),
    ]);
    assert_eq!(other.code, Some(0), "{other:?}");
    assert!(other.stdout.starts_with("tcp "), "{other:?}");
    // Another host: a network namespace on a veth to this host connects to this host's
    // address on that link; the container sees the remote's own address, TCP and UDP.
    let remote = Remote::new("bpr", "10.199.77.1/30", "10.199.77.2/30");
    let from_remote = |kind: &str, port: u16| remote.client(kind, port);
    assert_eq!(from_remote("tcp", 18080), "tcp 10.199.77.2\n");
    assert_eq!(from_remote("udp", 18053), "udp 10.199.77.2\n");
    drop(remote);
    drop(_fwd);
    // Stopped: the rules are gone with it (the monitor unpublishes).
    ok_out(&e.b(&["stop", "-t", "1", "web"]), "web\n");
    wait_table("rules of the stopped container's veth", |t| {
        !t.contains(&veth)
    });
    assert!(tcp_refused(&host, 18080));
    // Started again: published again.
    ok_out(&e.b(&["start", "web"]), "web\n");
    assert_eq!(tcp_answer(&host, 18080), format!("tcp {host}\n"));
    let veth2 = e.inspect("web")["network"]["host_ifname"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(ports_table().contains(&veth2));
    // rm -f: gone too.
    ok_out(&e.b(&["rm", "-f", "web"]), "web\n");
    wait_table("rules of the removed container's veth", |t| {
        !t.contains(&veth2)
    });
    assert!(tcp_refused(&host, 18080));
    // create, then start: published at the start, not before.
    ok_out(
        &e.b(&[
            "create",
            "--name",
            "made",
            "--net",
            "bridge",
            "-p",
            "18086:80",
            "-v",
            "/usr:/usr:ro",
            "--rootfs",
            e.r.path(),
            "/usr/bin/python3",
            "/srv.py",
        ]),
        "made\n",
    );
    assert!(!ports_table().contains("dport 18086"));
    ok_out(&e.b(&["start", "made"]), "made\n");
    assert_eq!(tcp_answer(&host, 18086), format!("tcp {host}\n"));
    assert!(ports_table().contains("dport 18086"));
    ok_out(&e.b(&["rm", "-f", "made"]), "made\n");
    wait_table("rules of the created container", |t| {
        !t.contains("dport 18086")
    });
}

#[test]
fn p16_kernel_publish_over_ipv6_keeps_the_clients_address() {
    require!();
    let _nic = shared();
    let Some(host6) = host_addr6() else {
        assert!(!in_ci(), "this CI host has no global IPv6 address");
        eprintln!("SKIP: this host has no global IPv6 address");
        return;
    };
    let name = TestUser::get("ports-k6").name;
    let e = Env::with_pools(
        "ports-k6",
        &format!("{name} ports 18190-18199\n"),
        &format!("{POOLS}ipv6 fd42:b1:7::/48 64\n"),
    );
    let mut a = vec!["run", "-d", "--name", "web6", "--net", "bridge"];
    a.extend_from_slice(&["-p", "18190:80", "-p", "18191:53/udp"]);
    let only6 = format!("[{host6}]:18192:80");
    a.extend_from_slice(&["-p", &only6]);
    a.extend_from_slice(&["-v", "/usr:/usr:ro", "--rootfs", e.r.path()]);
    a.extend_from_slice(&["/usr/bin/python3", "/srv6.py"]);
    e.b(&a).expect(0, "");
    let v = e.inspect("web6");
    let veth = v["network"]["host_ifname"].as_str().unwrap().to_owned();
    let ctr6 = v["network"]["ipv6"]["address"].as_str().unwrap().to_owned();
    assert_eq!(v["ports"][2]["host_ip"], host6.as_str());
    assert_eq!(v["ports"][2]["mode"], "kernel");
    ok_out(
        &e.b(&["port", "web6"]),
        &format!("80/tcp -> 0.0.0.0:18190\n53/udp -> 0.0.0.0:18191\n80/tcp -> [{host6}]:18192\n"),
    );
    // Both tables: the IPv6 host address only in ip6.
    let t6 = family_table("ip6");
    for want in [
        format!("tcp dport 18190 dnat to [{ctr6}]:80"),
        format!("udp dport 18191 dnat to [{ctr6}]:53"),
        format!("ip6 daddr {host6} tcp dport 18192 dnat to [{ctr6}]:80"),
    ] {
        assert!(t6.contains(&want), "{want}:\n{t6}");
    }
    let t4 = ports_table();
    assert!(
        t4.contains("dport 18190") && !t4.contains("dport 18192"),
        "{t4}"
    );
    // From the host at its own IPv6 address: the container sees that address.
    assert_eq!(tcp_answer(&host6, 18190), format!("tcp {host6}\n"));
    assert_eq!(udp_answer(&host6, 18191), format!("udp {host6}\n"));
    assert_eq!(tcp_answer(&host6, 18192), format!("tcp {host6}\n"));
    // A remote IPv6 host on a veth to this host: seen with its own address, TCP and UDP.
    let _fwd = Forwarding6::on();
    let remote = Remote::new("bpr6", "fd99:78::1/64", "fd99:78::2/64");
    let from_remote = |kind: &str, port: u16| remote.client(kind, port);
    assert_eq!(from_remote("tcp", 18190), "tcp fd99:78::2\n");
    assert_eq!(from_remote("udp", 18191), "udp fd99:78::2\n");
    drop(remote);
    drop(_fwd);
    // Stopped: the rules of both tables are gone with it.
    ok_out(&e.b(&["rm", "-f", "web6"]), "web6\n");
    wait_family_table("ip6", "ip6 rules of the removed container's veth", |t| {
        !t.contains(&veth)
    });
    wait_table("ip rules of the removed container's veth", |t| {
        !t.contains(&veth)
    });
    assert!(tcp_refused(&host6, 18190));
    // [::1] cannot be reached through the kernel: refused, and nothing is left.
    let mut a = vec![
        "run",
        "-d",
        "--name",
        "lo6",
        "--net",
        "bridge",
        "-p",
        "[::1]:18193:80",
    ];
    a.extend_from_slice(&["--rootfs", e.r.path(), "/bin/true"]);
    let out = e.b(&a);
    check(
        &out,
        125,
        "",
        "burrow: cannot publish the container's ports: burrow-nic: [::1]:18193:80/tcp: ::1 cannot be published through the kernel (IPv6 has no route_localnet: the kernel drops loopback packets sent off lo); publish it through the user-space forwarder (--publish-mode user), or publish on every IPv6 address ([::]) and connect to one of the host's own addresses\n",
    );
    assert!(e.names().is_empty(), "{:?}", e.names());
}

#[test]
fn p11_refusals_of_burrow_nic_pass_through_and_leave_nothing() {
    require!();
    let _nic = shared();
    let name = TestUser::get("ports-r").name;
    let e = Env::new("ports-r", &grant(&name));
    // A port outside the grant.
    let out = e.serve("out", &["-p", "18090:80"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr
            .starts_with("burrow: cannot publish the container's ports: burrow-nic: "),
        "{}",
        out.stderr
    );
    for says in [
        "18090/tcp",
        "18080-18089,18053",
        "/etc/burrow/usernet",
        "burrow admin add-user --ports",
        "--publish-mode user",
    ] {
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        e.names().is_empty(),
        "no container is left: {:?}",
        e.names()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_veths_of(e.u.uid).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", host_veths_of(e.u.uid));
        std::thread::sleep(Duration::from_millis(20));
    }
    // A port the user's own container holds: named.
    e.serve("first", &["-p", "18081:80"]).expect(0, "");
    let out = e.serve("second", &["-p", "18081:80"]);
    check(
        &out,
        125,
        "",
        "burrow: cannot publish the container's ports: burrow-nic: host port 18081/tcp is already published by your container first\n",
    );
    assert_eq!(e.names(), ["first"]);
    // A port a host service holds: in use.
    let l = std::net::TcpListener::bind(("0.0.0.0", 18082)).unwrap();
    let out = e.serve("third", &["-p", "18082:80"]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr.contains("host port 18082/tcp is in use"),
        "{}",
        out.stderr
    );
    drop(l);
    // A foreground run refused the same way.
    let out = e.b(&[
        "run",
        "--rm",
        "--net",
        "bridge",
        "-p",
        "18099:80",
        "--rootfs",
        e.r.path(),
        "/bin/true",
    ]);
    assert_eq!(out.code, Some(125), "{out:?}");
    assert!(
        out.stderr.contains("burrow admin add-user --ports"),
        "{}",
        out.stderr
    );
}

#[test]
fn p12_the_restart_policy_publishes_again_after_the_process_is_killed() {
    require!();
    let _nic = shared();
    let name = TestUser::get("ports-s").name;
    let e = Env::new("ports-s", &grant(&name));
    let host = host_addr();
    e.serve("rs", &["--restart", "always", "-p", "18083:80"])
        .expect(0, "");
    assert_eq!(tcp_answer(&host, 18083), format!("tcp {host}\n"));
    let v = e.inspect("rs");
    let pid = v["pid"].as_i64().unwrap();
    let veth = v["network"]["host_ifname"].as_str().unwrap().to_owned();
    sh(&format!("kill -KILL {pid}"));
    // Restarted by its monitor: a new process, a new veth, its rules.
    let deadline = Instant::now() + Duration::from_secs(30);
    let veth2 = loop {
        let v = e.inspect("rs");
        if v["state"] == "running" && v["pid"].as_i64() != Some(pid) {
            if let Some(n) = v["network"]["host_ifname"].as_str() {
                break n.to_owned();
            }
        }
        assert!(Instant::now() < deadline, "not restarted: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(veth, veth2);
    assert_eq!(tcp_answer(&host, 18083), format!("tcp {host}\n"));
    wait_table("the old veth's rules", |t| {
        !t.contains(&veth) && t.contains(&veth2)
    });
    ok_out(&e.b(&["rm", "-f", "rs"]), "rs\n");
    wait_table("rules of the removed container", |t| !t.contains(&veth2));
}

// ------------------------------------------------------------ the admin writes the grant

/// `burrow ARGS` as root with this /etc.
fn admin(etc: &Etc, args: &[&str]) -> Ran {
    Run::new(&TestUser::root())
        .etc(etc)
        .env("BURROW_HELPERS_DIR", &helpers_dir())
        .cmd(&helper("burrow"), args)
}

#[test]
fn p20_admin_add_user_ports_writes_replaces_and_removes_the_grant() {
    require!();
    let u = TestUser::get("ports-adm");
    let etc = Etc::new().subids("").usernet("# mine\nsomeone ports 80\n");
    let usernet = || std::fs::read_to_string(etc.path().join("burrow/usernet")).unwrap();
    let r = admin(
        &etc,
        &["admin", "add-user", &u.name, "--ports", "8000-8099,443"],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.ends_with(&format!(
            "/etc/burrow/usernet: {0} ports 8000-8099,443 (host ports {0} may publish: burrow run --net bridge -p)\n",
            u.name
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        usernet(),
        format!(
            "# mine\nsomeone ports 80\n{0} veth burrow%u 4\n{0} ports 8000-8099,443\n",
            u.name
        )
    );
    // Again: unchanged.
    let r = admin(
        &etc,
        &["admin", "add-user", &u.name, "--ports", "8000-8099,443"],
    );
    assert!(
        r.stdout.ends_with(&format!(
            "/etc/burrow/usernet: {} ports 8000-8099,443: unchanged\n",
            u.name
        )),
        "{}",
        r.stdout
    );
    // Replaced, then removed; the other user's line stays.
    admin(&etc, &["admin", "add-user", &u.name, "--ports", "9000"]).expect(0, "");
    assert_eq!(
        usernet(),
        format!(
            "# mine\nsomeone ports 80\n{0} veth burrow%u 4\n{0} ports 9000\n",
            u.name
        )
    );
    let r = admin(&etc, &["admin", "add-user", &u.name, "--ports", "none"]);
    assert!(
        r.stdout.ends_with(&format!(
            "/etc/burrow/usernet: removed the ports line of {}\n",
            u.name
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        usernet(),
        format!("# mine\nsomeone ports 80\n{} veth burrow%u 4\n", u.name)
    );
    // A bad list is refused before anything is written.
    let before = usernet();
    let subuid = std::fs::read_to_string(etc.path().join("subuid")).unwrap();
    check(
        &admin(&etc, &["admin", "add-user", &u.name, "--ports", "80,,81"]),
        125,
        "",
        "burrow: --ports 80,,81: port list \"80,,81\" has an empty element (give ports and ranges separated by commas, e.g. 8000-8099,443, or none)\n",
    );
    assert_eq!(usernet(), before);
    assert_eq!(
        std::fs::read_to_string(etc.path().join("subuid")).unwrap(),
        subuid
    );
}

#[test]
fn p13_a_foreground_run_publishes_under_its_pid_and_unpublishes_when_it_ends() {
    require!();
    let _nic = shared();
    let name = TestUser::get("ports-f").name;
    let e = Env::new("ports-f", &grant(&name));
    let host = host_addr();
    let uid = e.u.uid;
    let mine = move |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(&format!("\"burrow-nic {uid} ")))
            .map(str::to_owned)
            .collect()
    };
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            e.b(&[
                "run",
                "--rm",
                "--net",
                "bridge",
                "-p",
                "18084:80",
                "-v",
                "/usr:/usr:ro",
                "--rootfs",
                e.r.path(),
                "/usr/bin/python3",
                "-c",
                "import socket\nt = socket.socket()\nt.bind(('0.0.0.0', 80))\nt.listen(1)\nc, a = t.accept()\nc.sendall(('tcp ' + a[0] + '\\n').encode())\nc.close()\n",
            ])
        });
        // Named by its pid in the rules: it has no name.
        wait_table("the foreground run's rule", |t| {
            mine(t)
                .iter()
                .any(|l| l.contains(" run-") && l.contains("dport 18084"))
        });
        assert_eq!(tcp_answer(&host, 18084), format!("tcp {host}\n"));
        let out = run.join().unwrap();
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    });
    // Gone once the run is over (before burrow returned).
    assert_eq!(mine(&ports_table()), Vec::<String>::new());
}

#[test]
fn p14_rules_left_by_a_killed_monitor_are_reconciled_by_the_next_start() {
    require!();
    let _alone = NIC_RUNS.write().unwrap_or_else(|e| e.into_inner());
    let name = TestUser::get("ports-m").name;
    let e = Env::new("ports-m", &grant(&name));
    let host = host_addr();
    e.serve("gone", &["-p", "18085:80"]).expect(0, "");
    assert_eq!(tcp_answer(&host, 18085), format!("tcp {host}\n"));
    let v = e.inspect("gone");
    let veth = v["network"]["host_ifname"].as_str().unwrap().to_owned();
    let monitor = v["monitor_pid"].as_i64().unwrap();
    // The monitor cannot unpublish: the container dies with it (parent-death signal), its
    // veth with its network namespace, and the rules stay behind.
    sh(&format!("kill -KILL {monitor}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/sys/class/net/{veth}")).exists() {
        assert!(Instant::now() < deadline, "{veth} outlived its container");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ports_table().contains(&veth), "the stale rules are there");
    // The next start (of another container; the port is free again) reconciles them.
    e.serve("next", &["-p", "18085:80"]).expect(0, "");
    wait_table("the killed container's rules", |t| !t.contains(&veth));
    assert_eq!(tcp_answer(&host, 18085), format!("tcp {host}\n"));
}

#[test]
fn p15_a_port_another_user_published_is_in_use_without_naming_their_container() {
    require!();
    let _nic = shared();
    let a_name = TestUser::get("ports-ua").name;
    let b_name = TestUser::get("ports-ub").name;
    let a = Env::new("ports-ua", &format!("{a_name} ports 18087\n"));
    let b = Env::new("ports-ub", &format!("{b_name} ports 18087\n"));
    b.serve("secretname", &["-p", "18087:80"]).expect(0, "");
    let out = a.serve("mine", &["-p", "18087:80"]);
    check(
        &out,
        125,
        "",
        "burrow: cannot publish the container's ports: burrow-nic: host port 18087/tcp is in use\n",
    );
    assert!(a.names().is_empty());
    // B's container still answers.
    let host = host_addr();
    assert_eq!(tcp_answer(&host, 18087), format!("tcp {host}\n"));
}
