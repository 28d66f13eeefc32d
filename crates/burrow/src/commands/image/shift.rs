//! `burrow image shift` (hidden): run by `burrow run IMAGE --idmap auto|keep-id` through
//! [`burrow_runtime::unshare`], as root of the user's full id map, to make the image's layers
//! with owners moved to the container's map (burrow-image's `shift` module).

use super::{lib_err, store};
use crate::commands::{fail, Res};
use burrow_image::shift::IdShift;
use std::path::PathBuf;

pub fn shift(key: &str, uid_map: &str, gid_map: &str, own_dirs: &[PathBuf], image: &str) -> Res {
    if std::env::var_os("BURROW_UNSHARE").is_none() {
        return Err(fail(
            "burrow image shift is internal: burrow run IMAGE --idmap auto|keep-id runs it",
        ));
    }
    let lines = |s: &str| IdShift::parse_lines(s).ok_or_else(|| fail(format!("bad map {s:?}")));
    let map = IdShift {
        uid: lines(uid_map)?,
        gid: lines(gid_map)?,
    };
    let store = store()?;
    let _use = store.use_lock().map_err(lib_err)?;
    let rec = store.resolve(image).map_err(lib_err)?;
    for l in &rec.layers {
        store.shift_layer(&l.diff_id, key, &map).map_err(lib_err)?;
    }
    // The container's root, as an id here.
    let root = |lines: &[(u64, u64, u64)]| {
        lines
            .iter()
            .find(|(i, _, _)| *i == 0)
            .and_then(|(_, o, _)| u32::try_from(*o).ok())
            .ok_or_else(|| fail("the id map has no container id 0"))
    };
    let (uid, gid) = (root(&map.uid)?, root(&map.gid)?);
    for d in own_dirs {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(format!("cannot create {}: {e}", d.display()))),
        }
        std::os::unix::fs::lchown(d, Some(uid), Some(gid)).map_err(|e| {
            fail(format!(
                "cannot give {} to the container's root: {e}",
                d.display()
            ))
        })?;
    }
    Ok(0)
}
