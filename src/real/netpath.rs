//! The path a real process's datagrams take before its socket sends them
//! and after its socket receives them: the scenario's network faults,
//! applied by the process to its own traffic, and — as far as the network
//! outside does not model them — the scenario's own path latency, jitter,
//! loss and bandwidth (a delay line).
//!
//! Each send asks the fault rules in force, exactly as the simulator's
//! transport does ([`FaultRules::fate`], the simulator's own rule types):
//! a partition drops it, a degraded link adds delay and loss, duplication
//! adds copies, reordering holds some back. Then, by [`PathModel`], the
//! scenario's path: under `sim launch` (loopback, no network at all) the
//! up-link's serialization, the path latency, a jitter drawn uniformly in
//! `0..=jitter` and a loss draw from the compounded loss; under Shadow
//! (whose graph has latency, loss and bandwidth but no jitter) only the
//! jitter. Under Shadow a datagram is held until its arrival time and
//! then sent, so the receiver sees it when the simulator would deliver it.
//! Under `sim launch` it is sent at once and its frame says when it
//! arrives (its due time); the receiver holds it until then and takes it
//! as arriving then, however late the process reads it (a process busy
//! with other work, or not scheduled, reads and sends late; the
//! simulator's hosts take no time). Arrivals are delivered in order of
//! arrival, under `sim launch` after the receiver's down-link has carried
//! them, and are cut by a partition in force when they are delivered.
//!
//! Draws come from the process's own stream (`real-network`, and each
//! rule's `real-fault-rule`), so a real run's choices are fixed by the
//! scenario and seed (the timing of real processes is not).

use std::collections::{BTreeMap, VecDeque};

use node_logic::{HostId, Payload};
use rand::RngExt;
use sim_core::faults::{FaultRules, NetworkRule};
use sim_core::network::Network;
use sim_core::network::routes::PathProps;
use sim_core::rng::StreamRng;
use sim_core::trace::DropReason;
use sim_core::units::{Probability, SimDuration, SimTime};

/// How much of the scenario's network the process reproduces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PathModel {
    /// Everything: latency, jitter, loss and bandwidth of the scenario's
    /// paths (`sim launch`: loopback has none of them).
    Emulate,
    /// Only the jitter, which Shadow's graph lacks (Shadow gives latency,
    /// loss and bandwidth from the exported graph).
    Jitter,
    /// None: a real network provides the path; only fault rules apply.
    Faults,
}

/// A change to the rules in force, at a scenario time.
struct Change {
    at: SimTime,
    index: usize,
    rule: Option<Box<dyn NetworkRule>>,
}

/// A datagram on its way out.
struct Outgoing {
    /// The receiver.
    to: HostId,
    payload: Payload,
    /// The due time its frame carries (see [`NetPath::pop_outgoing`]).
    due_ns: u64,
}

/// A datagram that arrived, waiting for its delivery to the node.
struct Held {
    /// The sender.
    peer: HostId,
    payload: Payload,
}

/// What the path did with its traffic (added to the process's counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathCounters {
    /// Datagrams dropped by the path, by reason (`partition`, `loss`).
    pub dropped: BTreeMap<String, u64>,
    /// Extra copies sent, by destination host id.
    pub copies_to: BTreeMap<u32, u64>,
    /// Inputs the process handled later than they were due (a datagram
    /// read after the process had handled inputs due later: its sender
    /// sent it late), and by how long in all (ns).
    pub late: u64,
    /// See `late`.
    pub late_ns: u64,
}

/// One process's path.
pub struct NetPath {
    me: HostId,
    model: PathModel,
    network: Network,
    /// Each destination's path, once looked up (`None` inside: no route).
    paths: Vec<Option<Option<PathProps>>>,
    rules: FaultRules,
    /// Rule changes still to come, in time order.
    changes: VecDeque<Change>,
    rng: StreamRng,
    up_free: SimTime,
    down_free: SimTime,
    /// Outgoing datagrams by (send time, order).
    outgoing: BTreeMap<(SimTime, u64), Outgoing>,
    /// Incoming datagrams by (arrival time, order): the down-link serves
    /// them first come, first served.
    incoming: BTreeMap<(SimTime, u64), Held>,
    order: u64,
    /// The latest arrival time of a datagram delivered so far.
    delivered_upto: SimTime,
    /// What happened so far.
    pub counters: PathCounters,
}

/// A scheduled rule change that has now taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Its scheduled time.
    pub at: SimTime,
    /// The fault's index in the scenario.
    pub index: usize,
    /// Whether the fault starts (true) or ends.
    pub apply: bool,
}

