//! Registration at scale (issue 12, item 4): `parallel_reads`,
//! `shared_cache` and `strategy = "auto"` from the scenario to the run —
//! read with located errors, every miner registered with its real wallet,
//! fewer I/O waits, deterministic; the defaults leave runs as they were.

use node_logic::Observation;
use node_logic::protocols::registration::RegistrationEvent;
use sim::Scenario;
use sim::protocols::registration::{RegistrationStrategy, auto_intervals, pass_time};
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;
use sim_core::units::SimDuration;

mod in_memory;
use in_memory::run;

const BASE: &str = r#"
seed = 3
duration = "120 s"
[network]
latency = "10 ms"
[[hosts]]
name = "miner"
count = 40
role = "miner"
start = { uniform = ["0 s", "5 s"] }
[[hosts]]
name = "registrar"
count = 3
role = "registrar"
[[faults]]
at = "0 s"
corrupt = { fraction = 0.1, of = "miner" }
mode = "mixed"
[registration]
read_time = "100 ms"
"#;

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

/// Per registrar: when it became ready, and every acceptance's wallet.
fn outcome(log: &RunLog) -> (Vec<f64>, Vec<(String, String)>) {
    let mut ready = Vec::new();
    let mut accepted = Vec::new();
    for (time, _, observation) in &log.observations {
        match observation {
            Observation::Registration(RegistrationEvent::Ready { timed_out, .. }) => {
                assert!(!timed_out, "every registrar ready before its timeout");
                ready.push(time.as_secs_f64());
            }
            Observation::Registration(RegistrationEvent::Accepted { agent, wallet, .. }) => {
                accepted.push((agent.clone(), wallet.clone()));
            }
            _ => {}
        }
    }
    accepted.sort();
    (ready, accepted)
}

#[test]
fn parallel_reads_and_a_shared_cache_register_everyone_faster_and_deterministically() {
    let (serial_log, serial_hash) = run(&parse("").unwrap());
    let fast = parse("parallel_reads = 8\nshared_cache = true\n").unwrap();
    let (fast_log, fast_hash) = run(&fast);
    let (again_log, again_hash) = run(&fast);
    assert_eq!(fast_hash, again_hash, "same scenario and seed, same trace");
    assert_eq!(outcome(&fast_log), outcome(&again_log));
    assert_ne!(serial_hash, fast_hash);
    let (serial_ready, serial_accepted) = outcome(&serial_log);
    let (fast_ready, fast_accepted) = outcome(&fast_log);
    // Three registrars, 40 miners each, the same real wallets.
    assert_eq!(serial_accepted.len(), 120);
    assert_eq!(fast_accepted, serial_accepted);
    let last = |r: &[f64]| r.iter().copied().fold(0.0, f64::max);
    assert_eq!(fast_ready.len(), 3);
    // 40 reads at 100 ms: ~4 s a pass one at a time, ~0.5 s eight at a time.
    assert!(
        last(&fast_ready) + 2.0 < last(&serial_ready),
        "parallel {fast_ready:?} vs serial {serial_ready:?}"
    );
}

#[test]
fn auto_chooses_intervals_from_the_miners_expected() {
    let scenario = parse("strategy = \"auto\"\nparallel_reads = 2\n").unwrap();
    let spec = scenario.protocols.registration.as_ref().unwrap();
    assert_eq!(spec.strategy, RegistrationStrategy::Auto);
    // A pass: one 5 ms listing and 20 rounds of two 100 ms reads.
    assert_eq!(pass_time(spec, 40), SimDuration::from_millis(2_005));
    let auto = auto_intervals(spec, 40);
    assert_eq!(spec.initial_interval, auto.initial);
    assert_eq!(auto.initial, SimDuration::from_secs(1), "the floor");
    assert_eq!(spec.max_interval, SimDuration::from_secs(10));
    assert_eq!(spec.timeout, SimDuration::from_secs(300));
    // 100,000 miners, one read at a time: a 200 s pass.
    let big = auto_intervals(&serial(spec), 100_000);
    assert_eq!(big.initial, SimDuration::from_nanos(50_001_250_000));
    assert_eq!(big.max, SimDuration::from_millis(400_010));
    assert_eq!(big.timeout, SimDuration::from_millis(2_000_050));
    let (log, _) = run(&scenario);
    assert_eq!(outcome(&log).1.len(), 120);
    // A timeout set in the scenario is kept.
    let kept = parse("strategy = \"auto\"\ntimeout = \"200 s\"\n").unwrap();
    let spec = kept.protocols.registration.as_ref().unwrap();
    assert_eq!(spec.timeout, SimDuration::from_secs(200));
}

