//! `[gossip] carry_consensus`: validators' proposals (and with `"all"` their
//! votes and view messages) spread as carried rumors over the peer overlay
//! instead of one datagram to each other validator; every validator takes
//! them as if from the sender and finalizes; without the key nothing is
//! carried; bad combinations are located errors.

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::consensus::ConsensusEvent;
use node_logic::protocols::consensus::message::ConsensusMessage;
use node_logic::protocols::consensus::transaction::KIND_BLOCK_BODY;
use node_logic::protocols::gossip::GossipEvent;
use node_logic::{HostId, Observation, ProtocolTag};
use sim::Scenario;
use sim::runner;
use sim_core::scenario::ErrorKind;
use sim_core::trace::{TraceEvent, TraceKind, TraceSink};

mod in_memory;

const BASE: &str = r#"
duration = "30 s"
seed = 6
[network]
latency = "20 ms"
jitter = "5 ms"
bandwidth = "100 Mbit"
[[hosts]]
name = "validator"
count = 12
role = "validator"
[[hosts]]
name = "observer"
count = 1
role = "peer"
[peers]
members = ["validator", "observer"]
heartbeat = "2 s"
stale_after = "8 s"
max_outbound = 3
max_inbound = 8
"#;

const CONSENSUS: &str =
    "[consensus]\nvalidators = \"validator\"\nblock_interval = \"1 s\"\nview_timeout = \"5 s\"\n";

const GOSSIP: &str = "[gossip]\nmembers = [\"validator\", \"observer\"]\nover = \"peers\"\n\
                      fanout = 3\nrounds = 3\ninterval = \"100 ms\"\ncarry_consensus = \"blocks\"\n";

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

#[test]
fn carrying_consensus_that_cannot_happen_is_a_located_error() {
    let located = |extra: &str, key: &str, fragment: &str| {
        in_memory::assert_located(parse(extra), ErrorKind::InvalidValue, key, fragment);
    };
    located(GOSSIP, "gossip.carry_consensus", "[consensus] does not run");
    let narrow = GOSSIP.replace(
        "\"validator\", \"observer\"",
        "\"observer\", \"validator-0\"",
    );
    located(
        &format!("{CONSENSUS}{narrow}"),
        "gossip.carry_consensus",
        "validator `validator-1` is not a gossip member",
    );
    let bad = GOSSIP.replace("\"blocks\"", "\"votes\"");
    located(&format!("{CONSENSUS}{bad}"), "gossip.carry_consensus", "");
    // Without messages to carry, a gossip table needs rumors.
    let off = GOSSIP.replace("\"blocks\"", "\"off\"\ncount = 0");
    located(&format!("{CONSENSUS}{off}"), "gossip.count", "");
    // With them, it may have none (the default).
    let scenario = parse(&format!("{CONSENSUS}{GOSSIP}")).unwrap();
    assert_eq!(scenario.protocols.gossip.as_ref().unwrap().count, 0);
}

