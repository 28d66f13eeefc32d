//! `burrow pull [--platform OS/ARCH] [--quiet] REF` (and `burrow image pull`).

use super::{extra_ca, in_user_namespace, lib_err, registries, store_with, Place};
use crate::cli::PullArgs;
use crate::commands::{fail, Res};
use burrow_image::platform::Platform;
use burrow_image::progress::{Reporter, Style};
use burrow_image::registry::{Client, ClientOptions};
use burrow_image::Reference;

pub fn pull(a: PullArgs) -> Res {
    // Check what can be checked before entering a user namespace.
    let r = Reference::parse(&a.reference).map_err(lib_err)?;
    let platform = a
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(lib_err)?;
    let o = match in_user_namespace(a.quiet)? {
        Place::Done(code) => return Ok(code),
        Place::Here(o) => o,
    };
    let mut conf = registries(None, None)?;
    let cands: Vec<String> = r
        .candidates(&conf)
        .into_iter()
        .map(|q| q.registry)
        .collect();
    if a.tls_verify == Some(false) {
        // Every registry this reference may come from (a short name has several).
        conf.insecure.extend(cands.iter().cloned());
    }
    let first = cands
        .first()
        .cloned()
        .ok_or_else(|| fail(format!("{}: no registry to pull from", a.reference)))?;
    let ca = extra_ca(a.cert_dir.as_deref(), &first)?;
    let client = Client::new(ClientOptions {
        registries: conf,
        extra_ca: ca,
        auth_files: Vec::new(),
    })
    .map_err(lib_err)?;
    let store = store_with(o)?;
    let reporter = Reporter::new(Style::detect(a.quiet));
    let res = store.pull(&client, &a.reference, platform.as_ref(), &|p| {
        reporter.event(p)
    });
    reporter.finish();
    let id = res.map_err(lib_err)?;
    println!("{}", id.hex());
    Ok(0)
}
