//! Peer-registry hosts driven by hand (a test plays the driver, `now`
//! advanced explicitly) and, for discovery, on the shared test driver
//! (`node_logic::testkit`).

use node_logic::HostId;
use node_logic::envelope::SignedEnvelope;
use node_logic::identity::Identity;
use node_logic::io::{Input, Node, Output, RejectReason};
use node_logic::protocols::peers::{
    ObserverError, PeerConfig, PeerEvent, PeerEventKind, PeerMessage, PeerRegistry,
    PeerRegistryEvent, PeerRegistryStats, PeerStatus, PeerTimer, SignedHello,
};
use node_logic::protocols::{HostConfig, HostNode, Observation, TimerId};
use node_logic::testkit::{self, TestNet};
use node_logic::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const HEARTBEAT: SimDuration = SimDuration::from_secs(5);
const STALE: SimDuration = SimDuration::from_secs(30);

fn identity(host: u32) -> Identity {
    Identity::from_secret([host as u8 + 1; 32])
}

fn ids(list: &[u32]) -> Vec<HostId> {
    list.iter().map(|&m| HostId(m)).collect()
}

/// A member of `members` that greets all of them at start.
fn host(me: u32, members: &[u32]) -> HostNode {
    host_with(PeerConfig::new(
        HostId(me),
        ids(members),
        ids(members),
        HEARTBEAT,
        STALE,
    ))
}

fn host_config(config: PeerConfig) -> HostConfig {
    HostConfig::new(config.me, identity(config.me.0)).with_peers(config)
}

fn host_with(config: PeerConfig) -> HostNode {
    HostNode::new(host_config(config))
}

fn drain(node: &mut HostNode) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn sends(outputs: &[Output]) -> Vec<(HostId, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, payload } => Some((*to, payload.to_vec())),
            _ => None,
        })
        .collect()
}

fn observations(outputs: &[Output]) -> Vec<Observation> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Record(obs) => Some(obs.as_ref().clone()),
            _ => None,
        })
        .collect()
}

fn timer_at(outputs: &[Output]) -> Option<SimTime> {
    outputs.iter().find_map(|o| match o {
        Output::SetTimer {
            timer: TimerId::Peers(PeerTimer::Heartbeat),
            at,
        } => Some(*at),
        _ => None,
    })
}

fn deliver(
    node: &mut HostNode,
    now: SimTime,
    from: u32,
    payload: Vec<u8>,
    rng: &mut ChaCha8Rng,
) -> Vec<Output> {
    let input = Input::Message {
        from: HostId(from),
        payload: payload.into(),
    };
    testkit::drive(node, now, input, rng)
}

#[test]
fn two_hosts_authenticate_each_other_with_one_exchange() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut a, mut b) = (host(0, &[0, 1]), host(1, &[0, 1]));
    let now = SimTime::ZERO;
    a.handle_input(now, Input::Start { restarted: false }, &mut rng);
    let out_a = drain(&mut a);
    let hello = sends(&out_a);
    assert_eq!(hello.len(), 1, "a greets its one peer");
    assert_eq!(hello[0].0, HostId(1));
    let first = timer_at(&out_a).expect("first heartbeat scheduled");
    assert!(
        first <= now + HEARTBEAT,
        "first heartbeat inside the first interval"
    );

    b.handle_input(now, Input::Start { restarted: false }, &mut rng);
    drain(&mut b);
    let out_b = deliver(&mut b, now, 0, hello[0].1.clone(), &mut rng);
    assert_eq!(
        observations(&out_b),
        vec![Observation::Peers(PeerRegistryEvent::Up {
            peer: HostId(0)
        })]
    );
    let ack = sends(&out_b);
    assert_eq!(ack.len(), 1, "b answers with a hello-ack");
    let out_a = deliver(&mut a, now, 1, ack[0].1.clone(), &mut rng);
    assert_eq!(
        observations(&out_a),
        vec![Observation::Peers(PeerRegistryEvent::Up {
            peer: HostId(1)
        })]
    );
    assert!(sends(&out_a).is_empty(), "an ack is not answered");
    assert_eq!(a.peers().unwrap().status(HostId(1)), Some(PeerStatus::Up));
}