/// Counts the consensus messages delivered as consensus datagrams (not
/// inside a gossip rumor), by kind.
#[derive(Default)]
struct Direct(BTreeMap<&'static str, u64>);

impl TraceSink for Direct {
    fn record(&mut self, event: &TraceEvent<'_>) {
        let TraceKind::Deliver { payload, .. } = event.kind else {
            return;
        };
        let Ok((ProtocolTag::Consensus, body)) = node_logic::wire::open(payload) else {
            return;
        };
        let is_body = body.peek_u8() == Some(KIND_BLOCK_BODY);
        let kind = match ConsensusMessage::decode(body) {
            _ if is_body => "body",
            Ok(ConsensusMessage::PrePrepare(_)) => "pre-prepare",
            Ok(ConsensusMessage::Prepare(_) | ConsensusMessage::Commit(_)) => "vote",
            Ok(ConsensusMessage::ViewChange { .. } | ConsensusMessage::NewView(_)) => "view",
            Ok(ConsensusMessage::SyncRequest(_) | ConsensusMessage::SyncResponse(_)) => "sync",
            Err(_) => "other",
        };
        *self.0.entry(kind).or_default() += 1;
    }
}

fn run(scenario: &Scenario) -> (sim_core::record::RunLog, String, Direct) {
    let mut sim = runner::prepare(scenario).unwrap().sim;
    let mut direct = Direct::default();
    sim.run(&mut direct).unwrap();
    let hash = sim.trace_hash();
    (sim.into_log(), hash, direct)
}

fn validators(scenario: &Scenario) -> BTreeSet<HostId> {
    let hosts = scenario.hosts.iter();
    hosts
        .filter(|h| h.name.starts_with("validator-"))
        .map(|h| h.id)
        .collect()
}

/// What the run's observations say: the rumors validators originated,
/// each validator's rumors learned and blocks finalized.
struct Seen {
    originated: BTreeMap<HostId, u64>,
    learned: BTreeMap<HostId, u64>,
    finalized: BTreeMap<HostId, u64>,
}

fn seen(log: &sim_core::record::RunLog, validators: &BTreeSet<HostId>) -> Seen {
    let mut seen = Seen {
        originated: BTreeMap::new(),
        learned: BTreeMap::new(),
        finalized: BTreeMap::new(),
    };
    for (_, at, observation) in &log.observations {
        match observation {
            Observation::Gossip(GossipEvent::Originated { .. }) => {
                assert!(validators.contains(at), "only validators start rumors");
                *seen.originated.entry(*at).or_default() += 1;
            }
            Observation::Gossip(GossipEvent::Learned { .. }) => {
                *seen.learned.entry(*at).or_default() += 1;
            }
            Observation::Consensus(ConsensusEvent::Finalized { .. }) => {
                *seen.finalized.entry(*at).or_default() += 1;
            }
            Observation::MessageRejected { from, reason } => {
                panic!("{at:?} rejected {from:?}: {reason:?} (carried messages are genuine)")
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn proposals_reach_every_validator_by_gossip_and_all_finalize() {
    let scenario = parse(&format!("{CONSENSUS}{GOSSIP}")).unwrap();
    let (log, hash, direct) = run(&scenario);
    assert_eq!(
        in_memory::run(&scenario).1,
        hash,
        "same scenario, same trace"
    );
    assert_eq!(
        direct.0.get("pre-prepare"),
        None,
        "sent directly: {:?}",
        direct.0
    );
    assert!(
        direct.0.get("vote").is_some_and(|&n| n > 0),
        "votes stay direct"
    );
    let validators = validators(&scenario);
    let seen = seen(&log, &validators);
    let proposals: u64 = seen.originated.values().sum();
    assert!(proposals >= 20, "{proposals} proposals");
    for v in &validators {
        let finalized = seen.finalized.get(v).copied().unwrap_or(0);
        assert!(finalized >= 20, "{v:?} finalized {finalized}");
        // It learned every proposal but its own, each once.
        let learned = seen.learned.get(v).copied().unwrap_or(0);
        let others = proposals - seen.originated.get(v).copied().unwrap_or(0);
        assert_eq!(learned, others, "{v:?}");
    }
}

#[test]
fn with_all_no_consensus_broadcast_is_sent_directly() {
    let all = GOSSIP.replace("\"blocks\"", "\"all\"");
    let scenario = parse(&format!("{CONSENSUS}{all}")).unwrap();
    let (log, _, direct) = run(&scenario);
    let broadcasts: u64 = ["pre-prepare", "vote", "view"]
        .iter()
        .filter_map(|k| direct.0.get(k))
        .sum();
    assert_eq!(broadcasts, 0, "sent directly: {:?}", direct.0);
    let validators = validators(&scenario);
    let seen = seen(&log, &validators);
    for v in &validators {
        let finalized = seen.finalized.get(v).copied().unwrap_or(0);
        assert!(finalized >= 10, "{v:?} finalized {finalized}");
    }
}

#[test]
fn without_carry_consensus_validators_send_to_each_other() {
    let plain = GOSSIP.replace("carry_consensus = \"blocks\"\n", "");
    let scenario = parse(&format!("{CONSENSUS}{plain}")).unwrap();
    let (log, _, direct) = run(&scenario);
    let validators = validators(&scenario).len() as u64;
    let proposals = direct.0.get("pre-prepare").copied().unwrap_or(0);
    assert!(proposals >= 20 * (validators - 1), "{:?}", direct.0);
    let carried = log.observations.iter().any(|(_, _, o)| {
        matches!(o, Observation::Gossip(GossipEvent::Originated { rumor, .. }) if rumor.seq > 0)
    });
    assert!(!carried, "nothing carried");
}

#[test]
fn block_bodies_travel_by_gossip_with_client_load() {
    let load = "[[hosts]]\nname = \"client\"\ncount = 2\nrole = \"host\"\n\
                [load]\nclients = \"client\"\nrate = 20\nstart = \"2 s\"\nstop = \"20 s\"\n";
    let scenario = parse(&format!("{load}{CONSENSUS}{GOSSIP}")).unwrap();
    let (log, _, direct) = run(&scenario);
    assert_eq!(direct.0.get("body"), None, "sent directly: {:?}", direct.0);
    let validators = validators(&scenario);
    let mut bodies: BTreeMap<HostId, u64> = BTreeMap::new();
    for (_, at, observation) in &log.observations {
        if let Observation::Consensus(ConsensusEvent::BodyReceived { .. }) = observation {
            *bodies.entry(*at).or_default() += 1;
        }
    }
    // Every validator but the leader took bodies it learned by gossip.
    let with_bodies = validators
        .iter()
        .filter(|v| bodies.get(v).is_some_and(|&n| n >= 10));
    assert!(with_bodies.count() >= validators.len() - 1, "{bodies:?}");
    let seen = seen(&log, &validators);
    for v in &validators {
        let finalized = seen.finalized.get(v).copied().unwrap_or(0);
        assert!(finalized >= 20, "{v:?} finalized {finalized}");
    }
}

#[test]
fn validators_started_from_the_registry_gossip_their_proposals() {
    let registered = r#"
duration = "40 s"
seed = 4
[network]
latency = "20 ms"
bandwidth = "100 Mbit"
[[hosts]]
name = "miner"
count = 10
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
[consensus]
validators = "registered"
block_interval = "1 s"
view_timeout = "5 s"
[gossip]
members = ["miner", "registrar"]
over = "peers"
fanout = 3
rounds = 3
interval = "100 ms"
carry_registry = true
carry_consensus = "blocks"
"#;
    let scenario = sim::model::parse_str(registered, None, &[]).unwrap();
    let (log, _, direct) = run(&scenario);
    assert_eq!(
        direct.0.get("pre-prepare"),
        None,
        "sent directly: {:?}",
        direct.0
    );
    let miners: BTreeSet<HostId> = scenario
        .hosts
        .iter()
        .filter(|h| h.name.starts_with("miner-"))
        .map(|h| h.id)
        .collect();
    let mut finalized: BTreeMap<HostId, u64> = BTreeMap::new();
    for (_, at, observation) in &log.observations {
        if let Observation::Consensus(ConsensusEvent::Finalized { .. }) = observation {
            *finalized.entry(*at).or_default() += 1;
        }
    }
    for m in &miners {
        let n = finalized.get(m).copied().unwrap_or(0);
        assert!(n >= 10, "{m:?} finalized {n}");
    }
}
