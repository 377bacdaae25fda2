//! `sim shrink`: delta debugging over a failing scenario's concrete
//! schedule. Changes are tried in a fixed order and kept only when the run
//! still fails the same way (same kind, same checker):
//!
//! 1. drop faults — all at once, then chunks of halving size (ddmin);
//! 2. make each fault simpler — what its kind offers
//!    ([`crate::faults::FaultKind::simpler`]: earlier ends, fewer hosts,
//!    milder rates), and a later start (halfway toward the failure);
//! 3. shorten the run — to a second after the failure, or halfway there.
//!
//! The passes repeat until none changes anything (or the run budget is
//! spent). Every candidate is run from its rendered text, as the written
//! file will be, and runs are deterministic: the same input gives the same
//! minimal file, and a candidate that passes is never kept.

use std::path::{Path, PathBuf};

use sim_core::scenario::{self};
use sim_core::units::{SimDuration, SimTime};

use super::outcome::{self, Failure};
use super::schedule::Timed;
use super::variant::{Base, Variant, entry};
use crate::model::{Scenario, Sim, parse_str};

/// A schedule being shrunk: the run's length and its faults in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// How long the run lasts.
    pub duration: SimDuration,
    /// Its faults.
    pub faults: Vec<Timed>,
}

/// Shrinks one failing scenario file.
pub struct Shrinker {
    scenario: Scenario,
    base: Base,
    out: PathBuf,
    name: String,
    target: Failure,
    /// Runs made so far.
    pub runs: usize,
    /// The most runs to make.
    pub max_runs: usize,
    /// Changes kept so far.
    pub steps: usize,
}

impl Shrinker {
    /// Reads `file` and runs it: the shrinker, the schedule to start from
    /// and its failure. An error if it cannot be read or does not fail.
    pub fn load(file: &Path, out: &Path, max_runs: usize) -> Result<(Shrinker, Candidate), String> {
        let loaded =
            scenario::load_with::<Sim, ()>(file, &[], |_, _| Ok(())).map_err(|e| e.to_string())?;
        let scenario = loaded.scenario;
        let failure = outcome::run(&scenario)
            .map_err(|e| format!("error: {}: {e}", file.display()))?
            .ok_or_else(|| {
                format!(
                    "error: {}: the run does not fail (seed {}): there is nothing to shrink",
                    file.display(),
                    scenario.seed
                )
            })?;
        let start = Candidate {
            duration: scenario.duration,
            faults: scenario
                .faults
                .iter()
                .map(|f| (f.at, f.kind.clone()))
                .collect(),
        };
        let shrinker = Shrinker {
            name: format!("{}-min", scenario.name),
            base: Base::new(loaded.document, file),
            out: out.to_path_buf(),
            target: failure,
            scenario,
            runs: 1,
            max_runs,
            steps: 0,
        };
        Ok((shrinker, start))
    }

    /// The failure being kept.
    pub fn target(&self) -> &Failure {
        &self.target
    }

    /// The scenario as read (names its hosts).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The text of `c` as the output file, with `header` lines.
    pub fn render(&self, c: &Candidate, header: &[String]) -> String {
        let description = format!(
            "minimal reproduction of {}: {}",
            self.scenario.name,
            self.target.headline()
        );
        let variant = Variant {
            name: &self.name,
            description: &description,
            seed: self.scenario.seed,
            duration: c.duration,
            faults: &c.faults,
            header,
        };
        self.base.render(&self.scenario, &variant, &self.out)
    }

    /// Runs `c` from its text; its failure if it fails as the target does.
    fn test(&mut self, c: &Candidate) -> Option<Failure> {
        if self.runs >= self.max_runs {
            return None;
        }
        let text = self.render(c, &[]);
        let scenario = parse_str(&text, Some(&self.out), &[]).ok()?;
        self.runs += 1;
        let failure = outcome::run(&scenario).ok()??;
        failure.same(&self.target).then_some(failure)
    }

    /// Shrinks `start` (failing with `failure`) as far as the passes go;
    /// `say` gets one line per kept change.
    pub fn shrink(
        &mut self,
        start: Candidate,
        say: &mut dyn FnMut(String),
    ) -> (Candidate, Failure) {
        let mut best = start;
        let mut failure = self.target.clone();
        loop {
            let steps = self.steps;
            self.drop_faults(&mut best, &mut failure, say);
            self.simplify(&mut best, &mut failure, say);
            self.shorten(&mut best, &mut failure, say);
            if self.steps == steps || self.runs >= self.max_runs {
                // The same kind and checker; the written file names this run's.
                self.target = failure.clone();
                return (best, failure);
            }
        }
    }

    /// Keeps `c` when it fails the same way; says `what` changed.
    fn try_keep(
        &mut self,
        c: Candidate,
        best: &mut Candidate,
        failure: &mut Failure,
        what: String,
        say: &mut dyn FnMut(String),
    ) -> bool {
        let Some(f) = self.test(&c) else {
            return false;
        };
        self.steps += 1;
        say(format!(
            "step {}: {what}; still fails: {}",
            self.steps,
            f.headline()
        ));
        *best = c;
        *failure = f;
        true
    }

