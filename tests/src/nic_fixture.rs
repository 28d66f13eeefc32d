//! The fixtures of the burrow-nic tests (`tests/tests/nic*.rs`): the helper run as a test user
//! with a private /etc (so `/etc/burrow/usernet` is exactly what the test says), targets in
//! namespaces of the user's own, test bridges and the parsing of burrow-nic's output.
//!
//! Most tests name the bridge `br0`, which does not exist: an allowed create then ends with
//! "bridge br0 does not exist" ([`NOT_YET`]), which proves every check before it passed. The
//! tests that create veths make their own bridge ([`test_bridge`]).

use crate::*;

/// The helper under test.
pub const NIC: &str = "burrow-nic";
/// Its usage text (stderr after a usage error, stdout for --help).
pub const USAGE: &str = "usage: burrow-nic create [--json] LXCPATH NAME PID TYPE BRIDGE [NICNAME]
       burrow-nic delete LXCPATH NAME NETNS-PATH TYPE BRIDGE [HOSTNIC]
       burrow-nic check [--json] [TYPE BRIDGE]
       burrow-nic list [--json]
       burrow-nic publish NETNS-PATH HOSTNIC NAME [MAPPING...]
       burrow-nic unpublish HOSTNIC
";
/// The refusal of a create that passed every check: the bridge `br0` does not exist.
pub const NOT_YET: &str = "burrow-nic: bridge br0 does not exist\n";

/// /etc with `/etc/burrow/usernet` allowing `a` two veths on `br0` (which does not exist).
pub fn etc_for(a: &TestUser) -> Etc {
    Etc::new().usernet(&format!(
        "# USER TYPE BRIDGE COUNT\n{} veth br0 2\n",
        a.name
    ))
}

/// Runs the installed burrow-nic as `u` with the private /etc `etc`.
pub fn nic(u: &TestUser, etc: &Etc, args: &[&str]) -> Ran {
    Run::new(u).etc(etc).cmd(&helper(NIC), args)
}

/// burrow-nic's one-line refusal `burrow-nic: MSG`.
pub fn err(msg: &str) -> String {
    format!("{NIC}: {msg}\n")
}

/// A sleeping process of `u` in a new user and network namespace (`unshare -Urn`).
pub fn own_netns(u: &TestUser) -> Proc {
    Proc::spawn_cmd(u, None, &["unshare", "-Urn", "--"], &["sleep", "600"])
}

/// `burrow-nic create /dev/null dummy PID veth BRIDGE eth0` as `u`.
pub fn create(u: &TestUser, etc: &Etc, pid: &str, bridge: &str) -> Ran {
    nic(
        u,
        etc,
        &["create", "/dev/null", "dummy", pid, "veth", bridge, "eth0"],
    )
}

/// A Linux bridge in the host netns for one test (deleted on drop).
pub fn test_bridge(tag: &str, mtu: u32) -> LinkGuard {
    let g = LinkGuard::fresh(&format!("bnt{}{tag}", std::process::id() % 100_000));
    sh(&format!("ip link add {} mtu {mtu} type bridge", g.0));
    g
}

/// `/sys/class/net/NAME/FILE`, trimmed (empty when the link is gone).
pub fn sys_net(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `container-ifname:container-ifindex:host-ifname:host-ifindex`, checked and split.
pub fn parse_line(out: &str, uid: u32) -> (String, u32, String, u32) {
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "{out:?}"
    );
    let f: Vec<&str> = out.trim_end().split(':').collect();
    assert_eq!(f.len(), 4, "{out:?}");
    let host = f[2].to_owned();
    let rest = host.strip_prefix(&format!("veth{uid}_")).unwrap();
    assert!(
        rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{host}"
    );
    (
        f[0].to_owned(),
        f[1].parse().unwrap(),
        host,
        f[3].parse().unwrap(),
    )
}

/// Names and indexes of the links in the netns of `pid`.
pub fn links_in(pid: u32) -> String {
    sh(&format!("nsenter -t {pid} -n ip -o link show"))
}

/// The host ends of `uid`'s veths (see [`host_veths_of`]).
pub fn tagged_links(uid: u32) -> Vec<String> {
    host_veths_of(uid)
}

/// A string or number field of a flat part of burrow-nic's JSON (`"key":"v"` or `"key":7`).
pub fn jfield(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len();
    let rest = &json[at..];
    if let Some(r) = rest.strip_prefix('"') {
        r[..r.find('"').unwrap()].to_owned()
    } else {
        rest[..rest.find([',', '}']).unwrap()].to_owned()
    }
}

/// (address, prefix, gateway) of the "ipv4" or "ipv6" object of create's JSON.
pub fn jaddr(json: &str, fam: &str) -> (String, u32, String) {
    let at = json
        .find(&format!("\"{fam}\":{{"))
        .unwrap_or_else(|| panic!("{fam} in {json}"));
    let obj = &json[at..at + json[at..].find('}').unwrap()];
    (
        jfield(obj, "address"),
        jfield(obj, "prefix").parse().unwrap(),
        jfield(obj, "gateway"),
    )
}

/// Runs `script` with bash inside the netns of `pid`, as root.
pub fn in_netns(pid: u32, script: &str) -> std::process::Output {
    std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "bash", "-c", script])
        .output()
        .unwrap()
}

/// Gives the container end its addresses and default routes (what `burrow run` does).
pub fn configure_inside(pid: u32, ifname: &str, json: &str) {
    let (a4, l4, g4) = jaddr(json, "ipv4");
    let (a6, l6, g6) = jaddr(json, "ipv6");
    let out = in_netns(
        pid,
        &format!(
            "set -e; ip link set lo up; ip addr add {a4}/{l4} dev {ifname}; ip addr add {a6}/{l6} dev {ifname} nodad; ip link set {ifname} up; ip route add default via {g4}; ip -6 route add default via {g6}"
        ),
    );
    assert!(out.status.success(), "{out:?}");
}

/// Waits (10 s at most) until the link `name` is gone.
pub fn wait_gone(name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} outlived its netns"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
