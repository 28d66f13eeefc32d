//! Addressing of per-user bridges: `/etc/burrow/nic.conf` and the lease file.
//!
//! # /etc/burrow/nic.conf
//!
//! ```text
//! # burrow-nic addressing for per-user bridges
//! ipv4 10.77.0.0/16 24          # POOL and the prefix length of each user's subnet
//! ipv6 fd42:6275:7277::/48 64   # optional
//! mtu 65520                     # optional: the MTU of each per-user bridge and its veths
//! ```
//!
//! `mtu` (68 to [`MAX_MTU`]) is set on every per-user bridge burrow-nic makes or uses, and so
//! on the veths it attaches (both ends); without it they keep the kernel's default, 1500. A
//! large MTU (65520, what loopback-like links use) makes container-to-host traffic about as
//! fast as host loopback; traffic that leaves the host through a 1500-byte link is then cut
//! down by the host: TCP through MSS clamping (burrow-nic-nat), UDP and other protocols by
//! IPv4 fragmentation or path-MTU discovery (ICMP "fragmentation needed"/"packet too big",
//! which a firewall on the path must not drop). See burrow-nic.conf(5).
//!
//! Each per-user bridge (`burrow1002`) is given subnet number N (the lowest free one, kept in
//! the lease file): the Nth subnet of each pool. The bridge gets the first address of each
//! subnet (the gateway, `.1` / `::1`); nics get host numbers from 2 up, the same number in both
//! families (10.77.3.7 and fd42:6275:7277:3::7). A nic's number is stable: it is leased to
//! (bridge, container name, nic name) and given again to the same key while no live nic holds
//! it. A missing file means no addressing (the bridge and veths still work; addresses are then
//! the user's business).
//!
//! # /var/lib/burrow/nic-leases
//!
//! Written only by burrow-nic under its lock, rewritten whole in place (the helper has dropped
//! root by then and keeps only the descriptor it opened before):
//!
//! ```text
//! subnet BRIDGE N UID
//! nic BRIDGE HOST KEY
//! ```
//!
//! KEY is `NAME/NICNAME` when both are simple names, else `-` (no stable number). UID is the
//! user the per-user bridge is for (files written before it was recorded have `subnet
//! BRIDGE N`).
//!
//! Subnet leases are given back: when a pool has no number left, the lease of a bridge that
//! no longer exists and whose user has no account any more goes to the new bridge
//! ([`Leases::subnet_for`]), and `burrow admin remove-user` releases a user's leases
//! ([`Leases::release_uid`]).
//!
//! The file only makes numbers stable; what is in use comes from the kernel (the tags of the
//! per-user bridges, `burrow-nic bridge UID N`, and of the live nics, which carry their
//! addresses), so a damaged line is skipped, never trusted: at worst a number is not stable.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where the addressing configuration lives.
pub const NIC_CONF_PATH: &str = "/etc/burrow/nic.conf";

/// Where the leases live.
pub const LEASES_PATH: &str = "/var/lib/burrow/nic-leases";

/// The most nic leases kept per bridge: beyond it the oldest lease not in use is forgotten.
pub const MAX_LEASES_PER_BRIDGE: usize = 1024;

/// One pool: a network and the prefix length of the per-user subnets cut from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Network address (host bits zero).
    pub net: IpAddr,
    /// Prefix length of the pool.
    pub len: u8,
    /// Prefix length of each user's subnet.
    pub sub: u8,
}

fn bits(a: IpAddr) -> u32 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, v: u128) -> Option<IpAddr> {
    if v4 {
        Some(IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?)))
    } else {
        Some(IpAddr::V6(Ipv6Addr::from(v)))
    }
}

/// 2^n as u128, saturating at u128::MAX for n >= 128.
fn pow2(n: u32) -> u128 {
    1u128.checked_shl(n).unwrap_or(u128::MAX)
}

