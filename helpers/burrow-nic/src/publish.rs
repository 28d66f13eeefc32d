//! `publish` and `unpublish`: published ports through kernel DNAT (nftables).
//!
//! Everything lives in two tables written only by burrow-nic, `ip burrow_ports` and, for
//! containers with an IPv6 address, `ip6 burrow_ports` (the same chains, `ip6` matches, no
//! loopback masquerade: IPv6 has no route_localnet, so `[::1]` cannot be DNATed to a bridge):
//!
//! ```text
//! table ip burrow_ports {
//!   chain guard       { type filter hook prerouting priority -300; iifname != "lo" ip daddr 127.0.0.0/8 drop }
//!   chain prerouting  { type nat hook prerouting priority -100; fib daddr type local jump ports }
//!   chain output      { type nat hook output priority -100; fib daddr type local jump ports }
//!   chain ports       { [ip daddr HOSTIP] tcp dport 8080 dnat to 10.77.3.2:80 comment "burrow-nic UID HOSTNIC IFINDEX NAME" ... }
//!   chain postrouting { type nat hook postrouting priority 100;
//!                       ip saddr 127.0.0.0/8 ip daddr 10.77.3.2 ct status dnat masquerade comment "..."
//!                       oifname BR ip saddr 10.77.3.0/24 ip daddr 10.77.3.2 ct status dnat masquerade comment "..." }
//! }
//! ```
//!
//! Every per-container rule carries the comment `burrow-nic UID HOSTNIC IFINDEX NAME`, so the
//! kernel's own state says whose it is, for which host end, and for which container: listing,
//! clashes ("published by your container NAME") and reconcile need nothing else. A publish is
//! one `nft -f -` transaction over both tables (atomic: before or after, never half): the
//! fixed base chains are (re)declared and flushed and refilled, the caller's old rules for
//! HOSTNIC and every provably stale rule are deleted by handle, and the new rules added; a
//! table goes with its last rule.
//!
//! A mapping without a host address gets rules in both tables (in `ip6` only when the
//! container has an IPv6 address), `0.0.0.0` only in `ip`, an IPv6 address (`::` or one of
//! the host's) only in `ip6`.
//!
//! nft runs as the caller's uid with CAP_NET_ADMIN as its only (ambient) capability, a cleared
//! environment, its input on stdin, its output captured, a bounded wait (killed after
//! [`NFT_TIMEOUT`]) and SIGKILL when the helper dies.

use crate::Identity;
use burrow_netlink::{Link, Rtnl};
use burrow_setuid::{cap, refuse, Audit, Privilege, Refusal};
use burrow_usernet::ports::{PortRange, Proto, Publish};
use burrow_usernet::{NicTag, Usernet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The table (of both families).
pub(crate) const TABLE: &str = "burrow_ports";

/// A table's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `ip`.
    V4,
    /// `ip6`.
    V6,
}

impl Family {
    const BOTH: [Family; 2] = [Family::V4, Family::V6];

    /// nft's name of the family (and of its address matches: `ip daddr`, `ip6 daddr`).
    fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    fn nfproto(self) -> u8 {
        match self {
            Family::V4 => burrow_netlink::NFPROTO_IPV4,
            Family::V6 => burrow_netlink::NFPROTO_IPV6,
        }
    }

    fn of(a: IpAddr) -> Family {
        if a.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// Every address of the family.
    fn any(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// `m` as this family's rules publish it (no address: every address of the family), or
    /// `None` when it has no rule in this family.
    fn mapping(self, m: &Publish) -> Option<Publish> {
        match m.host_ip {
            None => Some(Publish {
                host_ip: Some(self.any()),
                ..*m
            }),
            Some(a) if Family::of(a) == self => Some(*m),
            Some(_) => None,
        }
    }
}

/// How long nft may run.
pub(crate) const NFT_TIMEOUT: Duration = Duration::from_secs(10);

const NFT_PATHS: [&str; 2] = ["/usr/sbin/nft", "/sbin/nft"];

/// The comment's first word.
const MAGIC: &str = "burrow-nic";

/// Who a rule is for, from its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleTag {
    pub uid: u32,
    pub ifname: String,
    pub ifindex: u32,
    pub name: String,
}

impl RuleTag {
    fn render(&self) -> String {
        format!(
            "{MAGIC} {} {} {} {}",
            self.uid, self.ifname, self.ifindex, self.name
        )
    }

    fn parse(s: &str) -> Option<RuleTag> {
        let f: Vec<&str> = s.split(' ').collect();
        let [MAGIC, uid, ifname, ifindex, name] = f.as_slice() else {
            return None;
        };
        Some(RuleTag {
            uid: decimal(uid)?,
            ifname: (*ifname).to_owned(),
            ifindex: decimal(ifindex)?,
            name: (*name).to_owned(),
        })
    }
}

/// Plain decimal (no sign, no leading zero).
fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let ok =
        s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| s.parse().ok()).flatten()
}

/// One rule of a table with a burrow-nic comment, as `nft -a list table` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub family: Family,
    pub chain: String,
    pub handle: u64,
    pub tag: RuleTag,
    /// For a DNAT rule: the host side it holds (address, `0.0.0.0` or `::` for every address
    /// of the family; ports; protocol).
    pub holds: Option<Publish>,
    /// The address it translates to or masquerades for.
    pub to: Option<IpAddr>,
}

/// An address of `family` as nft prints it (`dnat to` targets: `A`, `A:P`, `[A6]:P`).
fn nft_addr(family: Family, s: &str) -> Option<IpAddr> {
    match family {
        Family::V4 => s
            .split(':')
            .next()
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
            .map(IpAddr::V4),
        Family::V6 => match s.strip_prefix('[') {
            Some(rest) => rest.split(']').next()?.parse::<Ipv6Addr>().ok(),
            None => s.parse::<Ipv6Addr>().ok(),
        }
        .map(IpAddr::V6),
    }
}

