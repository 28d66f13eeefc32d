//! `burrow rm [-f] NAME...`.

use super::Res;

pub fn rm(force: bool, names: &[String]) -> Res {
    super::each(names, |n| burrow_runtime::lifecycle::remove(n, force))
}
