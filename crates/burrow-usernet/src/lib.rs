//! The policy of `burrow-nic`: which user may create how many nics on which bridge.
//!
//! # /etc/burrow/usernet
//!
//! The lxc-usernet format, one entry a line:
//!
//! ```text
//! # USER|@GROUP  TYPE  BRIDGE    COUNT
//! alice          veth  lxcbr0    4
//! @netusers      veth  br-lab    10
//! bob            veth  none      1
//! @netusers      veth  burrow%u  2
//! ```
//!
//! - Fields are separated by spaces or tabs. Blank lines and lines starting with `#` are
//!   ignored; a `#` field after the count starts a trailing comment.
//! - `USER` is a user name (or a numeric uid); `@GROUP` applies to every member of the group
//!   (the caller's process groups) and is a pool shared by them, recorded as `@GROUP`.
//! - `TYPE` must be `veth` (the only kind burrow-nic creates).
//! - `BRIDGE` is a Linux bridge, `none` (an unattached veth), or a **per-user bridge**: a name
//!   with one `%u`, replaced by the caller's uid (`burrow%u` is `burrow1002` for uid 1002), so
//!   users never share an L2 segment. The expanded name must be a valid interface name of at
//!   most 15 bytes, so `burrow%u` serves uids of up to 9 digits.
//! - `COUNT` is a plain decimal from 0 to [`MAX_COUNT`].
//!
//! Unlike lxc-user-nic, which silently skips or misreads bad lines (a leading space ignores the
//! line, a negative count subtracts, `0x10` reads as 0), **any** bad line makes the whole file
//! an error naming the line: a policy file that does not say what the admin meant grants
//! nothing. Two lines for the same owner, type and bridge are an error too.
//!
//! # Published ports
//!
//! A line with three fields grants host ports for published ports (`burrow run -p` with
//! `--net bridge`, installed by `burrow-nic publish`):
//!
//! ```text
//! # USER|@GROUP  ports  LIST
//! alice          ports  8000-8099,443
//! @web           ports  80,8080
//! ```
//!
//! `LIST` is comma-separated ports and `START-END` ranges, plain decimal from 1 to 65535
//! ([`ports::PortGrant::parse`]: no spaces, signs, leading zeros or empty elements). It is
//! parsed as strictly as the rest: a bad list makes the whole file an error naming the line,
//! and two `ports` lines for the same owner are an error (merge them). A caller's grant is the
//! union of its own line and the lines of its groups ([`Usernet::port_grant`]); with none, the
//! caller may publish nothing through the kernel (the user-space forwarder needs no grant).
//!
//! # Quota
//!
//! A slot is (owner, type, bridge); each slot has its own count (lxc-user-nic counts every nic
//! of the owner, whatever the bridge). The caller's own lines are tried first, then group
//! lines in file order (lxc/lxc#513); the first slot below its count gets the new nic. When
//! two lines of one owner expand to the same bridge for the caller (`burrow%u` and
//! `burrow1002` for uid 1002), the line that names the bridge outright sets the slot's count,
//! wherever it stands; of two patterns, the first.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::arithmetic_side_effects)]

use std::fmt;

pub mod accounts;
pub mod collide;
pub mod name;
pub mod pool;
pub mod ports;

pub use name::{
    check_ifname, expand_uid, host_ifname, is_host_ifname_of, NameError, Pattern, MAX_IFNAME,
};

/// Where the policy lives.
pub const USERNET_PATH: &str = "/etc/burrow/usernet";

/// The largest COUNT accepted.
pub const MAX_COUNT: u32 = 65_535;

/// The longest user or group name accepted (LOGIN_NAME_MAX - 1).
pub const MAX_OWNER: usize = 255;

/// The only TYPE burrow-nic creates.
pub const VETH: &str = "veth";

/// The link group (`IFLA_GROUP`, `ip link show group 1651864183`, nftables `iifgroup`) of
/// every host end burrow-nic creates, set by the request that creates it: 0x62757277, "burw".
/// burrow-nic-nat filters spoofed sources on it, and a create recognises a host end left
/// untagged by a killed create by it.
pub const NIC_GROUP: u32 = 0x6275_7277;

/// Who an entry is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A user name or a numeric uid.
    User(String),
    /// `@group`: the group's name, without the `@`.
    Group(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(u) => f.write_str(u),
            Owner::Group(g) => write!(f, "@{g}"),
        }
    }
}

