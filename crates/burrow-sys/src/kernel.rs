//! The kernel features Burrow cannot do without, the version that brought each, and a clear
//! error for a kernel (or a seccomp filter around burrow) that lacks one.
//!
//! docs/isolation.md ("Kernel features and minimum versions") has the full table, with the
//! features Burrow can do without and what it does then.

use std::io;

/// A kernel feature Burrow needs, and the first mainline release that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// What it is, as the user reads it.
    pub name: &'static str,
    /// The first mainline release with it, `(major, minor)`.
    pub since: (u32, u32),
}

/// Every feature without which a container cannot start or be joined (`run`, `exec`), in
/// order of version.
pub const REQUIRED: &[Feature] = &[
    Feature {
        name: "pidfd_send_signal",
        since: (5, 1),
    },
    Feature {
        name: "clone3 with CLONE_PIDFD",
        since: (5, 3),
    },
    Feature {
        name: "pidfd_open",
        since: (5, 3),
    },
    Feature {
        name: "openat2 (RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS)",
        since: (5, 6),
    },
    Feature {
        name: "setns through a pidfd",
        since: (5, 8),
    },
    Feature {
        name: "close_range",
        since: (5, 9),
    },
    Feature {
        name: "close_range with CLOSE_RANGE_CLOEXEC",
        since: (5, 11),
    },
    Feature {
        name: "mount_setattr",
        since: (5, 12),
    },
];

/// The oldest kernel Burrow runs on: the newest of [`REQUIRED`].
pub const MINIMUM: (u32, u32) = (5, 12);

/// The features of [`REQUIRED`] that a kernel `version` lacks.
pub fn missing(version: (u32, u32)) -> Vec<Feature> {
    REQUIRED
        .iter()
        .filter(|f| f.since > version)
        .copied()
        .collect()
}

/// `major.minor` from a `uname -r` release (`"6.1.0-27-amd64"` -> `(6, 1)`); `None` when it
/// does not start with two dot-separated numbers.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let rest = parts.next()?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let minor = rest.get(..end)?.parse().ok()?;
    Some((major, minor))
}

/// The running kernel's release (`uname -r`), if `uname` answers.
pub fn release() -> Option<String> {
    // SAFETY: utsname is plain data; all-zero is valid and uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer to a utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| c.to_ne_bytes()[0])
        .collect();
    String::from_utf8(bytes).ok()
}

/// Is the running kernel older than `version`? `false` when its release cannot be read.
pub fn older_than(version: (u32, u32)) -> bool {
    release()
        .and_then(|r| parse_release(&r))
        .is_some_and(|v| v < version)
}

/// The message for `what` (a syscall or a flag of one) refused as unknown.
fn message(what: &str, since: (u32, u32), errno: &str, release: Option<&str>) -> String {
    let this = release.map_or_else(String::new, |r| format!(" (this kernel is {r})"));
    format!(
        "{what} is not available ({errno}): it needs Linux {}.{} or later{this}, or a seccomp \
filter around burrow refuses it; burrow needs Linux {}.{} or later (see `burrow doctor`)",
        since.0, since.1, MINIMUM.0, MINIMUM.1
    )
}

/// Turns `ENOSYS` from `what` into an error that names the feature and the kernel it needs;
/// any other error is returned as it is.
pub fn enosys(e: io::Error, what: &str, since: (u32, u32)) -> io::Error {
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return e;
    }
    io::Error::new(
        io::ErrorKind::Unsupported,
        message(what, since, "ENOSYS", release().as_deref()),
    )
}

/// Same as [`enosys`] for a flag that older kernels refuse with `EINVAL` (only for calls
/// where nothing else can give `EINVAL`).
pub fn einval_flag(e: io::Error, what: &str, since: (u32, u32)) -> io::Error {
    if e.raw_os_error() != Some(libc::EINVAL) {
        return enosys(e, what, since);
    }
    io::Error::new(
        io::ErrorKind::Unsupported,
        message(what, since, "EINVAL", release().as_deref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_is_the_newest_required_feature() {
        assert_eq!(REQUIRED.iter().map(|f| f.since).max(), Some(MINIMUM));
        assert!(REQUIRED.windows(2).all(|w| w[0].since <= w[1].since));
        assert!(missing(MINIMUM).is_empty());
        assert!(missing((6, 1)).is_empty());
    }

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.1.0-27-amd64"), Some((6, 1)));
        assert_eq!(parse_release("5.10.0"), Some((5, 10)));
        assert_eq!(parse_release("4.19.0-xyz"), Some((4, 19)));
        assert_eq!(parse_release("6.18.44-fc-v1272\n"), Some((6, 18)));
        assert_eq!(parse_release("5.12"), Some((5, 12)));
        assert_eq!(parse_release("6.9-rc1"), Some((6, 9)));
        assert_eq!(parse_release("garbage"), None);
        assert_eq!(parse_release(""), None);
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("6.x"), None);
        assert_eq!(parse_release("-1.2"), None);
    }

    #[test]
    fn missing_on_older_kernels() {
        let names = |v| missing(v).iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(
            names((5, 10)),
            ["close_range with CLOSE_RANGE_CLOEXEC", "mount_setattr"]
        );
        assert_eq!(missing((4, 19)).len(), REQUIRED.len());
        assert_eq!(names((5, 11)), ["mount_setattr"]);
    }

    #[test]
    fn enosys_is_named_other_errors_are_kept() {
        let e = enosys(io::Error::from_raw_os_error(libc::ENOSYS), "clone3", (5, 3));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        let m = e.to_string();
        assert!(m.starts_with("clone3 is not available (ENOSYS): it needs Linux 5.3 or later"));
        assert!(m.contains("burrow needs Linux 5.12 or later"), "{m}");
        let e = enosys(io::Error::from_raw_os_error(libc::EPERM), "clone3", (5, 3));
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        let e = einval_flag(
            io::Error::from_raw_os_error(libc::EINVAL),
            "close_range with CLOSE_RANGE_CLOEXEC",
            (5, 11),
        );
        assert!(e.to_string().contains("(EINVAL): it needs Linux 5.11"));
        assert_eq!(
            message("x", (5, 9), "ENOSYS", Some("5.4.0")),
            "x is not available (ENOSYS): it needs Linux 5.9 or later (this kernel is 5.4.0), \
or a seccomp filter around burrow refuses it; burrow needs Linux 5.12 or later (see `burrow doctor`)"
        );
    }

    #[test]
    fn this_kernel_has_a_release() {
        assert!(release().and_then(|r| parse_release(&r)).is_some());
    }
}
