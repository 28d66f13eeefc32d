//! Who the caller is, which ids the container gets, and writing its maps: through
//! burrow-newuidmap/burrow-newgidmap when the caller has subordinate ranges, or directly (one
//! id, no helper) when it has none.

use crate::{err, Ctx, Error};
use burrow_idmap::{subid, Range, SubidFile};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Login name (empty when unknown).
    pub name: String,
}

impl Me {
    /// The calling user. The name comes from /etc/passwd, else from `getent passwd UID` (a
    /// static binary cannot load NSS modules itself); it stays empty when unknown (subid
    /// lines can still name the numeric uid).
    pub fn current() -> Me {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let from = |text: &str| {
            burrow_idmap::passwd::parse(text)
                .into_iter()
                .find(|e| e.uid == uid)
                .map(|e| e.name)
        };
        let name = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|t| from(&t))
            .or_else(|| {
                let out = Command::new("getent")
                    .args(["passwd", &uid.to_string()])
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                from(&String::from_utf8_lossy(&out.stdout))
            })
            .unwrap_or_default();
        Me { uid, gid, name }
    }
}

/// The container's id layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdPlan {
    /// Container 0 is the caller, 1..=count are the subordinate ranges.
    Full {
        /// Caller uid.
        uid: u32,
        /// Caller gid.
        gid: u32,
        /// Subordinate uids.
        subuid: Range,
        /// Subordinate gids.
        subgid: Range,
    },
    /// `--idmap auto`: container 0..size are a slice of the subordinate ranges of its own.
    Slice {
        /// First host uid.
        uid_start: u64,
        /// First host gid.
        gid_start: u64,
        /// Number of ids.
        size: u64,
    },
    /// `--idmap keep-id`: container `uid` is the caller's uid (and `gid` the caller's gid); the
    /// other container ids come from the subordinate ranges in order (see [`keep_id_lines`]).
    KeepId {
        /// Caller uid.
        uid: u32,
        /// Caller gid.
        gid: u32,
        /// Subordinate uids.
        subuid: Range,
        /// Subordinate gids.
        subgid: Range,
    },
    /// Only container 0 = the caller (no subordinate range).
    Single {
        /// Caller uid.
        uid: u32,
        /// Caller gid.
        gid: u32,
    },
}

impl IdPlan {
    /// The map lines, for the uid map (`gid = false`) or the gid map.
    pub fn lines(&self, gid: bool) -> Vec<(u64, u64, u64)> {
        match self {
            IdPlan::Full {
                uid,
                gid: g,
                subuid,
                subgid,
            } => {
                let (own, r) = if gid { (*g, subgid) } else { (*uid, subuid) };
                vec![(0, u64::from(own), 1), (1, r.start, r.len())]
            }
            IdPlan::Slice {
                uid_start,
                gid_start,
                size,
            } => vec![(0, if gid { *gid_start } else { *uid_start }, *size)],
            IdPlan::KeepId {
                uid,
                gid: g,
                subuid,
                subgid,
            } => {
                let (own, r) = if gid { (*g, subgid) } else { (*uid, subuid) };
                keep_id_lines(own, r)
            }
            IdPlan::Single { uid, gid: g } => vec![(0, u64::from(if gid { *g } else { *uid }), 1)],
        }
    }

    /// The `--idmap keep-id` plan for the caller of a full plan (`None` without a range).
    pub fn keep_id(&self) -> Option<IdPlan> {
        match self {
            IdPlan::Full {
                uid,
                gid,
                subuid,
                subgid,
            } => Some(IdPlan::KeepId {
                uid: *uid,
                gid: *gid,
                subuid: *subuid,
                subgid: *subgid,
            }),
            _ => None,
        }
    }

    /// Host uid of container uid `inner`, if mapped.
    pub fn host_uid(&self, inner: u32) -> Option<u64> {
        self.host_id(inner, false)
    }

