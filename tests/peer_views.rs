//! Bounded peer views end to end: the bundled churn scenario keeps one
//! connected overlay within its limits; the `[peers]` keys of bounded views
//! and rate limits are checked with located errors.

use std::path::Path;

use reports::summary::Metric;
use sim::Sim;
use sim::results::{Finished, Reports};
use sim_core::scenario::{ErrorKind, Model, ScenarioError};
use sim_core::trace::NoTrace;

fn summary_of(scenario: &sim::Scenario) -> reports::summary::Summary {
    let prepared = sim::runner::prepare(scenario).unwrap();
    let mut sim = prepared.sim;
    sim.run(&mut NoTrace).unwrap();
    let (hash, end) = (sim.trace_hash(), sim.now());
    let log = sim.into_log();
    let run = Finished {
        scenario,
        log: &log,
        plans: &prepared.plans,
        trace_hash: &hash,
        end,
        safety_violated: false,
        counters: Default::default(),
    };
    Reports::of(&run, &[]).summary
}

fn count(summary: &reports::summary::Summary, name: &str) -> u64 {
    match summary.get(name) {
        Some(Metric::Count(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn the_bounded_scenario_keeps_one_overlay_through_churn_within_its_limits() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/peers-bounded.toml");
    let scenario = sim::model::load(&path, &[]).unwrap();
    let summary = summary_of(&scenario);
    let known = Sim::metrics();
    for (name, _) in summary.iter() {
        assert!(known.contains(&name), "unknown metric {name}");
    }
    // 30 hosts crashed and came back knowing nobody; at the end the live
    // overlay is one component, every host has its 8 outbound connections,
    // and nobody has more than 8 + 16.
    assert_eq!(count(&summary, "faults.crashes"), 30);
    assert_eq!(count(&summary, "peers.components"), 1);
    assert!(count(&summary, "peers.degree_min") >= 8);
    assert!(count(&summary, "peers.degree_max") <= 24);
    assert!(count(&summary, "peers.diameter_hops") >= 2);
    assert!(
        count(&summary, "peers.refused") > 0,
        "16 inbound slots fill up"
    );
    assert_eq!(count(&summary, "peers.rate_limited"), 0);
    assert!(summary.get("peers.converged_s").is_some());
}

#[test]
fn full_mesh_runs_write_no_bounded_view_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/heartbeat-partition.toml");
    let scenario = sim::model::load(&path, &[]).unwrap();
    let summary = summary_of(&scenario);
    for name in ["peers.degree_min", "peers.refused", "peers.rate_limited"] {
        assert!(summary.get(name).is_none(), "{name}");
    }
}

const BASE: &str = r#"duration = "1 min"

[[hosts]]
name = "peer"
count = 20
role = "peer"

[peers]
"#;

fn error_of(peers: &str) -> ScenarioError {
    let text = format!("{BASE}{peers}");
    match sim::model::parse_str(&text, None, &[]) {
        Ok(_) => panic!("should not parse:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn view_keys_without_max_outbound_are_refused_where_they_are() {
    let err = error_of("max_inbound = 10\n");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.line(), Some(9), "{err}");
    assert_eq!(err.key_path(), Some("peers.max_inbound"), "{err}");
    assert!(err.help().unwrap().contains("max_outbound"), "{err}");
}

#[test]
fn a_known_table_smaller_than_the_connections_is_refused() {
    let err = error_of("max_outbound = 8\nmax_inbound = 16\nmax_known = 10\n");
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    assert_eq!(err.line(), Some(11), "{err}");
    assert_eq!(err.key_path(), Some("peers.max_known"), "{err}");
    assert!(err.message().contains("at least"), "{err}");
}

#[test]
fn zero_limits_are_refused() {
    for (key, line) in [
        ("max_outbound = 0\n", 9),
        ("max_outbound = 4\nmax_inbound = 0\n", 10),
        ("rate_limit_messages = 0\n", 9),
        ("rate_limit_bytes = -5\n", 9),
    ] {
        let err = error_of(key);
        assert_eq!(err.line(), Some(line), "{key}: {err}");
        assert!(err.message().contains("at least 1"), "{key}: {err}");
    }
}
