//! Importers: an OCI image layout directory, an oci-archive, a docker-archive (`docker save`,
//! `podman save`), a plain root filesystem tarball (.tar, .tar.gz, .tar.xz, .tar.zst) and a
//! directory.
//!
//! Archives are first unpacked with the same safe unpacker as layers into a private
//! temporary directory; every file of a layout is then opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` below it, so an archive cannot make the import read files elsewhere.

use crate::digest::Digest;
use crate::platform::Platform;
use crate::store::{
    io_err, remove_tree, LayerRecord, Store, StoreError, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use crate::unpack::{self, Ownership, UnpackOptions};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source is not one of the supported kinds.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The source.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The archive could not be unpacked for reading.
    #[error("cannot read the archive {}", path.display())]
    Archive {
        /// The source.
        path: PathBuf,
        /// The cause.
        #[source]
        source: unpack::UnpackError,
    },
}

type Result<T> = std::result::Result<T, ImportError>;

fn invalid(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Kinds of import source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A directory with `oci-layout` and `index.json`.
    OciLayout,
    /// A tar of an OCI layout.
    OciArchive,
    /// `docker save` output (`manifest.json`).
    DockerArchive,
    /// A tar (maybe compressed) of a root filesystem.
    RootfsTar,
    /// A directory holding a root filesystem.
    Directory,
}

/// Tells what `source` is.
pub fn detect(source: &Path) -> Result<SourceKind> {
    let m = std::fs::metadata(source).map_err(|e| ImportError::from(io_err("read", source)(e)))?;
    if m.is_dir() {
        return Ok(if source.join("oci-layout").is_file() {
            SourceKind::OciLayout
        } else {
            SourceKind::Directory
        });
    }
    let f = File::open(source).map_err(|e| ImportError::from(io_err("open", source)(e)))?;
    let r = unpack::decompress(io::BufReader::new(f))
        .map_err(|e| ImportError::from(io_err("read", source)(e)))?;
    let mut ar = tar::Archive::new(r);
    let entries = ar
        .entries()
        .map_err(|_| invalid(source, "not a tar archive (plain, gzip, xz or zstd)"))?;
    let (mut oci, mut docker) = (false, false);
    for e in entries {
        let e = e.map_err(|_| invalid(source, "not a tar archive, or a corrupt one"))?;
        let p = e.path_bytes();
        let p = p.strip_prefix(b"./").unwrap_or(&p);
        oci |= p == b"oci-layout";
        docker |= p == b"manifest.json";
    }
    Ok(if oci {
        SourceKind::OciArchive
    } else if docker {
        SourceKind::DockerArchive
    } else {
        SourceKind::RootfsTar
    })
}

/// Opens `rel` below `dir` without following symlinks or leaving it.
fn open_beneath(dir: &Path, rel: &str) -> Result<File> {
    let d = File::open(dir).map_err(|e| ImportError::from(io_err("open", dir)(e)))?;
    let c =
        std::ffi::CString::new(rel).map_err(|_| invalid(dir, format!("bad file name {rel:?}")))?;
    use std::os::fd::AsFd;
    burrow_sys::openat2(
        Some(d.as_fd()),
        &c,
        libc::O_RDONLY,
        burrow_sys::resolve::BENEATH
            | burrow_sys::resolve::NO_SYMLINKS
            | burrow_sys::resolve::NO_MAGICLINKS,
    )
    .map(File::from)
    .map_err(|e| invalid(dir, format!("cannot open {rel:?} inside it: {e}")))
}

fn read_small(dir: &Path, rel: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    open_beneath(dir, rel)?
        .take(16 << 20)
        .read_to_end(&mut v)
        .map_err(|e| ImportError::from(io_err("read", &dir.join(rel))(e)))?;
    Ok(v)
}

fn blob_rel(d: &str) -> Result<String> {
    let d = Digest::parse(d).map_err(|e| invalid(Path::new(d), e.to_string()))?;
    Ok(format!("blobs/sha256/{}", d.hex()))
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str, data: &[u8]) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| invalid(path, format!("{what} is not valid: {e}")))
}