/// The signed envelope inside a hello or hello-ack datagram.
fn hello_envelope(payload: &[u8]) -> SignedEnvelope {
    let (_, body) = node_logic::wire::open(payload).unwrap();
    match PeerMessage::decode(body).unwrap() {
        PeerMessage::Hello(h) | PeerMessage::HelloAck(h) => h.envelope().clone(),
        other => panic!("not a hello: {other:?}"),
    }
}

#[test]
fn a_host_signs_one_hello_per_incarnation_and_reuses_it_for_every_peer() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let members = [0, 1, 2, 3];
    let mut a = host(0, &members);
    a.handle_input(SimTime::ZERO, Input::Start { restarted: false }, &mut rng);
    let hellos = sends(&drain(&mut a));
    assert_eq!(hellos.len(), 3, "a greets its three peers");
    assert!(hellos.iter().all(|(_, bytes)| *bytes == hellos[0].1));
    // The hello-ack to a peer's hello carries the same signed envelope.
    let later = SimTime::ZERO + SimDuration::from_secs(7);
    let out = deliver(&mut a, later, 2, hello_from(2, 9), &mut rng);
    let ack = sends(&out);
    assert_eq!(ack.len(), 1);
    assert_ne!(ack[0].1, hellos[0].1, "an ack is not a hello");
    let envelope = hello_envelope(&hellos[0].1);
    assert_eq!(hello_envelope(&ack[0].1), envelope);
    assert!(envelope.open(b"sim/peers/hello/v1").is_ok());
    // A new incarnation (a restart: a new node) signs a new hello.
    let mut again = host(0, &members);
    again.handle_input(later, Input::Start { restarted: true }, &mut rng);
    let renewed = sends(&drain(&mut again));
    assert_ne!(hello_envelope(&renewed[0].1), envelope);
    assert!(renewed.iter().all(|(_, bytes)| *bytes == renewed[0].1));
}

#[test]
fn heartbeats_follow_the_interval_and_ping_live_peers() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut a = host(0, &[0, 1, 2]);
    a.handle_input(SimTime::ZERO, Input::Start { restarted: false }, &mut rng);
    let mut at = timer_at(&drain(&mut a)).unwrap();
    // Peer 1 says hello; peer 2 never answers.
    let hello = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(1), 9)).encode();
    deliver(&mut a, SimTime::ZERO, 1, hello, &mut rng);
    for _ in 0..3 {
        a.handle_input(
            at,
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        let out = drain(&mut a);
        let next = timer_at(&out).unwrap();
        assert_eq!(next - at, HEARTBEAT, "steady heartbeat interval");
        let to: Vec<HostId> = sends(&out).iter().map(|(t, _)| *t).collect();
        assert_eq!(
            to,
            vec![HostId(1), HostId(2)],
            "ping the live peer, greet the silent one"
        );
        at = next;
        // Keep peer 1 alive with a ping.
        deliver(
            &mut a,
            at,
            1,
            PeerMessage::Ping { nonce: 5 }.encode(),
            &mut rng,
        );
    }
}

#[test]
fn silent_peer_is_dropped_after_stale_after_and_rejoins_after_restart() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut a = host(0, &[0, 1]);
    a.handle_input(SimTime::ZERO, Input::Start { restarted: false }, &mut rng);
    drain(&mut a);
    let hello = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(1), 1)).encode();
    deliver(&mut a, SimTime::ZERO, 1, hello, &mut rng);
    let mut now = SimTime::ZERO;
    let mut down_at = None;
    while now < SimTime::ZERO + SimDuration::from_secs(60) {
        now += HEARTBEAT;
        a.handle_input(
            now,
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        if observations(&drain(&mut a)).contains(&Observation::Peers(PeerRegistryEvent::Down {
            peer: HostId(1),
        })) {
            down_at = Some(now);
            break;
        }
    }
    let down_at = down_at.expect("peer dropped");
    assert!(down_at - SimTime::ZERO > STALE, "not before stale_after");
    assert!(
        down_at - SimTime::ZERO <= STALE + HEARTBEAT,
        "within one heartbeat after"
    );

    // The restarted peer (same identity) greets again and is back up.
    let mut b = host(1, &[0, 1]);
    b.handle_input(now, Input::Start { restarted: true }, &mut rng);
    let hello = sends(&drain(&mut b)).remove(0).1;
    let out = deliver(&mut a, now, 1, hello, &mut rng);
    assert_eq!(
        observations(&out),
        vec![Observation::Peers(PeerRegistryEvent::Up {
            peer: HostId(1)
        })]
    );
}

