use super::*;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

#[test]
fn attributes_are_padded_and_nested_lengths_patched() {
    let mut b = Vec::new();
    attr_str(&mut b, IFLA_IFNAME, "eth0").unwrap();
    assert_eq!(b, [9, 0, 3, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0]);
    let mut n = Vec::new();
    nested(&mut n, IFLA_LINKINFO, |b| {
        attr_str(b, IFLA_INFO_KIND, "veth")
    })
    .unwrap();
    assert_eq!(&n[..4], &[16, 0, 18, 0x80]);
    let parsed: Vec<(u16, &[u8])> = attrs(&n).collect();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].0, IFLA_LINKINFO);
    let inner: Vec<(u16, String)> = attrs(parsed[0].1).map(|(t, d)| (t, str_of(d))).collect();
    assert_eq!(inner, vec![(IFLA_INFO_KIND, "veth".to_owned())]);
}

#[test]
fn link_payload_parses() {
    let mut p = Vec::new();
    ifinfomsg(&mut p, 7, IFF_UP, 0).unwrap();
    attr_str(&mut p, IFLA_IFNAME, "veth1002_ab").unwrap();
    attr(&mut p, IFLA_MTU, &1400u32.to_ne_bytes()).unwrap();
    attr(&mut p, IFLA_MASTER, &3u32.to_ne_bytes()).unwrap();
    attr(&mut p, IFLA_LINK, &2u32.to_ne_bytes()).unwrap();
    attr_str(&mut p, IFLA_IFALIAS, "burrow-nic 1 a veth br0").unwrap();
    attr(&mut p, IFLA_GROUP, &0x6275_7277u32.to_ne_bytes()).unwrap();
    nested(&mut p, IFLA_LINKINFO, |b| {
        attr_str(b, IFLA_INFO_KIND, "veth")
    })
    .unwrap();
    assert_eq!(
        parse_link(&p).unwrap(),
        Link {
            index: 7,
            name: "veth1002_ab".into(),
            mtu: 1400,
            kind: Some("veth".into()),
            master: Some(3),
            link: Some(2),
            alias: Some("burrow-nic 1 a veth br0".into()),
            link_netnsid: None,
            flags: IFF_UP,
            group: 0x6275_7277,
        }
    );
    // Truncated input never panics.
    for n in 0..p.len() {
        let _ = parse_link(&p[..n]);
    }
}

fn root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Real kernel, as root: a veth with its peer in another netns (by fd), a bridge to attach
/// to, the peer's index read back through IFLA_LINK, then delete by index.
#[test]
fn veth_into_another_netns_attach_and_delete() {
    if !root() {
        eprintln!("SKIP: needs root");
        return;
    }
    let mut child = Command::new("unshare")
        .args(["-n", "--", "sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/ns/net")).map_or(true, |l| l == ours) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ns = File::open(format!("/proc/{pid}/ns/net")).unwrap();
    let tag = format!("bnl{}", std::process::id() % 100_000);
    let (host, bridge) = (format!("{tag}h"), format!("{tag}b"));
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _b = Cleanup(bridge.clone());
    let _h = Cleanup(host.clone());
    let st = Command::new("ip")
        .args(["link", "add", &bridge, "mtu", "1400", "type", "bridge"])
        .status()
        .unwrap();
    assert!(st.success());
    let mut nl = Rtnl::open().unwrap();
    let br = nl.link_by_name(&bridge).unwrap();
    assert_eq!((br.kind.as_deref(), br.mtu), (Some("bridge"), 1400));
    nl.create_veth(&VethSpec {
        host: &host,
        peer: "eth0",
        peer_netns: ns.as_fd(),
        mtu: br.mtu,
        group: 0x6275,
    })
    .unwrap();
    // The same request again: EEXIST, nothing new.
    let again = nl.create_veth(&VethSpec {
        host: &host,
        peer: "eth1",
        peer_netns: ns.as_fd(),
        mtu: br.mtu,
        group: 0x6275,
    });
    assert_eq!(again.unwrap_err().raw_os_error(), Some(libc::EEXIST));
    let h = nl.link_by_name(&host).unwrap();
    assert_eq!(h.kind.as_deref(), Some("veth"));
    // The group is set by the creating request itself.
    assert_eq!(h.group, 0x6275);
    assert_eq!(br.group, 0);
    // A new bridge that is down has no address; one added is counted.
    assert_eq!(nl.address_count(br.index).unwrap(), 0);
    nl.add_address(br.index, "10.99.1.1".parse().unwrap(), 24)
        .unwrap();
    assert_eq!(nl.address_count(br.index).unwrap(), 1);
    nl.configure(h.index, "burrow-nic 0 root veth x", Some(br.index))
        .unwrap();
    let h2 = nl.link_by_index(h.index).unwrap();
    assert_eq!(h2.alias.as_deref(), Some("burrow-nic 0 root veth x"));
    assert_eq!(h2.master, Some(br.index));
    assert_eq!(h2.flags & IFF_UP, IFF_UP);
    let inside = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "-o",
            "link",
            "show",
            "eth0",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout).into_owned();
    let peer_index: u32 = text.split(':').next().unwrap().trim().parse().unwrap();
    assert_eq!(h.link, Some(peer_index), "{text}");
    let nsid = h2
        .link_netnsid
        .expect("a veth across netns reports the peer's nsid");
    let peer = nl.link_in_netnsid(nsid, peer_index).unwrap();
    assert_eq!((peer.name.as_str(), peer.mtu), ("eth0", 1400));
    // The peer's netns is the one of `ns`; our own netns is not.
    assert_eq!(nl.nsid_of(ns.as_fd()).unwrap(), Some(nsid));
    let own = File::open("/proc/self/ns/net").unwrap();
    assert_ne!(nl.nsid_of(own.as_fd()).unwrap(), Some(nsid));
    let all = nl.links().unwrap();
    assert!(all.iter().any(|l| l.index == h.index && l.name == host));
    assert!(all.iter().any(|l| l.index == br.index && l.name == bridge));
    nl.delete(h.index).unwrap();
    assert_eq!(
        nl.link_by_index(h.index).unwrap_err().raw_os_error(),
        Some(libc::ENODEV)
    );
    nl.delete(br.index).unwrap();
    let _ = child.kill();
    let _ = child.wait();
}

