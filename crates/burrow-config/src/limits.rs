//! Resource limits (`--memory`, `--memory-swap`, `--cpus`, `--cpu-weight`, `--pids-limit`):
//! their typed values, parsed from the command line and the file, and their validation.
//! burrow-cgroups writes them.

use crate::{invalid, ConfigError as Error};
use std::fmt;

/// The smallest memory limit accepted: 1 MiB (a container needs a few MiB to start at all).
pub const MIN_MEMORY: u64 = 1 << 20;
/// The cpu period used by [`Limits::from_cpus`], in microseconds (docker's and the kernel's
/// default).
pub const CPU_PERIOD_US: u64 = 100_000;
/// pids.max refuses more than the kernel's PID_MAX_LIMIT.
const MAX_PIDS: u64 = 4_194_304;

/// A container's resource limits. `None` leaves the kernel's default (unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes (`--memory`), at least [`MIN_MEMORY`].
    pub memory: Option<u64>,
    /// Memory plus swap in bytes (`--memory-swap`, docker's meaning: the total, so
    /// `memory_swap == memory` means no swap). `None` (docker's `-1`) is unlimited swap. Needs
    /// `memory` and must be at least `memory`.
    pub memory_swap: Option<u64>,
    /// cpu quota and period in microseconds (`--cpus 1.5` is `(150000, 100000)`, see
    /// [`Limits::from_cpus`]).
    pub cpu_quota_us: Option<(u64, u64)>,
    /// Relative cpu weight, 1..=10000 as v2's `cpu.weight` (100 is the default); on v1 it
    /// becomes `cpu.shares` (burrow-cgroups' `cpu_shares`).
    pub cpu_weight: Option<u64>,
    /// Most processes and threads at once (`--pids-limit`).
    pub pids: Option<u64>,
}

impl Limits {
    /// True when no limit is set (then a container needs no cgroup).
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// `(quota, period)` for `--cpus N`: the period is [`CPU_PERIOD_US`], the quota N times it,
    /// rounded to the microsecond. N must be between 0.01 and 10000.
    pub fn from_cpus(cpus: f64) -> Result<(u64, u64), Error> {
        if !(0.01..=10_000.0).contains(&cpus) {
            return Err(invalid(format!(
                "invalid cpus {cpus}: expected a number of cpus from 0.01 to 10000"
            )));
        }
        // No float-to-int cast: the value is in 1000..=1e9, so its rounded text is an integer.
        let quota = format!("{:.0}", cpus * 100_000.0)
            .parse::<u64>()
            .map_err(|_| invalid(format!("invalid cpus {cpus}")))?;
        Ok((quota, CPU_PERIOD_US))
    }

    /// Checks every value; the message names the option and the accepted range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(invalid(m));
        if let Some(m) = self.memory {
            if m < MIN_MEMORY {
                return bad(format!(
                    "memory limit {m} bytes is below the minimum of 1 MiB (1048576 bytes)"
                ));
            }
        }
        match (self.memory, self.memory_swap) {
            (None, Some(_)) => {
                return bad("a memory-swap limit needs a memory limit too (memory-swap is memory plus swap)".into())
            }
            (Some(m), Some(s)) if s < m => {
                return bad(format!(
                    "memory-swap limit ({s} bytes) must be at least the memory limit ({m} bytes): it counts memory plus swap"
                ))
            }
            _ => {}
        }
        if let Some((quota, period)) = self.cpu_quota_us {
            if !(1000..=1_000_000).contains(&period) {
                return bad(format!(
                    "cpu period {period} is out of range: it must be from 1000 to 1000000 microseconds"
                ));
            }
            if quota < 1000 {
                return bad(format!(
                    "cpu quota {quota} is too small: it must be at least 1000 microseconds (0.01 cpus)"
                ));
            }
        }
        if let Some(w) = self.cpu_weight {
            if !(1..=10_000).contains(&w) {
                return bad(format!(
                    "cpu weight {w} is out of range: it must be from 1 to 10000 (100 is the default)"
                ));
            }
        }
        if let Some(p) = self.pids {
            if !(1..=MAX_PIDS).contains(&p) {
                return bad(format!(
                    "pids limit {p} is out of range: it must be from 1 to {MAX_PIDS}"
                ));
            }
        }
        Ok(())
    }
}

