//! Drives peer-registry hosts by hand: a test plays the driver, moving
//! datagrams and firing timers itself, with `now` advanced explicitly.

use node_logic::HostId;
use node_logic::envelope::SignedEnvelope;
use node_logic::host_node::{HostConfig, HostNode};
use node_logic::identity::Identity;
use node_logic::io::{Input, Node, Observation, Output, RejectReason, TimerId};
use node_logic::peers::{PeerConfig, PeerMessage, PeerStatus, SignedHello};
use node_logic::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const HEARTBEAT: SimDuration = SimDuration::from_secs(5);
const STALE: SimDuration = SimDuration::from_secs(30);

fn identity(host: u32) -> Identity {
    Identity::from_secret([host as u8 + 1; 32])
}

fn host(me: u32, members: &[u32]) -> HostNode {
    HostNode::new(HostConfig {
        id: HostId(me),
        identity: identity(me),
        peers: Some(PeerConfig {
            me: HostId(me),
            bootstrap: members.iter().map(|&m| HostId(m)).collect(),
            heartbeat: HEARTBEAT,
            stale_after: STALE,
        }),
        registration: None,
        consensus: None,
        verifier: None,
    })
}

fn drain(node: &mut HostNode) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn sends(outputs: &[Output]) -> Vec<(HostId, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, payload } => Some((*to, payload.clone())),
            _ => None,
        })
        .collect()
}

fn observations(outputs: &[Output]) -> Vec<Observation> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Record(obs) => Some(obs.clone()),
            _ => None,
        })
        .collect()
}

fn timer_at(outputs: &[Output]) -> Option<SimTime> {
    outputs.iter().find_map(|o| match o {
        Output::SetTimer {
            timer: TimerId::PeerHeartbeat,
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
    node.handle_input(
        now,
        Input::Message {
            from: HostId(from),
            payload,
        },
        rng,
    );
    drain(node)
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
        vec![Observation::PeerUp { peer: HostId(0) }]
    );
    let ack = sends(&out_b);
    assert_eq!(ack.len(), 1, "b answers with a hello-ack");
    let out_a = deliver(&mut a, now, 1, ack[0].1.clone(), &mut rng);
    assert_eq!(
        observations(&out_a),
        vec![Observation::PeerUp { peer: HostId(1) }]
    );
    assert!(sends(&out_a).is_empty(), "an ack is not answered");
    assert_eq!(a.peers().unwrap().status(HostId(1)), Some(PeerStatus::Up));
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
        a.handle_input(at, Input::Timer(TimerId::PeerHeartbeat), &mut rng);
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
        a.handle_input(now, Input::Timer(TimerId::PeerHeartbeat), &mut rng);
        if observations(&drain(&mut a)).contains(&Observation::PeerDown { peer: HostId(1) }) {
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
        vec![Observation::PeerUp { peer: HostId(1) }]
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
        // not a well-formed, correctly signed message from host 1 is recorded.
        let well_formed = node_logic::wire::open(&bytes)
            .and_then(|(_, body)| PeerMessage::decode(body))
            .ok()
            .is_some_and(|m| match m {
                PeerMessage::Hello(h) | PeerMessage::HelloAck(h) => {
                    h.host() == HostId(1) && h.verify().is_ok()
                }
                _ => true,
            });
        let out = deliver(&mut a, SimTime::ZERO, 1, bytes, &mut rng);
        let rejected = observations(&out)
            .iter()
            .any(|o| matches!(o, Observation::MessageRejected { .. }));
        assert_eq!(rejected, !well_formed, "case {case}");
    }
}
