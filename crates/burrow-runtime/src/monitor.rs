//! Detached containers: one small monitor process per container (like conmon or LXC's
//! monitor). It is the container's parent: it holds the pty (with `-t`), writes the output to
//! a size-bounded log, serves `burrow attach`, reaps the container and records its exit
//! status. It runs in its own session, so closing the terminal does not touch it; if it is
//! killed, the container dies with it (parent-death signal) and `burrow ls` shows the truth.

use crate::image::ImageRoot;
use crate::run::{self, block_signals, prepare, Prepared};
use crate::state::{self, Dir, State, Status};
use crate::{err, tty, Ctx, Error};
use burrow_config::RunSpec;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

/// Default size of a log file before it is rotated (one old file is kept).
pub const LOG_MAX: u64 = 1024 * 1024;

/// Attach protocol, client to monitor: frames of `[kind, len_hi, len_lo, payload...]`.
pub(crate) mod frame {
    /// Terminal input.
    pub const INPUT: u8 = b'i';
    /// Window size: rows and columns, big-endian u16 each.
    pub const WINSIZE: u8 = b'w';
    /// The client's first frame: no output reaches it before. Empty: live output only; 16
    /// bytes (a [`super::LogPos`]: inode and offset, big-endian u64 each): first what the log
    /// holds from there (at most [`super::REPLAY_MAX`] bytes, the last ones), then live.
    pub const START: u8 = b's';
}

/// The most a client's START frame replays: a few screens (the rest is in `burrow logs`).
pub const REPLAY_MAX: usize = 32 * 1024;

/// A place in a container's log (`ctr.log`, rotated to `ctr.log.1`): its inode and an offset.
/// After two rotations its file is gone, and a new log file may get the same inode number:
/// the place then looks current and up to its offset is skipped (only after more than twice
/// [`LOG_MAX`] of output since the place was taken).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogPos {
    pub(crate) ino: u64,
    pub(crate) off: u64,
}

impl LogPos {
    /// The end of the log as it is now (the start of an empty log if there is none).
    pub fn now(dir: &Dir) -> LogPos {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir.data_file("ctr.log"))
            .map(|m| LogPos {
                ino: m.ino(),
                off: m.len(),
            })
            .unwrap_or_default()
    }

    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ino.to_be_bytes());
        b[8..].copy_from_slice(&self.off.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<LogPos> {
        let ino = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let off = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(LogPos { ino, off })
    }

    /// What the log `path` (and its rotated `.1`) holds after this place, at most `max`
    /// bytes (the last ones). A place in neither file (both rotated away since): all of
    /// `path`.
    pub fn since(self, path: &std::path::Path, max: usize) -> Vec<u8> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt;
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        let read_from = |p: &std::path::Path, ino: Option<u64>, off: u64| -> Option<Vec<u8>> {
            let mut f = fs::File::open(p).ok()?;
            let m = f.metadata().ok()?;
            if ino.is_some_and(|i| i != m.ino()) {
                return None;
            }
            // Keep only the last `max` bytes: skip ahead rather than read them.
            let start = off.max(m.len().saturating_sub(max as u64));
            f.seek(SeekFrom::Start(start)).ok()?;
            let mut out = Vec::new();
            f.take(max as u64).read_to_end(&mut out).ok()?;
            Some(out)
        };
        let cur = std::path::Path::new(path);
        if let Some(b) = read_from(cur, Some(self.ino), self.off) {
            return b;
        }
        let mut out =
            read_from(std::path::Path::new(&old), Some(self.ino), self.off).unwrap_or_default();
        out.extend(read_from(cur, None, 0).unwrap_or_default());
        let cut = out.len().saturating_sub(max);
        out.split_off(cut)
    }
}

/// `burrow create`: records a container without starting it. Returns its name. `image`: the
/// front end's resolution of the spec's image (kept as `image.json` beside the config).
pub fn create(mut spec: RunSpec, image: Option<&ImageRoot>) -> Result<String, Error> {
    // Everything that can be checked now is (rootfs, capabilities, seccomp, helpers).
    let checked = prepare(&spec, image, None)?;
    if spec.config().upper_size.is_some() {
        tracing::warn!(
            "--upper-size applies to foreground image runs only: a created or detached container keeps what it writes on disk, in its own directory, until burrow rm"
        );
    }
    let command = checked.spec.config().command.clone();
    let name = match &spec.name {
        Some(n) => n.clone(),
        None => state::random_name(),
    };
    spec.set_name(name.clone());
    let config = spec.config();
    let dir = Dir::create(&name)?;
    let made = (|| {
        state::write_config(&dir, &config.to_toml())?;
        let mut st = State::new(&name, Status::Created, config, state::now());
        if let Some(img) = image {
            crate::image::save(&dir.data, img)?;
            st.command = command;
            st.image = Some(img.id.clone());
            st.stop_signal = img.stop_signal.clone().filter(|s| !s.is_empty());
        }
        dir.write(&st)
    })();
    if let Err(e) = made {
        let _ = dir.remove();
        return Err(e);
    }
    Ok(name)
}