    /// Pass 1: every fault, then chunks of halving size (ddmin).
    fn drop_faults(
        &mut self,
        best: &mut Candidate,
        failure: &mut Failure,
        say: &mut dyn FnMut(String),
    ) {
        if best.faults.len() > 1 {
            let none = Candidate {
                faults: Vec::new(),
                ..best.clone()
            };
            let what = format!("dropped all {} faults", best.faults.len());
            if self.try_keep(none, best, failure, what, say) {
                return;
            }
        }
        let mut n = 2;
        while !best.faults.is_empty() {
            let len = best.faults.len();
            let chunk = len.div_ceil(n.min(len));
            let mut kept = false;
            for start in (0..len).step_by(chunk) {
                let end = (start + chunk).min(len);
                let mut c = best.clone();
                let dropped: Vec<String> = c
                    .faults
                    .drain(start..end)
                    .map(|(at, f)| format!("{} at {}", f.key(), at.since_start()))
                    .collect();
                let what = format!(
                    "dropped fault {} of {len} ({})",
                    describe_range(start, end),
                    dropped.join(", ")
                );
                if self.try_keep(c, best, failure, what, say) {
                    n = (n - 1).max(2);
                    kept = true;
                    break;
                }
            }
            if !kept {
                if n >= len {
                    return;
                }
                n = (n * 2).min(len);
            }
        }
    }

    /// Pass 2: each fault simpler, or starting later, while that helps.
    fn simplify(
        &mut self,
        best: &mut Candidate,
        failure: &mut Failure,
        say: &mut dyn FnMut(String),
    ) {
        for i in 0..best.faults.len() {
            'fault: loop {
                let (at, fault) = best.faults[i].clone();
                let mut options: Vec<Timed> =
                    fault.simpler(at).into_iter().map(|f| (at, f)).collect();
                if let Some(later) = later_start(at, fault.effects().heal(), failure.time) {
                    options.push((later, fault.clone()));
                }
                for option in options {
                    let mut c = best.clone();
                    c.faults[i] = option;
                    let what = format!(
                        "fault {} is now {}",
                        i + 1,
                        inline(&self.scenario, &c.faults[i])
                    );
                    if self.try_keep(c, best, failure, what, say) {
                        continue 'fault;
                    }
                }
                break;
            }
        }
    }

    /// Pass 3: a shorter run (a second after the failure, or halfway).
    fn shorten(
        &mut self,
        best: &mut Candidate,
        failure: &mut Failure,
        say: &mut dyn FnMut(String),
    ) {
        let Some(time) = failure.time else {
            return;
        };
        let needed = best
            .faults
            .iter()
            .map(|(at, f)| f.effects().heal().unwrap_or(*at))
            .max()
            .unwrap_or(SimTime::ZERO)
            .max(time);
        let secs = needed.as_nanos().div_ceil(1_000_000_000) + 1;
        let tight = SimDuration::from_secs(secs);
        let halfway = SimDuration::from_secs((best.duration.as_nanos() / 1_000_000_000 + secs) / 2);
        for duration in [tight, halfway] {
            if duration >= best.duration {
                continue;
            }
            let c = Candidate {
                duration,
                ..best.clone()
            };
            let what = format!("duration {} -> {duration}", best.duration);
            if self.try_keep(c, best, failure, what, say) {
                return;
            }
        }
    }
}

/// Halfway from `at` toward the failure (before the fault's end), in
/// whole milliseconds, if that is later.
fn later_start(at: SimTime, end: Option<SimTime>, failure: Option<SimTime>) -> Option<SimTime> {
    let limit = match (end, failure) {
        (Some(e), Some(f)) => e.min(f),
        (Some(e), None) => e,
        (None, Some(f)) => f,
        (None, None) => return None,
    };
    let half = at.as_nanos() + limit.as_nanos().saturating_sub(at.as_nanos()) / 2;
    let later = SimTime::from_nanos(half / 1_000_000 * 1_000_000);
    (later > at && end.is_none_or(|e| later < e)).then_some(later)
}

fn describe_range(start: usize, end: usize) -> String {
    match end - start {
        1 => format!("{}", start + 1),
        _ => format!("{}-{}", start + 1, end),
    }
}

/// A fault as one line: `{ at = "10 s", crash = "validator-1", ... }`.
pub fn inline(scenario: &Scenario, (at, fault): &Timed) -> String {
    let entry = entry(scenario, *at, fault);
    let mut keys: Vec<String> = vec![format!(
        "at = {}",
        entry.get("at").map_or(String::new(), ToString::to_string)
    )];
    keys.extend(
        entry
            .iter()
            .filter(|(k, _)| *k != "at")
            .map(|(k, v)| format!("{k} = {v}")),
    );
    format!("{{ {} }}", keys.join(", "))
}
