//! `burrow image import [--name NAME[:TAG]] SOURCE`: an OCI layout, an oci-archive, a
//! docker-archive, a root filesystem tarball or a directory.

use super::{in_user_namespace, lib_err, store_with, Place};
use crate::commands::{fail, Res};
use std::path::Path;

pub fn import(name: Option<&str>, source: &Path) -> Res {
    if !source.exists() {
        return Err(fail(format!(
            "cannot import {}: no such file or directory",
            source.display()
        )));
    }
    let o = match in_user_namespace(false)? {
        Place::Done(code) => return Ok(code),
        Place::Here(o) => o,
    };
    let store = store_with(o)?;
    let id = store.import(source, name).map_err(lib_err)?;
    println!("{}", id.hex());
    Ok(0)
}