    /// Host id of container id `inner` in the uid (`gid = false`) or gid map, if mapped.
    pub fn host_id(&self, inner: u32, gid: bool) -> Option<u64> {
        self.lines(gid)
            .into_iter()
            .find(|(i, _, c)| u64::from(inner) >= *i && u64::from(inner) < i + c)
            .map(|(i, o, _)| o + (u64::from(inner) - i))
    }
}

/// One map of `--idmap keep-id`, in host ids, in podman's layout: a rootless podman
/// `--userns=keep-id` container's map, relative to podman's rootless namespace (0 = you,
/// 1..=N = your subordinate range of N ids), is `0 1 U`, `U 0 1`, `U+1 U+1 N-U`; in host ids
/// that is container 0..U-1 = the range's first U ids, container U = you, container U+1.. =
/// the rest of the range (so container ids above U are where `--idmap shared` puts them).
/// A range of at most U ids gives container 0..N-1 and U only.
/// (Checked against podman's own output for uid 1000 and 65536 ids, as shown where keep-id
/// was added, containers/podman pull 3196: `0 1 1000`, `1000 0 1`, `1001 1001 64536`.)
pub fn keep_id_lines(own: u32, range: &Range) -> Vec<(u64, u64, u64)> {
    let own = u64::from(own);
    let n = range.len();
    let below = own.min(n);
    let mut v = Vec::new();
    if below > 0 {
        v.push((0, range.start, below));
    }
    v.push((own, own, 1));
    if n > own {
        v.push((own + 1, range.start + own, n - own));
    }
    v
}

/// Rewrites `target` (container id -> host id lines) as container id -> id in the namespace
/// of `full` (its lines: namespace id -> host id): where the container's ids are in the
/// namespace the store's writers run in. `None` when a host id of `target` is not in `full`.
pub fn through(
    target: &[(u64, u64, u64)],
    full: &[(u64, u64, u64)],
) -> Option<Vec<(u64, u64, u64)>> {
    let mut out = Vec::new();
    for &(inner, host, count) in target {
        let mut covered = 0;
        for &(ns, h, k) in full {
            let lo = host.max(h);
            let hi = (host + count).min(h + k);
            if lo < hi {
                out.push((inner + (lo - host), ns + (lo - h), hi - lo));
                covered += hi - lo;
            }
        }
        if covered != count {
            return None;
        }
    }
    out.sort_unstable();
    Some(out)
}

/// Largest count so that container ids 1..=count stay valid.
const MAX_SUB: u64 = 4_294_967_294 - 1;

fn first_range(path: &str, me: &Me) -> Result<Option<Range>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(format!("cannot read {path}: {e}"))),
    };
    let file = SubidFile::parse(&text);
    let ranges = file.ranges_for(|o| subid::owner_matches(o, &me.name, me.uid, &[]));
    Ok(ranges.first().map(|r| Range {
        start: r.start,
        end: r.start + r.len().min(MAX_SUB),
    }))
}

/// Decides the layout; the second value is a warning to print when the caller has no range.
pub fn plan(me: &Me) -> Result<(IdPlan, Option<String>), Error> {
    let su = first_range("/etc/subuid", me)?;
    let sg = first_range("/etc/subgid", me)?;
    match (su, sg) {
        (Some(subuid), Some(subgid)) => Ok((
            IdPlan::Full {
                uid: me.uid,
                gid: me.gid,
                subuid,
                subgid,
            },
            None,
        )),
        (su, _) => {
            let file = if su.is_none() {
                "/etc/subuid"
            } else {
                "/etc/subgid"
            };
            let who = if me.name.is_empty() {
                me.uid.to_string()
            } else {
                me.name.clone()
            };
            Ok((
                IdPlan::Single { uid: me.uid, gid: me.gid },
                Some(format!(
                    "no subordinate id range for {who} in {file}: the container gets one id (root inside = you); \
ask your admin for a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}"
                )),
            ))
        }
    }
}

