//! The progress bar of a run: simulated time over duration and events per
//! second, on stderr, hidden when stderr is not a terminal or with `--quiet`.
//! Wall-clock time is read here for display only; it never reaches a run.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows how far a run is.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar for a run of `duration_ms` simulated milliseconds.
    pub fn new(label: &str, duration_ms: u64, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(duration_ms.max(1)),
            if quiet || !std::io::stderr().is_terminal() {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        let style =
            ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% sim {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// The run has reached `sim_ms` after `events` events.
    pub fn update(&self, sim_ms: u64, events: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_position(sim_ms);
        self.bar.set_message(format!(
            "{:.1} s, {:.0} events/s",
            sim_ms as f64 / 1e3,
            events as f64 / secs
        ));
    }

    /// Removes the bar; returns the wall time the run took, in seconds.
    pub fn finish(self) -> f64 {
        self.bar.finish_and_clear();
        self.started.elapsed().as_secs_f64()
    }
}
