//! burrow-nic: give a network namespace the caller owns a veth on a bridge that
//! /etc/burrow/usernet allows (a drop-in for LXC's lxc-user-nic, without its defects; see
//! docs/cases/burrow-nic.md for the cases it is tested against).
//!
//! ```text
//! burrow-nic create LXCPATH NAME PID TYPE BRIDGE [NICNAME]
//! burrow-nic delete LXCPATH NAME NETNS-PATH TYPE BRIDGE [HOSTNIC]
//! burrow-nic check [--json] [TYPE BRIDGE]
//! burrow-nic list [--json]
//! burrow-nic publish NETNS-PATH HOSTNIC NAME [MAPPING...]
//! burrow-nic unpublish HOSTNIC
//! ```
//!
//! create prints exactly `container-ifname:container-ifindex:host-ifname:host-ifindex` and
//! nothing on stderr on success; every failure is one line on stderr, exit 1.
//!
//! The privileged sequence, in order:
//! 1. sanitize (fds, environment, umask, core dumps) before reading any argument;
//! 2. become the caller (all uids and gids), keep CAP_NET_ADMIN permitted only, nothing
//!    effective, no_new_privs;
//! 3. parse the arguments strictly (names, type, bridge, pid);
//! 4. pin the target (pidfd + /proc/<pid> dir fd), open its netns **as the caller**, and
//!    require that the caller owns it: the netns's owning user namespace is, or descends from,
//!    a user namespace created by the caller directly below the caller's own (the host netns
//!    is refused unless the caller is root);
//! 5. read /etc/burrow/usernet, /etc/passwd and /etc/group as the caller (root-owned, no
//!    symlinks), decide the quota with usage derived from the kernel (the host ends' alias
//!    tags), and log the decision;
//! 6. take the create lock (/run/burrow/nic.lock, opened as root before the drop), raise
//!    CAP_NET_ADMIN for the netlink requests: delete the caller's untagged host ends (left by
//!    a killed helper), decide the quota from the tags, check the bridge is a Linux bridge,
//!    create the veth with the peer in the pinned netns (by fd) under its final name, then
//!    tag (IFLA_IFALIAS), attach and bring up the host end in one request; any failure after
//!    the veth exists deletes it by host ifindex.
//!
//! delete opens NETNS-PATH as the caller (O_PATH, nsfs, CLONE_NEWNET; one uniform error),
//! requires that the caller owns that netns, then deletes HOSTNIC by ifindex only if it is a
//! veth carrying the caller's tag with the same type and bridge (Linux bridges too, not only
//! OVS). check and list read the tags of the host's links.
//!
//! publish opens NETNS-PATH as delete does, then under the create lock replaces the caller's
//! published-port rules for HOSTNIC (kernel DNAT in the nftables tables `ip burrow_ports` and
//! `ip6 burrow_ports`, written by nft with CAP_NET_ADMIN as its only capability) after
//! checking the nic, the
//! `ports` grant of /etc/burrow/usernet, the host address and who holds each host port;
//! unpublish removes them. Both, and create, first delete rules whose host end is gone
//! (publish.rs).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
mod create;
mod lock;
mod publish;

use args::{ArgError, Command, TargetArg, USAGE};
use burrow_setuid::{self as setuid, cap, refuse, Audit, Caller, Refusal, Target, TargetSpec};
use burrow_usernet::pool::{Pools, NIC_CONF_PATH};
use burrow_usernet::{self as usernet, accounts, NicTag, Slot, Usernet, USERNET_PATH};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

const PROG: &str = "burrow-nic";
const MAX_POLICY_BYTES: u64 = 16 * 1024 * 1024;
const PID_MAX_LIMIT: u32 = 4_194_304;

/// Message when the helper runs under no_new_privs (so has no privilege).
pub const NNP_MESSAGE: &str = "running under no_new_privs: setuid is ignored, so this helper has no privilege (run it outside NoNewPrivileges=/no-new-privileges)";