/// The two helper binaries and where they were found.
#[derive(Debug, Clone)]
pub struct Helpers {
    /// burrow-newuidmap.
    pub uid: PathBuf,
    /// burrow-newgidmap.
    pub gid: PathBuf,
    /// How they were found (for `--log-level debug`).
    pub source: String,
}

/// Finds the helpers: `$BURROW_HELPERS_DIR`, else the directory fixed at build time
/// (`BURROW_HELPERS_DIR` in the build environment), else `PATH`; checks they are privileged.
pub fn find_helpers() -> Result<Helpers, Error> {
    let names = ["burrow-newuidmap", "burrow-newgidmap"];
    let mut tried = Vec::new();
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(d) = std::env::var_os("BURROW_HELPERS_DIR") {
        candidates.push((
            PathBuf::from(&d),
            format!("$BURROW_HELPERS_DIR ({})", Path::new(&d).display()),
        ));
    } else {
        if let Some(d) = option_env!("BURROW_HELPERS_DIR") {
            candidates.push((PathBuf::from(d), format!("the build-time directory {d}")));
        }
        for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let shown = format!("PATH ({})", d.display());
            candidates.push((d, shown));
        }
    }
    for (dir, source) in candidates {
        let uid = dir.join(names[0]);
        let gid = dir.join(names[1]);
        if uid.is_file() && gid.is_file() {
            for p in [&uid, &gid] {
                check_privileged(p)?;
            }
            return Ok(Helpers { uid, gid, source });
        }
        tried.push(dir.display().to_string());
    }
    Err(err(format!(
        "burrow-newuidmap and burrow-newgidmap not found (looked in: {}); install burrow's helpers \
(sudo bash scripts/quickstart.sh) or set BURROW_HELPERS_DIR to their directory",
        if tried.is_empty() { "nothing".to_owned() } else { tried.join(", ") }
    )))
}

fn check_privileged(p: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(p).ctx(|| format!("cannot stat {}", p.display()))?;
    if md.uid() == 0 && md.mode() & 0o4000 != 0 {
        return Ok(());
    }
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| err("bad helper path"))?;
    if burrow_sys::rt::has_file_caps(&c) {
        return Ok(());
    }
    let cap = if p.ends_with("burrow-newgidmap") {
        "cap_setgid"
    } else {
        "cap_setuid"
    };
    Err(err(format!(
        "{0} is neither setuid root nor has file capabilities, so it cannot map ids; ask your admin to run: \
chown root:root {0} && chmod 4755 {0}   (or: setcap {cap}+ep {0})",
        p.display()
    )))
}

/// Writes the container's maps. `pid` is our own unreaped child, so it cannot be reused.
pub fn write_maps(plan: &IdPlan, helpers: Option<&Helpers>, pid: i32) -> Result<(), Error> {
    match (plan, helpers) {
        (IdPlan::Full { .. } | IdPlan::Slice { .. } | IdPlan::KeepId { .. }, Some(h)) => {
            let args = |gid: bool| -> Vec<String> {
                let mut v = vec![pid.to_string()];
                for (i, o, c) in plan.lines(gid) {
                    v.extend([i.to_string(), o.to_string(), c.to_string()]);
                }
                v
            };
            let spawn = |path: &Path, gid: bool| {
                Command::new(path)
                    .args(args(gid))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .ctx(|| format!("cannot run {}", path.display()))
            };
            // Both maps are independent: run the two helpers at once.
            let u = spawn(&h.uid, false)?;
            let g = spawn(&h.gid, true)?;
            let (uo, go) = (u.wait_with_output(), g.wait_with_output());
            for (out, path) in [(uo, &h.uid), (go, &h.gid)] {
                let out = out.ctx(|| format!("waiting for {}", path.display()))?;
                if !out.status.success() {
                    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                    return Err(err(format!(
                        "mapping the container's ids failed: {msg}\n(run `burrow doctor` or check /etc/subuid and /etc/subgid)"
                    )));
                }
            }
            Ok(())
        }
        (IdPlan::Full { .. } | IdPlan::Slice { .. } | IdPlan::KeepId { .. }, None) => {
            Err(err("internal error: a full id map needs the helpers"))
        }
        (IdPlan::Single { .. }, _) => {
            // One id each: allowed without privilege (setgroups must be denied first).
            let lines = |gid: bool| {
                plan.lines(gid)
                    .iter()
                    .map(|(i, o, c)| format!("{i} {o} {c}\n"))
                    .collect::<String>()
            };
            let base = format!("/proc/{pid}");
            std::fs::write(format!("{base}/setgroups"), "deny\n")
                .ctx(|| "writing setgroups".into())?;
            std::fs::write(format!("{base}/uid_map"), lines(false))
                .ctx(|| "writing uid_map".into())?;
            std::fs::write(format!("{base}/gid_map"), lines(true))
                .ctx(|| "writing gid_map".into())?;
            Ok(())
        }
    }
}

