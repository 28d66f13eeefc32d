//! Networking in `burrow admin` and `burrow doctor`: the usernet quota `admin add-user` writes,
//! and the checks of /etc/burrow/usernet, /etc/burrow/nic.conf, burrow-nic and the host's
//! forwarding and reverse-path settings.

use crate::probes::read_opt;
use crate::report::Line;
use burrow_runtime::{err, Error};
use burrow_usernet::pool::{Pools, NIC_CONF_PATH};
use burrow_usernet::{Bridge, Owner, Usernet, USERNET_PATH};
use std::fs;
use std::path::Path;

/// Nics `admin add-user` allows by default on the user's per-user bridge.
pub const DEFAULT_NICS: u32 = 4;

/// The per-user bridge pattern add-user writes (the default of `burrow run --net bridge`).
pub const PER_USER: &str = burrow_config::DEFAULT_BRIDGE;

/// The new text of the usernet file with a `USER veth burrow%u N` line added, or `None` when
/// the user already has a line for their per-user bridge. A file that does not parse is
/// refused (it must be fixed by hand first).
pub fn with_user_line(text: &str, user: &str, nics: u32) -> Result<Option<String>, String> {
    let u = parse_usernet(text)?;
    let has = u.entries.iter().any(|e| {
        e.owner == Owner::User(user.to_owned()) && e.bridge == Bridge::PerUser(PER_USER.into())
    });
    if has {
        return Ok(None);
    }
    let mut out = text.to_owned();
    if out.is_empty() {
        out.push_str("# USER|@GROUP TYPE BRIDGE COUNT (see burrow-usernet(5))\n");
    } else if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{user} veth {PER_USER} {nics}\n"));
    Ok(Some(out))
}

/// The usernet file, parsed as burrow-nic parses it (its nic and ports lines).
fn parse_usernet(text: &str) -> Result<Usernet, String> {
    Usernet::parse(text).map_err(|e| format!("{USERNET_PATH}: {e}"))
}

/// Is `line` a `OWNER ports ...` line of `owner`?
fn is_ports_line_of(line: &str, owner: &str) -> bool {
    let mut f = line.split_whitespace();
    f.next() == Some(owner) && f.next() == Some("ports")
}

/// The new text of the usernet file with USER's `USER ports LIST` line replaced by one for
/// `grant` (removed when `None`), or `None` when nothing changes. Every other line is kept
/// byte for byte; the file's other lines must parse (a broken file is fixed by hand first).
pub fn with_ports_line(
    text: &str,
    user: &str,
    grant: Option<&burrow_usernet::ports::PortGrant>,
) -> Result<Option<String>, String> {
    parse_usernet(text)?;
    let mut out: String = text
        .split_inclusive('\n')
        .filter(|l| !is_ports_line_of(l, user))
        .collect();
    if let Some(g) = grant {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{user} ports {g}\n"));
    }
    Ok((out != text).then_some(out))
}

/// Parses `admin add-user --ports LIST` (not `none`).
pub fn parse_ports(list: &str) -> Result<burrow_usernet::ports::PortGrant, Error> {
    burrow_usernet::ports::PortGrant::parse(list).map_err(|e| {
        err(format!(
            "--ports {list}: {e} (give ports and ranges separated by commas, e.g. 8000-8099,443, or none)"
        ))
    })
}

/// `admin add-user --ports LIST|none`: writes (or with `none` removes) USER's `USER ports
/// LIST` line of /etc/burrow/usernet, the host ports USER may publish with `--net bridge -p`
/// (idempotent).
pub fn set_ports(
    user: &str,
    list: &str,
    write: impl Fn(&Path, &[u8]) -> Result<(), Error>,
) -> Result<Vec<String>, Error> {
    let grant = match list {
        "none" => None,
        l => Some(parse_ports(l)?),
    };
    let path = Path::new(USERNET_PATH);
    let text = read_opt(path).unwrap_or_default();
    match with_ports_line(&text, user, grant.as_ref()).map_err(err)? {
        None => Ok(vec![match &grant {
            Some(g) => format!("{USERNET_PATH}: {user} ports {g}: unchanged"),
            None => format!("{USERNET_PATH}: {user} has no ports line: unchanged"),
        }]),
        Some(new) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
            }
            write(path, new.as_bytes())?;
            Ok(vec![match &grant {
                Some(g) => format!(
                    "{USERNET_PATH}: {user} ports {g} (host ports {user} may publish: burrow run --net bridge -p)"
                ),
                None => format!("{USERNET_PATH}: removed the ports line of {user}"),
            }])
        }
    }
}

