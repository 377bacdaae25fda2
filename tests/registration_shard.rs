//! Sharded registrars (issue 12, item 4): each registrar reads its share
//! of the miners' files and sends the others the miners it accepted; every
//! registrar ends with the full registry, a crashed registrar's shard is
//! taken over after `shard_takeover`, and bad settings are located errors.

use node_logic::Observation;
use node_logic::protocols::registration::{RegistrationEvent, WalletSource};
use sim::Scenario;
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;

mod in_memory;
use in_memory::run;

const BASE: &str = r#"
seed = 4
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
"#;

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

/// One registrar's acceptances (agent, wallet) sorted, how many came
/// from another registrar, and whether it became ready without timing out.
type Seen = (Vec<(String, String)>, usize, bool);

/// Per registrar host (40, 41, 42), what it saw; plus the registrars'
/// file reads.
fn outcome(log: &RunLog) -> (Vec<Seen>, u64) {
    let mut per = vec![(Vec::new(), 0, false); 3];
    for (_, host, observation) in &log.observations {
        let Some(slot) = host.0.checked_sub(40).and_then(|i| per.get_mut(i as usize)) else {
            continue;
        };
        match observation {
            Observation::Registration(RegistrationEvent::Accepted {
                agent,
                wallet,
                source,
                ..
            }) => {
                slot.0.push((agent.clone(), wallet.clone()));
                if *source == WalletSource::Shard {
                    slot.1 += 1;
                }
            }
            Observation::Registration(RegistrationEvent::Ready { timed_out, .. }) => {
                slot.2 = !timed_out;
            }
            _ => {}
        }
    }
    for slot in &mut per {
        slot.0.sort();
    }
    let reads = (40..43)
        .map(|h| log.fs.get(&node_logic::HostId(h)).map_or(0, |c| c.reads))
        .sum();
    (per, reads)
}

#[test]
fn sharded_registrars_read_their_share_and_all_end_with_the_full_registry() {
    let (plain_log, _) = run(&parse("[registration]\n").unwrap());
    let sharded = parse("[registration]\nshard = true\n").unwrap();
    let (log, hash) = run(&sharded);
    let (again, again_hash) = run(&sharded);
    assert_eq!(hash, again_hash, "same scenario and seed, same trace");
    assert_eq!(outcome(&log), outcome(&again));
    let (plain, plain_reads) = outcome(&plain_log);
    let (per, reads) = outcome(&log);
    for (i, (accepted, from_peers, ready)) in per.iter().enumerate() {
        assert_eq!(accepted.len(), 40, "registrar {i}: every miner");
        assert_eq!(accepted, &plain[0].0, "registrar {i}: the same wallets");
        assert!(*ready, "registrar {i} ready");
        // About two thirds of the miners come from the other two.
        assert!(
            (15..=35).contains(from_peers),
            "registrar {i}: {from_peers}"
        );
    }
    assert!(
        reads * 2 < plain_reads,
        "sharded reads {reads} vs {plain_reads}"
    );
}

#[test]
fn a_crashed_registrars_shard_is_taken_over() {
    // registrar-0 (host 40) dies at 1 s for good; the others take its
    // shard over 10 s after their start.
    let extra = "[registration]\nshard = true\nshard_takeover = \"10 s\"\n\
                 [[faults]]\nat = \"1 s\"\ncrash = \"registrar-0\"\n";
    let (log, _) = run(&parse(extra).unwrap());
    let (per, _) = outcome(&log);
    let (plain, _) = outcome(&run(&parse("[registration]\n").unwrap()).0);
    for (i, (accepted, _, ready)) in per.iter().enumerate().skip(1) {
        assert_eq!(accepted, &plain[0].0, "registrar {i}: the full registry");
        assert!(*ready, "registrar {i} ready");
    }
    let late: Vec<f64> = log
        .observations
        .iter()
        .filter(|(_, h, o)| {
            h.0 == 41
                && matches!(o, Observation::Registration(RegistrationEvent::Accepted { agent, .. })
                    if node_logic::protocols::registration::ShardConfig::owner_of(agent, 3) == 0)
        })
        .map(|(t, _, _)| t.as_secs_f64())
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter().all(|&t| t >= 10.0),
        "shard 0's miners only after the takeover: {late:?}"
    );
}

#[test]
fn bad_values_are_refused_where_they_are_written() {
    in_memory::assert_located(
        parse("[registration]\nshard = \"yes\"\n"),
        ErrorKind::InvalidValue,
        "registration.shard",
        "",
    );
    in_memory::assert_located(
        parse("[registration]\nshard_takeover = \"10 s\"\n"),
        ErrorKind::Conflict,
        "registration.shard_takeover",
        "would do nothing",
    );
    in_memory::assert_located(
        parse("[registration]\nshard = true\nregistrars = \"registrar-0\"\n"),
        ErrorKind::InvalidValue,
        "registration.shard",
        "only 1 registrar",
    );
    in_memory::assert_located(
        parse("[registration]\nshard = true\nshard_takeover = \"0 s\"\n"),
        ErrorKind::InvalidValue,
        "registration.shard_takeover",
        "",
    );
}

#[test]
fn a_restarted_registrar_ends_with_the_full_registry_by_taking_over() {
    // registrar-0 dies at 1 s and restarts 2 s later with nothing: the
    // others' results sent meanwhile are lost to it, so it reads what is
    // still missing itself once `shard_takeover` has passed.
    let extra = "[registration]\nshard = true\nshard_takeover = \"10 s\"\n\
                 [[faults]]\nat = \"1 s\"\ncrash = \"registrar-0\"\nrestart = \"2 s\"\n";
    let (log, _) = run(&parse(extra).unwrap());
    let (per, _) = outcome(&log);
    let (plain, _) = outcome(&run(&parse("[registration]\n").unwrap()).0);
    for (i, (accepted, _, ready)) in per.iter().enumerate() {
        let mut distinct = accepted.clone();
        distinct.dedup();
        assert_eq!(distinct, plain[0].0, "registrar {i}: the full registry");
        assert!(*ready, "registrar {i} ready");
    }
}
