//! `create` after every check: under the lock, reconcile, decide, create, tag, attach.

use crate::{host_tags, usage, Identity};
use burrow_netlink::{Rtnl, VethSpec};
use burrow_setuid::{refuse, Audit, Refusal};
use burrow_usernet::{self as usernet, NicTag, Usernet};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};

const LOCK_DIR: &str = "/run/burrow";
const LOCK_PATH: &str = "/run/burrow/nic.lock";

/// Opens (creating it if needed) the lock that serialises every create: called as root before
/// the privilege drop, on a fixed path, root:root 0600 in a root:root 0755 directory, never
/// following symlinks; both are chowned to root:root (a setuid process creates files with the
/// caller's gid). Only the helper can open it, so no user can hold it.
pub(crate) fn open_lock() -> Result<File, Refusal> {
    match std::fs::DirBuilder::new().mode(0o755).create(LOCK_DIR) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse!("cannot create {LOCK_DIR}: {e}")),
    }
    let d = std::fs::symlink_metadata(LOCK_DIR).map_err(|e| refuse!("{LOCK_DIR}: {e}"))?;
    if d.is_dir() && d.uid() == 0 && d.gid() != 0 {
        std::os::unix::fs::lchown(LOCK_DIR, Some(0), Some(0))
            .map_err(|e| refuse!("cannot chown {LOCK_DIR}: {e}"))?;
    }
    let d = std::fs::symlink_metadata(LOCK_DIR).map_err(|e| refuse!("{LOCK_DIR}: {e}"))?;
    if !d.is_dir() || d.uid() != 0 || d.gid() != 0 || d.mode() & 0o022 != 0 {
        return Err(refuse!(
            "{LOCK_DIR} is not a root:root directory writable only by root; refusing it"
        ));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(LOCK_PATH)
        .map_err(|e| refuse!("cannot open {LOCK_PATH}: {e}"))?;
    std::os::unix::fs::fchown(&f, Some(0), Some(0))
        .map_err(|e| refuse!("cannot chown {LOCK_PATH}: {e}"))?;
    let m = f.metadata().map_err(|e| refuse!("{LOCK_PATH}: {e}"))?;
    if !m.is_file() || m.uid() != 0 || m.gid() != 0 || m.mode() & 0o077 != 0 {
        return Err(refuse!(
            "{LOCK_PATH} is not a root:root 0600 file; refusing it"
        ));
    }
    Ok(f)
}

/// What create was asked for, all checked.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub pid: i32,
    pub netns: BorrowedFd<'a>,
    pub kind: &'a str,
    pub bridge: &'a str,
    pub nicname: &'a str,
}

fn nl_err(what: &str) -> impl Fn(std::io::Error) -> Refusal + '_ {
    move |e| refuse!("{what}: {e}")
}

/// Deletes host ends of the caller's that carry no tag: under the lock no other create is in
/// flight, so such a link is left by a helper killed between creating and tagging it.
fn reconcile(nl: &mut Rtnl, uid: u32, audit: &Audit) {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    for ent in dir.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !usernet::is_host_ifname_of(&name, uid) {
            continue;
        }
        let Ok(link) = nl.link_by_name(&name) else {
            continue;
        };
        let tagged = link.alias.as_deref().and_then(NicTag::parse).is_some();
        if link.kind.as_deref() == Some("veth") && !tagged && nl.delete(link.index).is_ok() {
            audit.allowed(&format!(
                "deleted untagged {name} left by an interrupted create"
            ));
        }
    }
}

/// Runs with CAP_NET_ADMIN effective and the lock held. Returns the stdout line.
pub(crate) fn create(
    req: &Request<'_>,
    who: &Identity,
    policy: &Usernet,
    audit: &Audit,
) -> Result<String, Refusal> {
    // The socket must be opened with the capability effective: the kernel checks its opener.
    let mut nl = Rtnl::open().map_err(nl_err("cannot open a netlink socket"))?;
    reconcile(&mut nl, who.uid, audit);
    let tags = host_tags();
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
    let (master, mtu) = if req.bridge == "none" {
        (None, 1500)
    } else {
        let br = nl.link_by_name(req.bridge).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENODEV) {
                refuse!("bridge {} does not exist", req.bridge)
            } else {
                refuse!("cannot look up bridge {}: {e}", req.bridge)
            }
        })?;
        if br.kind.as_deref() != Some("bridge") {
            return Err(refuse!(
                "{} is not a Linux bridge; refusing to attach to it",
                req.bridge
            ));
        }
        (Some(br.index), br.mtu)
    };
    let tag = NicTag {
        uid: who.uid,
        slot: grant.slot,
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
        if nl.link_by_name(&name).is_ok() {
            continue;
        }
        let spec = VethSpec {
            host: &name,
            peer: req.nicname,
            peer_netns: req.netns.as_fd(),
            mtu,
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
        Ok(format!(
            "{}:{}:{}:{}\n",
            peer.name, peer.index, host, h.index
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

/// `delete`, with CAP_NET_ADMIN effective: the host end must exist, be a veth, and carry the
/// caller's tag with this type and bridge (CVE-2026-39402: owner, type, bridge and name all
/// match). Anything else gets one message that says nothing about other users' nics. Deleted
/// by ifindex; the peer goes with it.
pub(crate) fn delete(
    uid: u32,
    kind: &str,
    bridge: &str,
    hostnic: &str,
    audit: &Audit,
) -> Result<(), Refusal> {
    let mut nl = Rtnl::open().map_err(nl_err("cannot open a netlink socket"))?;
    let none = || refuse!("you have no nic {hostnic} of type {kind} on bridge {bridge}");
    let link = nl.link_by_name(hostnic).map_err(|_| none())?;
    let tag = link
        .alias
        .as_deref()
        .and_then(NicTag::parse)
        .ok_or_else(none)?;
    if link.kind.as_deref() != Some("veth")
        || tag.uid != uid
        || tag.slot.kind != kind
        || tag.slot.bridge != bridge
    {
        return Err(none());
    }
    audit.allowed(&format!(
        "delete {hostnic} (ifindex {}) type={kind} bridge={bridge}",
        link.index
    ));
    nl.delete(link.index)
        .map_err(nl_err("deleting the nic failed"))
}