/// Parses `nft -a list table FAMILY burrow_ports`: the rules with a burrow-nic comment
/// (others, and the base chains' fixed rules, are left out).
pub(crate) fn parse_listing(family: Family, text: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut chain: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().map(str::to_owned);
            continue;
        }
        let Some(chain) = &chain else { continue };
        let Some((body, handle)) = t.rsplit_once(" # handle ") else {
            continue;
        };
        let Ok(handle) = handle.trim().parse::<u64>() else {
            continue;
        };
        let Some((body, comment)) = body.split_once(" comment \"") else {
            continue;
        };
        let Some(tag) = comment.strip_suffix('"').and_then(RuleTag::parse) else {
            continue;
        };
        let w: Vec<&str> = body.split_whitespace().collect();
        let after = |k1: &str, k2: &str| {
            w.windows(3)
                .find(|x| x[0] == k1 && x[1] == k2)
                .map(|x| x[2])
        };
        let fam = family.nft();
        let daddr = after(fam, "daddr").and_then(|a| nft_addr(family, a));
        // `dnat to A[:P]` (an ip table; `[A]:P` in ip6), `dnat ip to A[:P]` (inet tables).
        let dnat_to = after("dnat", "to")
            .or(after(fam, "to"))
            .and_then(|a| nft_addr(family, a));
        let mut holds = None;
        if dnat_to.is_some() {
            for (word, proto) in [("tcp", Proto::Tcp), ("udp", Proto::Udp)] {
                if let Some(r) = after(word, "dport").and_then(|p| PortRange::parse(p).ok()) {
                    holds = Some(Publish {
                        host_ip: Some(daddr.unwrap_or(family.any())),
                        host: r,
                        ctr: r,
                        proto,
                    });
                }
            }
        }
        out.push(Rule {
            family,
            chain: chain.clone(),
            handle,
            tag,
            holds,
            to: dnat_to.or(daddr),
        });
    }
    out
}

/// The nft binary: root-owned, a regular file, not writable by group or others, in a
/// directory with the same properties.
fn nft_path() -> Result<&'static str, Refusal> {
    for p in NFT_PATHS {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        let dir = std::path::Path::new(p)
            .parent()
            .and_then(|d| std::fs::metadata(d).ok());
        let safe = |m: &std::fs::Metadata| m.uid() == 0 && m.mode() & 0o022 == 0;
        if m.is_file() && safe(&m) && dir.as_ref().is_some_and(safe) {
            return Ok(p);
        }
        return Err(refuse!(
            "{p} (nft) is not a root-owned file writable only by root; refusing to run it"
        ));
    }
    Err(refuse!(
        "nft (nftables) is not installed ({} or {}): published ports through the kernel need it (admin: apt install nftables), or publish through the user-space forwarder (--publish-mode user)",
        NFT_PATHS[0],
        NFT_PATHS[1]
    ))
}

/// Runs `nft ARGS` with `input` on stdin, CAP_NET_ADMIN only, as the caller; returns (exit
/// success, stdout, stderr).
fn nft(
    privilege: &Privilege,
    args: &[&str],
    input: &str,
) -> Result<(bool, String, String), Refusal> {
    let path = nft_path()?;
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    burrow_sys::kill_child_with_parent(&mut cmd, libc::SIGKILL);
    let mut child = privilege
        .with_ambient(cap::mask(&[cap::NET_ADMIN]), || cmd.spawn())?
        .map_err(|e| refuse!("cannot run {path}: {e}"))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(refuse!("cannot talk to {path}"));
    };
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.by_ref().take(16 * 1024 * 1024).read_to_string(&mut s);
            s
        })
    };
    let out = read_all(Box::new(stdout));
    let err = read_all(Box::new(stderr));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < NFT_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(refuse!(
                    "{path} (nft) did not finish within {} s; killed it (its transaction is applied whole or not at all: run the command again)",
                    NFT_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(refuse!("waiting for {path}: {e}")),
        }
    };
    let _ = writer.join();
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    Ok((status.success(), out, err))
}

/// Both tables' rules with a burrow-nic comment (ip first); none of a table that does not
/// exist.
fn list_rules(privilege: &Privilege) -> Result<Vec<Rule>, Refusal> {
    let mut rules = Vec::new();
    for f in Family::BOTH {
        let (ok, out, err) = nft(privilege, &["-a", "list", "table", f.nft(), TABLE], "")?;
        // A kernel without IPv6 has no ip6 tables: none of them to read.
        let absent = err.contains("No such file or directory")
            || (f == Family::V6 && err.contains("not supported"));
        if ok {
            rules.extend(parse_listing(f, &out));
        } else if !absent {
            return Err(refuse!(
                "nft cannot list table {} {TABLE}: {}",
                f.nft(),
                first_line(&err)
            ));
        }
    }
    Ok(rules)
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no message)")
}

/// Whether the rule's host end is gone or no longer carries the recorded uid's tag (or no
/// longer has the address the rule sends to).
fn is_stale(r: &Rule, links: &[Link]) -> bool {
    let Some(l) = links.iter().find(|l| l.index == r.tag.ifindex) else {
        return true;
    };
    if l.name != r.tag.ifname || l.kind.as_deref() != Some("veth") {
        return true;
    }
    let Some(tag) = l.alias.as_deref().and_then(NicTag::parse) else {
        return true;
    };
    let moved = match r.to {
        Some(IpAddr::V4(a)) => tag.v4.is_some_and(|t| t != a),
        Some(IpAddr::V6(a)) => tag.v6.is_some_and(|t| t != a),
        None => false,
    };
    tag.uid != r.tag.uid || moved
}

/// Whether `s` can stand in nft's input as it is (inside quotes or not).
fn nft_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@' | b'+'))
}

