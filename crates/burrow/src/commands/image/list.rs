//! `burrow images [--format table|json]` and `burrow image inspect IMAGE`.

use super::{ago, human_size, lib_err, store};
use crate::commands::{fail, Res};
use burrow_image::store::{ImageRecord, ImageSummary, Store};
use serde_json::{json, Value};

/// `registry/repo:tag` -> (`registry/repo`, `tag`).
fn split_name(n: &str) -> (&str, &str) {
    match n.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (n, "<none>"),
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, offsets too).
fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = days * 86_400 + hh * 3600 + mm * 60 + ss;
    // Offset: skip fractional seconds, then Z or +HH:MM / -HH:MM.
    let rest = s[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(off) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) {
        let h: i64 = off.get(0..2)?.parse().ok()?;
        let mi: i64 = off.get(3..5)?.parse().ok()?;
        let o = h * 3600 + mi * 60;
        t = if rest.starts_with('+') { t - o } else { t + o };
    }
    u64::try_from(t).ok()
}

/// The image's config as JSON (null when unreadable).
fn config_json(store: &Store, rec: &ImageRecord) -> Value {
    store
        .config(rec)
        .ok()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(Value::Null)
}

/// When the image was made (its config's `created`), else when it was stored.
fn created(cfg: &Value, stored: u64) -> u64 {
    cfg.get("created")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(stored)
}

struct Line {
    summary: ImageSummary,
    rec: ImageRecord,
    created: u64,
}

pub fn images(format: &str) -> Res {
    if format != "table" && format != "json" {
        return Err(fail(format!(
            "unknown format \"{format}\": use table or json"
        )));
    }
    let store = store()?;
    let mut all = Vec::new();
    for summary in store.images().map_err(lib_err)? {
        let rec = store.record(&summary.id).map_err(lib_err)?;
        let cfg = config_json(&store, &rec);
        let created = created(&cfg, summary.stored);
        all.push(Line {
            summary,
            rec,
            created,
        });
    }
    // Newest first, as podman lists them.
    all.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.summary.id.cmp(&b.summary.id))
    });
    if format == "json" {
        let v: Vec<Value> = all
            .iter()
            .map(|l| {
                json!({
                    "id": l.summary.id.to_string(),
                    "short_id": l.summary.id.short(),
                    "names": l.summary.names,
                    "digest": l.rec.manifest.to_string(),
                    "created": l.created,
                    "stored": l.summary.stored,
                    "size": l.summary.size,
                    "shared_size": l.summary.shared_size,
                    "layers": l.rec.layers.len(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| fail(format!("json: {e}")))?
        );
        return Ok(0);
    }
    let now = burrow_runtime::state::now();
    let mut out = format!(
        "{:<40} {:<12} {:<14} {:<16} {:<12} {}\n",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE"
    );
    for l in &all {
        let names: Vec<(&str, &str)> = if l.summary.names.is_empty() {
            vec![("<none>", "<none>")]
        } else {
            l.summary.names.iter().map(|n| split_name(n)).collect()
        };
        for (repo, tag) in names {
            out.push_str(&format!(
                "{:<40} {:<12} {:<14} {:<16} {:<12} {}\n",
                repo,
                tag,
                l.summary.id.short(),
                ago(l.created, now),
                human_size(l.summary.size),
                human_size(l.summary.shared_size)
            ));
        }
    }
    print!("{out}");
    Ok(0)
}

pub fn inspect(image: &str) -> Res {
    let store = store()?;
    let rec = store.resolve(image).map_err(lib_err)?;
    let cfg = config_json(&store, &rec);
    let names: Vec<String> = store
        .images()
        .map_err(lib_err)?
        .into_iter()
        .find(|s| s.id == rec.id)
        .map(|s| s.names)
        .unwrap_or_default();
    let c = cfg.get("config").cloned().unwrap_or(Value::Null);
    let pick = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    let v = json!({
        "id": rec.id.to_string(),
        "digest": rec.manifest.to_string(),
        "names": names,
        "source": rec.source,
        "created": cfg.get("created").cloned().unwrap_or(Value::Null),
        "stored": rec.stored,
        "os": cfg.get("os").cloned().unwrap_or(Value::Null),
        "architecture": cfg.get("architecture").cloned().unwrap_or(Value::Null),
        "config": {
            "Entrypoint": pick("Entrypoint"),
            "Cmd": pick("Cmd"),
            "Env": pick("Env"),
            "WorkingDir": pick("WorkingDir"),
            "User": pick("User"),
            "StopSignal": pick("StopSignal"),
            "ExposedPorts": pick("ExposedPorts"),
            "Labels": pick("Labels"),
        },
        "layers": rec.layers.iter().map(|l| json!({
            "digest": l.blob.to_string(),
            "diff_id": l.diff_id.to_string(),
            "size": l.size,
            "path": store.layer_path(&l.diff_id),
        })).collect::<Vec<_>>(),
        "size": rec.layers.iter().map(|l| l.size).sum::<u64>(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&v).map_err(|e| fail(format!("json: {e}")))?
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_names() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05Z"), Some(1_704_164_645));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.123456789+01:00"),
            Some(1_704_164_645 - 3600)
        );
        assert_eq!(parse_rfc3339("junk"), None);
        assert_eq!(
            split_name("127.0.0.1:5000/test/busybox:1"),
            ("127.0.0.1:5000/test/busybox", "1")
        );
        assert_eq!(
            split_name("127.0.0.1:5000/x"),
            ("127.0.0.1:5000/x", "<none>")
        );
    }
}
