//! The capability policy: `default` (everything but the historically dangerous set), `deny`
//! (nothing) or `allow` (everything), then `--cap-add` / `--cap-drop`. The result is the
//! bounding set and, for a root command, the permitted and effective sets; inheritable and
//! ambient stay empty.

use crate::{err, Error};
use burrow_config::CapPolicy;
use caps::{CapSet, Capability, CapsHashSet};
use std::str::FromStr;

/// Dropped by the `default` policy: load kernel modules, set the clock, create device nodes,
/// change the audit configuration, override MAC policy, reboot.
pub const DEFAULT_DROPPED: &[Capability] = &[
    Capability::CAP_SYS_MODULE,
    Capability::CAP_SYS_TIME,
    Capability::CAP_MKNOD,
    Capability::CAP_AUDIT_CONTROL,
    Capability::CAP_MAC_ADMIN,
    Capability::CAP_SYS_BOOT,
];

/// Parses `net_raw`, `NET_RAW`, `cap_net_raw` or `CAP_NET_RAW`; `all` means every capability.
pub fn parse_name(name: &str) -> Result<Vec<Capability>, Error> {
    if name.eq_ignore_ascii_case("all") {
        return Ok(supported().into_iter().collect());
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full).map(|c| vec![c]).map_err(|_| {
        err(format!(
            "unknown capability \"{name}\": use names like net_raw or CAP_NET_RAW (see capabilities(7)), or all"
        ))
    })
}

/// The capabilities this kernel knows.
pub fn supported() -> CapsHashSet {
    caps::runtime::thread_all_supported()
}

/// Computes the set from a policy and the add/drop lists (drops win over adds of the same
/// name, as in docker).
pub fn resolve(policy: CapPolicy, add: &[String], drop: &[String]) -> Result<CapsHashSet, Error> {
    let all = supported();
    let mut set: CapsHashSet = match policy {
        CapPolicy::Allow => all.clone(),
        CapPolicy::Deny => CapsHashSet::new(),
        CapPolicy::Default => all
            .iter()
            .copied()
            .filter(|c| !DEFAULT_DROPPED.contains(c))
            .collect(),
    };
    for name in add {
        set.extend(parse_name(name)?);
    }
    for name in drop {
        for c in parse_name(name)? {
            set.remove(&c);
        }
    }
    set.retain(|c| all.contains(c));
    Ok(set)
}

/// The bitmask of a set (bit N = capability N), as /proc/PID/status shows it.
pub fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0u64, |m, c| m | c.bitmask())
}

/// In the container's pid 1, before switching to the command's user: shrink the bounding
/// set to `keep`, clear ambient and inheritable.
pub(crate) fn limit_bounding(keep: &CapsHashSet) -> Result<(), Error> {
    for c in supported() {
        if !keep.contains(&c) {
            caps::drop(None, CapSet::Bounding, c)
                .map_err(|e| err(format!("dropping {c} from the bounding set: {e}")))?;
        }
    }
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| err(format!("clearing ambient capabilities: {e}")))?;
    caps::clear(None, CapSet::Inheritable)
        .map_err(|e| err(format!("clearing inheritable capabilities: {e}")))?;
    Ok(())
}

/// For a root command: permitted = effective = `keep` (exec keeps them for uid 0).
pub(crate) fn set_root_sets(keep: &CapsHashSet) -> Result<(), Error> {
    caps::set(None, CapSet::Effective, keep)
        .map_err(|e| err(format!("setting effective capabilities: {e}")))?;
    caps::set(None, CapSet::Permitted, keep)
        .map_err(|e| err(format!("setting permitted capabilities: {e}")))?;
    caps::set(None, CapSet::Effective, keep)
        .map_err(|e| err(format!("setting effective capabilities: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_name("net_raw").unwrap(),
            vec![Capability::CAP_NET_RAW]
        );
        assert_eq!(
            parse_name("CAP_NET_RAW").unwrap(),
            vec![Capability::CAP_NET_RAW]
        );
        assert_eq!(
            parse_name("Cap_Sys_Admin").unwrap(),
            vec![Capability::CAP_SYS_ADMIN]
        );
        let e = parse_name("net_rawr").unwrap_err();
        assert_eq!(e.msg, "unknown capability \"net_rawr\": use names like net_raw or CAP_NET_RAW (see capabilities(7)), or all");
    }

    #[test]
    fn policies() {
        let d = resolve(CapPolicy::Default, &[], &[]).unwrap();
        assert!(d.contains(&Capability::CAP_SYS_ADMIN) && !d.contains(&Capability::CAP_MKNOD));
        assert!(resolve(CapPolicy::Deny, &[], &[]).unwrap().is_empty());
        let x = resolve(
            CapPolicy::Deny,
            &["net_raw".into(), "chown".into()],
            &["chown".into()],
        )
        .unwrap();
        assert_eq!(
            x.into_iter().collect::<Vec<_>>(),
            vec![Capability::CAP_NET_RAW]
        );
        assert_eq!(resolve(CapPolicy::Allow, &[], &[]).unwrap(), supported());
        assert_eq!(
            mask(
                &[Capability::CAP_CHOWN, Capability::CAP_KILL]
                    .into_iter()
                    .collect()
            ),
            0b10_0001
        );
    }
}
