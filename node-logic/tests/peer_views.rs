//! Bounded peer views and rate limits: connection limits hold at every
//! step, refused hosts connect elsewhere, excess datagrams are dropped,
//! counted and charged.

use node_logic::HostId;
use node_logic::identity::Identity;
use node_logic::io::{Input, Node, Output};
use node_logic::protocols::peers::{
    PeerConfig, PeerMessage, PeerRegistry, PeerRegistryEvent, PeerStatus, RateLimit, SignedHello,
    ViewLimits,
};
use node_logic::protocols::{HostConfig, HostNode, Observation};
use node_logic::testkit::TestNet;
use node_logic::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const HEARTBEAT: SimDuration = SimDuration::from_secs(5);
const STALE: SimDuration = SimDuration::from_secs(20);

fn identity(host: u32) -> Identity {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&host.to_le_bytes());
    secret[31] = 7;
    Identity::from_secret(secret)
}

fn ids(range: impl IntoIterator<Item = u32>) -> Vec<HostId> {
    range.into_iter().map(HostId).collect()
}

fn limits(outbound: usize, inbound: usize) -> ViewLimits {
    ViewLimits {
        outbound,
        inbound,
        known: 2 * (outbound + inbound),
        retry_after: STALE,
    }
}

/// `n` members, each bootstrapping from `bootstrap(me)`, with `view`.
fn bounded_net(
    n: u32,
    view: ViewLimits,
    bootstrap: impl Fn(u32) -> Vec<u32>,
    seed: u64,
) -> TestNet {
    let configs = (0..n)
        .map(|me| {
            let config = PeerConfig {
                limits: Some(view),
                ..PeerConfig::new(HostId(me), ids(0..n), ids(bootstrap(me)), HEARTBEAT, STALE)
            };
            HostConfig::new(HostId(me), identity(me)).with_peers(config)
        })
        .collect();
    TestNet::of(configs, seed)
}

fn registry(net: &TestNet, h: HostId) -> &PeerRegistry {
    net.node(h).peers().unwrap()
}

#[test]
fn connection_limits_hold_at_every_step_and_every_host_reaches_its_target() {
    let view = limits(3, 5);
    for seed in 0..3 {
        // 40 hosts, each starting from 3 pseudo-random others.
        let mut net = bounded_net(
            40,
            view,
            |me| vec![(me * 7 + 1) % 40, (me * 13 + 5) % 40, (me + 20) % 40],
            seed,
        );
        net.start_all(SimTime::ZERO);
        let mut t = SimTime::ZERO;
        while t < SimTime::ZERO + SimDuration::from_secs(120) {
            t += SimDuration::from_millis(250);
            net.run_until(t);
            for h in net.hosts() {
                let r = registry(&net, h);
                let c = r.connections();
                assert!(c.inbound <= view.inbound, "seed {seed}, {h} at {t}: {c:?}");
                assert!(
                    c.outbound_or_pending() <= view.outbound,
                    "seed {seed}, {h} at {t}: {c:?}"
                );
                assert!(
                    r.known_peers().count() <= view.known,
                    "seed {seed}, {h} at {t}"
                );
                assert_eq!(c.outbound + c.inbound, r.up_peers().count());
            }
        }
        for h in net.hosts() {
            let c = registry(&net, h).connections();
            assert_eq!(c.outbound, view.outbound, "seed {seed}, {h}: {c:?}");
        }
    }
}

