//! BFT consensus end to end: validators as `HostNode`s on the shared test
//! driver (`node_logic::testkit`: datagrams with fixed latency, timers,
//! cuts, crashes), under crashes, partitions, an equivocating validator and
//! hostile datagrams.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};

use node_logic::HostId;
use node_logic::identity::Identity;
use node_logic::io::{Input, Output, RejectReason};
use node_logic::protocols::consensus::message::{
    NewView, PrePrepare, PreparedSummary, SyncRequest, ViewChange,
};
use node_logic::protocols::consensus::{
    Block, ConsensusConfig, ConsensusEvent, ConsensusMessage, Hash32, PreparedCertificate, Signed,
    Validator, Vote, VoteKind,
};
use node_logic::protocols::{HostConfig, HostNode, Observation};
use node_logic::testkit::{self, TestNet};
use node_logic::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

fn t(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn identity(host: u32) -> Identity {
    Identity::from_secret([host as u8 + 1; 32])
}

fn config(me: u32, n: u32, block_interval: SimDuration, quorum: Option<u32>) -> ConsensusConfig {
    ConsensusConfig {
        me: HostId(me),
        validators: (0..n)
            .map(|i| (HostId(i), identity(i).public_key()))
            .collect(),
        block_interval,
        view_timeout: SimDuration::from_secs(1),
        max_view_timeout: SimDuration::from_secs(4),
        min_validators: 4,
        quorum_override: quorum,
    }
}

fn host_config(me: u32, consensus: ConsensusConfig) -> HostConfig {
    HostConfig::new(HostId(me), identity(me)).with_consensus(consensus)
}

fn host(me: u32, consensus: ConsensusConfig) -> HostNode {
    HostNode::new(host_config(me, consensus))
}

// ---------------------------------------------------------------------------
// The network: the shared test driver, plus what these tests ask of it.

struct Net(TestNet);

impl Deref for Net {
    type Target = TestNet;
    fn deref(&self) -> &TestNet {
        &self.0
    }
}

impl DerefMut for Net {
    fn deref_mut(&mut self) -> &mut TestNet {
        &mut self.0
    }
}

impl Net {
    fn new(n: u32, block_interval: SimDuration, quorum: Option<u32>) -> Self {
        let configs = (0..n)
            .map(|i| host_config(i, config(i, n, block_interval, quorum)))
            .collect();
        Net(TestNet::of(configs, 0))
    }

    fn start(&mut self) {
        let now = self.now();
        self.start_all(now);
        self.run_until(now);
    }

    /// Runs until `done` holds or `limit` passes; returns whether it held.
    fn run_while(&mut self, limit: SimTime, mut done: impl FnMut(&Net) -> bool) -> bool {
        while self.now() < limit {
            if done(self) {
                return true;
            }
            let step = self.now() + SimDuration::from_millis(50);
            self.run_until(step);
        }
        done(self)
    }

    fn events(&self, i: u32) -> impl Iterator<Item = (SimTime, &ConsensusEvent)> + '_ {
        consensus_events(&self.0, i)
    }

    fn v(&self, i: u32) -> &Validator {
        validator(&self.0, i)
    }

    fn finalized(&self, i: u32) -> Vec<(SimTime, u64, Hash32, bool)> {
        finalized(&self.0, i)
    }

    fn rejections(&self, i: u32) -> Vec<RejectReason> {
        self.observations(HostId(i))
            .filter_map(|(_, o)| match o {
                Observation::MessageRejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// Agreement: no two of `hosts` finalized different blocks at a height;
    /// each finalized heights 1, 2, 3... in order.
    fn assert_agreement(&self, hosts: &[u32]) {
        let mut by_height: BTreeMap<u64, (u32, Hash32)> = BTreeMap::new();
        for &h in hosts {
            let finalized = self.finalized(h);
            for (k, &(_, height, hash, _)) in finalized.iter().enumerate() {
                assert_eq!(height, k as u64 + 1, "host {h} finalized out of order");
                let (first, agreed) = *by_height.entry(height).or_insert((h, hash));
                assert_eq!(
                    hash, agreed,
                    "hosts {first} and {h} finalized different blocks at height {height}"
                );
            }
            let v = self.v(h);
            assert_eq!(v.chain().len() as u64, v.finalized_height());
            let from_events: Vec<Hash32> = finalized.iter().map(|f| f.2).collect();
            assert_eq!(v.chain(), &from_events[..], "host {h}");
        }
    }
}

fn validator(net: &TestNet, i: u32) -> &Validator {
    net.node(HostId(i)).validator().expect("a validator")
}

fn consensus_events(
    net: &TestNet,
    i: u32,
) -> impl Iterator<Item = (SimTime, &ConsensusEvent)> + '_ {
    net.observations(HostId(i)).filter_map(|(at, o)| match o {
        Observation::Consensus(e) => Some((at, e)),
        _ => None,
    })
}

fn finalized(net: &TestNet, i: u32) -> Vec<(SimTime, u64, Hash32, bool)> {
    consensus_events(net, i)
        .filter_map(|(at, e)| match e {
            ConsensusEvent::Finalized {
                height,
                hash,
                via_sync,
                ..
            } => Some((at, *height, *hash, *via_sync)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Normal case.

#[test]
fn four_honest_validators_finalize_twenty_blocks_in_order() {
    let interval = SimDuration::from_millis(100);
    let mut net = Net::new(4, interval, None);
    net.start();
    assert!(net.run_while(t(10 * S), |n| {
        (0..4).all(|i| n.v(i).finalized_height() >= 20)
    }));
    net.assert_agreement(&[0, 1, 2, 3]);
    for i in 0..4 {
        let finalized = net.finalized(i);
        assert!(finalized.iter().all(|f| !f.3), "no catch-up needed");
        assert_eq!(net.v(i).view(), 0, "no view change");
        assert!(net.v(i).verifications() > 0);
        assert!(net.rejections(i).is_empty());
    }
    // The leader proposes one block per interval: each proposal comes at
    // least `block_interval` after the previous finalization.
    let proposals: Vec<SimTime> = net
        .events(0)
        .filter_map(|(at, e)| matches!(e, ConsensusEvent::Proposed { .. }).then_some(at))
        .collect();
    let finalizations: Vec<SimTime> = net.finalized(0).iter().map(|f| f.0).collect();
    assert_eq!(proposals[0], t(0) + interval);
    for (k, pair) in proposals.windows(2).enumerate() {
        assert!(pair[1] >= finalizations[k] + interval, "proposal {}", k + 2);
        assert!(pair[1] - pair[0] >= interval);
    }
    // Three network latencies per block after the interval.
    assert_eq!(finalizations[0], t(130 * MS));
    assert_eq!(finalizations[1], t(260 * MS));
}

#[test]
fn poll_timeout_reports_the_next_wake_up() {
    let mut net = Net::new(4, SimDuration::from_millis(100), None);
    assert_eq!(net.v(0).poll_timeout(), None);
    net.start();
    // The leader's proposal is due after the interval; the others wait for
    // the view timer.
    assert_eq!(net.v(0).poll_timeout(), Some(t(100 * MS)));
    assert_eq!(net.v(1).poll_timeout(), Some(t(1_100 * MS)));
}

// ---------------------------------------------------------------------------
// Faults.

#[test]
fn leader_crash_changes_view_and_the_old_leader_catches_up_by_sync() {
    let mut net = Net::new(4, SimDuration::from_millis(100), None);
    net.start();
    net.run_until(t(2 * S));
    let before = net.v(1).finalized_height();
    assert!(before >= 10, "{before}");
    // The leader of view 0 goes silent.
    net.isolate(HostId(0));
    let crashed_height = net.v(0).finalized_height();
    assert!(net.run_while(t(15 * S), |n| {
        (1..4).all(|i| n.v(i).finalized_height() >= before + 10)
    }));
    for i in 1..4 {
        assert!(net.v(i).view() >= 1);
        assert!(
            net.events(i)
                .any(|(_, e)| matches!(e, ConsensusEvent::ViewChange { from_view: 0, .. }))
        );
    }
    // Blocks after the crash come from other proposers.
    let later: Vec<_> = net
        .events(1)
        .filter_map(|(_, e)| match e {
            ConsensusEvent::Finalized {
                height, proposer, ..
            } if *height > before + 1 => Some(*proposer),
            _ => None,
        })
        .collect();
    assert!(!later.is_empty() && later.iter().all(|&p| p != HostId(0)));
    assert!(net.v(0).finalized_height() <= crashed_height + 1);
    // It comes back and catches up through certified blocks.
    net.heal();
    let target = net.v(1).finalized_height();
    assert!(net.run_while(t(40 * S), |n| n.v(0).finalized_height() >= target + 5));
    assert!(net.finalized(0).iter().any(|f| f.3), "caught up via sync");
    assert!(
        net.events(0)
            .any(|(_, e)| matches!(e, ConsensusEvent::CaughtUp { .. }))
    );
    net.assert_agreement(&[0, 1, 2, 3]);
    for i in 0..4 {
        assert!(
            net.rejections(i).is_empty(),
            "host {i}: {:?}",
            net.rejections(i)
        );
    }
}

#[test]
fn a_two_two_partition_stops_finalization_and_heals_without_forks() {
    let mut net = Net::new(4, SimDuration::from_millis(100), None);
    net.start();
    net.run_until(t(S));
    net.set_sides(&[0, 0, 1, 1]);
    let cut_at = net.now();
    net.run_until(t(10 * S));
    for i in 0..4 {
        let during = net.finalized(i).iter().filter(|f| f.0 > cut_at).count();
        assert_eq!(during, 0, "host {i} finalized without a quorum");
        assert!(net.v(i).view() >= 1, "host {i} tried other views");
    }
    let healed_at = net.now();
    let stalled = (0..4)
        .map(|i| net.v(i).finalized_height())
        .max()
        .unwrap_or(0);
    net.heal();
    assert!(net.run_while(t(60 * S), |n| {
        (0..4).all(|i| n.v(i).finalized_height() >= stalled + 10)
    }));
    net.assert_agreement(&[0, 1, 2, 3]);
    let recovered = net
        .finalized(1)
        .iter()
        .find(|f| f.0 > healed_at)
        .map(|f| f.0 - healed_at);
    assert!(
        recovered.is_some_and(|d| d < SimDuration::from_secs(20)),
        "{recovered:?}"
    );
}

#[test]
fn an_equivocating_validator_is_reported_and_honest_chains_agree() {
    let mut net = Net::new(4, SimDuration::from_millis(100), None);
    net.input(HostId(0), Input::Misbehave { on: true });
    net.start();
    net.run_until(t(30 * S));
    for i in 1..4 {
        let offenders: BTreeSet<HostId> = net
            .events(i)
            .filter_map(|(_, e)| match e {
                ConsensusEvent::Equivocation { offender, .. } => Some(*offender),
                _ => None,
            })
            .collect();
        assert_eq!(offenders, BTreeSet::from([HostId(0)]), "host {i}");
        assert!(net.v(i).finalized_height() >= 20, "host {i} made progress");
        // Evidence is reported once per (offender, view, height, kind).
        let reports: Vec<_> = net
            .events(i)
            .filter(|(_, e)| matches!(e, ConsensusEvent::Equivocation { .. }))
            .map(|(_, e)| format!("{e:?}"))
            .collect();
        let distinct: BTreeSet<_> = reports.iter().collect();
        assert_eq!(distinct.len(), reports.len(), "host {i}");
    }
    net.assert_agreement(&[1, 2, 3]);
}

#[test]
fn memory_stays_bounded_over_a_thousand_blocks() {
    let mut net = Net::new(4, SimDuration::from_millis(20), None);
    net.latency = SimDuration::from_millis(5);
    net.start();
    let mut peak = 0;
    for k in 1..=10u64 {
        assert!(net.run_while(t(600 * S), |n| {
            (0..4).all(|i| n.v(i).finalized_height() >= 100 * k)
        }));
        for i in 0..4 {
            peak = peak.max(net.v(i).retained_votes());
        }
    }
    // At most a height's votes (2 kinds x 4 voters) plus a few early
    // messages of the next height.
    assert!(peak <= 16, "{peak}");
    net.assert_agreement(&[0, 1, 2, 3]);
}

#[test]
fn the_unsafe_quorum_override_really_forks_under_a_partition() {
    // TEST ONLY: quorum 2 of 4 is unsafe. Two sides of a partition each
    // finalize their own block at height 1 — exactly what the simulator's
    // agreement checker must catch.
    let mut net = Net::new(4, SimDuration::from_millis(100), Some(2));
    net.set_sides(&[0, 0, 1, 1]);
    net.start();
    net.run_until(t(30 * S));
    let a = net.finalized(0);
    let b = net.finalized(2);
    assert!(!a.is_empty() && !b.is_empty());
    assert_eq!(a[0].1, 1);
    assert_eq!(b[0].1, 1);
    assert_ne!(a[0].2, b[0].2, "the sides finalized different blocks");
    // Within a side they agree.
    net.assert_agreement(&[0, 1]);
    net.assert_agreement(&[2, 3]);
}

// ---------------------------------------------------------------------------
// Hostile datagrams.

fn started_validator() -> (HostNode, ChaCha8Rng) {
    let mut node = host(1, config(1, 4, SimDuration::from_millis(100), None));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    testkit::drive(&mut node, t(0), Input::Start { restarted: false }, &mut rng);
    (node, rng)
}

fn deliver(node: &mut HostNode, rng: &mut ChaCha8Rng, from: u32, payload: Vec<u8>) -> Vec<Output> {
    let input = Input::Message {
        from: HostId(from),
        payload: payload.into(),
    };
    testkit::drive(node, t(MS), input, rng)
}

fn rejected(outputs: &[Output]) -> Vec<RejectReason> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Record(observation) => match observation.as_ref() {
                Observation::MessageRejected { reason, .. } => Some(*reason),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn block1() -> Block {
    Block {
        height: 1,
        parent: Hash32::ZERO,
        proposer: HostId(0),
        payload: Hash32([5; 32]),
        proposed_at: t(0),
    }
}

fn prepare(voter: u32, signer: u32) -> ConsensusMessage {
    ConsensusMessage::Prepare(Signed::seal(
        &identity(signer),
        Vote {
            kind: VoteKind::Prepare,
            voter: HostId(voter),
            view: 0,
            height: 1,
            block_hash: block1().hash(),
        },
    ))
}

fn pre_prepare() -> ConsensusMessage {
    ConsensusMessage::PrePrepare(Signed::seal(
        &identity(0),
        PrePrepare {
            leader: HostId(0),
            view: 0,
            block: block1(),
        },
    ))
}

#[test]
fn forged_misdirected_foreign_and_malformed_messages_are_rejected() {
    let (mut node, mut rng) = started_validator();
    // Forged: a flipped signature bit (the last bytes are the signature).
    let mut forged = prepare(2, 2).encode();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 2, forged)),
        [RejectReason::BadSignature]
    );
    // Misdirected: host 3 relays host 2's vote as its own datagram.
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 3, prepare(2, 2).encode())),
        [RejectReason::Misdirected]
    );
    // Signed with another validator's key.
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 2, prepare(2, 3).encode())),
        [RejectReason::WrongKey]
    );
    // A non-validator, both as transport sender and as claimed voter.
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 9, prepare(9, 9).encode())),
        [RejectReason::NotAMember]
    );
    // Garbage.
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 2, vec![1, 3, 99])),
        [RejectReason::Malformed]
    );
    // A sync request from a non-validator key claiming to be host 2.
    let sneaky = ConsensusMessage::SyncRequest(Signed::seal(
        &identity(7),
        SyncRequest {
            sender: HostId(2),
            from_height: 1,
        },
    ));
    assert_eq!(
        rejected(&deliver(&mut node, &mut rng, 2, sneaky.encode())),
        [RejectReason::WrongKey]
    );
    // The genuine messages are accepted: the pre-prepare makes it prepare.
    let outputs = deliver(&mut node, &mut rng, 0, pre_prepare().encode());
    assert!(rejected(&outputs).is_empty());
    assert_eq!(
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Send { .. }))
            .count(),
        3
    );
    assert!(rejected(&deliver(&mut node, &mut rng, 2, prepare(2, 2).encode())).is_empty());
    assert_eq!(node.validator().unwrap().stats().rejected, 6);
}

