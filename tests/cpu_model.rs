//! The CPU cost model from the scenario to the metrics: `[cpu]` and group
//! overrides are read with located errors, a run with it is deterministic
//! and slower where the costs say, and a scenario without it is unchanged.

use sim::Scenario;
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;
use sim_core::units::SimDuration;

mod in_memory;
use in_memory::run;

const BASE: &str = r#"
duration = "60 s"
[network]
latency = "10 ms"
bandwidth = "1 Gbit"
[[hosts]]
name = "validator"
count = 4
role = "validator"
[consensus]
validators = "validator"
block_interval = "1 s"
view_timeout = "5 s"
"#;

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

#[track_caller]
fn error(extra: &str, kind: ErrorKind, key: &str, fragment: &str) {
    in_memory::assert_located(parse(extra), kind, key, fragment);
}

#[test]
fn bad_cpu_tables_are_located_errors() {
    error(
        "[cpu]\ncores = 2\n",
        ErrorKind::InvalidValue,
        "cpu",
        "every cost in [cpu] is 0",
    );
    error(
        "[cpu]\nverfy = \"50 us\"\n",
        ErrorKind::UnknownKey,
        "cpu.verfy",
        "unknown key `verfy`",
    );
    error(
        "[cpu]\nverify = \"50\"\n",
        ErrorKind::InvalidValue,
        "cpu.verify",
        "",
    );
    error(
        "[cpu]\nverify = \"50 us\"\ncores = 0\n",
        ErrorKind::InvalidValue,
        "cpu.cores",
        "",
    );
    error(
        "[[hosts]]\nname = \"slow\"\ncount = 1\nrole = \"peer\"\ncpu = { cores = 2 }\n",
        ErrorKind::Conflict,
        "hosts.1.cpu",
        "needs a [cpu] table",
    );
    error(
        "[[hosts]]\nname = \"slow\"\ncount = 1\nrole = \"peer\"\ncpu = {}\n[cpu]\nverify = \"1 us\"\n",
        ErrorKind::InvalidValue,
        "hosts.1.cpu",
        "empty",
    );
    error(
        "[[hosts]]\nname = \"slow\"\ncount = 1\nrole = \"peer\"\ncpu = { speed = 2 }\n[cpu]\nverify = \"1 us\"\n",
        ErrorKind::UnknownKey,
        "hosts.1.cpu.speed",
        "unknown key `speed`",
    );
    error(
        "[targets]\n\"cpu.utilization_max\" = \"< 0.5\"\n",
        ErrorKind::Conflict,
        "targets.\"cpu.utilization_max\"",
        "no [cpu] table",
    );
}

#[test]
fn group_overrides_resolve_per_group() {
    let s = parse(
        "[[hosts]]\nname = \"fast\"\ncount = 1\nrole = \"peer\"\ncpu = { cores = 8, verify = \"20 us\" }\n\
         [cpu]\nverify = \"50 us\"\nsign = \"30 us\"\ncores = 2\n",
    )
    .unwrap();
    let cpu = s.cpu.as_ref().unwrap();
    let (validator, fast) = (cpu.of_group(0), cpu.of_group(1));
    assert_eq!((validator.cores, fast.cores), (2, 8));
    assert_eq!(validator.costs.verify, SimDuration::from_micros(50));
    assert_eq!(fast.costs.verify, SimDuration::from_micros(20));
    assert_eq!(fast.costs.sign, SimDuration::from_micros(30), "inherited");
}

#[test]
fn costs_slow_finality_deterministically_and_are_recorded() {
    let plain = parse("").unwrap();
    let costly =
        parse("[cpu]\nverify = \"2 ms\"\nsign = \"1 ms\"\nmessage = \"100 us\"\n").unwrap();
    let (plain_log, plain_hash) = run(&plain);
    let (log, hash) = run(&costly);
    assert_eq!(run(&costly).1, hash, "same scenario, same trace");
    assert_ne!(hash, plain_hash);
    assert!(plain_log.cpu.is_empty(), "no CPU model, no records");
    assert_eq!(log.cpu.len(), 4);
    for record in &log.cpu {
        assert_eq!(record.cores, 1);
        assert!(record.served > 100 && record.busy > SimDuration::from_millis(100));
    }
    // Each finalization waits for verified, signed votes: later than without costs.
    let first = |log: &RunLog| {
        log.observations
            .iter()
            .find(|(_, _, o)| {
                matches!(
                    o,
                    node_logic::Observation::Consensus(
                        node_logic::protocols::consensus::ConsensusEvent::Finalized { .. }
                    )
                )
            })
            .map(|(t, _, _)| *t)
            .unwrap()
    };
    let delay = first(&log).as_nanos() - first(&plain_log).as_nanos();
    // At least: the leader signs (1 ms); a voter verifies it and signs (3 ms); ...
    assert!(delay >= 5_000_000, "{delay}");
}
