//! `--net bridge`: the setuid burrow-nic gives the container's network namespace a veth on a
//! bridge (the parent runs it once the id maps are written, before the child goes on); the
//! child then sets up eth0 inside: addresses, up, default routes. /etc/resolv.conf is a
//! read-only file made from the host's (loopback resolvers, which the container cannot reach,
//! are left out). The veth goes away with the container's network namespace.

use crate::{err, Error};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// One address family of what burrow-nic gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family<A> {
    /// The container's address.
    pub address: A,
    /// Prefix length.
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: A,
}

/// burrow-nic's `create --json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Name inside the container.
    pub container_ifname: String,
    /// Index inside the container.
    pub container_ifindex: u32,
    /// Host end.
    pub host_ifname: String,
    /// Host end's index.
    pub host_ifindex: u32,
    /// The bridge.
    pub bridge: String,
    /// MTU.
    pub mtu: u32,
    /// IPv4, when the bridge is addressed.
    pub ipv4: Option<Family<Ipv4Addr>>,
    /// IPv6, when the bridge is addressed.
    pub ipv6: Option<Family<Ipv6Addr>>,
}

/// What `--net bridge` asks burrow-nic for, found and decided before the clone.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The setuid burrow-nic.
    pub helper: PathBuf,
    /// The bridge (`burrow%u` by default).
    pub bridge: String,
    /// The container's name (empty: no stable address).
    pub name: String,
    /// `-p` mappings burrow-nic publishes (the resolved publish mode is kernel); empty: none.
    pub publish: Vec<burrow_config::Publish>,
}

/// The name the container end gets.
pub const IFNAME: &str = "eth0";

