//! The engine with small hand-written nodes: what crosses the network, when,
//! and what survives a crash.

use node_logic::HostId;
use node_logic::TimerId;
use node_logic::io::{FileOp, FileResult, Input, Node, Output, WriteMode};
use node_logic::outbox::Outbox;
use node_logic::time::{SimDuration, SimTime};
use rand_core::Rng;
use sim_core::engine::{EngineConfig, FaultAction, ScheduledFault, Simulation};
use sim_core::faults::PartitionRule;
use sim_core::fs::FsConfig;
use sim_core::network::{Link, Network};
use sim_core::record::Lifecycle;
use sim_core::trace::{DropReason, TraceEvent, TraceKind, TraceSink};
use sim_core::units::Probability;

/// Keeps a readable copy of every trace record.
#[derive(Default)]
struct Recorder {
    events: Vec<(SimTime, Option<HostId>, String)>,
}

impl TraceSink for Recorder {
    fn record(&mut self, e: &TraceEvent<'_>) {
        let what = match e.kind {
            TraceKind::Deliver { from, payload } => {
                format!("deliver from {} {}", from.0, payload.len())
            }
            TraceKind::Drop { from, reason } => format!("drop from {} {}", from.0, reason.as_str()),
            TraceKind::Timer(t) => format!("timer {}", t.code()),
            TraceKind::Start { restarted } => format!("start {restarted}"),
            TraceKind::Crash => "crash".into(),
            TraceKind::File { op, path, size, ok } => format!("file {op} {path} {size} {ok}"),
            other => format!("{other:?}"),
        };
        self.events.push((e.time, e.host, what));
    }
}

impl Recorder {
    fn at(&self, host: u32, prefix: &str) -> Vec<SimTime> {
        self.events
            .iter()
            .filter(|(_, h, w)| *h == Some(HostId(host)) && w.starts_with(prefix))
            .map(|(t, _, _)| *t)
            .collect()
    }
}

/// Hosts below `senders` send `size` bytes to every other host every
/// `every`; all hosts count timer ticks (state that a crash must lose).
struct Chatter {
    id: HostId,
    hosts: u32,
    senders: u32,
    every: SimDuration,
    size: usize,
    ticks: u32,
    /// Per sender: hints of a coming message not yet followed by it.
    hinted: Vec<u32>,
    /// Messages delivered without a hint first.
    unhinted: u32,
    out: Outbox,
}

