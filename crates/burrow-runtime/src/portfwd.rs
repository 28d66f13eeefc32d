//! Published ports in user space (`-p` with `--net none`, or `--publish-mode user`): the
//! rootlesskit builtin-driver shape.
//!
//! The process that waits on the container (its monitor, or a foreground `burrow run`) binds
//! the host sockets ([`bind`]: before the container starts, so a port in use fails the start
//! and nothing is left), and keeps them for the container's whole life, across restarts. A
//! mapping without a host address gets two sockets per port, 0.0.0.0 and `[::]` (IPV6_V6ONLY,
//! so each family is its own socket), or only the first on a host without IPv6; every IPv6
//! socket is IPV6_V6ONLY (`[::]` is every IPv6 address only, `0.0.0.0` every IPv4 one). For
//! each start it forks a forwarder ([`Listeners::spawn`]): a process that keeps the host
//! sockets, joins the container's user and network namespaces (setns through a pidfd of the
//! container's process, like `burrow exec`), and from then on every socket it creates is
//! inside the container's network namespace while the host sockets stay on the host. It
//! accepts on the host (IPv4 or IPv6) and connects to 127.0.0.1:CTRPORT inside (so a server
//! that listens on IPv4 only answers IPv6 clients too; TCP, relayed both ways with
//! half-close), and relays UDP datagrams per client address through a socket of its own
//! inside (a flow ends after [`UDP_IDLE`] without traffic). At most [`MAX_FLOWS`]
//! connections and flows at once; more are refused (TCP: closed at once; UDP: dropped).
//!
//! The forwarder is a separate process, so nothing it does can block the monitor: stop, kill
//! and restarts are handled as before, and the forwarder is killed (with every connection)
//! when the container ends (and by the kernel if its parent dies: PR_SET_PDEATHSIG). The
//! cost: the container sees connections from the forwarder (127.0.0.1), not the client's
//! address; the kernel path (`--net bridge` with a port grant) keeps it.

use crate::run::Container;
use crate::{err, Ctx, Error};
use burrow_config::{PublishMode, RunConfig};
use burrow_usernet::ports::{Proto, Publish};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most TCP connections and UDP flows one container's forwarder relays at once.
pub const MAX_FLOWS: usize = 1024;

/// A UDP flow (one client address) ends after this long without a datagram either way.
pub const UDP_IDLE: Duration = Duration::from_secs(60);

/// Stack of each relay thread (they only copy through a heap buffer).
const THREAD_STACK: usize = 128 * 1024;
/// How long the monitor waits for a new forwarder to say it is in the container.
const FORWARDER_REPORT: Duration = Duration::from_secs(10);

/// The mappings a configuration forwards in user space (none with the kernel path).
pub(crate) fn user_mappings(c: &RunConfig) -> Vec<Publish> {
    if c.effective_publish_mode() == PublishMode::User {
        c.publish.clone()
    } else {
        Vec::new()
    }
}

#[derive(Debug)]
enum HostSock {
    Tcp(TcpListener),
    Udp(Arc<UdpSocket>),
}

impl HostSock {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            HostSock::Tcp(l) => l.as_fd(),
            HostSock::Udp(s) => s.as_fd(),
        }
    }
}

/// One bound host port and the container port it leads to.
#[derive(Debug)]
struct Port {
    sock: HostSock,
    ctr: u16,
    /// UDP on every address (of its family): each datagram's local address is learnt
    /// (IP_PKTINFO, IPV6_RECVPKTINFO) and its replies leave from it.
    pktinfo: bool,
}

/// The bound host sockets of a container's published ports.
#[derive(Debug)]
pub(crate) struct Listeners {
    ports: Vec<Port>,
    mappings: Vec<Publish>,
}