#[test]
fn ping_from_unauthenticated_peer_gets_a_hello_not_a_pong() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut a = host(0, &[0, 1]);
    let out = deliver(
        &mut a,
        SimTime::ZERO,
        1,
        PeerMessage::Ping { nonce: 3 }.encode(),
        &mut rng,
    );
    let replies = sends(&out);
    assert_eq!(replies.len(), 1);
    let (_, body) = node_logic::wire::open(&replies[0].1).unwrap();
    assert!(matches!(
        PeerMessage::decode(body).unwrap(),
        PeerMessage::Hello(_)
    ));
}

#[test]
fn forged_misdirected_and_rekeyed_hellos_are_rejected() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut a = host(0, &[0, 1, 2]);
    let rejected = |out: &[Output]| -> Vec<RejectReason> {
        observations(out)
            .into_iter()
            .filter_map(|o| match o {
                Observation::MessageRejected { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    };

    // Signature made by host 2's key but presented with host 1's key bytes.
    let signed_by_2 = SignedHello::new(HostId(1), &identity(2), 1);
    let tampered = SignedEnvelope {
        signer: identity(1).public_key(),
        ..signed_by_2.envelope().clone()
    };
    let forged = SignedHello::from_envelope(tampered).unwrap();
    let out = deliver(
        &mut a,
        SimTime::ZERO,
        1,
        PeerMessage::Hello(forged).encode(),
        &mut rng,
    );
    assert_eq!(rejected(&out), vec![RejectReason::BadSignature]);

    // A valid hello of host 1 arriving from host 2.
    let hello1 = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(1), 2)).encode();
    let out = deliver(&mut a, SimTime::ZERO, 2, hello1.clone(), &mut rng);
    assert_eq!(rejected(&out), vec![RejectReason::Misdirected]);

    // Host 1 authenticates, then a validly signed hello with another key claims host 1.
    deliver(&mut a, SimTime::ZERO, 1, hello1, &mut rng);
    let rekeyed = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(7), 3)).encode();
    let out = deliver(&mut a, SimTime::ZERO, 1, rekeyed, &mut rng);
    assert_eq!(rejected(&out), vec![RejectReason::WrongKey]);

    // From a host outside the membership.
    let out = deliver(
        &mut a,
        SimTime::ZERO,
        9,
        PeerMessage::Ping { nonce: 1 }.encode(),
        &mut rng,
    );
    assert_eq!(rejected(&out), vec![RejectReason::NotAMember]);
    assert_eq!(a.peers().unwrap().stats().rejected, 4);
}

#[test]
fn random_datagrams_are_dropped_and_counted_never_a_panic() {
    use rand_core::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut a = host(0, &[0, 1]);
    let valid = PeerMessage::Hello(SignedHello::new(HostId(1), &identity(1), 1)).encode();
    for case in 0..2_000u32 {
        let mut bytes = if case % 2 == 0 {
            valid.clone()
        } else {
            vec![0; (rng.next_u32() % 200) as usize]
        };
        let flips = 1 + rng.next_u32() % 4;
        for _ in 0..flips {
            if bytes.is_empty() {
                break;
            }
            let i = (rng.next_u32() as usize) % bytes.len();
            bytes[i] = rng.next_u32() as u8;
        }
        if case % 3 == 0 {
            let cut = (rng.next_u32() as usize) % (bytes.len() + 1);
            bytes.truncate(cut);
        }
        // Whatever it is, handling it must not panic, and anything that is
        // not a well-formed, correctly signed message from host 1 is recorded
        // (or, once host 1 is banned for all this, dropped unread and counted).
        let well_formed = node_logic::wire::open(&bytes)
            .and_then(|(_, body)| PeerMessage::decode(body))
            .ok()
            .is_some_and(|m| match m {
                PeerMessage::Hello(h) | PeerMessage::HelloAck(h) => {
                    h.host() == HostId(1) && h.verify().is_ok()
                }
                _ => true,
            });
        let dropped_before = a.peers().unwrap().stats().dropped_banned;
        let out = deliver(&mut a, SimTime::ZERO, 1, bytes, &mut rng);
        let dropped = a.peers().unwrap().stats().dropped_banned > dropped_before;
        let rejected = observations(&out)
            .iter()
            .any(|o| matches!(o, Observation::MessageRejected { .. }));
        if dropped {
            assert!(out.is_empty(), "case {case}: a banned peer gets nothing");
        } else {
            assert_eq!(rejected, !well_formed, "case {case}");
        }
    }
    // Host 1 is banned once (the ban lasts longer than this test's instant).
    assert_eq!(a.peers().unwrap().registry_stats().bans, 1);
    assert_eq!(
        a.peers().unwrap().status(HostId(1)),
        Some(PeerStatus::Banned)
    );
}

