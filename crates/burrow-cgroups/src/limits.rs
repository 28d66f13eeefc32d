//! The files limits are written to. The limits themselves (their values, parsing and
//! validation) are burrow-config's [`Limits`].

use crate::{Controller, Error};
use burrow_config::Limits;

/// The controllers these limits need.
pub fn controllers(limits: &Limits) -> Vec<Controller> {
    let mut out = Vec::new();
    if limits.memory.is_some() || limits.memory_swap.is_some() {
        out.push(Controller::Memory);
    }
    if limits.cpu_quota_us.is_some() || limits.cpu_weight.is_some() {
        out.push(Controller::Cpu);
    }
    if limits.pids.is_some() {
        out.push(Controller::Pids);
    }
    out
}

/// The files to write, in order, as (controller, file name, value), for v2 or v1. Validates
/// first.
pub(crate) fn writes(
    limits: &Limits,
    v2: bool,
) -> Result<Vec<(Controller, &'static str, String)>, Error> {
    use Controller::{Cpu, Memory, Pids};
    limits
        .validate()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut w = Vec::new();
    if let Some(m) = limits.memory {
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        w.push((Memory, file, m.to_string()));
        if let Some(s) = limits.memory_swap {
            if v2 {
                w.push((Memory, "memory.swap.max", s.saturating_sub(m).to_string()));
            } else {
                // After memory.limit_in_bytes: the kernel wants memsw >= memory at all times.
                w.push((Memory, "memory.memsw.limit_in_bytes", s.to_string()));
            }
        }
    }
    if let Some((quota, period)) = limits.cpu_quota_us {
        if v2 {
            w.push((Cpu, "cpu.max", format!("{quota} {period}")));
        } else {
            w.push((Cpu, "cpu.cfs_period_us", period.to_string()));
            w.push((Cpu, "cpu.cfs_quota_us", quota.to_string()));
        }
    }
    if let Some(weight) = limits.cpu_weight {
        if v2 {
            w.push((Cpu, "cpu.weight", weight.to_string()));
        } else {
            w.push((Cpu, "cpu.shares", cpu_shares(weight).to_string()));
        }
    }
    if let Some(p) = limits.pids {
        w.push((Pids, "pids.max", p.to_string()));
    }
    Ok(w)
}

/// v1 `cpu.shares` for a v2 `cpu.weight` (1..=10000 onto 2..=262144, the mapping runc and
/// systemd use in reverse): `2 + (weight - 1) * 262142 / 9999`. The weight is clamped first.
pub fn cpu_shares(weight: u64) -> u64 {
    let w = weight.clamp(1, 10_000);
    2 + (w - 1) * 262_142 / 9_999
}
