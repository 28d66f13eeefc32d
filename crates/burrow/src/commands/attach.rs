//! `burrow attach NAME`.

use super::Res;

pub fn attach(name: &str) -> Res {
    Ok(burrow_runtime::monitor::attach(name)?.unwrap_or(0))
}