/// Runs the helper and exits: 0 on success, 1 otherwise.
pub fn main() -> ! {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // create's PID may be fd:N; keep that descriptor open through sanitize.
    let pid_at = if argv.get(1).map(String::as_str) == Some("--json") {
        4
    } else {
        3
    };
    let keep_fd = (argv.first().map(String::as_str) == Some("create"))
        .then(|| argv.get(pid_at)?.strip_prefix("fd:")?.parse::<i32>().ok())
        .flatten();
    let (caller, sanitized) = setuid::sanitize(keep_fd);
    let audit = Audit::open(c"burrow-nic", caller);
    let mut show_usage = false;
    let result = sanitized.and_then(|()| run(caller, &argv, &audit, &mut show_usage));
    match result {
        Ok(out) => {
            let mut so = std::io::stdout().lock();
            if so
                .write_all(out.as_bytes())
                .and_then(|()| so.flush())
                .is_err()
            {
                std::process::exit(1)
            }
            std::process::exit(0)
        }
        Err(e) => {
            audit.refused(&e.0);
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{PROG}: {}", e.0);
            if show_usage {
                let _ = writeln!(err, "{USAGE}");
            }
            std::process::exit(1)
        }
    }
}

fn arg_refusal(e: ArgError, show_usage: &mut bool) -> Refusal {
    *show_usage = e.usage;
    Refusal(e.msg)
}

/// Everything after sanitize; returns what to print on stdout.
fn run(
    caller: Caller,
    argv: &[String],
    audit: &Audit,
    show_usage: &mut bool,
) -> Result<String, Refusal> {
    // The create lock is opened as root (fixed path) before the drop; its error is reported
    // only after the drop succeeded, so "no privilege" messages come first.
    let is_create = argv.first().map(String::as_str) == Some("create");
    let locks = is_create
        || matches!(
            argv.first().map(String::as_str),
            Some("publish" | "unpublish")
        );
    let lock = locks.then(create::open_lock);
    let leases = is_create.then(create::open_leases);
    // CAP_KILL only for the commands that take the lock: a waiter kills a holder that holds it
    // stopped (lock.rs).
    let keep = if locks {
        cap::mask(&[cap::NET_ADMIN, cap::KILL])
    } else {
        cap::mask(&[cap::NET_ADMIN])
    };
    let mut privilege = setuid::drop_to_caller(
        caller,
        keep,
        "install it setuid root (chown root:root; chmod 4755)",
    )
    .map_err(|e| {
        if e.0 == setuid::NNP_MESSAGE {
            Refusal(NNP_MESSAGE.to_owned())
        } else {
            e
        }
    })?;
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(PID_MAX_LIMIT);
    let cmd = args::parse(argv, pid_max, caller.uid).map_err(|e| arg_refusal(e, show_usage))?;
    match cmd {
        Command::Help => {
            privilege.drop_all()?;
            Ok(format!("{USAGE}\n"))
        }
        Command::Create {
            json,
            name,
            target,
            kind,
            bridge,
            nicname,
        } => {
            // The LXC line is at most 15 + 1 + 10 + 1 + 15 + 1 + 10 + 1 = 54 bytes; the JSON
            // object at most about 400.
            setuid::check_stdout_room(if json { 512 } else { 64 })?;
            let spec = match target {
                TargetArg::Pid(p) => TargetSpec::Pid(p),
                TargetArg::Fd(n) => TargetSpec::Fd(n),
            };
            let target = Target::open(spec)?;
            let pid = target.pid;
            let netns = open_target_netns(&target)?;
            check_netns_owner(netns.as_fd(), caller, &format!("process {pid}"))?;
            if !target.alive() {
                return Err(refuse!("process {pid} exited"));
            }
            let who = Identity::load(caller)?;
            let policy = load_policy()?;
            let pools = load_pools()?;
            // Decided once before the lock with the usage the tags show now (a netlink dump
            // needs no privilege), so a caller the policy gives nothing, or whose quota is
            // full, never touches the lock; decided again under it.
            let tags = host_tags()?;
            policy
                .decide(&who.caller(), &kind, &bridge, |s| usage(&tags, s))
                .map_err(|d| Refusal(d.to_string()))?;
            let lock = lock.ok_or_else(|| refuse!("no lock"))??;
            let leases = leases.ok_or_else(|| refuse!("no leases"))??;
            lock::acquire(&lock, &privilege, audit)?;
            privilege.narrow(cap::mask(&[cap::NET_ADMIN]))?;
            // Published-port rules whose host end is gone (a killed container or helper).
            publish::reconcile_for_create(&privilege, audit);
            let req = create::Request {
                pid,
                netns: netns.as_fd(),
                kind: &kind,
                bridge: &bridge,
                nicname: &nicname,
                name: &name,
                json,
            };
            let out = privilege.raise(cap::mask(&[cap::NET_ADMIN]), || {
                create::create(&req, &who, &policy, &pools, leases.as_ref(), audit)
            })??;
            privilege.drop_all()?;
            drop(lock);
            Ok(out)
        }
        Command::Delete {
            netns,
            kind,
            bridge,
            hostnic,
        } => {
            let fd = open_netns_path(&netns)?;
            check_netns_owner(fd.as_fd(), caller, &format!("{netns:?}"))?;
            let done = privilege.raise(cap::mask(&[cap::NET_ADMIN]), || {
                create::delete(
                    caller.uid,
                    &kind,
                    &bridge,
                    hostnic.as_deref(),
                    fd.as_fd(),
                    audit,
                )
            })?;
            privilege.drop_all()?;
            done.map(|()| String::new())
        }
        Command::Publish {
            netns,
            hostnic,
            name,
            mappings,
        } => {
            let fd = open_netns_path(&netns)?;
            check_netns_owner(fd.as_fd(), caller, &format!("{netns:?}"))?;
            let who = Identity::load(caller)?;
            let policy = load_policy()?;
            // A port outside the grant is refused before the lock (as a create over quota
            // is), so a user the policy gives nothing never touches it; checked again under it.
            let grant = policy.port_grant(&who.caller());
            for m in &mappings {
                grant.check(m).map_err(|d| Refusal(d.to_string()))?;
            }
            let lock = lock.ok_or_else(|| refuse!("no lock"))??;
            lock::acquire(&lock, &privilege, audit)?;
            privilege.narrow(cap::mask(&[cap::NET_ADMIN]))?;
            let req = publish::PublishRequest {
                netns: fd.as_fd(),
                hostnic: &hostnic,
                name: &name,
                mappings: &mappings,
            };
            publish::publish(&privilege, &req, &who, &policy, audit)?;
            privilege.drop_all()?;
            drop(lock);
            Ok(String::new())
        }
        Command::Unpublish { hostnic } => {
            let lock = lock.ok_or_else(|| refuse!("no lock"))??;
            lock::acquire(&lock, &privilege, audit)?;
            privilege.narrow(cap::mask(&[cap::NET_ADMIN]))?;
            publish::unpublish(&privilege, caller.uid, &hostnic, audit)?;
            privilege.drop_all()?;
            drop(lock);
            Ok(String::new())
        }
        Command::Check { json, only } => {
            privilege.drop_all()?;
            let who = Identity::load(caller)?;
            let policy = load_policy()?;
            let tags = host_tags()?;
            check(&who, &policy, &tags, json, only)
        }
        Command::List { json } => {
            privilege.drop_all()?;
            Ok(list(caller.uid, &host_tags()?, json))
        }
    }
}

