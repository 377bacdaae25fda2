//! Random consensus fault schedules: the robustness study behind the
//! consensus liveness guarantee (BENCHMARKS.md, "Consensus under random
//! fault schedules").
//!
//! Schedule `i` is a scenario drawn from ChaCha8 seeded with `i` (and run
//! with seed `i`): 4 to 10 validators on a mesh, star, ring or
//! random-regular network with per-link latency 5–80 ms, jitter up to
//! 20 ms and loss up to [`MAX_LINK_LOSS`]; one to four faults among
//! partitions (two or three sides, sometimes one way), crashes (most
//! restart; those that do not, together with the Byzantine validators,
//! leave a quorum of honest validators up), Byzantine periods (at most `f`
//! validators in all), degraded links (up to +500 ms and 50 % loss) and
//! clock skew (±5 s, drift up to ±1 %). Every fault heals, and the run
//! lasts until the liveness deadline (the last heal plus the scenario's
//! default liveness bound) and 10 s more, so every run is held to
//! agreement, validity, monotonic heights and liveness.
//!
//! [`Schedule::text`] is an ordinary scenario file: a failing schedule is
//! reproduced with `sim run` on it. `examples/consensus_schedules.rs` runs
//! any range of schedules; `tests/consensus_schedules.rs` runs a few.

use std::fmt::Write as _;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sim_core::engine::EngineError;
use sim_core::trace::NoTrace;
use sim_core::units::{SimDuration, SimTime};

use node_logic::Observation;
use node_logic::protocols::consensus::{ConsensusEvent, fault_tolerance, quorum};

use crate::model::{Scenario, parse_str};
use crate::runner::prepare;

/// The largest per-link loss a schedule's network has (faults add more
/// while they last).
pub const MAX_LINK_LOSS: f64 = 0.05;

/// One random schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Its number (also its seed).
    pub index: u64,
    /// The scenario file.
    pub text: String,
}

/// How a schedule's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every checker held; the first block after the last heal came this
    /// long after it, of `bound` allowed.
    Held {
        /// From the last heal to the first block finalized after it.
        recovery: SimDuration,
        /// The liveness bound.
        bound: SimDuration,
    },
    /// A safety checker tripped (the message says which and why).
    Safety(String),
    /// The liveness checker tripped.
    Liveness(String),
    /// The schedule could not be read or run (a bug of this generator or
    /// of the engine; the message says what).
    Error(String),
}

impl Schedule {
    /// Schedule `index`.
    pub fn new(index: u64) -> Self {
        let draft = Draft::draw(index);
        // The duration depends on the default liveness bound, which the
        // scenario computes from its network: read the scenario once with
        // a placeholder duration to learn it.
        let placeholder =
            draft.render(draft.last_heal.since_start() + SimDuration::from_secs(3600));
        let duration = match parse_str(&placeholder, None, &[])
            .ok()
            .and_then(|s| deadline(&s))
        {
            Some(deadline) => deadline.since_start() + SimDuration::from_secs(10),
            None => draft.last_heal.since_start() + SimDuration::from_secs(3600),
        };
        Schedule {
            index,
            text: draft.render(duration),
        }
    }

    /// Runs it.
    pub fn run(&self) -> Verdict {
        let scenario = match parse_str(&self.text, None, &[]) {
            Ok(s) => s,
            Err(e) => return Verdict::Error(format!("invalid scenario: {e}")),
        };
        let mut prepared = match prepare(&scenario) {
            Ok(p) => p,
            Err(e) => return Verdict::Error(format!("cannot prepare: {e}")),
        };
        match prepared.sim.run(&mut NoTrace) {
            Ok(()) => {}
            Err(EngineError::Violation(v)) => {
                return match v.kind {
                    sim_core::checkers::ViolationKind::Safety => Verdict::Safety(v.to_string()),
                    sim_core::checkers::ViolationKind::Liveness => Verdict::Liveness(v.to_string()),
                };
            }
            Err(e) => return Verdict::Error(e.to_string()),
        }
        let Some(rule) = super::liveness_rule(&scenario) else {
            return Verdict::Error("no liveness deadline".to_string());
        };
        let first = prepared
            .sim
            .log()
            .observations
            .iter()
            .find(|(at, _, o)| {
                *at >= rule.healed_at
                    && matches!(o, Observation::Consensus(ConsensusEvent::Finalized { .. }))
            })
            .map(|(at, _, _)| *at);
        match first {
            Some(at) => Verdict::Held {
                recovery: at - rule.healed_at,
                bound: rule.bound,
            },
            // Liveness was not owed (too few honest validators up).
            None => Verdict::Error("no block after the heal, and no violation".to_string()),
        }
    }
}