impl Node for Chatter {
    fn handle_input(&mut self, now: SimTime, input: Input, _rng: &mut dyn Rng) {
        match input {
            Input::Start { .. } => self.out.set_timer(TimerId::Workload(0), now + self.every),
            Input::Timer(_) => {
                self.ticks += 1;
                if self.id.0 < self.senders {
                    for to in (0..self.hosts).filter(|&to| to != self.id.0) {
                        self.out.send(HostId(to), vec![7; self.size]);
                    }
                }
                self.out.set_timer(TimerId::Workload(0), now + self.every);
            }
            Input::Message { from, .. } => match self.hinted[from.index()].checked_sub(1) {
                Some(left) => self.hinted[from.index()] = left,
                None => self.unhinted += 1,
            },
            _ => {}
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
    fn expect_message(&mut self, from: HostId, _payload: &node_logic::io::Payload) {
        self.hinted[from.index()] += 1;
    }
}

/// A run of `seed` to `stop_at` with the default directory.
fn config(seed: u64, stop_at: SimTime) -> EngineConfig {
    EngineConfig {
        seed,
        stop_at,
        fs: FsConfig::default(),
    }
}

fn ms(n: u64) -> SimTime {
    SimTime::from_duration(SimDuration::from_millis(n))
}

fn secs(n: u64) -> SimTime {
    SimTime::from_duration(SimDuration::from_secs(n))
}

fn mesh(hosts: u32, latency: SimDuration, loss: f64, bandwidth: &str) -> Network {
    let link = Link {
        latency,
        jitter: SimDuration::ZERO,
        loss: Probability::new(loss).unwrap(),
    };
    Network::mesh(hosts, link, bandwidth.parse().unwrap())
}

/// A simulation of `hosts` [`Chatter`]s; hosts below `senders` send. No
/// host is started: tests schedule starts themselves (see [`start_all`]).
fn chatter_sim(
    seed: u64,
    hosts: u32,
    senders: u32,
    every: SimDuration,
    size: usize,
    network: Network,
    stop: SimTime,
) -> Simulation<Chatter> {
    let config = config(seed, stop);
    Simulation::new(
        config,
        network,
        Box::new(move |id| Chatter {
            id,
            hosts,
            senders,
            every,
            size,
            ticks: 0,
            hinted: vec![0; hosts as usize],
            unhinted: 0,
            out: Outbox::default(),
        }),
    )
}

fn start_all<N: Node>(sim: &mut Simulation<N>, hosts: u32) {
    for h in 0..hosts {
        sim.schedule_start(HostId(h), SimTime::ZERO);
    }
}

/// The engine tells a node of each datagram before handing it over (the
/// hint a node may prefetch on), once per datagram, on a link slow enough
/// that datagrams queue at the receiver's down-link.
#[test]
fn every_delivery_is_announced_to_its_receiver_first() {
    let net = mesh(4, SimDuration::from_millis(10), 0.0, "1 Mbit");
    let mut sim = chatter_sim(3, 4, 3, SimDuration::from_millis(100), 1_000, net, secs(5));
    start_all(&mut sim, 4);
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    for host in 0..4 {
        let node = sim.node(HostId(host)).unwrap();
        let delivered = rec.at(host, "deliver").len();
        assert!(delivered > 50, "host {host} got {delivered}");
        assert_eq!(node.unhinted, 0, "host {host}: a delivery without a hint");
        // Hinted and not delivered: only those still queued at the stop.
        let waiting: u32 = node.hinted.iter().sum();
        assert!(
            waiting <= 3,
            "host {host}: {waiting} hints without a delivery"
        );
    }
}

#[test]
fn partition_drops_traffic_across_sides_and_heal_restores_it() {
    let net = mesh(3, SimDuration::from_millis(10), 0.0, "1 Gbit");
    let mut sim = chatter_sim(3, 3, 1, SimDuration::from_secs(1), 100, net, secs(30));
    start_all(&mut sim, 3);
    let sides = vec![vec![HostId(0)], vec![HostId(1)]];
    sim.schedule_fault(fault(
        0,
        secs(10),
        Some(secs(20)),
        FaultAction::Network(Box::new(PartitionRule::new(&sides, false))),
    ));
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();

    let to_1 = rec.at(1, "deliver from 0");
    assert!(to_1.iter().any(|&t| t < secs(10)), "before the partition");
    assert!(
        to_1.iter().all(|&t| t < secs(10) || t > secs(20)),
        "nothing crosses while partitioned"
    );
    assert!(to_1.iter().any(|&t| t > secs(20)), "heal restores traffic");
    let dropped = rec.at(1, "drop from 0 partition");
    assert_eq!(
        dropped.len(),
        10,
        "one message per second for 10 s: {dropped:?}"
    );
    // Host 2 is on no side: unaffected throughout (the message sent at the
    // stop time, 30 s, has not arrived when the run ends).
    assert_eq!(rec.at(2, "deliver from 0").len(), 29);
    assert_eq!(sim.log().drops.get(&DropReason::Partition), Some(&10));
    let phases: Vec<_> = sim
        .log()
        .faults
        .iter()
        .map(|f| (f.time, f.phase.as_str()))
        .collect();
    assert_eq!(phases, vec![(secs(10), "apply"), (secs(20), "heal")]);
}

#[test]
fn one_way_partition_lets_replies_through() {
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "1 Gbit");
    let mut sim = chatter_sim(3, 2, 2, SimDuration::from_secs(1), 10, net, secs(5));
    start_all(&mut sim, 2);
    let sides = vec![vec![HostId(1)], vec![HostId(0)]];
    sim.schedule_fault(fault(
        0,
        SimTime::ZERO,
        None,
        FaultAction::Network(Box::new(PartitionRule::new(&sides, true))),
    ));
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    // Only host 1 -> host 0 is cut: all five of its messages are dropped,
    // while host 0's reach host 1 (those sent at 1..4 s; the one sent at
    // 5 s is in flight at the stop).
    assert_eq!(rec.at(0, "drop from 1 partition").len(), 5);
    assert!(rec.at(0, "deliver").is_empty());
    assert_eq!(rec.at(1, "deliver from 0").len(), 4);
    assert!(rec.at(1, "drop").is_empty());
}

#[test]
fn crash_drops_state_and_stale_timers_and_restart_starts_anew() {
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "1 Gbit");
    let mut sim = chatter_sim(3, 2, 1, SimDuration::from_secs(1), 10, net, secs(20));
    start_all(&mut sim, 2);
    sim.schedule_fault(fault(
        0,
        ms(5_500),
        Some(ms(8_200)),
        FaultAction::Crash {
            hosts: vec![HostId(1)],
        },
    ));
    let mut rec = Recorder::default();
    sim.run_until(secs(5), &mut rec).unwrap();
    assert_eq!(sim.node(HostId(1)).unwrap().ticks, 5);
    sim.run(&mut rec).unwrap();

