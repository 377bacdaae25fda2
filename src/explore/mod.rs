//! `sim explore` and `sim shrink` without the CLI: random fault schedules
//! drawn within the `[explore]` bounds from (master seed, run index)
//! ([`bounds`], [`schedule`]), each run made in memory with every checker
//! on ([`outcome`]), a failing run written as a standalone scenario file
//! ([`variant`]), and delta debugging of a failing file down to a minimal
//! one ([`shrink`]).

pub mod bounds;
pub mod outcome;
pub mod schedule;
pub mod shrink;
pub mod variant;

use std::path::{Path, PathBuf};

use sim_core::scenario::{self, Override, ScenarioError};

pub use bounds::Bounds;
use outcome::Failure;
use schedule::Schedule;
use variant::{Base, Variant};

use crate::model::{Scenario, Sim};

/// A scenario file made ready for exploring.
#[derive(Debug)]
pub struct Explorer {
    /// The base scenario (with `--set` applied).
    pub scenario: Scenario,
    /// What may be drawn.
    pub bounds: Bounds,
    /// The master seed (`--seed`, else the file's `seed`).
    pub master: u64,
    /// The file it was read from.
    pub file: PathBuf,
    base: Base,
}

/// What one run of `sim explore` did.
#[derive(Clone, Debug)]
pub struct Explored {
    /// Its schedule.
    pub schedule: Schedule,
    /// How it failed, if it did.
    pub failure: Option<Failure>,
}

impl Explorer {
    /// Reads `file` with `overrides` and its `[explore]` bounds.
    pub fn load(
        file: &Path,
        overrides: &[Override],
        seed: Option<u64>,
    ) -> Result<Explorer, ScenarioError> {
        let loaded = scenario::load_with::<Sim, Bounds>(file, overrides, Bounds::parse)?;
        Ok(Explorer {
            master: seed.unwrap_or(loaded.scenario.seed),
            base: Base::new(loaded.document, file),
            scenario: loaded.scenario,
            bounds: loaded.extra,
            file: file.to_path_buf(),
        })
    }

    /// The name of run `index`'s scenario (`<name>-run-<index>`).
    pub fn run_name(&self, index: u64) -> String {
        format!("{}-run-{index}", self.scenario.name)
    }

    /// The text of run `index`'s scenario as the file `path`, with
    /// `failure` (when known) in its header.
    pub fn text(&self, schedule: &Schedule, path: &Path, failure: Option<&Failure>) -> String {
        let name = self.run_name(schedule.index);
        let description = format!(
            "sim explore run {} of {} (master seed {})",
            schedule.index, self.scenario.name, self.master
        );
        let mut header = vec![format!(
            "Written by `sim explore` from {}: run {} of master seed {}.",
            self.file.display(),
            schedule.index,
            self.master
        )];
        if let Some(failure) = failure {
            header.push(format!("It fails: {}", failure.headline()));
            header.push(format!("Reproduce: sim run {}", path.display()));
            header.push(format!("Shrink:    sim shrink {}", path.display()));
        }
        let variant = Variant {
            name: &name,
            description: &description,
            seed: schedule.seed,
            duration: self.scenario.duration,
            faults: &schedule.faults,
            header: &header,
        };
        self.base.render(&self.scenario, &variant, path)
    }

    /// Makes run `index` from the text of its scenario file `path` (the
    /// file is what runs, so it reproduces the run exactly); writes the
    /// file when the run fails, and removes one left by an earlier
    /// exploration when it passes.
    pub fn explore(&self, index: u64, path: &Path) -> Result<Explored, String> {
        let schedule = Schedule::draw(&self.scenario, &self.bounds, self.master, index);
        let text = self.text(&schedule, path, None);
        let scenario = crate::model::parse_str(&text, Some(path), &[])
            .map_err(|e| format!("run {index}: the drawn schedule is not a valid scenario (a bug in sim explore):\n{e}"))?;
        let failure = outcome::run(&scenario).map_err(|e| format!("run {index}: {e}"))?;
        match &failure {
            Some(failure) => {
                let text = self.text(&schedule, path, Some(failure));
                reports::result_dir::write_atomic(path, text.as_bytes())
                    .map_err(|e| format!("run {index}: {e}"))?;
            }
            // A file of an earlier exploration for this id no longer applies.
            None if path.is_file() => {
                std::fs::remove_file(path)
                    .map_err(|e| format!("run {index}: cannot remove {}: {e}", path.display()))?;
            }
            None => {}
        }
        Ok(Explored { schedule, failure })
    }
}