/// The BRIDGE field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bridge {
    /// `none`: the host end stays unattached.
    None,
    /// A bridge shared by everyone the line applies to.
    Name(String),
    /// A per-user bridge pattern with one `%u`.
    PerUser(String),
}

impl Bridge {
    /// The bridge this entry means for `uid`: `none`, the name, or the expanded pattern.
    pub fn resolve(&self, uid: u32) -> Result<String, NameError> {
        match self {
            Bridge::None => Ok("none".to_owned()),
            Bridge::Name(n) => Ok(n.clone()),
            Bridge::PerUser(p) => expand_uid(p, uid),
        }
    }
}

impl fmt::Display for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bridge::None => f.write_str("none"),
            Bridge::Name(n) | Bridge::PerUser(n) => f.write_str(n),
        }
    }
}

/// One valid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// USER or @GROUP.
    pub owner: Owner,
    /// TYPE (always `veth`).
    pub kind: String,
    /// BRIDGE.
    pub bridge: Bridge,
    /// COUNT.
    pub count: u32,
}

/// Why the file was refused: the first bad line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, worded for the admin.
    pub problem: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for ParseError {}

/// One valid `USER|@GROUP ports LIST` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortsEntry {
    /// 1-based line number.
    pub line: usize,
    /// USER or @GROUP.
    pub owner: Owner,
    /// LIST.
    pub list: ports::PortGrant,
}

/// The `ports` keyword of a port grant line.
pub const PORTS: &str = "ports";

/// A parsed /etc/burrow/usernet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usernet {
    /// The nic entries in file order.
    pub entries: Vec<Entry>,
    /// The port grant lines in file order.
    pub ports: Vec<PortsEntry>,
}

fn parse_owner(f: &str) -> Result<Owner, String> {
    let (group, name) = match f.strip_prefix('@') {
        Some(g) => (true, g),
        None => (false, f),
    };
    if name.is_empty() {
        return Err("owner \"@\" names no group".to_owned());
    }
    if name.len() > MAX_OWNER {
        return Err(format!("owner {f:?} is longer than {MAX_OWNER} bytes"));
    }
    let bad = name
        .chars()
        .any(|c| !c.is_ascii_graphic() || c == ':' || c == ',' || c == '@');
    if bad || name.starts_with('-') || name.starts_with('#') {
        return Err(format!("owner {f:?} is not a valid user or @group name"));
    }
    Ok(if group {
        Owner::Group(name.to_owned())
    } else {
        Owner::User(name.to_owned())
    })
}

fn parse_bridge(f: &str) -> Result<Bridge, String> {
    if f == "none" {
        return Ok(Bridge::None);
    }
    if f.contains('%') {
        check_ifname(f, Pattern::Uid).map_err(|e| format!("bridge: {e}"))?;
        // The literal part must leave room for at least a one-digit uid.
        expand_uid(f, 0).map_err(|e| format!("bridge pattern {f:?}: {e}"))?;
        return Ok(Bridge::PerUser(f.to_owned()));
    }
    check_ifname(f, Pattern::Plain).map_err(|e| format!("bridge: {e}"))?;
    Ok(Bridge::Name(f.to_owned()))
}

fn parse_count(f: &str) -> Result<u32, String> {
    match accounts::decimal::<u64>(f) {
        Some(n) => match u32::try_from(n) {
            Ok(n) if n <= MAX_COUNT => Ok(n),
            _ => Err(format!("count {f:?} is larger than {MAX_COUNT}")),
        },
        None if f.len() > 1 && f.starts_with('0') && f.bytes().all(|b| b.is_ascii_digit()) => Err(
            format!("count {f:?} has a leading zero (write plain decimal)"),
        ),
        None if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("count {f:?} is larger than {MAX_COUNT}"))
        }
        None => Err(format!(
            "count {f:?} is not a decimal number from 0 to {MAX_COUNT}"
        )),
    }
}

