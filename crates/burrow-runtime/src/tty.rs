//! The caller's side of `-t`: the local terminal in raw mode (restored on drop), the window
//! size copied to the container's pty, and bytes relayed both ways.

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd};

/// Puts stdin in raw mode while alive, if it is a terminal.
#[derive(Debug)]
pub(crate) struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub(crate) fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// Copies the window size of our stdin (if a terminal) to the container's pty.
pub(crate) fn sync_winsize(master: BorrowedFd<'_>) {
    if let Ok(ws) = burrow_sys::rt::get_winsize(std::io::stdin().as_fd()) {
        let _ = burrow_sys::rt::set_winsize(master, &ws);
    }
}

/// Moves what is available from `from` to `to`. Returns false at end of file or error.
pub(crate) fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match nix::unistd::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}
