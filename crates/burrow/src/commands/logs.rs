//! `burrow logs [-f] NAME`.

use super::Res;

pub fn logs(follow: bool, name: &str) -> Res {
    burrow_runtime::lifecycle::logs(name, follow).map(|()| 0)
}