/// `burrow run -d`: create and start; on failure nothing is left.
pub fn run_detached(spec: RunSpec, image: Option<&ImageRoot>) -> Result<String, Error> {
    let name = create(spec, image)?;
    if let Err(e) = start(&name) {
        if let Ok(d) = Dir::open(&name) {
            let _ = d.remove();
        }
        return Err(e);
    }
    Ok(name)
}

/// `burrow start`: starts a created (or stopped) container under a new monitor and returns
/// once its command runs.
pub fn start(name: &str) -> Result<(), Error> {
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    match st.status {
        Status::Running => return Err(err(format!("container {name} is already running"))),
        Status::Restarting => {
            return Err(err(format!(
                "container {name} is restarting (its restart policy): burrow stop {name} first to start it anew"
            )))
        }
        _ => {}
    }
    let spec = dir.config()?.validate().map_err(|e| err(e.to_string()))?;
    let image = crate::image::load(&dir.data)?;
    if matches!(spec.root(), burrow_config::Root::Image(_)) && image.is_none() {
        return Err(err(format!(
            "container {name} was made from an image but its image.json is missing: remove it and create it again"
        )));
    }
    let prepared = prepare(&spec, image.as_ref(), Some(&dir.data))?;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    match burrow_sys::rt::clone_fork(0).ctx(|| "fork".into())? {
        burrow_sys::rt::Forked::Child => {
            drop(ready_r);
            let code = monitor(&dir, prepared, ready_w, spec.rm).unwrap_or(125);
            burrow_sys::rt::exit_now(code)
        }
        burrow_sys::rt::Forked::Parent { .. } => {
            drop(ready_w);
            let mut answer = String::new();
            let _ = fs::File::from(ready_r).read_to_string(&mut answer);
            match answer.strip_prefix("OK") {
                Some(rest) => {
                    for w in rest.lines().filter(|l| !l.is_empty()) {
                        tracing::warn!("{w}");
                    }
                    Ok(())
                }
                None if answer.is_empty() => {
                    Err(err(format!("the monitor of {name} died while starting it")))
                }
                None => Err(Error {
                    code: 125,
                    msg: answer,
                }),
            }
        }
    }
}