/// `admin add-user`: gives USER `nics` veths on their per-user bridge in /etc/burrow/usernet
/// (idempotent; the file and /etc/burrow are created root-owned if missing).
pub fn add_user(
    user: &str,
    nics: u32,
    write: impl Fn(&Path, &[u8]) -> Result<(), Error>,
) -> Result<Vec<String>, Error> {
    let path = Path::new(USERNET_PATH);
    let text = read_opt(path).unwrap_or_default();
    match with_user_line(&text, user, nics).map_err(err)? {
        None => Ok(vec![format!(
            "{USERNET_PATH}: {user} already has a line for {PER_USER}: unchanged"
        )]),
        Some(new) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
            }
            write(path, new.as_bytes())?;
            let mut out = vec![format!(
                "{USERNET_PATH}: added {user} veth {PER_USER} {nics} (burrow run --net bridge)"
            )];
            if read_opt(NIC_CONF_PATH).is_none() {
                out.push(format!(
                    "network: {NIC_CONF_PATH} is missing, so per-user bridges get no addresses: see burrow-nic.conf(5) (e.g. `ipv4 10.77.0.0/16 24`)"
                ));
            }
            Ok(out)
        }
    }
}

fn sysctl(path: &str) -> Option<String> {
    read_opt(format!("/proc/sys/net/{path}")).map(|s| s.trim().to_owned())
}

/// `admin check`: the network configuration of the host.
pub fn admin_lines() -> Vec<Line> {
    let mut out = Vec::new();
    match burrow_runtime::net::find_nic() {
        Ok(p) => out.push(Line::ok(
            "burrow-nic",
            format!("{} is setuid root", p.display()),
        )),
        Err(e) => out.push(Line::warn("burrow-nic", e.to_string())),
    }
    match read_opt(USERNET_PATH) {
        None => out.push(
            Line::info(
                "usernet",
                format!("{USERNET_PATH} does not exist: no user may create nics (--net bridge)"),
            )
            .fix("sudo burrow admin add-user USER (writes USER veth burrow%u 4)"),
        ),
        Some(t) => match Usernet::parse(&t) {
            Ok(u) => {
                out.push(Line::ok(
                    "usernet",
                    format!("{USERNET_PATH}: {} entries", u.entries.len()),
                ));
                out.extend(collision_lines(&u));
            }
            Err(e) => out.push(
                Line::fail(
                    "usernet",
                    format!("{USERNET_PATH}: {e}: burrow-nic refuses every request"),
                )
                .fix(format!(
                    "fix that line of {USERNET_PATH} (see burrow-usernet(5))"
                )),
            ),
        },
    }
    match read_opt(NIC_CONF_PATH) {
        None => out.push(
            Line::info(
                "nic addresses",
                format!("{NIC_CONF_PATH} does not exist: per-user bridges get no addresses"),
            )
            .fix(format!(
                "add e.g. `ipv4 10.77.0.0/16 24` to {NIC_CONF_PATH} (see burrow-nic.conf(5))"
            )),
        ),
        Some(t) => match Pools::parse(&t) {
            Ok(p) if p.any() => {
                let pools: Vec<String> = [p.v4, p.v6]
                    .iter()
                    .flatten()
                    .map(|q| format!("{q} (/{} per user)", q.sub))
                    .collect();
                out.push(Line::ok(
                    "nic addresses",
                    format!("{}; {} user subnets", pools.join(", "), p.subnets()),
                ));
            }
            Ok(_) => out.push(Line::info(
                "nic addresses",
                format!("{NIC_CONF_PATH} has no pool"),
            )),
            Err(e) => out.push(
                Line::fail(
                    "nic addresses",
                    format!("{NIC_CONF_PATH}: {e}: burrow-nic refuses to create nics"),
                )
                .fix(format!("fix that line of {NIC_CONF_PATH}")),
            ),
        },
    }
    if sysctl("ipv4/conf/all/rp_filter").as_deref() == Some("2") {
        out.push(
            Line::warn(
                "rp_filter",
                "net.ipv4.conf.all.rp_filter is 2 (loose): it overrides the strict filter burrow-nic sets on per-user bridges, so containers can send with other subnets' addresses",
            )
            .fix("sysctl -w net.ipv4.conf.all.rp_filter=0 (or 1), or load burrow-nic-nat, which filters by route itself"),
        );
    }
    if sysctl("ipv4/ip_forward").as_deref() == Some("0") {
        out.push(Line::info(
            "forwarding",
            "IP forwarding is off: containers on per-user bridges reach this host only",
        )
        .fix("for NAT to the outside: /usr/libexec/burrow/burrow-nic-nat start (or systemctl enable --now burrow-nic-nat)"));
    }
    out
}

