//! `burrow rmi [-f] IMAGE...` and `burrow image prune`.

use super::{each, in_use, in_use_here, in_user_namespace, lib_err, store, store_with, Place};
use crate::commands::Res;
use burrow_image::Digest;
use std::collections::BTreeSet;

pub fn rmi(force: bool, images: &[String]) -> Res {
    // The containers go first, here in the user's own process (where their state is); the
    // re-executed command in the user namespace (BURROW_UNSHARE) then finds them gone.
    if force && std::env::var_os("BURROW_UNSHARE").is_none() {
        remove_containers_of(images)?;
    }
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

/// `rmi -f`, as podman's: every container made from an image that is about to be deleted is
/// removed too, a running one stopped first (SIGKILL, as `burrow rm -f`). An image only
/// untagged (a name given while it has others) keeps its containers. Each removal is said on
/// stderr; stdout keeps the `Untagged:`/`Deleted:` lines.
fn remove_containers_of(images: &[String]) -> Result<(), burrow_runtime::Error> {
    let store = store()?;
    let summaries = store.images().map_err(lib_err)?;
    let mut doomed = BTreeSet::new();
    for what in images {
        let Ok(rec) = store.resolve(what) else {
            continue; // rmi itself reports it
        };
        // As Store::remove decides: a name of an image that has others is only untagged.
        let names = summaries
            .iter()
            .find(|s| s.id == rec.id)
            .map_or(&[][..], |s| s.names.as_slice());
        let by_name = names.iter().any(|n| {
            n == what || n.ends_with(&format!("/{what}")) || n.ends_with(&format!("/{what}:latest"))
        });
        if by_name && names.len() > 1 {
            continue;
        }
        doomed.insert(rec.id.hex().to_owned());
    }
    for (hex, container) in in_use_here()? {
        if doomed.contains(&hex) {
            burrow_runtime::lifecycle::remove(&container, true)?;
            eprintln!("burrow: removed container {container} (made from image {hex:.12})");
        }
    }
    Ok(())
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