/// Binds every host port of `mappings` (each port of a range, on HOSTIP, or on 0.0.0.0 and
/// `[::]` without one). `None` when there is nothing to forward. A port that cannot be bound
/// fails with a message naming it and the fixes.
pub(crate) fn bind(mappings: &[Publish]) -> Result<Option<Listeners>, Error> {
    if mappings.is_empty() {
        return Ok(None);
    }
    let v6 = ipv6_enabled();
    let mut ports = Vec::new();
    for m in mappings {
        for (host, ctr) in m.pairs() {
            for ip in host_addresses(m, v6) {
                let addr = SocketAddr::from((ip, host));
                let sock = match bind_one(m.proto, addr) {
                    Ok(s) => s,
                    // Without a host address, IPv6 is only taken when the host has it.
                    Err(e)
                        if m.host_ip.is_none()
                            && ip.is_ipv6()
                            && matches!(
                                e.raw_os_error(),
                                Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                            ) =>
                    {
                        continue
                    }
                    Err(e) => return Err(bind_error(m, addr, &e)),
                };
                let pktinfo = matches!(sock, HostSock::Udp(_)) && ip.is_unspecified();
                if let (HostSock::Udp(s), true) = (&sock, pktinfo) {
                    use nix::sys::socket::{setsockopt, sockopt};
                    match ip {
                        IpAddr::V4(_) => setsockopt(s, sockopt::Ipv4PacketInfo, &true)
                            .ctx(|| format!("cannot publish {m}: IP_PKTINFO"))?,
                        IpAddr::V6(_) => setsockopt(s, sockopt::Ipv6RecvPacketInfo, &true)
                            .ctx(|| format!("cannot publish {m}: IPV6_RECVPKTINFO"))?,
                    }
                }
                ports.push(Port { sock, ctr, pktinfo });
            }
        }
    }
    Ok(Some(Listeners {
        ports,
        mappings: mappings.to_vec(),
    }))
}

/// The addresses a mapping's host sockets bind: HOSTIP, or 0.0.0.0 and (when `v6`) `[::]`.
fn host_addresses(m: &Publish, v6: bool) -> Vec<IpAddr> {
    match m.host_ip {
        Some(a) => vec![a],
        None if v6 => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
        None => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
    }
}

/// Whether the host has IPv6: the kernel has it and it is not disabled
/// (`net.ipv6.conf.all.disable_ipv6`).
fn ipv6_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|s| s.trim() == "0")
}

