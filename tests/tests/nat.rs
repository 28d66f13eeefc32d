//! packaging/network/burrow-nic-nat against the real kernel.
//!
//! Nothing here touches the host's firewall, sysctls or links: every test that runs the script
//! builds a [`Lab`], five private network namespaces held by `unshare -n sleep` processes
//! (killed on drop, which takes the namespaces and every link in them away; nothing is named
//! in the shared /run/netns). A network namespace has its own nftables ruleset and its own
//! net.* sysctls, and /proc/sys/net is the namespace of the process that opens it, so the
//! script run with `nsenter -n` into the lab's "host" namespace only changes that namespace.
//!
//! ```text
//!   A1 10.231.1.2  fd42:231:0:1::2 ─┐
//!                                   ├─ burrow9001 10.231.1.1 fd42:231:0:1::1 ┐
//!   A2 10.231.1.3  fd42:231:0:1::3 ─┘                                        │  H (runs the
//!   B1 10.231.2.2  fd42:231:0:2::2 ─── burrow9002 10.231.2.1 fd42:231:0:2::1 ┤     script)
//!                                                    uplink 192.0.2.1 2001:db8::1
//!                                                           │
//!                                         OUT 192.0.2.2 2001:db8::2 (routes the pools to H)
//! ```
//!
//! The conf is `ipv4 10.231.0.0/16 24` and `ipv6 fd42:231::/48 64`. In the lab the kernel's
//! rp_filter is off and forwarding starts off (a new namespace inherits IPv4 settings from the
//! host's), so what is dropped is dropped by the table. Each test names what it covers, as
//! "case N" of this list, and every test that sees a drop also shows the same traffic
//! passing without the table (after `stop`), so the table is what drops it:
//! 1. `start` twice loads one table, the same both times; `status`; forwarding sysctls on;
//! 2. same bridge: A1 <-> A2 passes;
//! 3. A1 <-> B1 (routed between two user bridges) is dropped;
//! 4. A1 -> OUT is masqueraded to the uplink's address, and OUT cannot open connections in;
//! 5. a source from another user's subnet is dropped on the bridge;
//! 6. `stop` deletes the table and leaves forwarding on;
//! 7. a malformed conf is refused with an exact message and changes nothing;
//! 8. a `none` nic made by the real burrow-nic (run as a test user in H) cannot bring a packet
//!    with another user's container address as source to a listener of H: IPv4 by the strict
//!    rp_filter burrow-nic sets on the host end, IPv6 by the table's rule on burrow-nic's link
//!    group;
//! 9. TCP's MSS is clamped to the route's MTU between a bridge with a large MTU and an uplink
//!    with a small one.
//!
//! Expected output, stderr and packet counters are exact. Every wait has a timeout: one ping
//! waits at most 2 s (the pings of one step run at once), the Python listeners and clients
//! give up after 5 s, and every command runs under `timeout`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

const PROG: &str = "burrow-nic-nat";
const CONF: &str = "# the test pools\nipv4 10.231.0.0/16 24\nipv6\tfd42:231::/48 64   # ULA\n";
const LOADED: &str = "burrow-nic-nat: loaded table inet burrow_nic (ipv4 pool 10.231.0.0/16 (/24 per user), ipv6 pool fd42:231::/48 (/64 per user), bridges burrow*)\n";
const SET_FORWARDING: &str = "burrow-nic-nat: set net.ipv4.ip_forward=1\nburrow-nic-nat: set net.ipv6.conf.all.forwarding=1\n";
const DELETED: &str =
    "burrow-nic-nat: deleted table inet burrow_nic (IP forwarding left as it is)\n";
const NOT_LOADED: &str = "burrow-nic-nat: table inet burrow_nic is not loaded\n";

/// Shell functions for [`Lab::sh`]; `$H $A1 $A2 $B1 $OUT` are the pids holding the namespaces.
const PRELUDE: &str = r#"
set -u
at() { # PID CMD...: run CMD in the network namespace of PID
  local pid=$1; shift
  nsenter -t "$pid" -n -- "$@"
}
pings() { # "FROM TO"...: one ping each (2 s timeout), all at once; prints "FROM TO ok|lost"
  local d s from n=0 i
  d=$(mktemp -d)
  for s in "$@"; do
    from=${s%% *}
    (if at "${!from}" ping -c1 -W2 -q "${s#* }" >/dev/null 2>&1; then echo "$s ok"; else echo "$s lost"; fi) >"$d/$n" &
    n=$((n + 1))
  done
  wait
  for ((i = 0; i < n; i++)); do cat "$d/$i"; done
  rm -rf "$d"
}
send() { # FROM tcp|udp SRC SPORT DST DPORT PAYLOAD (see CLIENT)
  local from=$1; shift
  at "${!from}" python3 -c "$CLIENT" "$@"
}
quiet() { # DEV: no kernel reverse-path filter, no duplicate address detection
  echo 0 >"/proc/sys/net/ipv4/conf/$1/rp_filter"
  echo 0 >"/proc/sys/net/ipv6/conf/$1/accept_dad"
}
"#;

