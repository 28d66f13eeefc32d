//! `burrow rmi [-f] IMAGE...` and `burrow image prune`.

use super::{each, in_use, in_user_namespace, lib_err, store_with, Place};
use crate::commands::Res;
use burrow_image::Digest;

pub fn rmi(force: bool, images: &[String]) -> Res {
    let o = match in_user_namespace(false)? {
        Place::Done(code) => return Ok(code),
        Place::Here(o) => o,
    };
    let store = store_with(o)?;
    let used = in_use()?;
    let user = |d: &Digest| used.get(d.hex()).cloned();
    each(images, |what| {
        let id = store.remove(what, force, &user).map_err(lib_err)?;
        Ok(if store.record(&id).is_ok() {
            format!("Untagged: {what}")
        } else {
            format!("Deleted: {}", id.hex())
        })
    })
}

pub fn prune() -> Res {
    let o = match in_user_namespace(false)? {
        Place::Done(code) => return Ok(code),
        Place::Here(o) => o,
    };
    let store = store_with(o)?;
    let used = in_use()?;
    let rep = store
        .prune(&|d: &Digest| used.get(d.hex()).cloned())
        .map_err(lib_err)?;
    for id in &rep.images {
        println!("{}", id.hex());
    }
    eprintln!(
        "removed {} images, {} layers ({} id-shifted copies), {} blobs, {} leftovers of interrupted pulls",
        rep.images.len(),
        rep.layers,
        rep.shifted,
        rep.blobs,
        rep.temporaries
    );
    Ok(0)
}