/// Finds burrow-nic where the id helpers are looked for ($BURROW_HELPERS_DIR, else the
/// build-time directory, else PATH) and checks it can work (setuid root).
pub fn find_nic() -> Result<PathBuf, Error> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("BURROW_HELPERS_DIR") {
        dirs.push(PathBuf::from(d));
    } else {
        if let Some(d) = option_env!("BURROW_HELPERS_DIR") {
            dirs.push(PathBuf::from(d));
        }
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
    }
    for d in &dirs {
        let p = d.join("burrow-nic");
        if p.is_file() {
            use std::os::unix::fs::MetadataExt;
            let md = std::fs::metadata(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
            if md.uid() != 0 || md.mode() & 0o4000 == 0 {
                return Err(err(format!(
                    "{0} is not setuid root, so it cannot create network interfaces; ask your admin to run: chown root:root {0} && chmod 4755 {0}",
                    p.display()
                )));
            }
            return Ok(p);
        }
    }
    Err(err(format!(
        "--net bridge needs burrow-nic, which was not found (looked in: {}); install burrow's helpers or use --net none",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Starts `burrow-nic create --json` for the container's pid 1 (our unreaped child, so the
/// pid cannot be reused meanwhile). It needs no id map: the parent runs it while the id
/// helpers run, and collects it with [`finish`]. `name` keys a stable address; an empty one
/// (a container without --name) asks for none.
pub fn spawn(nic: &Path, name: &str, pid: i32, bridge: &str) -> Result<std::process::Child, Error> {
    std::process::Command::new(nic)
        .args([
            "create",
            "--json",
            "/dev/null",
            name,
            &pid.to_string(),
            "veth",
            bridge,
            IFNAME,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {}: {e}", nic.display())))
}

/// How long burrow waits for burrow-nic. The helper bounds its own waits (its create lock:
/// 10 s at most, see burrow-nic(1)), so this only ends a helper that is stuck beyond them.
pub const NIC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits (at most [`NIC_TIMEOUT`]) for [`spawn`]'s burrow-nic and reads what it made. A
/// helper that does not finish in time is killed (it runs with our real uid) and named.
pub fn finish(child: std::process::Child) -> Result<Nic, Error> {
    let out = match crate::bounded::output_within(child, NIC_TIMEOUT) {
        Ok(o) => o,
        Err(crate::bounded::WaitError::Io(e)) => {
            return Err(err(format!("waiting for burrow-nic: {e}")))
        }
        Err(crate::bounded::WaitError::TimedOut(pid)) => {
            return Err(err(format!(
                "cannot give the container a network interface: burrow-nic (pid {pid}) did not finish within {} s and was killed; nothing it made is kept (its next run reconciles it); if this repeats, `burrow doctor` and the admin's syslog (ident burrow-nic) say what it waits for",
                NIC_TIMEOUT.as_secs()
            )));
        }
    };
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let hint = if msg.contains("no entry in") {
            " (ask your admin for a line in /etc/burrow/usernet, e.g. `sudo burrow admin add-user USER`)"
        } else {
            ""
        };
        return Err(err(format!(
            "cannot give the container a network interface: {msg}{hint}"
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        err(format!(
            "burrow-nic gave output burrow does not understand ({e}): {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    })
}

/// How long burrow waits for `burrow-nic unpublish` when a container's network namespace
/// has gone: best effort (a rule left behind is reconciled by burrow-nic's next run), so
/// never long.
pub const UNPUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs burrow-nic with `args` and collects it, killing it after `limit`: `Ok(None)` when it
/// did not finish in time.
fn run_bounded(
    nic: &Path,
    args: &[String],
    limit: std::time::Duration,
) -> Result<Option<std::process::Output>, Error> {
    let child = std::process::Command::new(nic)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {}: {e}", nic.display())))?;
    match crate::bounded::output_within(child, limit) {
        Ok(o) => Ok(Some(o)),
        Err(crate::bounded::WaitError::Io(e)) => Err(err(format!("waiting for burrow-nic: {e}"))),
        Err(crate::bounded::WaitError::TimedOut(_)) => Ok(None),
    }
}

/// The arguments of `burrow-nic publish`: the container's network namespace (of its pid 1,
/// our unreaped child), the host end of its veth, its name, and each mapping in its
/// normalized form.
pub fn publish_args(
    pid: i32,
    host_ifname: &str,
    name: &str,
    mappings: &[burrow_config::Publish],
) -> Vec<String> {
    let mut args = vec![
        "publish".to_owned(),
        format!("/proc/{pid}/ns/net"),
        host_ifname.to_owned(),
        name.to_owned(),
    ];
    args.extend(mappings.iter().map(|m| m.to_string()));
    args
}

/// `burrow-nic publish`: installs the DNAT rules of `mappings` for the container (the
/// helper checks the caller's port grant and who holds each host port). Its refusal is
/// passed through as it is.
pub fn publish(
    nic: &Path,
    pid: i32,
    host_ifname: &str,
    name: &str,
    mappings: &[burrow_config::Publish],
) -> Result<(), Error> {
    let args = publish_args(pid, host_ifname, name, mappings);
    let Some(out) = run_bounded(nic, &args, NIC_TIMEOUT)? else {
        return Err(err(format!(
            "cannot publish the container's ports: burrow-nic publish did not finish within {} s and was killed; if this repeats, `burrow doctor` and the admin's syslog (ident burrow-nic) say what it waits for",
            NIC_TIMEOUT.as_secs()
        )));
    };
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(err(format!("cannot publish the container's ports: {msg}")))
}

/// `burrow-nic unpublish`: removes the container's rules once its network namespace is gone.
/// Best effort and bounded by [`UNPUBLISH_TIMEOUT`]: what it leaves, burrow-nic's next
/// publish or create reconciles; a failure is only logged.
pub fn unpublish(nic: &Path, host_ifname: &str) {
    let args = ["unpublish".to_owned(), host_ifname.to_owned()];
    match run_bounded(nic, &args, UNPUBLISH_TIMEOUT) {
        Ok(Some(out)) if out.status.success() => {}
        Ok(Some(out)) => tracing::warn!(
            "cannot remove the published ports' rules of {host_ifname} (burrow-nic's next run does): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(None) => tracing::warn!(
            "burrow-nic unpublish {host_ifname} did not finish within {} s and was killed (its next run removes the rules)",
            UNPUBLISH_TIMEOUT.as_secs()
        ),
        Err(e) => tracing::warn!("{}", e.msg),
    }
}

/// Inside the container's network namespace (with CAP_NET_ADMIN there): eth0's addresses,
/// up, and a default route through each gateway.
pub fn configure_inside(nic: &Nic) -> Result<(), Error> {
    let ctx = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| err(format!("cannot {what} in the container: {e}"))
    };
    let mut nl = burrow_netlink::Rtnl::open().map_err(ctx("open a netlink socket"))?;
    let link = nl
        .link_by_name(&nic.container_ifname)
        .map_err(ctx(&format!("find {}", nic.container_ifname)))?;
    if let Some(f) = nic.ipv4 {
        nl.add_address(link.index, IpAddr::V4(f.address), f.prefix)
            .map_err(ctx("add the IPv4 address"))?;
    }
    if let Some(f) = nic.ipv6 {
        nl.add_address(link.index, IpAddr::V6(f.address), f.prefix)
            .map_err(ctx("add the IPv6 address"))?;
    }
    nl.set_up(link.index).map_err(ctx("bring up eth0"))?;
    if let Some(f) = nic.ipv4 {
        nl.add_default_route(link.index, IpAddr::V4(f.gateway))
            .map_err(ctx("add the IPv4 default route"))?;
    }
    if let Some(f) = nic.ipv6 {
        nl.add_default_route(link.index, IpAddr::V6(f.gateway))
            .map_err(ctx("add the IPv6 default route"))?;
    }
    Ok(())
}

/// The container's /etc/resolv.conf, from the host's: its `nameserver` lines that a
/// container can reach (not loopback) and its `search`/`domain`/`options` lines. With no
/// usable resolver left (a host running a local stub such as systemd-resolved), public ones,
/// and a note saying so.
pub fn resolv_conf(host: &str) -> (String, bool) {
    let mut out = String::from("# made by burrow from the host's /etc/resolv.conf\n");
    let mut servers = 0usize;
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                let Some(a) = f.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
                    continue;
                };
                if a.is_loopback() || a.is_unspecified() {
                    continue;
                }
                out.push_str(&format!("nameserver {a}\n"));
                servers = servers.saturating_add(1);
            }
            Some("search" | "domain" | "options") => {
                out.push_str(line.trim());
                out.push('\n');
            }
            _ => {}
        }
    }
    let fallback = servers == 0;
    if fallback {
        out.push_str("# the host has only loopback resolvers: public ones instead\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n");
    }
    (out, fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_reachable_resolvers() {
        let (t, fb) = resolv_conf(
            "# x\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fd00::53\nsearch example.org\noptions edns0 trust-ad\nnameserver bogus\n",
        );
        assert!(!fb);
        assert_eq!(
            t,
            "# made by burrow from the host's /etc/resolv.conf\nnameserver 10.0.0.2\nnameserver fd00::53\nsearch example.org\noptions edns0 trust-ad\n"
        );
        let (t, fb) = resolv_conf("nameserver 127.0.0.53\n");
        assert!(fb);
        assert!(t.ends_with("nameserver 1.1.1.1\nnameserver 8.8.8.8\n"));
    }

    #[test]
    fn publish_arguments_are_the_contract() {
        let m = [
            burrow_config::Publish::parse("8080:80").unwrap(),
            burrow_config::Publish::parse("127.0.0.1:5353:53/udp").unwrap(),
        ];
        assert_eq!(
            publish_args(42, "veth1002_ab12", "web", &m),
            [
                "publish",
                "/proc/42/ns/net",
                "veth1002_ab12",
                "web",
                "8080:80/tcp",
                "127.0.0.1:5353:53/udp"
            ]
        );
    }

    #[test]
    fn nic_json_parses() {
        let j = r#"{"container_ifname":"eth0","container_ifindex":2,"host_ifname":"veth1002_ab12","host_ifindex":11,"bridge":"burrow1002","mtu":1500,"ipv4":{"address":"10.88.3.2","prefix":24,"gateway":"10.88.3.1"},"ipv6":null}"#;
        let n: Nic = serde_json::from_str(j).unwrap();
        assert_eq!(n.ipv4.unwrap().gateway, Ipv4Addr::new(10, 88, 3, 1));
        assert!(n.ipv6.is_none());
        let back: Nic = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }
}