/// Builds the lab (run in H, the namespace the script manages).
const SETUP: &str = r#"
set -e
# Start from a known state: a new namespace copies the host's IPv4 settings.
echo 0 >/proc/sys/net/ipv4/ip_forward
echo 0 >/proc/sys/net/ipv6/conf/all/forwarding
for ns in H A1 A2 B1 OUT; do
  at "${!ns}" bash -c "$(declare -f quiet); quiet all; quiet default; ip link set lo up"
done
for b in 1 2; do
  ip link add burrow900$b type bridge
  ip link set burrow900$b up
  ip addr add 10.231.$b.1/24 dev burrow900$b
  ip addr add fd42:231:0:$b::1/64 dev burrow900$b nodad
done
client() { # NS HOSTNIC BRIDGE HOST
  ip link add "$2" type veth peer name eth0 netns "${!1}"
  ip link set "$2" master "burrow900$3" up
  at "${!1}" bash -c "$(declare -f quiet); quiet eth0
    ip link set eth0 up
    ip addr add 10.231.$3.$4/24 dev eth0
    ip addr add fd42:231:0:$3::$4/64 dev eth0 nodad
    ip route add default via 10.231.$3.1
    ip -6 route add default via fd42:231:0:$3::1"
}
client A1 a1 1 2
client A2 a2 1 3
client B1 b1 2 2
ip link add uplink type veth peer name eth0 netns "$OUT"
ip addr add 192.0.2.1/24 dev uplink
ip addr add 2001:db8::1/64 dev uplink nodad
ip link set uplink up
at "$OUT" bash -c "$(declare -f quiet); quiet eth0
  ip link set eth0 up
  ip addr add 192.0.2.2/24 dev eth0
  ip addr add 2001:db8::2/64 dev eth0 nodad
  ip route add 10.231.0.0/16 via 192.0.2.1
  ip -6 route add fd42:231::/48 via 2001:db8::1"
"#;

/// `python3 -c CLIENT tcp|udp SRC SPORT DST DPORT PAYLOAD`: binds SRC:SPORT (SRC may be empty,
/// SPORT 0), then for udp sends PAYLOAD, for tcp connects and prints the line it gets back.
const CLIENT: &str = r#"
import socket, sys
kind, src, sport, dst, dport, payload = sys.argv[1:7]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.bind((src, int(sport)))
s.settimeout(5)
if kind == "tcp":
    s.connect((dst, int(dport)))
    print(s.makefile().readline(), end="")
else:
    s.sendto(payload.encode(), (dst, int(dport)))
"#;

/// `python3 -c LISTENER 4|6 tcp|udp PORT`: prints "ready", then for tcp accepts one
/// connection, prints the peer's address and sends it "hello PEER"; for udp prints "PEER
/// PAYLOAD" for each datagram until one says "last". Prints "timeout" after 5 s of silence.
const LISTENER: &str = r#"
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
kind = sys.argv[2]
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", int(sys.argv[3])))
s.settimeout(5)
if kind == "tcp":
    s.listen(1)
print("ready", flush=True)
try:
    if kind == "tcp":
        c, peer = s.accept()
        print(peer[0], flush=True)
        c.sendall(("hello " + peer[0] + "\n").encode())
        c.close()
    else:
        while True:
            data, peer = s.recvfrom(100)
            print(peer[0], data.decode(), flush=True)
            if data == b"last":
                break
except socket.timeout:
    print("timeout", flush=True)
"#;

fn nat_script() -> PathBuf {
    workspace().join("packaging/network").join(PROG)
}

