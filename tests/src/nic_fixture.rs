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
