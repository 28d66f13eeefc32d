//! `burrow run IMAGE`: the front end resolves the image in the store (burrow-image) and hands
//! the runtime a root description ([`ImageRoot`]: the layers, top first, and the image's
//! config). The runtime never links burrow-image; a `--rootfs` run never comes here.

use burrow_image::shift::IdShift;
use burrow_image::store::Store;
use burrow_runtime::image::ImageRoot;
use burrow_runtime::shift::{ShiftTarget, Shifter};
use burrow_runtime::Error;
use std::path::{Path, PathBuf};

fn fail(msg: impl std::fmt::Display) -> Error {
    burrow_runtime::err(msg.to_string())
}

/// Error text with its causes (storage errors keep the io error as a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Finds `name` (name, `NAME:TAG`, id or id prefix) in the user's store and describes it.
pub fn resolve(name: &str) -> Result<ImageRoot, Error> {
    install();
    let root = Store::default_root().map_err(|e| fail(chain(&e)))?;
    let store = Store::open(&root).map_err(|e| fail(chain(&e)))?;
    let rec = store.resolve(name).map_err(|e| fail(chain(&e)))?;
    let cfg = store.config(&rec).map_err(|e| fail(chain(&e)))?;
    let lowers = store.layers_for(&rec);
    let mut img = ImageRoot {
        name: name.to_owned(),
        id: rec.id.to_string(),
        digest: rec.manifest.to_string(),
        store: root,
        lowers,
        ..ImageRoot::default()
    };
    if let Some(c) = cfg.config() {
        img.entrypoint = c.entrypoint().clone().unwrap_or_default();
        img.cmd = c.cmd().clone().unwrap_or_default();
        img.env = c.env().clone().unwrap_or_default();
        img.workdir = c.working_dir().clone().filter(|w| !w.is_empty());
        img.user = c.user().clone().filter(|u| !u.is_empty());
        img.stop_signal = c.stop_signal().clone().filter(|s| !s.is_empty());
        let mut ports = c.exposed_ports().clone().unwrap_or_default();
        ports.sort();
        img.exposed_ports = ports;
        img.labels = c.labels().clone().unwrap_or_default().into_iter().collect();
    }
    Ok(img)
}

/// The runtime's fallback where overlayfs is refused: the layers applied one after another
/// into `dest` (run by the container's pid 1 as root of its user namespace, so owners come
/// out as in the image).
fn flatten(img: &ImageRoot, dest: &Path) -> Result<(), String> {
    let store = Store::open(&img.store).map_err(|e| chain(&e))?;
    let rec = store.resolve(&img.id).map_err(|e| chain(&e))?;
    store.flatten(&rec, dest).map_err(|e| chain(&e))
}

/// Registers the flattener for `burrow start` (which reads the container's image.json).
pub fn install() {
    burrow_runtime::image::set_flattener(flatten);
    burrow_runtime::shift::set_shifter(Shifter {
        has: has_shifted,
        make: shifted,
    });
}

fn diff_ids(img: &ImageRoot) -> Result<(Store, Vec<burrow_image::Digest>), String> {
    let store = Store::open(&img.store).map_err(|e| chain(&e))?;
    let rec = store.resolve(&img.id).map_err(|e| chain(&e))?;
    let ids = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
    Ok((store, ids))
}

fn has_shifted(img: &ImageRoot, key: &str) -> bool {
    diff_ids(img).is_ok_and(|(s, ids)| s.has_shifted(key, &ids))
}

/// The image's layers (top first) with the owners of `t`: found in the store, else made
/// there by `burrow image shift` as root of the user's full id map (the store writers'
/// namespace, like pull's), which prints its own errors.
fn shifted(img: &ImageRoot, t: &ShiftTarget) -> Result<Vec<PathBuf>, String> {
    let (store, ids) = diff_ids(img)?;
    let paths = |s: &Store| -> Vec<PathBuf> {
        ids.iter()
            .rev()
            .map(|d| s.shifted_path(&t.key, d))
            .collect()
    };
    let missing = !store.has_shifted(&t.key, &ids);
    if missing || !t.dirs.is_empty() {
        if missing {
            tracing::info!(
                "making the layers of {} for the id map {} (once; later runs reuse them)",
                img.name,
                t.key
            );
        }
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find burrow's own executable: {e}"))?;
        let mut argv = vec![
            exe.to_string_lossy().into_owned(),
            "image".into(),
            "shift".into(),
            "--key".into(),
            t.key.clone(),
            "--uid-map".into(),
            IdShift::format_lines(&t.uid),
            "--gid-map".into(),
            IdShift::format_lines(&t.gid),
            img.id.clone(),
        ];
        for d in &t.dirs {
            argv.push("--own-dir".into());
            argv.push(d.to_string_lossy().into_owned());
        }
        let code = burrow_runtime::unshare(argv).map_err(|e| e.msg)?;
        if code != 0 || !store.has_shifted(&t.key, &ids) {
            return Err(format!(
                "cannot make the layers of image {} for the id map {} (see the error above); --idmap shared needs no copy",
                img.name, t.key
            ));
        }
    }
    Ok(paths(&store))
}
