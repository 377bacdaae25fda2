//! The protocol registry, end to end: every metric a run writes is one the
//! scenario format knows (so targets can name it), and each protocol
//! writes only its own.

use std::path::Path;

use sim::Sim;
use sim::protocols::node_counters;
use sim::results::{Finished, Reports};
use sim_core::scenario::{Model, Override};
use sim_core::trace::NoTrace;

/// Runs bundled scenario `name` (with `sets`) and returns its metric names.
fn metrics_of(name: &str, sets: &[&str]) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let sets: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    let scenario = sim::model::load(&path, &sets).unwrap();
    let prepared = sim::runner::prepare(&scenario).unwrap();
    let mut sim = prepared.sim;
    sim.run(&mut NoTrace).unwrap();
    let mut counters = Default::default();
    for host in &scenario.hosts {
        if let Some(node) = sim.node(host.id) {
            node_counters(node, &mut counters);
        }
    }
    let (hash, end) = (sim.trace_hash(), sim.now());
    let log = sim.into_log();
    let run = Finished {
        scenario: &scenario,
        log: &log,
        plans: &prepared.plans,
        trace_hash: &hash,
        end,
        safety_violated: false,
        counters,
    };
    let summary = Reports::of(&run, &[]).summary;
    summary.iter().map(|(name, _)| name.to_string()).collect()
}

#[test]
fn every_metric_written_is_a_known_metric() {
    let known = Sim::metrics();
    for (scenario, sets) in [
        ("heartbeat-partition.toml", &[][..]),
        ("registration-backoff.toml", &["duration=\"1 min\""][..]),
        ("consensus-basic.toml", &["duration=\"30 s\""][..]),
        ("network-bring-up.toml", &["duration=\"40 s\""][..]),
    ] {
        let written = metrics_of(scenario, sets);
        assert!(written.len() > 12, "{scenario}: {written:?}");
        for metric in &written {
            assert!(
                known.contains(&metric.as_str()),
                "{scenario} wrote `{metric}`, which no protocol declares (METRICS) and targets cannot name"
            );
        }
    }
}
