//! Minimal synchronous rtnetlink, enough for burrow-nic: one request at a time, each
//! acknowledged, no tokio and no generic netlink framework. Messages are built and parsed
//! here in safe Rust; the only unsafe part (the socket call) is in burrow-sys.
//!
//! - [`Rtnl::create_veth`]: one `RTM_NEWLINK` (`NLM_F_CREATE | NLM_F_EXCL`) that creates the
//!   host end and its peer **directly in another network namespace given by fd**
//!   (`VETH_INFO_PEER { IFLA_IFNAME, IFLA_NET_NS_FD, IFLA_MTU }`), MTU set in the same
//!   request, and the host end's `IFLA_GROUP` (so a host end is recognisable as burrow-nic's
//!   from the instant it exists). (The kernel ignores `IFLA_IFALIAS` on creation, so the
//!   alias is set by [`Rtnl::configure`].)
//! - [`Rtnl::link_by_name`] / [`Rtnl::link_by_index`]: `RTM_GETLINK` → [`Link`] (index,
//!   name, MTU, kind, master, the peer's ifindex for a veth, alias).
//! - [`Rtnl::configure`]: alias (burrow-nic's accounting tag), `IFLA_MASTER` and `IFF_UP` in
//!   one `RTM_NEWLINK`.
//! - [`Rtnl::delete`]: `RTM_DELLINK` by ifindex (never by name).
//! - [`Rtnl::links`]: every link (a dump), for accounting from the kernel's state.
//! - [`Rtnl::create_bridge`], [`Rtnl::set_up`], [`Rtnl::add_address`],
//!   [`Rtnl::add_default_route`]: burrow-nic's per-user bridges and the container side that
//!   `burrow run --net bridge` configures.
//! - [`Rtnl::address_count`]: how many addresses a link has (an `RTM_GETADDR` dump).
//! - [`Rtnl::nsid_of`]: the id this netns gives another one (`RTM_GETNSID` by fd), to tell
//!   whether a veth's peer is in a given namespace.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWNSID: u16 = 88;
const RTM_GETNSID: u16 = 90;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_GROUP: u16 = 27;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_TARGET_NETNSID: u16 = 46;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = 0x1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RTN_UNICAST: u8 = 1;
const NETNSA_NSID: u16 = 1;
const NETNSA_FD: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// A link as RTM_GETLINK reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// MTU.
    pub mtu: u32,
    /// `IFLA_INFO_KIND` (`bridge`, `veth`, ...), if any.
    pub kind: Option<String>,
    /// ifindex of the master (bridge), if attached.
    pub master: Option<u32>,
    /// `IFLA_LINK`: for a veth, the peer's ifindex (in the peer's netns).
    pub link: Option<u32>,
    /// `IFLA_IFALIAS`.
    pub alias: Option<String>,
    /// `IFLA_LINK_NETNSID`: the nsid (in this netns) of the netns `link` is in.
    pub link_netnsid: Option<i32>,
    /// `ifi_flags`.
    pub flags: u32,
    /// `IFLA_GROUP` (0 unless set).
    pub group: u32,
}

/// What to create with [`Rtnl::create_veth`].
#[derive(Debug)]
pub struct VethSpec<'a> {
    /// Host end name.
    pub host: &'a str,
    /// Peer name (may be a `%d` pattern: the kernel picks the number).
    pub peer: &'a str,
    /// The peer's network namespace.
    pub peer_netns: BorrowedFd<'a>,
    /// MTU of both ends.
    pub mtu: u32,
    /// `IFLA_GROUP` of the host end.
    pub group: u32,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn align4(n: usize) -> usize {
    n.checked_add(3).map_or(usize::MAX, |m| m & !3)
}

/// Appends one attribute (header, data, padding).
fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) -> io::Result<()> {
    let len = u16::try_from(data.len().saturating_add(4))
        .map_err(|_| invalid("netlink attribute too long"))?;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
    Ok(())
}

fn attr_str(buf: &mut Vec<u8>, ty: u16, s: &str) -> io::Result<()> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    attr(buf, ty, &v)
}

/// Appends a nested attribute whose content `f` writes.
fn nested(
    buf: &mut Vec<u8>,
    ty: u16,
    f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 4]);
    f(buf)?;
    let len = u16::try_from(buf.len().saturating_sub(start))
        .map_err(|_| invalid("netlink attribute too long"))?;
    let hdr = [len.to_ne_bytes(), (ty | NLA_F_NESTED).to_ne_bytes()].concat();
    buf.get_mut(start..start.saturating_add(4))
        .ok_or_else(|| invalid("netlink buffer"))?
        .copy_from_slice(&hdr);
    Ok(())
}