/// The monitor's life. Reports "OK" or the error on `ready` once the command runs.
fn monitor(dir: &Dir, mut prepared: Prepared, ready: OwnedFd, rm: bool) -> Result<i32, Error> {
    // The monitor outlives the caller: keep none of its descriptors (a pipe the caller is
    // read through, a jobserver, ...), only the one that reports the start.
    let _ = burrow_sys::close_fds_from_3_except(Some(ready.as_raw_fd()));
    let mut ready = Some(fs::File::from(ready));
    let fail = |ready: &mut Option<fs::File>, e: Error| -> Error {
        if let Some(mut r) = ready.take() {
            let _ = r.write_all(e.msg.as_bytes());
        }
        e
    };
    // Our own session, no terminal, stdio on /dev/null: the caller's terminal can go away.
    let _ = nix::unistd::setsid();
    if let Ok(null) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(null.as_fd());
        let _ = nix::unistd::dup2_stdout(null.as_fd());
        let _ = nix::unistd::dup2_stderr(null.as_fd());
    }
    let sfd = block_signals().map_err(|e| fail(&mut ready, e))?;
    let policy = prepared.spec.config().restart;
    // Published ports in user space: bound once, kept across restarts (portfwd).
    let ports = crate::portfwd::bind(&crate::portfwd::user_mappings(prepared.spec.config()))
        .map_err(|e| fail(&mut ready, e))?;
    let init = prepared.spec.config().init;
    let mut log =
        LogFile::open(dir.data_file("ctr.log"), LOG_MAX).map_err(|e| fail(&mut ready, e))?;
    let mut backoff = crate::restart::Backoff::new();
    let mut restarts = false;
    let code = loop {
        // A restart holds the lock from its last look for a stop until the new pid is recorded.
        let guard = if restarts {
            let g = dir.lock()?;
            if !crate::restart::still_wanted(dir)? {
                break None;
            }
            Some(g)
        } else {
            None
        };
        let mut out_r = None;
        if !prepared.spec.config().tty {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| fail(&mut ready, err(format!("pipe: {e}"))))?;
            prepared.spec.process.output = Some(w);
            out_r = Some(r);
        }
        let started = run::start(&prepared);
        // Only the container may hold the write end now, so its exit closes the pipe.
        drop(prepared.spec.process.output.take());
        let mut started = match started {
            Ok(s) => s,
            Err(e) if restarts => {
                log.write(format!("burrow: cannot restart the container: {}\n", e.msg).as_bytes());
                let mut st = dir.read()?;
                st.status = Status::Stopped;
                dir.write(&st)?;
                break Some(125);
            }
            Err(e) => return Err(fail(&mut ready, e)),
        };
        // A new forwarder for each start: it joins this run's network namespace.
        let mut forwarder = match ports
            .as_ref()
            .map(|p| crate::forwarder::Forwarder::start(p, started.container.pid, init))
        {
            Some(Ok(f)) => Some(f),
            None => None,
            Some(Err(e)) if restarts => {
                log.write(format!("burrow: {}\n", e.msg).as_bytes());
                None
            }
            Some(Err(e)) => return Err(fail(&mut ready, e)),
        };
        if let (Some(p), false) = (ports.as_ref(), restarts) {
            started.warnings.push(p.notice());
        }
        let out: Option<OwnedFd> = out_r.or(started.master.take());
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        let pid = started.container.pid;
        let record = |st: &mut State| {
            st.status = Status::Running;
            st.started = Some(state::now());
            st.finished = None;
            st.exit_code = None;
            st.pid = Some(pid);
            st.pid_start = state::start_time(pid);
            st.monitor_pid = Some(me);
            st.monitor_start = state::start_time(me);
            st.uid_map = started.plan.lines(false);
            st.gid_map = started.plan.lines(true);
            st.nic = started.nic.clone();
            if restarts {
                st.restart_count += 1;
            } else {
                st.restart_count = 0;
                st.stopped_by_user = false;
            }
        };
        let st = match guard {
            Some(_) => {
                let mut st = dir.read()?;
                record(&mut st);
                dir.write(&st).map(|()| st)
            }
            None => dir.update(record),
        }
        .map_err(|e| fail(&mut ready, e))?;
        drop(guard);
        let listener = if st.tty {
            let path = dir.file("attach.sock");
            let _ = fs::remove_file(&path);
            let l = UnixListener::bind(&path)
                .map_err(|e| fail(&mut ready, err(format!("attach socket: {e}"))))?;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
            let _ = l.set_nonblocking(true);
            Some(l)
        } else {
            None
        };
        if let Some(mut r) = ready.take() {
            // systemd (a generated unit's PIDFile=) follows the monitor from here on.
            let _ = fs::write(dir.file("monitor.pid"), format!("{me}\n"));
            let mut ok = b"OK".to_vec();
            for w in &started.warnings {
                ok.push(b'\n');
                ok.extend_from_slice(w.replace('\n', " ").as_bytes());
            }
            let _ = r.write_all(&ok);
        }
        let began = std::time::Instant::now();
        let code = serve(
            &mut started.container,
            out.as_ref(),
            st.tty,
            listener.as_ref(),
            &sfd,
            &mut log,
            forwarder.as_mut(),
        )
        .ok();
        let ran = began.elapsed();
        // Every forwarded connection ends with the container.
        drop(forwarder);
        // Reaped: its cgroup goes now, before a new one of the same name is made.
        drop(started);
        drop(listener);
        let _ = fs::remove_file(dir.file("attach.sock"));
        if !crate::restart::record_exit(dir, policy, code)? {
            break code;
        }
        if !crate::restart::wait(dir, backoff.after(ran), &sfd) {
            let _ = dir.update(|st| st.status = Status::Stopped);
            break code;
        }
        restarts = true;
    };
    let _ = fs::remove_file(dir.file("monitor.pid"));
    let by_user = dir.read().map(|s| s.stopped_by_user).unwrap_or(false);
    if rm {
        let _ = dir.clone().remove();
    }
    // The monitor's own status, for systemd: 0 after a stop by the user (so a unit with
    // Restart=on-failure does not undo it), else the container's.
    Ok(if by_user { 0 } else { code.unwrap_or(125) })
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    /// Its START frame came: it gets output from now on.
    started: bool,
}

