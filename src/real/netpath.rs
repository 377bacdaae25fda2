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
//! jitter. A datagram is held until its arrival time and then sent, so the
//! receiver sees it when the simulator would deliver it. Arrivals are
//! cut by a partition in force when they arrive (in flight when it
//! started), and under `sim launch` wait for the receiver's down-link.
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

/// A datagram waiting in the path.
struct Held {
    /// The other end (the receiver of an outgoing one, the sender of an
    /// incoming one).
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
    outgoing: BTreeMap<(SimTime, u64), Held>,
    /// Incoming datagrams by delivery time (in arrival order: the
    /// down-link serves them first come, first served).
    incoming: VecDeque<(SimTime, Held)>,
    order: u64,
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
            incoming: VecDeque::new(),
            order: 0,
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
            self.changes.front().map(|c| c.at),
            self.outgoing.keys().next().map(|(at, _)| *at),
            self.incoming.front().map(|(at, _)| *at),
        ];
        times.into_iter().flatten().min()
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
            self.hold_out(arrival + *after, to, payload.clone());
        }
        self.hold_out(arrival, to, payload);
    }

    fn hold_out(&mut self, at: SimTime, to: HostId, payload: Payload) {
        self.order += 1;
        let held = Held { peer: to, payload };
        self.outgoing.insert((at, self.order), held);
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

    /// The next outgoing datagram due at `now`: (receiver, payload).
    pub fn pop_outgoing(&mut self, now: SimTime) -> Option<(HostId, Payload)> {
        let first = self.outgoing.first_entry()?;
        if first.key().0 > now {
            return None;
        }
        let held = first.remove();
        Some((held.peer, held.payload))
    }

    /// A datagram from `from` reached the socket at `now`: cut by a
    /// partition in force, or queued for the down-link (at once unless
    /// the path is emulated).
    pub fn arrive(&mut self, now: SimTime, from: HostId, payload: Payload) {
        if !self.rules.is_empty() && self.rules.cuts(from, self.me) {
            return self.drop(DropReason::Partition);
        }
        let mut delivered = now;
        if self.model == PathModel::Emulate {
            let down = self.network.hosts[self.me.index()].down;
            delivered = self.down_free.max(now) + down.transmit_time(payload.len() as u64);
            self.down_free = delivered;
        }
        let held = Held {
            peer: from,
            payload,
        };
        self.incoming.push_back((delivered, held));
    }

    /// The next incoming datagram deliverable at `now`: (sender, payload),
    /// unless a partition started while it crossed the down-link.
    pub fn pop_incoming(&mut self, now: SimTime) -> Option<(HostId, Payload)> {
        while self.incoming.front().is_some_and(|(at, _)| *at <= now) {
            let (_, held) = self.incoming.pop_front()?;
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
        for held in self.outgoing.values() {
            *to.entry(held.peer.0).or_default() += 1;
        }
        for (_, held) in &self.incoming {
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

    /// Everything sent out by `until`, with its send time.
    fn drain(p: &mut NetPath, until: u64) -> Vec<(u64, HostId)> {
        let mut out = Vec::new();
        for ms in 0..=until {
            while let Some((to, _)) = p.pop_outgoing(at(ms)) {
                out.push((ms, to));
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
        p.arrive(at(3), HostId(2), payload());
        assert!(p.pop_incoming(at(3)).is_none());
        assert_eq!(p.pop_incoming(at(4)).map(|(h, _)| h), Some(HostId(2)));
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
        p.arrive(at(15), HostId(1), payload());
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
