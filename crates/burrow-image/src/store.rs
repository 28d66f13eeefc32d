//! Image storage under one root directory.
//!
//! # Layout
//!
//! ```text
//! ROOT/blobs/sha256/HEX        compressed layers, configs and manifests, by digest
//! ROOT/layers/DIFFHEX/          one unpacked layer (by diff-id), shared by every image that has it
//! ROOT/layers/DIFFHEX.json      what its unpack did (whiteouts, owners not applied, devices skipped)
//! ROOT/images/IDHEX.json        an image: its manifest and config digests and its layers
//! ROOT/names.json               NAME:TAG -> image id
//! ROOT/shifted/KEY/DIFFHEX     a layer with the owners of another id map (see `shift`)
//! ROOT/tmp/PID-N...             work in progress of a live process
//! ROOT/locks/*.lock             flock files
//! ```
//!
//! The default root is `$XDG_DATA_HOME/burrow/storage`, else `~/.local/share/burrow/storage`.
//!
//! # Crash safety
//!
//! Everything is written under `tmp/` first and renamed into place when complete: a blob after
//! its digest matched and it was fsynced, a layer directory after the whole tar was unpacked
//! and its diff-id matched, metadata files after they were fsynced. A process killed at any
//! point leaves only `tmp/PID-*` entries, which nothing reads and [`Store::prune`] removes once
//! their process is gone. A second pull finds the blobs and layers that were complete.
//!
//! # Concurrency
//!
//! Fetching and unpacking one layer happens under an exclusive flock named after its blob, so
//! two pulls of one image wait for each other per layer and keep one copy. `names.json` is
//! rewritten under its own lock. Pulls and imports hold `locks/gc.lock` shared; removal and
//! prune take it exclusively, so they never delete what a running pull is about to use.

use crate::digest::{Digest, HashingReader};
use crate::pipe;
use crate::unpack::{self, UnpackOptions, UnpackReport};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

/// Media type of an uncompressed OCI layer (for synthesized manifests).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Largest manifest or config read into memory.
const MAX_JSON: u64 = 16 << 20;

/// A storage error; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The disk is full.
    #[error("no space left on the device holding {} while writing {what}; free some space (`burrow image prune` removes unused images) and try again", path.display())]
    DiskFull {
        /// The storage root.
        path: PathBuf,
        /// What was being written.
        what: String,
    },
    /// Content did not match its digest.
    #[error("{what} does not match its digest: expected {expected}, got {got} ({len} bytes); the source is corrupt or was changed, nothing was kept")]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The expected digest.
        expected: Digest,
        /// What the content hashes to.
        got: Digest,
        /// Bytes read.
        len: u64,
    },
    /// No image by that name or id.
    #[error("no image {0:?} in storage; see `burrow images`, or `burrow pull` it first")]
    UnknownImage(String),
    /// A short id that matches more than one image.
    #[error("{0:?} matches more than one image id; give more digits")]
    Ambiguous(String),
    /// A container uses the image.
    #[error(
        "image {image} is used by container {container}; remove the container first or use -f"
    )]
    InUse {
        /// The image.
        image: String,
        /// The container.
        container: String,
    },
    /// Corrupt metadata.
    #[error("{} is not valid (storage damaged? remove it and pull again)", path.display())]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A layer failed to unpack.
    #[error("cannot unpack layer {0}")]
    Unpack(Digest, #[source] unpack::UnpackError),
    /// No usable home.
    #[error("cannot find the storage directory: set XDG_DATA_HOME or HOME")]
    NoHome,
    /// A store lock stayed taken past the bound (see [`crate::lockwait`]).
    #[error("gave up after {waited:?} waiting for the storage lock {} ({holders}); another burrow command on this storage is stuck or stopped: let it finish, or end it (`kill PID`), then try again; a long pull of the same image may legitimately hold it, BURROW_LOCK_TIMEOUT=SECONDS waits longer", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holders: String,
        /// How long was waited.
        waited: std::time::Duration,
    },
}