/// The liveness deadline of `scenario`, if liveness is owed.
fn deadline(scenario: &Scenario) -> Option<SimTime> {
    super::liveness_rule(scenario).map(|rule| rule.healed_at + rule.bound)
}

/// A schedule's settings before its duration is known.
struct Draft {
    index: u64,
    validators: usize,
    network: String,
    consensus: String,
    faults: Vec<String>,
    last_heal: SimTime,
}

impl Draft {
    fn draw(index: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(index);
        let n = [4, 4, 5, 6, 7, 10][rng.random_range(0..6)];
        let network = draw_network(&mut rng, n);
        let block_interval = [1, 2, 5][rng.random_range(0..3)];
        let view_timeout = [2, 5, 10][rng.random_range(0..3)];
        let consensus = format!(
            "block_interval = \"{block_interval} s\"\nview_timeout = \"{view_timeout} s\"\n"
        );
        let mut faults = FaultDraw::new(n);
        for _ in 0..rng.random_range(1..=4) {
            faults.draw(&mut rng);
        }
        Draft {
            index,
            validators: n,
            network,
            consensus,
            last_heal: faults.last_heal,
            faults: faults.entries,
        }
    }

    fn render(&self, duration: SimDuration) -> String {
        let mut text = String::new();
        // `write!` to a String cannot fail.
        let _ = write!(
            text,
            "description = \"random consensus schedule {}\"\nseed = {}\nduration = \"{} ms\"\n\n\
             [network]\n{}\n[[hosts]]\nname = \"validator\"\ncount = {}\nrole = \"validator\"\n\n\
             [consensus]\n{}",
            self.index,
            self.index,
            duration.as_nanos().div_ceil(1_000_000),
            self.network,
            self.validators,
            self.consensus,
        );
        for fault in &self.faults {
            text.push_str("\n[[faults]]\n");
            text.push_str(fault);
        }
        text
    }
}

fn draw_network(rng: &mut ChaCha8Rng, n: usize) -> String {
    let topology = match rng.random_range(0..4) {
        0 => "topology = \"mesh\"\n".to_string(),
        1 => "topology = \"star\"\n".to_string(),
        2 if n <= 7 => "topology = \"ring\"\n".to_string(),
        _ if n.is_multiple_of(2) || n > 4 => {
            let degree = if n.is_multiple_of(2) { 3 } else { 4 };
            format!("topology = \"random-regular\"\ndegree = {degree}\n")
        }
        _ => "topology = \"mesh\"\n".to_string(),
    };
    let latency = rng.random_range(5..=80u64);
    let jitter = match rng.random_bool(0.5) {
        true => rng.random_range(1..=20u64),
        false => 0,
    };
    let loss = f64::from(rng.random_range(0..=50u32)) / 1000.0;
    debug_assert!(loss <= MAX_LINK_LOSS);
    format!(
        "{topology}latency = \"{latency} ms\"\njitter = \"{jitter} ms\"\nloss = {loss}\nbandwidth = \"100 Mbit\"\n"
    )
}

/// The faults of a schedule as they are drawn, with what keeps them
/// within the study's bounds.
struct FaultDraw {
    n: usize,
    entries: Vec<String>,
    last_heal: SimTime,
    /// Crash windows per validator (a host cannot crash while down).
    crashes: Vec<Vec<(u64, Option<u64>)>>,
    byzantine: Vec<usize>,
    down_for_good: usize,
}

impl FaultDraw {
    fn new(n: usize) -> Self {
        FaultDraw {
            n,
            entries: Vec::new(),
            last_heal: SimTime::ZERO,
            crashes: vec![Vec::new(); n],
            byzantine: Vec::new(),
            down_for_good: 0,
        }
    }

    /// Adds one fault starting in 1..120 s and lasting 5..240 s.
    fn draw(&mut self, rng: &mut ChaCha8Rng) {
        let at = rng.random_range(1..=120u64);
        let until = at + rng.random_range(5..=240u64);
        let entry = match rng.random_range(0..5) {
            0 => Some(self.partition(rng, at, until)),
            1 => self.crash(rng, at, until),
            2 => self.byzantine(rng, at, until),
            3 => Some(self.link(rng, at, until)),
            _ => Some(self.clock_skew(rng, at)),
        };
        if let Some(entry) = entry {
            self.entries.push(entry);
        }
    }

    fn heals(&mut self, at: u64) {
        self.last_heal = self
            .last_heal
            .max(SimTime::ZERO + SimDuration::from_secs(at));
    }