/// `admin check`: usernet lines whose bridges can be the same link as a per-user bridge
/// (burrow-nic refuses to attach anyone to another uid's per-user bridge, so one of the two
/// lines would fail for its users).
pub fn collision_lines(u: &Usernet) -> Vec<Line> {
    u.collisions()
        .into_iter()
        .map(|c| {
            Line::warn("usernet", format!("{USERNET_PATH}: {c}")).fix(format!(
                "rename the shared bridge or change one of the patterns in {USERNET_PATH} (see burrow-usernet(5))"
            ))
        })
        .collect()
}

/// `admin remove-user`: gives back the subnet leases of `uid` in burrow-nic's lease file (the
/// next create may then give those subnets to other users). Under burrow-nic's create lock,
/// taken with a bound like the helper's waiters (a stuck create is the helper's to kill).
pub fn release_leases(uid: u32) -> Result<Vec<String>, String> {
    use burrow_usernet::pool::{Leases, LEASES_PATH};
    use std::io::{Read, Seek, Write};
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(LEASES_PATH)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot open {LEASES_PATH}: {e}")),
    };
    let lock = match fs::File::open(LOCK_PATH) {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot open {LOCK_PATH}: {e}")),
    };
    if let Some(l) = &lock {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match burrow_sys::flock_exclusive_nb(std::os::fd::AsFd::as_fd(l)) {
                Ok(true) => break,
                Ok(false) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Ok(false) => {
                    return Err(format!(
                        "{LOCK_PATH} is still held after 15 s (a burrow-nic create, or a process holding it on purpose: see /proc/locks); the leases of uid {uid} were left as they are"
                    ))
                }
                Err(e) => return Err(format!("flock {LOCK_PATH}: {e}")),
            }
        }
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| format!("cannot read {LEASES_PATH}: {e}"))?;
    let (mut leases, _) = Leases::parse(&text);
    let gone = leases.release_uid(uid);
    if !gone.is_empty() {
        let out = leases.render();
        f.seek(std::io::SeekFrom::Start(0))
            .and_then(|_| f.write_all(out.as_bytes()))
            .and_then(|()| f.set_len(u64::try_from(out.len()).unwrap_or(u64::MAX)))
            .map_err(|e| format!("cannot write {LEASES_PATH}: {e}"))?;
    }
    Ok(gone
        .iter()
        .map(|b| format!("{LEASES_PATH}: released the subnet lease of bridge {b}"))
        .collect())
}

/// burrow-nic's create lock (see burrow-nic(1)).
const LOCK_PATH: &str = "/run/burrow/nic.lock";

/// `doctor`: what `burrow run --net bridge` will do for the caller (asks burrow-nic, which
/// knows the caller's groups and usage).
pub fn user_lines() -> Vec<Line> {
    let nic = match burrow_runtime::net::find_nic() {
        Ok(p) => p,
        Err(e) => {
            return vec![Line::warn(
                "network",
                format!("--net bridge is not available: {e}"),
            )]
        }
    };
    let out = std::process::Command::new(&nic)
        .args(["check", "veth", PER_USER])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            vec![Line::ok("network", format!("--net bridge: {text}"))]
        }
        Ok(o) => vec![Line::warn(
            "network",
            format!(
                "--net bridge is not available: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        )
        .fix("ask your admin: sudo burrow admin add-user YOU (adds a usernet line)")],
        Err(e) => vec![Line::warn(
            "network",
            format!("cannot run {}: {e}", nic.display()),
        )],
    }
}

#[cfg(test)]
mod tests;
