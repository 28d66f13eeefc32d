//! `burrow doctor`: the report on stdout, status 1 when something does not work.

use super::Res;
use crate::cgroup_setup::HostCgroups;

pub fn doctor() -> Res {
    let r = crate::doctor::doctor(&HostCgroups);
    print!("{r}");
    Ok(r.exit_code())
}