impl Pool {
    /// How many user subnets the pool holds (capped at u32::MAX).
    pub fn subnets(&self) -> u32 {
        let n = pow2(u32::from(self.sub.saturating_sub(self.len)));
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Host numbers usable for nics in a subnet: 2 ..= last (the first is the network, 1 is
    /// the gateway, and for IPv4 the last is the broadcast address). Capped at u32::MAX.
    pub fn last_host(&self) -> u32 {
        let host_bits = bits(self.net).saturating_sub(u32::from(self.sub));
        let size = pow2(host_bits);
        let last = if self.net.is_ipv4() {
            size.saturating_sub(2)
        } else {
            size.saturating_sub(1)
        };
        u32::try_from(last).unwrap_or(u32::MAX)
    }

    /// Address number `host` of subnet `index` (None if out of range).
    pub fn address(&self, index: u32, host: u32) -> Option<IpAddr> {
        if index >= self.subnets() || host > self.last_host().max(1) {
            return None;
        }
        let host_bits = bits(self.net).checked_sub(u32::from(self.sub))?;
        let base = to_u128(self.net)
            .checked_add(u128::from(index).checked_shl(host_bits)?)?
            .checked_add(u128::from(host))?;
        from_u128(self.net.is_ipv4(), base)
    }

    /// The host number of `addr` in subnet `index`, if it lies there.
    pub fn host_of(&self, index: u32, addr: IpAddr) -> Option<u32> {
        if addr.is_ipv4() != self.net.is_ipv4() {
            return None;
        }
        let base = to_u128(self.address(index, 0)?);
        let off = to_u128(addr).checked_sub(base)?;
        let host = u32::try_from(off).ok()?;
        (host >= 2 && host <= self.last_host()).then_some(host)
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// The parsed /etc/burrow/nic.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pools {
    /// The IPv4 pool.
    pub v4: Option<Pool>,
    /// The IPv6 pool.
    pub v6: Option<Pool>,
    /// The MTU of the per-user bridges (`mtu N`); `None` leaves the kernel's default.
    pub mtu: Option<u32>,
}

/// The largest `mtu` accepted (a veth's and a bridge's maximum).
pub const MAX_MTU: u32 = 65_535;

/// The smallest `mtu` accepted (IPv4's minimum; IPv6 needs 1280 and is then off on the link).
pub const MIN_MTU: u32 = 68;

fn parse_pool(v4: bool, net: &str, sub: &str) -> Result<Pool, String> {
    let (addr, len) = net
        .split_once('/')
        .ok_or_else(|| format!("pool {net:?} is not ADDRESS/LENGTH"))?;
    let addr: IpAddr = if v4 {
        IpAddr::V4(
            addr.parse::<Ipv4Addr>()
                .map_err(|_| format!("{addr:?} is not an IPv4 address"))?,
        )
    } else {
        IpAddr::V6(
            addr.parse::<Ipv6Addr>()
                .map_err(|_| format!("{addr:?} is not an IPv6 address"))?,
        )
    };
    let max: u8 = if v4 { 30 } else { 126 };
    let len: u8 = crate::accounts::decimal(len)
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("prefix length {len:?} is not a number from 0 to {max}"))?;
    let sub: u8 = crate::accounts::decimal(sub)
        .filter(|s| *s >= len && *s <= max)
        .ok_or_else(|| {
            format!("subnet prefix length {sub:?} is not a number from {len} to {max}")
        })?;
    let host_bits = bits(addr).saturating_sub(u32::from(len));
    let mask = if host_bits >= 128 {
        u128::MAX
    } else {
        pow2(host_bits).saturating_sub(1)
    };
    if to_u128(addr) & mask != 0 {
        return Err(format!(
            "{net} has host bits set (write the network address)"
        ));
    }
    Ok(Pool {
        net: addr,
        len,
        sub,
    })
}

impl Pools {
    /// Parses the file; any bad line is an error naming it.
    pub fn parse(text: &str) -> Result<Pools, crate::ParseError> {
        let mut p = Pools::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i.saturating_add(1);
            let err = |problem: String| crate::ParseError { line, problem };
            let mut fields: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            if let Some(c) = fields.iter().position(|f| f.starts_with('#')) {
                fields.truncate(c);
            }
            if fields.is_empty() {
                continue;
            }
            if let ["mtu", rest @ ..] = fields.as_slice() {
                let [n] = rest else {
                    return Err(err(format!(
                        "expected 2 fields (mtu BYTES), found {}",
                        fields.len()
                    )));
                };
                if p.mtu.is_some() {
                    return Err(err("a second mtu line".to_owned()));
                }
                let mtu = crate::accounts::decimal::<u32>(n)
                    .filter(|m| (MIN_MTU..=MAX_MTU).contains(m))
                    .ok_or_else(|| {
                        err(format!(
                            "mtu {n:?} is not a decimal number from {MIN_MTU} to {MAX_MTU}"
                        ))
                    })?;
                p.mtu = Some(mtu);
                continue;
            }
            let [key, net, sub] = fields.as_slice() else {
                return Err(err(format!(
                    "expected 3 fields (ipv4|ipv6 POOL/LENGTH SUBNET-LENGTH), found {}",
                    fields.len()
                )));
            };
            let slot = match *key {
                "ipv4" => &mut p.v4,
                "ipv6" => &mut p.v6,
                k => return Err(err(format!("unknown key {k:?} (ipv4, ipv6 or mtu)"))),
            };
            if slot.is_some() {
                return Err(err(format!("a second {key} line")));
            }
            *slot = Some(parse_pool(*key == "ipv4", net, sub).map_err(err)?);
        }
        Ok(p)
    }

    /// Whether any pool is configured.
    pub fn any(&self) -> bool {
        self.v4.is_some() || self.v6.is_some()
    }

    /// How many user subnets there are (the smaller pool decides).
    pub fn subnets(&self) -> u32 {
        [self.v4, self.v6]
            .iter()
            .flatten()
            .map(Pool::subnets)
            .min()
            .unwrap_or(0)
    }

    /// The last usable host number (the smaller subnet decides).
    pub fn last_host(&self) -> u32 {
        [self.v4, self.v6]
            .iter()
            .flatten()
            .map(Pool::last_host)
            .min()
            .unwrap_or(0)
    }
}

/// A nic lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicLease {
    /// The per-user bridge.
    pub bridge: String,
    /// Host number in the bridge's subnet.
    pub host: u32,
    /// `NAME/NICNAME`, or `-`.
    pub key: String,
}

