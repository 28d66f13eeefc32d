//! Published ports: the `-p/--publish` mapping (`[HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]`)
//! and the port grant list of a `USER ports LIST` line of /etc/burrow/usernet
//! (`8000-8099,443`). Both are parsed strictly: plain decimal, no leading zeros, no signs, no
//! spaces, ports from 1 to 65535, a range's end not below its start.
//!
//! The front end parses `-p` with [`Publish::parse`] and hands burrow-nic the normalized form
//! ([`Publish`]'s `Display`, always with the protocol); burrow-nic parses it again with the
//! same function, as hostile input.

use std::fmt;
use std::net::Ipv4Addr;

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
    /// The host address to listen on; `None` is every address of the host.
    pub host_ip: Option<Ipv4Addr>,
    /// Host ports.
    pub host: PortRange,
    /// Container ports (as many as host ports).
    pub ctr: PortRange,
    /// The protocol.
    pub proto: Proto,
}

impl Publish {
    /// Parses `[HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp]` (the protocol defaults to tcp).
    pub fn parse(s: &str) -> Result<Publish, String> {
        let bad = |why: String| {
            format!("invalid port mapping {s:?}: {why} (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp)")
        };
        let (body, proto) = match s.rsplit_once('/') {
            Some((b, "tcp")) => (b, Proto::Tcp),
            Some((b, "udp")) => (b, Proto::Udp),
            Some((_, p)) => return Err(bad(format!("protocol {p:?} is not tcp or udp"))),
            None => (s, Proto::Tcp),
        };
        let parts: Vec<&str> = body.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some(*ip), *h, *c),
            [_] => {
                return Err(bad(
                    "a host port is required (burrow does not pick one)".to_owned()
                ))
            }
            _ if body.starts_with('[') => {
                return Err(bad("IPv6 host addresses are not supported yet".to_owned()))
            }
            _ => return Err(bad("too many ':'".to_owned())),
        };
        let host_ip = match ip {
            None => None,
            Some("") => return Err(bad("empty host address".to_owned())),
            Some(a) => Some(ipv4(a).map_err(bad)?),
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
            host_ip: host_ip.filter(|a| !a.is_unspecified()),
            host,
            ctr,
            proto,
        })
    }

    /// The host address it listens on, as text (`0.0.0.0` for every address).
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Each (host port, container port) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u16)> {
        self.host.ports().zip(self.ctr.ports())
    }

    /// Whether it shares a host port of the same protocol with `other` on an address both
    /// listen on.
    pub fn clashes(&self, other: &Publish) -> bool {
        self.proto == other.proto
            && self.host.overlaps(other.host)
            && match (self.host_ip, other.host_ip) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// podman's `burrow port` lines: `80/tcp -> 0.0.0.0:8080`, one per port.
    pub fn port_lines(&self) -> Vec<String> {
        self.pairs()
            .map(|(h, c)| format!("{c}/{} -> {}:{h}", self.proto, self.host_addr()))
            .collect()
    }
}

impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
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
        assert_eq!(
            Publish::parse("0.0.0.0:80:80").unwrap().to_string(),
            "80:80/tcp"
        );
        assert_eq!(Publish::parse("65535:1/udp").unwrap().host.start, 65535);
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
            "[::1]:80:80",
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
