//! Transfer progress: a live bar (bytes, rate, ETA) on a terminal; on anything else no
//! escape codes, only the summary line at the end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3_client::transfer::Progress;

/// Counts bytes and, on a terminal, draws them.
#[derive(Debug)]
pub struct Meter {
    bar: Option<ProgressBar>,
    bytes: AtomicU64,
    start: Instant,
}

impl Meter {
    /// A meter for `total` bytes (when known) labelled `label`; it draws only when
    /// stderr is a terminal and `visible`.
    pub fn new(label: &str, total: Option<u64>, visible: bool) -> Self {
        let bar = (visible && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{msg}: {binary_bytes} / {binary_total_bytes} {wide_bar} {pct}% {binary_bytes_per_sec} {eta}"
            } else {
                "{msg}: {binary_bytes} {spinner} {binary_bytes_per_sec} {elapsed}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                // Two decimals, as mc prints the percentage.
                let style = style.with_key(
                    "pct",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.2}", state.fraction() * 100.0);
                    },
                );
                bar.set_style(style.progress_chars("▓▓░"));
            }
            bar.set_message(label.to_string());
            bar
        });
        Self {
            bar,
            bytes: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    /// Bytes moved so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Ends the bar and returns the summary: `Total: 5 B, Transferred: 5 B, Speed: 337 B/s`.
    pub fn finish(&self, total: u64) -> String {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let moved = self.bytes();
        format!(
            "Total: {}, Transferred: {}, Speed: {}/s",
            super::human_spaced(total),
            super::human_spaced(moved),
            super::human_spaced((moved as f64 / secs) as u64)
        )
    }
}

impl Progress for Meter {
    fn add(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }
}