/// One non-blocking host socket on `addr` (an IPv6 one IPV6_V6ONLY; TCP with SO_REUSEADDR,
/// as std binds).
fn bind_one(proto: Proto, addr: SocketAddr) -> std::io::Result<HostSock> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrStorage,
    };
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(
        family,
        ty,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if proto == Proto::Tcp {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(match proto {
        Proto::Tcp => {
            listen(&fd, Backlog::MAXCONN)?;
            HostSock::Tcp(TcpListener::from(fd))
        }
        Proto::Udp => HostSock::Udp(Arc::new(UdpSocket::from(fd))),
    })
}

/// The lowest port an unprivileged process may bind (`net.ipv4.ip_unprivileged_port_start`).
fn unprivileged_port_start() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The caller's running (or restarting) container that publishes `port` of `m`'s protocol on
/// an address `m` listens on, if any (a host port in use is then named by its container).
fn own_holder(m: &Publish, port: u16) -> Option<String> {
    let one = Publish {
        host: burrow_usernet::ports::PortRange {
            start: port,
            end: port,
        },
        ctr: burrow_usernet::ports::PortRange {
            start: port,
            end: port,
        },
        ..*m
    };
    crate::state::Dir::all().ok()?.into_iter().find_map(|d| {
        let mut st = d.read().ok()?;
        st.refresh();
        if !matches!(
            st.status,
            crate::state::Status::Running | crate::state::Status::Restarting
        ) {
            return None;
        }
        let c = d.config().ok()?;
        c.publish
            .iter()
            .any(|p| p.clashes(&one))
            .then(|| d.name.clone())
    })
}

fn bind_error(m: &Publish, addr: SocketAddr, e: &std::io::Error) -> Error {
    let (proto, ip, port) = (m.proto, addr.ip(), addr.port());
    err(match e.raw_os_error() {
        Some(libc::EADDRINUSE) => match own_holder(m, port) {
            Some(name) => format!(
                "cannot publish {m}: host port {port}/{proto} is already published by your container {name}"
            ),
            None => format!(
                "cannot publish {m}: host port {port}/{proto} is in use (on {ip}): choose another host port, or stop what holds it"
            ),
        },
        Some(libc::EACCES) => {
            let start = unprivileged_port_start()
                .map_or_else(|| "?".to_owned(), |s| s.to_string());
            format!(
                "cannot publish {m}: host port {port}/{proto} is below net.ipv4.ip_unprivileged_port_start ({start}), which only privileged processes may bind: choose a host port of {start} or above, ask the admin to lower it (sysctl net.ipv4.ip_unprivileged_port_start={port}), or use the kernel path (--net bridge with a port grant: burrow admin add-user --ports)"
            )
        }
        Some(libc::EADDRNOTAVAIL) => format!(
            "cannot publish {m}: {ip} is not an address of this host"
        ),
        _ => format!("cannot publish {m}: cannot listen on {addr}/{proto}: {e}"),
    })
}

impl Listeners {
    /// What the user is told once at start: the container sees the forwarder, not the client.
    pub(crate) fn notice(&self) -> String {
        let list: Vec<String> = self.mappings.iter().map(ToString::to_string).collect();
        format!(
            "published ports {} are forwarded in user space (--net none or --publish-mode user): the container sees connections from 127.0.0.1 (the forwarder), not the client's address; to keep the client's address use the kernel path: --net bridge with a port grant (burrow admin add-user --ports)",
            list.join(", ")
        )
    }

    /// Forks the forwarder for a started container (`pid`, our unreaped child; with `init`
    /// its command is joined, as `burrow exec` does). It is killed when the returned handle
    /// is dropped. Returns once it is in the container's namespaces.
    pub(crate) fn spawn(&self, pid: i32, init: bool) -> Result<Container, Error> {
        let target = crate::exec::join_target(pid, init)
            .ctx(|| "cannot forward the published ports: the container is gone".into())?;
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
        let me = nix::unistd::getpid();
        match burrow_sys::rt::clone_fork(0).ctx(|| "cannot fork the port forwarder".into())? {
            burrow_sys::rt::Forked::Child => {
                drop(report_r);
                forwarder(&self.ports, me, &target, report_w)
            }
            burrow_sys::rt::Forked::Parent { pid, pidfd } => {
                drop(report_w);
                drop(target);
                let fwd = Container {
                    pid,
                    pidfd,
                    reaped: false,
                    cgroup: None,
                    published: None,
                };
                // The child only joins two namespaces and writes; a child stopped on the
                // way (SIGSTOP from the user) is killed when `fwd` drops.
                let Some(answer) = crate::bounded::read_within(report_r, FORWARDER_REPORT) else {
                    return Err(err(format!(
                        "cannot forward the published ports: the forwarder (pid {pid}) did not \
                         join the container's network namespace within {} s; it was killed",
                        FORWARDER_REPORT.as_secs()
                    )));
                };
                let answer = String::from_utf8_lossy(&answer);
                match answer.strip_prefix("OK") {
                    Some(_) => Ok(fwd),
                    None if answer.is_empty() => Err(err(
                        "cannot forward the published ports: the forwarder died",
                    )),
                    None => Err(err(format!("cannot forward the published ports: {answer}"))),
                }
            }
        }
    }
}

/// The forwarder process: joins the container's user and network namespaces, reports, then
/// relays until it is killed.
fn forwarder(ports: &[Port], parent: nix::unistd::Pid, target: &OwnedFd, report: OwnedFd) -> ! {
    let joined = (|| -> Result<(), Error> {
        // Only the host sockets and the report pipe: no copy of the monitor's other
        // descriptors (the caller's start pipe, the container's output) may outlive it here.
        let mut keep: Vec<std::os::fd::RawFd> =
            ports.iter().map(|p| p.sock.fd().as_raw_fd()).collect();
        keep.extend([target.as_raw_fd(), report.as_raw_fd()]);
        burrow_sys::close_fds_from_3_except_all(&keep).ctx(|| "close_range".into())?;
        burrow_sys::rt::set_pdeathsig(libc::SIGKILL).ctx(|| "PR_SET_PDEATHSIG".into())?;
        if nix::unistd::getppid() != parent {
            return Err(err("its parent is gone"));
        }
        // `ps` and /proc/PID/comm say what it is.
        let _ = nix::sys::prctl::set_name(c"burrow-portfwd");
        // Nothing in the container may ptrace it once it is in the container's user namespace.
        burrow_sys::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE".into())?;
        nix::sched::setns(
            target.as_fd(),
            nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNET,
        )
        .ctx(|| "cannot join the container's network namespace".into())
    })();
    // Up to MAX_FLOWS connections of two descriptors each, beside the host sockets: the soft
    // descriptor limit (often 1024) is raised to the hard one.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let mut report = std::fs::File::from(report);
    match joined {
        Ok(()) => {
            let _ = report.write_all(b"OK");
            drop(report);
            relay(ports);
            burrow_sys::rt::exit_now(0)
        }
        Err(e) => {
            let _ = report.write_all(e.msg.as_bytes());
            burrow_sys::rt::exit_now(1)
        }
    }
}

/// One UDP client's flow: its socket inside the container and when it last carried data.
#[derive(Debug)]
struct Flow {
    inner: UdpSocket,
    last: Mutex<Instant>,
}

/// A flow's key: the host socket, the client, and the host address it wrote to (with
/// IP_PKTINFO or IPV6_RECVPKTINFO).
type FlowKey = (usize, SocketAddr, Option<IpAddr>);

type Flows = Arc<Mutex<HashMap<FlowKey, Arc<Flow>>>>;

/// Reads one datagram: its length, sender and (with `pktinfo`) the host address it was sent
/// to; `None` when there is none to read.
fn recv_udp(
    s: &UdpSocket,
    buf: &mut [u8],
    pktinfo: bool,
) -> Option<(usize, SocketAddr, Option<IpAddr>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    if !pktinfo {
        let (n, from) = s.recv_from(buf).ok()?;
        return Some((n, from, None));
    }
    // Room for either family's (the socket has one).
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::in_pktinfo);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let r = recvmsg::<SockaddrStorage>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .ok()?;
    let a = r.address?;
    let from = match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
        (Some(v4), _) => SocketAddr::V4((*v4).into()),
        (_, Some(v6)) => SocketAddr::V6((*v6).into()),
        _ => return None,
    };
    let local = r.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4PacketInfo(pi) => Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
            pi.ipi_spec_dst.s_addr,
        )))),
        ControlMessageOwned::Ipv6PacketInfo(pi) => {
            Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)))
        }
        _ => None,
    });
    Some((r.bytes, from, local))
}