#[test]
fn random_bytes_truncations_and_bit_flips_never_panic() {
    let (mut node, mut rng) = started_validator();
    let mut fuzz = ChaCha8Rng::seed_from_u64(1234);
    let real: Vec<Vec<u8>> = [pre_prepare(), prepare(2, 2)]
        .iter()
        .map(ConsensusMessage::encode)
        .collect();
    let mut rejections = 0;
    let mut cases = 0;
    for bytes in &real {
        for cut in 0..bytes.len() {
            cases += 1;
            let out = deliver(&mut node, &mut rng, 2, bytes[..cut].to_vec());
            rejections += rejected(&out).len();
        }
    }
    for _ in 0..2_000 {
        cases += 1;
        let mut bytes = real[(fuzz.next_u32() % 2) as usize].clone();
        match fuzz.next_u32() % 3 {
            0 => {
                let i = fuzz.next_u32() as usize % bytes.len();
                bytes[i] ^= 1 << (fuzz.next_u32() % 8);
            }
            1 => {
                let len = fuzz.next_u32() as usize % 300;
                bytes = (0..len).map(|_| fuzz.next_u32() as u8).collect();
                if len >= 2 {
                    bytes[0] = 1;
                    bytes[1] = 3;
                }
            }
            _ => bytes.extend((0..=fuzz.next_u32() % 8).map(|_| fuzz.next_u32() as u8)),
        }
        let out = deliver(&mut node, &mut rng, 2, bytes);
        rejections += rejected(&out).len();
    }
    // Every byte is covered by decoding or a signature: each mutation is
    // rejected (and recorded) exactly once.
    assert_eq!(rejections, cases);
    assert_eq!(node.validator().unwrap().finalized_height(), 0);
}