/// The monitor's loop: output to the log and attached clients, client input to the pty,
/// signals to the container, until it exits.
fn serve(
    c: &mut run::Container,
    out: Option<&OwnedFd>,
    is_tty: bool,
    listener: Option<&UnixListener>,
    sfd: &nix::sys::signalfd::SignalFd,
    log: &mut LogFile,
    mut forwarder: Option<&mut crate::forwarder::Forwarder<'_>>,
) -> Result<i32, Error> {
    let mut clients: Vec<Client> = Vec::new();
    let mut out_open = out.is_some();
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(c.pidfd.as_fd(), PollFlags::POLLIN),
        ];
        let out_idx = fds.len();
        if let Some(o) = out.filter(|_| out_open) {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
        }
        let l_idx = fds.len();
        if let Some(l) = listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        let c_idx = fds.len();
        for cl in &clients {
            fds.push(PollFd::new(cl.stream.as_fd(), PollFlags::POLLIN));
        }
        let f_idx = fds.len();
        if let Some(fd) = forwarder.as_ref().and_then(|f| f.pidfd()) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let wake = crate::forwarder::poll_timeout(forwarder.as_ref().and_then(|f| f.timeout()));
        match poll(&mut fds, wake) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(format!("poll: {e}"))),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
                // The monitor has no terminal: SIGHUP and SIGWINCH mean nothing to it.
                if sig != libc::SIGCHLD && sig != libc::SIGHUP && sig != libc::SIGWINCH && sig != 0
                {
                    let _ = burrow_sys::pidfd_send_signal(c.pidfd.as_fd(), sig);
                }
            }
        }
        if let Some(o) = out.filter(|_| out_open && ready.get(out_idx) == Some(&true)) {
            out_open = copy_out(o, log, &mut clients);
        }
        if let Some(l) = listener.filter(|_| ready.get(l_idx) == Some(&true)) {
            while let Ok((s, _)) = l.accept() {
                let _ = s.set_nonblocking(true);
                clients.push(Client {
                    stream: s,
                    inbuf: Vec::new(),
                    started: false,
                });
            }
        }
        let mut keep = Vec::with_capacity(clients.len());
        for (i, mut cl) in clients.drain(..).enumerate() {
            if ready.get(c_idx + i) == Some(&true)
                && !client_input(&mut cl, out.filter(|_| is_tty), log)
            {
                continue;
            }
            keep.push(cl);
        }
        clients = keep;
        if ready[1] {
            if let Some(o) = out.filter(|_| out_open) {
                let _ = nix::fcntl::fcntl(
                    o.as_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while copy_out(o, log, &mut clients) {}
            }
            return c.wait();
        }
        // Its pidfd, or its restart due (not once the container is gone): cheap enough to
        // look each time round.
        if let Some(f) = forwarder.as_mut() {
            let exited = f.pidfd().is_some() && ready.get(f_idx) == Some(&true);
            f.tend(exited, &mut |line| {
                log.write(format!("{line}\n").as_bytes())
            });
        }
    }
}

/// Output of the container to the log and the clients; false at end of file.
fn copy_out(o: &OwnedFd, log: &mut LogFile, clients: &mut Vec<Client>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match nix::unistd::read(o.as_fd(), &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            log.write(&buf[..n]);
            clients.retain_mut(|cl| !cl.started || cl.stream.write_all(&buf[..n]).is_ok());
            true
        }
    }
}

/// Input frames of one client; false when it is gone.
fn client_input(cl: &mut Client, master: Option<&OwnedFd>, log: &LogFile) -> bool {
    let mut buf = [0u8; 4096];
    match cl.stream.read(&mut buf) {
        Ok(0) => return false,
        Ok(n) => cl.inbuf.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    while cl.inbuf.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([cl.inbuf[1], cl.inbuf[2]]));
        if cl.inbuf.len() < 3 + len {
            break;
        }
        let payload: Vec<u8> = cl.inbuf[3..3 + len].to_vec();
        let kind = cl.inbuf[0];
        cl.inbuf.drain(..3 + len);
        if kind == frame::START && !cl.started {
            cl.started = true;
            if let Some(pos) = LogPos::decode(&payload) {
                // All of it was written to the log before anything that follows.
                let back = pos.since(&log.path, REPLAY_MAX);
                if cl.stream.write_all(&back).is_err() {
                    return false;
                }
            }
            continue;
        }
        let Some(m) = master else { continue };
        match kind {
            frame::INPUT => {
                let _ = nix::unistd::write(m.as_fd(), &payload);
            }
            frame::WINSIZE if payload.len() == 4 => {
                let ws = libc::winsize {
                    ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                    ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = burrow_sys::rt::set_winsize(m.as_fd(), &ws);
            }
            _ => {}
        }
    }
    true
}

