//! Burrow's images: references, a registry client, archive importers, layered rootless
//! storage and safe layer unpacking.
//!
//! The front end's commands are thin over [`store::Store`]: `Store::open`, `Store::pull`,
//! `Store::import`, `Store::images`, `Store::remove`, `Store::prune`, `Store::layers_for`.
//! See each module for its contract: [`reference`] (short names, insecure registries),
//! [`unpack`] (hostile archives, whiteouts, owners), [`store`] (layout, crash safety, locks).
#![forbid(unsafe_code)]

pub mod digest;
pub mod import;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use reference::{Reference, RegistriesConf};
