//! Interface and bridge names.
//!
//! The kernel (`dev_valid_name`) accepts any name of 1 to 15 bytes (IFNAMSIZ - 1) other than
//! `.` and `..` without `/`, `:` or whitespace. burrow-nic is stricter: printable ASCII only,
//! and `%` only where a pattern is allowed (`%d` in a container nic name, where the kernel picks
//! the number; `%u` in a bridge of /etc/burrow/usernet, replaced by the caller's uid).

use std::fmt;

/// IFNAMSIZ - 1: the longest interface name, in bytes.
pub const MAX_IFNAME: usize = 15;

/// Why a name is refused. Names are shown quoted and escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_IFNAME`] bytes.
    TooLong(String),
    /// `.` or `..`.
    Dots(String),
    /// A character that is never allowed (`what` describes it).
    Char(String, &'static str),
    /// A `%` that is not the one allowed pattern.
    Percent(String, &'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("interface name is empty"),
            NameError::TooLong(n) => write!(
                f,
                "interface name {n:?} is {} bytes long (at most {MAX_IFNAME})",
                n.len()
            ),
            NameError::Dots(n) => write!(f, "interface name {n:?} is not allowed"),
            NameError::Char(n, what) => write!(f, "interface name {n:?} contains {what}"),
            NameError::Percent(n, pat) => {
                write!(
                    f,
                    "interface name {n:?} contains '%' other than one {pat:?}"
                )
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Which `%` sequence a name may contain once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// No `%` at all (host names, bridges, delete's host nic).
    Plain,
    /// One `%d` (container nic name: the kernel picks the lowest free number).
    Number,
    /// One `%u` (a per-user bridge in the config: replaced by the caller's uid).
    Uid,
}

impl Pattern {
    fn token(self) -> Option<&'static str> {
        match self {
            Pattern::Plain => None,
            Pattern::Number => Some("%d"),
            Pattern::Uid => Some("%u"),
        }
    }
}

/// Checks an interface name (or a pattern, see [`Pattern`]). The length limit applies to the
/// text as written; a `%u` pattern is checked again once expanded ([`expand_uid`]).
pub fn check_ifname(name: &str, pattern: Pattern) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for c in name.chars() {
        let what = match c {
            '/' => "'/'",
            ':' => "':'",
            c if c.is_whitespace() => "whitespace",
            c if c.is_control() => "a control character",
            c if !c.is_ascii() => "a non-ASCII character",
            _ => continue,
        };
        return Err(NameError::Char(name.to_owned(), what));
    }
    if name.contains('%') {
        match pattern.token() {
            Some(tok) if name.matches('%').count() == 1 && name.contains(tok) => {}
            Some(tok) => return Err(NameError::Percent(name.to_owned(), tok)),
            None => return Err(NameError::Char(name.to_owned(), "'%'")),
        }
    }
    if name.len() > MAX_IFNAME && pattern != Pattern::Uid {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if name == "." || name == ".." {
        return Err(NameError::Dots(name.to_owned()));
    }
    Ok(())
}

/// Expands a per-user bridge pattern: the one `%u` becomes the decimal uid
/// (`burrow%u` for uid 1002 is `burrow1002`). The result must be a valid plain name, so a
/// pattern may be too long for large uids: `burrow%u` fits uids of up to 9 digits.
pub fn expand_uid(pattern: &str, uid: u32) -> Result<String, NameError> {
    let name = pattern.replacen("%u", &uid.to_string(), 1);
    check_ifname(&name, Pattern::Plain)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(name: &str, p: Pattern) -> String {
        check_ifname(name, p).unwrap_err().to_string()
    }

    #[test]
    fn valid_names() {
        for n in [
            "eth0",
            "x",
            "veth1002_VHWU",
            "br-test",
            "a.b",
            "a_b-c@d",
            "123456789012345",
        ] {
            assert_eq!(check_ifname(n, Pattern::Plain), Ok(()), "{n}");
        }
        assert_eq!(check_ifname("eth%d", Pattern::Number), Ok(()));
        assert_eq!(check_ifname("net%d", Pattern::Number), Ok(()));
        assert_eq!(check_ifname("burrow%u", Pattern::Uid), Ok(()));
    }

    #[test]
    fn rejected_names_exact_messages() {
        assert_eq!(err("", Pattern::Plain), "interface name is empty");
        assert_eq!(
            err("1234567890123456", Pattern::Plain),
            "interface name \"1234567890123456\" is 16 bytes long (at most 15)"
        );
        assert_eq!(
            err("abcdefghijklmnopq", Pattern::Number),
            "interface name \"abcdefghijklmnopq\" is 17 bytes long (at most 15)"
        );
        assert_eq!(
            err(".", Pattern::Plain),
            "interface name \".\" is not allowed"
        );
        assert_eq!(
            err("..", Pattern::Plain),
            "interface name \"..\" is not allowed"
        );
        assert_eq!(
            err("a/b", Pattern::Plain),
            "interface name \"a/b\" contains '/'"
        );
        assert_eq!(
            err("a:b", Pattern::Plain),
            "interface name \"a:b\" contains ':'"
        );
        assert_eq!(
            err("a b", Pattern::Plain),
            "interface name \"a b\" contains whitespace"
        );
        assert_eq!(
            err("a\tb", Pattern::Plain),
            "interface name \"a\\tb\" contains whitespace"
        );
        assert_eq!(
            err("a\u{1}b", Pattern::Plain),
            "interface name \"a\\u{1}b\" contains a control character"
        );
        assert_eq!(
            err("äb", Pattern::Plain),
            "interface name \"äb\" contains a non-ASCII character"
        );
        assert_eq!(
            err("eth%d", Pattern::Plain),
            "interface name \"eth%d\" contains '%'"
        );
        assert_eq!(
            err("eth%s", Pattern::Number),
            "interface name \"eth%s\" contains '%' other than one \"%d\""
        );
        assert_eq!(
            err("e%d%d", Pattern::Number),
            "interface name \"e%d%d\" contains '%' other than one \"%d\""
        );
        assert_eq!(
            err("br%d", Pattern::Uid),
            "interface name \"br%d\" contains '%' other than one \"%u\""
        );
    }

    #[test]
    fn per_user_bridge_expansion() {
        assert_eq!(expand_uid("burrow%u", 1002).unwrap(), "burrow1002");
        assert_eq!(expand_uid("br%u-lan", 7).unwrap(), "br7-lan");
        assert_eq!(
            expand_uid("burrow%u", 123_456_789).unwrap(),
            "burrow123456789"
        );
        assert_eq!(
            expand_uid("burrow%u", 1_234_567_890)
                .unwrap_err()
                .to_string(),
            "interface name \"burrow1234567890\" is 16 bytes long (at most 15)"
        );
    }
}

/// Characters of the random part of host names.
const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn host_prefix(uid: u32) -> String {
    format!("veth{uid}_")
}

/// The host end's name for `uid`: `veth<uid>_` and up to 4 random characters from
/// `[0-9a-zA-Z]` (as lxc-user-nic for uids up to 65536), filling at most 15 bytes. `None`
/// when the uid leaves no room (10-digit uids) or `random` is too short.
pub fn host_ifname(uid: u32, random: &[u8]) -> Option<String> {
    let mut name = host_prefix(uid);
    let room = MAX_IFNAME.checked_sub(name.len())?.min(4);
    if room == 0 || random.len() < room {
        return None;
    }
    for b in random.iter().take(room) {
        let i = usize::from(*b).checked_rem(ALNUM.len())?;
        name.push(char::from(*ALNUM.get(i)?));
    }
    Some(name)
}

/// Is `name` a host end name [`host_ifname`] makes for `uid`?
pub fn is_host_ifname_of(name: &str, uid: u32) -> bool {
    name.strip_prefix(&host_prefix(uid)).is_some_and(|rest| {
        !rest.is_empty() && name.len() <= MAX_IFNAME && rest.bytes().all(|b| ALNUM.contains(&b))
    })
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(
            host_ifname(1002, &[0, 1, 61, 62]).as_deref(),
            Some("veth1002_01Z0")
        );
        assert_eq!(
            host_ifname(123_456_789, &[10, 11, 12, 13]).as_deref(),
            Some("veth123456789_a")
        );
        assert_eq!(host_ifname(1_234_567_890, &[1, 2, 3, 4]), None);
        assert_eq!(host_ifname(5, &[1]), None);
        assert!(is_host_ifname_of("veth1002_01Z0", 1002));
        assert!(!is_host_ifname_of("veth10021_01Z0", 1002));
        assert!(!is_host_ifname_of("veth1002_", 1002));
        assert!(!is_host_ifname_of("veth1002_a-b", 1002));
        assert!(!is_host_ifname_of("veth100_2abc", 1002));
    }
}