/// A subnet lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetLease {
    /// The per-user bridge.
    pub bridge: String,
    /// Its subnet number.
    pub number: u32,
    /// The uid the bridge is for, when recorded.
    pub uid: Option<u32>,
}

/// The lease file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leases {
    /// Subnet leases, in file order.
    pub subnets: Vec<SubnetLease>,
    /// Nic leases, oldest first.
    pub nics: Vec<NicLease>,
}

/// The stable key of a nic: `NAME/NICNAME` when both are simple names (letters, digits,
/// `._-`, 1 to 64 bytes; NICNAME without `%`), else `-`.
pub fn lease_key(name: &str, nicname: &str) -> String {
    let simple = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    };
    if simple(name) && simple(nicname) {
        format!("{name}/{nicname}")
    } else {
        "-".to_owned()
    }
}

fn valid_key(k: &str) -> bool {
    k == "-"
        || k.split_once('/').is_some_and(|(a, b)| {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
            };
            ok(a) && ok(b)
        })
}

impl Leases {
    /// Parses the lease file, skipping (and counting) lines that are not well formed or
    /// repeat a number already leased.
    pub fn parse(text: &str) -> (Leases, usize) {
        use crate::accounts::decimal;
        let mut l = Leases::default();
        let mut skipped: usize = 0;
        for raw in text.split('\n') {
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = raw.split(' ').collect();
            let ok = match f.as_slice() {
                ["subnet", br, n, uid @ ..] if uid.len() <= 1 => {
                    let uid = match uid.first() {
                        None => Some(None),
                        Some(u) => decimal::<u32>(u).map(Some),
                    };
                    match (decimal::<u32>(n), uid) {
                        (Some(n), Some(uid))
                            if valid_bridge(br)
                                && !l.subnets.iter().any(|s| s.bridge == *br || s.number == n) =>
                        {
                            l.subnets.push(SubnetLease {
                                bridge: (*br).to_owned(),
                                number: n,
                                uid,
                            });
                            true
                        }
                        _ => false,
                    }
                }
                ["nic", br, host, key] => match decimal::<u32>(host) {
                    Some(host)
                        if valid_bridge(br)
                            && valid_key(key)
                            && !l.nics.iter().any(|n| n.bridge == *br && n.host == host) =>
                    {
                        l.nics.push(NicLease {
                            bridge: (*br).to_owned(),
                            host,
                            key: (*key).to_owned(),
                        });
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !ok {
                skipped = skipped.saturating_add(1);
            }
        }
        (l, skipped)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = String::from("# burrow-nic leases (written by burrow-nic; do not edit)\n");
        for l in &self.subnets {
            match l.uid {
                Some(u) => s.push_str(&format!("subnet {} {} {u}\n", l.bridge, l.number)),
                None => s.push_str(&format!("subnet {} {}\n", l.bridge, l.number)),
            }
        }
        for n in &self.nics {
            s.push_str(&format!("nic {} {} {}\n", n.bridge, n.host, n.key));
        }
        s
    }

    /// The subnet number of per-user bridge `bridge` of user `uid`. `live` holds the
    /// (bridge, number) of the per-user bridges that exist (their tags): the bridge's own tag
    /// decides; else its lease, unless another live bridge holds that number; else the lowest
    /// number neither leased nor live; else (the pool is used up) the lowest number leased to
    /// a bridge that does not exist and whose uid `gone` says has no account any more. The
    /// result is recorded as the bridge's lease, with its uid.
    pub fn subnet_for(
        &mut self,
        bridge: &str,
        uid: u32,
        pools: &Pools,
        live: &[(String, u32)],
        gone: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        let total = pools.subnets();
        let is_live = |n: u32| live.iter().any(|(_, m)| *m == n);
        let own_live = live.iter().find(|(b, n)| b == bridge && *n < total);
        let leased = self.subnets.iter().find(|s| {
            s.bridge == bridge
                && s.number < total
                && !live.iter().any(|(c, m)| *m == s.number && c != bridge)
        });
        let n = match (own_live, leased) {
            (Some((_, n)), _) => *n,
            (None, Some(s)) => s.number,
            (None, None) => {
                let free = (0..total)
                    .find(|n| !self.subnets.iter().any(|s| s.number == *n) && !is_live(*n));
                let reclaim = || {
                    self.subnets
                        .iter()
                        .filter(|s| {
                            s.number < total
                                && !is_live(s.number)
                                && !live.iter().any(|(b, _)| *b == s.bridge)
                                && s.uid.is_some_and(&gone)
                        })
                        .map(|s| s.number)
                        .min()
                };
                free.or_else(reclaim)?
            }
        };
        let lease = SubnetLease {
            bridge: bridge.to_owned(),
            number: n,
            uid: Some(uid),
        };
        if !self.subnets.contains(&lease) {
            let reclaimed: Vec<String> = self
                .subnets
                .iter()
                .filter(|s| s.number == n && s.bridge != bridge)
                .map(|s| s.bridge.clone())
                .collect();
            self.subnets.retain(|s| s.bridge != bridge && s.number != n);
            self.nics.retain(|l| !reclaimed.contains(&l.bridge));
            self.subnets.push(lease);
        }
        Some(n)
    }

    /// Forgets every subnet lease of `uid` and the nic leases on those bridges (for `burrow
    /// admin remove-user`). Returns the bridges whose leases were dropped.
    pub fn release_uid(&mut self, uid: u32) -> Vec<String> {
        let gone: Vec<String> = self
            .subnets
            .iter()
            .filter(|s| s.uid == Some(uid))
            .map(|s| s.bridge.clone())
            .collect();
        self.subnets.retain(|s| s.uid != Some(uid));
        self.nics.retain(|l| !gone.contains(&l.bridge));
        gone
    }

    /// A host number for a new nic on `bridge` with `key`, none of `live` (the numbers held
    /// by the bridge's live nics): the key's lease if free, else the lowest number never
    /// leased, else the oldest lease not live. The lease moves to the end (newest); a nic
    /// without a key (`-`) gets no lease.
    pub fn host_for(&mut self, bridge: &str, key: &str, live: &[u32], last: u32) -> Option<u32> {
        let mine = |n: &NicLease| n.bridge == bridge;
        let keyed = (key != "-")
            .then(|| {
                self.nics
                    .iter()
                    .position(|n| mine(n) && n.key == key && !live.contains(&n.host))
            })
            .flatten();
        let host = match keyed {
            Some(i) => self.nics.remove(i).host,
            None => {
                let fresh = (2..=last).take(65_536).find(|h| {
                    !live.contains(h) && !self.nics.iter().any(|n| mine(n) && n.host == *h)
                });
                match fresh {
                    Some(h) => h,
                    None => {
                        let i = self
                            .nics
                            .iter()
                            .position(|n| mine(n) && !live.contains(&n.host) && n.host <= last)?;
                        self.nics.remove(i).host
                    }
                }
            }
        };
        self.nics.retain(|n| !(mine(n) && n.host == host));
        // A nic without a key needs no lease: it takes a number no key holds, and gives it
        // back when it dies.
        if key != "-" {
            self.nics.push(NicLease {
                bridge: bridge.to_owned(),
                host,
                key: key.to_owned(),
            });
        }
        // Bound the file: forget the oldest leases of this bridge that are not live.
        while self.nics.iter().filter(|n| mine(n)).count() > MAX_LEASES_PER_BRIDGE {
            let Some(i) = self
                .nics
                .iter()
                .position(|n| mine(n) && !live.contains(&n.host) && n.host != host)
            else {
                break;
            };
            self.nics.remove(i);
        }
        Some(host)
    }
}

fn valid_bridge(b: &str) -> bool {
    crate::check_ifname(b, crate::Pattern::Plain).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_and_address() {
        let p =
            Pools::parse("# c\nipv4 10.88.0.0/16 24 # per user\n\nipv6\tfd42:6275:7277::/48  64\n")
                .unwrap();
        let v4 = p.v4.unwrap();
        let v6 = p.v6.unwrap();
        assert_eq!(v4.subnets(), 256);
        assert_eq!(v4.last_host(), 254);
        assert_eq!(p.subnets(), 256);
        assert_eq!(p.last_host(), 254);
        assert_eq!(v4.address(3, 1), Some("10.88.3.1".parse().unwrap()));
        assert_eq!(v4.address(3, 7), Some("10.88.3.7".parse().unwrap()));
        assert_eq!(v4.address(256, 1), None);
        assert_eq!(v4.address(0, 255), None);
        assert_eq!(
            v6.address(3, 7),
            Some("fd42:6275:7277:3::7".parse().unwrap())
        );
        assert_eq!(v4.host_of(3, "10.88.3.7".parse().unwrap()), Some(7));
        assert_eq!(v4.host_of(3, "10.88.4.7".parse().unwrap()), None);
        assert_eq!(v4.host_of(3, "10.88.3.1".parse().unwrap()), None);
        assert_eq!(
            v6.host_of(3, "fd42:6275:7277:3::7".parse().unwrap()),
            Some(7)
        );
        assert_eq!(Pools::parse("").unwrap(), Pools::default());
        assert!(!Pools::default().any());
    }

    #[test]
    fn mtu_line() {
        let p = Pools::parse("ipv4 10.88.0.0/16 24\nmtu 65520 # fast to the host\n").unwrap();
        assert_eq!(p.mtu, Some(65520));
        assert_eq!(Pools::parse("mtu 68\n").unwrap().mtu, Some(68));
        assert_eq!(Pools::parse("ipv4 10.88.0.0/16 24\n").unwrap().mtu, None);
    }

    #[test]
    fn bad_pool_lines_are_errors() {
        for (text, want) in [
            ("ipv4 10.88.0.0/16", "line 1: expected 3 fields"),
            (
                "ipv4 10.88.0.1/16 24",
                "line 1: 10.88.0.1/16 has host bits set",
            ),
            (
                "ipv4 10.88.0.0/16 8",
                "subnet prefix length \"8\" is not a number from 16 to 30",
            ),
            ("ipv4 10.88.0.0/16 31", "subnet prefix length"),
            ("ipv4 10.88.0.0/33 33", "prefix length \"33\""),
            ("ipv4 fd00::/8 24", "is not an IPv4 address"),
            ("ipv6 10.0.0.0/8 64", "is not an IPv6 address"),
            ("ipv4 10.88.0.0 24", "is not ADDRESS/LENGTH"),
            ("ipv4 10.88.0.0/16 024", "subnet prefix length \"024\""),
            ("ipv5 10.88.0.0/16 24", "unknown key"),
            (
                "ipv4 10.88.0.0/16 24\nipv4 10.89.0.0/16 24",
                "line 2: a second ipv4 line",
            ),
            ("mtu", "line 1: expected 2 fields (mtu BYTES), found 1"),
            (
                "mtu 9000 1",
                "line 1: expected 2 fields (mtu BYTES), found 3",
            ),
            (
                "mtu 67",
                "mtu \"67\" is not a decimal number from 68 to 65535",
            ),
            (
                "mtu 65536",
                "mtu \"65536\" is not a decimal number from 68 to 65535",
            ),
            ("mtu 09000", "mtu \"09000\" is not a decimal number"),
            ("mtu +9000", "mtu \"+9000\" is not a decimal number"),
            ("mtu 0x1000", "mtu \"0x1000\" is not a decimal number"),
            ("mtu 9000\nmtu 1500", "line 2: a second mtu line"),
        ] {
            let e = Pools::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn leases_are_stable_and_bounded() {
        let pools = Pools::parse("ipv4 10.88.0.0/23 24\n").unwrap();
        let mut l = Leases::default();
        let here = |_: u32| false;
        assert_eq!(l.subnet_for("b1000", 1000, &pools, &[], here), Some(0));
        assert_eq!(l.subnet_for("b1001", 1001, &pools, &[], here), Some(1));
        let before = l.clone();
        assert_eq!(l.subnet_for("b1000", 1000, &pools, &[], here), Some(0));
        assert_eq!(l, before, "an unchanged lease is not rewritten");
        assert_eq!(
            l.subnet_for("c1000", 1000, &pools, &[], here),
            None,
            "pool exhausted"
        );
        // A live bridge decides over the file; a lease another live bridge holds is not
        // given.
        let mut m = Leases::default();
        assert_eq!(
            m.subnet_for("b7", 7, &pools, &[("b7".into(), 1)], here),
            Some(1)
        );
        let mut m = Leases::parse("subnet b7 1\n").0;
        assert_eq!(
            m.subnet_for("b7", 7, &pools, &[("b8".into(), 1)], here),
            Some(0)
        );
        assert_eq!(
            m.subnets,
            vec![SubnetLease {
                bridge: "b7".to_owned(),
                number: 0,
                uid: Some(7)
            }]
        );
        let last = pools.last_host();
        assert_eq!(l.host_for("b1000", "c1/eth0", &[], last), Some(2));
        assert_eq!(l.host_for("b1000", "c2/eth0", &[2], last), Some(3));
        // c1 again while its number is free: the same number.
        assert_eq!(l.host_for("b1000", "c1/eth0", &[3], last), Some(2));
        // c1 twice at once: the second gets a fresh number.
        assert_eq!(l.host_for("b1000", "c1/eth0", &[2, 3], last), Some(4));
        // Another bridge has its own numbers.
        assert_eq!(l.host_for("b1001", "c1/eth0", &[], last), Some(2));
        let text = l.render();
        assert_eq!(Leases::parse(&text), (l.clone(), 0));
        // Without a key: a number never leased, and no lease.
        let before = l.clone();
        assert_eq!(l.host_for("b1000", "-", &[], last), Some(5));
        assert_eq!(l.host_for("b1000", "-", &[], last), Some(5));
        assert_eq!(l, before);
        // Exhaustion: every number live gives None; a dead lease is reused.
        let all: Vec<u32> = (2..=last).collect();
        assert_eq!(l.host_for("b1000", "-", &all, last), None);
        let some: Vec<u32> = (3..=last).collect();
        assert_eq!(l.host_for("b1000", "-", &some, last), Some(2));
        assert_eq!(lease_key("c1", "eth0"), "c1/eth0");
        assert_eq!(lease_key("a b", "eth0"), "-");
        assert_eq!(lease_key("c1", "eth%d"), "-");
    }

    #[test]
    fn bad_lease_lines_are_skipped() {
        for (text, good) in [
            ("subnet b1 x", 0),
            ("subnet b/1 1", 0),
            ("subnet b1 1\nsubnet b1 2", 1),
            ("subnet b1 1\nsubnet b2 1", 1),
            ("nic b1 2 a b", 0),
            ("nic b1 2 a/b c", 0),
            ("nic b1 2 a/b\nnic b1 2 c/d", 1),
            ("nic b1 02 a/b", 0),
            ("nic b%u 2 a/b", 0),
            ("lease 1", 0),
            ("nic b1 2 a/b\nsubn", 1),
        ] {
            let (l, skipped) = Leases::parse(text);
            assert_eq!(l.subnets.len() + l.nics.len(), good, "{text}");
            assert_eq!(skipped, text.lines().count() - good, "{text}");
        }
        let (l, skipped) = Leases::parse("# x\nsubnet b1 1\nnic b1 2 -\n");
        assert_eq!((l.subnets.len(), l.nics.len(), skipped), (1, 1, 0));
    }
}

#[cfg(test)]
mod reclaim_tests {
    use super::*;

    #[test]
    fn leases_of_users_that_are_gone_are_reclaimed_when_the_pool_is_used_up() {
        let pools = Pools::parse("ipv4 10.88.0.0/23 24\n").unwrap();
        let mut l = Leases::default();
        let nobody_gone = |_: u32| false;
        assert_eq!(l.subnet_for("b1", 1, &pools, &[], nobody_gone), Some(0));
        assert_eq!(l.subnet_for("b2", 2, &pools, &[], nobody_gone), Some(1));
        assert_eq!(l.host_for("b1", "c/eth0", &[], 254), Some(2));
        // Used up: b3 gets nothing while everyone still has an account.
        assert_eq!(l.subnet_for("b3", 3, &pools, &[], nobody_gone), None);
        // uid 1 is gone, but its bridge still exists: not reclaimed.
        let one_gone = |u: u32| u == 1;
        assert_eq!(
            l.subnet_for("b3", 3, &pools, &[("b1".into(), 0)], one_gone),
            None
        );
        // Its bridge gone too: b3 takes number 0, and b1's nic leases go with its lease.
        assert_eq!(l.subnet_for("b3", 3, &pools, &[], one_gone), Some(0));
        assert_eq!(
            l.subnets
                .iter()
                .map(|s| (s.bridge.as_str(), s.number, s.uid))
                .collect::<Vec<_>>(),
            [("b2", 1, Some(2)), ("b3", 0, Some(3))]
        );
        assert!(l.nics.is_empty());
        // A lease without a uid (an older file) is never reclaimed.
        let mut old = Leases::parse("subnet b1 0\nsubnet b2 1 2\n").0;
        assert_eq!(old.subnet_for("b3", 3, &pools, &[], |_| true), Some(1));
        assert_eq!(
            old.render(),
            "# burrow-nic leases (written by burrow-nic; do not edit)\nsubnet b1 0\nsubnet b3 1 3\n"
        );
        // release_uid: what remove-user does.
        assert_eq!(old.release_uid(3), ["b3".to_owned()]);
        assert_eq!(old.release_uid(3), Vec::<String>::new());
        assert_eq!(old.subnets.len(), 1);
        // Lines with a uid parse back; bad uids are skipped.
        let (p, skipped) = Leases::parse("subnet b1 0 1000\nsubnet b2 1 x\nsubnet b3 2 1 2\n");
        assert_eq!((p.subnets.len(), skipped), (1, 2));
        assert_eq!(p.subnets[0].uid, Some(1000));
    }
}