// ---------------------------------------------------------------------------
// Peer exchange: a tiny in-memory network with a fixed latency.
// ---------------------------------------------------------------------------

/// The shared test driver over peer-registry members.
fn net(configs: Vec<PeerConfig>, seed: u64) -> TestNet {
    TestNet::of(configs.into_iter().map(host_config).collect(), seed)
}

fn registries(net: &TestNet) -> impl Iterator<Item = &PeerRegistry> + '_ {
    net.hosts().map(|h| net.node(h).peers().unwrap())
}

fn everyone_knows_everyone(net: &TestNet) -> bool {
    let n = net.hosts().count();
    registries(net).all(|r| r.up_peers().count() == n - 1)
}

/// Steps in `step`s until everyone knows everyone; the time it happened.
fn converge(net: &mut TestNet, step: SimDuration, limit: SimTime) -> Option<SimTime> {
    let mut now = SimTime::ZERO;
    while now <= limit {
        net.run_until(now);
        if everyone_knows_everyone(net) {
            return Some(now);
        }
        now += step;
    }
    None
}

fn bootstrapping_from(n: u32, seeds_of: impl Fn(u32) -> Vec<u32>) -> Vec<PeerConfig> {
    let all: Vec<u32> = (0..n).collect();
    (0..n)
        .map(|me| PeerConfig::new(HostId(me), ids(&all), ids(&seeds_of(me)), HEARTBEAT, STALE))
        .collect()
}

#[test]
fn ten_hosts_bootstrapping_from_one_seed_all_know_all_within_two_heartbeats() {
    for seed in 0..5 {
        let mut net = net(bootstrapping_from(10, |_| vec![0]), seed);
        assert_eq!(
            net.node(HostId(5))
                .peers()
                .unwrap()
                .known_peers()
                .collect::<Vec<_>>(),
            vec![HostId(0)],
            "only the seed is known at first"
        );
        net.start_all(SimTime::ZERO);
        // Each host greets the seed at 0 s and is up with it 20 ms later; its
        // first heartbeat after that (at most one interval away, plus the
        // random first offset) asks the seed, which lists everyone.
        let bound = SimTime::ZERO + HEARTBEAT + HEARTBEAT + SimDuration::from_millis(100);
        let at = converge(&mut net, SimDuration::from_millis(10), bound);
        assert!(at.is_some(), "seed {seed}: no convergence by {bound}");

        // Once everyone is known, nobody asks any more; nothing was rejected.
        let asked: Vec<u64> = registries(&net).map(|r| r.stats().exchanges_sent).collect();
        net.run_until(SimTime::ZERO + SimDuration::from_secs(120));
        let asked_later: Vec<u64> = registries(&net).map(|r| r.stats().exchanges_sent).collect();
        assert_eq!(asked, asked_later, "seed {seed}");
        // Discovery needed exchanges (a host may also learn everyone from
        // the hellos of those who asked before it).
        assert!(asked.iter().sum::<u64>() >= 5, "{asked:?}");
        assert!(everyone_knows_everyone(&net), "and they stay up");
        let observed: Vec<&Observation> = net
            .hosts()
            .flat_map(|h| net.observations(h).map(|(_, o)| o))
            .collect();
        assert!(
            observed
                .iter()
                .all(|o| matches!(o, Observation::Peers(PeerRegistryEvent::Up { .. })))
        );
        // Every host saw each of the 9 others come up exactly once.
        assert_eq!(observed.len(), 10 * 9);
    }
}

#[test]
fn twenty_hosts_on_two_seeds_with_sparse_exchange_converge() {
    // Even hosts bootstrap from seed 0, odd ones from seed 1; the seeds know
    // each other. Exchange only every 2nd heartbeat.
    let mut configs = bootstrapping_from(20, |me| match me {
        0 => vec![1],
        1 => vec![0],
        me => vec![me % 2],
    });
    for c in &mut configs {
        c.exchange_every = 2;
    }
    let mut net = net(configs, 7);
    net.start_all(SimTime::ZERO);
    let bound = SimTime::ZERO + SimDuration::from_nanos(HEARTBEAT.as_nanos() * 6);
    let at = converge(&mut net, SimDuration::from_millis(10), bound);
    assert!(at.is_some(), "no convergence by {bound}");
}