/// Deletes a table whether or not it exists ("add" first: one transaction, no error).
fn drop_table(f: Family) -> String {
    let t = format!("{} {TABLE}", f.nft());
    format!("add table {t}\ndelete table {t}\n")
}

/// The fixed part of a family's transaction: table, base chains and their rules (idempotent).
fn base(f: Family) -> String {
    let t = format!("{} {TABLE}", f.nft());
    let guard = match f {
        Family::V4 => "ip daddr 127.0.0.0/8",
        Family::V6 => "ip6 daddr ::1",
    };
    format!(
        "add table {t}\n\
         add chain {t} ports\n\
         add chain {t} guard {{ type filter hook prerouting priority -300; policy accept; }}\n\
         add chain {t} prerouting {{ type nat hook prerouting priority -100; policy accept; }}\n\
         add chain {t} output {{ type nat hook output priority -100; policy accept; }}\n\
         add chain {t} postrouting {{ type nat hook postrouting priority 100; policy accept; }}\n\
         flush chain {t} guard\n\
         flush chain {t} prerouting\n\
         flush chain {t} output\n\
         add rule {t} guard iifname != \"lo\" {guard} drop\n\
         add rule {t} prerouting fib daddr type local jump ports\n\
         add rule {t} output fib daddr type local jump ports\n"
    )
}

/// The rules for one container in the family of `to` (`maps` as [`Family::mapping`] gives
/// them).
/// `hairpin` is the bridge and the container's subnet on it: a sibling's DNATed traffic
/// (routed in and out of the bridge) is masqueraded, so the reply comes back through the host.
/// (`iifname` cannot be matched in postrouting: the kernel has no input device there.)
/// IPv4 also masquerades loopback clients (route_localnet); IPv6 has no such thing.
fn rules_for(
    maps: &[Publish],
    to: IpAddr,
    hairpin: Option<(&str, IpAddr, u8)>,
    tag: &RuleTag,
) -> String {
    let f = Family::of(to);
    let fam = f.nft();
    let t = format!("{fam} {TABLE}");
    let c = tag.render();
    let target = match to {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let mut s = String::new();
    for m in maps {
        let daddr = m
            .host_ip
            .filter(|a| !a.is_unspecified())
            .map_or(String::new(), |a| format!("{fam} daddr {a} "));
        let p = m.proto;
        if m.host == m.ctr {
            s.push_str(&format!(
                "add rule {t} ports {daddr}{p} dport {} dnat to {to} comment \"{c}\"\n",
                m.host
            ));
        } else {
            for (h, ct) in m.pairs() {
                s.push_str(&format!(
                    "add rule {t} ports {daddr}{p} dport {h} dnat to {target}:{ct} comment \"{c}\"\n"
                ));
            }
        }
    }
    if !maps.is_empty() {
        if f == Family::V4 {
            s.push_str(&format!(
                "add rule {t} postrouting ip saddr 127.0.0.0/8 ip daddr {to} ct status dnat masquerade comment \"{c}\"\n"
            ));
        }
        if let Some((br, net, len)) = hairpin {
            s.push_str(&format!(
                "add rule {t} postrouting oifname \"{br}\" {fam} saddr {net}/{len} {fam} daddr {to} ct status dnat masquerade comment \"{c}\"\n"
            ));
        }
    }
    s
}

fn deletes(rules: &[&Rule]) -> String {
    rules
        .iter()
        .map(|r| {
            format!(
                "delete rule {} {TABLE} {} handle {}\n",
                r.family.nft(),
                r.chain,
                r.handle
            )
        })
        .collect()
}

/// Deletes `gone` of `rules` (one family's): by handle, or the whole table when they are all
/// its rules (a host where nobody publishes has no table).
fn delete_or_drop(f: Family, rules: &[Rule], gone: &[&Rule]) -> String {
    let of = |r: &&Rule| r.family == f;
    let gone: Vec<&Rule> = gone.iter().copied().filter(|r| r.family == f).collect();
    if !gone.is_empty() && gone.len() == rules.iter().filter(|r| of(r)).count() {
        drop_table(f)
    } else {
        deletes(&gone)
    }
}

/// Applies one transaction.
fn apply(privilege: &Privilege, script: &str) -> Result<(), Refusal> {
    let (ok, _, err) = nft(privilege, &["-f", "-"], script)?;
    if ok {
        Ok(())
    } else {
        Err(refuse!(
            "nft refused the rule set (nothing was changed): {}",
            first_line(&err)
        ))
    }
}

/// The host's local addresses: IPv4 from `/proc/net/fib_trie` (the host netns: `/32 host
/// LOCAL`), IPv6 from `/proc/net/if_inet6` (none when the host has no IPv6).
fn local_addresses() -> Result<Vec<IpAddr>, Refusal> {
    let text = std::fs::read_to_string("/proc/net/fib_trie")
        .map_err(|e| refuse!("cannot read /proc/net/fib_trie: {e}"))?;
    let mut out: Vec<IpAddr> = parse_fib_trie(&text).into_iter().map(IpAddr::V4).collect();
    match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(text) => out.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(refuse!("cannot read /proc/net/if_inet6: {e}")),
    }
    Ok(out)
}

/// The addresses of a `/proc/net/if_inet6` listing (first field: 32 hex digits, network
/// order).
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    let mut out = Vec::new();
    for l in text.lines() {
        let Some(hex) = l.split_whitespace().next().filter(|h| h.len() == 32) else {
            continue;
        };
        let Ok(n) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let a = Ipv6Addr::from(n);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// A socket address of /proc/net/{tcp,udp}[6] (8 or 32 hex digits, 32-bit words in the
/// kernel's byte order); an IPv4-mapped IPv6 address is IPv4.
fn proc_net_addr(hex: &str) -> Option<IpAddr> {
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => word(hex).map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            let a = Ipv6Addr::from(b);
            Some(a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4))
        }
        _ => None,
    }
}