impl Usernet {
    /// Parses the whole file; the first bad line makes it an error.
    pub fn parse(text: &str) -> Result<Usernet, ParseError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut port_lines: Vec<PortsEntry> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i.saturating_add(1);
            let err = |problem: String| ParseError { line, problem };
            let trimmed = raw.trim_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                return Err(err(
                    "starts with whitespace (lxc-user-nic ignores such a line; remove the indentation)"
                        .to_owned(),
                ));
            }
            let mut fields: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            if let Some(c) = fields.iter().position(|f| f.starts_with('#')) {
                fields.truncate(c);
            }
            if fields.get(1) == Some(&PORTS) {
                let [owner, _, list] = fields.as_slice() else {
                    return Err(err(format!(
                        "expected 3 fields (USER|@GROUP ports LIST), found {}",
                        fields.len()
                    )));
                };
                let owner = parse_owner(owner).map_err(err)?;
                let list = ports::PortGrant::parse(list)
                    .map_err(|e| err(format!("ports {list:?}: {e}")))?;
                if let Some(prev) = port_lines.iter().find(|p| p.owner == owner) {
                    return Err(err(format!(
                        "second ports line for {owner} (the first is line {}; merge the two lists)",
                        prev.line
                    )));
                }
                port_lines.push(PortsEntry { line, owner, list });
                continue;
            }
            let [owner, kind, bridge, count] = fields.as_slice() else {
                return Err(err(format!(
                    "expected 4 fields (USER|@GROUP TYPE BRIDGE COUNT), found {}",
                    fields.len()
                )));
            };
            let owner = parse_owner(owner).map_err(err)?;
            if *kind != VETH {
                return Err(err(format!(
                    "type {kind:?} is not supported (only \"veth\")"
                )));
            }
            let bridge = parse_bridge(bridge).map_err(err)?;
            let count = parse_count(count).map_err(err)?;
            if let Some(prev) = entries
                .iter()
                .find(|e| e.owner == owner && e.kind == *kind && e.bridge == bridge)
            {
                return Err(err(format!(
                    "same owner, type and bridge as line {} (merge the two lines)",
                    prev.line
                )));
            }
            entries.push(Entry {
                line,
                owner,
                kind: (*kind).to_owned(),
                bridge,
                count,
            });
        }
        Ok(Usernet {
            entries,
            ports: port_lines,
        })
    }

    /// The port grant lines that apply to the caller: its own line first, then its groups'
    /// lines in file order. The grant is their union.
    pub fn port_grant(&self, who: &Caller<'_>) -> PortGrantOf<'_> {
        let own = self
            .ports
            .iter()
            .filter(|p| matches!(&p.owner, Owner::User(u) if who.is_user(u)));
        let groups = self
            .ports
            .iter()
            .filter(|p| matches!(&p.owner, Owner::Group(g) if who.groups.iter().any(|m| m == g)));
        PortGrantOf {
            user: who.user.to_owned(),
            lines: own.chain(groups).collect(),
        }
    }

    /// The entries that apply to the caller for (`kind`, `bridge`), the caller's own lines
    /// first, then group lines, each in file order, with the bridge resolved for the caller.
    /// `bridge` is what the caller asked for, already expanded ([`resolve_request`]).
    fn matching<'a>(&'a self, who: &Caller<'_>, kind: &str, bridge: &str) -> Vec<&'a Entry> {
        let applies =
            |e: &&Entry| e.kind == kind && e.bridge.resolve(who.uid).is_ok_and(|b| b == bridge);
        let mut own: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches!(&e.owner, Owner::User(u) if who.is_user(u)))
            .filter(applies)
            .collect();
        let groups = self
            .entries
            .iter()
            .filter(|e| matches!(&e.owner, Owner::Group(g) if who.groups.iter().any(|m| m == g)))
            .filter(applies);
        own.extend(groups);
        // Two lines of one owner can expand to the same bridge for this caller (`burrow%u`
        // and `burrow1002`, or two patterns): they are one slot, with one count. A line that
        // names the bridge outright is an exception written for it, so it wins over a
        // pattern wherever it stands in the file; between two patterns, the first wins.
        let mut out: Vec<&Entry> = Vec::new();
        for e in own {
            match out.iter_mut().find(|o| o.owner == e.owner) {
                None => out.push(e),
                Some(o) => {
                    if matches!(o.bridge, Bridge::PerUser(_))
                        && !matches!(e.bridge, Bridge::PerUser(_))
                    {
                        *o = e;
                    }
                }
            }
        }
        out
    }

    /// Whether `bridge` (already expanded) is the caller's per-user bridge: a `%u` line that
    /// applies to the caller for `kind` expands to it (whichever line decides its count).
    fn is_per_user(&self, who: &Caller<'_>, kind: &str, bridge: &str) -> bool {
        self.entries.iter().any(|e| {
            e.kind == kind
                && matches!(e.bridge, Bridge::PerUser(_))
                && who.owns(&e.owner)
                && e.bridge.resolve(who.uid).is_ok_and(|b| b == bridge)
        })
    }

    /// Decides whether the caller may have one more nic of `kind` on `bridge` (already
    /// expanded by [`resolve_request`]). `used` gives the nics currently held by a slot.
    pub fn decide(
        &self,
        who: &Caller<'_>,
        kind: &str,
        bridge: &str,
        used: impl Fn(&Slot) -> u32,
    ) -> Result<Grant, Denial> {
        let lines = self.matching(who, kind, bridge);
        let per_user = self.is_per_user(who, kind, bridge);
        if lines.is_empty() {
            return Err(Denial::NoEntry {
                user: who.user.to_owned(),
                kind: kind.to_owned(),
                bridge: bridge.to_owned(),
            });
        }
        let mut allowed: u32 = 0;
        let mut in_use: u32 = 0;
        let mut grant: Option<Grant> = None;
        for e in lines {
            let slot = Slot {
                owner: e.owner.to_string(),
                kind: kind.to_owned(),
                bridge: bridge.to_owned(),
            };
            let u = used(&slot);
            allowed = allowed.saturating_add(e.count);
            in_use = in_use.saturating_add(u);
            if grant.is_none() && u < e.count {
                grant = Some(Grant {
                    slot,
                    line: e.line,
                    allowed: 0,
                    used: 0,
                    per_user: false,
                });
            }
        }
        match grant {
            Some(mut g) => {
                g.allowed = allowed;
                g.used = in_use;
                g.per_user = per_user;
                Ok(g)
            }
            None => Err(Denial::QuotaReached {
                user: who.user.to_owned(),
                kind: kind.to_owned(),
                bridge: bridge.to_owned(),
                used: in_use,
                allowed,
            }),
        }
    }

    /// Everything the caller may create, for `burrow-nic check`: one [`Allowance`] per
    /// (type, bridge) in the order first seen. Per-user bridges whose expansion is not a valid
    /// name for this uid are returned in `Err` with the line.
    pub fn allowances(&self, who: &Caller<'_>) -> Vec<Result<Allowance, (usize, NameError)>> {
        let mut out: Vec<Result<Allowance, (usize, NameError)>> = Vec::new();
        for e in self.entries.iter().filter(|e| who.owns(&e.owner)) {
            let bridge = match e.bridge.resolve(who.uid) {
                Ok(b) => b,
                Err(err) => {
                    out.push(Err((e.line, err)));
                    continue;
                }
            };
            let seen = out
                .iter()
                .any(|a| matches!(a, Ok(a) if a.kind == e.kind && a.bridge == bridge));
            if seen {
                continue;
            }
            let slots = self
                .matching(who, &e.kind, &bridge)
                .iter()
                .map(|m| {
                    (
                        Slot {
                            owner: m.owner.to_string(),
                            kind: e.kind.clone(),
                            bridge: bridge.clone(),
                        },
                        m.count,
                    )
                })
                .collect();
            out.push(Ok(Allowance {
                kind: e.kind.clone(),
                bridge,
                slots,
            }));
        }
        out
    }
}