#[test]
fn without_exchange_a_single_seed_network_stays_a_star() {
    let mut configs = bootstrapping_from(5, |_| vec![0]);
    for c in &mut configs {
        c.exchange_every = 0;
    }
    let mut net = net(configs, 3);
    net.start_all(SimTime::ZERO);
    net.run_until(SimTime::ZERO + SimDuration::from_secs(60));
    let all: Vec<&PeerRegistry> = registries(&net).collect();
    assert_eq!(all[0].up_peers().count(), 4);
    for r in &all[1..] {
        assert_eq!(r.up_peers().collect::<Vec<_>>(), vec![HostId(0)]);
        assert_eq!(r.stats().exchanges_sent, 0);
    }
}

fn decode_sent(payload: &[u8]) -> PeerMessage {
    let (_, body) = node_logic::wire::open(payload).unwrap();
    PeerMessage::decode(body).unwrap()
}

fn hello_from(peer: u32, nonce: u64) -> Vec<u8> {
    PeerMessage::Hello(SignedHello::new(HostId(peer), &identity(peer), nonce)).encode()
}

#[test]
fn exchange_messages_ask_an_up_peer_answer_with_up_peers_and_greet_new_members() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let t0 = SimTime::ZERO;
    // Members 0..=5; host 0 bootstraps from 1 only; 9 is no member.
    let mut a = host_with(PeerConfig::new(
        HostId(0),
        ids(&[0, 1, 2, 3, 4, 5]),
        ids(&[1, 9]),
        HEARTBEAT,
        STALE,
    ));
    a.handle_input(t0, Input::Start { restarted: false }, &mut rng);
    let started = drain(&mut a);
    assert_eq!(
        sends(&started).iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![HostId(1)],
        "a non-member bootstrap entry is ignored"
    );
    deliver(&mut a, t0, 1, hello_from(1, 1), &mut rng);

    // The heartbeat pings 1 and asks it (the only up peer) for its peers.
    a.handle_input(
        t0 + HEARTBEAT,
        Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
        &mut rng,
    );
    let beat: Vec<(HostId, PeerMessage)> = sends(&drain(&mut a))
        .into_iter()
        .map(|(to, p)| (to, decode_sent(&p)))
        .collect();
    assert!(
        beat.contains(&(HostId(1), PeerMessage::GetPeers)),
        "{beat:?}"
    );
    assert_eq!(a.peers().unwrap().stats().exchanges_sent, 1);

    // The answer names me, two unknown members, a known one and a non-member:
    // only the two unknown members are greeted.
    let answer = PeerMessage::Peers {
        peers: ids(&[0, 1, 2, 3, 9]),
    }
    .encode();
    let out = deliver(&mut a, t0 + HEARTBEAT, 1, answer.clone(), &mut rng);
    let greeted: Vec<(HostId, bool)> = sends(&out)
        .into_iter()
        .map(|(to, p)| (to, matches!(decode_sent(&p), PeerMessage::Hello(_))))
        .collect();
    assert_eq!(greeted, vec![(HostId(2), true), (HostId(3), true)]);
    assert_eq!(
        a.peers().unwrap().known_peers().collect::<Vec<_>>(),
        ids(&[1, 2, 3])
    );
    // The same answer again teaches nothing new.
    assert!(sends(&deliver(&mut a, t0 + HEARTBEAT, 1, answer, &mut rng)).is_empty());

    // Peer lists from a member that is not up are ignored.
    let from_4 = PeerMessage::Peers { peers: ids(&[5]) }.encode();
    assert!(deliver(&mut a, t0 + HEARTBEAT, 4, from_4, &mut rng).is_empty());
    assert_eq!(a.peers().unwrap().status(HostId(5)), None);

    // 2 comes up; 1 asks: the answer is every up peer but the asker.
    deliver(&mut a, t0 + HEARTBEAT, 2, hello_from(2, 2), &mut rng);
    let out = deliver(
        &mut a,
        t0 + HEARTBEAT,
        1,
        PeerMessage::GetPeers.encode(),
        &mut rng,
    );
    let replies: Vec<(HostId, PeerMessage)> = sends(&out)
        .into_iter()
        .map(|(to, p)| (to, decode_sent(&p)))
        .collect();
    assert_eq!(
        replies,
        vec![(HostId(1), PeerMessage::Peers { peers: ids(&[2]) })]
    );
    // A member that is not up asking for peers is greeted instead.
    let out = deliver(
        &mut a,
        t0 + HEARTBEAT,
        3,
        PeerMessage::GetPeers.encode(),
        &mut rng,
    );
    let replies = sends(&out);
    assert_eq!(replies.len(), 1);
    assert!(matches!(decode_sent(&replies[0].1), PeerMessage::Hello(_)));
}

