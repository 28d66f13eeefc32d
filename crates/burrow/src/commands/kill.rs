//! `burrow kill [-s SIG] NAME...`.

use super::Res;
use burrow_runtime::lifecycle;

pub fn kill(signal: &str, names: &[String]) -> Res {
    let sig = lifecycle::parse_signal(signal)?;
    super::each(names, |n| lifecycle::kill(n, sig))
}
