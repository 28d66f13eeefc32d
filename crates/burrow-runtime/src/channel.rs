//! The channel between `burrow` and a process it starts (a container's pid 1, a `burrow exec`
//! helper, the `burrow unshare` child): one SOCK_SEQPACKET pair, close-on-exec, so the exec
//! shows on the parent's side as end-of-file. Every message is one packet whose first byte
//! says what it is; all of them are sent and read here.
//!
//! | message | from | body |
//! | --- | --- | --- |
//! | `G` go | parent | the maps are written; with `--net bridge`, burrow-nic's nic (JSON) |
//! | `T` tty | child | the pty master (SCM_RIGHTS) |
//! | `P` pidfd | exec helper | the pidfd of the process it made (SCM_RIGHTS) |
//! | `S` steps | child | at `--log-level debug`: its setup steps and their durations |
//! | `W` warning | child | a warning for the user (e.g. an image root that is not overlayfs) |
//! | `E` error | child | the exit code byte, then the message; the child then exits |

use crate::net::Nic;
use crate::{err, Ctx, Error};
use nix::sys::socket::{
    recv, recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

const GO: u8 = b'G';
const TTY: u8 = b'T';
const PIDFD: u8 = b'P';
const STEPS: u8 = b'S';
const WARN: u8 = b'W';
const ERROR: u8 = b'E';

/// A descriptor passed to the parent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Passed {
    /// The pty master (`-t`).
    Tty,
    /// The pidfd of the process a `burrow exec` helper made.
    Pidfd,
}

/// The socket pair: (parent's end, child's end).
pub(crate) fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair".into())
}

/// Parent: releases the child (its maps are written), with the nic it gets.
pub(crate) fn send_go(sock: &OwnedFd, nic: Option<&Nic>) -> Result<(), Error> {
    let mut go = vec![GO];
    if let Some(nic) = nic {
        go.extend(serde_json::to_vec(nic).map_err(|e| err(format!("nic: {e}")))?);
    }
    send(sock.as_raw_fd(), &go, MsgFlags::empty())
        .map(drop)
        .ctx(|| "cannot start the container".into())
}

/// Child: waits for go and returns the nic. A parent that is gone or failed ends the child
/// quietly.
pub(crate) fn recv_go(sock: &OwnedFd) -> Result<Option<Nic>, Error> {
    let mut buf = [0u8; 4096];
    let n = match recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
        Ok(n) if n >= 1 && buf[0] == GO => n,
        _ => burrow_sys::rt::exit_now(125),
    };
    match buf.get(1..n) {
        Some(j) if !j.is_empty() => Ok(Some(
            serde_json::from_slice(j).map_err(|e| err(format!("bad nic description: {e}")))?,
        )),
        _ => Ok(None),
    }
}

/// Child: passes a descriptor to the parent.
pub(crate) fn send_fd(sock: &OwnedFd, what: Passed, fd: RawFd) -> Result<(), Error> {
    let (kind, text) = match what {
        Passed::Tty => (TTY, "cannot pass the terminal to burrow"),
        Passed::Pidfd => (PIDFD, "cannot pass the process to burrow"),
    };
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&[kind])],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .ctx(|| text.into())
}

/// Child: its setup steps, for the parent's debug log. Best effort.
pub(crate) fn send_steps(sock: &OwnedFd, steps: &[(&'static str, Duration)]) {
    let mut m = vec![STEPS];
    for (name, took) in steps {
        m.extend(format!("{name}={};", took.as_nanos()).bytes());
    }
    let _ = send(sock.as_raw_fd(), &m, MsgFlags::empty());
}

/// Child: a warning for the user. Best effort.
pub(crate) fn send_warning(sock: &OwnedFd, text: &str) {
    let mut m = vec![WARN];
    m.extend_from_slice(text.as_bytes());
    let _ = send(sock.as_raw_fd(), &m, MsgFlags::empty());
}

/// Child: reports a failed setup (the child exits after it).
pub(crate) fn send_error(sock: &OwnedFd, e: &Error) {
    let code = u8::try_from(e.code).unwrap_or(125);
    let mut m = vec![ERROR, code];
    m.extend_from_slice(e.msg.as_bytes());
    let _ = send(sock.as_raw_fd(), &m, MsgFlags::empty());
}

/// What arrived before the exec.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// The pty master (`-t`).
    pub master: Option<OwnedFd>,
    /// The pidfd of the process (`burrow exec`).
    pub pidfd: Option<OwnedFd>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Parent: reads until end-of-file (the exec): the child may first send the pty master, its
/// pidfd, its steps, or an error.
pub(crate) fn await_exec(sock: &OwnedFd) -> Result<Synced, Error> {
    let mut got = Synced::default();
    let mut steps_at = None;
    loop {
        let mut buf = [0u8; 4096];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .ctx(|| "reading from the container".into())?;
        let mut got_fd = None;
        if let Ok(cmsgs) = r.cmsgs() {
            for m in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = m {
                    for fd in fds {
                        got_fd = Some(burrow_sys::rt::take_received_fd(fd));
                    }
                }
            }
        }
        let n = r.bytes;
        if n == 0 {
            if let Some(at) = steps_at {
                crate::trace::took("exec", at);
            }
            return Ok(got);
        }
        match buf[0] {
            TTY => got.master = got_fd,
            PIDFD => got.pidfd = got_fd,
            WARN => got
                .warnings
                .push(String::from_utf8_lossy(&buf[1..n]).into_owned()),
            STEPS => {
                log_steps(&buf[1..n]);
                steps_at = Some(std::time::Instant::now());
            }
            ERROR if n >= 2 => {
                let code = i32::from(buf[1]);
                let text = String::from_utf8_lossy(&buf[2..n]).into_owned();
                return Err(Error { code, msg: text });
            }
            _ => return Err(err("unexpected message from the container")),
        }
    }
}

fn log_steps(body: &[u8]) {
    for item in String::from_utf8_lossy(body).split(';') {
        if let Some((name, ns)) = item.split_once('=') {
            let took = Duration::from_nanos(ns.parse().unwrap_or(0));
            tracing::debug!("{name}: {took:.3?}");
        }
    }
}
