//! Wallet registration end to end: the bundled scenarios reproduce, the
//! legacy registry merges, and tampering with registration files at random
//! never gets a wrong wallet accepted.

use std::path::Path;

use node_logic::Observation;
use node_logic::protocols::registration::file::{Registration, encode, file_name};
use node_logic::protocols::registration::{RegistrationEvent, WalletSource};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use reports::summary::{Metric, Summary};
use sim::Scenario;
use sim::protocols::Plans;
use sim::results::{Finished, Reports};
use sim::runner::{self, identity};
use sim_core::rng::RngStreams;
use sim_core::scenario::Override;
use sim_core::trace::NoTrace;
use sim_core::units::{SimDuration, SimTime};

fn bundled(name: &str, overrides: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    sim::model::load(&path, &overrides).unwrap()
}

/// Runs a scenario and returns its summary (with registration metrics).
fn summarize(scenario: &Scenario) -> Summary {
    let (sim, plans) = simulate(scenario);
    finish(scenario, sim, &plans)
}

/// Runs a scenario to its end: the finished simulation and the plans.
fn simulate(
    scenario: &Scenario,
) -> (
    sim_core::engine::Simulation<node_logic::HostNode>,
    std::rc::Rc<Plans>,
) {
    let prepared = runner::prepare(scenario).unwrap();
    let mut sim = prepared.sim;
    sim.run(&mut NoTrace).unwrap();
    (sim, prepared.plans)
}

/// The metrics of a finished simulation, as `sim run` computes them.
fn finish(
    scenario: &Scenario,
    sim: sim_core::engine::Simulation<node_logic::HostNode>,
    plans: &Plans,
) -> Summary {
    let hash = sim.trace_hash();
    let end = sim.now();
    let log = sim.into_log();
    let run = Finished {
        scenario,
        log: &log,
        plans,
        trace_hash: &hash,
        end,
        safety_violated: false,
        counters: Default::default(),
    };
    Reports::of(&run, &[]).summary
}

