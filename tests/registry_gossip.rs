//! `[gossip] carry_registry = true`: registrars' registry announcements
//! spread as carried rumors over the peer overlay instead of one datagram
//! from each registrar to each miner; every miner takes one and its
//! validator starts; registrars only relay; bad combinations are located
//! errors.

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::consensus::ConsensusEvent;
use node_logic::protocols::gossip::GossipEvent;
use node_logic::protocols::registration::message::RegistrationMessage;
use node_logic::{HostId, Observation, ProtocolTag};
use sim::Scenario;
use sim::runner;
use sim_core::scenario::ErrorKind;
use sim_core::trace::{TraceEvent, TraceKind, TraceSink};

mod in_memory;

const BASE: &str = r#"
duration = "40 s"
seed = 4
[network]
latency = "20 ms"
jitter = "5 ms"
bandwidth = "100 Mbit"
[[hosts]]
name = "miner"
count = 12
role = "miner"
start = { uniform = ["0 s", "5 s"] }
[[hosts]]
name = "registrar"
count = 2
role = "registrar"
[registration]
strategy = "backoff"
[peers]
members = ["miner", "registrar"]
heartbeat = "2 s"
stale_after = "8 s"
max_outbound = 3
max_inbound = 8
"#;

const CONSENSUS: &str =
    "[consensus]\nvalidators = \"registered\"\nblock_interval = \"2 s\"\nview_timeout = \"5 s\"\n";

const GOSSIP: &str = "[gossip]\nmembers = [\"miner\", \"registrar\"]\nover = \"peers\"\n\
                      fanout = 3\nrounds = 3\ninterval = \"200 ms\"\ncarry_registry = true\n";

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

#[test]
fn carrying_announcements_that_cannot_happen_is_a_located_error() {
    parse(&format!("{CONSENSUS}{GOSSIP}")).unwrap();
    let located = |extra: &str, key: &str, fragment: &str| {
        in_memory::assert_located(parse(extra), ErrorKind::InvalidValue, key, fragment);
    };
    // No registry-driven consensus: nobody announces anything.
    located(GOSSIP, "gossip.carry_registry", "no registrar announces");
    let narrow = GOSSIP.replace("\"miner\", \"registrar\"", "\"miner\"");
    located(
        &format!("{CONSENSUS}{narrow}"),
        "gossip.carry_registry",
        "not a gossip member",
    );
    // Without announcements to carry, a gossip table needs rumors.
    let plain = GOSSIP.replace("carry_registry = true\n", "count = 0\n");
    located(&format!("{CONSENSUS}{plain}"), "gossip.count", "");
    // With them, it may have none (the default).
    let scenario = parse(&format!("{CONSENSUS}{GOSSIP}")).unwrap();
    assert_eq!(scenario.protocols.gossip.as_ref().unwrap().count, 0);
}

/// Counts the registry announcements delivered as registration datagrams
/// (not inside a gossip rumor), by receiver.
#[derive(Default)]
struct DirectAnnouncements(BTreeMap<HostId, u32>);

impl TraceSink for DirectAnnouncements {
    fn record(&mut self, event: &TraceEvent<'_>) {
        let (TraceKind::Deliver { payload, .. }, Some(to)) = (event.kind, event.host) else {
            return;
        };
        let Ok((ProtocolTag::Registration, body)) = node_logic::wire::open(payload) else {
            return;
        };
        if let Ok(RegistrationMessage::Registry { .. }) = RegistrationMessage::decode(body) {
            *self.0.entry(to).or_default() += 1;
        }
    }
}

fn run(scenario: &Scenario) -> (sim_core::record::RunLog, String, DirectAnnouncements) {
    let mut sim = runner::prepare(scenario).unwrap().sim;
    let mut direct = DirectAnnouncements::default();
    sim.run(&mut direct).unwrap();
    let hash = sim.trace_hash();
    (sim.into_log(), hash, direct)
}

#[test]
fn announcements_reach_every_miner_by_gossip_and_never_directly() {
    let scenario = parse(&format!("{CONSENSUS}{GOSSIP}")).unwrap();
    let (log, hash, direct) = run(&scenario);
    assert_eq!(
        in_memory::run(&scenario).1,
        hash,
        "same scenario, same trace"
    );
    assert!(direct.0.is_empty(), "sent directly: {:?}", direct.0);
    let role = |prefix: &str| -> BTreeSet<HostId> {
        let hosts = scenario.hosts.iter();
        hosts
            .filter(|h| h.name.starts_with(prefix))
            .map(|h| h.id)
            .collect()
    };
    let (miners, registrars) = (role("miner-"), role("registrar-"));
    let mut announced = BTreeSet::new();
    let mut learned: BTreeMap<HostId, u32> = BTreeMap::new();
    let mut finalized = 0;
    for (_, at, observation) in &log.observations {
        match observation {
            Observation::Gossip(GossipEvent::Originated { rumor, .. }) => {
                assert!(registrars.contains(at), "only registrars start rumors");
                announced.insert(*rumor);
            }
            Observation::Gossip(GossipEvent::Learned { rumor, .. }) if miners.contains(at) => {
                assert!(registrars.contains(&rumor.origin));
                *learned.entry(*at).or_default() += 1;
            }
            Observation::Consensus(ConsensusEvent::Finalized { .. }) => finalized += 1,
            Observation::MessageRejected { from, reason } => {
                panic!("{at:?} rejected {from:?}: {reason:?} (relays are not refused)")
            }
            _ => {}
        }
    }
    assert_eq!(announced.len(), registrars.len(), "one announcement each");
    assert_eq!(
        learned.keys().copied().collect::<BTreeSet<_>>(),
        miners,
        "every miner got one"
    );
    assert!(
        learned.values().all(|&n| n as usize <= registrars.len()),
        "duplicates suppressed: {learned:?}"
    );
    assert!(
        finalized > 0,
        "validators started from the carried registry"
    );
}

#[test]
fn without_carry_registry_registrars_send_to_each_miner() {
    let scenario = parse(&format!(
        "{CONSENSUS}{}",
        GOSSIP.replace("carry_registry = true\n", "")
    ))
    .unwrap();
    let (log, _, direct) = run(&scenario);
    let miners = scenario
        .hosts
        .iter()
        .filter(|h| h.name.starts_with("miner-"));
    for miner in miners {
        assert!(direct.0.contains_key(&miner.id), "{} got none", miner.name);
    }
    let carried = log.observations.iter().any(|(_, _, o)| {
        matches!(o, Observation::Gossip(GossipEvent::Originated { rumor, .. }) if rumor.seq > 0)
    });
    assert!(!carried, "nothing carried");
}
