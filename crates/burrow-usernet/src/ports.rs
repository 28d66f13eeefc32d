//! Published ports: the `-p/--publish` mapping (`[HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]`,
//! an IPv6 HOSTIP in brackets: `[::1]:8080:80`)
//! and the port grant list of a `USER ports LIST` line of /etc/burrow/usernet
//! (`8000-8099,443`). Both are parsed strictly: plain decimal, no leading zeros, no signs, no
//! spaces, ports from 1 to 65535, a range's end not below its start.
//!
//! The front end parses `-p` with [`Publish::parse`] and hands burrow-nic the normalized form
//! ([`Publish`]'s `Display`, always with the protocol); burrow-nic parses it again with the
//! same function, as hostile input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most ranges a grant list may hold.
pub const MAX_GRANT_RANGES: usize = 1024;

/// The most ports one container may publish (the sum of its mappings' lengths).
pub const MAX_PUBLISHED_PORTS: u32 = 1024;

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive port range (a single port has `start == end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port (1..=65535).
    pub start: u16,
    /// Last port, not below `start`.
    pub end: u16,
}

impl PortRange {
    /// How many ports.
    pub fn len(self) -> u32 {
        u32::from(self.end)
            .saturating_sub(u32::from(self.start))
            .saturating_add(1)
    }

    /// Never empty (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether `port` is in the range.
    pub fn contains(self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    /// Whether two ranges share a port.
    pub fn overlaps(self, other: PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The ports, in order.
    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }

    /// Parses `PORT` or `START-END`.
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let start = port(a)?;
        let end = match b {
            Some(b) => port(b)?,
            None => start,
        };
        if end < start {
            return Err(format!("port range {s:?} ends before it starts"));
        }
        Ok(PortRange { start, end })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One port: plain decimal from 1 to 65535.
fn port(s: &str) -> Result<u16, String> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(format!(
            "{s:?} is not a port (a decimal number from 1 to 65535)"
        ));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!(
            "port {s:?} has a leading zero (write plain decimal)"
        ));
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => u16::try_from(n).map_err(|_| String::new()),
        _ => Err(format!("port {s:?} is out of range (1 to 65535)")),
    }
}

/// One `-p` mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Publish {
    /// The host address to listen on. `None`: every address of both families; `0.0.0.0`:
    /// every IPv4 address; `::`: every IPv6 address; otherwise that one address.
    pub host_ip: Option<IpAddr>,
    /// Host ports.
    pub host: PortRange,
    /// Container ports (as many as host ports).
    pub ctr: PortRange,
    /// The protocol.
    pub proto: Proto,
}

impl Publish {
    /// Parses `[HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]` (the protocol defaults to
    /// tcp; an IPv6 HOSTIP is written in brackets: `[::1]:8080:80`).
    pub fn parse(s: &str) -> Result<Publish, String> {
        let bad = |why: String| {
            format!("invalid port mapping {s:?}: {why} (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)")
        };
        let (body, proto) = match s.rsplit_once('/') {
            Some((b, "tcp")) => (b, Proto::Tcp),
            Some((b, "udp")) => (b, Proto::Udp),
            Some((_, p)) => return Err(bad(format!("protocol {p:?} is not tcp or udp"))),
            None => (s, Proto::Tcp),
        };
        let (ip, ports) = match body.strip_prefix('[') {
            Some(rest) => {
                let Some((inside, after)) = rest.split_once(']') else {
                    return Err(bad("'[' without a closing ']'".to_owned()));
                };
                let Some(ports) = after.strip_prefix(':') else {
                    return Err(bad(
                        "an IPv6 host address in brackets must be followed by ':' and the ports"
                            .to_owned(),
                    ));
                };
                (Some(IpAddr::V6(ipv6(inside).map_err(bad)?)), ports)
            }
            None if body.contains(['[', ']']) => {
                return Err(bad(
                    "brackets are only for an IPv6 host address at the start".to_owned(),
                ))
            }
            None => match body.matches(':').count() {
                0 | 1 => (None, body),
                2 => {
                    let (ip, ports) = body.split_once(':').unwrap_or_default();
                    if ip.is_empty() {
                        return Err(bad("empty host address".to_owned()));
                    }
                    (Some(IpAddr::V4(ipv4(ip).map_err(bad)?)), ports)
                }
                _ => {
                    let mut parts = body.rsplitn(3, ':');
                    let (_, _, ip) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
                    return Err(bad(match ip.parse::<Ipv6Addr>() {
                        Ok(_) => format!(
                            "an IPv6 host address must be in brackets: [{ip}]:HOSTPORT:CTRPORT"
                        ),
                        Err(_) if ip.contains('%') => format!(
                            "an IPv6 host address must be in brackets, and {ip:?} has a zone id ('%'), which burrow does not take"
                        ),
                        Err(_) => "too many ':'".to_owned(),
                    }));
                }
            },
        };
        if ports.contains('[') || ports.contains(']') {
            return Err(bad(
                "brackets are only for an IPv6 host address at the start".to_owned(),
            ));
        }
        let (host, ctr) = match ports.split_once(':') {
            Some((h, c)) if !c.contains(':') => (h, c),
            Some(_) => return Err(bad("too many ':'".to_owned())),
            None => {
                return Err(bad(
                    "a host port is required (burrow does not pick one)".to_owned()
                ))
            }
        };
        if host.is_empty() {
            return Err(bad(
                "a host port is required (burrow does not pick one)".to_owned()
            ));
        }
        let host = PortRange::parse(host).map_err(bad)?;
        let ctr = PortRange::parse(ctr).map_err(bad)?;
        if host.len() != ctr.len() {
            return Err(bad(format!(
                "host ports {host} and container ports {ctr} are not the same number of ports"
            )));
        }
        if host.len() > MAX_PUBLISHED_PORTS {
            return Err(bad(format!(
                "more than {MAX_PUBLISHED_PORTS} ports in one mapping"
            )));
        }
        Ok(Publish {
            host_ip: ip,
            host,
            ctr,
            proto,
        })
    }

    /// The host address it listens on (`0.0.0.0` for every address: podman's listings).
    pub fn host_addr(&self) -> IpAddr {
        self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// [`Publish::host_addr`] as text for `ADDR:PORT`: an IPv6 address in brackets
    /// (`[::1]`).
    pub fn host_text(&self) -> String {
        match self.host_addr() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// Each (host port, container port) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u16)> {
        self.host.ports().zip(self.ctr.ports())
    }

    /// Whether it shares a host port of the same protocol with `other` on an address both
    /// listen on (no address: every address of both families; `0.0.0.0` and `::`: every
    /// address of their family; an IPv4 and an IPv6 address never share one).
    pub fn clashes(&self, other: &Publish) -> bool {
        self.proto == other.proto
            && self.host.overlaps(other.host)
            && match (self.host_ip, other.host_ip) {
                (Some(a), Some(b)) => {
                    a.is_ipv4() == b.is_ipv4()
                        && (a == b || a.is_unspecified() || b.is_unspecified())
                }
                _ => true,
            }
    }

    /// podman's `burrow port` lines: `80/tcp -> 0.0.0.0:8080`, `80/tcp -> [::1]:8080`, one per
    /// port.
    pub fn port_lines(&self) -> Vec<String> {
        let host = self.host_text();
        self.pairs()
            .map(|(h, c)| format!("{c}/{} -> {host}:{h}", self.proto))
            .collect()
    }
}

impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            None => {}
        }
        write!(f, "{}:{}/{}", self.host, self.ctr, self.proto)
    }
}

/// Parses a dotted-quad IPv4 address strictly (no leading zeros, four parts).
fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    let parts: Vec<&str> = s.split('.').collect();
    let ok = parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
        });
    match (ok, s.parse::<Ipv4Addr>()) {
        (true, Ok(a)) => Ok(a),
        _ => Err(format!("{s:?} is not an IPv4 address")),
    }
}

/// Parses the IPv6 address between a mapping's brackets: hex groups only (no zone id, no
/// embedded IPv4 part, not an IPv4-mapped address).
fn ipv6(s: &str) -> Result<Ipv6Addr, String> {
    if s.is_empty() {
        return Err("empty host address in brackets".to_owned());
    }
    if let Some((a, zone)) = s.split_once('%') {
        return Err(format!(
            "host address {s:?} has a zone id (%{zone}), which burrow does not take: write [{a}]"
        ));
    }
    let a = s
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{s:?} is not an IPv6 address"))?;
    if let Some(v4) = a.to_ipv4_mapped() {
        return Err(format!(
            "{s:?} is an IPv4-mapped IPv6 address: write the IPv4 address without brackets ({v4}:...)"
        ));
    }
    if s.contains('.') {
        return Err(format!(
            "{s:?} has an embedded IPv4 part: write the IPv6 address in hex groups only"
        ));
    }
    Ok(a)
}

/// Checks a set of mappings together: at most [`MAX_PUBLISHED_PORTS`] ports in all, and no
/// two that clash. Returns the first problem.
pub fn check_set(set: &[Publish]) -> Result<(), String> {
    let total = set.iter().fold(0u32, |n, p| n.saturating_add(p.host.len()));
    if total > MAX_PUBLISHED_PORTS {
        return Err(format!(
            "{total} ports published: at most {MAX_PUBLISHED_PORTS} per container"
        ));
    }
    for (i, a) in set.iter().enumerate() {
        if let Some(b) = set.iter().skip(i.saturating_add(1)).find(|b| a.clashes(b)) {
            return Err(format!(
                "port mappings {a} and {b} publish the same host port"
            ));
        }
    }
    Ok(())
}

/// The LIST of a `USER ports LIST` line: comma-separated ports and ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortGrant {
    /// The ranges, as written.
    pub ranges: Vec<PortRange>,
}

impl PortGrant {
    /// Parses `8000-8099,443`.
    pub fn parse(s: &str) -> Result<PortGrant, String> {
        if s.is_empty() {
            return Err("empty port list".to_owned());
        }
        let mut ranges = Vec::new();
        for part in s.split(',') {
            if part.is_empty() {
                return Err(format!("port list {s:?} has an empty element"));
            }
            if ranges.len() >= MAX_GRANT_RANGES {
                return Err(format!(
                    "port list has more than {MAX_GRANT_RANGES} elements"
                ));
            }
            ranges.push(PortRange::parse(part)?);
        }
        Ok(PortGrant { ranges })
    }

    /// Whether `port` is granted.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(port))
    }

    /// The first port of `range` that is not granted.
    pub fn first_missing(&self, range: PortRange) -> Option<u16> {
        range.ports().find(|p| !self.contains(*p))
    }
}

impl fmt::Display for PortGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(p.to_string(), "8080:80/tcp");
        assert_eq!(p.port_lines(), ["80/tcp -> 0.0.0.0:8080"]);
        let p = Publish::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
        assert_eq!(p.port_lines(), ["53/udp -> 127.0.0.1:5353"]);
        let p = Publish::parse("8000-8001:9000-9001/tcp").unwrap();
        assert_eq!(
            p.port_lines(),
            ["9000/tcp -> 0.0.0.0:8000", "9001/tcp -> 0.0.0.0:8001"]
        );
        // 0.0.0.0 is kept: every IPv4 address only (no address is both families).
        let p = Publish::parse("0.0.0.0:80:80").unwrap();
        assert_eq!(p.to_string(), "0.0.0.0:80:80/tcp");
        assert_eq!(p.host_ip, Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(Publish::parse("80:80").unwrap().host_ip, None);
        assert_eq!(Publish::parse("65535:1/udp").unwrap().host.start, 65535);
    }

    #[test]
    fn publish_ipv6_forms() {
        let p = Publish::parse("[::1]:8080:80").unwrap();
        assert_eq!(p.host_ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(p.to_string(), "[::1]:8080:80/tcp");
        assert_eq!(p.port_lines(), ["80/tcp -> [::1]:8080"]);
        assert_eq!(p.host_text(), "[::1]");
        assert_eq!(p.host_addr().to_string(), "::1");
        let p = Publish::parse("[::]:5353-5354:53-54/udp").unwrap();
        assert_eq!(p.host_ip, Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(p.to_string(), "[::]:5353-5354:53-54/udp");
        assert_eq!(
            p.port_lines(),
            ["53/udp -> [::]:5353", "54/udp -> [::]:5354"]
        );
        // Written in the normal form (lower case, shortest), which parses back the same.
        let p = Publish::parse("[FD00:0:0::0001]:80:80/tcp").unwrap();
        assert_eq!(p.to_string(), "[fd00::1]:80:80/tcp");
        assert_eq!(Publish::parse(&p.to_string()), Ok(p));
        let p = Publish::parse("[2001:db8:1:2:3:4:5:6]:65535:1").unwrap();
        assert_eq!(p.to_string(), "[2001:db8:1:2:3:4:5:6]:65535:1/tcp");
    }

    #[test]
    fn publish_ipv6_refusals_say_why() {
        let msg = |s: &str, why: &str| {
            format!("invalid port mapping {s:?}: {why} (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)")
        };
        for (bad, why) in [
            ("::1:80:80", "an IPv6 host address must be in brackets: [::1]:HOSTPORT:CTRPORT"),
            ("fd00::1:80:80/udp", "an IPv6 host address must be in brackets: [fd00::1]:HOSTPORT:CTRPORT"),
            ("fe80::1%eth0:80:80", "an IPv6 host address must be in brackets, and \"fe80::1%eth0\" has a zone id ('%'), which burrow does not take"),
            ("[fe80::1%eth0]:80:80", "host address \"fe80::1%eth0\" has a zone id (%eth0), which burrow does not take: write [fe80::1]"),
            ("[::ffff:10.0.0.1]:80:80", "\"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address: write the IPv4 address without brackets (10.0.0.1:...)"),
            ("[::ffff:a00:1]:80:80", "\"::ffff:a00:1\" is an IPv4-mapped IPv6 address: write the IPv4 address without brackets (10.0.0.1:...)"),
            ("[::1.2.3.4]:80:80", "\"::1.2.3.4\" has an embedded IPv4 part: write the IPv6 address in hex groups only"),
            ("[]:80:80", "empty host address in brackets"),
            ("[1.2.3.4]:80:80", "\"1.2.3.4\" is not an IPv6 address"),
            ("[::1:80:80", "'[' without a closing ']'"),
            ("[::1]80:80", "an IPv6 host address in brackets must be followed by ':' and the ports"),
            ("[::1]:80", "a host port is required (burrow does not pick one)"),
            ("[::1]::80", "a host port is required (burrow does not pick one)"),
            ("[::1]:80:80:80", "too many ':'"),
            ("[::1]:[80]:80", "brackets are only for an IPv6 host address at the start"),
            ("::1]:80:80", "brackets are only for an IPv6 host address at the start"),
            ("1.2.3.4:[80]:80", "brackets are only for an IPv6 host address at the start"),
            ("[:::1]:80:80", "\":::1\" is not an IPv6 address"),
            ("[::g]:80:80", "\"::g\" is not an IPv6 address"),
            ("[ ::1]:80:80", "\" ::1\" is not an IPv6 address"),
            ("a:b:c:d", "too many ':'"),
            (":8080:80", "empty host address"),
        ] {
            assert_eq!(Publish::parse(bad), Err(msg(bad, why)), "{bad}");
        }
        assert_eq!(
            Publish::parse("[::1]:80:80/sctp"),
            Err(msg(
                "[::1]:80:80/sctp",
                "protocol \"sctp\" is not tcp or udp"
            ))
        );
    }

    #[test]
    fn publish_refusals() {
        for bad in [
            "",
            "80",
            ":80",
            "80:",
            "0:80",
            "80:0",
            "65536:80",
            "080:80",
            "+80:80",
            "-80:80",
            "80:80/sctp",
            "80:80/",
            "80:80/TCP",
            "1.2.3:80:80",
            "1.2.3.04:80:80",
            "1.2.3.256:80:80",
            ":8080:80",
            "a:b:c:d",
            "::1:80:80",
            "[::1]:80",
            "[]:80:80",
            "80-81:80",
            "81-80:80-81",
            "80 :80",
            "80:80 ",
            "1-2000:1-2000",
            "0x50:80",
            "80:80/tcp/tcp",
        ] {
            assert!(Publish::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let e = Publish::parse("80-81:90").unwrap_err();
        assert!(e.contains("not the same number of ports"), "{e}");
    }

    #[test]
    fn clashes_and_sets() {
        let a = Publish::parse("8080:80").unwrap();
        let b = Publish::parse("127.0.0.1:8080:81").unwrap();
        let c = Publish::parse("8080:80/udp").unwrap();
        let d = Publish::parse("127.0.0.2:8080:80").unwrap();
        assert!(a.clashes(&b) && !a.clashes(&c) && !b.clashes(&d));
        assert!(check_set(&[a, c]).is_ok());
        assert!(check_set(&[a, b]).unwrap_err().contains("same host port"));
        let big = Publish::parse("1000-1999:1000-1999").unwrap();
        let more = Publish::parse("3000-3024:3000-3024").unwrap();
        assert!(check_set(&[big, more])
            .unwrap_err()
            .contains("at most 1024"));
    }

    #[test]
    fn clashes_across_families() {
        let p = |s: &str| Publish::parse(s).unwrap();
        let (all, v4all, v6all) = (p("8080:80"), p("0.0.0.0:8080:80"), p("[::]:8080:80"));
        let (lo4, lo6, other6) = (
            p("127.0.0.1:8080:80"),
            p("[::1]:8080:80"),
            p("[fd00::1]:8080:80"),
        );
        // No address holds both families: it clashes with everything.
        for x in [&v4all, &v6all, &lo4, &lo6, &other6] {
            assert!(all.clashes(x) && x.clashes(&all), "{x}");
        }
        // A family's wildcard holds every address of that family, and only that family.
        assert!(v4all.clashes(&lo4) && lo4.clashes(&v4all));
        assert!(v6all.clashes(&lo6) && v6all.clashes(&other6) && lo6.clashes(&v6all));
        assert!(!v4all.clashes(&v6all) && !v6all.clashes(&v4all));
        assert!(!v4all.clashes(&lo6) && !v6all.clashes(&lo4));
        // Two addresses of different families, or two different addresses: no clash.
        assert!(!lo4.clashes(&lo6) && !lo6.clashes(&lo4));
        assert!(!lo6.clashes(&other6));
        assert!(lo6.clashes(&p("[::1]:8080:81")));
        // Another protocol or another port: no clash.
        assert!(!lo6.clashes(&p("[::1]:8080:80/udp")) && !lo6.clashes(&p("[::1]:8081:80")));
        assert!(check_set(&[v4all, v6all, p("8080:80/udp")]).is_ok());
        assert!(check_set(&[lo4, lo6, other6]).is_ok());
        assert_eq!(
            check_set(&[lo4, lo6, v6all]),
            Err(
                "port mappings [::1]:8080:80/tcp and [::]:8080:80/tcp publish the same host port"
                    .to_owned()
            )
        );
        assert_eq!(
            check_set(&[lo6, all]),
            Err(
                "port mappings [::1]:8080:80/tcp and 8080:80/tcp publish the same host port"
                    .to_owned()
            )
        );
    }

    #[test]
    fn grants() {
        let g = PortGrant::parse("8000-8099,443").unwrap();
        assert!(g.contains(443) && g.contains(8000) && g.contains(8099));
        assert!(!g.contains(80) && !g.contains(8100));
        assert_eq!(g.to_string(), "8000-8099,443");
        assert_eq!(
            g.first_missing(PortRange::parse("8098-8101").unwrap()),
            Some(8100)
        );
        for bad in [
            "", ",", "80,", ",80", "80,,81", "0", "65536", "90-80", "08", "80 ", "a", "-1",
        ] {
            assert!(PortGrant::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