    let life: Vec<_> = sim
        .log()
        .lifecycle
        .iter()
        .filter(|(_, h, _)| *h == HostId(1))
        .map(|(t, _, l)| (*t, *l))
        .collect();
    assert_eq!(
        life,
        vec![
            (SimTime::ZERO, Lifecycle::Started),
            (ms(5_500), Lifecycle::Crashed),
            (ms(8_200), Lifecycle::Restarted)
        ]
    );
    // The timer armed for 6 s before the crash never fires; the new node's
    // first timer is one period after its restart.
    let ticks = rec.at(1, "timer");
    assert!(
        ticks.iter().all(|&t| t < ms(5_500) || t >= ms(9_200)),
        "{ticks:?}"
    );
    assert!(ticks.contains(&ms(9_200)));
    // State is new: 20 s - 8.2 s = 11 ticks since the restart, not 16.
    assert_eq!(sim.node(HostId(1)).unwrap().ticks, 11);
    // Messages sent to the crashed host are dropped as host-down.
    assert_eq!(
        rec.at(1, "drop from 0 host-down").len(),
        3,
        "at 6, 7 and 8 s"
    );
}

#[test]
fn crash_before_start_holds_the_host_until_restart() {
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "1 Gbit");
    let mut sim = chatter_sim(1, 2, 1, SimDuration::from_secs(1), 1, net, secs(10));
    sim.schedule_start(HostId(0), SimTime::ZERO);
    sim.schedule_start(HostId(1), secs(2));
    sim.schedule_fault(fault(
        0,
        secs(1),
        Some(secs(4)),
        FaultAction::Crash {
            hosts: vec![HostId(1)],
        },
    ));
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    assert_eq!(
        rec.at(1, "start"),
        vec![secs(4)],
        "held down past its start time, boots at restart"
    );
    assert_eq!(
        rec.at(1, "start false").len(),
        1,
        "never ran before: a first boot"
    );
}