/// Sends a reply to `to` from the published port (and from host address `local` when known).
fn send_udp(host: &UdpSocket, data: &[u8], to: SocketAddr, local: Option<IpAddr>) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn, SockaddrIn6};
    let iov = [std::io::IoSlice::new(data)];
    match (local, to) {
        (Some(IpAddr::V4(l)), SocketAddr::V4(v4)) => {
            let pi = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(l).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            let _ = sendmsg(
                host.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&pi)],
                MsgFlags::empty(),
                Some(&SockaddrIn::from(v4)),
            );
        }
        (Some(IpAddr::V6(l)), SocketAddr::V6(v6)) => {
            let pi = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: l.octets(),
                },
                ipi6_ifindex: 0,
            };
            let _ = sendmsg(
                host.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&pi)],
                MsgFlags::empty(),
                Some(&SockaddrIn6::from(v6)),
            );
        }
        _ => {
            let _ = host.send_to(data, to);
        }
    }
}

/// The forwarder's loop: waits on every host socket; a TCP connection gets a thread pair, a
/// UDP client a flow.
fn relay(ports: &[Port]) {
    let active = Arc::new(AtomicUsize::new(0));
    let flows: Flows = Arc::new(Mutex::new(HashMap::new()));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds: Vec<PollFd<'_>> = ports
            .iter()
            .map(|p| PollFd::new(p.sock.fd(), PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (i, p) in ports.iter().enumerate() {
            if !ready.get(i).copied().unwrap_or(false) {
                continue;
            }
            match &p.sock {
                HostSock::Tcp(l) => loop {
                    match l.accept() {
                        Ok((client, _)) => accept_tcp(client, p.ctr, &active),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            // Out of descriptors or memory: the connection waits in the
                            // queue; do not spin on it.
                            std::thread::sleep(Duration::from_millis(100));
                            break;
                        }
                    }
                },
                HostSock::Udp(s) => {
                    while let Some((n, from, local)) = recv_udp(s, &mut buf, p.pktinfo) {
                        let data = buf.get(..n).unwrap_or_default();
                        udp_datagram(s, (i, from, local), p.ctr, data, &flows, &active);
                    }
                }
            }
        }
    }
}

