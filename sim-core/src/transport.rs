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
//!
//! A message larger than a datagram ([`MAX_DATAGRAM`], up to
//! [`MAX_MESSAGE`]) travels as [`fragment::datagrams`] fragments, as real
//! processes send it: each fragment's header is charged to both links,
//! loss is drawn per fragment (any lost fragment loses the message) and
//! jitter per fragment (the message is whole when its last fragment
//! arrives). A message that fits a datagram makes exactly the draws it
//! always did.

use node_logic::HostId;
use node_logic::codec::{MAX_DATAGRAM, MAX_MESSAGE};
use node_logic::fragment::{self, FRAGMENT_DATA, FRAGMENT_HEADER};
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
        if size > MAX_MESSAGE {
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
        let datagrams = fragment::datagrams(size);
        if loss > 0.0 && (0..datagrams).any(|_| self.rng.random_bool(loss)) {
            return Err(DropReason::Loss);
        }
        let (latency, jitter) = (path.latency + fate.extra_latency, path.jitter.as_nanos());
        let queue = &mut self.queues[from.index()];
        let start = queue.up_free.max(now);
        let departure = start + up.transmit_time(wire_bytes(size));
        queue.up_free = departure;
        // Fragment i has left once the bytes up to its end are serialized;
        // the message is whole when the last fragment arrives.
        let mut arrival = SimTime::ZERO;
        for i in 1..=datagrams {
            let left = if i == datagrams {
                departure
            } else {
                start + up.transmit_time((i * (FRAGMENT_DATA + FRAGMENT_HEADER)) as u64)
            };
            let jitter = match jitter {
                0 => SimDuration::ZERO,
                j => SimDuration::from_nanos(self.rng.random_range(0..=j)),
            };
            arrival = arrival.max(left + latency + jitter);
        }
        Ok(Sent {
            arrival,
            duplicates: fate.duplicates,
        })
    }

    /// A message of `size` bytes reaches `to`'s down-link at `now`: when it
    /// is fully received.
    pub fn arrive(&mut self, now: SimTime, to: HostId, size: usize) -> SimTime {
        let down = self.network.hosts[to.index()].down;
        let queue = &mut self.queues[to.index()];
        let delivered = queue.down_free.max(now) + down.transmit_time(wire_bytes(size));
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

/// Bytes a message of `size` bytes puts on a link: itself, plus each
/// fragment's header if it does not fit one datagram.
fn wire_bytes(size: usize) -> u64 {
    let fragments = fragment::datagrams(size);
    let headers = if size > MAX_DATAGRAM {
        fragments * FRAGMENT_HEADER
    } else {
        0
    };
    (size + headers) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Link;
    use crate::rng::RngStreams;
    use crate::units::{Bandwidth, Probability};

    fn transport(loss: f64, jitter_ms: u64) -> Transport {
        let link = Link {
            latency: SimDuration::from_millis(10),
            jitter: SimDuration::from_millis(jitter_ms),
            loss: Probability::new(loss).unwrap(),
        };
        // 8 Mbit/s: one byte a microsecond.
        let bandwidth = Bandwidth::from_bits_per_sec(8_000_000).unwrap();
        let rng = RngStreams::new(7).stream("network", 0);
        Transport::new(Network::mesh(2, link, bandwidth), rng)
    }

    fn send(t: &mut Transport, size: usize) -> Result<Sent, DropReason> {
        let mut rules = FaultRules::default();
        t.send(SimTime::ZERO, HostId(0), HostId(1), size, &mut rules)
    }

    #[test]
    fn a_message_larger_than_a_datagram_is_charged_every_fragment_header() {
        let size = 3 * FRAGMENT_DATA;
        let sent = send(&mut transport(0.0, 0), size).unwrap();
        let bytes = (size + 3 * FRAGMENT_HEADER) as u64;
        let expect = SimTime::ZERO + SimDuration::from_micros(bytes) + SimDuration::from_millis(10);
        assert_eq!(sent.arrival, expect);
        // One datagram: its own size only, as always.
        let sent = send(&mut transport(0.0, 0), MAX_DATAGRAM).unwrap();
        let one = SimDuration::from_micros(MAX_DATAGRAM as u64) + SimDuration::from_millis(10);
        assert_eq!(sent.arrival, SimTime::ZERO + one);
        assert_eq!(
            send(&mut transport(0.0, 0), MAX_MESSAGE + 1),
            Err(DropReason::TooLarge)
        );
    }

    #[test]
    fn losing_any_fragment_loses_the_message() {
        // 10 % loss per datagram: a 16-fragment message arrives with
        // probability 0.9^16 = 0.185; a small one 0.9.
        let (mut small, mut large) = (0, 0);
        let mut t = transport(0.1, 0);
        for _ in 0..2000 {
            small += usize::from(send(&mut t, 100).is_ok());
            large += usize::from(send(&mut t, 16 * FRAGMENT_DATA).is_ok());
        }
        assert!((1700..1900).contains(&small), "{small}");
        assert!((280..460).contains(&large), "{large}");
    }

    #[test]
    fn a_fragmented_message_is_whole_when_its_latest_fragment_arrives() {
        let size = 4 * FRAGMENT_DATA;
        let serialize = SimDuration::from_micros((size + 4 * FRAGMENT_HEADER) as u64);
        let mut t = transport(0.0, 50);
        let base = SimTime::ZERO + SimDuration::from_millis(10);
        let mut latest_beyond_last = false;
        for _ in 0..200 {
            let arrival = send(&mut t, size).unwrap().arrival;
            let now_free = t.queues[0].up_free;
            t.queues[0].up_free = SimTime::ZERO;
            assert_eq!(now_free, SimTime::ZERO + serialize);
            assert!(
                arrival >= base + serialize,
                "never before the last fragment"
            );
            assert!(arrival <= base + serialize + SimDuration::from_millis(50));
            latest_beyond_last |= arrival > base + serialize + SimDuration::from_millis(25);
        }
        assert!(latest_beyond_last, "the max of four jitters is often late");
    }
}
