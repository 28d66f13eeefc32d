//! A registry that stops sending: a real TCP server on 127.0.0.1, started here, that accepts
//! and then says nothing, sends a manifest's headers and stalls, or sends half a layer and
//! stalls. `burrow pull`'s code (Store::pull with the registry client) must fail within the
//! per-read bound (BURROW_REGISTRY_TIMEOUT, set to 1 s for this test binary), name the registry
//! and the fix, and keep nothing of the transfer.
//!
//! Needs nothing but loopback: runs everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_image::registry::{Client, ClientOptions, RegistryError};
use burrow_image::store::Store;
use burrow_image::Digest;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Accept, read the request, send nothing.
    Silent,
    /// Send the manifest's headers (a Content-Length of 1000), then nothing.
    ManifestHeaders,
    /// Serve the manifest and the config, send half of the layer, then nothing.
    HalfLayer,
}

struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: Digest,
    layer: Vec<u8>,
    layer_digest: Digest,
}

fn image() -> Image {
    let mut b = tar::Builder::new(Vec::new());
    let data = vec![b'x'; 256 * 1024];
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "big", &data[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let layer_digest = Digest::of(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        "config": {},
    }))
    .unwrap();
    let config_digest = Digest::of(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.to_string(),
            "size": layer.len(),
        }],
    }))
    .unwrap();
    Image {
        manifest,
        config,
        config_digest,
        layer,
        layer_digest,
    }
}

/// Serves `b` on 127.0.0.1 until the returned flag is set (and for at most 60 s).
fn serve(b: Behaviour, img: Arc<Image>) -> (String, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut held = Vec::new();
        while !s.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
            match l.accept() {
                Ok((c, _)) => {
                    let img = img.clone();
                    let s = s.clone();
                    held.push(std::thread::spawn(move || answer(c, b, &img, &s)));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        s.store(true, Ordering::Relaxed);
        for h in held {
            let _ = h.join();
        }
    });
    (addr, stop)
}

fn stall(c: TcpStream, stop: &AtomicBool) {
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(c);
}

fn answer(mut c: TcpStream, b: Behaviour, img: &Image, stop: &AtomicBool) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = c.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        req.extend_from_slice(&buf[..n]);
        if b == Behaviour::Silent {
            return stall(c, stop);
        }
        if req.first() == Some(&0x16) {
            return; // a TLS ClientHello: this is plain HTTP, hang up
        }
        if req.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let head = |ct: &str, len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\r\n")
    };
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    if path == "/v2/" {
        let _ = c.write_all(head("application/json", 2).as_bytes());
        let _ = c.write_all(b"{}");
    } else if path.contains("/manifests/") {
        if b == Behaviour::ManifestHeaders {
            let _ = c.write_all(head(manifest_type, 1000).as_bytes());
            return stall(c, stop);
        }
        let _ = c.write_all(head(manifest_type, img.manifest.len()).as_bytes());
        let _ = c.write_all(&img.manifest);
    } else if path.ends_with(&img.config_digest.to_string()) {
        let _ = c.write_all(head("application/octet-stream", img.config.len()).as_bytes());
        let _ = c.write_all(&img.config);
    } else if path.ends_with(&img.layer_digest.to_string()) {
        let _ = c.write_all(head("application/octet-stream", img.layer.len()).as_bytes());
        let _ = c.write_all(&img.layer[..img.layer.len() / 2]);
        return stall(c, stop);
    } else {
        let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    let _ = c.flush();
    // Keep-alive: the client may send the next request on this connection.
    answer(c, b, img, stop);
}

fn count(p: &Path) -> usize {
    std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

fn pull(
    b: Behaviour,
) -> (
    RegistryError,
    Duration,
    tempfile::TempDir,
    Arc<Image>,
    String,
) {
    // The bound under test; every test here uses the same value, set before any client.
    std::env::set_var("BURROW_REGISTRY_TIMEOUT", "1");
    let img = Arc::new(image());
    let (addr, stop) = serve(b, img.clone());
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let client = Client::new(ClientOptions::default()).unwrap();
    let start = Instant::now();
    // On a thread, so that a pull that hangs (no bound) fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let reference = format!("{addr}/test/stall:1");
    std::thread::spawn(move || {
        let r = store.pull(&client, &reference, None, &|_| {});
        let _ = tx.send(r.map(|_| ()));
    });
    let e = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(r) => r.unwrap_err(),
        Err(_) => panic!("the pull still hangs after 30 s on a stalled registry"),
    };
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    (e, took, t, img, addr)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn assert_nothing_kept(root: &Path, img: &Image) {
    assert_eq!(count(&root.join("tmp")), 0, "temporaries left");
    assert_eq!(count(&root.join("layers")), 0, "a layer was kept");
    assert_eq!(count(&root.join("images")), 0, "an image was recorded");
    assert!(!root
        .join("blobs/sha256")
        .join(img.layer_digest.hex())
        .exists());
    assert!(
        !root.join("names.json").exists() || {
            let n = std::fs::read_to_string(root.join("names.json")).unwrap();
            !n.contains("stall")
        }
    );
}

#[test]
fn a_registry_that_accepts_and_sends_nothing() {
    let (e, took, t, img, addr) = pull(Behaviour::Silent);
    let msg = chain(&e);
    assert!(matches!(e, RegistryError::Stalled { .. }), "{msg}");
    assert!(
        msg.contains(&format!("registry {addr} stopped sending"))
            && msg.contains("BURROW_REGISTRY_TIMEOUT"),
        "{msg}"
    );
    // https then http, one bound each.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_nothing_kept(t.path(), &img);
}

#[test]
fn a_registry_that_sends_headers_then_stalls() {
    let (e, took, t, img, addr) = pull(Behaviour::ManifestHeaders);
    let msg = chain(&e);
    assert!(matches!(e, RegistryError::Stalled { .. }), "{msg}");
    assert!(
        msg.contains(&format!("registry {addr} stopped sending")),
        "{msg}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_nothing_kept(t.path(), &img);
}

#[test]
fn a_registry_that_stalls_in_a_layer() {
    let (e, took, t, img, addr) = pull(Behaviour::HalfLayer);
    let msg = chain(&e);
    assert!(
        msg.contains(&format!("registry {addr} stopped sending")),
        "{msg}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_nothing_kept(t.path(), &img);
}
