//! `burrow stats NAME`: the container's cgroup figures, one per line.

use super::Res;
use burrow_runtime::lifecycle::StatsReport;

pub fn stats(name: &str) -> Res {
    print!("{}", render(&burrow_runtime::lifecycle::stats(name)?));
    Ok(0)
}

fn render(r: &StatsReport) -> String {
    let (s, limits) = (&r.stats, &r.limits);
    let show = |v: Option<u64>, f: &dyn Fn(u64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
    format!(
        "NAME {}\nMEMORY {} (peak {}, limit {})\nCPU {}\nPIDS {} (limit {})\nOOM_KILLS {}\n",
        r.name,
        show(s.memory_current, &mib),
        show(s.memory_peak, &mib),
        show(limits.memory, &mib),
        show(s.cpu_usage_ns, &|n| format!("{:.3} s", n as f64 / 1e9)),
        show(s.pids_current, &|n| n.to_string()),
        show(limits.pids, &|n| n.to_string()),
        show(s.oom_kills, &|n| n.to_string()),
    )
}
