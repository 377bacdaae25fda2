//! One run's schedule: its seed and its faults, drawn from the `explore`
//! stream of (master seed, run index) and nothing else, so any run can be
//! made alone and a sweep is the same for any `--jobs` or `--shard`.

use rand::RngExt;
use sim_core::engine::FaultAction;
use sim_core::rng::{RngStreams, names};
use sim_core::units::{SimDuration, SimTime};

use super::Bounds;
use crate::faults::draw::{DrawSpace, Taken, duration_in, validators};
use crate::faults::{Fault, FaultContext};
use crate::model::Scenario;

/// A fault of a schedule: when it starts, and what it is.
pub type Timed = (SimTime, Fault);

/// One run of `sim explore`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The run index.
    pub index: u64,
    /// The run's seed (every stream of the run derives from it).
    pub seed: u64,
    /// Its faults, in start order.
    pub faults: Vec<Timed>,
}

impl Schedule {
    /// The schedule of run `index` of `sim explore` with master seed
    /// `master` on `scenario` within `bounds`.
    pub fn draw(scenario: &Scenario, bounds: &Bounds, master: u64, index: u64) -> Schedule {
        let mut rng = RngStreams::new(master).stream(names::EXPLORE, index);
        let seed = u64::from(rng.random::<u32>());
        let count = rng.random_range(bounds.min_faults..=bounds.max_faults);
        let stop = SimTime::from_duration(scenario.duration);
        let mut taken = Taken::default();
        let mut faults: Vec<Timed> = Vec::new();
        for _ in 0..count {
            let (from, to) = bounds.window;
            let at =
                SimTime::from_duration(duration_in(&mut rng, from.since_start(), to.since_start()));
            let length = duration_in(&mut rng, bounds.min_length, bounds.max_length);
            let end = (at + length.max(SimDuration::from_millis(1))).min(stop);
            if end <= at {
                continue;
            }
            let space = DrawSpace {
                scenario,
                bounds,
                at,
                end,
                taken: &taken,
            };
            let first = rng.random_range(0..bounds.kinds.len());
            let drawn = (0..bounds.kinds.len())
                .map(|k| bounds.kinds[(first + k) % bounds.kinds.len()])
                .find_map(|kind| Fault::draw(kind, &space, &mut rng));
            if let Some(fault) = drawn {
                hold(&mut taken, scenario, seed, at, &fault);
                faults.push((at, fault));
            }
        }
        faults.sort_by_key(|(at, _)| *at);
        Schedule {
            index,
            seed,
            faults,
        }
    }
}

/// Adds what `fault` holds to `taken`: crash windows and Byzantine hosts.
fn hold(taken: &mut Taken, scenario: &Scenario, seed: u64, at: SimTime, fault: &Fault) {
    let streams = RngStreams::new(seed);
    let cx = FaultContext {
        scenario,
        index: 0,
        at,
        streams: &streams,
        host: None,
    };
    let effects = fault.effects();
    match effects.action(&cx) {
        FaultAction::Crash { hosts } => {
            let end = effects.heal().unwrap_or(SimTime::NEVER);
            let validators = validators(scenario);
            taken
                .faulty
                .extend(hosts.iter().filter(|h| validators.contains(h)));
            taken
                .crashes
                .extend(hosts.into_iter().map(|h| (h, at, end)));
        }
        FaultAction::Misbehave { hosts } => taken.faulty.extend(hosts),
        FaultAction::Network(_)
        | FaultAction::ClockSkew { .. }
        | FaultAction::DamageFiles { .. }
        | FaultAction::StorageOutage { .. } => {}
    }
}