/// Takes a slot of [`MAX_FLOWS`]; false when all are in use.
fn take_slot(active: &AtomicUsize) -> bool {
    active
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < MAX_FLOWS).then_some(n + 1)
        })
        .is_ok()
}

fn spawn_thread(f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(f)
        .is_ok()
}

fn accept_tcp(client: TcpStream, ctr: u16, active: &Arc<AtomicUsize>) {
    if !take_slot(active) {
        return;
    }
    let slot = Arc::clone(active);
    let spawned = spawn_thread(move || {
        tcp_connection(client, ctr);
        slot.fetch_sub(1, Ordering::SeqCst);
    });
    if !spawned {
        active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One TCP connection: connects to 127.0.0.1:CTRPORT inside, copies both ways; each end's
/// end of file becomes a half-close of the other; an error closes both.
fn tcp_connection(client: TcpStream, ctr: u16) {
    if client.set_nonblocking(false).is_err() {
        return;
    }
    let Ok(inner) = TcpStream::connect((Ipv4Addr::LOCALHOST, ctr)) else {
        // Nothing listens inside: the client sees the connection closed.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = inner.set_nodelay(true);
    // Shared, not duplicated: two descriptors per connection.
    let (client, inner) = (Arc::new(client), Arc::new(inner));
    let (c2, i2) = (Arc::clone(&client), Arc::clone(&inner));
    let up = std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(move || pipe_half(&c2, &i2));
    match up {
        Ok(h) => {
            pipe_half(&inner, &client);
            let _ = h.join();
        }
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            let _ = inner.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until end of file (then half-closes `to`) or an error (then closes
/// both).
fn pipe_half(from: &TcpStream, to: &TcpStream) {
    let (mut from_r, mut to_w) = (from, to);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from_r.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to_w.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A datagram of flow `key` (host socket, client, host address): to the client's flow (made
/// on its first).
fn udp_datagram(
    host: &Arc<UdpSocket>,
    key: FlowKey,
    ctr: u16,
    data: &[u8],
    flows: &Flows,
    active: &Arc<AtomicUsize>,
) {
    let mut map = flows.lock().unwrap_or_else(|e| e.into_inner());
    let flow = match map.get(&key) {
        Some(f) => Arc::clone(f),
        None => {
            if !take_slot(active) {
                return;
            }
            let made = (|| {
                let inner = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
                inner.connect((Ipv4Addr::LOCALHOST, ctr)).ok()?;
                let back = Arc::clone(host);
                let flow = Arc::new(Flow {
                    inner,
                    last: Mutex::new(Instant::now()),
                });
                let (f2, flows2, slot) = (Arc::clone(&flow), Arc::clone(flows), Arc::clone(active));
                spawn_thread(move || {
                    udp_replies(&f2, &back, &flows2, key);
                    slot.fetch_sub(1, Ordering::SeqCst);
                })
                .then_some(flow)
            })();
            let Some(flow) = made else {
                active.fetch_sub(1, Ordering::SeqCst);
                return;
            };
            map.insert(key, Arc::clone(&flow));
            flow
        }
    };
    *flow.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    drop(map);
    let _ = flow.inner.send(data);
}

/// A flow's replies back to its client, until it has been idle for [`UDP_IDLE`].
fn udp_replies(flow: &Flow, host: &UdpSocket, flows: &Flows, key: FlowKey) {
    let (_, client, local) = key;
    let mut buf = vec![0u8; 64 * 1024];
    let idle_for = || {
        flow.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    };
    loop {
        let idle = idle_for();
        if idle >= UDP_IDLE {
            let mut map = flows.lock().unwrap_or_else(|e| e.into_inner());
            // Checked again under the map's lock: a datagram may just have used the flow.
            if idle_for() >= UDP_IDLE {
                map.remove(&key);
                return;
            }
            continue;
        }
        let wait = UDP_IDLE.saturating_sub(idle).max(Duration::from_millis(10));
        if flow.inner.set_read_timeout(Some(wait)).is_err() {
            break;
        }
        match flow.inner.recv(&mut buf) {
            Ok(n) => {
                *flow.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                send_udp(host, buf.get(..n).unwrap_or_default(), client, local);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(_) => break,
        }
    }
    flows.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(net: burrow_config::NetMode, mode: PublishMode) -> RunConfig {
        RunConfig {
            net,
            publish_mode: mode,
            publish: vec![Publish::parse("8080:80").unwrap_or_else(|e| panic!("{e}"))],
            ..RunConfig::default()
        }
    }

    #[test]
    fn user_path_is_chosen_for_none_and_when_asked() {
        use burrow_config::NetMode::{Bridge, None as NoNet};
        assert_eq!(user_mappings(&config(NoNet, PublishMode::Auto)).len(), 1);
        assert_eq!(user_mappings(&config(Bridge, PublishMode::User)).len(), 1);
        assert!(user_mappings(&config(Bridge, PublishMode::Auto)).is_empty());
        assert!(user_mappings(&config(Bridge, PublishMode::Kernel)).is_empty());
    }

    #[test]
    fn slots_are_bounded() {
        let a = AtomicUsize::new(MAX_FLOWS - 1);
        assert!(take_slot(&a));
        assert!(!take_slot(&a));
        assert_eq!(a.load(Ordering::SeqCst), MAX_FLOWS);
    }

    #[test]
    fn bind_names_a_port_in_use() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("{e}"));
        let port = held.local_addr().map(|a| a.port()).unwrap_or(0);
        let m = Publish::parse(&format!("127.0.0.1:{port}:80")).unwrap_or_else(|e| panic!("{e}"));
        let e = bind(&[m]).err().map(|e| e.msg).unwrap_or_default();
        assert!(
            e.contains(&format!("host port {port}/tcp is in use")),
            "{e}"
        );
    }

    /// A port free on both families' loopback (for TCP and UDP) at the time of asking.
    fn free_port() -> u16 {
        loop {
            let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap_or_else(|e| panic!("{e}"));
            let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
            if UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).is_ok() {
                return port;
            }
        }
    }

    fn local(p: &Port) -> SocketAddr {
        match &p.sock {
            HostSock::Tcp(l) => l.local_addr(),
            HostSock::Udp(s) => s.local_addr(),
        }
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn v6only(p: &Port) -> bool {
        nix::sys::socket::getsockopt(&p.sock.fd(), nix::sys::socket::sockopt::Ipv6V6Only)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_address_binds_each_family_and_an_address_only_itself() {
        if !ipv6_enabled() {
            eprintln!("SKIP: this host has no IPv6");
            return;
        }
        let port = free_port();
        let p = |s: &str| Publish::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let l = bind(&[p(&format!("{port}:80")), p(&format!("{port}:53/udp"))])
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("nothing bound"));
        let got: Vec<(String, bool, bool)> = l
            .ports
            .iter()
            .map(|x| {
                let v6 = local(x).is_ipv6();
                (local(x).to_string(), v6 && v6only(x), x.pktinfo)
            })
            .collect();
        assert_eq!(
            got,
            [
                (format!("0.0.0.0:{port}"), false, false),
                (format!("[::]:{port}"), true, false),
                (format!("0.0.0.0:{port}"), false, true),
                (format!("[::]:{port}"), true, true),
            ]
        );
        drop(l);
        let l = bind(&[
            p(&format!("[::1]:{port}:80/udp")),
            p(&format!("[::]:{port}:80")),
            p(&format!("0.0.0.0:{port}:80")),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("nothing bound"));
        let got: Vec<(String, bool)> = l
            .ports
            .iter()
            .map(|x| (local(x).to_string(), x.pktinfo))
            .collect();
        assert_eq!(
            got,
            [
                (format!("[::1]:{port}"), false),
                (format!("[::]:{port}"), false),
                (format!("0.0.0.0:{port}"), false),
            ]
        );
        assert!(l.ports.iter().take(2).all(v6only));
        drop(l);
        // An address the host does not have.
        let e = bind(&[p(&format!("[2001:db8::77]:{port}:80"))])
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert_eq!(
            e,
            format!("cannot publish [2001:db8::77]:{port}:80/tcp: 2001:db8::77 is not an address of this host")
        );
        // In use on [::1]: named with its address.
        let held = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).unwrap_or_else(|e| panic!("{e}"));
        let e = bind(&[p(&format!("{port}:80"))])
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert!(
            e.starts_with(&format!(
                "cannot publish {port}:80/tcp: host port {port}/tcp is in use (on ::): "
            )),
            "{e}"
        );
        drop(held);
    }

    #[test]
    fn udp_on_every_ipv6_address_replies_from_the_address_written_to() {
        if !ipv6_enabled() {
            eprintln!("SKIP: this host has no IPv6");
            return;
        }
        let port = free_port();
        let m = Publish::parse(&format!("[::]:{port}:53/udp")).unwrap_or_else(|e| panic!("{e}"));
        let l = bind(&[m])
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("nothing bound"));
        let (Some(port0), HostSock::Udp(host)) = (l.ports.first(), &l.ports[0].sock) else {
            panic!("not one UDP socket: {:?}", l.ports);
        };
        assert!(port0.pktinfo);
        let client = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("{e}"));
        client
            .connect((Ipv6Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("{e}"));
        client.send(b"hi").unwrap_or_else(|e| panic!("{e}"));
        let mut fds = [PollFd::new(host.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 64];
        let (n, from, to) = recv_udp(host, &mut buf, true).unwrap_or_else(|| panic!("no datagram"));
        assert_eq!(buf.get(..n), Some(&b"hi"[..]));
        assert_eq!(from, client.local_addr().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(to, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        send_udp(host, b"back", from, to);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        // A connected socket takes only what comes from [::1]:PORT.
        let n = client.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(buf.get(..n), Some(&b"back"[..]));
    }

    /// A network namespace with IPv6 disabled (its own, in a thread of this test: the
    /// forwarder's sockets are made in the monitor's namespace, read through /proc/sys of the
    /// calling thread's): a mapping without a host address gets its IPv4 socket only.
    #[test]
    fn a_host_with_ipv6_disabled_gets_the_ipv4_socket_only() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: needs root (a network namespace of its own)");
            return;
        }
        let got = std::thread::spawn(|| -> Result<Vec<String>, String> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
            assert!(ipv6_enabled(), "a new namespace has IPv6");
            std::fs::write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1")
                .map_err(|e| e.to_string())?;
            assert!(!ipv6_enabled());
            let p = |s: &str| Publish::parse(s).unwrap_or_else(|e| panic!("{e}"));
            let l = bind(&[p("18999:80"), p("18999:53/udp")])
                .map_err(|e| e.msg)?
                .ok_or("nothing bound")?;
            Ok(l.ports.iter().map(|x| local(x).to_string()).collect())
        })
        .join()
        .unwrap_or_else(|_| Err("the thread panicked".into()));
        assert_eq!(
            got,
            Ok(vec!["0.0.0.0:18999".to_owned(), "0.0.0.0:18999".to_owned()])
        );
    }
}