/// One `--idmap auto` slice in use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Slot {
    uid_start: u64,
    gid_start: u64,
    size: u64,
    pid: i32,
    pid_start: u64,
    name: String,
}

/// Picks the first slice of `size` ids (at the same offset in the uid and gid ranges) that
/// no live holder uses. `in_use` are (offset, size) of live slices.
fn free_offset(len: u64, size: u64, in_use: &[(u64, u64)]) -> Option<u64> {
    let mut off = 0;
    while off + size <= len {
        match in_use.iter().find(|(o, s)| off < o + s && *o < off + size) {
            None => return Some(off),
            // Jump past the blocking slice, keeping slices aligned to `size`.
            Some((o, s)) => off = (o + s).div_ceil(size) * size,
        }
    }
    None
}

/// Free offsets for a slice of `size` ids: the aligned ones first (so slices, and the
/// shifted image layers made for them, come back at the same places), then [`free_offset`]'s.
fn free_offsets(len: u64, size: u64, in_use: &[(u64, u64)]) -> Vec<u64> {
    let mut v: Vec<u64> = (0..len / size)
        .map(|k| k * size)
        .filter(|off| !in_use.iter().any(|(o, s)| *off < o + s && *o < off + size))
        .collect();
    if v.is_empty() {
        v.extend(free_offset(len, size, in_use));
    }
    v
}

/// The registry of slices in use, locked while this lives.
struct Slots {
    _lock: std::fs::File,
    path: PathBuf,
    slots: Vec<Slot>,
}

impl Slots {
    fn open() -> Result<Slots, Error> {
        let root = crate::state::root()?;
        let lock_path = root.join("idmaps.lock");
        let lockf = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| "cannot open the id map lock".into())?;
        let lock = crate::state::bounded_lock(lockf, &lock_path, "the id map registry")?;
        let path = root.join("idmaps.json");
        let mut slots: Vec<Slot> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        slots.retain(|s| crate::state::same_process(Some(s.pid), Some(s.pid_start)));
        Ok(Slots {
            _lock: lock,
            path,
            slots,
        })
    }

    fn save(&self) -> Result<(), Error> {
        let tmp = self.path.with_file_name(".idmaps.json.tmp");
        let text =
            serde_json::to_string(&self.slots).map_err(|e| err(format!("idmaps.json: {e}")))?;
        std::fs::write(&tmp, text).ctx(|| "cannot write idmaps.json".into())?;
        std::fs::rename(&tmp, &self.path).ctx(|| "cannot write idmaps.json".into())
    }
}