// ---------------------------------------------------------------------------
// Scores and bans.
// ---------------------------------------------------------------------------

/// A hello claiming `peer` whose signature does not verify.
fn forged_hello(peer: u32) -> Vec<u8> {
    let signed_by_other = SignedHello::new(HostId(peer), &identity(peer + 50), 1);
    let tampered = SignedEnvelope {
        signer: identity(peer).public_key(),
        ..signed_by_other.envelope().clone()
    };
    PeerMessage::Hello(SignedHello::from_envelope(tampered).unwrap()).encode()
}

#[test]
fn repeated_bad_signatures_ban_a_peer_whose_messages_are_then_dropped_until_the_ban_ends() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut a = host(0, &[0, 1, 2]);
    let score = |a: &HostNode| a.peers().unwrap().score(HostId(1));
    let t = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    deliver(&mut a, t(0), 1, hello_from(1, 1), &mut rng);
    assert_eq!(score(&a), Some(100));

    // Bad signatures cost 40 each: 60, 20, then -20 bans the peer.
    let out = deliver(&mut a, t(1), 1, forged_hello(1), &mut rng);
    assert_eq!(observations(&out).len(), 1);
    assert_eq!(score(&a), Some(60));
    deliver(&mut a, t(1), 1, forged_hello(1), &mut rng);
    assert_eq!(score(&a), Some(20));
    let out = deliver(&mut a, t(2), 1, forged_hello(1), &mut rng);
    assert_eq!(
        observations(&out),
        vec![
            Observation::MessageRejected {
                from: HostId(1),
                reason: RejectReason::BadSignature
            },
            Observation::Peers(PeerRegistryEvent::Banned { peer: HostId(1) }),
            Observation::Peers(PeerRegistryEvent::Down { peer: HostId(1) }),
        ]
    );
    assert_eq!(
        a.peers().unwrap().status(HostId(1)),
        Some(PeerStatus::Banned)
    );

    // While banned, valid and invalid messages alike are dropped unread and
    // unrecorded (the ban is recorded once).
    for payload in [
        hello_from(1, 2),
        PeerMessage::Ping { nonce: 1 }.encode(),
        forged_hello(1),
        vec![1, 1, 200],
    ] {
        assert!(deliver(&mut a, t(3), 1, payload, &mut rng).is_empty());
    }
    assert_eq!(a.peers().unwrap().stats().dropped_banned, 4);
    // Heartbeats neither ping nor greet it.
    a.handle_input(
        t(5),
        Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
        &mut rng,
    );
    let to: Vec<HostId> = sends(&drain(&mut a)).iter().map(|s| s.0).collect();
    assert_eq!(to, vec![HostId(2)]);

    // The ban lasts 300 s from t = 2 s: still on at 301 s, over at 302 s.
    assert!(deliver(&mut a, t(301), 1, hello_from(1, 3), &mut rng).is_empty());
    a.handle_input(
        t(302),
        Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
        &mut rng,
    );
    let out = drain(&mut a);
    assert_eq!(
        observations(&out),
        vec![Observation::Peers(PeerRegistryEvent::Unbanned {
            peer: HostId(1)
        })]
    );
    let to: Vec<HostId> = sends(&out).iter().map(|s| s.0).collect();
    assert_eq!(to, vec![HostId(1), HostId(2)], "greeted again");
    assert_eq!(score(&a), Some(50), "restarts at half score");
    let out = deliver(&mut a, t(303), 1, hello_from(1, 4), &mut rng);
    assert_eq!(
        observations(&out),
        vec![Observation::Peers(PeerRegistryEvent::Up {
            peer: HostId(1)
        })]
    );

    // Good behaviour restores one point per heartbeat it was heard in.
    for beat in 1..=3u64 {
        let now = t(303 + 5 * beat);
        deliver(
            &mut a,
            now,
            1,
            PeerMessage::Ping { nonce: beat }.encode(),
            &mut rng,
        );
        a.handle_input(
            now,
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        drain(&mut a);
    }
    assert_eq!(score(&a), Some(53));
    // A repeat offender starting at 53 is banned after two bad signatures.
    deliver(&mut a, t(320), 1, forged_hello(1), &mut rng);
    let out = deliver(&mut a, t(320), 1, forged_hello(1), &mut rng);
    assert!(
        observations(&out).contains(&Observation::Peers(PeerRegistryEvent::Banned {
            peer: HostId(1)
        }))
    );
    let stats = a.peers().unwrap().registry_stats();
    assert_eq!((stats.bans, stats.banned), (2, 1));
}