/// The addresses of `/32 host LOCAL` leaves of a fib_trie listing.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for l in text.lines() {
        let t = l.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// A host socket holding a port of `m` on an address `m` listens on: TCP listeners and UDP
/// sockets of /proc/net/{tcp,tcp6,udp,udp6}. Returns the lowest such port.
fn host_socket_port(m: &Publish) -> Option<u16> {
    let files: [&str; 2] = match m.proto {
        Proto::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Proto::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| held_port(&text, m))
        .min()
}

/// The lowest port of `m` that a socket of one /proc/net/{tcp,udp}[6] table holds.
fn held_port(text: &str, m: &Publish) -> Option<u16> {
    let mut held: Option<u16> = None;
    for l in text.lines().skip(1) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let (Some(local), Some(st)) = (w.get(1), w.get(3)) else {
            continue;
        };
        // TCP: listeners only (state 0A); UDP: any socket bound to the port.
        if m.proto == Proto::Tcp && *st != "0A" {
            continue;
        }
        let Some((addr, port)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        if !m.host.contains(port) {
            continue;
        }
        let Some(a) = proc_net_addr(addr) else {
            continue;
        };
        // `::` may be a dual-stack socket (IPV6_V6ONLY is not in /proc): it holds both
        // families.
        let holds = a == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            || m.host_ip.is_none_or(|h| {
                Family::of(h) == Family::of(a)
                    && (a.is_unspecified() || h.is_unspecified() || h == a)
            });
        if holds {
            held = Some(held.map_or(port, |p| p.min(port)));
        }
    }
    held
}

/// The first host port two mappings share.
fn shared_port(a: &Publish, b: &Publish) -> u16 {
    a.host.start.max(b.host.start)
}

/// Deletes stale rules (and, with `mine`, the caller's rules for that host end) in one
/// transaction; returns how many rules were deleted.
fn reconcile_and_remove(
    privilege: &Privilege,
    links: &[Link],
    mine: Option<(u32, &str)>,
    audit: &Audit,
) -> Result<usize, Refusal> {
    let rules = list_rules(privilege)?;
    let victims: Vec<&Rule> = rules
        .iter()
        .filter(|r| {
            is_stale(r, links) || mine.is_some_and(|(u, n)| r.tag.uid == u && r.tag.ifname == n)
        })
        .collect();
    if victims.is_empty() {
        return Ok(0);
    }
    log_stale(&victims, links, mine, audit);
    // The last rules of a table go with the table itself (its guard and hooks too): a host
    // where nobody publishes has no table, and creates skip the reconcile
    // (reconcile_for_create).
    let script: String = Family::BOTH
        .iter()
        .map(|f| delete_or_drop(*f, &rules, &victims))
        .collect();
    apply(privilege, &script)?;
    Ok(victims.len())
}

fn log_stale(victims: &[&Rule], links: &[Link], mine: Option<(u32, &str)>, audit: &Audit) {
    for r in victims {
        let why = if mine.is_some_and(|(u, n)| r.tag.uid == u && r.tag.ifname == n)
            && !is_stale(r, links)
        {
            "removed"
        } else {
            "removed stale"
        };
        audit.allowed(&format!(
            "{why} port rule handle {} ({}) of uid {} for {} (ifindex {}) container {}",
            r.handle, r.chain, r.tag.uid, r.tag.ifname, r.tag.ifindex, r.tag.name
        ));
    }
}

/// `create`'s reconcile: deletes the rules whose host end is gone. Errors are only logged
/// (create does not need nft).
pub(crate) fn reconcile_for_create(privilege: &Privilege, audit: &Audit) {
    if nft_path().is_err() {
        return;
    }
    // Running nft costs milliseconds: a create (the common case has no published ports at
    // all) asks the kernel first whether a table exists, with a netlink request per family.
    let exists = privilege.raise(cap::mask(&[cap::NET_ADMIN]), || {
        Family::BOTH.iter().try_fold(false, |any, f| {
            Ok::<bool, std::io::Error>(any || burrow_netlink::nft_table_exists(f.nfproto(), TABLE)?)
        })
    });
    if let Ok(Ok(false)) = exists {
        return;
    }
    // Only now the link dump the stale test needs (create makes its own later).
    let done = dump_links().and_then(|links| reconcile_and_remove(privilege, &links, None, audit));
    if let Err(e) = done {
        audit.noticed(&format!("port rule reconcile failed: {}", e.0));
    }
}

/// `unpublish HOSTNIC`, under the lock.
pub(crate) fn unpublish(
    privilege: &Privilege,
    uid: u32,
    hostnic: &str,
    audit: &Audit,
) -> Result<(), Refusal> {
    let links = dump_links()?;
    let n = reconcile_and_remove(privilege, &links, Some((uid, hostnic)), audit)?;
    audit.allowed(&format!("unpublish {hostnic}: {n} rules removed"));
    Ok(())
}

pub(crate) fn dump_links() -> Result<Vec<Link>, Refusal> {
    Rtnl::open()
        .and_then(|mut nl| nl.links())
        .map_err(|e| refuse!("cannot list links: {e}"))
}

/// What publish was asked for, all parsed.
pub(crate) struct PublishRequest<'a> {
    pub netns: BorrowedFd<'a>,
    pub hostnic: &'a str,
    pub name: &'a str,
    pub mappings: &'a [Publish],
}