/// The caller's user name and group names (from /etc/passwd and /etc/group, read as the
/// caller). With no passwd entry the decimal uid stands for the name, so only numeric lines
/// of the policy can match.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) uid: u32,
    user: String,
    groups: Vec<String>,
    /// /etc/passwd as read (to tell whether the user of a subnet lease still exists).
    passwd: String,
}

impl Identity {
    fn load(caller: Caller) -> Result<Identity, Refusal> {
        let passwd =
            setuid::secure_open_config("/etc/passwd", MAX_POLICY_BYTES)?.unwrap_or_default();
        let group = setuid::secure_open_config("/etc/group", MAX_POLICY_BYTES)?.unwrap_or_default();
        let user = accounts::user_name(&passwd, caller.uid).unwrap_or(caller.uid.to_string());
        let mut gids = vec![caller.gid];
        gids.extend(burrow_sys::getgroups().map_err(|e| refuse!("getgroups: {e}"))?);
        Ok(Identity {
            uid: caller.uid,
            user,
            groups: accounts::group_names(&group, &gids),
            passwd,
        })
    }

    /// Whether /etc/passwd has an account with this uid.
    pub(crate) fn has_account(&self, uid: u32) -> bool {
        accounts::user_name(&self.passwd, uid).is_some()
    }

    pub(crate) fn caller(&self) -> usernet::Caller<'_> {
        usernet::Caller {
            user: &self.user,
            uid: self.uid,
            groups: &self.groups,
        }
    }
}

fn load_policy() -> Result<Usernet, Refusal> {
    let Some(text) = setuid::secure_open_config(USERNET_PATH, MAX_POLICY_BYTES)? else {
        return Err(refuse!(
            "{USERNET_PATH} does not exist: no user may create nics"
        ));
    };
    Usernet::parse(&text).map_err(|e| refuse!("{USERNET_PATH}: {e}"))
}