#[test]
fn a_restarted_validator_rebuilds_its_chain_and_votes_again() {
    let mut net = Net::new(4, SimDuration::from_millis(100), None);
    net.start();
    net.run_until(t(2 * S));
    // Host 2 crashes (state lost, messages to it dropped) and restarts.
    net.crash(HostId(2));
    net.run_until(t(4 * S));
    net.clear_log(HostId(2));
    net.restart(HostId(2));
    let target = net.v(1).finalized_height() + 10;
    assert!(net.run_while(t(30 * S), |n| n.v(2).finalized_height() >= target));
    let finalized = net.finalized(2);
    assert!(finalized.iter().any(|f| f.3) && finalized.iter().any(|f| !f.3));
    net.assert_agreement(&[0, 1, 2, 3]);
    // Its votes count again: with host 3 gone, 0, 1 and 2 still finalize.
    net.isolate(HostId(3));
    let before = net.v(0).finalized_height();
    let until = net.now() + SimDuration::from_secs(5);
    net.run_until(until);
    assert!(net.v(0).finalized_height() >= before + 10);
}

/// Hand-made view changes to view 1 (leader: host 1) from `senders`, with
/// a prepared certificate for `prepared` at height 1 in view 0 if given.
fn view_changes(
    senders: &[u32],
    prepared: Option<&Block>,
) -> Vec<(Signed<ViewChange>, Option<PreparedCertificate>)> {
    senders
        .iter()
        .map(|&s| {
            let cert = prepared.map(|b| PreparedCertificate {
                pre_prepare: Signed::seal(
                    &identity(0),
                    PrePrepare {
                        leader: HostId(0),
                        view: 0,
                        block: b.clone(),
                    },
                ),
                prepares: (0..3)
                    .map(|v| {
                        Signed::seal(
                            &identity(v),
                            Vote {
                                kind: VoteKind::Prepare,
                                voter: HostId(v),
                                view: 0,
                                height: 1,
                                block_hash: b.hash(),
                            },
                        )
                    })
                    .collect(),
            });
            let vc = Signed::seal(
                &identity(s),
                ViewChange {
                    sender: HostId(s),
                    new_view: 1,
                    finalized_height: 0,
                    prepared: prepared.map(|b| PreparedSummary {
                        view: 0,
                        height: 1,
                        block_hash: b.hash(),
                    }),
                },
            );
            (vc, cert)
        })
        .collect()
}

