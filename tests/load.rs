//! Client load from the scenario to the run: `[load]` is read with located
//! errors; transactions are finalized in blocks whose bodies cross the
//! bandwidth model; a run with load and CPU costs is deterministic.

use std::collections::BTreeSet;

use node_logic::Observation;
use node_logic::protocols::consensus::ConsensusEvent;
use node_logic::protocols::load::LoadEvent;
use sim::Scenario;
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;

mod in_memory;
use in_memory::run;

fn base(bandwidth: &str) -> String {
    format!(
        r#"
duration = "20 s"
[network]
latency = "10 ms"
bandwidth = "{bandwidth}"
[[hosts]]
name = "validator"
count = 4
role = "validator"
[[hosts]]
name = "client"
count = 2
role = "host"
[consensus]
validators = "validator"
block_interval = "1 s"
view_timeout = "5 s"
"#
    )
}

fn parse_with(bandwidth: &str, extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{}{extra}", base(bandwidth)), None, &[])
}

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    parse_with("1 Gbit", extra)
}

#[track_caller]
fn error(extra: &str, kind: ErrorKind, key: &str, fragment: &str) {
    in_memory::assert_located(parse(extra), kind, key, fragment);
}

#[test]
fn bad_load_tables_are_located_errors() {
    let ok = "[load]\nclients = \"client\"\nrate = 10\n";
    parse(ok).unwrap();
    error(
        "[load]\nclients = \"client\"\nrate = 10\nrte = 5\n",
        ErrorKind::UnknownKey,
        "load.rte",
        "unknown key `rte`",
    );
    error(
        "[load]\nclients = \"client\"\nrate = -1\n",
        ErrorKind::InvalidValue,
        "load.rate",
        "out of range",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 0\n",
        ErrorKind::InvalidValue,
        "load.rate",
        "submit nothing",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\nto = \"client-0\"\n",
        ErrorKind::InvalidValue,
        "load.to",
        "not a consensus validator",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\nstop = \"30 s\"\n",
        ErrorKind::InvalidValue,
        "load.stop",
        "start before it stops",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\nfanout = 5\n",
        ErrorKind::InvalidValue,
        "load.fanout",
        "",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\nrates = [{ at = \"5 s\", rate = 1 }, { at = \"4 s\", rate = 2 }]\n",
        ErrorKind::InvalidValue,
        "load.rates.1.at",
        "not after the previous one",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\neviction = \"random\"\n",
        ErrorKind::InvalidValue,
        "load.eviction",
        "",
    );
    error(
        "[load]\nclients = \"client\"\nrate = 10\ntx_bytes = 10\n",
        ErrorKind::InvalidValue,
        "load.tx_bytes",
        "",
    );
    error(
        "[load]\nrate = 10\n",
        ErrorKind::MissingKey,
        "load.clients",
        "",
    );
}

/// `(submitted, finalized)` transactions and the largest block carried.
fn carried(log: &RunLog) -> (usize, usize, usize) {
    let mut submitted = 0;
    let mut blocks = std::collections::BTreeMap::new();
    let mut finalized = BTreeSet::new();
    for (_, _, o) in &log.observations {
        match o {
            Observation::Load(LoadEvent::Submitted { .. }) => submitted += 1,
            Observation::Consensus(ConsensusEvent::BlockTxs { hash, txs, .. }) => {
                blocks.insert(*hash, txs.clone());
            }
            Observation::Consensus(ConsensusEvent::Finalized { hash, .. }) => {
                if let Some(txs) = blocks.get(hash) {
                    finalized.extend(txs.iter().copied());
                }
            }
            _ => {}
        }
    }
    let largest = blocks.values().map(Vec::len).max().unwrap_or(0);
    (submitted, finalized.len(), largest)
}

#[test]
fn transactions_are_finalized_deterministically_with_cpu_costs() {
    let load = "[load]\nclients = \"client\"\nrate = 40\nstop = \"15 s\"\nblock_txs = 30\n\
                [cpu]\nverify = \"50 us\"\nverify_cached = \"1 us\"\nsign = \"30 us\"\n";
    let s = parse(load).unwrap();
    let (log, hash) = run(&s);
    assert_eq!(run(&s).1, hash, "same scenario, same trace");
    let (submitted, finalized, largest) = carried(&log);
    assert!((450..=750).contains(&submitted), "{submitted}");
    assert!(largest <= 30, "block_txs honoured: {largest}");
    // Offered 40/s, capacity about 30 per block each second: a backlog.
    assert!(
        finalized > submitted / 2 && finalized < submitted,
        "{finalized} of {submitted}"
    );
    assert!(!log.cpu.is_empty());
}

#[test]
fn a_big_block_on_a_slow_uplink_is_slow() {
    // 200 transactions of 250 bytes: a 50 KB body; at 1 Mbit about 0.4 s.
    let load =
        "[load]\nclients = \"client\"\nrate = 200\nstop = \"15 s\"\narrival = \"constant\"\n";
    let when_received = |bandwidth: &str| {
        let (log, _) = run(&parse_with(bandwidth, load).unwrap());
        let mut delays = Vec::new();
        let mut proposed = std::collections::BTreeMap::new();
        for (t, _, o) in &log.observations {
            match o {
                Observation::Consensus(ConsensusEvent::BlockTxs { payload, txs, .. })
                    if txs.len() >= 100 =>
                {
                    proposed.insert(*payload, *t);
                }
                Observation::Consensus(ConsensusEvent::BodyReceived { payload, .. }) => {
                    if let Some(p) = proposed.get(payload) {
                        delays.push((*t - *p).as_secs_f64());
                    }
                }
                _ => {}
            }
        }
        assert!(!delays.is_empty());
        delays.iter().sum::<f64>() / delays.len() as f64
    };
    let fast = when_received("1 Gbit");
    let slow = when_received("1 Mbit");
    assert!(fast < 0.02, "{fast}");
    assert!(slow > 0.3, "{slow}");
}

#[test]
fn without_load_blocks_carry_no_transactions() {
    let (log, _) = run(&parse("").unwrap());
    assert_eq!(carried(&log), (0, 0, 0));
    let body = |o: &Observation| {
        matches!(
            o,
            Observation::Consensus(ConsensusEvent::BodyReceived { .. })
        )
    };
    assert!(!log.observations.iter().any(|(_, _, o)| body(o)));
}

#[test]
fn vouching_for_the_runs_own_signatures_changes_nothing_but_the_work() {
    // Transactions and votes the run signed are known valid without
    // verifying; the same run verifying every copy must agree exactly.
    let load = "[load]\nclients = \"client\"\nrate = 40\nstop = \"10 s\"\n\
                [cpu]\nverify = \"50 us\"\nverify_cached = \"1 us\"\n";
    let s = parse(load).unwrap();
    let run_with = |signature_cache: bool| {
        let (hash, log, plans) = in_memory::run_with_signature_cache(&s, signature_cache);
        let cache = plans.consensus.as_ref().unwrap().cache.clone();
        (hash, log, cache.map(|c| (c.checks(), c.vouched())))
    };
    let (cached_hash, cached_log, stats) = run_with(true);
    let (direct_hash, direct_log, _) = run_with(false);
    assert_eq!(cached_hash, direct_hash);
    assert_eq!(cached_log.observations, direct_log.observations);
    let (checks, vouched) = stats.unwrap();
    let (submitted, finalized, _) = carried(&cached_log);
    assert!(finalized > 0 && submitted > 0);
    // Every submitted transaction was checked by some validator, and all
    // of them (and the votes) were answered without verifying.
    assert!(vouched >= submitted as u64, "{vouched} of {submitted}");
    assert!(vouched <= checks, "{vouched} > {checks}");
}

#[test]
fn signing_ahead_on_another_core_changes_nothing_but_the_time() {
    // `sim run` of one scenario signs the clients' transactions ahead on a
    // second thread; the run must be the same, and take every one of them.
    let load = "[load]\nclients = \"client\"\nrate = 60\nstop = \"10 s\"\n";
    let s = parse(load).unwrap();
    let run_with = |spare_core: bool| {
        let options = sim::runner::RunOptions {
            spare_core,
            ..Default::default()
        };
        let prepared = sim::runner::prepare_with(&s, options).unwrap();
        let signer = prepared.plans.load.as_ref().unwrap().signer.clone();
        if let Some(signer) = &signer {
            // Let it make them all first, so the count below is exact.
            let start = std::time::Instant::now();
            while !signer.is_idle() {
                assert!(start.elapsed().as_secs() < 60, "signing thread stuck");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        let mut sim = prepared.sim;
        sim.run(&mut sim_core::trace::NoTrace).unwrap();
        (sim.trace_hash(), sim.into_log(), signer.map(|s| s.given()))
    };
    let (hash, log, none) = run_with(false);
    let (ahead_hash, ahead_log, given) = run_with(true);
    assert_eq!(none, None, "no thread unless asked");
    assert_eq!(ahead_hash, hash);
    assert_eq!(ahead_log.observations, log.observations);
    let (submitted, finalized, _) = carried(&log);
    assert!(submitted > 400 && finalized > 0, "{submitted} {finalized}");
    assert_eq!(
        given,
        Some(submitted as u64),
        "every transaction signed ahead"
    );
}
