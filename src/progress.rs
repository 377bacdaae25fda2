//! Progress on stderr while runs are made, hidden when stderr is not a
//! terminal or with `--quiet`; and Ctrl-C. Wall-clock time is read here
//! for display only; it never reaches a run or a result file.
//!
//! - A single run shows its simulated time over its duration and events
//!   per second, then "writing results" while its files are written.
//! - A sweep shows one bar from its start: runs done of all, the share of
//!   simulated time made across the runs in progress (so the bar moves
//!   and the ETA is there before the first run ends), and events per
//!   second over all runs.
//! - The first Ctrl-C (SIGINT, or SIGTERM) asks every run to stop: runs in
//!   progress end without a result (their staging folders are removed),
//!   runs not started are not started, records and aggregates are written
//!   for what is complete. A second Ctrl-C ends the process at once.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The exit code of a command interrupted by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED_CODE: i32 = 130;

/// Whether a Ctrl-C asked the command to stop.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Listens for SIGINT and SIGTERM: the first sets the flag, the second
    /// exits at once. Without handlers (the OS refused), a signal ends the
    /// process as it would anyway.
    pub fn install() -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Order matters: the exit is armed only once the flag is set.
            let _ = signal_hook::flag::register_conditional_shutdown(
                signal,
                INTERRUPTED_CODE,
                Arc::clone(&flag),
            );
            let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
        }
        Interrupt(flag)
    }

    /// Whether a stop was asked for.
    pub fn asked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Wall time since a start, for the digest's events per second.
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// Seconds since the start.
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// What a run reports as it goes.
pub trait Watch: Sync {
    /// The run has reached `sim_ms` of its `duration_ms` after `events`
    /// events.
    fn update(&self, sim_ms: u64, duration_ms: u64, events: u64);
    /// The run is writing its results.
    fn writing(&self);
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// The progress bar of a single run.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar for a run of `duration_ms` simulated milliseconds.
    pub fn new(label: &str, duration_ms: u64, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(duration_ms.max(1)), target(quiet));
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

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Watch for Progress {
    fn update(&self, sim_ms: u64, _duration_ms: u64, events: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_position(sim_ms);
        self.bar.set_message(format!(
            "{:.1} s, {:.0} events/s",
            sim_ms as f64 / 1e3,
            events as f64 / secs
        ));
    }

    fn writing(&self) {
        self.bar
            .set_message("done; writing results (tables, plots)...".to_string());
        self.bar.tick();
    }
}

/// The progress bar of a sweep: positions are thousandths of a run.
pub struct SweepProgress {
    bar: ProgressBar,
    started: Instant,
    runs: u64,
    done: AtomicU64,
    events: AtomicU64,
    /// Thousandths made by each run in progress, by slot.
    partial: Vec<AtomicU64>,
}

impl SweepProgress {
    /// A bar for `runs` runs, drawn from now on.
    pub fn new(runs: usize, quiet: bool) -> Self {
        let total = (runs as u64).max(1) * 1000;
        let bar = ProgressBar::with_draw_target(Some(total), target(quiet));
        let style = ProgressStyle::with_template("runs [{bar:30}] {msg} ({elapsed}, ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(format!("0/{runs} done"));
        bar.enable_steady_tick(Duration::from_millis(250));
        SweepProgress {
            bar,
            started: Instant::now(),
            runs: runs as u64,
            done: AtomicU64::new(0),
            events: AtomicU64::new(0),
            partial: (0..runs).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The watcher of the run in `slot` (its position among the runs).
    pub fn slot(&self, slot: usize) -> SweepSlot<'_> {
        SweepSlot {
            sweep: self,
            slot,
            events: AtomicU64::new(0),
        }
    }

    /// The run in `slot` is over (made, failed or skipped).
    pub fn finished(&self, slot: usize) {
        if let Some(p) = self.partial.get(slot) {
            p.store(0, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        self.redraw();
    }

    fn redraw(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let partial: u64 = self.partial.iter().map(|p| p.load(Ordering::Relaxed)).sum();
        self.bar.set_position(done * 1000 + partial);
        let rate = self.events.load(Ordering::Relaxed) as f64
            / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("{done}/{} done, {rate:.0} events/s", self.runs));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One run of a sweep, reporting into the sweep's bar.
pub struct SweepSlot<'a> {
    sweep: &'a SweepProgress,
    slot: usize,
    events: AtomicU64,
}

impl Watch for SweepSlot<'_> {
    fn update(&self, sim_ms: u64, duration_ms: u64, events: u64) {
        let before = self.events.swap(events, Ordering::Relaxed);
        let sweep = self.sweep;
        sweep
            .events
            .fetch_add(events.saturating_sub(before), Ordering::Relaxed);
        if let Some(p) = sweep.partial.get(self.slot) {
            p.store(sim_ms * 1000 / duration_ms.max(1), Ordering::Relaxed);
        }
        sweep.redraw();
    }

    fn writing(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_bar_moves_with_the_runs_in_progress_before_any_ends() {
        let sweep = SweepProgress::new(4, true);
        assert_eq!(sweep.bar.position(), 0);
        let (a, b) = (sweep.slot(0), sweep.slot(3));
        a.update(500, 1000, 1200);
        b.update(250, 1000, 800);
        // Half of one run and a quarter of another: 0.75 of 4 runs.
        assert_eq!(sweep.bar.position(), 750);
        assert_eq!(sweep.events.load(Ordering::Relaxed), 2000);
        a.update(1000, 1000, 2000);
        sweep.finished(0);
        assert_eq!(sweep.bar.position(), 1250);
        assert_eq!(sweep.events.load(Ordering::Relaxed), 2800);
        assert!(sweep.bar.message().starts_with("1/4 done, "));
    }
}