fn new_view(
    vcs: &[(Signed<ViewChange>, Option<PreparedCertificate>)],
    prepared: Option<PreparedCertificate>,
    block: Block,
) -> Vec<u8> {
    ConsensusMessage::NewView(Signed::seal(
        &identity(1),
        NewView {
            leader: HostId(1),
            view: 1,
            view_changes: vcs.iter().map(|(vc, _)| vc.clone()).collect(),
            prepared,
            proposal: Signed::seal(
                &identity(1),
                PrePrepare {
                    leader: HostId(1),
                    view: 1,
                    block,
                },
            ),
        },
    ))
    .encode()
}

#[test]
fn followers_check_new_view_messages_before_entering_the_view() {
    let prepared = block1();
    let fresh = Block {
        proposer: HostId(1),
        payload: Hash32([8; 32]),
        ..block1()
    };
    let entered = |payload: Vec<u8>| {
        let mut node = host(2, config(2, 4, SimDuration::from_millis(100), None));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        testkit::drive(&mut node, t(0), Input::Start { restarted: false }, &mut rng);
        let out = deliver(&mut node, &mut rng, 1, payload);
        let v = node.validator().unwrap();
        (v.view(), v.view_active(), rejected(&out))
    };
    let with_cert = view_changes(&[1, 2, 3], Some(&prepared));
    let cert = with_cert[0].1.clone();
    // Valid: the re-proposal of the highest prepared block.
    assert_eq!(
        entered(new_view(&with_cert, cert.clone(), prepared.clone())),
        (1, true, vec![])
    );
    // Valid: nobody prepared anything, a fresh block from the new leader.
    let plain = view_changes(&[1, 2, 3], None);
    assert_eq!(
        entered(new_view(&plain, None, fresh.clone())),
        (1, true, vec![])
    );
    // Too few view changes.
    assert_eq!(
        entered(new_view(&plain[..2], None, fresh.clone())),
        (0, true, vec![RejectReason::Malformed])
    );
    // A duplicated view change does not count twice.
    let doubled = vec![plain[0].clone(), plain[1].clone(), plain[1].clone()];
    assert_eq!(
        entered(new_view(&doubled, None, fresh.clone())),
        (0, true, vec![RejectReason::Malformed])
    );
    // A block was prepared but the leader proposes another one.
    assert_eq!(
        entered(new_view(&with_cert, cert.clone(), fresh.clone())),
        (0, true, vec![RejectReason::Malformed])
    );
    // ...or leaves the certificate out.
    assert_eq!(
        entered(new_view(&with_cert, None, prepared.clone())),
        (0, true, vec![RejectReason::Malformed])
    );
    // A forged view change inside.
    let mut forged = plain.clone();
    let mut env = forged[2].0.envelope().clone();
    env.signature[5] ^= 4;
    forged[2].0 = Signed::from_envelope(env).unwrap();
    assert_eq!(
        entered(new_view(&forged, None, fresh)),
        (0, true, vec![RejectReason::BadSignature])
    );
}

