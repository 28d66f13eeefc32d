//! `burrow create`: records a container (started later by `burrow start`); prints its name.

use super::{fail, Res};
use crate::cli::RunArgs;

pub fn create(args: RunArgs) -> Res {
    let spec = super::run::merge(&args)?.validate().map_err(fail)?;
    let image = super::run::image_of(&spec)?;
    println!("{}", burrow_runtime::monitor::create(spec, image.as_ref())?);
    Ok(0)
}