#[test]
fn bandwidth_serializes_messages_through_up_and_down_queues() {
    // 1250 bytes at 1 Mbit/s take 10 ms to serialize; latency 10 ms.
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "1 Mbit");
    struct Burst(HostId, Outbox);
    impl Node for Burst {
        fn handle_input(&mut self, _now: SimTime, input: Input, _rng: &mut dyn Rng) {
            if matches!(input, Input::Start { .. }) && self.0 == HostId(0) {
                for _ in 0..3 {
                    self.1.send(HostId(1), vec![0; 1250]);
                }
            }
        }
        fn poll_output(&mut self) -> Option<Output> {
            self.1.pop()
        }
    }
    let config = config(1, secs(1));
    let mut sim = Simulation::new(config, net, Box::new(|id| Burst(id, Outbox::default())));
    sim.schedule_start(HostId(0), SimTime::ZERO);
    sim.schedule_start(HostId(1), SimTime::ZERO);
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    // Departures at 10, 20, 30 ms (up queue); arrivals at 20, 30, 40 ms;
    // each then takes 10 ms on the down link.
    assert_eq!(rec.at(1, "deliver from 0"), vec![ms(30), ms(40), ms(50)]);
}

#[test]
fn loss_drops_about_its_share_and_is_reproducible() {
    let run = |seed: u64| {
        let net = mesh(2, SimDuration::from_millis(1), 0.25, "1 Gbit");
        let mut sim = chatter_sim(seed, 2, 1, SimDuration::from_secs(1), 8, net, secs(1_000));
        start_all(&mut sim, 2);
        sim.run(&mut sim_core::trace::NoTrace).unwrap();
        (
            sim.log().drops.get(&DropReason::Loss).copied().unwrap_or(0),
            sim.trace_hash(),
        )
    };
    let (lost, hash) = run(11);
    assert!(
        (200..=300).contains(&lost),
        "25 % of 1000 messages, got {lost}"
    );
    assert_eq!(run(11), (lost, hash.clone()), "same seed, same run");
    assert_ne!(run(12).1, hash, "another seed, another run");
}

#[test]
fn file_operations_take_their_time_and_report_results() {
    struct Writer(Outbox, Vec<(SimTime, FileResult)>);
    impl Node for Writer {
        fn handle_input(&mut self, now: SimTime, input: Input, _rng: &mut dyn Rng) {
            match input {
                Input::Start { .. } => self.0.file(FileOp::Write {
                    path: "w.json".into(),
                    bytes: b"{}".to_vec(),
                    mode: WriteMode::Atomic,
                }),
                Input::File(result) => {
                    let result = *result;
                    if matches!(result, FileResult::Written { .. }) {
                        self.0.file(FileOp::Read {
                            path: "w.json".into(),
                        });
                    }
                    self.1.push((now, result));
                }
                _ => {}
            }
        }
        fn poll_output(&mut self) -> Option<Output> {
            self.0.pop()
        }
    }
    let net = mesh(1, SimDuration::from_millis(1), 0.0, "1 Gbit");
    let config = config(1, secs(1));
    let mut sim = Simulation::new(
        config,
        net,
        Box::new(|_| Writer(Outbox::default(), Vec::new())),
    );
    sim.schedule_start(HostId(0), SimTime::ZERO);
    sim.run(&mut sim_core::trace::NoTrace).unwrap();
    let seen = &sim.node(HostId(0)).unwrap().1;
    assert_eq!(
        seen,
        &vec![
            (
                ms(20),
                FileResult::Written {
                    path: "w.json".into(),
                    result: Ok(())
                }
            ),
            (
                ms(22),
                FileResult::Read {
                    path: "w.json".into(),
                    result: Ok(b"{}".to_vec())
                }
            ),
        ]
    );
}