/// What the caller asked for as BRIDGE, made concrete: `none`, a plain name, or a `%u` pattern
/// expanded with the caller's uid. Errors are worded for the command line.
pub fn resolve_request(bridge: &str, uid: u32) -> Result<String, NameError> {
    if bridge == "none" {
        return Ok(bridge.to_owned());
    }
    if bridge.contains('%') {
        check_ifname(bridge, Pattern::Uid)?;
        return expand_uid(bridge, uid);
    }
    check_ifname(bridge, Pattern::Plain)?;
    Ok(bridge.to_owned())
}

/// The caller as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// User name (from /etc/passwd).
    pub user: &'a str,
    /// Real uid.
    pub uid: u32,
    /// Names of the caller's process groups.
    pub groups: &'a [String],
}

impl Caller<'_> {
    fn is_user(&self, owner: &str) -> bool {
        owner == self.user || accounts::decimal::<u32>(owner) == Some(self.uid)
    }

    /// Whether a line of `owner` applies to this caller.
    fn owns(&self, owner: &Owner) -> bool {
        match owner {
            Owner::User(u) => self.is_user(u),
            Owner::Group(g) => self.groups.iter().any(|m| m == g),
        }
    }
}

/// What a nic is counted against: owner as written (`alice` or `@group`), type, and the
/// concrete bridge (`none`, or a per-user bridge already expanded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// `user` or `@group`.
    pub owner: String,
    /// Type.
    pub kind: String,
    /// Bridge, expanded.
    pub bridge: String,
}

