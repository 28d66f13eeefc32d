//! `burrow ls [-a] [--format table|json]`: the runtime's rows, rendered.

use super::{fail, Res};
use burrow_runtime::lifecycle::{self, Row};
use burrow_runtime::state::Status;

#[cfg(test)]
mod tests;

pub fn ls(all: bool, format: &str) -> Res {
    let rows = lifecycle::list(all)?;
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&rows).map_err(fail)?),
        "table" => print!("{}", table(&rows)),
        other => {
            return Err(fail(format!(
                "unknown format \"{other}\": use table or json"
            )))
        }
    }
    Ok(0)
}

/// Renders rows as the `burrow ls` table. The PORTS column (before EXIT, podman's compact
/// form) is there when a listed container publishes ports.
fn table(rows: &[Row]) -> String {
    let ports: Vec<String> = rows.iter().map(|r| r.ports.join(", ")).collect();
    let width = ports.iter().map(String::len).max().unwrap_or(0);
    let col = |p: &str| {
        if width == 0 {
            String::new()
        } else {
            format!("{:<w$} ", p, w = width.max(5))
        }
    };
    let mut out = format!(
        "{:<24} {:<8} {:>8} {:<20} {:<30} {}{}\n",
        "NAME",
        "STATE",
        "PID",
        "CREATED",
        "COMMAND",
        col("PORTS"),
        "EXIT"
    );
    for (r, ports) in rows.iter().zip(&ports) {
        let cmd = r.command.join(" ");
        let cmd = if cmd.chars().count() > 30 {
            format!("{}...", cmd.chars().take(27).collect::<String>())
        } else {
            cmd
        };
        let mut exit = match (r.state, r.exit_code) {
            (Status::Stopped | Status::Restarting, Some(c)) => c.to_string(),
            (Status::Stopped, None) => "unknown".into(),
            _ => String::new(),
        };
        // After the exit status, so the columns before it stay as they are.
        if r.restart_count > 0 {
            exit = format!("{exit} (restarts: {})", r.restart_count)
                .trim_start()
                .to_owned();
        }
        out.push_str(&format!(
            "{:<24} {:<8} {:>8} {:<20} {:<30} {}{}\n",
            r.name,
            r.state.to_string(),
            r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            format_time(r.created),
            cmd,
            col(ports),
            exit
        ));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn format_time(t: u64) -> String {
    let days = t / 86_400;
    let secs = t % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the Unix era.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