impl NetPath {
    /// The path of host `me` over `network`, reproducing `model`, drawing
    /// from `rng`.
    pub fn new(me: HostId, model: PathModel, network: Network, rng: StreamRng) -> Self {
        let hosts = network.hosts.len();
        NetPath {
            me,
            model,
            network,
            paths: vec![None; hosts],
            rules: FaultRules::default(),
            changes: VecDeque::new(),
            rng,
            up_free: SimTime::ZERO,
            down_free: SimTime::ZERO,
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            order: 0,
            delivered_upto: SimTime::ZERO,
            counters: PathCounters::default(),
        }
    }

    /// Puts `rule` (fault `index`) in force from `at` until `until`.
    /// Call in time order of `at`; heals are sorted in.
    pub fn schedule(
        &mut self,
        index: usize,
        at: SimTime,
        until: Option<SimTime>,
        rule: Box<dyn NetworkRule>,
    ) {
        self.changes.push_back(Change {
            at,
            index,
            rule: Some(rule),
        });
        if let Some(until) = until {
            self.changes.push_back(Change {
                at: until,
                index,
                rule: None,
            });
        }
        self.changes
            .make_contiguous()
            .sort_by_key(|c| (c.at, c.rule.is_some(), c.index));
    }

    /// Carries out the rule changes due at `now`; returns them.
    pub fn apply_due(&mut self, now: SimTime) -> Vec<Applied> {
        let mut applied = Vec::new();
        while self.changes.front().is_some_and(|c| c.at <= now) {
            let Some(change) = self.changes.pop_front() else {
                break;
            };
            let apply = change.rule.is_some();
            match change.rule {
                Some(rule) => self.rules.insert(change.index, rule),
                None => self.rules.heal(change.index),
            }
            applied.push(Applied {
                at: change.at,
                index: change.index,
                apply,
            });
        }
        applied
    }

    /// The earliest time something is due: a rule change, an outgoing
    /// datagram or a delivery.
    pub fn next_due(&self) -> Option<SimTime> {
        let times = [
            self.next_change(),
            self.outgoing.keys().next().map(|(at, _)| *at),
            self.next_delivery(),
        ];
        times.into_iter().flatten().min()
    }

    /// When the next rule change is due.
    pub fn next_change(&self) -> Option<SimTime> {
        self.changes.front().map(|c| c.at)
    }

    /// When the next incoming datagram is delivered to the node (once the
    /// down-link has carried it, if emulated).
    pub fn next_delivery(&self) -> Option<SimTime> {
        let ((arrived, _), held) = self.incoming.first_key_value()?;
        Some(self.delivery_time(*arrived, held.payload.len()))
    }

    /// When a datagram of `len` bytes that arrived at `arrived` is through
    /// the down-link (which is free from `down_free`), if emulated.
    fn delivery_time(&self, arrived: SimTime, len: usize) -> SimTime {
        if self.model != PathModel::Emulate {
            return arrived;
        }
        let down = self.network.hosts[self.me.index()].down;
        self.down_free.max(arrived) + down.transmit_time(len as u64)
    }

    /// Whether the process reproduces the scenario's paths itself (`sim
    /// launch`): then a datagram carries its due time and the process
    /// handles what was due before the end after the end has passed.
    pub fn emulates(&self) -> bool {
        self.model == PathModel::Emulate
    }

    /// The node sends `payload` to `to` at `now`: dropped, or held until
    /// its arrival time (with any copies).
    pub fn send(&mut self, now: SimTime, to: HostId, payload: Payload) {
        let fate = match self.rules.fate(self.me, to) {
            Ok(fate) => fate,
            Err(reason) => return self.drop(reason),
        };
        let path = self.path_to(to);
        let (latency, jitter, path_loss) = match (self.model, path) {
            (PathModel::Emulate, Some(p)) => (p.latency, p.jitter, p.loss),
            (PathModel::Jitter, Some(p)) => (SimDuration::ZERO, p.jitter, Probability::ZERO),
            (PathModel::Emulate | PathModel::Jitter, None) => {
                return self.drop(DropReason::NoRoute);
            }
            (PathModel::Faults, _) => (SimDuration::ZERO, SimDuration::ZERO, Probability::ZERO),
        };
        let loss = path_loss.compound(fate.extra_loss).value();
        if loss > 0.0 && self.rng.random_bool(loss) {
            return self.drop(DropReason::Loss);
        }
        let mut departure = now;
        if self.model == PathModel::Emulate {
            let up = self.network.hosts[self.me.index()].up;
            departure = self.up_free.max(now) + up.transmit_time(payload.len() as u64);
            self.up_free = departure;
        }
        let jitter = match jitter.as_nanos() {
            0 => SimDuration::ZERO,
            j => SimDuration::from_nanos(self.rng.random_range(0..=j)),
        };
        let arrival = departure + latency + fate.extra_latency + jitter;
        for after in &fate.duplicates {
            *self.counters.copies_to.entry(to.0).or_default() += 1;
            self.hold_out(now, arrival + *after, to, payload.clone());
        }
        self.hold_out(now, arrival, to, payload);
    }

