//! Helpers shared by the tests that run scenarios in this process (no
//! `sim` binary): run one to its log and trace hash, and check a refused
//! scenario's located error.

use sim::Scenario;
use sim::runner;
use sim_core::record::RunLog;
use sim_core::scenario::{ErrorKind, ScenarioError};
use sim_core::trace::NoTrace;

/// Runs `scenario` to its end without a trace file: its log and trace hash.
pub fn run(scenario: &Scenario) -> (RunLog, String) {
    let mut sim = runner::prepare(scenario).unwrap().sim;
    sim.run(&mut NoTrace).unwrap();
    let hash = sim.trace_hash();
    (sim.into_log(), hash)
}

/// Runs `scenario` with the run's signature caches on or off
/// (`--no-signature-cache`): its trace hash, log and protocol plans (which
/// hold the caches, to read their counters).
#[allow(dead_code)] // used by the tests that compare the two
pub fn run_with_signature_cache(
    scenario: &Scenario,
    signature_cache: bool,
) -> (String, RunLog, std::rc::Rc<sim::protocols::Plans>) {
    let options = runner::RunOptions {
        signature_cache,
        ..Default::default()
    };
    let prepared = runner::prepare_with(scenario, options).unwrap();
    let mut sim = prepared.sim;
    sim.run(&mut NoTrace).unwrap();
    (sim.trace_hash(), sim.into_log(), prepared.plans)
}

/// Asserts that `parsed` was refused with a located error of `kind` at
/// `key` whose message contains `fragment`.
#[allow(dead_code)] // tests/runner.rs checks no refusals
#[track_caller]
pub fn assert_located(
    parsed: Result<Scenario, ScenarioError>,
    kind: ErrorKind,
    key: &str,
    fragment: &str,
) {
    let err = parsed.expect_err("should be refused");
    let shown = err.to_string();
    assert_eq!(err.kind(), kind, "{shown}");
    assert_eq!(err.key_path(), Some(key), "{shown}");
    assert!(err.line().is_some(), "located: {shown}");
    assert!(err.message().contains(fragment), "{shown}");
}