pub(crate) fn load_pools() -> Result<Pools, Refusal> {
    match setuid::secure_open_config(NIC_CONF_PATH, MAX_POLICY_BYTES)? {
        None => Ok(Pools::default()),
        Some(text) => Pools::parse(&text).map_err(|e| refuse!("{NIC_CONF_PATH}: {e}")),
    }
}

/// The accounting tags of the host's links (a netlink dump: needs no privilege).
pub(crate) fn host_tags() -> Result<Vec<(String, NicTag)>, Refusal> {
    let links = burrow_netlink::Rtnl::open()
        .and_then(|mut nl| nl.links())
        .map_err(|e| refuse!("cannot list links: {e}"))?;
    Ok(create::tags_of(&links))
}

pub(crate) fn usage(tags: &[(String, NicTag)], slot: &Slot) -> u32 {
    let n = tags.iter().filter(|(_, t)| t.slot == *slot).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(crate) fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn check(
    who: &Identity,
    policy: &Usernet,
    tags: &[(String, NicTag)],
    json: bool,
    only: Option<(String, String)>,
) -> Result<String, Refusal> {
    let mut rows: Vec<(String, String, u32, u32)> = Vec::new();
    for a in policy.allowances(&who.caller()) {
        let Ok(a) = a else { continue };
        if only
            .as_ref()
            .is_some_and(|(k, b)| *k != a.kind || *b != a.bridge)
        {
            continue;
        }
        let used = a
            .slots
            .iter()
            .fold(0u32, |n, (s, _)| n.saturating_add(usage(tags, s)));
        rows.push((a.kind.clone(), a.bridge.clone(), a.allowed(), used));
    }
    if let (Some((kind, bridge)), true) = (&only, rows.is_empty()) {
        return Err(Refusal(
            usernet::Denial::NoEntry {
                user: who.user.clone(),
                kind: kind.clone(),
                bridge: bridge.clone(),
            }
            .to_string(),
        ));
    }
    // The port grant (published ports through the kernel), as one list.
    let grant = policy.port_grant(&who.caller()).list();
    let mut out = String::new();
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|(k, b, a, u)| {
                format!(
                    "{{\"type\":{},\"bridge\":{},\"allowed\":{a},\"used\":{u},\"remaining\":{}}}",
                    json_str(k),
                    json_str(b),
                    a.saturating_sub(*u)
                )
            })
            .collect();
        let ports = if grant.is_empty() {
            "null".to_owned()
        } else {
            json_str(&grant)
        };
        out.push_str(&format!(
            "{{\"user\":{},\"uid\":{},\"allowances\":[{}],\"ports\":{ports}}}\n",
            json_str(&who.user),
            who.uid,
            items.join(",")
        ));
    } else {
        for (k, b, a, u) in &rows {
            out.push_str(&format!(
                "{k} {b} allowed={a} used={u} remaining={}\n",
                a.saturating_sub(*u)
            ));
        }
        if only.is_none() && !grant.is_empty() {
            out.push_str(&format!("ports {grant}\n"));
        }
    }
    Ok(out)
}

fn list(uid: u32, tags: &[(String, NicTag)], json: bool) -> String {
    let mine: Vec<&(String, NicTag)> = tags.iter().filter(|(_, t)| t.uid == uid).collect();
    if json {
        let items: Vec<String> = mine
            .iter()
            .map(|(n, t)| {
                let addr = |a: Option<String>| a.map_or("null".to_owned(), |a| json_str(&a));
                format!(
                    "{{\"host_ifname\":{},\"type\":{},\"bridge\":{},\"owner\":{},\"ipv4\":{},\"ipv6\":{}}}",
                    json_str(n),
                    json_str(&t.slot.kind),
                    json_str(&t.slot.bridge),
                    json_str(&t.slot.owner),
                    addr(t.v4.map(|a| a.to_string())),
                    addr(t.v6.map(|a| a.to_string()))
                )
            })
            .collect();
        format!("[{}]\n", items.join(","))
    } else {
        mine.iter()
            .map(|(n, t)| {
                let mut line = format!("{n} {} {} {}", t.slot.kind, t.slot.bridge, t.slot.owner);
                for a in [t.v4.map(|a| a.to_string()), t.v6.map(|a| a.to_string())]
                    .into_iter()
                    .flatten()
                {
                    line.push(' ');
                    line.push_str(&a);
                }
                line.push('\n');
                line
            })
            .collect()
    }
}