/// A yes: the slot the new nic counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The slot.
    pub slot: Slot,
    /// The config line that granted it.
    pub line: usize,
    /// Total allowed to the caller for this type and bridge (all matching lines).
    pub allowed: u32,
    /// Total in use before this nic.
    pub used: u32,
    /// The bridge is a per-user bridge (a `%u` line applies): burrow-nic creates it on first
    /// use and addresses it from the pools.
    pub per_user: bool,
}

/// A no, with the message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No line applies (lxc-user-nic says "Quota reached" for this too).
    NoEntry {
        /// User name.
        user: String,
        /// Type.
        kind: String,
        /// Bridge, expanded.
        bridge: String,
    },
    /// Every applicable slot is full.
    QuotaReached {
        /// User name.
        user: String,
        /// Type.
        kind: String,
        /// Bridge, expanded.
        bridge: String,
        /// Nics in use.
        used: u32,
        /// Nics allowed.
        allowed: u32,
    },
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::NoEntry { user, kind, bridge } => write!(
                f,
                "no entry in {USERNET_PATH} allows user {user} a {kind} on bridge {bridge}"
            ),
            Denial::QuotaReached {
                user,
                kind,
                bridge,
                used,
                allowed,
            } => write!(
                f,
                "quota reached: user {user} has {used} of {allowed} {kind} nics allowed on bridge {bridge}"
            ),
        }
    }
}

impl std::error::Error for Denial {}

/// A caller's port grant: the `ports` lines that apply to it ([`Usernet::port_grant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortGrantOf<'a> {
    /// The caller's user name.
    pub user: String,
    /// The lines, the caller's own first, then its groups' in file order.
    pub lines: Vec<&'a PortsEntry>,
}

impl PortGrantOf<'_> {
    /// Whether `port` is granted by any of the lines.
    pub fn contains(&self, port: u16) -> bool {
        self.lines.iter().any(|l| l.list.contains(port))
    }

    /// The first port of `range` no line grants.
    pub fn first_missing(&self, range: ports::PortRange) -> Option<u16> {
        range.ports().find(|p| !self.contains(*p))
    }

    /// The union as one list, for `check` (`8000-8099,443`; empty when there is no line).
    pub fn list(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.list.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The lines as written, for messages: `line 3 "alice ports 8000-8099"; line 5 "@web
    /// ports 443"`, or `no ports line for alice or its groups`.
    pub fn describe(&self) -> String {
        if self.lines.is_empty() {
            return format!("no ports line for {} or its groups", self.user);
        }
        self.lines
            .iter()
            .map(|l| format!("line {} \"{} {PORTS} {}\"", l.line, l.owner, l.list))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Checks that every host port of `p` is granted; the refusal names the port, the grant
    /// as written and both ways out.
    pub fn check(&self, p: &ports::Publish) -> Result<(), PortDenial> {
        match self.first_missing(p.host) {
            None => Ok(()),
            Some(port) => Err(PortDenial {
                port,
                proto: p.proto,
                grant: self.describe(),
                none: self.lines.is_empty(),
            }),
        }
    }
}

/// A host port outside the caller's grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDenial {
    /// The first port not granted.
    pub port: u16,
    /// Its protocol.
    pub proto: ports::Proto,
    /// The grant as [`PortGrantOf::describe`] words it.
    pub grant: String,
    /// The caller has no grant at all.
    pub none: bool,
}

impl fmt::Display for PortDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ask = if self.none {
            "for a grant"
        } else {
            "to extend it"
        };
        write!(
            f,
            "host port {}/{} is not in your port grant ({USERNET_PATH}: {}); ask the admin {ask} (burrow admin add-user --ports LIST) or publish through the user-space forwarder (--publish-mode user)",
            self.port, self.proto, self.grant
        )
    }
}

impl std::error::Error for PortDenial {}

/// What `check` reports for one (type, bridge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Type.
    pub kind: String,
    /// Bridge, expanded.
    pub bridge: String,
    /// The slots, in the order they are tried, with their counts.
    pub slots: Vec<(Slot, u32)>,
}

impl Allowance {
    /// Sum of the slot counts.
    pub fn allowed(&self) -> u32 {
        self.slots
            .iter()
            .fold(0u32, |a, (_, c)| a.saturating_add(*c))
    }
}

#[cfg(test)]
mod tests;

