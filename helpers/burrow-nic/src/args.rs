//! The command line, parsed strictly (pure: unit-tested here, and end to end in tests/nic.rs).

use burrow_usernet::{self as usernet, Pattern, VETH};

/// The usage text (after the one-line reason).
pub const USAGE: &str = "usage: burrow-nic create [--json] LXCPATH NAME PID TYPE BRIDGE [NICNAME]
       burrow-nic delete LXCPATH NAME NETNS-PATH TYPE BRIDGE [HOSTNIC]
       burrow-nic check [--json] [TYPE BRIDGE]
       burrow-nic list [--json]";

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
    /// `-h` / `--help`.
    Help,
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