#[test]
fn a_refused_host_is_sent_elsewhere_and_connects_there() {
    // Host 0 accepts one inbound connection. Hosts 1 and 2 know only host 0
    // and want one outbound connection each; 1 starts first and takes the
    // slot, 2 is refused, told of host 1, and connects to it.
    let view = ViewLimits {
        outbound: 1,
        inbound: 1,
        known: 4,
        retry_after: SimDuration::from_secs(60),
    };
    let mut net = bounded_net(3, view, |me| if me == 0 { vec![] } else { vec![0] }, 1);
    net.start(HostId(0), SimTime::ZERO);
    net.start(HostId(1), SimTime::ZERO);
    net.start(HostId(2), SimTime::ZERO + SimDuration::from_secs(1));
    net.run_until(SimTime::ZERO + SimDuration::from_secs(30));
    let refused: Vec<_> = net
        .observations(HostId(0))
        .filter_map(|(_, o)| match o {
            Observation::Peers(PeerRegistryEvent::Refused { peer }) => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(refused.first(), Some(&HostId(2)));
    assert_eq!(
        registry(&net, HostId(0)).stats().refused as usize,
        refused.len()
    );
    let two = registry(&net, HostId(2));
    assert_eq!(
        two.status(HostId(1)),
        Some(PeerStatus::Up),
        "connected elsewhere"
    );
    assert_eq!(two.connections().outbound, 1);
    // Host 0's one inbound slot is still host 1's (host 0 may have opened
    // its own outbound connection to host 2 meanwhile: that is allowed).
    let zero = registry(&net, HostId(0));
    assert_eq!(zero.connections().inbound, 1);
    assert_eq!(zero.status(HostId(1)), Some(PeerStatus::Up));
}

#[test]
fn a_full_host_evicts_a_worse_scored_inbound_peer_for_a_newcomer() {
    let view = ViewLimits {
        outbound: 1,
        inbound: 1,
        known: 4,
        retry_after: SimDuration::from_secs(60),
    };
    let config = PeerConfig {
        limits: Some(view),
        ..PeerConfig::new(HostId(0), ids(0..3), vec![], HEARTBEAT, STALE)
    };
    let mut a = HostNode::new(HostConfig::new(HostId(0), identity(0)).with_peers(config));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    a.handle_input(t(0), Input::Start { restarted: false }, &mut rng);
    drain(&mut a);
    let hello = |h: u32| PeerMessage::Hello(SignedHello::new(HostId(h), &identity(h), 1)).encode();
    deliver(&mut a, t(1), 1, hello(1), &mut rng);
    // Host 1 sends a malformed datagram: its score drops below a newcomer's.
    let mut truncated = PeerMessage::Ping { nonce: 1 }.encode();
    truncated.truncate(5);
    deliver(&mut a, t(2), 1, truncated, &mut rng);
    assert_eq!(a.peers().unwrap().score(HostId(1)), Some(90));
    let out = deliver(&mut a, t(3), 2, hello(2), &mut rng);
    let r = a.peers().unwrap();
    assert_eq!(r.status(HostId(2)), Some(PeerStatus::Up));
    assert_eq!(r.status(HostId(1)), Some(PeerStatus::Down));
    assert_eq!(r.stats().evicted, 1);
    assert!(
        sends(&out)
            .iter()
            .any(|(to, m)| *to == HostId(1) && matches!(m, PeerMessage::Refused { .. }))
    );
    // A third newcomer with the same score as host 2 is refused, not swapped in.
    let out = deliver(&mut a, t(4), 1, hello(1), &mut rng);
    assert_eq!(a.peers().unwrap().status(HostId(1)), Some(PeerStatus::Down));
    assert!(
        sends(&out)
            .iter()
            .any(|(to, m)| *to == HostId(1) && matches!(m, PeerMessage::Refused { .. }))
    );
    assert_eq!(a.peers().unwrap().stats().refused, 1);
}

#[test]
fn rate_limits_drop_count_and_charge_the_sender() {
    let config = PeerConfig {
        rate_limit: Some(RateLimit {
            messages_per_s: Some(5),
            bytes_per_s: None,
        }),
        ..PeerConfig::new(HostId(0), ids(0..2), ids([1]), HEARTBEAT, STALE)
    };
    let mut a = HostNode::new(HostConfig::new(HostId(0), identity(0)).with_peers(config));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let t0 = SimTime::ZERO;
    a.handle_input(t0, Input::Start { restarted: false }, &mut rng);
    drain(&mut a);
    let hello = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(1), 1)).encode();
    deliver(&mut a, t0, 1, hello, &mut rng);
    // 20 pings at one instant: the hello took one token, 4 pings pass.
    let mut pongs = 0;
    let mut limited = 0;
    for nonce in 0..20 {
        let out = deliver(
            &mut a,
            t0,
            1,
            PeerMessage::Ping { nonce }.encode(),
            &mut rng,
        );
        pongs += sends(&out).len();
        limited += out
            .iter()
            .filter(|o| matches!(o, Output::Record(obs) if matches!(**obs, Observation::Peers(PeerRegistryEvent::RateLimited { peer }) if peer == HostId(1))))
            .count();
    }
    assert_eq!((pongs, limited), (4, 16));
    let r = a.peers().unwrap();
    assert_eq!(r.stats().rate_limited, 16);
    assert_eq!(r.score(HostId(1)), Some(100 - 16 * 2));
    // A second later 5 more pass.
    let later = t0 + SimDuration::from_secs(1);
    let passed = (0..10)
        .map(|nonce| {
            deliver(
                &mut a,
                later,
                1,
                PeerMessage::Ping { nonce }.encode(),
                &mut rng,
            )
        })
        .filter(|out| !sends(out).is_empty())
        .count();
    assert_eq!(passed, 5);
    // Flooding on: at 50 drops in all the sender is banned.
    for nonce in 0..40 {
        deliver(
            &mut a,
            later,
            1,
            PeerMessage::Ping { nonce }.encode(),
            &mut rng,
        );
    }
    assert_eq!(
        a.peers().unwrap().status(HostId(1)),
        Some(PeerStatus::Banned)
    );
}

