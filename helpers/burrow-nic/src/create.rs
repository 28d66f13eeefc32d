//! `create` after every check: under the lock, reconcile, decide, create, tag, attach.

use crate::{usage, Identity};
use burrow_netlink::{Link, Rtnl, VethSpec};
use burrow_setuid::{refuse, Audit, Refusal};
use burrow_usernet::pool::{lease_key, Leases, Pools, LEASES_PATH, NIC_CONF_PATH};
use burrow_usernet::{self as usernet, BridgeTag, NicTag, Usernet};
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};

const LOCK_DIR: &str = "/run/burrow";
const LOCK_PATH: &str = "/run/burrow/nic.lock";
const LEASES_DIR: &str = "/var/lib/burrow";

/// Opens (creating them if needed) `dir` and the file `path` in it, as root before the
/// privilege drop, on fixed paths: root:root 0600 in a root:root directory writable only by
/// root, never following symlinks; both are chowned to root:root (a setuid process creates
/// files with the caller's gid). Only the helper can open the file.
fn root_file(dir: &str, path: &str) -> Result<File, Refusal> {
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse!("cannot create {dir}: {e}")),
    }
    let d = std::fs::symlink_metadata(dir).map_err(|e| refuse!("{dir}: {e}"))?;
    if d.is_dir() && d.uid() == 0 && d.gid() != 0 {
        std::os::unix::fs::lchown(dir, Some(0), Some(0))
            .map_err(|e| refuse!("cannot chown {dir}: {e}"))?;
    }
    let d = std::fs::symlink_metadata(dir).map_err(|e| refuse!("{dir}: {e}"))?;
    if !d.is_dir() || d.uid() != 0 || d.gid() != 0 || d.mode() & 0o022 != 0 {
        return Err(refuse!(
            "{dir} is not a root:root directory writable only by root; refusing it"
        ));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| refuse!("cannot open {path}: {e}"))?;
    std::os::unix::fs::fchown(&f, Some(0), Some(0))
        .map_err(|e| refuse!("cannot chown {path}: {e}"))?;
    let m = f.metadata().map_err(|e| refuse!("{path}: {e}"))?;
    if !m.is_file() || m.uid() != 0 || m.gid() != 0 || m.mode() & 0o077 != 0 {
        return Err(refuse!("{path} is not a root:root 0600 file; refusing it"));
    }
    Ok(f)
}

/// The lock that serialises every create (see [`root_file`]): no user can hold it.
pub(crate) fn open_lock() -> Result<File, Refusal> {
    root_file(LOCK_DIR, LOCK_PATH)
}

/// The lease file (see [`root_file`]), only when addressing is configured. It is rewritten in
/// place under the lock; a damaged line is only a lost hint (see burrow_usernet::pool).
pub(crate) fn open_leases() -> Result<Option<File>, Refusal> {
    if std::fs::symlink_metadata(NIC_CONF_PATH).is_err() {
        return Ok(None);
    }
    root_file(LEASES_DIR, LEASES_PATH).map(Some)
}

/// What create was asked for, all checked.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub pid: i32,
    pub netns: BorrowedFd<'a>,
    pub kind: &'a str,
    pub bridge: &'a str,
    pub nicname: &'a str,
    pub name: &'a str,
    pub json: bool,
}

fn nl_err(what: &str) -> impl Fn(std::io::Error) -> Refusal + '_ {
    move |e| refuse!("{what}: {e}")
}

/// Deletes host ends that carry no tag: under the lock no other create is in flight, so such
/// a link is left by a helper killed between creating and tagging it (or killed by a waiter
/// because it held the lock stopped). Any user's host end in burrow-nic's link group (set by
/// the creating request itself), and the caller's own by name (made before the group was set).
fn reconcile(nl: &mut Rtnl, links: &[Link], uid: u32, audit: &Audit) {
    for link in links {
        let ours = (link.group == usernet::NIC_GROUP && link.name.starts_with("veth"))
            || usernet::is_host_ifname_of(&link.name, uid);
        let tagged = link.alias.as_deref().and_then(NicTag::parse).is_some();
        if ours && link.kind.as_deref() == Some("veth") && !tagged && nl.delete(link.index).is_ok()
        {
            audit.allowed(&format!(
                "deleted untagged {} left by an interrupted create",
                link.name
            ));
        }
    }
}