fn ifinfomsg(buf: &mut Vec<u8>, index: u32, flags: u32, change: u32) -> io::Result<()> {
    let index = i32::try_from(index).map_err(|_| invalid("ifindex out of range"))?;
    buf.push(0); // ifi_family = AF_UNSPEC
    buf.push(0);
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&change.to_ne_bytes());
    Ok(())
}

/// Iterates over `(type, payload)` of the attributes in `buf`.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let hdr = buf.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & NLA_TYPE_MASK;
        if len < 4 {
            return None;
        }
        let data = buf.get(4..len)?;
        buf = buf.get(align4(len).min(buf.len())..).unwrap_or(&[]);
        Some((ty, data))
    })
}

fn u32_of(data: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

fn str_of(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(data.get(..end).unwrap_or(&[])).into_owned()
}

/// Parses the payload of an RTM_NEWLINK message (ifinfomsg + attributes).
fn parse_link(payload: &[u8]) -> Option<Link> {
    let hdr = payload.get(..IFINFOMSG_LEN)?;
    let index = i32::from_ne_bytes(hdr.get(4..8)?.try_into().ok()?);
    let flags = u32_of(hdr.get(8..12)?)?;
    let mut l = Link {
        index: u32::try_from(index).ok()?,
        flags,
        ..Link::default()
    };
    for (ty, data) in attrs(payload.get(IFINFOMSG_LEN..)?) {
        match ty {
            IFLA_IFNAME => l.name = str_of(data),
            IFLA_MTU => l.mtu = u32_of(data)?,
            IFLA_MASTER => l.master = u32_of(data),
            IFLA_GROUP => l.group = u32_of(data)?,
            IFLA_LINK => l.link = u32_of(data),
            IFLA_IFALIAS => l.alias = Some(str_of(data)),
            IFLA_LINK_NETNSID => {
                l.link_netnsid = u32_of(data).map(|v| i32::from_ne_bytes(v.to_ne_bytes()))
            }
            IFLA_LINKINFO => {
                for (t, d) in attrs(data) {
                    if t == IFLA_INFO_KIND {
                        l.kind = Some(str_of(d));
                    }
                }
            }
            _ => {}
        }
    }
    Some(l)
}

/// An rtnetlink socket in the caller's network namespace.
#[derive(Debug)]
pub struct Rtnl {
    sock: File,
    seq: u32,
}

/// nfnetlink: the nf_tables subsystem and its table messages.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;

/// nf_tables' family of nft's `ip` tables (NFPROTO_IPV4).
pub const NFPROTO_IPV4: u8 = 2;

/// nf_tables' family of nft's `ip6` tables (NFPROTO_IPV6).
pub const NFPROTO_IPV6: u8 = 10;

/// Whether the nf_tables table `name` of `family` ([`NFPROTO_IPV4`] for nft's `ip`) exists in
/// this network namespace: one NFT_MSG_GETTABLE request (needs CAP_NET_ADMIN effective, as
/// every nfnetlink request), much cheaper than running nft.
pub fn nft_table_exists(family: u8, name: &str) -> io::Result<bool> {
    let mut nl = Rtnl {
        sock: File::from(burrow_sys::netlink_socket(libc::NETLINK_NETFILTER)?),
        seq: 0,
    };
    // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big-endian, 0).
    let mut b = vec![family, 0, 0, 0];
    attr_str(&mut b, NFTA_TABLE_NAME, name)?;
    let ty = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
    let want = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
    match nl.request_for(ty, 0, &b, want) {
        Ok(replies) => Ok(!replies.is_empty()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Rtnl {
    /// Opens the socket. Requests that change links need CAP_NET_ADMIN effective.
    pub fn open() -> io::Result<Rtnl> {
        Ok(Rtnl {
            sock: File::from(burrow_sys::netlink_route_socket()?),
            seq: 0,
        })
    }

    /// Sends one request (`body` = everything after the nlmsghdr) and collects the replies
    /// until the ack (or, for a dump, NLMSG_DONE). Returns the payloads of type `want`.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.request_for(ty, flags, body, RTM_NEWLINK)
    }

    fn request_for(
        &mut self,
        ty: u16,
        flags: u16,
        body: &[u8],
        want: u16,
    ) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = u32::try_from(body.len().saturating_add(NLMSG_HDRLEN))
            .map_err(|_| invalid("netlink message too long"))?;
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN.saturating_add(body.len()));
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        let n = self.sock.write(&msg)?;
        if n != msg.len() {
            return Err(invalid("short netlink send"));
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.sock.read(&mut buf)?;
            let mut rest = buf.get(..n).unwrap_or(&[]);
            while rest.len() >= NLMSG_HDRLEN {
                let mlen = usize::try_from(u32_of(rest).unwrap_or(0)).unwrap_or(0);
                if mlen < NLMSG_HDRLEN || mlen > rest.len() {
                    return Err(invalid("malformed netlink reply"));
                }
                let mty = u16::from_ne_bytes([rest[4], rest[5]]);
                let mseq = u32_of(&rest[8..12]).unwrap_or(0);
                let payload = &rest[NLMSG_HDRLEN..mlen];
                rest = rest.get(align4(mlen).min(rest.len())..).unwrap_or(&[]);
                if mseq != seq {
                    continue;
                }
                match mty {
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .map(i32::from_ne_bytes)
                            .ok_or_else(|| invalid("short netlink error"))?;
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(io::Error::from_raw_os_error(code.saturating_neg()));
                    }
                    NLMSG_DONE => return Ok(out),
                    t if t == want => out.push(payload.to_vec()),
                    _ => {}
                }
            }
        }
    }

    /// Creates a veth pair: the host end here, the peer in `spec.peer_netns` under its final
    /// name. Fails with EEXIST if the host name is taken; the peer name clashing in the target
    /// netns fails the whole request (nothing is left behind).
    pub fn create_veth(&mut self, spec: &VethSpec<'_>) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, 0, 0, 0)?;
        attr_str(&mut b, IFLA_IFNAME, spec.host)?;
        attr(&mut b, IFLA_MTU, &spec.mtu.to_ne_bytes())?;
        attr(&mut b, IFLA_GROUP, &spec.group.to_ne_bytes())?;
        let nsfd = u32::try_from(spec.peer_netns.as_raw_fd())
            .map_err(|_| invalid("bad netns descriptor"))?;
        nested(&mut b, IFLA_LINKINFO, |b| {
            attr_str(b, IFLA_INFO_KIND, "veth")?;
            nested(b, IFLA_INFO_DATA, |b| {
                nested(b, VETH_INFO_PEER, |b| {
                    ifinfomsg(b, 0, 0, 0)?;
                    attr_str(b, IFLA_IFNAME, spec.peer)?;
                    attr(b, IFLA_MTU, &spec.mtu.to_ne_bytes())?;
                    attr(b, IFLA_NET_NS_FD, &nsfd.to_ne_bytes())
                })
            })
        })?;
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &b)
            .map(drop)
    }

    /// Sets the alias of link `index`, attaches it to `master` (if given) and sets it up, in
    /// one request.
    pub fn configure(&mut self, index: u32, alias: &str, master: Option<u32>) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, IFF_UP, IFF_UP)?;
        attr_str(&mut b, IFLA_IFALIAS, alias)?;
        if let Some(m) = master {
            attr(&mut b, IFLA_MASTER, &m.to_ne_bytes())?;
        }
        self.request(RTM_NEWLINK, 0, &b).map(drop)
    }

    /// Deletes link `index`.
    pub fn delete(&mut self, index: u32) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, 0, 0)?;
        self.request(RTM_DELLINK, 0, &b).map(drop)
    }

    fn get(&mut self, b: &[u8]) -> io::Result<Link> {
        let replies = self.request(RTM_GETLINK, 0, b)?;
        replies
            .first()
            .and_then(|p| parse_link(p))
            .ok_or_else(|| invalid("no link in the RTM_GETLINK reply"))
    }

    /// The link named `name` (ENODEV if there is none).
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Link> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, 0, 0, 0)?;
        attr_str(&mut b, IFLA_IFNAME, name)?;
        self.get(&b)
    }

    /// The link with ifindex `index` in the netns with id `nsid` (as seen from this netns,
    /// e.g. a veth's [`Link::link_netnsid`]). Needs CAP_NET_ADMIN over that netns.
    pub fn link_in_netnsid(&mut self, nsid: i32, index: u32) -> io::Result<Link> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, 0, 0)?;
        attr(&mut b, IFLA_TARGET_NETNSID, &nsid.to_ne_bytes())?;
        self.get(&b)
    }

    /// The link with ifindex `index` (ENODEV if there is none).
    pub fn link_by_index(&mut self, index: u32) -> io::Result<Link> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, 0, 0)?;
        self.get(&b)
    }

    /// Every link of this netns.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, 0, 0, 0)?;
        let replies = self.request(RTM_GETLINK, NLM_F_DUMP, &b)?;
        Ok(replies.iter().filter_map(|p| parse_link(p)).collect())
    }

    /// Creates a Linux bridge `name` (down, default MTU). EEXIST if the name is taken.
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, 0, 0, 0)?;
        attr_str(&mut b, IFLA_IFNAME, name)?;
        nested(&mut b, IFLA_LINKINFO, |b| {
            attr_str(b, IFLA_INFO_KIND, "bridge")
        })?;
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &b)
            .map(drop)
    }

    /// Sets link `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, IFF_UP, IFF_UP)?;
        self.request(RTM_NEWLINK, 0, &b).map(drop)
    }

    /// Sets the MTU of link `index`.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, 0, 0)?;
        attr(&mut b, IFLA_MTU, &mtu.to_ne_bytes())?;
        self.request(RTM_NEWLINK, 0, &b).map(drop)
    }

    /// Sets the alias of link `index`.
    pub fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        let mut b = Vec::new();
        ifinfomsg(&mut b, index, 0, 0)?;
        attr_str(&mut b, IFLA_IFALIAS, alias)?;
        self.request(RTM_NEWLINK, 0, &b).map(drop)
    }

    /// Adds `addr/prefix` to link `index` (replacing the same address if present; IPv6
    /// without duplicate address detection, so it is usable at once).
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let (family, bytes, max) = ip_parts(addr);
        if prefix > max {
            return Err(invalid("prefix length out of range"));
        }
        let mut b = Vec::new();
        b.push(family);
        b.push(prefix);
        b.push(if family == AF_INET6 { IFA_F_NODAD } else { 0 });
        b.push(0); // RT_SCOPE_UNIVERSE
        b.extend_from_slice(&index.to_ne_bytes());
        attr(&mut b, IFA_LOCAL, &bytes)?;
        attr(&mut b, IFA_ADDRESS, &bytes)?;
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &b)
            .map(drop)
    }

    /// Adds (or replaces) the default route of `gateway`'s family through link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> io::Result<()> {
        let (family, bytes, _) = ip_parts(gateway);
        let mut b = vec![
            family,
            0, // dst_len
            0, // src_len
            0, // tos
            RT_TABLE_MAIN,
            RTPROT_STATIC,
            0, // RT_SCOPE_UNIVERSE
            RTN_UNICAST,
        ];
        b.extend_from_slice(&0u32.to_ne_bytes());
        attr(&mut b, RTA_GATEWAY, &bytes)?;
        attr(&mut b, RTA_OIF, &index.to_ne_bytes())?;
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &b)
            .map(drop)
    }

    /// How many addresses (of any family, link-local included) link `index` has.
    pub fn address_count(&mut self, index: u32) -> io::Result<usize> {
        let b = [0u8; 8]; // struct ifaddrmsg: AF_UNSPEC, every link
        let replies = self.request_for(RTM_GETADDR, NLM_F_DUMP, &b, RTM_NEWADDR)?;
        Ok(replies
            .iter()
            .filter(|p| p.get(4..8).and_then(u32_of) == Some(index))
            .count())
    }

    /// The id this netns gives the netns of `fd` (as in [`Link::link_netnsid`]), or `None`
    /// when it has none (the kernel assigns one when it reports a peer in that netns).
    pub fn nsid_of(&mut self, fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
        let raw = u32::try_from(fd.as_raw_fd()).map_err(|_| invalid("bad netns descriptor"))?;
        let mut b = vec![0u8; 4]; // struct rtgenmsg, padded
        attr(&mut b, NETNSA_FD, &raw.to_ne_bytes())?;
        let replies = self.request_for(RTM_GETNSID, 0, &b, RTM_NEWNSID)?;
        let id = replies
            .first()
            .and_then(|p| p.get(4..))
            .and_then(|a| attrs(a).find(|(t, _)| *t == NETNSA_NSID))
            .and_then(|(_, d)| u32_of(d))
            .map(|v| i32::from_ne_bytes(v.to_ne_bytes()))
            .ok_or_else(|| invalid("no nsid in the RTM_GETNSID reply"))?;
        Ok((id >= 0).then_some(id))
    }
}

fn ip_parts(addr: IpAddr) -> (u8, Vec<u8>, u8) {
    match addr {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec(), 32),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec(), 128),
    }
}

#[cfg(test)]
mod tests;
