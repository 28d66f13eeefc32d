//! Image layers for an id map other than `--idmap shared`: the runtime decides the map and
//! the front end (which links the image store) makes or finds the layers' copies with owners
//! moved to it (burrow-image's `shift` module says how and why a copy).

use crate::ids::{self, IdPlan};
use crate::image::ImageRoot;
use crate::{err, Error};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where an image's files must be owned for a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftTarget {
    /// Names the map in the store (`auto-UIDSTART-GIDSTART-SIZE`, `keep-id-UID-GID`).
    pub key: String,
    /// Uid lines: (container id, id in the user's full namespace, count).
    pub uid: Vec<(u64, u64, u64)>,
    /// Gid lines, likewise.
    pub gid: Vec<(u64, u64, u64)>,
    /// Directories to create (if missing) owned by the container's root (an auto slice's
    /// upper and work directories).
    pub dirs: Vec<PathBuf>,
}

/// The front end's side.
#[derive(Debug, Clone, Copy)]
pub struct Shifter {
    /// Whether the image's layers already have their copies for the map key.
    pub has: fn(&ImageRoot, &str) -> bool,
    /// The image's layers for the map (top first), made if needed.
    pub make: fn(&ImageRoot, &ShiftTarget) -> Result<Vec<PathBuf>, String>,
}

static SHIFTER: OnceLock<Shifter> = OnceLock::new();

/// Registers the front end's shifter (`burrow run IMAGE` with `--idmap auto` or `keep-id`).
pub fn set_shifter(s: Shifter) {
    let _ = SHIFTER.set(s);
}

/// The store key of a map.
pub(crate) fn key(plan: &IdPlan) -> String {
    match plan {
        IdPlan::Slice {
            uid_start,
            gid_start,
            size,
        } => format!("auto-{uid_start}-{gid_start}-{size}"),
        IdPlan::KeepId { uid, gid, .. } => format!("keep-id-{uid}-{gid}"),
        IdPlan::Full { .. } => "shared".into(),
        IdPlan::Single { uid, gid } => format!("single-{uid}-{gid}"),
    }
}

/// Whether the image has its copies for `plan` already.
pub(crate) fn has(img: &ImageRoot, plan: &IdPlan) -> bool {
    SHIFTER.get().is_some_and(|s| (s.has)(img, &key(plan)))
}

/// The image's layers with the owners of `target` (a map of host ids), given the user's full
/// map `full`.
pub(crate) fn layers(
    img: &ImageRoot,
    full: &IdPlan,
    target: &IdPlan,
    dirs: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, Error> {
    let s = SHIFTER
        .get()
        .ok_or_else(|| err("internal error: no layer shifter registered"))?;
    let through = |gid: bool| {
        ids::through(&target.lines(gid), &full.lines(gid)).ok_or_else(|| {
            err(format!(
                "internal error: the id map {} is not within your subordinate ranges",
                key(target)
            ))
        })
    };
    let t = ShiftTarget {
        key: key(target),
        uid: through(false)?,
        gid: through(true)?,
        dirs,
    };
    (s.make)(img, &t).map_err(err)
}

/// Makes an image root reachable by a container root that is not you (`--idmap auto`):
/// called by the container's pid 1 in its own mount namespace before it becomes root of its
/// user namespace (while its file system id is still yours), it opens the layers and the
/// container's directory and returns the plan with them as `/proc/self/fd/N` (overlayfs takes
/// only mounts of the caller's namespace, so the descriptors cannot come from the parent).
/// The directory becomes searchable (0711: its upper and work directories are the slice
/// root's). The descriptors are closed before the command runs.
pub(crate) fn pin(
    spec: &crate::child::ContainerSpec,
) -> Result<(Option<crate::image::OverlayPlan>, Vec<std::os::fd::OwnedFd>), Error> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    let (Some(o), burrow_config::IdMap::Auto(_)) = (spec.image.as_ref(), spec.config().idmap)
    else {
        return Ok((None, Vec::new()));
    };
    let mut o = o.clone();
    let open = |p: &std::path::Path| -> Result<std::os::fd::OwnedFd, Error> {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| err(format!("bad path {}", p.display())))?;
        burrow_sys::openat2(None, &c, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| err(format!("cannot open {}: {e}", p.display())))
    };
    std::fs::set_permissions(&o.dir, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| err(format!("cannot make {} searchable: {e}", o.dir.display())))?;
    let mut held = Vec::new();
    let fdpath =
        |f: &std::os::fd::OwnedFd| PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    let mut lowers = Vec::new();
    for l in &o.image.lowers {
        let f = open(l)?;
        lowers.push(fdpath(&f));
        held.push(f);
    }
    let d = open(&o.dir)?;
    o.dir = fdpath(&d);
    held.push(d);
    o.image.lowers = lowers;
    Ok((Some(o), held))
}