/// Writes a per-device sysctl of the host netns (`/proc/sys/net/<family>/conf/<dev>/<key>`):
/// CAP_NET_ADMIN over the netns grants the write. A family the kernel lacks (no
/// /proc/sys/net/ipv6) is skipped.
pub(crate) fn sysctl(family: &str, dev: &str, key: &str, value: &str) -> Result<(), Refusal> {
    let path = format!("/proc/sys/net/{family}/conf/{dev}/{key}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path);
    match f {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(value.as_bytes())
                .map_err(|e| refuse!("cannot set {path}: {e}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == "ipv6" => Ok(()),
        Err(e) => Err(refuse!("cannot set {path}: {e}")),
    }
}

/// Addresses of one nic on a per-user bridge.
#[derive(Debug, Clone, Copy)]
struct Addressing {
    v4: Option<(Ipv4Addr, u8, Ipv4Addr)>,
    v6: Option<(Ipv6Addr, u8, Ipv6Addr)>,
}

fn v4_of(a: Option<IpAddr>) -> Option<Ipv4Addr> {
    match a {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

fn v6_of(a: Option<IpAddr>) -> Option<Ipv6Addr> {
    match a {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    }
}

/// Leases, read from and written back to the file opened before the drop.
struct LeaseFile<'a>(&'a File);

impl LeaseFile<'_> {
    fn load(&self, audit: &Audit) -> Leases {
        let mut text = String::new();
        let mut f = self.0;
        use std::io::Seek;
        if f.seek(std::io::SeekFrom::Start(0)).is_err()
            || f.take(4 * 1024 * 1024).read_to_string(&mut text).is_err()
        {
            audit.noticed(&format!(
                "{LEASES_PATH} unreadable; starting from no leases"
            ));
            return Leases::default();
        }
        let (l, skipped) = Leases::parse(&text);
        if skipped > 0 {
            audit.noticed(&format!("{LEASES_PATH}: skipped {skipped} damaged lines"));
        }
        l
    }

    fn store(&self, l: &Leases) -> Result<(), Refusal> {
        use std::os::unix::fs::FileExt;
        let text = l.render();
        self.0
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| {
                self.0
                    .set_len(u64::try_from(text.len()).unwrap_or(u64::MAX))
            })
            .map_err(|e| refuse!("cannot write {LEASES_PATH}: {e}"))
    }
}

/// Creates the caller's per-user bridge if missing, and (every time) makes sure it is what
/// burrow-nic promises: a Linux bridge tagged for this uid, reverse-path filtering on, no
/// router advertisements accepted, its gateway addresses, up. Returns (index, mtu, the
/// subnet number if addressed). Anything made here is deleted again on failure.
fn ensure_user_bridge(
    nl: &mut Rtnl,
    links: &[Link],
    name: &str,
    who: &Identity,
    pools: &Pools,
    leases: Option<&mut Leases>,
    audit: &Audit,
) -> Result<(u32, u32, Option<u32>), Refusal> {
    let uid = who.uid;
    let existing = links.iter().find(|l| l.name == name);
    let created = match existing {
        Some(l) => {
            if l.kind.as_deref() != Some("bridge") {
                return Err(refuse!(
                    "{name} is not a Linux bridge; refusing to attach to it"
                ));
            }
            let tag = l.alias.as_deref().filter(|a| !a.is_empty());
            if tag.is_some_and(|a| BridgeTag::parse(a).is_none_or(|t| t.uid != uid)) {
                return Err(refuse!(
                    "{name} exists and is not burrow-nic's per-user bridge of uid {uid} (its alias is {:?}); the admin must remove or rename it",
                    tag.unwrap_or_default()
                ));
            }
            if tag.is_none() {
                // Untagged: adopted only if it is exactly what a create killed between making
                // and tagging it leaves (no ports, no addresses); anything else is somebody's.
                let ports = links.iter().filter(|p| p.master == Some(l.index)).count();
                let addrs = nl
                    .address_count(l.index)
                    .map_err(|e| refuse!("cannot list the addresses of {name}: {e}"))?;
                if ports > 0 || addrs > 0 {
                    let ports = if ports == 1 {
                        "1 port".to_owned()
                    } else {
                        format!("{ports} ports")
                    };
                    let addrs = if addrs == 1 {
                        "1 address".to_owned()
                    } else {
                        format!("{addrs} addresses")
                    };
                    return Err(refuse!(
                        "{name} exists and is not burrow-nic's per-user bridge of uid {uid}: it has no burrow-nic tag, {ports} and {addrs} (a bridge left by an interrupted create has none); the admin must remove or rename it"
                    ));
                }
                audit.allowed(&format!(
                    "adopted untagged empty bridge {name} (ifindex {}) left by an interrupted create",
                    l.index
                ));
            }
            None
        }
        None => {
            nl.create_bridge(name)
                .map_err(|e| refuse!("cannot create bridge {name}: {e}"))?;
            let l = nl
                .link_by_name(name)
                .map_err(|e| refuse!("cannot find the new bridge {name}: {e}"))?;
            audit.allowed(&format!(
                "created per-user bridge {name} (ifindex {})",
                l.index
            ));
            Some(l)
        }
    };
    let br = match (existing, &created) {
        (Some(l), _) | (None, Some(l)) => l.clone(),
        (None, None) => return Err(refuse!("no bridge")),
    };
    let setup = |nl: &mut Rtnl| -> Result<Option<u32>, Refusal> {
        let live: Vec<(String, u32)> = links
            .iter()
            .filter_map(|l| {
                let t = BridgeTag::parse(l.alias.as_deref()?)?;
                Some((l.name.clone(), t.subnet?))
            })
            .collect();
        let subnet = match leases {
            Some(leases) if pools.any() => Some(leases.subnet_for(name, uid, pools, &live, |u| !who.has_account(u)).ok_or_else(|| {
                refuse!(
                    "the address pools in {NIC_CONF_PATH} have no free subnet left for bridge {name} (admin: enlarge the pool)"
                )
            })?),
            _ => None,
        };
        let tag = BridgeTag { uid, subnet }.render();
        if br.alias.as_deref() != Some(tag.as_str()) {
            nl.set_alias(br.index, &tag)
                .map_err(|e| refuse!("cannot tag bridge {name}: {e}"))?;
        }
        if let Some(mtu) = pools.mtu.filter(|m| *m != br.mtu) {
            nl.set_mtu(br.index, mtu).map_err(|e| {
                refuse!("cannot set the MTU of bridge {name} to {mtu} ({NIC_CONF_PATH}): {e}")
            })?;
            audit.allowed(&format!("set the MTU of {name} to {mtu}"));
        }
        sysctl("ipv4", name, "rp_filter", "1")?;
        sysctl("ipv6", name, "accept_ra", "0")?;
        if let Some(n) = subnet {
            for pool in [pools.v4, pools.v6].into_iter().flatten() {
                let gw = pool
                    .address(n, 1)
                    .ok_or_else(|| refuse!("subnet {n} is outside the pool {pool}"))?;
                nl.add_address(br.index, gw, pool.sub)
                    .map_err(|e| refuse!("cannot address bridge {name}: {e}"))?;
            }
        }
        if br.flags & 1 == 0 {
            nl.set_up(br.index)
                .map_err(|e| refuse!("cannot bring up bridge {name}: {e}"))?;
        }
        Ok(subnet)
    };
    match setup(nl) {
        Ok(subnet) => Ok((br.index, pools.mtu.unwrap_or(br.mtu), subnet)),
        Err(e) => {
            if let Some(c) = created {
                let _ = nl.delete(c.index);
            }
            Err(e)
        }
    }
}

/// Runs with CAP_NET_ADMIN effective and the lock held. Returns the stdout text.
pub(crate) fn create(
    req: &Request<'_>,
    who: &Identity,
    policy: &Usernet,
    pools: &Pools,
    lease_file: Option<&File>,
    audit: &Audit,
) -> Result<String, Refusal> {
    // The socket must be opened with the capability effective: the kernel checks its opener.
    let mut nl = Rtnl::open().map_err(nl_err("cannot open a netlink socket"))?;
    let links = nl.links().map_err(nl_err("cannot list links"))?;
    reconcile(&mut nl, &links, who.uid, audit);
    let tags = tags_of(&links);
    let grant = policy
        .decide(&who.caller(), req.kind, req.bridge, |s| usage(&tags, s))
        .map_err(|d| Refusal(d.to_string()))?;
    audit.allowed(&format!(
        "create pid={} type={} bridge={} nic={} owner={} (line {}, {} of {} in use)",
        req.pid,
        req.kind,
        req.bridge,
        req.nicname,
        grant.slot.owner,
        grant.line,
        grant.used,
        grant.allowed
    ));
    let lease_file = lease_file.map(LeaseFile);
    let mut leases = lease_file.as_ref().map(|f| f.load(audit));
    let loaded = leases.clone();
    let mut addressing = Addressing { v4: None, v6: None };
    let (master, mtu) = if req.bridge == "none" {
        (None, 1500)
    } else if grant.per_user {
        let (index, mtu, subnet) = ensure_user_bridge(
            &mut nl,
            &links,
            req.bridge,
            who,
            pools,
            leases.as_mut(),
            audit,
        )?;
        if let (Some(n), Some(leases)) = (subnet, leases.as_mut()) {
            let live: Vec<u32> = tags
                .iter()
                .filter(|(_, t)| t.slot.bridge == req.bridge)
                .filter_map(|(_, t)| {
                    let a = t.v4.map(IpAddr::V4).or(t.v6.map(IpAddr::V6))?;
                    let pool = if a.is_ipv4() { pools.v4 } else { pools.v6 }?;
                    pool.host_of(n, a)
                })
                .collect();
            let key = lease_key(req.name, req.nicname);
            let host = leases
                .host_for(req.bridge, &key, &live, pools.last_host())
                .ok_or_else(|| {
                    refuse!("every address of your subnet on {} is in use", req.bridge)
                })?;
            let at = |pool: Option<burrow_usernet::pool::Pool>| {
                pool.and_then(|p| Some((p.address(n, host)?, p.sub, p.address(n, 1)?)))
            };
            addressing.v4 =
                at(pools.v4).and_then(|(a, l, g)| Some((v4_of(Some(a))?, l, v4_of(Some(g))?)));
            addressing.v6 =
                at(pools.v6).and_then(|(a, l, g)| Some((v6_of(Some(a))?, l, v6_of(Some(g))?)));
        }
        // Written only when something changed, and not synced: the file only makes numbers
        // stable (what is in use comes from the kernel), so a write lost in a crash costs
        // nothing but that.
        if let (Some(l), Some(f)) = (&leases, &lease_file) {
            if loaded.as_ref() != Some(l) {
                f.store(l)?;
            }
        }
        (Some(index), mtu)
    } else {
        let br = links
            .iter()
            .find(|l| l.name == req.bridge)
            .ok_or_else(|| refuse!("bridge {} does not exist", req.bridge))?;
        if br.kind.as_deref() != Some("bridge") {
            return Err(refuse!(
                "{} is not a Linux bridge; refusing to attach to it",
                req.bridge
            ));
        }
        // A plain line must not attach anyone to another user's per-user bridge (an admin's
        // shared bridge that happens to be named burrow1040, or overlapping patterns).
        if let Some(t) = br.alias.as_deref().and_then(BridgeTag::parse) {
            if t.uid != who.uid {
                return Err(refuse!(
                    "bridge {} is the per-user bridge of uid {}; a line naming it does not let you share that user's network (admin: rename the shared bridge or fix /etc/burrow/usernet line {})",
                    req.bridge,
                    t.uid,
                    grant.line
                ));
            }
        }
        (Some(br.index), br.mtu)
    };
    let tag = NicTag {
        uid: who.uid,
        slot: grant.slot,
        v4: addressing.v4.map(|(a, _, _)| a),
        v6: addressing.v6.map(|(a, _, _)| a),
    }
    .render();
    let mut urandom = File::open("/dev/urandom").map_err(nl_err("/dev/urandom"))?;
    let mut host = None;
    for _ in 0..16 {
        let mut rnd = [0u8; 4];
        urandom
            .read_exact(&mut rnd)
            .map_err(nl_err("/dev/urandom"))?;
        let name = usernet::host_ifname(who.uid, &rnd).ok_or_else(|| {
            refuse!(
                "uid {} is too large for a host nic name (veth<uid>_X must fit in 15 bytes)",
                who.uid
            )
        })?;
        if links.iter().any(|l| l.name == name) {
            continue;
        }
        let spec = VethSpec {
            host: &name,
            peer: req.nicname,
            peer_netns: req.netns.as_fd(),
            mtu,
            group: usernet::NIC_GROUP,
        };
        match nl.create_veth(&spec) {
            Ok(()) => {
                host = Some(name);
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                if nl.link_by_name(&name).is_ok() {
                    continue;
                }
                return Err(refuse!(
                    "a link named {:?} already exists in the target network namespace",
                    req.nicname
                ));
            }
            Err(e) => return Err(refuse!("creating the veth failed: {e}")),
        }
    }
    let host = host.ok_or_else(|| refuse!("no free host nic name found"))?;
    let h = nl
        .link_by_name(&host)
        .map_err(nl_err("cannot find the new host nic"))?;
    let finish = |nl: &mut Rtnl| -> Result<String, Refusal> {
        // Host end, while it is still down: strict reverse-path filtering and no local source
        // addresses accepted (a `none` nic must not bring packets with another container's or
        // the host's address as source into the host; on a bridge port it is harmless); no
        // router advertisements; a bridge port needs no IPv6 of its own.
        sysctl("ipv4", &host, "rp_filter", "1")?;
        sysctl("ipv4", &host, "accept_local", "0")?;
        sysctl("ipv6", &host, "accept_ra", "0")?;
        if master.is_some() {
            sysctl("ipv6", &host, "disable_ipv6", "1")?;
        }
        nl.configure(h.index, &tag, master)
            .map_err(nl_err("cannot tag, attach and bring up the host nic"))?;
        let h2 = nl
            .link_by_index(h.index)
            .map_err(nl_err("cannot read back the host nic"))?;
        let (Some(peer_index), Some(nsid)) = (h2.link, h2.link_netnsid) else {
            return Err(refuse!("the kernel did not report the container end"));
        };
        let peer = nl
            .link_in_netnsid(nsid, peer_index)
            .map_err(nl_err("cannot read the container end"))?;
        if h2.master != master || h2.alias.as_deref() != Some(tag.as_str()) {
            return Err(refuse!("the host nic did not take its configuration"));
        }
        if !req.json {
            return Ok(format!(
                "{}:{}:{}:{}\n",
                peer.name, peer.index, host, h.index
            ));
        }
        let fam = |a: Option<(String, u8, String)>| match a {
            Some((a, l, g)) => {
                format!("{{\"address\":\"{a}\",\"prefix\":{l},\"gateway\":\"{g}\"}}")
            }
            None => "null".to_owned(),
        };
        Ok(format!(
            "{{\"container_ifname\":{},\"container_ifindex\":{},\"host_ifname\":{},\"host_ifindex\":{},\"bridge\":{},\"mtu\":{},\"ipv4\":{},\"ipv6\":{}}}\n",
            crate::json_str(&peer.name),
            peer.index,
            crate::json_str(&host),
            h.index,
            crate::json_str(req.bridge),
            peer.mtu,
            fam(addressing.v4.map(|(a, l, g)| (a.to_string(), l, g.to_string()))),
            fam(addressing.v6.map(|(a, l, g)| (a.to_string(), l, g.to_string()))),
        ))
    };
    match finish(&mut nl) {
        Ok(line) => Ok(line),
        Err(e) => {
            // Never leave a pair behind: delete by the host ifindex (the peer goes with it).
            let _ = nl.delete(h.index);
            Err(e)
        }
    }
}

/// `delete`, with CAP_NET_ADMIN effective: the host end must exist, be a veth, carry the
/// caller's tag with this type and bridge (CVE-2026-39402: owner, type, bridge and name all
/// match), and have its container end in `netns` (the namespace the caller named and owns).
/// Without HOSTNIC every such nic is deleted. Anything else gets one message that says
/// nothing about other users' nics. Deleted by ifindex; the peer goes with it.
pub(crate) fn delete(
    uid: u32,
    kind: &str,
    bridge: &str,
    hostnic: Option<&str>,
    netns: BorrowedFd<'_>,
    audit: &Audit,
) -> Result<(), Refusal> {
    let mut nl = Rtnl::open().map_err(nl_err("cannot open a netlink socket"))?;
    // The dump makes the kernel give the peers' namespaces their ids; then ask for ours.
    let links = nl.links().map_err(nl_err("cannot list links"))?;
    let nsid = nl
        .nsid_of(netns)
        .map_err(nl_err("cannot identify the network namespace"))?;
    let none = || match hostnic {
        Some(h) => refuse!(
            "you have no nic {h} of type {kind} on bridge {bridge} in that network namespace"
        ),
        None => {
            refuse!("you have no nic of type {kind} on bridge {bridge} in that network namespace")
        }
    };
    let victims: Vec<&Link> = links
        .iter()
        .filter(|l| hostnic.is_none_or(|h| l.name == h))
        .filter(|l| {
            l.kind.as_deref() == Some("veth")
                && nsid.is_some()
                && l.link_netnsid == nsid
                && l.alias
                    .as_deref()
                    .and_then(NicTag::parse)
                    .is_some_and(|t| t.uid == uid && t.slot.kind == kind && t.slot.bridge == bridge)
        })
        .collect();
    if victims.is_empty() {
        return Err(none());
    }
    for l in victims {
        audit.allowed(&format!(
            "delete {} (ifindex {}) type={kind} bridge={bridge}",
            l.name, l.index
        ));
        match nl.delete(l.index) {
            Ok(()) => {}
            // Gone meanwhile (its namespace died): nothing left to delete.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
            Err(e) => return Err(refuse!("deleting {} failed: {e}", l.name)),
        }
    }
    Ok(())
}

/// The accounting tags of the host's links.
pub(crate) fn tags_of(links: &[Link]) -> Vec<(String, NicTag)> {
    let mut out: Vec<(String, NicTag)> = links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("veth"))
        .filter_map(|l| Some((l.name.clone(), NicTag::parse(l.alias.as_deref()?)?)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
