//! `burrow run IMAGE`: the front end resolves the image in the store (burrow-image) and hands
//! the runtime a root description ([`ImageRoot`]: the layers, top first, and the image's
//! config). The runtime never links burrow-image; a `--rootfs` run never comes here.

use burrow_image::store::Store;
use burrow_runtime::image::ImageRoot;
use burrow_runtime::Error;
use std::path::Path;

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
    burrow_runtime::image::set_flattener(flatten);
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
}
