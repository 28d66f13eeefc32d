//! `burrow stop [-t SECS] NAME...`.

use super::Res;
use std::time::Duration;

pub fn stop(time: u64, names: &[String]) -> Res {
    super::each(names, |n| {
        burrow_runtime::lifecycle::stop(n, Duration::from_secs(time))
    })
}
