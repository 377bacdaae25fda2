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
            | RealEffect::Network { hosts, .. }
            | RealEffect::StorageOutage { hosts, .. } => assert!(!hosts.is_empty()),
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

/// A fault that could not change anything is an error saying why, never
/// a silent no-op logged as applied.
#[test]
fn faults_that_cannot_affect_their_targets_are_refused() {
    let peers = "\n[[hosts]]\nname = \"peer\"\ncount = 2\nrole = \"peer\"\nstart = \"60 s\"\n";
    let cases = [
        (
            "at = \"1 s\"\nlink = [\"miner-0\", \"validator-0\"]\nuntil = \"5 s\"",
            "adds no latency and no loss",
        ),
        (
            "at = \"1 s\"\nclock_skew = \"validator-0\"\noffset = \"0 s\"",
            "no offset and no drift",
        ),
        (
            "at = \"1 s\"\ncorrupt = { fraction = 0.1, of = \"miner\" }\nmode = \"empty\"",
            "is 0.4 files, which rounds to 0",
        ),
        (
            "at = \"1 s\"\ncorrupt = \"validator-0\"\nmode = \"empty\"",
            "writes no registration file",
        ),
        ("at = \"1 s\"\nbyzantine = \"peer-0\"", "not a validator"),
        (
            "at = \"1 s\"\nstorage_outage = \"peer-1\"\nuntil = \"9 s\"",
            "never uses the shared directory",
        ),
        (
            "at = \"10 s\"\ncrash = \"peer-0\"\nrestart = \"30 s\"",
            "starts at 1 min at the earliest, not before this crash's restart at 30 s",
        ),
    ];
    for (fault, expected) in cases {
        let text = format!("{HOSTS}{peers}\n[[faults]]\n{fault}\n");
        let err = parse_str(&text, None, &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{fault}:\n{err}");
        assert!(
            err.contains(":2") || err.contains("<input>"),
            "located: {err}"
        );
    }
    // The same faults with an effect are fine.
    for fault in [
        "at = \"1 s\"\nclock_skew = \"validator-0\"\ndrift = 0.001",
        "at = \"1 s\"\ncorrupt = { fraction = 0.25, of = \"miner\" }\nmode = \"empty\"",
        "at = \"10 s\"\ncrash = \"peer-0\"\nrestart = \"90 s\"",
    ] {
        let text = format!("{HOSTS}{peers}\n[[faults]]\n{fault}\n");
        parse_str(&text, None, &[]).unwrap_or_else(|e| panic!("{fault}: {e}"));
    }
}
