//! The fault table, walked: every kind has a sample here, parses, and says
//! what the simulator and real runs do with it.

use std::collections::BTreeSet;

use sim_core::rng::RngStreams;

use sim_core::units::{SimDuration, SimTime};

use super::draw::{DrawSpace, Taken};
use super::{Fault, RealEffect, each, kinds, samples};
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

/// `text` with `entries` as its faults.
fn with_faults(entries: &[toml::Table]) -> String {
    let mut text = HOSTS.to_string();
    for entry in entries {
        text.push_str("\n[[faults]]\n");
        text.push_str(&toml::to_string(entry).unwrap());
    }
    text
}

#[test]
fn every_kind_writes_back_the_entry_it_parsed() {
    let scenario = scenario_with_every_kind();
    let entries: Vec<toml::Table> = scenario
        .faults
        .iter()
        .map(|f| crate::explore::variant::entry(&scenario, f.at, &f.kind))
        .collect();
    let again = parse_str(&with_faults(&entries), None, &[]).unwrap_or_else(|e| panic!("{e}"));
    let kinds = |s: &crate::Scenario| -> Vec<(SimTime, Fault)> {
        s.faults.iter().map(|f| (f.at, f.kind.clone())).collect()
    };
    assert_eq!(kinds(&again), kinds(&scenario));
}

#[test]
fn every_kind_draws_entries_that_parse_and_simpler_ones_of_its_kind() {
    let mut text = HOSTS.to_string();
    text.push_str("[explore]\nmax_hosts = 3\n");
    let loaded = sim_core::scenario::parse_str_with::<crate::Sim, crate::explore::Bounds>(
        &text,
        None,
        &[],
        crate::explore::Bounds::parse,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (scenario, bounds) = (loaded.scenario, loaded.extra);
    assert_eq!(
        bounds.kinds.len(),
        kinds().len(),
        "every kind can be drawn here"
    );
    let taken = Taken::default();
    let at = SimTime::from_duration(SimDuration::from_secs(10));
    let end = SimTime::from_duration(SimDuration::from_secs(40));
    let space = DrawSpace {
        scenario: &scenario,
        bounds: &bounds,
        at,
        end,
        taken: &taken,
    };
    let mut rng = RngStreams::new(7).stream("test", 0);
    for kind in kinds() {
        for _ in 0..20 {
            let fault = Fault::draw(kind.key, &space, &mut rng)
                .unwrap_or_else(|| panic!("{} cannot be drawn", kind.key));
            assert_eq!(fault.key(), kind.key);
            let mut entries = vec![crate::explore::variant::entry(&scenario, at, &fault)];
            for simpler in fault.simpler(at) {
                assert_eq!(simpler.key(), kind.key);
                assert_ne!(simpler, fault, "a simpler {} is different", kind.key);
                if let Some(heal) = simpler.effects().heal() {
                    assert!(
                        fault.effects().heal().is_some_and(|h| heal <= h),
                        "never a later end"
                    );
                }
                entries.push(crate::explore::variant::entry(&scenario, at, &simpler));
            }
            // Two crashes of one host overlap: check crash entries one by one.
            for entry in &entries {
                let parsed = parse_str(&with_faults(std::slice::from_ref(entry)), None, &[])
                    .unwrap_or_else(|e| panic!("{e}\n{entry:?}"));
                assert_eq!(parsed.faults[0].at, at);
            }
            let parsed = parse_str(&with_faults(&entries[..1]), None, &[]).unwrap();
            assert_eq!(
                parsed.faults[0].kind, fault,
                "the written entry reads back as drawn"
            );
        }
    }
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
