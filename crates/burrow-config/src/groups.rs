//! `--group-add GROUP`: a supplementary group of the container's process, a number or a name
//! from the container's /etc/group (looked up by the runtime, which reads it safely).

use crate::values::BadIdOrName;
use crate::{invalid, ConfigError, IdOrName};
use serde::{Deserialize, Serialize};

/// Parses one `--group-add` value: a gid (0 to 4294967294, no leading zeros) or a group name.
pub fn parse_group(v: &str) -> Result<IdOrName, ConfigError> {
    IdOrName::classify(v).map_err(|e| match e {
        BadIdOrName::Id => invalid(format!(
            "group-add \"{v}\": not a valid gid (0 to 4294967294, no leading zeros)"
        )),
        BadIdOrName::Name => invalid(format!(
            "group-add \"{v}\": expected a group name (from the container's /etc/group) or a gid"
        )),
    })
}

impl std::str::FromStr for IdOrName {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        parse_group(s)
    }
}

impl Serialize for IdOrName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IdOrName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_group(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunConfig;

    #[test]
    fn group_add_values() {
        assert_eq!(parse_group("0").unwrap(), IdOrName::Id(0));
        assert_eq!(parse_group("1234").unwrap(), IdOrName::Id(1234));
        assert_eq!(parse_group("adm").unwrap(), IdOrName::Name("adm".into()));
        for bad in ["", "01", "4294967295", "a:b", "a/b", "a,b", "a b"] {
            let e = parse_group(bad).unwrap_err().to_string();
            assert!(e.contains("group-add"), "{bad}: {e}");
        }
    }

    #[test]
    fn group_add_in_file_and_flags() {
        let c = RunConfig::from_toml("group_add = [\"users\", \"4\"]\n", "t").unwrap();
        assert_eq!(
            c.group_add,
            vec![IdOrName::Name("users".into()), IdOrName::Id(4)]
        );
        assert_eq!(RunConfig::from_toml(&c.to_toml(), "t").unwrap(), c);
        let e = RunConfig::from_toml("group_add = [\"0x\", \"007\"]\n", "t").unwrap_err();
        assert!(e.to_string().contains("007"), "{e}");
        // A flag's list adds to the file's.
        let dir = std::env::temp_dir().join(format!("burrow-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, "group_add = [\"users\"]\n").unwrap();
        #[derive(Serialize)]
        struct Flags {
            group_add: Vec<IdOrName>,
        }
        let m = RunConfig::merge(
            Some(&f),
            &Flags {
                group_add: vec![IdOrName::Id(7)],
            },
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            m.group_add,
            vec![IdOrName::Name("users".into()), IdOrName::Id(7)]
        );
    }
}
