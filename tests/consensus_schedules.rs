//! A CI-sized run of the random consensus fault schedules
//! (`sim::protocols::consensus::schedules`): every one keeps safety and
//! finalizes within the liveness bound after its last fault heals.
//! `examples/consensus_schedules.rs` runs thousands (BENCHMARKS.md).

use sim::protocols::consensus::schedules::{Schedule, Verdict};

#[test]
fn random_fault_schedules_keep_safety_and_liveness() {
    for index in 0..6 {
        let schedule = Schedule::new(index);
        match schedule.run() {
            Verdict::Held { recovery, bound } => {
                assert!(recovery < bound, "schedule {index}: {recovery} of {bound}")
            }
            other => panic!("schedule {index}: {other:?}\n{}", schedule.text),
        }
    }
}