/// A log file that never grows past `max`: when full it becomes `NAME.1` (replacing the
/// previous one) and a new file starts.
pub(crate) struct LogFile {
    path: std::path::PathBuf,
    file: Option<fs::File>,
    size: u64,
    max: u64,
}

impl LogFile {
    pub(crate) fn open(path: std::path::PathBuf, max: u64) -> Result<LogFile, Error> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ctx(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path,
            file: Some(file),
            size,
            max,
        })
    }

    pub(crate) fn write(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.size >= self.max {
                let mut old = self.path.clone().into_os_string();
                old.push(".1");
                let _ = fs::rename(&self.path, &old);
                self.file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .ok();
                self.size = 0;
            }
            let room = usize::try_from(self.max - self.size)
                .unwrap_or(usize::MAX)
                .max(1);
            let (now, rest) = data.split_at(data.len().min(room));
            if let Some(f) = &mut self.file {
                let _ = f.write_all(now);
            }
            self.size += now.len() as u64;
            data = rest;
        }
    }
}

/// `burrow attach`: connects the terminal to a running container started with `-t`.
/// ctrl-p ctrl-q detaches. Returns the container's exit status if it ends while attached,
/// or None on detach.
pub fn attach(name: &str) -> Result<Option<i32>, Error> {
    let dir = Dir::open(name)?;
    let st = dir.current()?;
    if st.status != Status::Running {
        return Err(err(format!("container {name} is not running")));
    }
    if !st.tty {
        return Err(err(format!("container {name} has no terminal (start it with -t to attach; use burrow logs -f {name} for its output)")));
    }
    let s =
        UnixStream::connect(dir.file("attach.sock")).ctx(|| format!("cannot attach to {name}"))?;
    let raw = tty::RawMode::enter();
    let relayed = relay_terminal(s, None)?;
    drop(raw);
    match relayed {
        Relayed::Detached => {
            eprintln!("\r\nburrow: detached from {name}");
            Ok(None)
        }
        Relayed::Ended { .. } => Ok(Some(recorded_exit(&dir)?)),
    }
}