/// Parses a size: a decimal number with an optional fraction and an optional binary unit
/// `b`, `k`, `m`, `g` or `t` (any case, optionally followed by `b` or `ib`: `512mb`,
/// `512MiB`), like `512m`,
/// `1g`, `100k`, `1024`, `1.5g`. Strict: no sign, spaces, exponent or leading zero, at most 9
/// fraction digits, and the result must be a whole number of bytes that fits in u64.
pub fn parse_size(s: &str) -> Result<u64, Error> {
    let bad = || {
        invalid(format!(
            "invalid size {s:?}: expected a number with an optional unit b, k, m, g or t (like 512m, 1.5g or 1048576)"
        ))
    };
    let lower = s.to_ascii_lowercase();
    // `ib` (as in MiB) only after a unit letter; a plain `b` anywhere.
    let (t, iec) = match lower.strip_suffix("ib") {
        Some(t) => (t, true),
        None => (lower.strip_suffix('b').unwrap_or(&lower), false),
    };
    let (num, shift) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], 10),
        Some(b'm') => (&t[..t.len() - 1], 20),
        Some(b'g') => (&t[..t.len() - 1], 30),
        Some(b't') => (&t[..t.len() - 1], 40),
        _ if iec => return Err(bad()),
        _ => (t, 0),
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) if !f.is_empty() && f.len() <= 9 => (i, f),
        Some(_) => return Err(bad()),
        None => (num, ""),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) || !(frac.is_empty() || digits(frac))
    {
        return Err(bad());
    }
    let scale = 10u128.pow(u32::try_from(frac.len()).map_err(|_| bad())?);
    let int: u128 = int.parse().map_err(|_| bad())?;
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let scaled = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .and_then(|v| v.checked_mul(1u128 << shift))
        .ok_or_else(bad)?;
    if scaled % scale != 0 {
        return Err(invalid(format!(
            "invalid size {s:?}: it is not a whole number of bytes"
        )));
    }
    u64::try_from(scaled / scale).map_err(|_| invalid(format!("invalid size {s:?}: too large")))
}

/// A size as given (`--memory 512m`): its bytes, and its text for the saved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    /// Bytes.
    pub bytes: u64,
    text: String,
}

impl std::str::FromStr for Size {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(Size {
            bytes: parse_size(s)?,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `--memory-swap`: a size (memory plus swap), or `-1` for unlimited swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemorySwap {
    /// `-1`: swap is not limited.
    Unlimited,
    /// Memory plus swap.
    Limit(Size),
}

impl MemorySwap {
    /// Bytes of memory plus swap; `None` when unlimited.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            MemorySwap::Unlimited => None,
            MemorySwap::Limit(s) => Some(s.bytes),
        }
    }
}

impl std::str::FromStr for MemorySwap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "-1" => Ok(MemorySwap::Unlimited),
            _ => s.parse().map(MemorySwap::Limit),
        }
    }
}

impl fmt::Display for MemorySwap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemorySwap::Unlimited => f.write_str("-1"),
            MemorySwap::Limit(s) => s.fmt(f),
        }
    }
}

/// `--upper-size`: where a foreground image run (`burrow run` without `-d`) keeps what its
/// container writes, which goes with the run: a tmpfs of at most this size (in memory, inside
/// the container's mount namespace), or `disk` (a directory beside the containers', removed
/// after the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpperSize {
    /// A tmpfs of at most this many bytes.
    Ram(Size),
    /// `disk`: a directory on the containers' filesystem.
    Disk,
}

impl std::str::FromStr for UpperSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s == "disk" {
            return Ok(UpperSize::Disk);
        }
        let size: Size = s.parse().map_err(|_| {
            invalid(format!(
                "upper size {s:?}: expected a size such as 512m or 2g, or disk"
            ))
        })?;
        if size.bytes < MIN_UPPER {
            return Err(invalid(format!(
                "upper size {s:?} is below the minimum of 1m (or give disk)"
            )));
        }
        Ok(UpperSize::Ram(size))
    }
}

impl fmt::Display for UpperSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpperSize::Disk => f.write_str("disk"),
            UpperSize::Ram(s) => s.fmt(f),
        }
    }
}

/// The smallest `--upper-size`: 1 MiB.
pub const MIN_UPPER: u64 = 1 << 20;

/// `--cpus 1.5`: a cpu quota, as (quota, period) in microseconds, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus {
    /// Quota and period in microseconds ([`Limits::from_cpus`]).
    pub quota_us: (u64, u64),
    text: String,
}

impl std::str::FromStr for Cpus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let n: f64 = s
            .parse()
            .map_err(|_| invalid(format!("cpus \"{s}\": expected a number such as 1.5")))?;
        Ok(Cpus {
            quota_us: Limits::from_cpus(n)?,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
