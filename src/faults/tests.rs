//! The fault table, walked: every kind has a sample here, parses, and says
//! what the simulator and real runs do with it.

use std::collections::BTreeSet;

use sim_core::rng::RngStreams;

use super::{RealEffect, each, kinds, samples};
use crate::model::parse_str;

/// Hosts every sample can name: miners and registrars (registration),
/// validators (consensus, peers).
const HOSTS: &str = r#"
duration = "10 min"

[[hosts]]
name = "miner"
count = 4
role = "miner"

[[hosts]]
name = "validator"
count = 4
role = "validator"

[consensus]
"#;

fn scenario_with_every_kind() -> crate::Scenario {
    let mut text = HOSTS.to_string();
    for entry in samples() {
        text.push_str("\n[[faults]]\n");
        text.push_str(entry);
        text.push('\n');
    }
    parse_str(&text, None, &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_kind_has_a_sample_of_its_own_kind() {
    let scenario = scenario_with_every_kind();
    let parsed: Vec<&str> = scenario.faults.iter().map(|f| f.kind.name()).collect();
    let table: Vec<&str> = kinds().iter().map(|k| k.name).collect();
    assert_eq!(parsed, table, "each kind's SAMPLE is an entry of that kind");
}

#[test]
fn every_kind_acts_in_the_simulator_and_says_what_real_runs_do() {
    let scenario = scenario_with_every_kind();
    let streams = RngStreams::new(scenario.seed);
    let mut names = BTreeSet::new();
    for (fault, cx) in each(&scenario, &streams) {
        let effects = fault.effects();
        assert!(!effects.hosts(&cx).is_empty(), "{fault:?} touches no host");
        // The simulator's action exists (the engine carries it out).
        let _ = effects.action(&cx);
        match effects.real(&cx) {
            RealEffect::Skipped(why) => assert!(why.len() > 20, "{fault:?}: say why: {why}"),
            RealEffect::Crash { hosts, .. }
            | RealEffect::Misbehave { hosts, .. }
            | RealEffect::ClockSkew { hosts, .. }
            | RealEffect::Network { hosts, .. } => assert!(!hosts.is_empty()),
            RealEffect::Damage { targets } => assert!(!targets.is_empty()),
        }
        assert!(
            names.insert(fault.name()),
            "two kinds named {}",
            fault.name()
        );
    }
    assert_eq!(names.len(), kinds().len());
}

#[test]
fn options_of_one_kind_are_refused_on_another_with_a_hint() {
    let text = format!("{HOSTS}\n[[faults]]\nat = \"1 s\"\ncrash = \"miner-0\"\nuntil = \"5 s\"\n");
    let err = parse_str(&text, None, &[]).unwrap_err();
    assert_eq!(err.help(), Some("a crash fault ends with `restart`"));
}
