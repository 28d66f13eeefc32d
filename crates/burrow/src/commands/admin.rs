//! `burrow admin add-user | remove-user | check`.

use super::Res;
use crate::admin::{self, AddUser};
use crate::cgroup_setup::HostCgroups;
use crate::cli::AdminCommand;

pub fn admin(command: AdminCommand) -> Res {
    let cgroups = HostCgroups;
    match command {
        AdminCommand::AddUser {
            user,
            count,
            base,
            reserve,
            nics,
            ports,
            linger,
        } => {
            if linger {
                crate::linger::check(std::path::Path::new("/run"), &user)?;
            }
            let opts = AddUser {
                user,
                count,
                base,
                reserve,
                nics,
                ports,
            };
            print!("{}", admin::add_user(&opts, &cgroups)?);
            if linger {
                print!("{}", crate::linger::enable(&opts.user)?);
            }
            Ok(0)
        }
        AdminCommand::RemoveUser { user } => {
            print!("{}", admin::remove_user(&user, &cgroups)?);
            Ok(0)
        }
        AdminCommand::Check => {
            let r = admin::check(&cgroups);
            print!("{r}");
            Ok(r.exit_code())
        }
    }
}