/// The accounting tag burrow-nic puts on the host end of each veth (`IFLA_IFALIAS`, readable in
/// `/sys/class/net/<nic>/ifalias`; only CAP_NET_ADMIN over the host netns can change it):
/// `burrow-nic <uid> <owner> <type> <bridge>`, followed by ` <ipv4|-> <ipv6|->` when the nic
/// was given addresses on a per-user bridge (so the live addresses are known from the kernel
/// too). Usage is derived from these tags on every call,
/// so nothing can leave a stale or lost entry: a veth that dies with its netns stops counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicTag {
    /// The uid that created the nic.
    pub uid: u32,
    /// The slot it counts against.
    pub slot: Slot,
    /// The IPv4 address given to the container end, if any.
    pub v4: Option<std::net::Ipv4Addr>,
    /// The IPv6 address given to the container end, if any.
    pub v6: Option<std::net::Ipv6Addr>,
}

impl NicTag {
    /// The alias text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "burrow-nic {} {} {} {}",
            self.uid, self.slot.owner, self.slot.kind, self.slot.bridge
        );
        if self.v4.is_some() || self.v6.is_some() {
            let v4 = self.v4.map_or("-".to_owned(), |a| a.to_string());
            let v6 = self.v6.map_or("-".to_owned(), |a| a.to_string());
            s.push_str(&format!(" {v4} {v6}"));
        }
        s
    }

    /// Parses an alias (a trailing newline, as sysfs shows it, is allowed); `None` for
    /// anything that is not exactly a tag.
    pub fn parse(text: &str) -> Option<NicTag> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let f: Vec<&str> = text.split(' ').collect();
        let (magic, uid, owner, kind, bridge, v4, v6) = match f.as_slice() {
            [m, u, o, k, b] => (m, u, o, k, b, None, None),
            [m, u, o, k, b, v4, v6] => (m, u, o, k, b, Some(*v4), Some(*v6)),
            _ => return None,
        };
        let v4 = match v4 {
            None | Some("-") => None,
            Some(a) => Some(a.parse::<std::net::Ipv4Addr>().ok()?),
        };
        let v6 = match v6 {
            None | Some("-") => None,
            Some(a) => Some(a.parse::<std::net::Ipv6Addr>().ok()?),
        };
        if f.len() == 7 && v4.is_none() && v6.is_none() {
            return None;
        }
        if *magic != "burrow-nic" || *kind != VETH {
            return None;
        }
        parse_owner(owner).ok()?;
        if *bridge != "none" {
            check_ifname(bridge, Pattern::Plain).ok()?;
        }
        Some(NicTag {
            uid: accounts::decimal(uid)?,
            slot: Slot {
                owner: (*owner).to_owned(),
                kind: (*kind).to_owned(),
                bridge: (*bridge).to_owned(),
            },
            v4,
            v6,
        })
    }
}

/// The tag burrow-nic puts on a per-user bridge it manages (`IFLA_IFALIAS`):
/// `burrow-nic bridge <uid>`, plus ` <subnet number>` when it was given addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeTag {
    /// The uid the bridge is for.
    pub uid: u32,
    /// Its subnet number in the pools, if addressed.
    pub subnet: Option<u32>,
}

impl BridgeTag {
    /// The alias text.
    pub fn render(&self) -> String {
        match self.subnet {
            Some(n) => format!("burrow-nic bridge {} {n}", self.uid),
            None => format!("burrow-nic bridge {}", self.uid),
        }
    }

    /// Parses an alias; `None` for anything that is not exactly a bridge tag.
    pub fn parse(text: &str) -> Option<BridgeTag> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        match text.split(' ').collect::<Vec<_>>().as_slice() {
            ["burrow-nic", "bridge", uid] => Some(BridgeTag {
                uid: accounts::decimal(uid)?,
                subnet: None,
            }),
            ["burrow-nic", "bridge", uid, n] => Some(BridgeTag {
                uid: accounts::decimal(uid)?,
                subnet: Some(accounts::decimal(n)?),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod bridge_tag_tests {
    use super::BridgeTag;

    #[test]
    fn bridge_tags_round_trip() {
        for t in [
            BridgeTag {
                uid: 1002,
                subnet: None,
            },
            BridgeTag {
                uid: 0,
                subnet: Some(7),
            },
        ] {
            assert_eq!(BridgeTag::parse(&t.render()), Some(t));
        }
        assert_eq!(
            BridgeTag::parse("burrow-nic bridge 1002 7\n")
                .unwrap()
                .subnet,
            Some(7)
        );
        for junk in [
            "",
            "burrow-nic bridge",
            "burrow-nic bridge 01",
            "burrow-nic bridge 1 x",
            "burrow-nic 1 a veth b",
        ] {
            assert_eq!(BridgeTag::parse(junk), None, "{junk}");
        }
    }
}
