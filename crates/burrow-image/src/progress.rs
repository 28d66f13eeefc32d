//! Drawing pull progress: bars on a terminal (per layer and total: bytes and rate, with
//! indicatif), one line per layer otherwise, nothing with `--quiet`.

use crate::digest::Digest;
use crate::registry::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// How to show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Bars (stderr is a terminal).
    Bars,
    /// One line per layer on stderr.
    Lines,
    /// Nothing (`--quiet`).
    Quiet,
}

impl Style {
    /// `Quiet` when asked, else `Bars` on a terminal and `Lines` otherwise.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// Receives [`Progress`] events (pass `&|p| reporter.event(p)` to `Store::pull`).
#[derive(Debug)]
pub struct Reporter {
    style: Style,
    multi: MultiProgress,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: Option<ProgressBar>,
    bars: HashMap<Digest, ProgressBar>,
    seen: HashMap<Digest, u64>,
}

impl Reporter {
    /// A reporter drawing in `style` on stderr.
    pub fn new(style: Style) -> Self {
        let target = if style == Style::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            style,
            multi: MultiProgress::with_draw_target(target),
            state: Mutex::new(State::default()),
        }
    }

    fn line(&self, s: &str) {
        if self.style == Style::Lines {
            let _ = writeln!(std::io::stderr(), "{s}");
        }
    }

    /// Handles one event.
    pub fn event(&self, p: Progress) {
        if self.style == Style::Quiet {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match p {
            Progress::Resolved { reference, layers } => {
                self.line(&format!("pulling {reference} ({layers} layers)"));
                if self.style == Style::Bars {
                    let b = self.multi.add(ProgressBar::new(0));
                    b.set_style(style("total"));
                    b.set_message(reference);
                    st.total = Some(b);
                }
            }
            Progress::LayerCached { digest } => {
                self.line(&format!("layer {} already present", digest.short()))
            }
            Progress::LayerFetching { digest, size } => {
                self.line(&format!("layer {} fetching {size} bytes", digest.short()));
                if let Some(t) = &st.total {
                    t.inc_length(size);
                }
                if self.style == Style::Bars {
                    let b = self.multi.add(ProgressBar::new(size));
                    b.set_style(style("layer"));
                    b.set_message(digest.short().to_owned());
                    st.bars.insert(digest, b);
                }
            }
            Progress::LayerBytes { digest, done, .. } => {
                let before = st.seen.insert(digest.clone(), done).unwrap_or(0);
                if let Some(t) = &st.total {
                    t.inc(done.saturating_sub(before));
                }
                if let Some(b) = st.bars.get(&digest) {
                    b.set_position(done);
                }
            }
            Progress::LayerDone { digest } => {
                self.line(&format!("layer {} done", digest.short()));
                if let Some(b) = st.bars.remove(&digest) {
                    b.finish();
                }
            }
        }
    }

    /// Ends the bars.
    pub fn finish(&self) {
        if let Ok(mut st) = self.state.lock() {
            for (_, b) in st.bars.drain() {
                b.finish();
            }
            if let Some(t) = st.total.take() {
                t.finish();
            }
        }
    }
}

fn style(kind: &str) -> ProgressStyle {
    let t = if kind == "total" {
        "{msg:30} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}"
    } else {
        "  {msg:12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}"
    };
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_in_every_style() {
        for s in [Style::Bars, Style::Lines, Style::Quiet] {
            let r = Reporter::new(s);
            let d = Digest::of(b"x");
            r.event(Progress::Resolved {
                reference: "r".into(),
                layers: 1,
            });
            r.event(Progress::LayerFetching {
                digest: d.clone(),
                size: 10,
            });
            r.event(Progress::LayerBytes {
                digest: d.clone(),
                done: 10,
                total: 10,
            });
            r.event(Progress::LayerDone { digest: d });
            r.finish();
        }
        assert_eq!(Style::detect(true), Style::Quiet);
    }
}