/// Real kernel, as root: a bridge made by create_bridge, an alias, IPv4 and IPv6 addresses
/// (twice: replace, not an error), up; read back with ip(8).
#[test]
fn bridge_addresses_and_up() {
    if !root() {
        eprintln!("SKIP: needs root");
        return;
    }
    let name = format!("bnl{}a", std::process::id() % 100_000);
    let _ = Command::new("ip").args(["link", "del", &name]).status();
    let mut nl = Rtnl::open().unwrap();
    nl.create_bridge(&name).unwrap();
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _c = Cleanup(name.clone());
    assert_eq!(
        nl.create_bridge(&name).unwrap_err().raw_os_error(),
        Some(libc::EEXIST)
    );
    let br = nl.link_by_name(&name).unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    nl.set_alias(br.index, "burrow-nic bridge 1").unwrap();
    for _ in 0..2 {
        nl.add_address(br.index, "10.250.7.1".parse().unwrap(), 24)
            .unwrap();
        nl.add_address(br.index, "fd00:bee::1".parse().unwrap(), 64)
            .unwrap();
    }
    assert!(nl
        .add_address(br.index, "10.250.7.1".parse().unwrap(), 33)
        .is_err());
    nl.set_up(br.index).unwrap();
    let l = nl.link_by_index(br.index).unwrap();
    assert_eq!(l.alias.as_deref(), Some("burrow-nic bridge 1"));
    assert_eq!(l.flags & IFF_UP, IFF_UP);
    let out = Command::new("ip")
        .args(["-o", "addr", "show", "dev", &name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("inet 10.250.7.1/24"), "{text}");
    assert!(text.contains("inet6 fd00:bee::1/64"), "{text}");
    assert_eq!(text.matches("10.250.7.1").count(), 1, "{text}");
}

/// Real kernel, as root: NFT_MSG_GETTABLE says whether a table exists (a table of this test
/// process's own name, in the host's ruleset for a moment; removed again).
#[test]
fn nft_table_exists_asks_the_kernel() {
    if !root() || !std::path::Path::new("/usr/sbin/nft").exists() {
        eprintln!("SKIP: needs root and nft");
        return;
    }
    let name = format!("burrow_t{}", std::process::id());
    let nft = |args: &[&str]| {
        let ok = Command::new("/usr/sbin/nft")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "nft {args:?}");
    };
    assert!(!crate::nft_table_exists(crate::NFPROTO_IPV4, &name).unwrap());
    nft(&["add", "table", "ip", &name]);
    let there = crate::nft_table_exists(crate::NFPROTO_IPV4, &name);
    nft(&["delete", "table", "ip", &name]);
    assert!(there.unwrap());
    // Another family's table of that name is not it; the ip6 family finds it.
    nft(&["add", "table", "ip6", &name]);
    let there = crate::nft_table_exists(crate::NFPROTO_IPV4, &name);
    let there6 = crate::nft_table_exists(crate::NFPROTO_IPV6, &name);
    nft(&["delete", "table", "ip6", &name]);
    assert!(!there.unwrap());
    assert!(there6.unwrap());
    assert!(!crate::nft_table_exists(crate::NFPROTO_IPV6, &name).unwrap());
}