#[test]
fn a_ban_that_ends_on_arrival_lets_the_message_through() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut a = host(0, &[0, 1, 2]);
    // Ten malformed peer datagrams (unknown kind) from a never-authenticated
    // member ban it; it was not up, so no peer-down.
    let garbage = vec![node_logic::wire::WIRE_VERSION, 1, 200];
    let mut recorded = Vec::new();
    for _ in 0..10 {
        recorded.extend(observations(&deliver(
            &mut a,
            SimTime::ZERO,
            2,
            garbage.clone(),
            &mut rng,
        )));
    }
    assert_eq!(recorded.len(), 11);
    assert_eq!(
        recorded.last(),
        Some(&Observation::Peers(PeerRegistryEvent::Banned {
            peer: HostId(2)
        }))
    );
    let after = SimTime::ZERO + SimDuration::from_secs(300);
    let out = deliver(&mut a, after, 2, hello_from(2, 1), &mut rng);
    assert_eq!(
        observations(&out),
        vec![
            Observation::Peers(PeerRegistryEvent::Unbanned { peer: HostId(2) }),
            Observation::Peers(PeerRegistryEvent::Up { peer: HostId(2) }),
        ]
    );
}

// ---------------------------------------------------------------------------
// Observers and statistics.
// ---------------------------------------------------------------------------

#[test]
fn observer_bound_is_fifty_by_default_and_the_error_names_it() {
    let mut a = host(0, &[0, 1]);
    let peers = a.peers_mut().unwrap();
    let ids: Vec<_> = (0..50)
        .map(|i| {
            peers
                .register_observer(&format!("o{i}"), SimTime::ZERO)
                .unwrap()
        })
        .collect();
    let err = peers
        .register_observer("one-too-many", SimTime::ZERO)
        .unwrap_err();
    assert_eq!(err, ObserverError::LimitReached { max: 50 });
    assert!(err.to_string().contains("50"), "{err}");
    peers.unregister_observer(ids[0]).unwrap();
    assert!(
        peers
            .register_observer("one-too-many", SimTime::ZERO)
            .is_ok()
    );
    assert_eq!(peers.registry_stats().observers, 50);
}

#[test]
fn observers_hear_joins_and_leaves_in_order_and_idle_ones_are_cleaned_up() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut config = PeerConfig::new(HostId(0), ids(&[0, 1, 2]), ids(&[1, 2]), HEARTBEAT, STALE);
    config.observer_stale_after = SimDuration::from_secs(60);
    let mut a = host_with(config);
    let t = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    let consensus = a
        .peers_mut()
        .unwrap()
        .register_observer("consensus", t(0))
        .unwrap();
    let idle = a
        .peers_mut()
        .unwrap()
        .register_observer("idle", t(0))
        .unwrap();

    deliver(&mut a, t(1), 2, hello_from(2, 1), &mut rng);
    deliver(&mut a, t(2), 1, hello_from(1, 1), &mut rng);
    // Both go silent: dropped at the first heartbeat more than 30 s after
    // they were last heard (35 s), in id order.
    let mut cleaned_at = None;
    let mut beat = 5;
    while beat <= 70 {
        a.handle_input(
            t(beat),
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        let obs = observations(&drain(&mut a));
        if obs.contains(&Observation::Peers(PeerRegistryEvent::ObserversCleaned {
            removed: 1,
        })) {
            cleaned_at.get_or_insert(beat);
        }
        if beat == 40 || beat == 60 {
            // The consensus module drains its queue now and then.
            let events = a
                .peers_mut()
                .unwrap()
                .take_events(consensus, t(beat))
                .unwrap();
            if beat == 40 {
                let ev = |at, peer, kind| PeerEvent {
                    at: t(at),
                    peer: HostId(peer),
                    kind,
                };
                assert_eq!(
                    events,
                    vec![
                        ev(1, 2, PeerEventKind::Joined),
                        ev(2, 1, PeerEventKind::Joined),
                        ev(35, 1, PeerEventKind::Left),
                        ev(35, 2, PeerEventKind::Left),
                    ]
                );
            }
        }
        beat += 5;
    }
    // "idle" (last active at 0 s) goes at the first heartbeat after 60 s.
    assert_eq!(cleaned_at, Some(65));
    let peers = a.peers().unwrap();
    assert!(peers.observers().info(idle).is_none());
    let kept = peers.observers().info(consensus).unwrap();
    assert_eq!((kept.registered_at, kept.last_active), (t(0), t(60)));
}