#[test]
fn random_fault_schedules_never_fork_and_recover_after_healing() {
    for seed in 0..12u64 {
        let mut net = Net::new(4, SimDuration::from_millis(50), None);
        net.set_jitter(SimDuration::from_nanos(30 * MS), seed);
        let mut faults = ChaCha8Rng::seed_from_u64(1000 + seed);
        net.start();
        // 12 s of faults changing every 0.5-1.5 s: a partition, an isolated
        // host, or nothing.
        while net.now() < t(12 * S) {
            net.heal();
            net.heal();
            match faults.next_u32() % 4 {
                0 => net.set_sides(
                    &(0..4)
                        .map(|_| (faults.next_u32() % 2) as u8)
                        .collect::<Vec<_>>(),
                ),
                1 | 2 => {
                    net.isolate(HostId(faults.next_u32() % 4));
                }
                _ => {}
            }
            let span = SimDuration::from_millis(500 + u64::from(faults.next_u32() % 1000));
            let until = net.now() + span;
            net.run_until(until);
        }
        net.heal();
        net.heal();
        let healed = (0..4)
            .map(|i| net.v(i).finalized_height())
            .max()
            .unwrap_or(0);
        assert!(
            net.run_while(t(120 * S), |n| (0..4)
                .all(|i| n.v(i).finalized_height() >= healed + 10)),
            "seed {seed}: no progress after healing: {:?}",
            (0..4)
                .map(|i| (
                    net.v(i).finalized_height(),
                    net.v(i).view(),
                    net.v(i).view_active()
                ))
                .collect::<Vec<_>>()
        );
        net.assert_agreement(&[0, 1, 2, 3]);
    }
}