    /// Queues a datagram sent at `now` that arrives at `arrival`. Under
    /// `sim launch` it leaves at once, saying when it is due, and the
    /// receiver holds it until then: held here, it would leave late
    /// whenever this process is busy or not scheduled at its due time.
    /// Elsewhere (under Shadow, whose network adds the latency) it is held
    /// here until its arrival time.
    fn hold_out(&mut self, now: SimTime, arrival: SimTime, to: HostId, payload: Payload) {
        let (send_at, due_ns) = match self.model {
            PathModel::Emulate => (now, arrival.as_nanos()),
            PathModel::Jitter | PathModel::Faults => (arrival, 0),
        };
        self.order += 1;
        let out = Outgoing {
            to,
            payload,
            due_ns,
        };
        self.outgoing.insert((send_at, self.order), out);
    }

    fn drop(&mut self, reason: DropReason) {
        *self
            .counters
            .dropped
            .entry(reason.as_str().to_string())
            .or_default() += 1;
    }

    /// The path to `to`, looked up once.
    fn path_to(&mut self, to: HostId) -> Option<PathProps> {
        let (me, i) = (self.me.index(), to.index());
        if let Some(known) = self.paths.get(i).copied().flatten() {
            return known;
        }
        let network = &mut self.network;
        let found = match (network.hosts.get(me), network.hosts.get(i)) {
            (Some(a), Some(b)) => network.routes.path(&network.topology, a.vertex, b.vertex),
            _ => None,
        };
        if let Some(slot) = self.paths.get_mut(i) {
            *slot = Some(found);
        }
        found
    }

    /// Counts an input handled `by` later than it was due.
    pub fn count_late(&mut self, by: SimDuration) {
        self.counters.late += 1;
        self.counters.late_ns += by.as_nanos();
    }

    /// The next outgoing datagram to be sent by `now`: (receiver,
    /// payload, the due time its frame carries: its arrival time when the
    /// path is emulated, else 0).
    pub fn pop_outgoing(&mut self, now: SimTime) -> Option<(HostId, Payload, u64)> {
        let first = self.outgoing.first_entry()?;
        if first.key().0 > now {
            return None;
        }
        let out = first.remove();
        Some((out.to, out.payload, out.due_ns))
    }

    /// A datagram from `from` reached the socket at `now`; its frame says
    /// it is due at `due_ns` (0: none). It arrived at its due time if the
    /// path is emulated (the sender's delay line set it), else now.
    pub fn arrive(&mut self, now: SimTime, from: HostId, payload: Payload, due_ns: u64) {
        let arrived = match self.model {
            PathModel::Emulate if due_ns != 0 => SimTime::from_nanos(due_ns),
            PathModel::Emulate | PathModel::Jitter | PathModel::Faults => now,
        };
        self.order += 1;
        if arrived < self.delivered_upto {
            self.count_late(self.delivered_upto - arrived);
        }
        let held = Held {
            peer: from,
            payload,
        };
        self.incoming.insert((arrived, self.order), held);
    }

    /// The next incoming datagram delivered by `now`: (sender, payload),
    /// unless a partition in force cuts it (then the next).
    pub fn pop_incoming(&mut self, now: SimTime) -> Option<(HostId, Payload)> {
        while let Some(delivered) = self.next_delivery().filter(|at| *at <= now) {
            let ((arrived, _), held) = self.incoming.pop_first()?;
            self.delivered_upto = self.delivered_upto.max(arrived);
            if self.model == PathModel::Emulate {
                self.down_free = delivered;
            }
            if !self.rules.is_empty() && self.rules.cuts(held.peer, self.me) {
                self.drop(DropReason::Partition);
                continue;
            }
            return Some((held.peer, held.payload));
        }
        None
    }

    /// What is still in the path at the end: (datagrams and copies not
    /// yet sent, by receiver; received but not yet delivered, by sender).
    pub fn in_flight(&self) -> (BTreeMap<u32, u64>, BTreeMap<u32, u64>) {
        let (mut to, mut from) = (BTreeMap::new(), BTreeMap::new());
        for out in self.outgoing.values() {
            *to.entry(out.to.0).or_default() += 1;
        }
        for held in self.incoming.values() {
            *from.entry(held.peer.0).or_default() += 1;
        }
        (to, from)
    }
}