/// Storage result.
pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| {
        if source.raw_os_error() == Some(libc::ENOSPC)
            || source.raw_os_error() == Some(libc::EDQUOT)
        {
            StoreError::DiskFull {
                path: path.to_owned(),
                what: format!("({op})"),
            }
        } else {
            StoreError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRecord {
    /// The blob's digest (compressed, as transferred).
    pub blob: Digest,
    /// The digest of the uncompressed tar (names the unpacked directory).
    pub diff_id: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// An image as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// The image id: the digest of its config.
    pub id: Digest,
    /// The manifest's digest (the registry digest for pulled images).
    pub manifest: Digest,
    /// Its layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Where it came from (`registry/repo:tag`, an archive path, ...).
    pub source: String,
    /// When it was stored (seconds since the epoch).
    pub stored: u64,
}

/// One line of `burrow images`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageSummary {
    /// The image.
    pub id: Digest,
    /// Its names.
    pub names: Vec<String>,
    /// Sum of its layers' blob sizes.
    pub size: u64,
    /// The part of `size` in layers other images have too.
    pub shared_size: u64,
    /// When it was stored.
    pub stored: u64,
}

/// What a prune removed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PruneReport {
    /// Images without a name and not in use.
    pub images: Vec<Digest>,
    /// Layer directories no image uses.
    pub layers: usize,
    /// Blobs no image uses.
    pub blobs: usize,
    /// Leftovers of killed processes.
    pub temporaries: usize,
    /// Copies of layers for other id maps (`shift`) whose layer went.
    pub shifted: usize,
}

/// An exclusive or shared flock, released on drop.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

