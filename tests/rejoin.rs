//! A restarted miner rejoins consensus under `validators = "registered"`:
//! its validator lost the set in the crash, asks the registrars for the
//! registry again, and finalizes blocks by taking part (not only through
//! catch-up) after its restart.

use std::path::Path;

use node_logic::protocols::consensus::ConsensusEvent;
use node_logic::{HostId, Observation};
use sim_core::units::{SimDuration, SimTime};

mod in_memory;
use in_memory::run;

/// network-bring-up with miner-3 crashed at 100 s and restarted at 130 s.
fn scenario() -> sim::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/network-bring-up.toml");
    let text = std::fs::read_to_string(&path).unwrap()
        + "\n[[faults]]\nat = \"100 s\"\ncrash = \"miner-3\"\nrestart = \"130 s\"\n";
    sim::model::parse_str(&text, Some(&path), &[]).unwrap()
}

#[test]
fn a_restarted_registered_miner_votes_and_finalizes_again() {
    let (log, _) = run(&scenario());
    let restart = SimTime::ZERO + SimDuration::from_secs(130);
    let miner3 = HostId(3);
    let (mut before, mut after) = (0, 0);
    for (t, host, o) in &log.observations {
        if let Observation::Consensus(ConsensusEvent::Finalized { via_sync, .. }) = o
            && *host == miner3
            && !via_sync
        {
            if *t < restart {
                before += 1;
            } else {
                after += 1;
            }
        }
    }
    assert!(before > 5, "finalized {before} before the crash");
    assert!(
        after > 10,
        "finalized {after} by taking part after the restart"
    );
}
