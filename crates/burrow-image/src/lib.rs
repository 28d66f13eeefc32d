//! Burrow's images: references, a registry client, archive importers, layered rootless
//! storage and safe layer unpacking. The setuid helpers never link this crate, and a
//! `--rootfs` run does not need it.
//!
//! # For the front end
//!
//! The commands are thin over [`store::Store`] and [`registry::Client`]:
//!
//! | command | call |
//! | --- | --- |
//! | `burrow pull [--platform P] REF` | `Store::open(Store::default_root()?)?.pull(&Client::new(opts)?, REF, platform, &progress)` |
//! | `burrow images` | `Store::images()` (size, shared size, names) |
//! | `burrow rmi [-f] IMAGE` | `Store::remove(IMAGE, force, &in_use)` |
//! | `burrow image prune` | `Store::prune(&in_use)` |
//! | `burrow image import [--name N] SRC` | `Store::import(SRC, name)` |
//! | `burrow image inspect IMAGE` | `Store::resolve(IMAGE)` + `Store::config(&record)` |
//! | `burrow run IMAGE` | `Store::resolve`, `Store::config` (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ExposedPorts, Labels), `Store::layers_for` (overlay `lowerdir=`, top first), or `Store::flatten` as the fallback |
//!
//! Progress comes as [`registry::Progress`] events (resolved, per-layer bytes, cached, done);
//! [`progress::Reporter`] draws them (bars on a terminal, lines otherwise, nothing with
//! `--quiet`). `burrow login`/`logout` use [`registry::save_credentials`] on
//! [`registry::login_file`].
//!
//! # Owners: which way it is
//!
//! Files are created by the process that unpacks. [`unpack::Ownership::Auto`] (the store's
//! default) chowns to the archive's ids when the effective uid is 0, i.e. as real root or as
//! root of a user namespace that has the user's full subordinate map (the intended way: run
//! the pull inside such a namespace, made with the helpers). A plain unprivileged process
//! cannot chown: it keeps itself as owner and every owner, setuid/setgid bit or file
//! capability it could not apply is listed in the layer's report
//! ([`store::Store::layer_report`]), so the unpack can be redone or fixed up inside a user
//! namespace later. [`unpack::UnpackOptions::id_count`] refuses ids outside the user's range,
//! naming the id and `burrow admin add-user --count`.
//!
//! # Written here rather than taken from a crate
//!
//! - The unpacker ([`unpack`]): the `tar` crate parses, but its own `unpack` resolves paths
//!   with ordinary path syscalls, follows symlinks in parents and knows neither whiteouts nor
//!   owner recording; every path here goes through `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)` on the layer's directory fd.
//! - The reference parser ([`reference`](mod@reference)): small, with the short-name rule and registries.conf
//!   parts burrow needs; the distribution crates that parse references pull in async stacks.
//! - The registry protocol ([`registry`]): a few GETs and the token dance over `ureq`; the
//!   OCI distribution clients on crates.io are async (tokio, reqwest).
//! - base64 for auth files (a dozen lines) and the `WWW-Authenticate` parser.
#![forbid(unsafe_code)]

pub mod digest;
pub mod import;
/// Bounded flock waits (shared with the runtime's container locks).
pub use burrow_sys::lockwait;
mod pipe;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod shift;
pub mod stall;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use reference::{Reference, RegistriesConf};