#[cfg(test)]
mod tests {
    use sim_core::faults::{LinkRule, PartitionRule};
    use sim_core::network::Link;
    use sim_core::rng::RngStreams;

    use super::*;

    const MS: u64 = 1_000_000;

    /// Host 0's path over a 3-host mesh: 20 ms latency, `jitter`, `loss`,
    /// 8 Mbit (1000 bytes take 1 ms to serialize).
    fn path(model: PathModel, jitter: u64, loss: f64) -> NetPath {
        let link = Link {
            latency: SimDuration::from_millis(20),
            jitter: SimDuration::from_millis(jitter),
            loss: Probability::new(loss).unwrap(),
        };
        let network = Network::mesh(3, link, "8 Mbit".parse().unwrap());
        let rng = RngStreams::new(1).stream("real-network", 0);
        NetPath::new(HostId(0), model, network, rng)
    }

    fn at(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * MS)
    }

    fn payload() -> Payload {
        vec![7u8; 1000].into()
    }

    /// Everything sent out by `until`, with its send time (its due time
    /// when it carries one).
    fn drain(p: &mut NetPath, until: u64) -> Vec<(u64, HostId)> {
        let mut out = Vec::new();
        for ms in 0..=until {
            while let Some((to, _, due_ns)) = p.pop_outgoing(at(ms)) {
                let due = if due_ns == 0 { ms } else { due_ns / MS };
                out.push((due, to));
            }
        }
        out
    }

    #[test]
    fn emulated_paths_serialize_and_delay_as_the_simulator() {
        let mut p = path(PathModel::Emulate, 0, 0.0);
        p.send(at(0), HostId(1), payload());
        p.send(at(0), HostId(2), payload());
        // 1 ms on the up-link each (queued), then 20 ms on the path.
        assert_eq!(drain(&mut p, 50), vec![(21, HostId(1)), (22, HostId(2))]);
        // Under Shadow the graph has the latency: only jitter (none here).
        let mut p = path(PathModel::Jitter, 0, 0.0);
        p.send(at(5), HostId(1), payload());
        assert_eq!(drain(&mut p, 50), vec![(5, HostId(1))]);
        // Arrivals wait for the down-link when emulated.
        let mut p = path(PathModel::Emulate, 0, 0.0);
        p.arrive(at(3), HostId(2), payload(), 0);
        assert!(p.pop_incoming(at(3)).is_none());
        assert_eq!(p.pop_incoming(at(4)).map(|(h, _)| h), Some(HostId(2)));
    }

    #[test]
    fn an_emulated_datagram_carries_its_due_time_and_arrives_then() {
        let mut p = path(PathModel::Emulate, 0, 0.0);
        p.send(at(0), HostId(1), payload());
        // It leaves at once and says when it is due.
        assert_eq!(p.pop_outgoing(at(0)).map(|(_, _, due)| due), Some(21 * MS));
        // Read late, a datagram counts from its due time: the down-link
        // took 1 ms, and those read out of order are delivered in order.
        p.arrive(at(40), HostId(2), payload(), 12 * MS);
        p.arrive(at(41), HostId(1), payload(), 10 * MS);
        assert_eq!(p.next_delivery(), Some(at(11)));
        assert_eq!(p.pop_incoming(at(41)).map(|(h, _)| h), Some(HostId(1)));
        assert_eq!(p.next_delivery(), Some(at(13)));
        assert_eq!(p.pop_incoming(at(41)).map(|(h, _)| h), Some(HostId(2)));
        assert_eq!((p.counters.late, p.counters.late_ns), (0, 0));
        // One due before a datagram already delivered came too late: it is
        // delivered now (after the down-link) and counted.
        p.arrive(at(42), HostId(1), payload(), 11 * MS);
        assert_eq!(p.pop_incoming(at(42)).map(|(h, _)| h), Some(HostId(1)));
        assert_eq!((p.counters.late, p.counters.late_ns), (1, MS));
        // Back-to-back arrivals queue on the down-link.
        p.arrive(at(50), HostId(1), payload(), 20 * MS);
        p.arrive(at(50), HostId(2), payload(), 20 * MS);
        assert_eq!(p.pop_incoming(at(50)).map(|(h, _)| h), Some(HostId(1)));
        assert_eq!(p.next_delivery(), Some(at(22)));
        // Under Shadow the network decides: no due time goes out, and a
        // datagram arrives when it is read.
        let mut p = path(PathModel::Jitter, 0, 0.0);
        p.send(at(5), HostId(1), payload());
        assert_eq!(p.pop_outgoing(at(5)).map(|(_, _, due)| due), Some(0));
        p.arrive(at(9), HostId(2), payload(), 3 * MS);
        assert_eq!(p.next_delivery(), Some(at(9)));
    }

    /// A frame may claim any due time (a peer's bug, or a hostile signer):
    /// one far ahead waits for it without holding up the datagrams due
    /// before it, without overflowing the down-link's arithmetic, and is
    /// reported in flight at the end rather than delivered early.
    #[test]
    fn a_datagram_due_far_ahead_waits_without_holding_up_the_others() {
        let mut p = path(PathModel::Emulate, 0, 0.0);
        p.arrive(at(1), HostId(1), payload(), u64::MAX);
        p.arrive(at(2), HostId(2), payload(), 1_000_000 * MS);
        p.arrive(at(3), HostId(1), payload(), 3 * MS);
        assert_eq!(p.next_delivery(), Some(at(4)));
        assert_eq!(p.pop_incoming(at(4)).map(|(h, _)| h), Some(HostId(1)));
        assert_eq!(p.next_delivery(), Some(at(1_000_001)));
        assert!(p.pop_incoming(at(500_000)).is_none());
        assert_eq!(
            p.pop_incoming(at(1_000_001)).map(|(h, _)| h),
            Some(HostId(2))
        );
        // The last saturates at the end of time instead of wrapping.
        assert_eq!(p.next_delivery(), Some(SimTime::NEVER));
        assert!(p.pop_incoming(at(u64::MAX / MS)).is_none());
        let (_, from) = p.in_flight();
        assert_eq!(from, BTreeMap::from([(1, 1)]));
        assert_eq!((p.counters.late, p.counters.late_ns), (0, 0));
    }

    #[test]
    fn loss_and_jitter_are_drawn_from_the_seeded_stream() {
        let run = || {
            let mut p = path(PathModel::Emulate, 10, 0.3);
            for i in 0..200 {
                p.send(at(i * 10), HostId(1), vec![1u8].into());
            }
            (drain(&mut p, 3000), p.counters.clone())
        };
        let (sent, counters) = run();
        let lost = counters.dropped["loss"];
        assert!((40..80).contains(&lost), "{lost} of 200 lost at 30 %");
        assert_eq!(sent.len() as u64 + lost, 200);
        let delays: Vec<u64> = sent.iter().map(|(ms, _)| ms % 10).collect();
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter varies");
        assert_eq!(run(), (sent, counters), "same seed, same draws");
    }

    #[test]
    fn fault_rules_drop_delay_and_heal_on_schedule() {
        let mut p = path(PathModel::Faults, 0, 0.0);
        let sides = [vec![HostId(0)], vec![HostId(1)]];
        p.schedule(
            0,
            at(10),
            Some(at(20)),
            Box::new(PartitionRule::new(&sides, false)),
        );
        let slow = LinkRule::new(
            &[HostId(0)],
            &[HostId(2)],
            SimDuration::from_millis(5),
            Probability::ZERO,
        );
        p.schedule(1, at(30), None, Box::new(slow));
        assert_eq!(p.next_due(), Some(at(10)));
        let applied = p.apply_due(at(15));
        assert_eq!(
            applied,
            vec![Applied {
                at: at(10),
                index: 0,
                apply: true
            }]
        );
        p.send(at(15), HostId(1), payload());
        p.send(at(15), HostId(2), payload());
        // A datagram from across the partition arriving now is cut too.
        p.arrive(at(15), HostId(1), payload(), 0);
        assert!(p.pop_incoming(at(15)).is_none());
        assert_eq!(p.counters.dropped["partition"], 2);
        assert_eq!(drain(&mut p, 15), vec![(15, HostId(2))]);
        let healed = p.apply_due(at(35));
        assert_eq!(
            healed
                .iter()
                .map(|a| (a.index, a.apply))
                .collect::<Vec<_>>(),
            vec![(0, false), (1, true)]
        );
        p.send(at(35), HostId(1), payload());
        p.send(at(35), HostId(2), payload());
        let sent: Vec<(u64, HostId)> = drain(&mut p, 60)
            .into_iter()
            .filter(|(ms, _)| *ms >= 35)
            .collect();
        assert_eq!(sent, vec![(35, HostId(1)), (40, HostId(2))]);
        assert_eq!(p.in_flight(), (BTreeMap::new(), BTreeMap::new()));
    }
}