#[test]
fn clock_skew_shifts_what_a_node_reads_and_stretches_its_timers() {
    use sim_core::engine::ClockSkew;
    let skew = ClockSkew {
        since: secs(10),
        offset_ns: 2_000_000_000,
        drift: 0.5,
    };
    assert_eq!(skew.local(secs(10)), secs(12));
    assert_eq!(
        skew.local(secs(12)),
        secs(15),
        "runs 1.5x fast after `since`"
    );
    assert_eq!(skew.global(secs(15)), secs(12), "inverse");

    let run = |drift: f64, offset_ns: i64| {
        let net = mesh(1, SimDuration::from_millis(1), 0.0, "1 Gbit");
        let mut sim = chatter_sim(1, 1, 0, SimDuration::from_secs(1), 1, net, secs(30));
        start_all(&mut sim, 1);
        sim.schedule_fault(fault(
            0,
            secs(10),
            None,
            FaultAction::ClockSkew {
                hosts: vec![HostId(0)],
                offset_ns,
                drift,
            },
        ));
        let mut rec = Recorder::default();
        sim.run(&mut rec).unwrap();
        rec.at(0, "timer")
    };
    // No drift: one tick a second throughout, whatever the offset.
    assert_eq!(run(0.0, 5_000_000_000).len(), 30);
    // Drift 0.5 from 10 s: 1 s of local time is 2/3 s of global time, so
    // the 20 s after the skew hold 30 ticks instead of 20.
    let ticks = run(0.5, 0);
    assert_eq!(ticks.iter().filter(|t| **t <= secs(10)).count(), 10);
    let after = ticks.iter().filter(|t| **t > secs(10)).count();
    assert!(
        (29..=31).contains(&after),
        "{after} ticks after the skew: {ticks:?}"
    );
}

#[test]
fn a_skewed_timer_never_fires_before_its_local_deadline() {
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use sim_core::engine::ClockSkew;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..20_000 {
        let skew = ClockSkew {
            since: SimTime::from_nanos(rng.random_range(0..1_000_000_000_000)),
            offset_ns: rng.random_range(-5_000_000_000..5_000_000_000),
            drift: [0.05, -0.05, 0.001, 0.5, -0.3, 1e-7][rng.random_range(0..6)],
        };
        let deadline = SimTime::from_nanos(rng.random_range(10_000_000_000..2_000_000_000_000));
        let at = skew.global(deadline);
        assert!(
            skew.local(at) >= deadline,
            "{skew:?}: local({at}) < {deadline}"
        );
    }
}

#[test]
fn a_node_that_never_lets_time_advance_stops_the_run_instead_of_spinning() {
    struct Zeno(Outbox);
    impl Node for Zeno {
        fn handle_input(&mut self, now: SimTime, _input: Input, _rng: &mut dyn Rng) {
            self.0.set_timer(TimerId::Workload(0), now); // due again at once, forever
        }
        fn poll_output(&mut self) -> Option<Output> {
            self.0.pop()
        }
    }
    let net = mesh(1, SimDuration::from_millis(1), 0.0, "1 Gbit");
    let config = config(1, secs(10));
    let mut sim = Simulation::new(config, net, Box::new(|_| Zeno(Outbox::default())));
    sim.schedule_start(HostId(0), secs(1));
    let err = sim.run(&mut sim_core::trace::NoTrace).unwrap_err();
    assert!(
        matches!(err, sim_core::engine::EngineError::Stalled { at, .. } if at == secs(1)),
        "{err}"
    );
    assert!(sim.is_finished());
}

/// Fault `index` doing `action` from `at` to `heal`.
fn fault(index: usize, at: SimTime, heal: Option<SimTime>, action: FaultAction) -> ScheduledFault {
    ScheduledFault {
        index,
        kind: "test",
        hosts: Vec::new(),
        at,
        heal,
        action,
    }
}

/// Duplicates every message from host 0, `copies` times, `spacing` apart.
#[derive(Debug)]
struct DuplicateFromZero {
    copies: u32,
    spacing: SimDuration,
}

impl sim_core::faults::NetworkRule for DuplicateFromZero {
    fn verdict(&mut self, from: HostId, _to: HostId) -> sim_core::faults::Verdict {
        if from == HostId(0) {
            sim_core::faults::Verdict::Duplicate {
                copies: self.copies,
                spacing: self.spacing,
            }
        } else {
            sim_core::faults::Verdict::Pass
        }
    }
}

