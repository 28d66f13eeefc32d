//! The command line, parsed strictly (pure: unit-tested here, and end to end in tests/nic.rs).

use burrow_usernet::ports::{self, Publish};
use burrow_usernet::{self as usernet, Pattern, VETH};

/// The usage text (after the one-line reason).
pub const USAGE: &str = "usage: burrow-nic create [--json] LXCPATH NAME PID TYPE BRIDGE [NICNAME]
       burrow-nic delete LXCPATH NAME NETNS-PATH TYPE BRIDGE [HOSTNIC]
       burrow-nic check [--json] [TYPE BRIDGE]
       burrow-nic list [--json]
       burrow-nic publish NETNS-PATH HOSTNIC NAME [MAPPING...]
       burrow-nic unpublish HOSTNIC";

/// How the create target was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetArg {
    /// A pid (decimal, 1 to pid_max).
    Pid(i32),
    /// `fd:N`: an inherited pidfd or /proc/<pid> directory.
    Fd(i32),
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `create`.
    Create {
        /// `--json`: burrow's output (names, indexes, bridge, MTU, addresses).
        json: bool,
        /// NAME (the container's name: with NICNAME, the key of a stable address).
        name: String,
        /// The process whose netns gets the peer.
        target: TargetArg,
        /// Always `veth`.
        kind: String,
        /// Bridge, expanded (`none`, a name, or the caller's per-user bridge).
        bridge: String,
        /// Name inside the container (`eth%d` when not given).
        nicname: String,
    },
    /// `delete`.
    Delete {
        /// Path of a netns file the caller can open.
        netns: String,
        /// Always `veth`.
        kind: String,
        /// Bridge, expanded.
        bridge: String,
        /// Host end to delete; without it, every nic of the caller with this type and bridge
        /// whose container end is in that netns.
        hostnic: Option<String>,
    },
    /// `check`.
    Check {
        /// JSON output.
        json: bool,
        /// Only this (type, bridge).
        only: Option<(String, String)>,
    },
    /// `list`.
    List {
        /// JSON output.
        json: bool,
    },
    /// `publish`: replace the published ports of HOSTNIC.
    Publish {
        /// Path of a netns file the caller can open (the container's).
        netns: String,
        /// The host end of the container's veth.
        hostnic: String,
        /// The container's name (messages and rule comments).
        name: String,
        /// The mappings (none: remove them).
        mappings: Vec<Publish>,
    },
    /// `unpublish`: remove the published ports of HOSTNIC.
    Unpublish {
        /// The host end (it may be gone).
        hostnic: String,
    },
    /// `-h` / `--help`.
    Help,
}

/// The longest container NAME publish accepts.
pub const MAX_NAME: usize = 64;

/// A container NAME for publish: 1 to [`MAX_NAME`] bytes of `[A-Za-z0-9_.-]`, not starting
/// with `-` or `.` (it goes into rule comments and messages).
pub fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(format!(
            "container name {s:?} must be 1 to {MAX_NAME} bytes long"
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        || s.starts_with(['-', '.'])
    {
        return Err(format!(
            "container name {s:?} may hold only letters, digits, '_', '.' and '-', and not start with '-' or '.'"
        ));
    }
    Ok(())
}

/// An argument error: `usage` says whether to print the usage text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The message.
    pub msg: String,
    /// Print [`USAGE`] after it.
    pub usage: bool,
}

fn usage(msg: String) -> ArgError {
    ArgError { msg, usage: true }
}

fn bad(msg: String) -> ArgError {
    ArgError { msg, usage: false }
}

fn decimal(s: &str) -> Option<u64> {
    let ok =
        s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| s.parse().ok()).flatten()
}

/// The PID argument: plain decimal from 1 to `pid_max` - 1, or `fd:N`. lxc-user-nic takes
/// `strtol(.., 0)`, so hex, octal and signs; those are refused here.
pub fn parse_target(s: &str, pid_max: u32) -> Result<TargetArg, ArgError> {
    if let Some(n) = s.strip_prefix("fd:") {
        return match decimal(n).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Ok(TargetArg::Fd(n)),
            None => Err(bad(format!(
                "invalid descriptor {s:?}: expected fd:N with N a decimal number"
            ))),
        };
    }
    match decimal(s) {
        Some(p) if p >= 1 && p < u64::from(pid_max) => i32::try_from(p)
            .map(TargetArg::Pid)
            .map_err(|_| bad(format!("invalid pid {s:?}"))),
        Some(_) => Err(bad(format!(
            "pid {s} is out of range (1 to {})",
            pid_max.saturating_sub(1)
        ))),
        None => Err(bad(format!(
            "invalid pid {s:?}: expected a decimal process id or fd:N"
        ))),
    }
}