/// `--idmap auto[:SIZE]`: gives the container `holder` (its pid 1, or the process that will
/// start it) a slice of the caller's ranges that no other running container holds, recorded
/// in `idmaps.json` under a lock. Among the free slices, the first one `prefer` likes is
/// taken (an image run prefers a slice its layers were already shifted for), else the first.
pub fn allocate(
    plan: &IdPlan,
    size: Option<u32>,
    holder: i32,
    name: &str,
    prefer: &dyn Fn(&IdPlan) -> bool,
) -> Result<IdPlan, Error> {
    let IdPlan::Full { subuid, subgid, .. } = plan else {
        return Err(err(
            "--idmap auto needs a subordinate id range: ask your admin (sudo burrow admin add-user USER)",
        ));
    };
    let len = subuid.len().min(subgid.len());
    let size = u64::from(size.unwrap_or(65_536));
    if size > len {
        return Err(err(format!(
            "your subordinate ranges have {len} ids, too few for --idmap auto with {size} ids per container: use --idmap auto:SIZE with a smaller SIZE, or ask your admin for more (sudo burrow admin add-user USER --count {})",
            size * 10
        )));
    }
    let mut reg = Slots::open()?;
    let in_use: Vec<(u64, u64)> = reg
        .slots
        .iter()
        .filter(|s| s.uid_start >= subuid.start && s.gid_start >= subgid.start)
        .map(|s| (s.uid_start - subuid.start, s.size))
        .collect();
    let slice_at = |off: u64| IdPlan::Slice {
        uid_start: subuid.start + off,
        gid_start: subgid.start + off,
        size,
    };
    let free = free_offsets(len, size, &in_use);
    let Some(off) = free
        .iter()
        .copied()
        .find(|o| prefer(&slice_at(*o)))
        .or_else(|| free.first().copied())
    else {
        return Err(err(format!(
            "no free slice of {size} ids left in your subordinate range ({} running containers use --idmap auto): stop one, use a smaller auto:SIZE, or ask your admin for a bigger range",
            in_use.len()
        )));
    };
    let pid_start = crate::state::start_time(holder).ok_or_else(|| err("the container exited"))?;
    reg.slots.push(Slot {
        uid_start: subuid.start + off,
        gid_start: subgid.start + off,
        size,
        pid: holder,
        pid_start,
        name: name.to_owned(),
    });
    reg.save()?;
    Ok(slice_at(off))
}

