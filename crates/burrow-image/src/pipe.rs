//! Stages of a layer's stream in their own threads, joined by bounded channels: the download
//! (hashing the blob and writing it to storage), the decompression (and the diff-id's hash)
//! and the unpack run at once, each on its own core when there is one. A channel holds at
//! most [`DEPTH`] chunks of at most [`CHUNK`] bytes, so memory stays bounded whatever the
//! layer's size.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

/// Bytes per chunk sent between stages.
pub(crate) const CHUNK: usize = 256 * 1024;
/// Chunks a channel holds before its sender waits.
pub(crate) const DEPTH: usize = 8;

/// What a stage sends: a chunk, or the error that ended its stream.
pub(crate) type Msg = io::Result<Vec<u8>>;

/// A channel between two stages.
pub(crate) fn channel() -> (SyncSender<Msg>, ChanReader) {
    let (tx, rx) = sync_channel(DEPTH);
    (
        tx,
        ChanReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
    )
}

/// The reading end of a [`channel`]: the stream's end when every sender is gone, an error
/// when one was sent.
pub(crate) struct ChanReader {
    rx: Receiver<Msg>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let rest = self.cur.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// A copy of an error to pass on to the next stage (the original stays with its stage).
pub(crate) fn copy_err(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// Reads `r` in a thread of `s` and passes its bytes on through a [`channel`]. When the
/// reading end is dropped before the end of the stream, the thread goes on reading `r` to
/// its end (so a hashing reader sees every byte) unless `stop` is set. The thread gives `r`
/// back at the end of its stream.
pub(crate) fn read_ahead<'scope, R: Read + Send + 'scope>(
    s: &'scope Scope<'scope, '_>,
    mut r: R,
    stop: &'scope AtomicBool,
) -> (ChanReader, ScopedJoinHandle<'scope, io::Result<R>>) {
    let (tx, rx) = channel();
    let h = s.spawn(move || {
        let mut tx = Some(tx);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("stopped"));
            }
            let mut buf = vec![0u8; CHUNK];
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(r),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(t) = &tx {
                        let _ = t.send(Err(copy_err(&e)));
                    }
                    return Err(e);
                }
            };
            buf.truncate(n);
            if let Some(t) = &tx {
                if t.send(Ok(buf)).is_err() {
                    tx = None;
                }
            }
        }
    });
    (rx, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_everything_and_drains_after_the_reader_is_gone() {
        let data: Vec<u8> = (0..3 * CHUNK + 17)
            .map(|i| (i % 251).to_le_bytes()[0])
            .collect();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (mut rx, h) = read_ahead(s, &data[..], &stop);
            let mut got = Vec::new();
            rx.read_to_end(&mut got).unwrap();
            assert_eq!(got, data);
            assert!(h.join().unwrap().unwrap().is_empty());
        });
        std::thread::scope(|s| {
            let (mut rx, h) = read_ahead(s, &data[..], &stop);
            let mut first = [0u8; 10];
            rx.read_exact(&mut first).unwrap();
            drop(rx);
            // Read to its end although nobody listens any more.
            assert!(h.join().unwrap().unwrap().is_empty());
        });
    }

    #[test]
    fn an_error_reaches_the_reader() {
        struct Bad;
        impl Read for Bad {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (mut rx, h) = read_ahead(s, Bad, &stop);
            let e = rx.read(&mut [0u8; 4]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert!(h.join().unwrap().is_err());
        });
    }
}
