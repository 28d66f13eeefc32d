//! Logging: one subscriber on stderr for burrow's own messages. Warnings print as
//! `burrow: warning: MESSAGE` (as they always have); at `--log-level debug` (or
//! `BURROW_LOG=debug`) the runtime's steps show with their durations as `burrow: debug: ...`.
//! The level is `--log-level` (flag or file), else `$BURROW_LOG`, else warn.

use burrow_config::LogLevel;
use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the subscriber (once per process).
pub fn init(level: Option<LogLevel>) {
    let env = std::env::var("BURROW_LOG").ok();
    let from_env = env.as_deref().map(str::parse::<LogLevel>);
    let level = level
        .or_else(|| from_env.as_ref().and_then(|l| l.as_ref().ok().copied()))
        .unwrap_or_default();
    let max = match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(max)
        .event_format(Line)
        .init();
    if let Some(Err(e)) = from_env {
        tracing::warn!("BURROW_LOG: {e}");
    }
}

/// `burrow: warning: MESSAGE`, `burrow: debug: MESSAGE`, ...
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        write!(w, "burrow: {level}: ")?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