/// `burrow start -a` of a container with `-t`, once started: its terminal from `from` (the
/// end of its log before the start, so nothing it printed before the attach is lost) through
/// every restart, until it stops for good. Its exit status, or 0 on detach.
pub fn attach_from(name: &str, from: LogPos) -> Result<i32, Error> {
    let dir = Dir::open(name)?;
    let log = dir.data_file("ctr.log");
    let mut pos = from;
    let mut out = std::io::stdout();
    // Raw for the whole attach, restarts included: nothing typed between two runs is echoed
    // or cooked by the local terminal.
    let raw = tty::RawMode::enter();
    // What the log holds past `pos`, printed; `pos` moves to its end.
    let mut catch_up = |pos: &mut LogPos| {
        let now = LogPos::now(&dir);
        let _ = out.write_all(&pos.since(&log, usize::MAX));
        let _ = out.flush();
        *pos = now;
    };
    loop {
        let st = dir.current()?;
        match st.status {
            Status::Running => {
                // The socket goes with the run: a failed connect means that run ended, and
                // its status changes next.
                let Ok(s) = UnixStream::connect(dir.file("attach.sock")) else {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                };
                match relay_terminal(s, Some(pos))? {
                    Relayed::Detached => {
                        drop(raw);
                        eprintln!("\r\nburrow: detached from {name}");
                        return Ok(0);
                    }
                    // Output came: the monitor replayed from `pos`, then sent the rest live.
                    Relayed::Ended { output: true } => pos = LogPos::now(&dir),
                    // Maybe it never read our START: what the run printed is in the log.
                    Relayed::Ended { output: false } => {}
                }
                let _ = recorded_exit(&dir);
            }
            Status::Restarting => {
                catch_up(&mut pos);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Status::Created | Status::Stopped => {
                catch_up(&mut pos);
                return Ok(st.exit_code.unwrap_or(0));
            }
        }
    }
}

/// Waits (at most 2 s) for the monitor to record the end of the run; its exit status.
fn recorded_exit(dir: &Dir) -> Result<i32, Error> {
    for _ in 0..100 {
        let st = dir.current()?;
        if st.status != Status::Running {
            return Ok(st.exit_code.unwrap_or(125));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(125)
}

/// How a terminal relay ended.
enum Relayed {
    /// ctrl-p ctrl-q.
    Detached,
    /// The run ended (the monitor closed the connection); whether any output came.
    Ended { output: bool },
}

/// Relays the terminal (the caller has put it in raw mode) to and from one run through its
/// attach socket `s`; `replay`: the log place to replay from (see [`frame::START`]).
fn relay_terminal(mut s: UnixStream, replay: Option<LogPos>) -> Result<Relayed, Error> {
    let sfd = block_signals()?;
    let mut hello = vec![frame::START, 0, 0];
    if let Some(p) = replay {
        hello[2] = 16;
        hello.extend_from_slice(&p.encode());
    }
    if s.write_all(&hello).is_err() {
        return Ok(Relayed::Ended { output: false });
    }
    let send_winsize = |s: &mut UnixStream| {
        if let Ok(ws) = burrow_sys::rt::get_winsize(std::io::stdin().as_fd()) {
            let mut f = vec![frame::WINSIZE, 0, 4];
            f.extend_from_slice(&ws.ws_row.to_be_bytes());
            f.extend_from_slice(&ws.ws_col.to_be_bytes());
            let _ = s.write_all(&f);
        }
    };
    send_winsize(&mut s);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut pending_ctrl_p = false;
    let mut stdin_open = true;
    let mut output = false;
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(s.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let Err(e) = poll(&mut fds, PollTimeout::NONE) {
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(err(format!("poll: {e}")));
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                if i32::try_from(info.ssi_signo) == Ok(libc::SIGWINCH) {
                    send_winsize(&mut s);
                }
            }
        }
        if ready[1] {
            let mut buf = [0u8; 16 * 1024];
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(Relayed::Ended { output }),
                Ok(n) => {
                    output = true;
                    let _ = stdout.write_all(&buf[..n]);
                    let _ = stdout.flush();
                }
            }
        }
        if ready.get(2) == Some(&true) {
            let mut buf = [0u8; 4096];
            let n = match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    continue;
                }
                Ok(n) => n,
            };
            let mut data = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                if pending_ctrl_p {
                    pending_ctrl_p = false;
                    if b == 0x11 {
                        return Ok(Relayed::Detached);
                    }
                    data.push(0x10);
                }
                if b == 0x10 {
                    pending_ctrl_p = true;
                } else {
                    data.push(b);
                }
            }
            for chunk in data.chunks(u16::MAX as usize) {
                let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_be_bytes();
                let mut f = vec![frame::INPUT, len[0], len[1]];
                f.extend_from_slice(chunk);
                if s.write_all(&f).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_rotation_bounds_size() {
        let d = std::env::temp_dir().join(format!("burrow-log-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let mut l = LogFile::open(d.join("ctr.log"), 100).unwrap();
        for _ in 0..25 {
            l.write(b"0123456789");
        }
        let cur = fs::metadata(d.join("ctr.log")).unwrap().len();
        let old = fs::metadata(d.join("ctr.log.1")).unwrap().len();
        assert_eq!((old, cur), (100, 50));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn log_places_survive_rotation() {
        use std::os::unix::fs::MetadataExt;
        let d = std::env::temp_dir().join(format!("burrow-logpos-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let path = d.join("ctr.log");
        let place = |p: &std::path::Path| {
            let m = fs::metadata(p).unwrap();
            LogPos {
                ino: m.ino(),
                off: m.len(),
            }
        };
        let mut l = LogFile::open(path.clone(), 10).unwrap();
        l.write(b"abc");
        let p1 = place(&path);
        l.write(b"defg");
        assert_eq!(p1.since(&path, usize::MAX), b"defg");
        assert_eq!(p1.since(&path, 2), b"fg", "only the last bytes");
        // Rotated: the rest of the old file, then the new one.
        l.write(b"hijklm");
        assert_eq!(p1.since(&path, usize::MAX), b"defghijklm");
        assert_eq!(p1.since(&path, 4), b"jklm");
        let p2 = place(&path);
        assert_eq!(p2.since(&path, usize::MAX), b"");
        // Round trip through a START frame's payload.
        assert_eq!(LogPos::decode(&p2.encode()), Some(p2));
        assert_eq!(LogPos::decode(&[0u8; 15]), None);
        fs::remove_dir_all(&d).unwrap();
    }
}