/// The store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    unpack: UnpackOptions,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Store {
    /// `$XDG_DATA_HOME/burrow/storage`, else `~/.local/share/burrow/storage`.
    pub fn default_root() -> Result<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("burrow/storage"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share/burrow/storage"))
            .ok_or(StoreError::NoHome)
    }

    /// Opens (creating it if needed) the store at `root`.
    ///
    /// A new root is made with mode 0700, and `layers/` is always kept at 0700: unpacked layers
    /// hold setuid files owned by the user's subordinate ids, which no other host user may
    /// reach.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let root = root.into();
        if !root.exists() {
            if let Some(parent) = root.parent() {
                fs::create_dir_all(parent).map_err(io_err("create", parent))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create", &root)(e)),
            }
        }
        let layers = root.join("layers");
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&layers)
            .map_err(io_err("create", &layers))?;
        fs::set_permissions(&layers, fs::Permissions::from_mode(0o700))
            .map_err(io_err("restrict to its owner", &layers))?;
        for d in ["blobs/sha256", "layers", "images", "tmp", "locks"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        Ok(Self {
            root,
            unpack: UnpackOptions::default(),
        })
    }

    /// Sets how layers are unpacked (ownership, id range, limits). The mode is always
    /// [`unpack::Mode::Layer`].
    pub fn with_unpack_options(mut self, o: UnpackOptions) -> Self {
        self.unpack = UnpackOptions {
            mode: unpack::Mode::Layer,
            ..o
        };
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is there).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Where a layer's unpacked directory lives.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// Whether a blob is complete in storage.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A fresh name under `tmp/` owned by this process.
    pub(crate) fn tmp_path(&self, what: &str) -> PathBuf {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}-{n}-{what}", std::process::id()))
    }

    pub(crate) fn lock(&self, name: &str, shared: bool) -> Result<Lock> {
        let p = self.root.join("locks").join(format!("{name}.lock"));
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open lock", &p))?;
        crate::lockwait::acquire(&f, shared, crate::lockwait::timeout()).map_err(|e| match e {
            crate::lockwait::WaitError::Io(e) => io_err("lock", &p)(e),
            crate::lockwait::WaitError::TimedOut(waited, h) => StoreError::LockTimeout {
                holders: crate::lockwait::describe(&h, &p),
                path: p.clone(),
                waited,
            },
        })?;
        Ok(Lock(f))
    }

    /// Held by pulls and imports for their whole duration (see the module docs).
    pub fn use_lock(&self) -> Result<Lock> {
        self.lock("gc", true)
    }

    /// Streams `r` into the blob `expected`, verifying it. Returns the size. Does nothing
    /// (and reads nothing) when the blob is already complete. A mismatch or a read error
    /// leaves nothing behind.
    pub fn put_blob(&self, expected: &Digest, r: impl Read) -> Result<u64> {
        let _l = self.lock(&format!("blob-{}", expected.hex()), false)?;
        self.put_blob_locked(expected, r, expected.to_string())
    }

    pub(crate) fn put_blob_locked(
        &self,
        expected: &Digest,
        r: impl Read,
        what: String,
    ) -> Result<u64> {
        let dest = self.blob_path(expected);
        if let Ok(m) = fs::metadata(&dest) {
            return Ok(m.len());
        }
        let (got, len, tmp) = self.write_tmp(r, &what)?;
        if &got != expected {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::DigestMismatch {
                what,
                expected: expected.clone(),
                got,
                len,
            });
        }
        self.install(&tmp, &dest)?;
        Ok(len)
    }

    /// Stores a blob whose digest is not known in advance (archives, generated JSON).
    pub fn put_blob_any(&self, r: impl Read) -> Result<(Digest, u64)> {
        let (got, len, tmp) = self.write_tmp(r, "blob")?;
        let dest = self.blob_path(&got);
        if dest.exists() {
            let _ = fs::remove_file(&tmp);
        } else {
            self.install(&tmp, &dest)?;
        }
        Ok((got, len))
    }

    fn write_tmp(&self, r: impl Read, what: &str) -> Result<(Digest, u64, PathBuf)> {
        self.write_tmp_tee(r, what, None)
    }

    /// [`Self::write_tmp`], also passing each chunk on to `tee` while its reading end is
    /// there (the blob is written to its end in any case, so a verified blob is kept even
    /// when the reader gave up).
    fn write_tmp_tee(
        &self,
        r: impl Read,
        what: &str,
        mut tee: Option<SyncSender<pipe::Msg>>,
    ) -> Result<(Digest, u64, PathBuf)> {
        let tmp = self.tmp_path("blob");
        let res = (|| -> Result<(Digest, u64)> {
            let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
            let mut h = HashingReader::new(r);
            let mut buf = vec![0u8; pipe::CHUNK];
            loop {
                let n = match h.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(StoreError::Io {
                            op: "read",
                            path: PathBuf::from(what),
                            source,
                        })
                    }
                };
                f.write_all(&buf[..n]).map_err(io_err("write", &tmp))?;
                if let Some(t) = &tee {
                    if t.send(Ok(buf[..n].to_vec())).is_err() {
                        tee = None;
                    }
                }
            }
            // The end of the stream for the reader, before the fsync.
            drop(tee.take());
            f.sync_all().map_err(io_err("fsync", &tmp))?;
            let (d, len) = h.finish().map_err(|source| StoreError::Io {
                op: "read",
                path: PathBuf::from(what),
                source,
            })?;
            Ok((d, len))
        })();
        match res {
            Ok((d, len)) => Ok((d, len, tmp)),
            Err(e) => {
                // The reader sees the same failure (not a short stream).
                if let Some(t) = &tee {
                    let _ = t.send(Err(io::Error::other(e.to_string())));
                }
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Renames a complete temporary into place and makes the rename durable.
    fn install(&self, tmp: &Path, dest: &Path) -> Result<()> {
        fs::rename(tmp, dest).map_err(io_err("rename into place", dest))?;
        if let Some(dir) = dest.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("fsync", dir))?;
        }
        Ok(())
    }

    /// Writes small metadata atomically (temporary, fsync, rename).
    pub(crate) fn write_atomic(&self, dest: &Path, data: &[u8]) -> Result<()> {
        let tmp = self.tmp_path("meta");
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(data)
            .and_then(|()| f.sync_all())
            .map_err(io_err("write", &tmp))?;
        drop(f);
        self.install(&tmp, dest)
    }

    /// Reads a small blob (manifest, config).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let mut v = Vec::new();
        File::open(&p)
            .and_then(|f| f.take(MAX_JSON).read_to_end(&mut v))
            .map_err(io_err("read", &p))?;
        Ok(v)
    }

    /// Makes sure the blob `blob` is unpacked. `fetch` is called (under the layer's lock) only
    /// when the blob is not in storage yet, and must give its bytes. Returns the diff-id.
    pub fn ensure_layer<R: Read + Send>(
        &self,
        blob: &Digest,
        diff_id: Option<&Digest>,
        fetch: impl FnOnce() -> Result<R>,
    ) -> Result<Digest> {
        let _l = self.lock(&format!("blob-{}", blob.hex()), false)?;
        if let Some(d) = diff_id {
            if self.layer_path(d).is_dir() && self.has_blob(blob) {
                return Ok(d.clone());
            }
        }
        if self.has_blob(blob) {
            return self.unpack_blob(blob, diff_id);
        }
        let r = fetch()?;
        self.fetch_and_unpack(blob, diff_id, r)
    }

    /// Stores the blob `blob` from `r` and unpacks it at once: the download (hashing and
    /// writing the blob, then its fsync) runs in a thread of its own and passes each chunk on
    /// to the unpack (whose decompression has a thread of its own too). The blob is read to
    /// its end whatever the unpack does, so the outcome is as if it had been stored first:
    /// nothing is renamed into place before the blob's digest matched (then the blob stays,
    /// also when the unpack failed), and the layer only after its diff-id matched too.
    fn fetch_and_unpack(
        &self,
        blob: &Digest,
        diff_id: Option<&Digest>,
        r: impl Read + Send,
    ) -> Result<Digest> {
        let what = format!("layer {blob}");
        let tmp = self.tmp_path("layer");
        fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
        let (dl, res) = std::thread::scope(|s| {
            let (tx, rx) = pipe::channel();
            let what = &what;
            let h = s.spawn(move || self.write_tmp_tee(r, what, Some(tx)));
            let res = self.unpack_into(rx, &tmp, blob, diff_id);
            let dl = h.join().unwrap_or_else(|_| {
                Err(StoreError::Io {
                    op: "fetch",
                    path: PathBuf::from(what),
                    source: io::Error::other("the download thread panicked"),
                })
            });
            (dl, res)
        });
        // A failed download is the cause of whatever the unpack said then.
        let (got, len, blob_tmp) = match dl {
            Ok(v) => v,
            Err(e) => {
                let _ = remove_tree(&tmp);
                return Err(e);
            }
        };
        if &got != blob {
            let _ = fs::remove_file(&blob_tmp);
            let _ = remove_tree(&tmp);
            return Err(StoreError::DigestMismatch {
                what,
                expected: blob.clone(),
                got,
                len,
            });
        }
        if let Err(e) = self.install(&blob_tmp, &self.blob_path(blob)) {
            let _ = fs::remove_file(&blob_tmp);
            let _ = remove_tree(&tmp);
            return Err(e);
        }
        self.install_layer(&tmp, res)
    }

    fn unpack_blob(&self, blob: &Digest, diff_id: Option<&Digest>) -> Result<Digest> {
        let tmp = self.tmp_path("layer");
        fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
        let p = self.blob_path(blob);
        let res = File::open(&p)
            .map_err(io_err("open", &p))
            .and_then(|f| self.unpack_into(io::BufReader::new(f), &tmp, blob, diff_id));
        self.install_layer(&tmp, res)
    }

    /// Unpacks the blob `blob`, read from `r`, into the temporary directory `tmp` and checks
    /// its diff-id.
    fn unpack_into(
        &self,
        r: impl Read + Send,
        tmp: &Path,
        blob: &Digest,
        diff_id: Option<&Digest>,
    ) -> Result<(Digest, UnpackReport)> {
        {
            let rep = unpack::unpack(r, tmp, &self.unpack).map_err(|e| match &e {
                unpack::UnpackError::Io { source, .. }
                    if matches!(
                        source.raw_os_error(),
                        Some(libc::ENOSPC) | Some(libc::EDQUOT)
                    ) =>
                {
                    StoreError::DiskFull {
                        path: self.root.clone(),
                        what: format!("layer {blob}"),
                    }
                }
                _ => StoreError::Unpack(blob.clone(), e),
            })?;
            let got = rep.diff_id.clone().unwrap_or_else(|| Digest::of(b""));
            if let Some(want) = diff_id {
                if &got != want {
                    return Err(StoreError::DigestMismatch {
                        what: format!("the uncompressed layer {blob} (diff-id)"),
                        expected: want.clone(),
                        got,
                        len: 0,
                    });
                }
            }
            Ok((got, rep))
        }
    }

    /// Renames an unpacked layer `tmp` into place, with its report (or removes `tmp` when
    /// `res` is an error).
    fn install_layer(&self, tmp: &Path, res: Result<(Digest, UnpackReport)>) -> Result<Digest> {
        let (got, rep) = match res {
            Ok(v) => v,
            Err(e) => {
                let _ = remove_tree(tmp);
                return Err(e);
            }
        };
        let dest = self.layer_path(&got);
        if dest.is_dir() {
            // The same content came with another compression before.
            let _ = remove_tree(tmp);
            return Ok(got);
        }
        let json = serde_json::to_vec_pretty(&rep).unwrap_or_default();
        self.write_atomic(
            &self.root.join("layers").join(format!("{}.json", got.hex())),
            &json,
        )?;
        self.install(tmp, &dest)?;
        Ok(got)
    }

    /// The report of a layer's unpack (whiteouts, owners not applied, ...).
    pub fn layer_report(&self, diff_id: &Digest) -> Result<UnpackReport> {
        let p = self
            .root
            .join("layers")
            .join(format!("{}.json", diff_id.hex()));
        let data = fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&data).map_err(|source| StoreError::BadMetadata { path: p, source })
    }

    /// Records an image whose blobs and layers are all in storage and gives it `name`.
    pub fn commit(
        &self,
        manifest: &Digest,
        config: &Digest,
        layers: Vec<LayerRecord>,
        source: &str,
        name: Option<&str>,
    ) -> Result<Digest> {
        let rec = ImageRecord {
            id: config.clone(),
            manifest: manifest.clone(),
            layers,
            source: source.to_owned(),
            stored: now(),
        };
        let p = self.image_path(&rec.id);
        let json = serde_json::to_vec_pretty(&rec).unwrap_or_default();
        self.write_atomic(&p, &json)?;
        if let Some(n) = name {
            self.tag(&rec.id, n)?;
        }
        Ok(rec.id)
    }

    fn image_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    fn names(&self) -> Result<BTreeMap<String, Digest>> {
        let p = self.root.join("names.json");
        match fs::read(&p) {
            Ok(d) => serde_json::from_slice(&d)
                .map_err(|source| StoreError::BadMetadata { path: p, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    fn write_names(&self, n: &BTreeMap<String, Digest>) -> Result<()> {
        let json = serde_json::to_vec_pretty(n).unwrap_or_default();
        self.write_atomic(&self.root.join("names.json"), &json)
    }

    /// Gives image `id` the name `name` (moving it from another image).
    pub fn tag(&self, id: &Digest, name: &str) -> Result<()> {
        let _l = self.lock("names", false)?;
        let mut n = self.names()?;
        n.insert(name.to_owned(), id.clone());
        self.write_names(&n)
    }

    /// Reads an image record.
    pub fn record(&self, id: &Digest) -> Result<ImageRecord> {
        let p = self.image_path(id);
        let d = fs::read(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::UnknownImage(id.to_string())
            } else {
                io_err("read", &p)(e)
            }
        })?;
        serde_json::from_slice(&d).map_err(|source| StoreError::BadMetadata { path: p, source })
    }

    fn ids(&self) -> Result<Vec<Digest>> {
        let p = self.root.join("images");
        let mut out = Vec::new();
        for e in fs::read_dir(&p).map_err(io_err("list", &p))? {
            let e = e.map_err(io_err("list", &p))?;
            let n = e.file_name();
            if let Some(hex) = n.to_str().and_then(|s| s.strip_suffix(".json")) {
                if let Ok(d) = Digest::from_hex(hex) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Finds an image by name (`NAME`, `NAME:TAG`, or fully qualified), full id, `sha256:` id
    /// or unique id prefix.
    pub fn resolve(&self, what: &str) -> Result<ImageRecord> {
        let names = self.names()?;
        if let Some(id) = names
            .get(what)
            .or_else(|| names.get(&crate::import::qualify_name(what)))
        {
            return self.record(id);
        }
        // A name without registry or tag: match the stored fully qualified names.
        if let Ok(r) = crate::reference::Reference::parse(what) {
            for q in r.candidates(&crate::reference::RegistriesConf::load().unwrap_or_default()) {
                if let Some(id) = q.name().and_then(|n| names.get(&n)) {
                    return self.record(id);
                }
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let m: Vec<Digest> = self
                .ids()?
                .into_iter()
                .filter(|d| d.hex().starts_with(hex))
                .collect();
            match m.len() {
                1 => return self.record(&m[0]),
                0 => {}
                _ => return Err(StoreError::Ambiguous(what.to_owned())),
            }
        }
        Err(StoreError::UnknownImage(what.to_owned()))
    }

    /// The image's config (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ExposedPorts,
    /// Labels, ...).
    pub fn config(&self, rec: &ImageRecord) -> Result<oci_spec::image::ImageConfiguration> {
        let data = self.read_blob(&rec.id)?;
        serde_json::from_slice(&data).map_err(|source| StoreError::BadMetadata {
            path: self.blob_path(&rec.id),
            source,
        })
    }

    /// Overlayfs lower directories for an image, top layer first (the `lowerdir=` order).
    pub fn layers_for(&self, rec: &ImageRecord) -> Vec<PathBuf> {
        rec.layers
            .iter()
            .rev()
            .map(|l| self.layer_path(&l.diff_id))
            .collect()
    }

    /// Applies an image's layers one after another onto `dest` (an existing, empty
    /// directory): the fallback where overlayfs cannot be used. Whiteouts and opaque
    /// directories are applied, not kept.
    pub fn flatten(&self, rec: &ImageRecord, dest: &Path) -> Result<()> {
        let o = UnpackOptions {
            mode: unpack::Mode::Flatten,
            ..self.unpack.clone()
        };
        for l in &rec.layers {
            let p = self.blob_path(&l.blob);
            let f = File::open(&p).map_err(io_err("open", &p))?;
            unpack::unpack(io::BufReader::new(f), dest, &o)
                .map_err(|e| StoreError::Unpack(l.blob.clone(), e))?;
        }
        Ok(())
    }

    /// Every image, with names, sizes and shared sizes.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let names = self.names()?;
        let recs: Vec<ImageRecord> = self
            .ids()?
            .iter()
            .map(|id| self.record(id))
            .collect::<Result<_>>()?;
        let mut uses: BTreeMap<&Digest, usize> = BTreeMap::new();
        for r in &recs {
            for l in r.layers.iter().map(|l| &l.diff_id).collect::<BTreeSet<_>>() {
                *uses.entry(l).or_default() += 1;
            }
        }
        Ok(recs
            .iter()
            .map(|r| ImageSummary {
                id: r.id.clone(),
                names: names
                    .iter()
                    .filter(|(_, v)| *v == &r.id)
                    .map(|(k, _)| k.clone())
                    .collect(),
                size: r.layers.iter().map(|l| l.size).sum(),
                shared_size: r
                    .layers
                    .iter()
                    .filter(|l| uses.get(&l.diff_id).copied().unwrap_or(0) > 1)
                    .map(|l| l.size)
                    .sum(),
                stored: r.stored,
            })
            .collect())
    }

    /// `rmi`: removes a name, or the image when `what` is its id or its last name. `in_use`
    /// names a container using an image, if any; such an image is kept unless `force`.
    /// Layers and blobs nothing uses any more are removed too.
    pub fn remove(
        &self,
        what: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<Digest> {
        let _gc = self.lock("gc", false)?;
        let rec = self.resolve(what)?;
        {
            let _l = self.lock("names", false)?;
            let mut names = self.names()?;
            let mine: Vec<String> = names
                .iter()
                .filter(|(_, v)| **v == rec.id)
                .map(|(k, _)| k.clone())
                .collect();
            let by_name = names.contains_key(what)
                || mine.iter().any(|n| {
                    n.ends_with(&format!("/{what}")) || n.ends_with(&format!("/{what}:latest"))
                });
            if by_name && mine.len() > 1 {
                names.retain(|k, _| {
                    !(k == what
                        || k.ends_with(&format!("/{what}"))
                        || k.ends_with(&format!("/{what}:latest")))
                });
                self.write_names(&names)?;
                return Ok(rec.id);
            }
            if let Some(c) = in_use(&rec.id) {
                if !force {
                    return Err(StoreError::InUse {
                        image: what.to_owned(),
                        container: c,
                    });
                }
            }
            names.retain(|_, v| *v != rec.id);
            self.write_names(&names)?;
        }
        let p = self.image_path(&rec.id);
        fs::remove_file(&p).map_err(io_err("remove", &p))?;
        self.collect_garbage(&mut PruneReport::default())?;
        Ok(rec.id)
    }

    /// Removes images without a name that no container uses, then every layer, blob and
    /// temporary nothing uses.
    pub fn prune(&self, in_use: &dyn Fn(&Digest) -> Option<String>) -> Result<PruneReport> {
        let _gc = self.lock("gc", false)?;
        let mut rep = PruneReport::default();
        let named: BTreeSet<Digest> = self.names()?.into_values().collect();
        for id in self.ids()? {
            if !named.contains(&id) && in_use(&id).is_none() {
                let p = self.image_path(&id);
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
                rep.images.push(id);
            }
        }
        self.collect_garbage(&mut rep)?;
        Ok(rep)
    }

    /// Call with the gc lock held exclusively.
    fn collect_garbage(&self, rep: &mut PruneReport) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for id in self.ids()? {
            let r = self.record(&id)?;
            blobs.insert(r.id.hex().to_owned());
            blobs.insert(r.manifest.hex().to_owned());
            for l in r.layers {
                blobs.insert(l.blob.hex().to_owned());
                layers.insert(l.diff_id.hex().to_owned());
            }
        }
        // A layer leaves its place in one rename (into tmp/, then removed), and its report only
        // after that: a kill at any point never leaves a partial layer in place, nor a layer
        // without its report (a report without its layer is harmless and goes next time).
        let ld = self.root.join("layers");
        let mut reports = Vec::new();
        for e in fs::read_dir(&ld).map_err(io_err("list", &ld))? {
            let e = e.map_err(io_err("list", &ld))?;
            let n = e.file_name().to_string_lossy().into_owned();
            let hex = n.strip_suffix(".json").unwrap_or(&n);
            if !layers.contains(hex) {
                if n.ends_with(".json") {
                    reports.push(e.path());
                } else {
                    let out = self.tmp_path("gc-layer");
                    fs::rename(e.path(), &out).map_err(io_err("move out of place", &e.path()))?;
                    remove_tree(&out).map_err(io_err("remove", &out))?;
                    rep.layers += 1;
                }
            }
        }
        for r in reports {
            let _ = fs::remove_file(r);
        }
        rep.shifted += self.collect_shifted(&layers)?;
        let bd = self.root.join("blobs/sha256");
        for e in fs::read_dir(&bd).map_err(io_err("list", &bd))? {
            let e = e.map_err(io_err("list", &bd))?;
            if !blobs.contains(&*e.file_name().to_string_lossy()) {
                fs::remove_file(e.path()).map_err(io_err("remove", &e.path()))?;
                rep.blobs += 1;
            }
        }
        let td = self.root.join("tmp");
        for e in fs::read_dir(&td).map_err(io_err("list", &td))? {
            let e = e.map_err(io_err("list", &td))?;
            let n = e.file_name().to_string_lossy().into_owned();
            let pid = n.split('-').next().unwrap_or_default();
            if !Path::new("/proc").join(pid).exists() || pid.is_empty() {
                remove_tree(&e.path()).map_err(io_err("remove", &e.path()))?;
                rep.temporaries += 1;
            }
        }
        Ok(())
    }
}

/// Removes a file or a whole tree, making read-only directories writable first (layers may
/// hold mode 0555 directories).
pub(crate) fn remove_tree(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = fs::symlink_metadata(p)?;
    if !m.is_dir() {
        return fs::remove_file(p);
    }
    let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
    for e in fs::read_dir(p)? {
        remove_tree(&e?.path())?;
    }
    fs::remove_dir(p)
}