fn drain(node: &mut HostNode) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn deliver(
    node: &mut HostNode,
    now: SimTime,
    from: u32,
    payload: Vec<u8>,
    rng: &mut ChaCha8Rng,
) -> Vec<Output> {
    node.handle_input(
        now,
        Input::Message {
            from: HostId(from),
            payload: payload.into(),
        },
        rng,
    );
    drain(node)
}

fn sends(outputs: &[Output]) -> Vec<(HostId, PeerMessage)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, payload } => {
                let (_, body) = node_logic::wire::open(payload).ok()?;
                Some((*to, PeerMessage::decode(body).ok()?))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn gossip_over_the_overlay_pushes_only_to_up_peers() {
    use node_logic::protocols::gossip::{GossipConfig, GossipTimer, RumorSpec};
    use node_logic::protocols::{ProtocolTag, TimerId};

    let members: Vec<HostId> = ids(0..6);
    let gossip = |over_peers| GossipConfig {
        me: HostId(0),
        members: members.clone().into(),
        fanout: 5,
        rounds: 1,
        interval: SimDuration::from_secs(1),
        rumors: vec![RumorSpec {
            at: SimTime::ZERO,
            size: 10,
        }],
        over_peers,
        carry_registry: false,
        carry_consensus: node_logic::protocols::gossip::CarryConsensus::Off,
    };
    for over_peers in [true, false] {
        let peers = PeerConfig::new(HostId(0), members.clone(), vec![], HEARTBEAT, STALE);
        let config = HostConfig::new(HostId(0), identity(0))
            .with_peers(peers)
            .with_gossip(gossip(over_peers));
        let mut a = HostNode::new(config);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        a.handle_input(SimTime::ZERO, Input::Start { restarted: false }, &mut rng);
        drain(&mut a);
        // Only hosts 2 and 4 are up.
        for h in [2, 4] {
            let hello = PeerMessage::Hello(SignedHello::new(HostId(h), &identity(h), 1)).encode();
            deliver(&mut a, SimTime::ZERO, h, hello, &mut rng);
        }
        let round = SimTime::ZERO + SimDuration::from_secs(1);
        a.handle_input(
            round,
            Input::Timer(TimerId::Gossip(GossipTimer::Round)),
            &mut rng,
        );
        let mut pushed: Vec<HostId> = drain(&mut a)
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, payload } if payload[1] == ProtocolTag::Gossip as u8 => {
                    Some(*to)
                }
                _ => None,
            })
            .collect();
        pushed.sort_unstable();
        if over_peers {
            assert_eq!(pushed, ids([2, 4]), "only the up peers");
        } else {
            assert_eq!(pushed, ids(1..6), "fanout 5 of the 5 other members");
        }
    }
}