/// `spec` reading one file at a time.
fn serial(
    spec: &sim::protocols::registration::RegistrationSpec,
) -> sim::protocols::registration::RegistrationSpec {
    let mut spec = spec.clone();
    spec.parallel_reads = 1;
    spec.fs.read_time = SimDuration::from_millis(2);
    spec
}

#[test]
fn bad_values_are_refused_where_they_are_written() {
    in_memory::assert_located(
        parse("parallel_reads = 0\n"),
        ErrorKind::InvalidValue,
        "registration.parallel_reads",
        "",
    );
    in_memory::assert_located(
        parse("parallel_reads = \"many\"\n"),
        ErrorKind::InvalidValue,
        "registration.parallel_reads",
        "",
    );
    in_memory::assert_located(
        parse("shared_cache = 1\n"),
        ErrorKind::InvalidValue,
        "registration.shared_cache",
        "",
    );
    in_memory::assert_located(
        parse("strategy = \"automatic\"\n"),
        ErrorKind::InvalidValue,
        "registration.strategy",
        "",
    );
    in_memory::assert_located(
        parse("strategy = \"auto\"\nmax_interval = \"20 s\"\n"),
        ErrorKind::Conflict,
        "registration.max_interval",
        "would do nothing",
    );
}

#[test]
fn a_registrar_crashed_while_reading_in_parallel_restarts_and_registers_everyone() {
    // registrar-0 dies at 1.25 s, while miners are still booting and its
    // checks read up to 8 files at 100 ms each, and restarts 3 s later
    // with nothing (its in-flight results are lost with it).
    let crash = "[[faults]]\nat = \"1.25 s\"\ncrash = \"registrar-0\"\nrestart = \"3 s\"\n";
    let scenario = sim::model::parse_str(
        &format!("{BASE}parallel_reads = 8\nshared_cache = true\n{crash}"),
        None,
        &[],
    )
    .unwrap();
    let (log, _) = run(&scenario);
    let (ready, _) = outcome(&log);
    assert_eq!(ready.len(), 3, "every registrar ready once: {ready:?}");
    // registrar-0 is host 40 (after the 40 miners).
    let crashed = node_logic::HostId(40);
    let lifecycle: Vec<f64> = log
        .lifecycle
        .iter()
        .filter(|(_, h, _)| *h == crashed)
        .map(|(t, _, _)| t.as_secs_f64())
        .collect();
    // Started, Crashed, Restarted.
    assert_eq!(
        lifecycle.len(),
        3,
        "booted, crashed, restarted: {lifecycle:?}"
    );
    assert!((lifecycle[1] - 1.25).abs() < 1e-9, "{lifecycle:?}");
    let restart = lifecycle[2];
    assert!(restart > 1.25, "{restart}");
    let mut after_restart = std::collections::BTreeSet::new();
    let mut ready_at = None;
    for (time, host, observation) in &log.observations {
        if *host != crashed {
            continue;
        }
        match observation {
            Observation::Registration(RegistrationEvent::Accepted { agent, .. })
                if time.as_secs_f64() >= restart =>
            {
                after_restart.insert(agent.clone());
            }
            Observation::Registration(RegistrationEvent::Ready { .. }) => {
                ready_at = Some(time.as_secs_f64());
            }
            _ => {}
        }
    }
    let ready_at = ready_at.expect("the restarted registrar became ready");
    assert!(
        ready_at >= restart,
        "ready only after its restart: {ready_at}"
    );
    // It kept nothing: every miner accepted again after the restart.
    assert_eq!(after_restart.len(), 40);
}

#[test]
fn vouching_for_the_miners_own_signatures_changes_nothing_but_the_work() {
    // Files the miners signed are known valid without verifying (the run's
    // signature cache is told at signing); damaged copies are verified.
    // The same run verifying every signature must agree exactly, with and
    // without a cache the registrars share.
    for shared in ["false", "true"] {
        let s = parse(&format!("shared_cache = {shared}\n")).unwrap();
        let run_with = |signature_cache: bool| {
            let (hash, log, plans) = in_memory::run_with_signature_cache(&s, signature_cache);
            let plan = plans.registration.as_ref().unwrap();
            let stats = plan.signatures.as_ref().map(|c| (c.checks(), c.vouched()));
            (hash, log, stats)
        };
        let (cached_hash, cached_log, stats) = run_with(true);
        let (direct_hash, direct_log, none) = run_with(false);
        assert_eq!(cached_hash, direct_hash, "shared_cache = {shared}");
        assert_eq!(cached_log.observations, direct_log.observations);
        assert_eq!(none, None, "no cache without --signature-cache");
        let (checks, vouched) = stats.unwrap();
        let (_, accepted) = outcome(&cached_log);
        assert!(!accepted.is_empty());
        // Every miner's own file was answered without curve arithmetic.
        assert!(vouched >= 40, "{vouched} vouched");
        assert!(vouched <= checks, "{vouched} > {checks}");
    }
}