    fn partition(&mut self, rng: &mut ChaCha8Rng, at: u64, until: u64) -> String {
        let sides_count = if self.n >= 6 && rng.random_bool(0.3) {
            3
        } else {
            2
        };
        let mut sides: Vec<Vec<usize>> = vec![Vec::new(); sides_count];
        for v in 0..self.n {
            sides[rng.random_range(0..sides_count)].push(v);
        }
        // Every side needs a host: move one into each empty side.
        for s in 0..sides_count {
            if sides[s].is_empty() {
                let donor = (0..sides_count)
                    .max_by_key(|&d| sides[d].len())
                    .unwrap_or(0);
                if let Some(v) = sides[donor].pop() {
                    sides[s].push(v);
                }
            }
        }
        let one_way = rng.random_bool(0.2);
        self.heals(until);
        let list: Vec<String> = sides.iter().map(|s| hosts(s)).collect();
        format!(
            "at = \"{at} s\"\npartition = [{}]\nuntil = \"{until} s\"\none_way = {one_way}\n",
            list.join(", ")
        )
    }

    fn crash(&mut self, rng: &mut ChaCha8Rng, at: u64, until: u64) -> Option<String> {
        let v = rng.random_range(0..self.n);
        let budget = self.n - quorum(self.n);
        let forever = rng.random_bool(0.2) && self.down_for_good + self.byzantine.len() < budget;
        let end = (!forever).then_some(until);
        let overlaps = self.crashes[v]
            .iter()
            .any(|&(a, b)| b.is_none_or(|b| at < b) && end.is_none_or(|e| a < e));
        if overlaps {
            return None;
        }
        self.crashes[v].push((at, end));
        match end {
            Some(restart) => {
                self.heals(restart);
                Some(format!(
                    "at = \"{at} s\"\ncrash = \"validator-{v}\"\nrestart = \"{restart} s\"\n"
                ))
            }
            None => {
                self.down_for_good += 1;
                self.heals(at);
                Some(format!("at = \"{at} s\"\ncrash = \"validator-{v}\"\n"))
            }
        }
    }

    fn byzantine(&mut self, rng: &mut ChaCha8Rng, at: u64, until: u64) -> Option<String> {
        let v = rng.random_range(0..self.n);
        let new = !self.byzantine.contains(&v);
        let budget = self.n - quorum(self.n);
        if new
            && (self.byzantine.len() >= fault_tolerance(self.n)
                || self.byzantine.len() + self.down_for_good >= budget)
        {
            return None;
        }
        if new {
            self.byzantine.push(v);
        }
        self.heals(until);
        Some(format!(
            "at = \"{at} s\"\nbyzantine = \"validator-{v}\"\nuntil = \"{until} s\"\n"
        ))
    }

    fn link(&mut self, rng: &mut ChaCha8Rng, at: u64, until: u64) -> String {
        let mut order: Vec<usize> = (0..self.n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let split = rng.random_range(1..self.n);
        let (a, b) = order.split_at(split);
        let b = &b[..rng.random_range(1..=b.len())];
        let latency = rng.random_range(0..=500u64);
        let loss = f64::from(rng.random_range(1..=50u32)) / 100.0;
        self.heals(until);
        format!(
            "at = \"{at} s\"\nlink = [{}, {}]\nlatency = \"{latency} ms\"\nloss = {loss}\nuntil = \"{until} s\"\n",
            hosts(a),
            hosts(b)
        )
    }

    fn clock_skew(&mut self, rng: &mut ChaCha8Rng, at: u64) -> String {
        let v = rng.random_range(0..self.n);
        let offset = rng.random_range(-5000..=5000i64);
        let drift = f64::from(rng.random_range(-100..=100i32)) / 10_000.0;
        self.heals(at);
        format!(
            "at = \"{at} s\"\nclock_skew = \"validator-{v}\"\noffset = \"{offset} ms\"\ndrift = {drift}\n"
        )
    }
}

/// A TOML list of validator names.
fn hosts(ids: &[usize]) -> String {
    let names: Vec<String> = ids.iter().map(|v| format!("\"validator-{v}\"")).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_valid_scenarios_that_heal_before_their_deadline() {
        for index in 0..40 {
            let schedule = Schedule::new(index);
            assert_eq!(schedule, Schedule::new(index), "deterministic");
            let scenario = parse_str(&schedule.text, None, &[])
                .unwrap_or_else(|e| panic!("schedule {index}: {e}\n{}", schedule.text));
            let deadline = deadline(&scenario).expect("liveness is owed");
            assert!(
                SimTime::from_duration(scenario.duration) > deadline,
                "schedule {index}"
            );
        }
    }
}