#[test]
fn a_duplicate_verdict_delivers_every_copy_spaced_after_the_original() {
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "1 Gbit");
    let mut sim = chatter_sim(1, 2, 2, SimDuration::from_secs(1), 100, net, secs(10));
    start_all(&mut sim, 2);
    let rule = DuplicateFromZero {
        copies: 2,
        spacing: SimDuration::from_millis(3),
    };
    sim.schedule_fault(fault(
        0,
        secs(2),
        Some(secs(5)),
        FaultAction::Network(Box::new(rule)),
    ));
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    let at_1 = rec.at(1, "deliver from 0");
    let at_0 = rec.at(0, "deliver from 1");
    // Sent at 1..=9 s; those sent at 2, 3 and 4 s come three times.
    assert_eq!(at_1.len(), 9 + 2 * 3, "{at_1:?}");
    assert_eq!(at_0.len(), 9, "only host 0's messages");
    let copies: Vec<SimTime> = at_1
        .iter()
        .copied()
        .filter(|t| (secs(2)..secs(3)).contains(t))
        .collect();
    assert_eq!(copies.len(), 3);
    assert_eq!(copies[1] - copies[0], SimDuration::from_millis(3));
    assert_eq!(copies[2] - copies[1], SimDuration::from_millis(3));
}

/// Host 0 sends a numbered datagram to every other host each millisecond,
/// all from one event (`together`: the copies travel as one train through
/// the queue) or each from an event of its own.
struct Caster {
    id: HostId,
    hosts: u32,
    together: bool,
    round: u8,
    out: Outbox,
}

