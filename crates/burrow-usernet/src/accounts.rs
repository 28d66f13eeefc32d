//! The caller's user name and group names, from the text of /etc/passwd and /etc/group.
//!
//! Groups are the caller's process groups (`getgroups()` plus the real gid), as lxc-user-nic
//! does; a gid with no name is skipped and the rest still count (LXC stops at the first).

/// The name of the first /etc/passwd line with this uid.
pub fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let id: u32 = decimal(f.next()?)?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// Names of the given gids, in the order of `gids`, skipping gids with no /etc/group line.
pub fn group_names(group: &str, gids: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for gid in gids {
        let name = group.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _pw = f.next()?;
            let id: u32 = decimal(f.next()?)?;
            (id == *gid && !name.is_empty()).then(|| name.to_owned())
        });
        if let Some(n) = name {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Plain decimal: `0` or `[1-9][0-9]*`, fitting the type.
pub(crate) fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let ok =
        s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let pw = "root:x:0:0::/root:/bin/bash\nbad\nnicuser:x:1002:1002::/home/n:/bin/sh\nalias:x:1002:1002::/:/bin/sh\n";
        assert_eq!(user_name(pw, 1002).as_deref(), Some("nicuser"));
        assert_eq!(user_name(pw, 0).as_deref(), Some("root"));
        assert_eq!(user_name(pw, 4242), None);
        let gr = "root:x:0:\nnicgrp:x:2000:nicuser2\nnicuser:x:1002:\n";
        assert_eq!(
            group_names(gr, &[1002, 4242, 2000, 1002]),
            vec!["nicuser".to_owned(), "nicgrp".to_owned()]
        );
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal::<u32>("0"), Some(0));
        assert_eq!(decimal::<u32>("10"), Some(10));
        for s in ["", "010", "+1", "-1", "0x10", " 1", "4294967296"] {
            assert_eq!(decimal::<u32>(s), None, "{s}");
        }
    }
}