impl Store {
    /// Imports `source` (any supported kind, detected) and names it `name` (else the name
    /// the archive carries, if any). Returns the image id.
    pub fn import(&self, source: &Path, name: Option<&str>) -> Result<Digest> {
        let _use = self.use_lock()?;
        match detect(source)? {
            SourceKind::OciLayout => self.import_layout(source, source, name),
            SourceKind::OciArchive | SourceKind::DockerArchive => {
                let tmp = self.tmp_path("archive");
                std::fs::create_dir(&tmp)
                    .map_err(|e| ImportError::from(io_err("create", &tmp)(e)))?;
                let res = (|| {
                    let f = File::open(source)
                        .map_err(|e| ImportError::from(io_err("open", source)(e)))?;
                    let o = UnpackOptions {
                        mode: unpack::Mode::Flatten,
                        ownership: Ownership::Record,
                        ..UnpackOptions::default()
                    };
                    unpack::unpack(io::BufReader::new(f), &tmp, &o).map_err(|e| {
                        ImportError::Archive {
                            path: source.to_owned(),
                            source: e,
                        }
                    })?;
                    if tmp.join("oci-layout").is_file() {
                        self.import_layout(&tmp, source, name)
                    } else {
                        self.import_docker(&tmp, source, name)
                    }
                })();
                let _ = remove_tree(&tmp);
                res
            }
            SourceKind::RootfsTar => {
                let f =
                    File::open(source).map_err(|e| ImportError::from(io_err("open", source)(e)))?;
                self.import_rootfs(f, source, name)
            }
            SourceKind::Directory => {
                let tmp = self.tmp_path("dir.tar");
                let res = (|| {
                    let f = File::create(&tmp)
                        .map_err(|e| ImportError::from(io_err("create", &tmp)(e)))?;
                    let mut b = tar::Builder::new(f);
                    b.follow_symlinks(false);
                    b.mode(tar::HeaderMode::Complete);
                    b.append_dir_all(".", source)
                        .and_then(|()| b.finish())
                        .map_err(|e| ImportError::from(io_err("read", source)(e)))?;
                    drop(b);
                    let f =
                        File::open(&tmp).map_err(|e| ImportError::from(io_err("open", &tmp)(e)))?;
                    self.import_rootfs(f, source, name)
                })();
                let _ = std::fs::remove_file(&tmp);
                res
            }
        }
    }

    fn import_rootfs(&self, f: File, source: &Path, name: Option<&str>) -> Result<Digest> {
        let (blob, size) = self.put_blob_any(io::BufReader::new(f))?;
        let diff_id = self.ensure_layer(
            &blob,
            None,
            || -> std::result::Result<io::Empty, StoreError> { Ok(io::empty()) },
        )?;
        let p = Platform::host();
        let config = serde_json::json!({
            "architecture": p.architecture,
            "os": p.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created_by": format!("burrow image import {}", source.display())}],
        });
        let layers = vec![LayerRecord {
            blob,
            diff_id,
            size,
        }];
        self.commit_synthesized(&config, layers, source, name)
    }

    fn commit_synthesized(
        &self,
        config: &serde_json::Value,
        layers: Vec<LayerRecord>,
        source: &Path,
        name: Option<&str>,
    ) -> Result<Digest> {
        let cbytes = serde_json::to_vec(config).unwrap_or_default();
        let (cd, clen) = self.put_blob_any(&cbytes[..])?;
        self.commit_with_manifest(&cd, clen, layers, source, name.map(qualify_name))
    }

