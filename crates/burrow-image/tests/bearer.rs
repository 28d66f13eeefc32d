//! The Bearer token flow (anonymous and with credentials) against a small registry double
//! served here on 127.0.0.1 (the distribution registry's token auth needs a separate signed
//! token service; this double answers exactly what the spec says a registry answers), and a
//! registry that cannot be reached. Runs as any user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_image::registry::{
    auth_entry, Client, ClientOptions, Credentials, Progress, RegistryError,
};
use burrow_image::store::Store;
use burrow_image::Digest;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

struct Fake {
    addr: String,
    /// Requests seen: (path, authorization header).
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

fn image() -> HashMap<String, (String, Vec<u8>)> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    b.append_data(&mut h, "hello", &b"hello"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let diff = Digest::of(&layer);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).unwrap();
    let blob = gz.finish().unwrap();
    let bd = Digest::of(&blob);
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]}})).unwrap();
    let cd = Digest::of(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.to_string(), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": bd.to_string(), "size": blob.len()}],
    }))
    .unwrap();
    let mut files = HashMap::new();
    files.insert(
        "/v2/test/img/manifests/1".to_owned(),
        (
            "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
            m,
        ),
    );
    files.insert(
        format!("/v2/test/img/blobs/{cd}"),
        ("application/octet-stream".to_owned(), cfg),
    );
    files.insert(
        format!("/v2/test/img/blobs/{bd}"),
        ("application/octet-stream".to_owned(), blob),
    );
    files
}

fn serve(require: Option<Credentials>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let files = Arc::new(image());
    let (a2, s2) = (addr.clone(), seen.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let (files, seen, addr, require) =
                (files.clone(), s2.clone(), a2.clone(), require.clone());
            std::thread::spawn(move || handle(c, &files, &seen, &addr, require.as_ref()));
        }
    });
    Fake { addr, seen }
}

fn handle(
    c: TcpStream,
    files: &HashMap<String, (String, Vec<u8>)>,
    seen: &Mutex<Vec<(String, String)>>,
    addr: &str,
    require: Option<&Credentials>,
) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut auth = String::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth = v.trim().to_owned();
                }
            }
        }
        seen.lock().unwrap().push((path.clone(), auth.clone()));
        let (status, ctype, body, extra): (&str, String, Vec<u8>, String) = if path
            .starts_with("/token?")
        {
            let ok = require.is_none_or(|c| auth == format!("Basic {}", auth_entry(c)));
            if ok && path.contains("scope=repository%3Atest%2Fimg%3Apull") {
                (
                    "200 OK",
                    "application/json".into(),
                    br#"{"token":"T-123"}"#.to_vec(),
                    String::new(),
                )
            } else {
                (
                    "401 Unauthorized",
                    "application/json".into(),
                    b"{}".to_vec(),
                    String::new(),
                )
            }
        } else if auth != "Bearer T-123" {
            let ch = format!("WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"fake\",scope=\"repository:test/img:pull\"\r\n");
            (
                "401 Unauthorized",
                "application/json".into(),
                b"{}".to_vec(),
                ch,
            )
        } else if let Some((t, b)) = files.get(&path) {
            ("200 OK", t.clone(), b.clone(), String::new())
        } else {
            (
                "404 Not Found",
                "application/json".into(),
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
                String::new(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        if w.write_all(head.as_bytes())
            .and_then(|()| w.write_all(&body))
            .is_err()
        {
            return;
        }
    }
}

fn no_progress(_: burrow_image::registry::Progress) {}

fn client(auth: Vec<std::path::PathBuf>) -> Client {
    // An auth file list that names no real file, so the user's own files are not read.
    let files = if auth.is_empty() {
        vec!["/nonexistent/auth.json".into()]
    } else {
        auth
    };
    Client::new(ClientOptions {
        auth_files: files,
        ..ClientOptions::default()
    })
    .unwrap()
}

#[test]
fn anonymous_bearer_token() {
    let f = serve(None);
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let events = Mutex::new(Vec::new());
    let log = |p: Progress| events.lock().unwrap().push(p);
    let id = s
        .pull(
            &client(vec![]),
            &format!("{}/test/img:1", f.addr),
            None,
            &log,
        )
        .unwrap();
    let ev = events.into_inner().unwrap();
    assert!(
        matches!(ev.first(), Some(Progress::Resolved { layers: 1, .. })),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Progress::LayerBytes { done, total, .. } if done == total)),
        "{ev:?}"
    );
    assert!(
        matches!(ev.last(), Some(Progress::LayerDone { .. })),
        "{ev:?}"
    );
    // Again: nothing is fetched.
    let events = Mutex::new(Vec::new());
    let log = |p: Progress| events.lock().unwrap().push(p);
    s.pull(
        &client(vec![]),
        &format!("{}/test/img:1", f.addr),
        None,
        &log,
    )
    .unwrap();
    let ev = events.into_inner().unwrap();
    assert!(
        matches!(ev.last(), Some(Progress::LayerCached { .. })),
        "{ev:?}"
    );
    let rec = s.record(&id).unwrap();
    assert_eq!(
        std::fs::read_to_string(s.layers_for(&rec)[0].join("hello")).unwrap(),
        "hello"
    );
    let seen = f.seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(p, a)| p.starts_with("/token?") && a.is_empty()),
        "{seen:?}"
    );
}

#[test]
fn bearer_token_with_credentials() {
    let creds = Credentials {
        username: "u".into(),
        password: "tok-secret".into(),
    };
    let f = serve(Some(creds.clone()));
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path().join("s")).unwrap();
    let r = format!("{}/test/img:1", f.addr);
    let e = s.pull(&client(vec![]), &r, None, &no_progress).unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Unauthorized {
                sent_credentials: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("no credentials were sent"), "{e}");
    let auth = t.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            f.addr,
            auth_entry(&creds)
        ),
    )
    .unwrap();
    s.pull(&client(vec![auth]), &r, None, &no_progress).unwrap();
    let e = s
        .pull(
            &client(vec![]),
            &format!("{}/test/img:2", f.addr),
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(!format!("{e} {e:?}").contains("tok-secret"));
}

#[test]
fn unknown_image_and_unreachable_registry() {
    let f = serve(None);
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let e = s
        .pull(
            &client(vec![]),
            &format!("{}/test/img:nope", f.addr),
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::UnknownImage(_)), "{e:?}");
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = s
        .pull(
            &client(vec![]),
            &format!("127.0.0.1:{port}/a/b:1"),
            None,
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot reach registry"), "{e}");
}

/// A short name tries the search registries in order: an unreachable one and one without the
/// image are passed over.
#[test]
fn short_names_try_each_search_registry() {
    let f = serve(None);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let conf = burrow_image::RegistriesConf {
        unqualified_search: vec![closed, f.addr.clone()],
        ..Default::default()
    };
    let c = Client::new(ClientOptions {
        registries: conf,
        auth_files: vec!["/nonexistent/auth.json".into()],
        ..ClientOptions::default()
    })
    .unwrap();
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let id = s.pull(&c, "test/img:1", None, &no_progress).unwrap();
    assert_eq!(s.resolve(&format!("{}/test/img:1", f.addr)).unwrap().id, id);
    // None has it: the first registry's error is reported.
    let e = s.pull(&c, "test/img:nope", None, &no_progress).unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
}