fn count(summary: &Summary, name: &str) -> u64 {
    match summary.get(name) {
        Some(Metric::Count(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

fn real(summary: &Summary, name: &str) -> f64 {
    summary
        .get(name)
        .and_then(Metric::as_f64)
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn every_registration_scenario_reproduces_byte_for_byte() {
    for name in [
        "registration-baseline.toml",
        "registration-backoff.toml",
        "registration-watch.toml",
        "registration-corruption.toml",
        "registration-legacy.toml",
        "registration-watch-inplace.toml",
        "registration-recovery-crash.toml",
    ] {
        let s = bundled(name, &[]);
        let a = summarize(&s);
        let b = summarize(&s);
        assert_eq!(a.to_json(), b.to_json(), "{name}");
        let mut other = s.clone();
        other.seed += 1;
        assert_ne!(
            a.get("run.trace_hash"),
            summarize(&other).get("run.trace_hash"),
            "{name}: another seed, another run"
        );
    }
}

#[test]
fn baseline_waits_out_its_timeout_and_recovery_registers_everyone() {
    let baseline = summarize(&bundled("registration-baseline.toml", &[]));
    assert!(real(&baseline, "registration.ready_s") >= 200.0);
    assert!(real(&baseline, "registration.success_rate") < 1.0);
    assert_eq!(count(&baseline, "registration.corrupt_accepted"), 0);
    assert_eq!(
        count(&baseline, "registration.recovered"),
        0,
        "nothing is repaired without recovery"
    );
    for name in ["registration-backoff.toml", "registration-watch.toml"] {
        let improved = summarize(&bundled(name, &[]));
        assert!(real(&improved, "registration.ready_s") < 60.0, "{name}");
        assert_eq!(real(&improved, "registration.success_rate"), 1.0, "{name}");
        assert_eq!(
            count(&improved, "registration.recovered"),
            5,
            "{name}: the 5 damaged miners"
        );
        assert!(
            count(&improved, "registration.corrupt_detected")
                < count(&baseline, "registration.corrupt_detected") / 10,
            "{name}: 90 % fewer corruption errors"
        );
    }
}

#[test]
fn watch_with_in_place_writes_registers_every_miner_on_twenty_seeds() {
    for seed in 1..=20u64 {
        let mut s = bundled("registration-watch-inplace.toml", &[]);
        s.seed = seed;
        let summary = summarize(&s);
        assert_eq!(
            real(&summary, "registration.success_rate"),
            1.0,
            "seed {seed}"
        );
        assert!(real(&summary, "registration.ready_s") < 60.0, "seed {seed}");
        assert_eq!(
            count(&summary, "registration.corrupt_accepted"),
            0,
            "seed {seed}"
        );
    }
    // A file that stays damaged is still caught and repaired: damage two
    // miners' files as they land.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/registration-watch-inplace.toml");
    let text = std::fs::read_to_string(&path).unwrap()
        + "\n[[faults]]\nat = \"0 s\"\ncorrupt = [\"miner-2\", \"miner-7\"]\nmode = \"garbage\"\n";
    let s = sim::model::parse_str(&text, Some(&path), &[]).unwrap();
    let summary = summarize(&s);
    assert_eq!(real(&summary, "registration.success_rate"), 1.0);
    assert_eq!(count(&summary, "registration.recovered"), 2);
    assert_eq!(count(&summary, "registration.corrupt_accepted"), 0);
}

#[test]
fn a_registrar_killed_in_the_middle_of_a_recovery_loses_no_miner() {
    let summary = summarize(&bundled("registration-recovery-crash.toml", &[]));
    assert_eq!(real(&summary, "registration.success_rate"), 1.0);
    assert_eq!(count(&summary, "registration.recovered"), 1);
    assert!(real(&summary, "registration.ready_s") < 25.0);
}

/// The plan signs each miner's first record ahead, on the pool's threads;
/// every one of them must be the record the miner then writes (else the
/// work is wasted), and the run must be the one it is without them.
#[test]
fn every_miner_writes_the_record_signed_ahead_for_it() {
    let s = bundled("registration-backoff.toml", &[]);
    let (_, plans) = simulate(&s);
    let plan = plans.registration.as_ref().unwrap();
    assert!(plan.miners.len() >= 50);
    for (agent, host) in plan.miners.iter() {
        let identity = plan.identities.get(*host).unwrap();
        assert_eq!(identity.presigned_used(), Some(true), "{agent}");
    }
}

#[test]
fn legacy_registry_entries_are_merged_with_signed_files() {
    let s = bundled("registration-legacy.toml", &[]);
    let (sim, plans) = simulate(&s);
    let log = sim.log().clone();
    let legacy_accepts: Vec<&str> = log
        .observations
        .iter()
        .filter_map(|(_, _, o)| match o {
            Observation::Registration(RegistrationEvent::Accepted {
                agent,
                source: WalletSource::Legacy,
                ..
            }) => Some(agent.as_str()),
            _ => None,
        })
        .collect();
    // 20 legacy agents, accepted once by each of the 4 validators.
    assert_eq!(legacy_accepts.len(), 20 * 4);
    assert!(legacy_accepts.iter().all(|a| a.starts_with("legacy-")));
    let summary = finish(&s, sim, &plans);
    assert_eq!(count(&summary, "registration.expected"), 60);
    assert_eq!(count(&summary, "registration.registered"), 60);
}

/// Tampers with a registration file the way an attacker or a broken disk
/// might: bit flips, truncation, a swapped wallet, a foreign signature.
fn tamper(bytes: &[u8], other_wallet: &str, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.random_range(0..4u8) {
        0 => {
            for _ in 0..rng.random_range(1..4) {
                if !out.is_empty() {
                    let i = rng.random_range(0..out.len());
                    out[i] ^= 1 << rng.random_range(0..8);
                }
            }
        }
        1 => out.truncate(rng.random_range(0..out.len().max(1))),
        2 => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            if let Some(start) = text.find("\"wallet_address\"") {
                let rest = &text[start..];
                if let Some(open) = rest.find(": \"").or_else(|| rest.find(":\"")) {
                    let value_start = start + open + rest[open..].find('"').unwrap_or(0) + 1;
                    if let Some(len) = text[value_start..].find('"') {
                        let mut edited = text.clone();
                        edited.replace_range(value_start..value_start + len, other_wallet);
                        out = edited.into_bytes();
                    }
                }
            }
        }
        _ => {
            // The same record, signed by someone else's key.
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let foreign = node_logic::identity::Identity::from_secret(secret);
            let mut record = Registration::signed(&foreign, "x", SimTime::ZERO);
            if let Ok(text) = std::str::from_utf8(bytes)
                && let Some(agent) = text
                    .split("\"agent_id\"")
                    .nth(1)
                    .and_then(|r| r.split('"').nth(1))
            {
                record = Registration::signed(&foreign, agent, SimTime::ZERO);
            }
            out = encode(&record);
        }
    }
    out
}

#[test]
fn tampered_and_forged_files_are_never_accepted() {
    for case in 0..12u64 {
        let strategy = ["poll", "backoff", "watch"][case as usize % 3];
        let recover = if case % 2 == 0 { "true" } else { "false" };
        let mut s = bundled(
            "registration-baseline.toml",
            &[
                &format!("registration.strategy={strategy}"),
                &format!("registration.recover={recover}"),
            ],
        );
        s.seed = 100 + case;
        let prepared = runner::prepare(&s).unwrap();
        let plans = prepared.plans.clone();
        let plan = plans.registration.as_ref().unwrap();
        let mut sim = prepared.sim;
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let streams = RngStreams::new(s.seed);
        // Every few seconds, tamper with some miner files as they stand.
        let mut now = SimTime::ZERO;
        while now < SimTime::from_duration(SimDuration::from_secs(60)) {
            now += SimDuration::from_millis(rng.random_range(500..3_000));
            sim.run_until(now, &mut NoTrace).unwrap();
            for _ in 0..3 {
                let (agent, _) = &plan.miners[rng.random_range(0..plan.miners.len())];
                let (other_agent, other_host) =
                    &plan.miners[rng.random_range(0..plan.miners.len())];
                if other_agent == agent {
                    continue;
                }
                let other_wallet = node_logic::protocols::registration::file::wallet_address(
                    &identity(&streams, *other_host).public_key(),
                );
                let path = file_name(agent);
                if let Some(bytes) = sim.fs().complete(&path).map(<[u8]>::to_vec) {
                    let damaged = tamper(&bytes, &other_wallet, &mut rng);
                    sim.fs_mut().put(&path, damaged);
                }
            }
            // A forged registration for an agent that does not exist.
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let ghost = node_logic::identity::Identity::from_secret(secret);
            let agent = format!("ghost-{}", rng.random_range(0..5u8));
            sim.fs_mut().put(
                &file_name(&agent),
                encode(&Registration::signed(&ghost, &agent, now)),
            );
        }
        sim.run(&mut NoTrace).unwrap();
        let summary = finish(&s, sim, &plans);
        assert_eq!(
            count(&summary, "registration.corrupt_accepted"),
            0,
            "case {case}: {}",
            summary.to_json()
        );
        assert!(
            count(&summary, "registration.corrupt_detected") > 0,
            "case {case}: tampering was seen"
        );
    }
}

/// Three miners and one registrar polling every second, all starting at
/// 1 s (after an outage at 0 s is in force), with a storage outage.
fn outage_scenario(fault: &str, timeout: &str) -> Scenario {
    let text = format!(
        "name = \"outage\"\nduration = \"2 min\"\n\
         [[hosts]]\nname = \"miner\"\ncount = 3\nrole = \"miner\"\nstart = \"1 s\"\n\
         [[hosts]]\nname = \"registrar\"\nrole = \"registrar\"\nstart = \"1 s\"\n\
         [registration]\nstrategy = \"poll\"\npoll_interval = \"1 s\"\ntimeout = \"{timeout}\"\n\
         [[faults]]\n{fault}\n"
    );
    sim::model::parse_str(&text, None, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// A storage outage hangs the host's file operations until it ends (they
/// then go ahead, taking their usual time); timers keep running meanwhile.
#[test]
fn a_storage_outage_holds_file_operations_until_it_ends() {
    let calm = summarize(&outage_scenario(
        "at = \"100 s\"\nstorage_outage = \"miner-0\"\nuntil = \"110 s\"",
        "60 s",
    ));
    assert!(real(&calm, "registration.ready_s") < 3.0);

    // The registrar cannot list the directory before 30 s: everyone is
    // registered right after it, nobody before.
    let registrar = summarize(&outage_scenario(
        "at = \"0 s\"\nstorage_outage = \"registrar\"\nuntil = \"30 s\"",
        "60 s",
    ));
    let ready = real(&registrar, "registration.ready_s");
    assert!((30.0..31.0).contains(&ready), "ready at {ready}");
    assert_eq!(real(&registrar, "registration.success_rate"), 1.0);
    assert!(real(&registrar, "registration.p50_s") >= 29.0);
    assert_eq!(
        count(&registrar, "registration.corrupt_detected"),
        0,
        "waits, never fails"
    );

    // miner-0 cannot write its file before 20 s: only it is late.
    let miner = summarize(&outage_scenario(
        "at = \"0 s\"\nstorage_outage = \"miner-0\"\nuntil = \"20 s\"",
        "60 s",
    ));
    assert!(real(&miner, "registration.max_s") >= 19.0);
    assert!(real(&miner, "registration.p50_s") < 2.0);

    // Timers run on: a registrar cut off past its timeout gives up waiting
    // at the timeout, with nobody registered.
    let timed_out = summarize(&outage_scenario(
        "at = \"0 s\"\nstorage_outage = \"registrar\"\nuntil = \"90 s\"",
        "10 s",
    ));
    assert_eq!(real(&timed_out, "registration.ready_s"), 11.0);
    assert_eq!(count(&timed_out, "registration.registrars_timed_out"), 1);
    assert_eq!(count(&timed_out, "registration.registered"), 0);
}