/// Opens `ns/net` of the pinned target as the caller (the kernel's ptrace-read check).
fn open_target_netns(target: &Target) -> Result<OwnedFd, Refusal> {
    let pid = target.pid;
    let fd = burrow_sys::openat2(Some(target.dir.as_fd()), c"ns/net", libc::O_RDONLY, 0).map_err(
        |e| match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => {
                refuse!("you may not access the network namespace of process {pid}")
            }
            Some(libc::ENOENT) | Some(libc::ESRCH) => refuse!("process {pid} exited"),
            _ => refuse!("cannot open the network namespace of process {pid}: {e}"),
        },
    )?;
    if !is_netns(fd.as_fd()) {
        return Err(refuse!(
            "the network namespace of process {pid} is not a namespace file"
        ));
    }
    Ok(fd)
}

fn is_netns(fd: BorrowedFd<'_>) -> bool {
    burrow_sys::fstatfs_magic(fd).ok() == Some(burrow_sys::magic::NSFS)
        && burrow_sys::ns_type(fd).ok() == Some(libc::CLONE_NEWNET)
}

/// Opens a netns path named by the caller, with the caller's credentials (the helper has
/// dropped to them): O_PATH first (no open side effects on FIFOs or devices) and nsfs is
/// required; then the path is opened for reading (O_NONBLOCK, as the caller: the helper is not
/// dumpable, so /proc/self/fd cannot be used to reopen) and must be the same inode and a
/// network namespace. Every failure gives the same message (CVE-2018-6556, CVE-2022-47952).
fn open_netns_path(path: &str) -> Result<OwnedFd, Refusal> {
    let uniform = || refuse!("{path:?} is not a network namespace file you can open");
    let cpath = std::ffi::CString::new(path).map_err(|_| uniform())?;
    let opath = burrow_sys::openat2(None, &cpath, libc::O_PATH, 0).map_err(|_| uniform())?;
    if burrow_sys::fstatfs_magic(opath.as_fd()).ok() != Some(burrow_sys::magic::NSFS) {
        return Err(uniform());
    }
    let flags = libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK;
    let fd = burrow_sys::openat2(None, &cpath, flags, 0).map_err(|_| uniform())?;
    if ns_key(fd.as_fd()).ok() != ns_key(opath.as_fd()).ok() || !is_netns(fd.as_fd()) {
        return Err(uniform());
    }
    Ok(fd)
}

fn ns_key(fd: BorrowedFd<'_>) -> Result<(u64, u64), Refusal> {
    let f = std::fs::File::from(fd.try_clone_to_owned().map_err(|e| refuse!("dup: {e}"))?);
    let m = f.metadata().map_err(|e| refuse!("fstat: {e}"))?;
    Ok((m.dev(), m.ino()))
}

/// The kernel's maximum user namespace nesting depth.
const MAX_USERNS_DEPTH: usize = 33;

/// The caller must own the netns: its owning user namespace is one created by the caller
/// directly below the caller's own user namespace, or a descendant of such a namespace (the
/// caller then holds every capability there). A netns owned by the caller's own user namespace
/// (the host's, for a normal user) is refused unless the caller is root: the user has no
/// CAP_NET_ADMIN there (case C15 and attack A1 of docs/cases/burrow-nic.md).
fn check_netns_owner(netns: BorrowedFd<'_>, caller: Caller, what: &str) -> Result<(), Refusal> {
    let own = std::fs::File::open("/proc/self/ns/user")
        .map_err(|e| refuse!("cannot open own user namespace: {e}"))?;
    let own_key = ns_key(own.as_fd())?;
    let not_yours = || {
        refuse!("the network namespace of {what} does not belong to a user namespace you created")
    };
    let mut cur = burrow_sys::ns_userns(netns).map_err(|_| not_yours())?;
    if ns_key(cur.as_fd())? == own_key {
        if caller.uid == 0 {
            return Ok(());
        }
        return Err(refuse!(
            "the network namespace of {what} belongs to your own user namespace (the host's): only a network namespace created inside a user namespace you own can get a nic"
        ));
    }
    for _ in 0..MAX_USERNS_DEPTH {
        let parent = burrow_sys::ns_parent(cur.as_fd()).map_err(|_| not_yours())?;
        if ns_key(parent.as_fd())? == own_key {
            let owner = burrow_sys::ns_owner_uid(cur.as_fd())
                .map_err(|e| refuse!("NS_GET_OWNER_UID: {e}"))?;
            if owner != caller.uid {
                return Err(refuse!(
                    "the network namespace of {what} belongs to a user namespace created by uid {owner}, not by you"
                ));
            }
            return Ok(());
        }
        cur = parent;
    }
    Err(not_yours())
}
