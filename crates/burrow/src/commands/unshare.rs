//! `burrow unshare [COMMAND...]`.

use super::Res;

pub fn unshare(command: Vec<String>) -> Res {
    burrow_runtime::unshare(command)
}
