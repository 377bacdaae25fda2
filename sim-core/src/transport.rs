//! Moves datagrams over the simulated network: route, loss, jitter,
//! serialization delay and per-host up/down queues.
//!
//! A message leaves the sender when its up-link is free and its last bit is
//! serialized (`size / bandwidth_up`, FIFO per host), crosses the path
//! (latency, plus a jitter drawn uniformly from `0..=jitter`, plus any
//! degraded-link latency), then waits for the receiver's down-link and is
//! serialized again (`size / bandwidth_down`). Loss is drawn once per
//! message from the compounded path loss. All draws come from the network's
//! own RNG stream, in event order.

use node_logic::HostId;
use node_logic::codec::MAX_DATAGRAM;
use rand::RngExt;

use crate::faults::{Fate, FaultRules};
use crate::network::Network;
use crate::rng::StreamRng;
use crate::trace::DropReason;
use crate::units::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, Default)]
struct Queues {
    up_free: SimTime,
    down_free: SimTime,
}

/// Where a sent message goes: its arrival at the receiver's down-link,
/// and the arrival offsets of duplicates a fault rule made (after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When the original reaches the receiver's down-link.
    pub arrival: SimTime,
    /// How long after it each duplicate arrives (usually none).
    pub duplicates: Vec<SimDuration>,
}

/// The network in motion: topology, routes, queues and the network RNG.
#[derive(Debug)]
pub struct Transport {
    network: Network,
    rng: StreamRng,
    queues: Vec<Queues>,
}

impl Transport {
    /// A transport over `network`, drawing from `rng`.
    pub fn new(network: Network, rng: StreamRng) -> Self {
        let queues = vec![Queues::default(); network.hosts.len()];
        Transport {
            network,
            rng,
            queues,
        }
    }

    /// A message of `size` bytes leaves `from` for `to` at `now`: when it
    /// (and any duplicate a fault rule makes) reaches the receiver's
    /// down-link, or why it is lost.
    pub fn send(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        size: usize,
        rules: &mut FaultRules,
    ) -> Result<Sent, DropReason> {
        if size > MAX_DATAGRAM {
            return Err(DropReason::TooLarge);
        }
        let fate = if rules.is_empty() {
            Fate::CLEAR
        } else {
            rules.fate(from, to)?
        };
        let (src, dst) = (
            &self.network.hosts[from.index()],
            &self.network.hosts[to.index()],
        );
        let (up, src_vertex, dst_vertex) = (src.up, src.vertex, dst.vertex);
        let path = self
            .network
            .routes
            .path(&self.network.topology, src_vertex, dst_vertex)
            .ok_or(DropReason::NoRoute)?;
        let loss = path.loss.compound(fate.extra_loss).value();
        if loss > 0.0 && self.rng.random_bool(loss) {
            return Err(DropReason::Loss);
        }
        let queue = &mut self.queues[from.index()];
        let departure = queue.up_free.max(now) + up.transmit_time(size as u64);
        queue.up_free = departure;
        let jitter = match path.jitter.as_nanos() {
            0 => SimDuration::ZERO,
            j => SimDuration::from_nanos(self.rng.random_range(0..=j)),
        };
        Ok(Sent {
            arrival: departure + path.latency + fate.extra_latency + jitter,
            duplicates: fate.duplicates,
        })
    }

    /// A message of `size` bytes reaches `to`'s down-link at `now`: when it
    /// is fully received.
    pub fn arrive(&mut self, now: SimTime, to: HostId, size: usize) -> SimTime {
        let down = self.network.hosts[to.index()].down;
        let queue = &mut self.queues[to.index()];
        let delivered = queue.down_free.max(now) + down.transmit_time(size as u64);
        queue.down_free = delivered;
        delivered
    }

    /// A crashed host's queues empty (its socket buffers are gone).
    pub fn reset_host(&mut self, host: HostId, now: SimTime) {
        self.queues[host.index()] = Queues {
            up_free: now,
            down_free: now,
        };
    }

    /// The network description.
    pub fn network(&self) -> &Network {
        &self.network
    }
}