/// Hands a slice reserved by [`allocate`] for the process `reserver` over to the container
/// `holder`, so it stays taken while the container runs.
pub fn claim(slice: &IdPlan, reserver: i32, holder: i32, name: &str) -> Result<(), Error> {
    let IdPlan::Slice {
        uid_start,
        gid_start,
        size,
    } = *slice
    else {
        return Ok(());
    };
    let mut reg = Slots::open()?;
    let pid_start = crate::state::start_time(holder).ok_or_else(|| err("the container exited"))?;
    let overlaps = |s: &Slot| uid_start < s.uid_start + s.size && s.uid_start < uid_start + size;
    if let Some(other) = reg
        .slots
        .iter()
        .find(|s| overlaps(s) && s.pid != reserver && s.pid != holder)
    {
        return Err(err(format!(
            "internal error: the id slice reserved for this container is taken by {}",
            other.name
        )));
    }
    reg.slots.retain(|s| !overlaps(s));
    reg.slots.push(Slot {
        uid_start,
        gid_start,
        size,
        pid: holder,
        pid_start,
        name: name.to_owned(),
    });
    reg.save()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_lines() {
        let p = IdPlan::Full {
            uid: 1000,
            gid: 1001,
            subuid: Range::new(100_000, 65_536),
            subgid: Range::new(200_000, 10),
        };
        assert_eq!(p.lines(false), vec![(0, 1000, 1), (1, 100_000, 65_536)]);
        assert_eq!(p.lines(true), vec![(0, 1001, 1), (1, 200_000, 10)]);
        assert_eq!(p.host_uid(0), Some(1000));
        assert_eq!(p.host_uid(1000), Some(100_999));
        assert_eq!(p.host_uid(65_537), None);
        let sl = IdPlan::Slice {
            uid_start: 200_000,
            gid_start: 300_000,
            size: 10,
        };
        assert_eq!(sl.lines(false), vec![(0, 200_000, 10)]);
        assert_eq!(sl.host_id(9, true), Some(300_009));
        assert_eq!(sl.host_id(10, true), None);
        let s = IdPlan::Single { uid: 5, gid: 6 };
        assert_eq!(s.lines(true), vec![(0, 6, 1)]);
    }

    #[test]
    fn slices() {
        assert_eq!(free_offset(100, 10, &[]), Some(0));
        assert_eq!(free_offset(100, 10, &[(0, 10), (10, 10)]), Some(20));
        assert_eq!(free_offset(100, 10, &[(5, 3)]), Some(10));
        assert_eq!(free_offset(30, 10, &[(0, 10), (10, 10), (20, 10)]), None);
        assert_eq!(free_offset(25, 10, &[(0, 10), (10, 10)]), None);
        assert_eq!(free_offset(100, 50, &[(0, 10)]), Some(50));
        assert_eq!(free_offsets(40, 10, &[(10, 10)]), vec![0, 20, 30]);
        assert_eq!(free_offsets(25, 10, &[(0, 5)]), vec![10]);
        assert_eq!(free_offsets(25, 10, &[(0, 5), (10, 10)]), Vec::<u64>::new());
    }

    #[test]
    fn keep_id_maps() {
        // podman's layout for uid 1000 with 100000:65536 (rootless-relative `0 1 1000`,
        // `1000 0 1`, `1001 1001 64536`), in host ids.
        let r = Range::new(100_000, 65_536);
        assert_eq!(
            keep_id_lines(1000, &r),
            vec![(0, 100_000, 1000), (1000, 1000, 1), (1001, 101_000, 64_536)]
        );
        // A range no bigger than the uid: 0..N-1 and the uid.
        let small = Range::new(200_000, 10);
        assert_eq!(
            keep_id_lines(1000, &small),
            vec![(0, 200_000, 10), (1000, 1000, 1)]
        );
        // uid 0 (no ids below).
        assert_eq!(keep_id_lines(0, &small), vec![(0, 0, 1), (1, 200_000, 10)]);
        let p = IdPlan::Full {
            uid: 1000,
            gid: 1001,
            subuid: Range::new(100_000, 65_536),
            subgid: Range::new(300_000, 65_536),
        };
        let k = p.keep_id().unwrap();
        assert_eq!(k.host_id(1000, false), Some(1000));
        assert_eq!(k.host_id(1001, true), Some(1001));
        assert_eq!(k.host_id(0, false), Some(100_000));
        assert_eq!(k.host_id(0, true), Some(300_000));
        assert_eq!(k.host_id(1001, false), Some(101_000));
        // Ids above the caller's are where --idmap shared has them.
        assert_eq!(k.host_id(5000, false), p.host_id(5000, false));
        assert!(IdPlan::Single { uid: 1, gid: 1 }.keep_id().is_none());
    }

    #[test]
    fn through_the_full_map() {
        let full = IdPlan::Full {
            uid: 1000,
            gid: 1000,
            subuid: Range::new(100_000, 65_536),
            subgid: Range::new(100_000, 65_536),
        };
        // keep-id in the store writers' namespace: container 0..999 = ns 1..1000, 1000 = ns 0
        // (the caller), 1001.. = ns 1001...
        let k = full.keep_id().unwrap();
        assert_eq!(
            through(&k.lines(false), &full.lines(false)).unwrap(),
            vec![(0, 1, 1000), (1000, 0, 1), (1001, 1001, 64_536)]
        );
        let sl = IdPlan::Slice {
            uid_start: 110_000,
            gid_start: 110_000,
            size: 100,
        };
        assert_eq!(
            through(&sl.lines(false), &full.lines(false)).unwrap(),
            vec![(0, 10_001, 100)]
        );
        // A host id outside the namespace.
        let out = IdPlan::Slice {
            uid_start: 165_500,
            gid_start: 165_500,
            size: 100,
        };
        assert!(through(&out.lines(false), &full.lines(false)).is_none());
    }
}
