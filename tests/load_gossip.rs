//! `[load] over = "gossip"`: transactions spread as carried rumors over the
//! peer overlay instead of being sent to validators; every validator gets
//! each transaction once (duplicates suppressed by gossip), checks it and
//! finalizes it; bad combinations are located errors.

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::consensus::ConsensusEvent;
use node_logic::protocols::gossip::GossipEvent;
use node_logic::protocols::load::LoadEvent;
use node_logic::{HostId, Observation};
use sim::Scenario;
use sim_core::scenario::ErrorKind;

mod in_memory;
use in_memory::run;

const BASE: &str = r#"
duration = "25 s"
seed = 3
[network]
latency = "20 ms"
jitter = "5 ms"
bandwidth = "100 Mbit"
[[hosts]]
name = "validator"
count = 4
role = "validator"
[[hosts]]
name = "relay"
count = 12
role = "peer"
[[hosts]]
name = "client"
count = 2
role = "host"
[peers]
members = ["validator", "relay", "client"]
heartbeat = "2 s"
stale_after = "8 s"
max_outbound = 3
max_inbound = 6
[consensus]
validators = "validator"
block_interval = "1 s"
view_timeout = "5 s"
"#;

const GOSSIP: &str = "[gossip]\nmembers = [\"validator\", \"relay\", \"client\"]\nover = \"peers\"\n\
                      fanout = 3\nrounds = 3\ninterval = \"100 ms\"\nfirst_at = \"2 s\"\n";

const LOAD: &str = "[load]\nclients = \"client\"\nover = \"gossip\"\nrate = 10\nstart = \"8 s\"\nstop = \"18 s\"\n";

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

#[track_caller]
fn error(extra: &str, key: &str, fragment: &str) {
    in_memory::assert_located(parse(extra), ErrorKind::InvalidValue, key, fragment);
}

#[test]
fn gossip_dissemination_settings_that_cannot_work_are_located_errors() {
    parse(&format!("{GOSSIP}{LOAD}")).unwrap();
    error(LOAD, "load.over", "needs gossip");
    error(
        &format!("{GOSSIP}{LOAD}fanout = 2\n"),
        "load.fanout",
        "sends to none",
    );
    error(
        &format!("{GOSSIP}{LOAD}to = \"validator-0\"\n"),
        "load.to",
        "sends to none",
    );
    error(
        &format!("{GOSSIP}{}", LOAD.replace("\"gossip\"", "\"flood\"")),
        "load.over",
        "",
    );
    let narrow = GOSSIP.replace("\"validator\", ", "");
    error(
        &format!("{narrow}{LOAD}"),
        "load.over",
        "not a gossip member",
    );
}

#[test]
fn gossiped_transactions_reach_every_validator_once_and_are_finalized() {
    let scenario = parse(&format!("{GOSSIP}{LOAD}")).unwrap();
    let (log, hash) = run(&scenario);
    assert_eq!(run(&scenario).1, hash, "same scenario, same trace");
    let host = |name: &str| scenario.hosts.iter().find(|h| h.name == name).unwrap().id;
    let validators: BTreeSet<HostId> = (0..4).map(|i| host(&format!("validator-{i}"))).collect();
    let clients: BTreeSet<HostId> = (0..2).map(|i| host(&format!("client-{i}"))).collect();
    let mut submitted = 0;
    // Per transaction rumor: the validators that learned it (and how often).
    let mut learned: BTreeMap<_, BTreeMap<HostId, u32>> = BTreeMap::new();
    let mut finalized = 0;
    for (_, at, observation) in &log.observations {
        match observation {
            Observation::Load(LoadEvent::Submitted { validators, .. }) => {
                assert_eq!(*validators, 0, "nothing sent to validators directly");
                submitted += 1;
            }
            Observation::Gossip(GossipEvent::Learned { rumor, .. })
                if clients.contains(&rumor.origin) && validators.contains(at) =>
            {
                *learned.entry(*rumor).or_default().entry(*at).or_default() += 1;
            }
            Observation::Consensus(ConsensusEvent::BlockTxs { txs, .. }) => finalized += txs.len(),
            _ => {}
        }
    }
    assert!((80..=120).contains(&submitted), "{submitted} submitted");
    assert_eq!(
        learned.len(),
        submitted,
        "every transaction reached validators"
    );
    let everywhere = learned
        .values()
        .filter(|v| v.len() == validators.len())
        .count();
    assert!(
        everywhere * 10 >= submitted * 9,
        "{everywhere} of {submitted} reached all"
    );
    assert!(
        learned.values().flat_map(|v| v.values()).all(|&n| n == 1),
        "duplicates suppressed"
    );
    assert!(
        finalized * 10 >= submitted * 9,
        "{finalized} of {submitted} in blocks"
    );
}