#[test]
fn statistics_match_a_hand_computation() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    // Members 0..=3, bootstrap 1 and 2; 3 introduces itself.
    let mut a = host_with(PeerConfig::new(
        HostId(0),
        ids(&[0, 1, 2, 3]),
        ids(&[1, 2]),
        HEARTBEAT,
        STALE,
    ));
    let t = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    a.handle_input(t(0), Input::Start { restarted: false }, &mut rng);
    drain(&mut a);
    a.peers_mut().unwrap().register_observer("x", t(0)).unwrap();
    a.peers_mut().unwrap().register_observer("y", t(0)).unwrap();
    assert_eq!(
        a.peers().unwrap().registry_stats(),
        PeerRegistryStats {
            peers_known: 2,
            peers_up: 0,
            observers: 2,
            max_observers: 50,
            average_peer_lifetime: None,
            joins: 0,
            leaves: 0,
            banned: 0,
            bans: 0,
        }
    );
    deliver(&mut a, t(1), 1, hello_from(1, 1), &mut rng); // 1 up at 1 s
    deliver(&mut a, t(2), 2, hello_from(2, 1), &mut rng); // 2 up at 2 s
    deliver(&mut a, t(4), 3, hello_from(3, 1), &mut rng); // 3 up at 4 s
    // Heartbeats every 5 s; 2 and 3 ping before each, 1 stays silent and is
    // dropped at 35 s (34 s > 30 s since 1 s): a 34 s up period.
    for beat in (5..=40).step_by(5) {
        for peer in [2, 3] {
            deliver(
                &mut a,
                t(beat),
                peer,
                PeerMessage::Ping { nonce: 0 }.encode(),
                &mut rng,
            );
        }
        a.handle_input(
            t(beat),
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        drain(&mut a);
    }
    // Two validly signed hellos with a foreign key (50 points each) ban 3 at
    // 42 s: a 38 s up period.
    let rekeyed = PeerMessage::Hello(SignedHello::new(HostId(3), &identity(7), 2)).encode();
    deliver(&mut a, t(42), 3, rekeyed.clone(), &mut rng);
    deliver(&mut a, t(42), 3, rekeyed, &mut rng);
    assert_eq!(
        a.peers().unwrap().registry_stats(),
        PeerRegistryStats {
            peers_known: 3,
            peers_up: 1,
            observers: 2,
            max_observers: 50,
            average_peer_lifetime: Some(SimDuration::from_secs((34 + 38) / 2)),
            joins: 3,
            leaves: 2,
            banned: 1,
            bans: 1,
        }
    );
    // 1 comes back at 50 s and leaves again at 85 s (35 s up): joins 4,
    // leaves 3, mean (34 + 38 + 35) / 3 s.
    deliver(&mut a, t(50), 1, hello_from(1, 2), &mut rng);
    for beat in (45..=85).step_by(5) {
        deliver(
            &mut a,
            t(beat),
            2,
            PeerMessage::Ping { nonce: 0 }.encode(),
            &mut rng,
        );
        a.handle_input(
            t(beat),
            Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
            &mut rng,
        );
        drain(&mut a);
    }
    let stats = a.peers().unwrap().registry_stats();
    assert_eq!((stats.joins, stats.leaves, stats.peers_up), (4, 3, 1));
    assert_eq!(
        stats.average_peer_lifetime,
        Some(SimDuration::from_nanos(
            SimDuration::from_secs(34 + 38 + 35).as_nanos() / 3
        ))
    );
}