/// `publish`, under the lock (the netns already opened and owned by the caller).
pub(crate) fn publish(
    privilege: &Privilege,
    req: &PublishRequest<'_>,
    who: &Identity,
    policy: &Usernet,
    audit: &Audit,
) -> Result<(), Refusal> {
    let uid = who.uid;
    // The host end: the caller's tagged veth whose peer is in that netns. One dump, which
    // also makes the kernel give the peers' namespaces their ids, then the id of that netns.
    let (links, nsid) = privilege
        .raise(cap::mask(&[cap::NET_ADMIN]), || {
            Rtnl::open().and_then(|mut nl| {
                let links = nl.links()?;
                let nsid = nl.nsid_of(req.netns)?;
                Ok((links, nsid))
            })
        })?
        .map_err(|e| refuse!("cannot list links and identify the network namespace: {e}"))?;
    let not_yours = || {
        refuse!(
            "{} is not a veth of yours with its container end in that network namespace",
            req.hostnic
        )
    };
    let link = links
        .iter()
        .find(|l| l.name == req.hostnic)
        .ok_or_else(not_yours)?;
    let tag = link.alias.as_deref().and_then(NicTag::parse);
    let ok = link.kind.as_deref() == Some("veth")
        && nsid.is_some()
        && link.link_netnsid == nsid
        && tag.as_ref().is_some_and(|t| t.uid == uid);
    let (true, Some(tag)) = (ok, tag) else {
        return Err(not_yours());
    };
    // Each family's mappings: IPv4 always (but for IPv6 host addresses), IPv6 when the
    // container has an IPv6 address.
    let maps4: Vec<Publish> = req
        .mappings
        .iter()
        .filter_map(|m| Family::V4.mapping(m))
        .collect();
    let maps6: Vec<Publish> = match tag.v6 {
        Some(_) => req
            .mappings
            .iter()
            .filter_map(|m| Family::V6.mapping(m))
            .collect(),
        None => Vec::new(),
    };
    let only_v6 = !req.mappings.is_empty() && maps4.is_empty();
    let to = match tag.v4 {
        Some(a) => a,
        None if only_v6 => Ipv4Addr::UNSPECIFIED,
        None => {
            return Err(refuse!(
                "{} has no IPv4 address from burrow-nic (only a nic on a per-user bridge with an IPv4 pool in /etc/burrow/nic.conf can publish ports through the kernel); publish through the user-space forwarder (--publish-mode user)",
                req.hostnic
            ))
        }
    };
    if let (None, Some(m)) = (
        tag.v6,
        req.mappings
            .iter()
            .find(|m| m.host_ip.is_some_and(|a| a.is_ipv6())),
    ) {
        return Err(refuse!(
            "{} has no IPv6 address from burrow-nic, so {m} cannot be published through the kernel (an IPv6 host address needs a nic on a per-user bridge with an IPv6 pool in /etc/burrow/nic.conf); publish through the user-space forwarder (--publish-mode user)",
            req.hostnic
        ));
    }
    let bridge = (tag.slot.bridge != "none").then_some(tag.slot.bridge.as_str());
    // Names go into nft's input (a comment, an oifname): burrow-nic's own names are always
    // plain, an admin's bridge might not be; refuse rather than quote.
    for n in std::iter::once(req.hostnic).chain(bridge) {
        if !nft_word(n) {
            return Err(refuse!(
                "interface name {n:?} has characters burrow-nic does not put into an nftables rule (letters, digits, '_', '.', '-', '@', '+' only); the admin must rename the bridge to publish ports on it"
            ));
        }
    }
    // It goes into the nft text between quotes: only plain names (the admin names bridges).
    if let Some(b) = bridge.filter(|b| {
        !b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    }) {
        return Err(refuse!(
            "bridge {b:?} of {} has a name nft rules cannot carry (only letters, digits, '_', '.' and '-')",
            req.hostnic
        ));
    }
    // The container's subnets on its bridge (from the pools that addressed it).
    let pools = crate::load_pools()?;
    let subnet = pools.v4.map(|p| {
        let len = p.sub.min(32);
        let mask = u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(len)))
            .unwrap_or(0);
        (IpAddr::V4(Ipv4Addr::from(u32::from(to) & mask)), len)
    });
    let hairpin = bridge.zip(subnet).map(|(b, (n, l))| (b, n, l));
    let subnet6 = pools.v6.zip(tag.v6).map(|(p, a)| {
        let len = p.sub.min(128);
        let mask = u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(len)))
            .unwrap_or(0);
        (IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)), len)
    });
    let hairpin6 = bridge.zip(subnet6).map(|(b, (n, l))| (b, n, l));
    // Policy: every host port inside the caller's grant.
    let grant = policy.port_grant(&who.caller());
    for m in req.mappings {
        grant.check(m).map_err(|d| Refusal(d.to_string()))?;
    }
    // IPv6 has no route_localnet: a DNATed packet from ::1 leaving lo is dropped by the
    // kernel, so a rule for [::1] could never answer.
    if let Some(m) = req
        .mappings
        .iter()
        .find(|m| m.host_ip.is_some_and(|a| a.is_ipv6() && a.is_loopback()))
    {
        return Err(refuse!(
            "{m}: ::1 cannot be published through the kernel (IPv6 has no route_localnet: the kernel drops loopback packets sent off lo); publish it through the user-space forwarder (--publish-mode user), or publish on every IPv6 address ([::]) and connect to one of the host's own addresses"
        ));
    }
    // A host address must be the host's (or every address of its family).
    if req
        .mappings
        .iter()
        .any(|m| m.host_ip.is_some_and(|a| !a.is_unspecified()))
    {
        let local = local_addresses()?;
        for m in req.mappings {
            if let Some(a) = m
                .host_ip
                .filter(|a| !a.is_unspecified() && !local.contains(a))
            {
                return Err(refuse!(
                    "host address {a} (in {m}) is not an address of this host"
                ));
            }
        }
    }
    // Clashes with the table (the caller's own rules for this host end are being replaced;
    // stale rules are deleted in the same transaction).
    let rules = list_rules(privilege)?;
    let stale: Vec<&Rule> = rules.iter().filter(|r| is_stale(r, &links)).collect();
    let replaced: Vec<&Rule> = rules
        .iter()
        .filter(|r| !is_stale(r, &links) && r.tag.uid == uid && r.tag.ifname == req.hostnic)
        .collect();
    for m in maps4.iter().chain(&maps6) {
        for r in rules
            .iter()
            .filter(|r| !is_stale(r, &links) && !replaced.contains(r))
        {
            let Some(h) = &r.holds else { continue };
            if m.clashes(h) {
                let port = shared_port(m, h);
                return Err(if r.tag.uid == uid {
                    refuse!(
                        "host port {port}/{} is already published by your container {}",
                        m.proto,
                        r.tag.name
                    )
                } else {
                    refuse!("host port {port}/{} is in use", m.proto)
                });
            }
        }
        if let Some(port) = host_socket_port(m) {
            return Err(refuse!("host port {port}/{} is in use", m.proto));
        }
    }
    let rtag = RuleTag {
        uid,
        ifname: req.hostnic.to_owned(),
        ifindex: link.index,
        name: req.name.to_owned(),
    };
    let mut gone: Vec<&Rule> = stale.clone();
    gone.extend(replaced.iter().copied());
    // Per family: its base, deletes and new rules; or, with nothing new in it, the deletes
    // (the table goes with its last rule, as in reconcile_and_remove).
    let mut script = String::new();
    for (f, maps, new) in [
        (
            Family::V4,
            &maps4,
            rules_for(&maps4, IpAddr::V4(to), hairpin, &rtag),
        ),
        (
            Family::V6,
            &maps6,
            tag.v6.map_or(String::new(), |a| {
                rules_for(&maps6, IpAddr::V6(a), hairpin6, &rtag)
            }),
        ),
    ] {
        if maps.is_empty() {
            script.push_str(&delete_or_drop(f, &rules, &gone));
        } else {
            let gone_f: Vec<&Rule> = gone.iter().copied().filter(|r| r.family == f).collect();
            script.push_str(&base(f));
            script.push_str(&deletes(&gone_f));
            script.push_str(&new);
        }
    }
    if let Some(br) = bridge.filter(|_| !maps4.is_empty()) {
        // The host reaches published ports at 127.0.0.1: DNATed loopback traffic leaves on
        // the bridge (masqueraded); the guard chain drops what route_localnet would let in.
        privilege.raise(cap::mask(&[cap::NET_ADMIN]), || {
            crate::create::sysctl("ipv4", br, "route_localnet", "1")
        })??;
    }
    log_stale(&stale, &links, None, audit);
    let maps: Vec<String> = req.mappings.iter().map(ToString::to_string).collect();
    // Where the rules lead: the IPv4 address, with the IPv6 one said after it when there are
    // IPv6 rules too; the IPv6 address alone when there are only those.
    let (dest, v6) = match (tag.v6, maps4.is_empty(), maps6.is_empty()) {
        (Some(a), true, false) => (a.to_string(), String::new()),
        (Some(a), false, false) => (to.to_string(), format!(" (IPv6 to {a})")),
        _ => (to.to_string(), String::new()),
    };
    audit.allowed(&format!(
        "publish {} (ifindex {}) container {} to {dest}: [{}] (replacing {} rules; grant {}){v6}",
        req.hostnic,
        link.index,
        req.name,
        maps.join(" "),
        replaced.len(),
        grant.describe()
    ));
    if script.is_empty() {
        return Ok(());
    }
    apply(privilege, &script)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"table ip burrow_ports { # handle 12
	chain ports { # handle 1
		tcp dport 8080 dnat to 10.77.3.2:80 comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 7
		ip daddr 127.0.0.1 udp dport 5000-5010 dnat ip to 10.77.3.3 comment "burrow-nic 1003 veth1003_x 43 db.1" # handle 8
		tcp dport 9000 dnat to 10.0.0.1:90 comment "something else" # handle 9
	}

	chain postrouting { # handle 5
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 127.0.0.0/8 ip daddr 10.77.3.2 ct status dnat masquerade comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 10
	}
}
"#;

    #[test]
    fn only_plain_names_reach_nft() {
        assert!(nft_word("veth1002_ab12") && nft_word("burrow1002") && nft_word("br-lab.1"));
        for bad in ["", "br\"x", "br x", "br;x", "br\\x", "br{x}", "br#x"] {
            assert!(!nft_word(bad), "{bad:?}");
        }
    }

    #[test]
    fn listing_is_parsed() {
        let r = parse_listing(Family::V4, LISTING);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].chain, "ports");
        assert_eq!(r[0].handle, 7);
        assert_eq!(
            r[0].tag,
            RuleTag {
                uid: 1002,
                ifname: "veth1002_ab12".into(),
                ifindex: 42,
                name: "web".into()
            }
        );
        assert_eq!(r[0].family, Family::V4);
        assert_eq!(
            r[0].holds.unwrap().to_string(),
            "0.0.0.0:8080:8080/tcp",
            "host side only (no address: every IPv4 address)"
        );
        assert_eq!(r[0].to, Some(IpAddr::V4(Ipv4Addr::new(10, 77, 3, 2))));
        assert_eq!(
            r[1].holds.unwrap().to_string(),
            "127.0.0.1:5000-5010:5000-5010/udp"
        );
        assert_eq!(r[2].chain, "postrouting");
        assert_eq!(r[2].holds, None);
        assert_eq!(r[2].to, Some(IpAddr::V4(Ipv4Addr::new(10, 77, 3, 2))));
        let r = parse_listing(Family::V6, LISTING6);
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(|r| r.family == Family::V6));
        let to = Some(IpAddr::V6("fd42:b0:6:1::2".parse().unwrap()));
        assert_eq!(
            (r[0].holds.unwrap().to_string(), r[0].to, r[0].handle),
            ("[::]:8080:8080/tcp".to_owned(), to, 7)
        );
        assert_eq!(
            (r[1].holds.unwrap().to_string(), r[1].to),
            ("[fd00::2]:5000-5010:5000-5010/udp".to_owned(), to)
        );
        assert_eq!(
            (r[2].holds.unwrap().to_string(), r[2].to),
            ("[::]:9000:9000/tcp".to_owned(), to)
        );
        assert_eq!(
            (r[3].chain.as_str(), r[3].holds, r[3].to),
            ("postrouting", None, to)
        );
        assert_eq!(r[3].tag.name, "web");
        // An IPv4 listing read as IPv6 (or the reverse) holds no address.
        assert!(parse_listing(Family::V6, LISTING)
            .iter()
            .all(|r| r.holds.is_none()));
    }

    const LISTING6: &str = r#"table ip6 burrow_ports { # handle 13
	chain ports { # handle 1
		tcp dport 8080 dnat to [fd42:b0:6:1::2]:80 comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 7
		ip6 daddr fd00::2 udp dport 5000-5010 dnat to fd42:b0:6:1::2 comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 8
		tcp dport 9000 dnat ip6 to [fd42:b0:6:1::2]:90 comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 9
	}

	chain postrouting { # handle 5
		type nat hook postrouting priority srcnat; policy accept;
		oifname "burrow1002" ip6 saddr fd42:b0:6:1::/64 ip6 daddr fd42:b0:6:1::2 ct status dnat masquerade comment "burrow-nic 1002 veth1002_ab12 42 web" # handle 10
	}
}
"#;

    #[test]
    fn ipv6_rules_are_rendered_and_families_split() {
        let tag = RuleTag {
            uid: 1002,
            ifname: "veth1002_ab12".into(),
            ifindex: 42,
            name: "web".into(),
        };
        let all = [
            Publish::parse("8080:80").unwrap(),
            Publish::parse("0.0.0.0:8081:81").unwrap(),
            Publish::parse("[::]:8082:82").unwrap(),
            Publish::parse("[fd00::2]:7000-7001:7000-7001/udp").unwrap(),
            Publish::parse("127.0.0.1:7002:72/udp").unwrap(),
        ];
        let v4: Vec<String> = all
            .iter()
            .filter_map(|m| Family::V4.mapping(m))
            .map(|m| m.to_string())
            .collect();
        assert_eq!(
            v4,
            [
                "0.0.0.0:8080:80/tcp",
                "0.0.0.0:8081:81/tcp",
                "127.0.0.1:7002:72/udp"
            ]
        );
        let maps6: Vec<Publish> = all.iter().filter_map(|m| Family::V6.mapping(m)).collect();
        let v6: Vec<String> = maps6.iter().map(ToString::to_string).collect();
        assert_eq!(
            v6,
            [
                "[::]:8080:80/tcp",
                "[::]:8082:82/tcp",
                "[fd00::2]:7000-7001:7000-7001/udp"
            ]
        );
        let to = IpAddr::V6("fd42:b0:6:1::2".parse().unwrap());
        let net = IpAddr::V6("fd42:b0:6:1::".parse().unwrap());
        let c = "comment \"burrow-nic 1002 veth1002_ab12 42 web\"";
        assert_eq!(
            rules_for(&maps6, to, Some(("burrow1002", net, 64)), &tag),
            format!(
                "add rule ip6 burrow_ports ports tcp dport 8080 dnat to [fd42:b0:6:1::2]:80 {c}\n\
                 add rule ip6 burrow_ports ports tcp dport 8082 dnat to [fd42:b0:6:1::2]:82 {c}\n\
                 add rule ip6 burrow_ports ports ip6 daddr fd00::2 udp dport 7000-7001 dnat to fd42:b0:6:1::2 {c}\n\
                 add rule ip6 burrow_ports postrouting oifname \"burrow1002\" ip6 saddr fd42:b0:6:1::/64 ip6 daddr fd42:b0:6:1::2 ct status dnat masquerade {c}\n"
            )
        );
        assert_eq!(rules_for(&[], to, None, &tag), "");
        assert!(base(Family::V6)
            .contains("add rule ip6 burrow_ports guard iifname != \"lo\" ip6 daddr ::1 drop\n"));
        assert_eq!(
            drop_table(Family::V6),
            "add table ip6 burrow_ports\ndelete table ip6 burrow_ports\n"
        );
        // The last rules of a table take it along; the other table is left alone.
        let rules = [
            parse_listing(Family::V4, LISTING),
            parse_listing(Family::V6, LISTING6),
        ]
        .concat();
        let mine: Vec<&Rule> = rules.iter().filter(|r| r.tag.uid == 1002).collect();
        assert_eq!(
            delete_or_drop(Family::V4, &rules, &mine),
            "delete rule ip burrow_ports ports handle 7\ndelete rule ip burrow_ports postrouting handle 10\n"
        );
        assert_eq!(
            delete_or_drop(Family::V6, &rules, &mine),
            drop_table(Family::V6)
        );
        assert_eq!(delete_or_drop(Family::V6, &rules, &mine[..2]), "");
        assert_eq!(
            delete_or_drop(Family::V6, &rules, &mine[2..3]),
            "delete rule ip6 burrow_ports ports handle 7\n"
        );
    }

    #[test]
    fn ipv6_addresses_and_sockets_are_read() {
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 02 40 00 80     eth0\nfe8000000000000000fc00fffe000001 02 40 20 80     eth0\n";
        assert_eq!(
            parse_if_inet6(inet6),
            [
                Ipv6Addr::LOCALHOST,
                "fd00::2".parse::<Ipv6Addr>().unwrap(),
                "fe80::fc:ff:fe00:1".parse::<Ipv6Addr>().unwrap()
            ]
        );
        // /proc/net/tcp6: ::, ::ffff:10.0.2.15, ::1, fd00::2.
        let tcp6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A\n   1: 0000000000000000FFFF00000F02000A:1F92 00000000000000000000000000000000:0000 0A\n   2: 00000000000000000000000001000000:1F93 00000000000000000000000000000000:0000 0A\n   3: 000000FD000000000000000002000000:1F94 00000000000000000000000000000000:0000 0A\n";
        assert_eq!(
            proc_net_addr("000000FD000000000000000002000000"),
            Some(IpAddr::V6("fd00::2".parse().unwrap()))
        );
        assert_eq!(
            proc_net_addr("0000000000000000FFFF00000F02000A"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)))
        );
        let m = |s: &str| Publish::parse(s).unwrap();
        // `::` holds both families (it may be dual-stack).
        assert_eq!(held_port(tcp6, &m("[fd00::2]:8081:80")), Some(8081));
        assert_eq!(held_port(tcp6, &m("127.0.0.1:8081:80")), Some(8081));
        // ::1 holds ::1 and every IPv6 address, not IPv4.
        assert_eq!(held_port(tcp6, &m("[::1]:8083:80")), Some(8083));
        assert_eq!(held_port(tcp6, &m("[::]:8083:80")), Some(8083));
        assert_eq!(held_port(tcp6, &m("[fd00::2]:8083:80")), None);
        assert_eq!(held_port(tcp6, &m("0.0.0.0:8083:80")), None);
        // fd00::2 holds itself.
        assert_eq!(held_port(tcp6, &m("[fd00::2]:8084:80")), Some(8084));
        assert_eq!(held_port(tcp6, &m("[fd00::3]:8084:80")), None);
        // An IPv4 socket holds no IPv6 port.
        let tcp = "  sl  local_address rem_address   st tx_queue\n   2: 00000000:01BB 00000000:0000 0A 0\n";
        assert_eq!(held_port(tcp, &m("[::]:443:443")), None);
        assert_eq!(held_port(tcp, &m("0.0.0.0:443:443")), Some(443));
    }

    #[test]
    fn host_addresses_and_sockets_are_read() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.2.0/24 2 0 2\n        |-- 10.0.2.15\n           /32 host LOCAL\n        |-- 10.0.2.255\n           /32 link BROADCAST\n     |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n     |-- 10.0.2.15\n        /32 host LOCAL\n";
        assert_eq!(
            parse_fib_trie(trie),
            [Ipv4Addr::new(10, 0, 2, 15), Ipv4Addr::new(127, 0, 0, 1)]
        );
        let tcp = "  sl  local_address rem_address   st tx_queue\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 0F02000A:0050 0A00020F:D431 01 0\n   2: 00000000:01BB 00000000:0000 0A 0\n";
        let m = |s: &str| Publish::parse(s).unwrap();
        assert_eq!(held_port(tcp, &m("8080:80")), Some(8080));
        assert_eq!(held_port(tcp, &m("127.0.0.1:8080:80")), Some(8080));
        assert_eq!(held_port(tcp, &m("10.0.2.15:8080:80")), None);
        // An established connection is not a listener.
        assert_eq!(held_port(tcp, &m("80:80")), None);
        // The wildcard holds every address.
        assert_eq!(held_port(tcp, &m("10.0.2.15:443:443")), Some(443));
        let tcp6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A\n   1: 0000000000000000FFFF00000F02000A:1F92 00000000000000000000000000000000:0000 0A\n   2: 00000000000000000000000001000000:1F93 00000000000000000000000000000000:0000 0A\n";
        assert_eq!(held_port(tcp6, &m("8081:80")), Some(8081));
        assert_eq!(held_port(tcp6, &m("10.0.2.15:8082:80")), Some(8082));
        assert_eq!(held_port(tcp6, &m("127.0.0.1:8082:80")), None);
        // ::1 holds no IPv4 port.
        assert_eq!(held_port(tcp6, &m("0.0.0.0:8083:80")), None);
        let udp = "  sl  local_address rem_address   st\n 100: 00000000:14E9 00000000:0000 07 0\n";
        assert_eq!(held_port(udp, &m("5353:53/udp")), Some(5353));
        assert_eq!(held_port(udp, &m("5350-5360:5350-5360/udp")), Some(5353));
    }

    #[test]
    fn rules_are_rendered_and_read_back() {
        let tag = RuleTag {
            uid: 1002,
            ifname: "veth1002_ab12".into(),
            ifindex: 42,
            name: "web".into(),
        };
        assert_eq!(RuleTag::parse(&tag.render()), Some(tag.clone()));
        let maps = [
            Publish::parse("8080:80").unwrap(),
            Publish::parse("127.0.0.1:7000-7001:7000-7001/udp").unwrap(),
        ];
        let s = rules_for(
            &maps,
            IpAddr::V4(Ipv4Addr::new(10, 77, 3, 2)),
            Some(("burrow1002", IpAddr::V4(Ipv4Addr::new(10, 77, 3, 0)), 24)),
            &tag,
        );
        assert_eq!(
            s,
            "add rule ip burrow_ports ports tcp dport 8080 dnat to 10.77.3.2:80 comment \"burrow-nic 1002 veth1002_ab12 42 web\"\n\
             add rule ip burrow_ports ports ip daddr 127.0.0.1 udp dport 7000-7001 dnat to 10.77.3.2 comment \"burrow-nic 1002 veth1002_ab12 42 web\"\n\
             add rule ip burrow_ports postrouting ip saddr 127.0.0.0/8 ip daddr 10.77.3.2 ct status dnat masquerade comment \"burrow-nic 1002 veth1002_ab12 42 web\"\n\
             add rule ip burrow_ports postrouting oifname \"burrow1002\" ip saddr 10.77.3.0/24 ip daddr 10.77.3.2 ct status dnat masquerade comment \"burrow-nic 1002 veth1002_ab12 42 web\"\n"
        );
        assert_eq!(
            rules_for(&[], IpAddr::V4(Ipv4Addr::LOCALHOST), None, &tag),
            ""
        );
        for junk in [
            "burrow-nic 1002 v 42",
            "burrow-nic x v 42 n",
            "burrow-nic 01 v 42 n",
            "other 1 v 1 n",
        ] {
            assert_eq!(RuleTag::parse(junk), None, "{junk}");
        }
    }
}