fn parse_kind(s: &str) -> Result<String, ArgError> {
    if s == VETH {
        Ok(s.to_owned())
    } else {
        Err(bad(format!("type {s:?} is not supported (only \"veth\")")))
    }
}

fn parse_bridge(s: &str, uid: u32) -> Result<String, ArgError> {
    usernet::resolve_request(s, uid).map_err(|e| bad(format!("bridge: {e}")))
}

/// Parses argv (without argv[0]) for the caller `uid`.
pub fn parse(args: &[String], pid_max: u32, uid: u32) -> Result<Command, ArgError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(usage("missing command".to_owned()));
    };
    match cmd.as_str() {
        "create" | "delete" => {
            let json = cmd == "create" && rest.first().is_some_and(|a| a == "--json");
            let rest = if json { &rest[1..] } else { rest };
            if rest.len() != 5 && rest.len() != 6 {
                return Err(usage(format!(
                    "{cmd} takes 5 or 6 arguments, not {}",
                    rest.len()
                )));
            }
            // rest[0] (LXCPATH) is never used, as in lxc-user-nic; NAME only keys addresses.
            let kind = parse_kind(&rest[3])?;
            let bridge = parse_bridge(&rest[4], uid)?;
            if cmd == "create" {
                let target = parse_target(&rest[2], pid_max)?;
                let nicname = rest.get(5).map_or("eth%d", String::as_str);
                usernet::check_ifname(nicname, Pattern::Number)
                    .map_err(|e| bad(format!("container nic name: {e}")))?;
                Ok(Command::Create {
                    json,
                    name: rest[1].clone(),
                    target,
                    kind,
                    bridge,
                    nicname: nicname.to_owned(),
                })
            } else {
                let netns = rest[2].clone();
                if netns.is_empty() {
                    return Err(bad("the netns path is empty".to_owned()));
                }
                let hostnic = rest.get(5).cloned();
                if let Some(h) = &hostnic {
                    usernet::check_ifname(h, Pattern::Plain)
                        .map_err(|e| bad(format!("host nic name: {e}")))?;
                }
                Ok(Command::Delete {
                    netns,
                    kind,
                    bridge,
                    hostnic,
                })
            }
        }
        "check" | "list" => {
            let json = rest.first().is_some_and(|a| a == "--json");
            let rest = if json { &rest[1..] } else { rest };
            if let Some(opt) = rest.iter().find(|a| a.starts_with('-')) {
                return Err(usage(format!("unknown option {opt:?}")));
            }
            if cmd == "list" {
                if !rest.is_empty() {
                    return Err(usage("list takes no arguments besides --json".to_owned()));
                }
                return Ok(Command::List { json });
            }
            match rest {
                [] => Ok(Command::Check { json, only: None }),
                [kind, bridge] => Ok(Command::Check {
                    json,
                    only: Some((parse_kind(kind)?, parse_bridge(bridge, uid)?)),
                }),
                _ => Err(usage(
                    "check takes no arguments or TYPE BRIDGE (after an optional --json)".to_owned(),
                )),
            }
        }
        "publish" => {
            let [netns, hostnic, name, maps @ ..] = rest else {
                return Err(usage(format!(
                    "publish takes NETNS-PATH HOSTNIC NAME [MAPPING...], not {} arguments",
                    rest.len()
                )));
            };
            if netns.is_empty() {
                return Err(bad("the netns path is empty".to_owned()));
            }
            usernet::check_ifname(hostnic, Pattern::Plain)
                .map_err(|e| bad(format!("host nic name: {e}")))?;
            check_name(name).map_err(bad)?;
            let mappings = maps
                .iter()
                .map(|m| Publish::parse(m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            ports::check_set(&mappings).map_err(bad)?;
            Ok(Command::Publish {
                netns: netns.clone(),
                hostnic: hostnic.clone(),
                name: name.clone(),
                mappings,
            })
        }
        "unpublish" => {
            let [hostnic] = rest else {
                return Err(usage(format!(
                    "unpublish takes HOSTNIC, not {} arguments",
                    rest.len()
                )));
            };
            usernet::check_ifname(hostnic, Pattern::Plain)
                .map_err(|e| bad(format!("host nic name: {e}")))?;
            Ok(Command::Unpublish {
                hostnic: hostnic.clone(),
            })
        }
        "-h" | "--help" | "help" => Ok(Command::Help),
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, ArgError> {
        let v: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        parse(&v, 4_194_304, 1002)
    }

    fn msg(args: &[&str]) -> (String, bool) {
        let e = p(args).unwrap_err();
        (e.msg, e.usage)
    }

    #[test]
    fn create_forms() {
        assert_eq!(
            p(&["create", "/dev/null", "dummy", "42", "veth", "br0", "eth0"]).unwrap(),
            Command::Create {
                json: false,
                name: "dummy".into(),
                target: TargetArg::Pid(42),
                kind: "veth".into(),
                bridge: "br0".into(),
                nicname: "eth0".into()
            }
        );
        assert_eq!(
            p(&["create", "--json", "x", "y", "fd:3", "veth", "burrow%u"]).unwrap(),
            Command::Create {
                json: true,
                name: "y".into(),
                target: TargetArg::Fd(3),
                kind: "veth".into(),
                bridge: "burrow1002".into(),
                nicname: "eth%d".into()
            }
        );
        assert!(p(&["create", "x", "y", "7", "veth", "none", "net%d"]).is_ok());
        assert_eq!(
            msg(&["create", "--json", "x", "y", "7", "veth"]).0,
            "create takes 5 or 6 arguments, not 4"
        );
        assert_eq!(
            msg(&["delete", "--json", "x", "y", "7", "veth", "br0"]).0,
            "type \"7\" is not supported (only \"veth\")"
        );
        assert_eq!(
            p(&["delete", "a", "b", "/proc/1/ns/net", "veth", "br0"]).unwrap(),
            Command::Delete {
                netns: "/proc/1/ns/net".into(),
                kind: "veth".into(),
                bridge: "br0".into(),
                hostnic: None
            }
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(msg(&[]), ("missing command".into(), true));
        assert_eq!(
            msg(&["check", "--bogus"]),
            ("unknown option \"--bogus\"".into(), true)
        );
        assert_eq!(msg(&["frob"]), ("unknown command \"frob\"".into(), true));
        assert_eq!(
            msg(&["create", "a", "b", "1", "veth"]),
            ("create takes 5 or 6 arguments, not 4".into(), true)
        );
        assert_eq!(
            msg(&["delete", "a", "b", "c", "veth", "br0", "x", "extra"]),
            ("delete takes 5 or 6 arguments, not 7".into(), true)
        );
        assert_eq!(
            msg(&["list", "x"]),
            ("list takes no arguments besides --json".into(), true)
        );
        assert_eq!(
            msg(&["check", "veth"]),
            (
                "check takes no arguments or TYPE BRIDGE (after an optional --json)".into(),
                true
            )
        );
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn publish_forms_and_refusals() {
        assert_eq!(
            p(&[
                "publish",
                "/proc/7/ns/net",
                "veth1002_ab",
                "web",
                "8080:80",
                "127.0.0.1:53:53/udp"
            ])
            .unwrap(),
            Command::Publish {
                netns: "/proc/7/ns/net".into(),
                hostnic: "veth1002_ab".into(),
                name: "web".into(),
                mappings: vec![
                    Publish::parse("8080:80").unwrap(),
                    Publish::parse("127.0.0.1:53:53/udp").unwrap()
                ],
            }
        );
        assert!(matches!(
            p(&["publish", "/n", "v", "a.b-c_1"]).unwrap(),
            Command::Publish { mappings, .. } if mappings.is_empty()
        ));
        assert_eq!(
            p(&["unpublish", "veth1002_ab"]).unwrap(),
            Command::Unpublish {
                hostnic: "veth1002_ab".into()
            }
        );
        assert_eq!(
            msg(&["publish", "/n", "v"]),
            (
                "publish takes NETNS-PATH HOSTNIC NAME [MAPPING...], not 2 arguments".into(),
                true
            )
        );
        assert_eq!(
            msg(&["unpublish"]),
            ("unpublish takes HOSTNIC, not 0 arguments".into(), true)
        );
        assert_eq!(
            msg(&["unpublish", "a", "b"]),
            ("unpublish takes HOSTNIC, not 2 arguments".into(), true)
        );
        assert_eq!(
            msg(&["unpublish", "a/b"]).0,
            "host nic name: interface name \"a/b\" contains '/'"
        );
        assert_eq!(msg(&["publish", "", "v", "n"]).0, "the netns path is empty");
        // Both families: 0.0.0.0 and [::] are kept (every address of one family).
        assert!(matches!(
            p(&["publish", "/n", "v", "n", "0.0.0.0:80:80/udp", "[::]:80:80/udp", "[::1]:81:81"]).unwrap(),
            Command::Publish { mappings, .. } if mappings.iter().map(ToString::to_string).collect::<Vec<_>>()
                == ["0.0.0.0:80:80/udp", "[::]:80:80/udp", "[::1]:81:81/tcp"]
        ));
        assert_eq!(
            msg(&["publish", "/n", "v", "n", "80:80", "[::1]:80:81"]).0,
            "port mappings 80:80/tcp and [::1]:80:81/tcp publish the same host port"
        );
        let name = |n: &str| msg(&["publish", "/n", "v", n]).0;
        let long = "a".repeat(65);
        assert_eq!(name(""), "container name \"\" must be 1 to 64 bytes long");
        assert_eq!(
            name(&long),
            format!("container name \"{long}\" must be 1 to 64 bytes long")
        );
        assert!(p(&["publish", "/n", "v", &"a".repeat(64)]).is_ok());
        for bad in ["-x", ".x", "a b", "a\"b", "é", "a/b", "a:b", "a\nb"] {
            assert_eq!(
                name(bad),
                format!("container name {bad:?} may hold only letters, digits, '_', '.' and '-', and not start with '-' or '.'")
            );
        }
        assert_eq!(
            msg(&["publish", "/n", "v", "w", "80"]).0,
            "invalid port mapping \"80\": a host port is required (burrow does not pick one) (expected [HOSTIP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|/udp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8080:80)"
        );
        assert_eq!(
            msg(&["publish", "/n", "v", "w", "8080:80", "127.0.0.1:8080:81"]).0,
            "port mappings 8080:80/tcp and 127.0.0.1:8080:81/tcp publish the same host port"
        );
    }

    #[test]
    fn pid_rejections() {
        let c = |pid: &str| msg(&["create", "a", "b", pid, "veth", "br0"]).0;
        for pid in ["abc", "0x2781", "010", "-1", "+5", "", " 5", "5 "] {
            assert_eq!(
                c(pid),
                format!("invalid pid {pid:?}: expected a decimal process id or fd:N")
            );
        }
        assert_eq!(c("0"), "pid 0 is out of range (1 to 4194303)");
        assert_eq!(c("4194304"), "pid 4194304 is out of range (1 to 4194303)");
        assert_eq!(
            c("99999999999999999999"),
            "invalid pid \"99999999999999999999\": expected a decimal process id or fd:N"
        );
        assert_eq!(
            c("fd:x"),
            "invalid descriptor \"fd:x\": expected fd:N with N a decimal number"
        );
    }

    #[test]
    fn type_bridge_and_names() {
        let c = |t: &str, b: &str, n: &str| msg(&["create", "a", "b", "5", t, b, n]).0;
        assert_eq!(
            c("macvlan", "br0", "eth0"),
            "type \"macvlan\" is not supported (only \"veth\")"
        );
        assert_eq!(
            c("veth", "br/0", "eth0"),
            "bridge: interface name \"br/0\" contains '/'"
        );
        assert_eq!(
            c("veth", "eth0:1", "eth0"),
            "bridge: interface name \"eth0:1\" contains ':'"
        );
        assert_eq!(
            c("veth", "br0", ""),
            "container nic name: interface name is empty"
        );
        assert_eq!(
            c("veth", "br0", "abcdefghijklmnopq"),
            "container nic name: interface name \"abcdefghijklmnopq\" is 17 bytes long (at most 15)"
        );
        assert_eq!(
            c("veth", "br0", "a/b"),
            "container nic name: interface name \"a/b\" contains '/'"
        );
        assert_eq!(
            c("veth", "br0", ".."),
            "container nic name: interface name \"..\" is not allowed"
        );
        assert_eq!(
            c("veth", "br0", "e%s"),
            "container nic name: interface name \"e%s\" contains '%' other than one \"%d\""
        );
        let d = |n: &[&str]| {
            let mut v = vec!["delete", "a", "b", "/proc/1/ns/net", "veth", "br0"];
            v.extend_from_slice(n);
            msg(&v).0
        };
        assert_eq!(
            d(&["eth%d"]),
            "host nic name: interface name \"eth%d\" contains '%'"
        );
        assert_eq!(
            msg(&["delete", "a", "b", "", "veth", "br0", "v"]).0,
            "the netns path is empty"
        );
    }
}