fn ran(out: std::process::Output) -> Ran {
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A sleeping root process in a new network namespace, killed on drop.
fn netns() -> Proc {
    let p = Proc::spawn_cmd(
        &TestUser::root(),
        None,
        &["unshare", "-n", "--"],
        &["sleep", "600"],
    );
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let its = std::fs::read_link(format!("/proc/{}/ns/net", p.pid)).unwrap();
    assert_ne!(its, ours, "unshare -n did not make a new network namespace");
    p
}

/// The lab: the namespaces H (the "host": bridges, uplink, the script), A1, A2, B1, OUT.
struct Lab {
    h: Proc,
    a1: Proc,
    a2: Proc,
    b1: Proc,
    out: Proc,
    dir: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempdir("nat");
        std::fs::write(dir.join("nic.conf"), CONF).unwrap();
        let lab = Lab {
            h: netns(),
            a1: netns(),
            a2: netns(),
            b1: netns(),
            out: netns(),
            dir,
        };
        let r = lab.sh(SETUP);
        assert_eq!(
            r.code,
            Some(0),
            "lab setup failed\nstdout: {}\nstderr: {}",
            r.stdout,
            r.stderr
        );
        assert_eq!(
            lab.forwarding(),
            "0 0",
            "the lab starts with forwarding off"
        );
        lab
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("nic.conf")
    }

    fn env(&self, c: &mut Command) {
        c.env("H", self.h.pid_s())
            .env("A1", self.a1.pid_s())
            .env("A2", self.a2.pid_s())
            .env("B1", self.b1.pid_s())
            .env("OUT", self.out.pid_s())
            .env("NAT", nat_script())
            .env("CLIENT", CLIENT)
            .env("LISTENER", LISTENER)
            .env("BURROW_NIC_CONF", self.conf())
            .env_remove("BURROW_NIC_BRIDGE_PREFIX")
            .current_dir("/")
            .stdin(Stdio::null());
    }

    /// Runs a bash script (after [`PRELUDE`]) in H, with a 60 s timeout.
    fn sh(&self, script: &str) -> Ran {
        let mut c = Command::new("timeout");
        c.args([
            "-k",
            "5",
            "60",
            "nsenter",
            "-t",
            &self.h.pid_s(),
            "-n",
            "--",
        ])
        .args(["bash", "-c", &format!("{PRELUDE}\n{script}")]);
        self.env(&mut c);
        ran(c.output().unwrap())
    }

    /// [`Lab::sh`], which must succeed with nothing on stderr; returns stdout.
    #[track_caller]
    fn ok(&self, script: &str) -> String {
        let r = self.sh(script);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (Some(0), ""),
            "failed: {script}\nstdout: {}",
            r.stdout
        );
        r.stdout
    }

    /// `burrow-nic-nat ARGS` in H.
    fn nat(&self, args: &str) -> Ran {
        self.sh(&format!("exec \"$NAT\" {args}"))
    }

    /// Pings (see `pings` in [`PRELUDE`]): "FROM TO" each; returns "FROM TO ok|lost" lines.
    fn pings(&self, specs: &[&str]) -> String {
        let args: Vec<String> = specs.iter().map(|s| format!("'{s}'")).collect();
        self.ok(&format!("pings {}", args.join(" ")))
    }

    /// `nft list tables` in H.
    fn nft_tables(&self) -> String {
        self.ok("nft list tables")
    }

    /// "IPV4 IPV6" forwarding sysctls of H.
    fn forwarding(&self) -> String {
        self.ok("echo $(cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding)")
            .trim()
            .to_owned()
    }

    /// The packet counts of the counters of a chain of the table, in order.
    fn counters(&self, chain: &str) -> Vec<u64> {
        let listing = self.ok(&format!("nft list chain inet burrow_nic {chain}"));
        listing
            .split("counter packets ")
            .skip(1)
            .map(|s| s.split(' ').next().unwrap().parse().unwrap())
            .collect()
    }

    /// Starts a [`LISTENER`] in OUT and waits until it listens.
    fn listen(&self, fam: &str, kind: &str, port: u16) -> Listener {
        self.listen_in(&self.out, fam, kind, port)
    }

    /// Starts a [`LISTENER`] in the namespace of `ns` and waits until it listens.
    fn listen_in(&self, ns: &Proc, fam: &str, kind: &str, port: u16) -> Listener {
        let mut c = Command::new("timeout");
        c.args(["-k", "2", "15", "nsenter", "-t", &ns.pid_s(), "-n", "--"])
            .args([
                "bash",
                "-c",
                "exec python3 -c \"$LISTENER\" \"$@\" 2>&1",
                "-",
            ])
            .args([fam, kind, &port.to_string()]);
        self.env(&mut c);
        c.stdout(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let mut l = Listener { child, out };
        if line != "ready\n" {
            panic!("listener did not start: {line}{}", l.finish());
        }
        l
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener in OUT, killed on drop.
struct Listener {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Listener {
    /// Everything it printed after "ready" (it exits by itself within 5 s).
    fn finish(&mut self) -> String {
        let mut s = String::new();
        self.out.read_to_string(&mut s).unwrap();
        let _ = self.child.wait();
        s
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the host (the test's own namespace) has: forwarding sysctls, whether it has the table.
fn host_state() -> String {
    let f = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_owned();
    let table = Command::new("nft")
        .args(["list", "table", "inet", "burrow_nic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    format!(
        "ip_forward={} ipv6 forwarding={} table={table}",
        f("/proc/sys/net/ipv4/ip_forward"),
        f("/proc/sys/net/ipv6/conf/all/forwarding")
    )
}

/// A rule without its counts: "counter packets N bytes M drop" -> "counter drop".
fn without_counts(rule: &str) -> String {
    let mut words = Vec::new();
    let mut it = rule.split(' ');
    while let Some(w) = it.next() {
        if w == "packets" || w == "bytes" {
            it.next();
        } else {
            words.push(w);
        }
    }
    words.join(" ")
}

// ------------------------------------------------------------------------------------- case 1

#[test]
fn case1_start_twice_loads_one_identical_table_and_turns_forwarding_on() {
    require!();
    let host = host_state();
    let lab = Lab::new();
    assert_eq!(lab.nft_tables(), "");
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    let first = lab.ok("nft list table inet burrow_nic");
    // Again: the same table (replaced in one transaction), and the sysctls are already set.
    lab.nat("start").expect(0, LOADED);
    let second = lab.ok("nft list table inet burrow_nic");
    assert_eq!(second, first);
    assert_eq!(lab.nft_tables(), "table inet burrow_nic\n");
    assert_eq!(lab.forwarding(), "1 1");
    // The rules, with the conf's pools and the default bridge prefix (counters left out).
    let rules: Vec<String> = first
        .lines()
        .map(|l| l.trim())
        .filter(|l| {
            ["chain ", "type ", "iifname ", "iifgroup ", "oifname "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(without_counts)
        .collect();
    assert_eq!(
        rules,
        [
            "chain prerouting {",
            "type filter hook prerouting priority raw; policy accept;",
            "iifname \"burrow*\" ip6 saddr :: icmpv6 type nd-neighbor-solicit accept",
            "iifname \"burrow*\" fib saddr . iif oif missing counter drop",
            "iifgroup 1651864183 ip6 saddr :: icmpv6 type nd-neighbor-solicit accept",
            "iifgroup 1651864183 fib saddr . iif oif missing counter drop",
            "chain forward {",
            "type filter hook forward priority filter; policy accept;",
            "iifname \"burrow*\" oifname != \"burrow*\" tcp flags syn / syn,rst tcp option maxseg size set rt mtu",
            "oifname \"burrow*\" iifname != \"burrow*\" tcp flags syn / syn,rst tcp option maxseg size set rt mtu",
            "iifname \"burrow*\" oifname \"burrow*\" fib daddr . iif oif missing counter drop",
            "iifname \"burrow*\" oifname \"burrow*\" accept",
            "oifname \"burrow*\" ct state established,related accept",
            "oifname \"burrow*\" ct status dnat accept",
            "oifname \"burrow*\" counter drop",
            "iifname \"burrow*\" ip saddr 10.231.0.0/16 accept",
            "iifname \"burrow*\" ip6 saddr fd42:231::/48 accept",
            "iifname \"burrow*\" counter drop",
            "chain postrouting {",
            "type nat hook postrouting priority srcnat; policy accept;",
            "oifname != \"burrow*\" ip saddr 10.231.0.0/16 counter masquerade",
            "oifname != \"burrow*\" ip6 saddr fd42:231::/48 counter masquerade",
        ]
    );
    // status: the table and the sysctls.
    let st = lab.nat("status");
    st.expect(0, "");
    assert_eq!(
        st.stdout,
        format!("{first}# net.ipv4.ip_forward = 1, net.ipv6.conf.all.forwarding = 1\n")
    );
    // The host's own namespace was not touched.
    assert_eq!(host_state(), host);
}

#[test]
fn case1_ipv4_only_conf_leaves_ipv6_forwarding_alone() {
    require!();
    let lab = Lab::new();
    std::fs::write(lab.conf(), "ipv4 10.231.0.0/16 24\n").unwrap();
    lab.nat("start").expect(
        0,
        "burrow-nic-nat: set net.ipv4.ip_forward=1\nburrow-nic-nat: loaded table inet burrow_nic (ipv4 pool 10.231.0.0/16 (/24 per user), ipv6 pool none, bridges burrow*)\n",
    );
    assert_eq!(lab.forwarding(), "1 0");
    let table = lab.ok("nft list table inet burrow_nic");
    assert!(!table.contains("ip6 saddr fd42"), "{table}");
    assert_eq!(lab.counters("postrouting"), [0]);
    // IPv4 still goes out, masqueraded.
    assert_eq!(lab.pings(&["A1 192.0.2.2"]), "A1 192.0.2.2 ok\n");
    assert_eq!(lab.counters("postrouting"), [1]);
}

#[test]
fn case1_start_warns_about_a_default_route_from_router_advertisements() {
    require!();
    let lab = Lab::new();
    // As if the uplink had its IPv6 default route from an RA, and accept_ra=1.
    lab.ok("echo 1 >/proc/sys/net/ipv6/conf/uplink/accept_ra && ip -6 route add default via fe80::1 dev uplink proto ra");
    let warning = "burrow-nic-nat: warning: uplink has an IPv6 default route from router advertisements and accept_ra=1; with forwarding on it will stop accepting them (set net.ipv6.conf.uplink.accept_ra=2)\n";
    lab.nat("start").expect(
        0,
        &format!(
            "burrow-nic-nat: set net.ipv4.ip_forward=1\n{warning}burrow-nic-nat: set net.ipv6.conf.all.forwarding=1\n{LOADED}"
        ),
    );
    // With accept_ra=2 (RAs accepted even when forwarding), no warning.
    lab.ok("echo 2 >/proc/sys/net/ipv6/conf/uplink/accept_ra");
    lab.nat("start").expect(0, LOADED);
}

// ------------------------------------------------------------------------------------- case 2

#[test]
fn case2_same_bridge_traffic_passes_untouched() {
    require!();
    let lab = Lab::new();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    assert_eq!(
        lab.pings(&[
            "A1 10.231.1.3",
            "A1 fd42:231:0:1::3",
            "A2 10.231.1.2",
            "A2 fd42:231:0:1::2",
            // The gateway (the host itself) too.
            "A1 10.231.1.1",
            "A1 fd42:231:0:1::1",
        ]),
        "A1 10.231.1.3 ok\nA1 fd42:231:0:1::3 ok\nA2 10.231.1.2 ok\nA2 fd42:231:0:1::2 ok\n\
         A1 10.231.1.1 ok\nA1 fd42:231:0:1::1 ok\n"
    );
    // Nothing was dropped or masqueraded.
    assert_eq!(lab.counters("prerouting"), [0, 0]);
    assert_eq!(lab.counters("forward"), [0, 0, 0]);
    assert_eq!(lab.counters("postrouting"), [0, 0]);
}

// ------------------------------------------------------------------------------------- case 3

#[test]
fn case3_forwarding_between_two_user_bridges_is_dropped_and_passes_without_the_table() {
    require!();
    let lab = Lab::new();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    let specs = [
        "A1 10.231.2.2",
        "A1 fd42:231:0:2::2",
        "B1 10.231.1.2",
        "B1 fd42:231:0:1::2",
    ];
    assert_eq!(
        lab.pings(&specs),
        "A1 10.231.2.2 lost\nA1 fd42:231:0:2::2 lost\nB1 10.231.1.2 lost\nB1 fd42:231:0:1::2 lost\n"
    );
    // Each echo request was dropped by the bridge-to-bridge rule, and by nothing else.
    assert_eq!(lab.counters("prerouting"), [0, 0]);
    assert_eq!(lab.counters("forward"), [4, 0, 0]);
    assert_eq!(lab.counters("postrouting"), [0, 0]);
    // The control: without the table (forwarding still on), the same pings go through.
    lab.nat("stop").expect(0, DELETED);
    assert_eq!(
        lab.pings(&specs),
        "A1 10.231.2.2 ok\nA1 fd42:231:0:2::2 ok\nB1 10.231.1.2 ok\nB1 fd42:231:0:1::2 ok\n"
    );
}

// ------------------------------------------------------------------------------------- case 4

#[test]
fn case4_traffic_to_the_outside_is_masqueraded_to_the_uplink_address() {
    require!();
    let lab = Lab::new();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    assert_eq!(
        lab.pings(&["A1 192.0.2.2", "A1 2001:db8::2", "B1 192.0.2.2"]),
        "A1 192.0.2.2 ok\nA1 2001:db8::2 ok\nB1 192.0.2.2 ok\n"
    );
    // A TCP connection: OUT sees the uplink's address, and its answer comes back.
    for (fam, dst, seen) in [
        ("4", "192.0.2.2", "192.0.2.1"),
        ("6", "2001:db8::2", "2001:db8::1"),
    ] {
        let mut l = lab.listen(fam, "tcp", 8004);
        assert_eq!(
            lab.ok(&format!("send A1 tcp '' 0 {dst} 8004 -")),
            format!("hello {seen}\n")
        );
        assert_eq!(l.finish(), format!("{seen}\n"));
    }
    // One masquerade per connection (the pings and the TCP connections), no drops.
    assert_eq!(lab.counters("postrouting"), [3, 2]);
    assert_eq!(lab.counters("forward"), [0, 0, 0]);
    // The control: without the table, OUT sees the container's own address.
    lab.nat("stop").expect(0, DELETED);
    for (fam, dst, seen) in [
        ("4", "192.0.2.2", "10.231.1.2"),
        ("6", "2001:db8::2", "fd42:231:0:1::2"),
    ] {
        let mut l = lab.listen(fam, "udp", 8005);
        lab.ok(&format!("send A1 udp '' 40005 {dst} 8005 last"));
        assert_eq!(l.finish(), format!("{seen} last\n"));
    }
}

#[test]
fn case4_unsolicited_inbound_connections_are_dropped() {
    require!();
    let lab = Lab::new();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    // OUT routes the pools to H, but only replies may enter a user's bridge.
    let specs = ["OUT 10.231.1.2", "OUT fd42:231:0:1::2"];
    assert_eq!(
        lab.pings(&specs),
        "OUT 10.231.1.2 lost\nOUT fd42:231:0:1::2 lost\n"
    );
    assert_eq!(lab.counters("forward"), [0, 2, 0]);
    lab.nat("stop").expect(0, DELETED);
    assert_eq!(
        lab.pings(&specs),
        "OUT 10.231.1.2 ok\nOUT fd42:231:0:1::2 ok\n"
    );
}

// ------------------------------------------------------------------------------------- case 5

#[test]
fn case5_a_source_from_another_users_subnet_is_dropped_on_the_bridge() {
    require!();
    let lab = Lab::new();
    // A1 takes addresses of B's subnets (the kernel lets a container do that to its eth0).
    lab.ok("at $A1 ip addr add 10.231.2.77/32 dev eth0 && at $A1 ip addr add fd42:231:0:2::77/128 dev eth0 nodad");
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    // A1 resolves its gateway first, from its real addresses: else its first IPv6 neighbor
    // solicitation would take the spoofed source of the packet that needs it, and be dropped
    // (and counted) too.
    assert_eq!(
        lab.pings(&["A1 10.231.1.1", "A1 fd42:231:0:1::1"]),
        "A1 10.231.1.1 ok\nA1 fd42:231:0:1::1 ok\n"
    );
    // A spoofed datagram, then one from A1's real address: only the real one arrives
    // (masqueraded); had the spoofed one passed, it would have been printed first.
    for (fam, dst, spoofed, real, seen) in [
        ("4", "192.0.2.2", "10.231.2.77", "10.231.1.2", "192.0.2.1"),
        (
            "6",
            "2001:db8::2",
            "fd42:231:0:2::77",
            "fd42:231:0:1::2",
            "2001:db8::1",
        ),
    ] {
        let mut l = lab.listen(fam, "udp", 9005);
        lab.ok(&format!(
            "send A1 udp {spoofed} 40001 {dst} 9005 spoofed && send A1 udp {real} 40002 {dst} 9005 last"
        ));
        assert_eq!(l.finish(), format!("{seen} last\n"));
    }
    // Both spoofed packets were dropped by the reverse-path rule of the bridges, before the
    // forward chain (the rule of burrow-nic's link group saw none: they came in on a bridge).
    assert_eq!(lab.counters("prerouting"), [2, 0]);
    assert_eq!(lab.counters("forward"), [0, 0, 0]);
    assert_eq!(lab.counters("postrouting"), [1, 1]);
    // The control: without the table (and with the kernel's rp_filter off), they go through.
    lab.nat("stop").expect(0, DELETED);
    for (fam, dst, spoofed) in [
        ("4", "192.0.2.2", "10.231.2.77"),
        ("6", "2001:db8::2", "fd42:231:0:2::77"),
    ] {
        let mut l = lab.listen(fam, "udp", 9006);
        lab.ok(&format!("send A1 udp {spoofed} 40003 {dst} 9006 last"));
        assert_eq!(l.finish(), format!("{spoofed} last\n"));
    }
}

// ------------------------------------------------------------------------------------- case 6

#[test]
fn case6_stop_deletes_the_table_and_leaves_forwarding_as_it_is() {
    require!();
    let lab = Lab::new();
    // Before start: stop is harmless, status says "not loaded".
    lab.nat("stop").expect(0, DELETED);
    let st = lab.nat("status");
    st.expect(3, NOT_LOADED);
    assert_eq!(st.stdout, "");
    assert_eq!(lab.forwarding(), "0 0");
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    lab.nat("status").expect(0, "");
    let r = lab.nat("stop");
    r.expect(0, DELETED);
    assert_eq!(r.stdout, "");
    assert_eq!(lab.nft_tables(), "");
    let st = lab.nat("status");
    st.expect(3, NOT_LOADED);
    assert_eq!(st.stdout, "");
    assert_eq!(lab.forwarding(), "1 1");
    // Twice.
    lab.nat("stop").expect(0, DELETED);
    assert_eq!(lab.forwarding(), "1 1");
}

// ------------------------------------------------------------------------------------- case 7

/// `burrow-nic-nat check` with this conf text (no conf file if None), without root and
/// without any namespace: check loads nothing.
fn check(conf: Option<&str>, prefix: Option<&str>) -> (PathBuf, Ran) {
    let dir = tempdir("natconf");
    let path = dir.join("nic.conf");
    if let Some(text) = conf {
        std::fs::write(&path, text).unwrap();
    }
    let mut c = Command::new("timeout");
    c.args(["10", "bash"])
        .arg(nat_script())
        .arg("check")
        .env("BURROW_NIC_CONF", &path)
        .stdin(Stdio::null());
    match prefix {
        Some(p) => c.env("BURROW_NIC_BRIDGE_PREFIX", p),
        None => c.env_remove("BURROW_NIC_BRIDGE_PREFIX"),
    };
    let r = ran(c.output().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    (path, r)
}

#[test]
fn case7_check_refuses_a_malformed_conf_with_an_exact_message() {
    for (conf, msg) in [
        (
            "ipv4 10.88.0.1/16 24\n",
            "line 1: 10.88.0.1/16 has host bits set (write the network address)",
        ),
        (
            "# pools\nipv4 10.88.0.0/16\n",
            "line 2: expected 3 fields (ipv4|ipv6 POOL/LENGTH SUBNET-LENGTH), found 2: ipv4 10.88.0.0/16",
        ),
        (
            "ipv4 10.88.0.0/16 24\nipv6 fd42:6275:7277::/48 40\n",
            "line 2: subnet prefix length \"40\" is not a number from 48 to 126",
        ),
        (
            "ipv6 fd42:6275:7277::1/48 64\n",
            "line 1: fd42:6275:7277::1/48 has host bits set (write the network address)",
        ),
        (
            "ipv4 10.88.0.0/16 24\nipv4 10.89.0.0/16 24\n",
            "line 2: a second ipv4 line",
        ),
        (
            "ipv5 10.88.0.0/16 24\n",
            "line 1: unknown key \"ipv5\" (ipv4, ipv6 or mtu)",
        ),
        (
            "ipv4 10.88.0.0/16 24\nmtu 65520 1\n",
            "line 2: expected 2 fields (mtu BYTES), found 3: mtu 65520 1",
        ),
        (
            "mtu 67\nipv4 10.88.0.0/16 24\n",
            "line 1: mtu \"67\" is not a decimal number from 68 to 65535",
        ),
        (
            "mtu 09000\nipv4 10.88.0.0/16 24\n",
            "line 1: mtu \"09000\" is not a decimal number from 68 to 65535",
        ),
        (
            "mtu 9000\nmtu 9000\nipv4 10.88.0.0/16 24\n",
            "line 2: a second mtu line",
        ),
        (
            "ipv4 10.88.0.0/016 24\n",
            "line 1: prefix length \"016\" is not a number from 0 to 30",
        ),
        (
            "ipv6 fd42::1::/48 64\n",
            "line 1: \"fd42::1::\" is not an IPv6 address",
        ),
    ] {
        let (path, r) = check(Some(conf), None);
        r.expect(1, &format!("{PROG}: {}: {msg}\n", path.display()));
        assert_eq!(r.stdout, "", "{conf:?}");
    }
    let (path, r) = check(Some("# nothing yet\n\n"), None);
    r.expect(
        1,
        &format!(
            "{PROG}: {} names no pool (expected an \"ipv4 ADDRESS/PREFIX SUBNET-PREFIX\" line)\n",
            path.display()
        ),
    );
    let (path, r) = check(None, None);
    r.expect(
        1,
        &format!(
            "{PROG}: {} does not exist (it names the ipv4/ipv6 pools of the per-user bridges)\n",
            path.display()
        ),
    );
    let (_, r) = check(Some(CONF), Some("bad prefix"));
    r.expect(
        1,
        &format!(
            "{PROG}: BURROW_NIC_BRIDGE_PREFIX=\"bad prefix\" is not 1 to 14 letters, digits, '_', '.' or '-'\n"
        ),
    );
    // A good conf: the ruleset, with the prefix given.
    let (_, r) = check(Some(CONF), Some("br-u"));
    r.expect(0, "");
    assert!(
        r.stdout.contains(
            "\t\tiifname \"br-u*\" oifname \"br-u*\" fib daddr . iif oif missing counter drop\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "\t\tiifname \"br-u*\" oifname != \"br-u*\" tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n"
        ) && r.stdout.contains(
            "\t\toifname \"br-u*\" iifname != \"br-u*\" tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("\t\toifname != \"br-u*\" ip6 saddr fd42:231::/48 counter masquerade\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn case7_start_with_a_malformed_conf_changes_nothing() {
    require!();
    let lab = Lab::new();
    std::fs::write(
        lab.conf(),
        "ipv4 10.231.0.0/16 24\nipv6 fd42:231::/48 64 extra\n",
    )
    .unwrap();
    lab.nat("start").expect(
        1,
        &format!(
            "{PROG}: {}: line 2: expected 3 fields (ipv4|ipv6 POOL/LENGTH SUBNET-LENGTH), found 4: ipv6 fd42:231::/48 64 extra\n",
            lab.conf().display()
        ),
    );
    assert_eq!(lab.nft_tables(), "");
    assert_eq!(lab.forwarding(), "0 0");
    // And with a table loaded, a bad conf leaves the loaded one as it was.
    std::fs::write(lab.conf(), CONF).unwrap();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    let before = lab.ok("nft list table inet burrow_nic");
    std::fs::write(lab.conf(), "ipv4 10.232.0.1/16 24\n").unwrap();
    lab.nat("start").expect(
        1,
        &format!(
            "{PROG}: {}: line 1: 10.232.0.1/16 has host bits set (write the network address)\n",
            lab.conf().display()
        ),
    );
    assert_eq!(lab.ok("nft list table inet burrow_nic"), before);
}

// ------------------------------------------------------------------------------------- case 8

#[test]
fn case8_a_none_nic_cannot_bring_spoofed_sources_into_the_host() {
    require!();
    let lab = Lab::new();
    let a = TestUser::get("nsp");
    let etc = Etc::new().usernet(&format!("{} veth none 1\n", a.name));
    let ctr = Proc::spawn_cmd(&a, None, &["unshare", "-Urn", "--"], &["sleep", "600"]);
    // The real helper, as the user, in H (its netns is where it makes the host end).
    let script = format!(
        "mount --bind {} /etc && exec setpriv --reuid {} --regid {} --init-groups -- {} create /dev/null c {} veth none eth0",
        etc.path().display(),
        a.uid,
        a.gid,
        helper("burrow-nic").display(),
        ctr.pid
    );
    let mut c = Command::new("timeout");
    c.args(["-k", "5", "30", "nsenter", "-t", &lab.h.pid_s(), "-n", "--"])
        .args(["unshare", "-m", "--propagation", "private", "--"])
        .args(["bash", "-c", &script])
        .stdin(Stdio::null());
    let r = ran(c.output().unwrap());
    r.expect(0, "");
    let host = r.stdout.trim_end().split(':').nth(2).unwrap().to_owned();
    // What burrow-nic set on the host end, read back from H's kernel.
    assert_eq!(
        lab.ok(&format!(
            "cat /proc/sys/net/ipv4/conf/{host}/rp_filter /proc/sys/net/ipv4/conf/{host}/accept_local; ip -o link show dev {host} | grep -o 'group [^ ]*'"
        )),
        "1\n0\ngroup 1651864183\n"
    );
    // The container takes B1's addresses and sends to H's uplink address, with H's host end
    // as the on-link neighbour (no ARP or neighbour discovery needed).
    let mac = lab.ok(&format!(
        "ip -o link show dev {host} | grep -o 'link/ether [^ ]*' | cut -d' ' -f2"
    ));
    lab.ok(&format!(
        "at {pid} bash -c 'ip link set eth0 up && ip addr add 10.231.2.2/32 dev eth0 && ip addr add fd42:231:0:2::2/128 dev eth0 nodad && ip route add 192.0.2.1/32 dev eth0 && ip -6 route add 2001:db8::1/128 dev eth0 && ip neigh add 192.0.2.1 lladdr {mac} dev eth0 nud permanent && ip -6 neigh add 2001:db8::1 lladdr {mac} dev eth0 nud permanent'",
        pid = ctr.pid,
        mac = mac.trim()
    ));
    let send = |src: &str, dst: &str, port: u16, payload: &str| {
        let mut c = Command::new("timeout");
        c.args(["-k", "2", "10", "nsenter", "-t", &ctr.pid_s(), "-n", "--"])
            .args([
                "python3",
                "-c",
                CLIENT,
                "udp",
                src,
                "0",
                dst,
                &port.to_string(),
                payload,
            ])
            .stdin(Stdio::null());
        let r = ran(c.output().unwrap());
        assert_eq!(r.code, Some(0), "send failed: {}", r.stderr);
    };
    // IPv4: dropped by the kernel (the host end's rp_filter); the control with the host end's
    // rp_filter at 0 (what burrow-nic left before) goes through.
    let mut l = lab.listen_in(&lab.h, "4", "udp", 9010);
    send("10.231.2.2", "192.0.2.1", 9010, "spoofed");
    lab.ok(&format!("echo 0 >/proc/sys/net/ipv4/conf/{host}/rp_filter"));
    send("10.231.2.2", "192.0.2.1", 9010, "last");
    assert_eq!(l.finish(), "10.231.2.2 last\n");
    // IPv6 (the kernel has no reverse-path filter for it): dropped by the table's rule on
    // burrow-nic's link group; without the table it goes through.
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    let mut l = lab.listen_in(&lab.h, "6", "udp", 9011);
    send("fd42:231:0:2::2", "2001:db8::1", 9011, "spoofed");
    assert_eq!(lab.counters("prerouting"), [0, 1]);
    lab.nat("stop").expect(0, DELETED);
    send("fd42:231:0:2::2", "2001:db8::1", 9011, "last");
    assert_eq!(l.finish(), "fd42:231:0:2::2 last\n");
}

// ------------------------------------------------------------------------------------- case 9

/// In OUT, accepts one TCP connection on port 9020 and prints the MSS its socket sends with
/// (TCP_MAXSEG: the peer's MSS option, as the handshake left it, bounded by OUT's own MTU);
/// from A1, connects to it. Prints that MSS.
const MSS_PROBE: &str = r#"
at "$OUT" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9020)); s.listen(1); s.settimeout(5)
print("ready", flush=True)
c, _ = s.accept()
print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), flush=True)
c.close()
' >"$D/mss" &
for _ in $(seq 50); do grep -q ready "$D/mss" 2>/dev/null && break; sleep 0.1; done
at "$A1" python3 -c '
import socket
s = socket.create_connection(("192.0.2.2", 9020), timeout=5)
s.recv(1)
' 2>/dev/null || true
wait
sed -n 2p "$D/mss"
"#;

#[test]
fn case9_tcp_mss_is_clamped_between_a_large_mtu_bridge_and_a_small_mtu_uplink() {
    require!();
    let lab = Lab::new();
    // A1's bridge and veth at 65520 (nic.conf's mtu); H's uplink end at 1500, OUT's end at
    // 65520, so OUT's own MTU does not bound what it sends: only the MSS A1's SYN carries
    // through H does.
    lab.ok("ip link set burrow9001 mtu 65520; ip link set a1 mtu 65520
         at $A1 ip link set eth0 mtu 65520; at $OUT ip link set eth0 mtu 65520");
    let probe = |d: &str| {
        let mss = lab.ok(&format!("D={d}\n{MSS_PROBE}"));
        mss.trim()
            .parse::<u32>()
            .unwrap_or_else(|_| panic!("{mss:?}"))
    };
    let dir = tempdir("nat-mss");
    let d = dir.to_str().unwrap();
    lab.nat("start")
        .expect(0, &format!("{SET_FORWARDING}{LOADED}"));
    let clamped = probe(d);
    assert!(
        clamped <= 1460,
        "with the table, A1's SYN leaves H with an MSS of at most 1500 - 40: {clamped}"
    );
    // Without the table (forwarding stays on, no NAT: OUT routes the pool back to H), the
    // SYN keeps A1's MSS, and OUT would send segments its path to A1 cannot carry (bounded
    // only by half its peer's window: 32768 here).
    lab.nat("stop").expect(0, DELETED);
    let unclamped = probe(d);
    assert!(unclamped > 10_000, "without the table: {unclamped}");
    let _ = std::fs::remove_dir_all(&dir);
}