    /// Stores an OCI manifest made for the stored config `cd` (`clen` bytes) and `layers`, and
    /// records the image under `name` (already qualified).
    fn commit_with_manifest(
        &self,
        cd: &Digest,
        clen: u64,
        layers: Vec<LayerRecord>,
        source: &Path,
        name: Option<String>,
    ) -> Result<Digest> {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cd.to_string(), "size": clen},
            "layers": layers.iter().map(|l| serde_json::json!({"mediaType": OCI_LAYER, "digest": l.blob.to_string(), "size": l.size})).collect::<Vec<_>>(),
        });
        let mbytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let (md, _) = self.put_blob_any(&mbytes[..])?;
        Ok(self.commit(
            &md,
            cd,
            layers,
            &source.display().to_string(),
            name.as_deref(),
        )?)
    }

    fn import_layout(&self, dir: &Path, source: &Path, name: Option<&str>) -> Result<Digest> {
        let idx: ImageIndex = parse_json(source, "index.json", &read_small(dir, "index.json")?)?;
        let want_tag = name.and_then(|n| n.rsplit_once(':').map(|(_, t)| t.to_owned()));
        let mut descs: Vec<_> = idx.manifests().clone();
        // A layout may name its images; prefer the one matching the requested tag.
        if descs.len() > 1 {
            if let Some(t) = &want_tag {
                let named: Vec<_> = descs
                    .iter()
                    .filter(|d| {
                        d.annotations()
                            .as_ref()
                            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                            .is_some_and(|n| n == t)
                    })
                    .cloned()
                    .collect();
                if !named.is_empty() {
                    descs = named;
                }
            }
        }
        let host = Platform::host();
        let mut chosen = None;
        for d in &descs {
            if fits_host(&host, d) {
                chosen = Some(d.clone());
                break;
            }
        }
        let desc =
            chosen.ok_or_else(|| invalid(source, format!("index.json has no image for {host}")))?;
        let mut mdigest = desc.digest().to_string();
        let mut mbytes = read_small(dir, &blob_rel(&mdigest)?)?;
        // A nested index: pick the host's manifest.
        if desc.media_type().to_string().contains("index") {
            let inner: ImageIndex = parse_json(source, "nested index", &mbytes)?;
            let d = inner
                .manifests()
                .iter()
                .find(|d| fits_host(&host, d))
                .ok_or_else(|| {
                    invalid(source, format!("no image for {host} in the nested index"))
                })?;
            mdigest = d.digest().to_string();
            mbytes = read_small(dir, &blob_rel(&mdigest)?)?;
        }
        let md = Digest::parse(&mdigest).map_err(|e| invalid(source, e.to_string()))?;
        self.put_blob(&md, &mbytes[..])?;
        let manifest: ImageManifest = parse_json(source, "the manifest", &mbytes)?;
        let cd = Digest::parse(manifest.config().digest().as_ref())
            .map_err(|e| invalid(source, e.to_string()))?;
        let cbytes = read_small(dir, &blob_rel(&cd.to_string())?)?;
        self.put_blob(&cd, &cbytes[..])?;
        let config: ImageConfiguration = parse_json(source, "the image config", &cbytes)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(invalid(
                source,
                "the config's rootfs.diff_ids and the manifest's layers differ in number",
            ));
        }
        let mut layers = Vec::new();
        for (l, diff) in manifest.layers().iter().zip(diff_ids) {
            let blob =
                Digest::parse(l.digest().as_ref()).map_err(|e| invalid(source, e.to_string()))?;
            let diff = Digest::parse(diff).map_err(|e| invalid(source, e.to_string()))?;
            let rel = blob_rel(&blob.to_string())?;
            let diff_id = self.ensure_layer(&blob, Some(&diff), || {
                open_beneath(dir, &rel)
                    .map(io::BufReader::new)
                    .map_err(|e| match e {
                        ImportError::Store(s) => s,
                        other => StoreError::Io {
                            op: "open",
                            path: source.to_owned(),
                            source: io::Error::other(other.to_string()),
                        },
                    })
            })?;
            layers.push(LayerRecord {
                blob,
                diff_id,
                size: l.size(),
            });
        }
        let name = name.map(qualify_name).or_else(|| {
            desc.annotations()
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                .map(|t| qualify_name(&format!("{}:{t}", source_stem(source))))
        });
        Ok(self.commit(
            &md,
            &cd,
            layers,
            &source.display().to_string(),
            name.as_deref(),
        )?)
    }

    fn import_docker(&self, dir: &Path, source: &Path, name: Option<&str>) -> Result<Digest> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let entries: Vec<Entry> =
            parse_json(source, "manifest.json", &read_small(dir, "manifest.json")?)?;
        let e = entries
            .first()
            .ok_or_else(|| invalid(source, "manifest.json lists no image"))?;
        let cbytes = read_small(dir, &e.config)?;
        let config: ImageConfiguration = parse_json(source, "the image config", &cbytes)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != e.layers.len() {
            return Err(invalid(
                source,
                "the config's rootfs.diff_ids and manifest.json's Layers differ in number",
            ));
        }
        let (cd, clen) = self.put_blob_any(&cbytes[..])?;
        let mut layers = Vec::new();
        for (rel, diff) in e.layers.iter().zip(diff_ids) {
            let diff = Digest::parse(diff).map_err(|er| invalid(source, er.to_string()))?;
            let (blob, size) = self.put_blob_any(io::BufReader::new(open_beneath(dir, rel)?))?;
            let diff_id = self.ensure_layer(
                &blob,
                Some(&diff),
                || -> std::result::Result<io::Empty, StoreError> { Ok(io::empty()) },
            )?;
            layers.push(LayerRecord {
                blob,
                diff_id,
                size,
            });
        }
        let name = name.map(qualify_name).or_else(|| {
            e.repo_tags
                .as_ref()
                .and_then(|t| t.first())
                .map(|t| qualify_name(t))
        });
        self.commit_with_manifest(&cd, clen, layers, source, name)
    }
}

/// Whether a layout's descriptor is for the host (one without a platform is).
fn fits_host(host: &Platform, d: &oci_spec::image::Descriptor) -> bool {
    d.platform().as_ref().is_none_or(|p| {
        host.matches(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    })
}

fn source_stem(p: &Path) -> String {
    let s = p
        .file_name()
        .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        .unwrap_or_default();
    let s = s.split('.').next().unwrap_or_default().to_lowercase();
    let s: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if s.is_empty() {
        "imported".to_owned()
    } else {
        s
    }
}

/// `NAME[:TAG]` as stored: `localhost/NAME:TAG` for names without a registry (podman's habit
/// for local images), `:latest` added when there is no tag.
pub fn qualify_name(n: &str) -> String {
    let (repo, tag) = match n.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (n, "latest"),
    };
    let first = repo.split('/').next().unwrap_or_default();
    if first.contains('.') || first.contains(':') || first == "localhost" {
        format!("{repo}:{tag}")
    } else {
        format!("localhost/{repo}:{tag}")
    }
}
