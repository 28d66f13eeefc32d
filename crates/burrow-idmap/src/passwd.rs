//! Minimal `/etc/passwd` reading: enough to find the caller's name and primary gid, and the
//! names that share a uid (aliases), without loading NSS modules in a privileged process.

use crate::parse_decimal;

/// One passwd line's interesting fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Parses passwd text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 7 || f[0].is_empty() {
                return None;
            }
            let uid = u32::try_from(parse_decimal(f[2])?).ok()?;
            let gid = u32::try_from(parse_decimal(f[3])?).ok()?;
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid,
                gid,
            })
        })
        .collect()
}

/// The first entry with this uid (what getpwuid returns for files).
pub fn by_uid(entries: &[PasswdEntry], uid: u32) -> Option<&PasswdEntry> {
    entries.iter().find(|e| e.uid == uid)
}

/// Every name other than `name` that has this uid.
pub fn aliases(entries: &[PasswdEntry], uid: u32, name: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.uid == uid && e.name != name)
        .map(|e| e.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_find() {
        let t = "root:x:0:0:root:/root:/bin/bash\nnmapa:x:1005:1007::/home/nmapa:/bin/sh\nbad:x:1:2\nalias:x:1005:1007::/:/bin/sh\nneg:x:-1:0::/:/bin/sh\n";
        let e = parse(t);
        assert_eq!(e.len(), 3);
        assert_eq!(by_uid(&e, 1005).unwrap().name, "nmapa");
        assert_eq!(aliases(&e, 1005, "nmapa"), vec!["alias".to_string()]);
    }
}