impl Node for Caster {
    fn handle_input(&mut self, now: SimTime, input: Input, _rng: &mut dyn Rng) {
        let next = now + SimDuration::from_millis(1);
        match input {
            Input::Start { .. } if self.id.0 == 0 && self.together => {
                self.out.set_timer(TimerId::Workload(0), next);
            }
            Input::Start { .. } if self.id.0 == 0 => {
                for to in 1..self.hosts {
                    self.out.set_timer(TimerId::Workload(to), next);
                }
            }
            Input::Timer(TimerId::Workload(0)) => {
                for to in 1..self.hosts {
                    self.out.send(HostId(to), vec![self.round; 100]);
                }
                self.round = self.round.wrapping_add(1);
                self.out.set_timer(TimerId::Workload(0), next);
            }
            Input::Timer(TimerId::Workload(to)) => {
                self.out.send(HostId(to), vec![self.round; 100]);
                if to == self.hosts - 1 {
                    self.round = self.round.wrapping_add(1);
                }
                self.out.set_timer(TimerId::Workload(to), next);
            }
            _ => {}
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
}

/// A broadcast's copies are scheduled as one train; each still arrives at
/// its own time, in the order the copies would arrive if each were sent
/// by an event of its own: with jitter (arrivals out of sending order,
/// overlapping the next broadcast's) and datagrams queueing on slow links.
#[test]
fn a_broadcast_arrives_as_its_copies_sent_one_by_one_would() {
    let deliveries = |together: bool| {
        let link = Link {
            latency: SimDuration::from_millis(5),
            jitter: SimDuration::from_millis(3),
            loss: Probability::new(0.0).unwrap(),
        };
        let net = Network::mesh(12, link, "10 Mbit".parse().unwrap());
        let config = config(5, ms(300));
        let mut sim = Simulation::new(
            config,
            net,
            Box::new(move |id| Caster {
                id,
                hosts: 12,
                together,
                round: 0,
                out: Outbox::default(),
            }),
        );
        start_all(&mut sim, 12);
        let mut rec = Recorder::default();
        sim.run(&mut rec).unwrap();
        rec.events
            .into_iter()
            .filter(|(_, _, what)| what.starts_with("deliver"))
            .collect::<Vec<_>>()
    };
    let one_by_one = deliveries(false);
    assert!(one_by_one.len() > 2_500, "{}", one_by_one.len());
    // Without jitter a broadcast's copies arrive in host order: one
    // descent per round (about 300).
    let descents = one_by_one.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert!(descents > 1_000, "jitter must reorder copies: {descents}");
    assert_eq!(deliveries(true), one_by_one);
}

/// Host 0 sends host 1 one 1,000-byte datagram at start; host 1 sets
/// `Workload(0)` at start for `first` and, when it fires, `Workload(1)`
/// for `then` (if any).
struct Tie {
    id: HostId,
    first: SimTime,
    then: Option<SimTime>,
    out: Outbox,
}

impl Node for Tie {
    fn handle_input(&mut self, _now: SimTime, input: Input, _rng: &mut dyn Rng) {
        match input {
            Input::Start { .. } if self.id.0 == 0 => self.out.send(HostId(1), vec![1; 1_000]),
            Input::Start { .. } => self.out.set_timer(TimerId::Workload(0), self.first),
            Input::Timer(TimerId::Workload(0)) => {
                if let Some(then) = self.then {
                    self.out.set_timer(TimerId::Workload(1), then);
                }
            }
            _ => {}
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
}

fn tie_sim(first: SimTime, then: Option<SimTime>) -> Simulation<Tie> {
    // 8 Mbit/s: a byte a microsecond. The datagram leaves host 0's
    // up-link at 1 ms, reaches host 1's down-link at 11 ms and is
    // delivered at 12 ms.
    let net = mesh(2, SimDuration::from_millis(10), 0.0, "8 Mbit");
    let config = config(1, ms(20));
    let mut sim = Simulation::new(
        config,
        net,
        Box::new(move |id| Tie {
            id,
            first,
            then,
            out: Outbox::default(),
        }),
    );
    start_all(&mut sim, 2);
    sim
}

/// What host 1 saw, in order, from `at_ms` on.
fn host_one_from(rec: &Recorder, at_ms: u64) -> Vec<(SimTime, String)> {
    rec.events
        .iter()
        .filter(|(t, h, w)| *h == Some(HostId(1)) && *t >= ms(at_ms) && !w.starts_with("Send"))
        .map(|(t, _, w)| (*t, w.clone()))
        .collect()
}

/// A datagram reaching an idle down-link is delivered without waiting in
/// the queue, but still in `(time, scheduling order)`: after an event due
/// at the same instant that was scheduled before the datagram reached the
/// host, before one scheduled after; and never past the time a caller of
/// `run_until` asked for.
#[test]
fn a_delivery_keeps_its_place_among_events_due_at_its_instant() {
    let deliver = "deliver from 0 1000".to_string();
    let timer = |i: u32| format!("timer {}", TimerId::Workload(i).code());
    // Timer set at start (before the arrival) for the delivery's instant.
    let mut sim = tie_sim(ms(12), None);
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    let expect = vec![(ms(12), timer(0)), (ms(12), deliver.clone())];
    assert_eq!(host_one_from(&rec, 11), expect);
    // Timer set at 11.5 ms (after the arrival) for the same instant.
    let half = SimTime::from_nanos(11_500_000);
    let mut sim = tie_sim(half, Some(ms(12)));
    let mut rec = Recorder::default();
    sim.run(&mut rec).unwrap();
    let expect = vec![
        (half, timer(0)),
        (ms(12), deliver.clone()),
        (ms(12), timer(1)),
    ];
    assert_eq!(host_one_from(&rec, 11), expect);
    // Nothing else queued: delivered straight after the arrival, but not
    // by a run asked to stop before it.
    let mut sim = tie_sim(ms(19), None);
    let mut rec = Recorder::default();
    sim.run_until(half, &mut rec).unwrap();
    assert_eq!(sim.now(), half);
    assert!(host_one_from(&rec, 0).iter().all(|(_, w)| w != &deliver));
    sim.run(&mut rec).unwrap();
    assert_eq!(host_one_from(&rec, 12)[0], (ms(12), deliver));
    // Two starts, the arrival, the delivery (each counted), the timer.
    assert_eq!(sim.log().events, 5);
}
