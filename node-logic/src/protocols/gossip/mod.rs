//! Rumor spreading by push gossip: the way a network with no directory of
//! everyone gets a piece of news (an announcement, a transaction) to every
//! member.
//!
//! # Behaviour
//!
//! - A member **originates** each rumor its configuration lists, at the
//!   rumor's time: it learns it at 0 hops and starts pushing it.
//! - A member that **learns** a rumor (it originates it, or receives it for
//!   the first time) pushes it for `rounds` rounds, one round every
//!   `interval` (the first at a random point of the first interval, so
//!   members do not tick in lockstep): each round it sends the rumor to
//!   `fanout` members drawn uniformly, without repetition, from the others
//!   (from the host's RNG). A receiver learns it at the sender's hops + 1.
//! - **Over the peer overlay** (`over_peers`): the members a round draws
//!   from are the host's peers up in its peer registry at that moment (its
//!   bounded view), not every member: dissemination uses only connections
//!   the host has, as in a real network where nobody knows everyone. With
//!   no peer up, a round sends nothing (the rumor's rounds still count
//!   down).
//! - **Duplicates** (a rumor already known) are counted and dropped: no
//!   second push, no observation. Only members' datagrams are taken
//!   (others are rejected `NotAMember`); malformed ones are rejected.
//! - A crash forgets everything: a restarted member learns rumors again
//!   when they reach it, and does not originate rumors whose time passed.
//!
//! - **Carried datagrams.** Another protocol of the host may hand gossip a
//!   datagram of its own to spread ([`Gossip::originate_carried`]; the
//!   load client does, with `[load] over = "gossip"`): it becomes a rumor
//!   like the others (kind 2, the datagram as its body), and every member
//!   that learns it hands the datagram to its host
//!   ([`Gossip::take_carried`]), which delivers it to the protocol its tag
//!   names as if it came from the rumor's origin (a validator then checks
//!   a transaction as it would a direct submission). Its id is `(origin,
//!   rumors configured + key)`, `key` given by the originating protocol
//!   and never reused across restarts (a transaction's nonce).
//! - **Registry announcements** (`carry_registry`): a registrar's
//!   announcement of the wallet registry becomes a carried rumor the same
//!   way (its key [`registry_key`]: the high bit set and the announcement's
//!   time in milliseconds), delivered to every miner it reaches as if the
//!   registrar had sent it; a registrar it reaches only relays it.
//! - **Consensus broadcasts** (`carry_consensus`, [`CarryConsensus`]): a
//!   validator's proposals and block bodies (`Blocks`), and also its votes,
//!   view changes and new views (`All`), become carried rumors instead of
//!   one datagram to each other validator ([`Gossip::originate_consensus`];
//!   keys from [`consensus_key`]); every validator that learns one takes it
//!   as if its origin had sent it and checks it as today. Point-to-point
//!   traffic (catch-up, resends, an equivocating leader's split proposal)
//!   and datagrams too large for a rumor stay direct.
//!
//! Rumors are not signed: this protocol models dissemination (delay,
//! coverage, redundancy), not authenticity (a carried datagram has its
//! own signature, checked by the protocol it is for). A datagram is
//! `[version][tag 4][kind 1][origin u32][seq u32][hops u8][body bytes]`,
//! the body being the rumor's payload (its size travels through the
//! bandwidth model) or, for kind 2, the carried datagram.

use std::collections::BTreeMap;

use rand::RngExt;

use crate::HostId;
use crate::codec::{DecodeError, MAX_DATAGRAM, Reader};
use crate::io::{Payload, RejectReason};
use crate::observe::{Described, Description, TraceWriter, Traced};
use crate::outbox::Outbox;
use crate::protocols::peers::Membership;
use crate::protocols::{Cx, HostProtocol, Observation, ProtocolTag, TimerId};
use crate::time::{SimDuration, SimTime};
use crate::wire::frame;

/// The message kind byte of a rumor.
const KIND_RUMOR: u8 = 1;
/// The message kind byte of a rumor carrying another protocol's datagram.
const KIND_CARRIED: u8 = 2;
/// Bytes of a rumor datagram besides its body.
const HEADER: usize = 2 + 1 + 4 + 4 + 1 + 4;
/// The largest rumor body.
pub const MAX_RUMOR_BYTES: usize = MAX_DATAGRAM - HEADER;

/// A rumor, named by who started it and its number there.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RumorId {
    /// The member that originated it.
    pub origin: HostId,
    /// Its number among that member's rumors.
    pub seq: u32,
}

/// A rumor a member starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RumorSpec {
    /// When (the member's clock).
    pub at: SimTime,
    /// The payload's size in bytes (at most [`MAX_RUMOR_BYTES`]).
    pub size: u32,
}

/// How a member gossips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// This member.
    pub me: HostId,
    /// Every member (this one included), shared by all members.
    pub members: Membership,
    /// Members pushed to per round.
    pub fanout: u32,
    /// Rounds a member pushes a rumor after learning it.
    pub rounds: u32,
    /// Between rounds.
    pub interval: SimDuration,
    /// The rumors this member starts, in time order.
    pub rumors: Vec<RumorSpec>,
    /// Push to the host's up peers of the peer registry, not to any member.
    pub over_peers: bool,
    /// Carry the host's registrar's registry announcement (see the module
    /// docs) instead of its sending one datagram to each miner.
    pub carry_registry: bool,
    /// Which of the host's validator's broadcasts gossip carries.
    pub carry_consensus: CarryConsensus,
}

/// Which consensus broadcasts gossip carries (`[gossip] carry_consensus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CarryConsensus {
    /// None: validators broadcast directly (the default).
    #[default]
    Off,
    /// Proposals (pre-prepares) and block bodies.
    Blocks,
    /// Proposals, block bodies, votes, view changes and new views.
    All,
}

impl CarryConsensus {
    /// Whether proposals and block bodies travel by gossip.
    pub fn blocks(self) -> bool {
        match self {
            CarryConsensus::Off => false,
            CarryConsensus::Blocks | CarryConsensus::All => true,
        }
    }
    /// Whether votes, view changes and new views travel by gossip.
    pub fn votes(self) -> bool {
        match self {
            CarryConsensus::Off | CarryConsensus::Blocks => false,
            CarryConsensus::All => true,
        }
    }
}

/// Gossip's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GossipTimer {
    /// Push every rumor still being spread.
    Round,
    /// Originate the next rumor.
    Originate,
}

/// What gossip reports (wrapped in [`Observation::Gossip`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GossipEvent {
    /// This member started a rumor.
    Originated {
        /// The rumor.
        rumor: RumorId,
        /// Its payload's size.
        size: u32,
    },
    /// This member learned a rumor for the first time.
    Learned {
        /// The rumor.
        rumor: RumorId,
        /// Who sent it.
        from: HostId,
        /// How many pushes it took from the origin.
        hops: u32,
    },
}

/// Counters a member keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Rumors pushed (datagrams sent).
    pub pushed: u64,
    /// Rumors received that were already known.
    pub duplicates: u64,
}

/// A rumor a member knows.
#[derive(Clone, Debug)]
struct Known {
    hops: u32,
    size: u32,
    rounds_left: u32,
    /// The datagram it carries, if it is a carried rumor.
    carried: Option<Payload>,
}

/// One member's gossip state machine.
#[derive(Debug)]
pub struct Gossip {
    config: GossipConfig,
    known: BTreeMap<RumorId, Known>,
    /// The next of its own rumors to originate.
    next_rumor: usize,
    /// When the next round is set for, if one is.
    round_at: Option<SimTime>,
    stats: GossipStats,
    /// Carried datagrams learned but not yet taken by the host.
    to_deliver: Vec<(HostId, Payload)>,
    /// The next consensus counter ([`consensus_key`]).
    next_consensus: u32,
}

impl Gossip {
    /// A member running `config`.
    pub fn new(config: GossipConfig) -> Self {
        Gossip {
            config,
            known: BTreeMap::new(),
            next_rumor: 0,
            round_at: None,
            stats: GossipStats::default(),
            to_deliver: Vec::new(),
            next_consensus: 0,
        }
    }
    /// The rumors it knows, with the hops they took.
    pub fn known(&self) -> impl Iterator<Item = (RumorId, u32)> + '_ {
        self.known.iter().map(|(id, k)| (*id, k.hops))
    }
    /// Its counters.
    pub fn stats(&self) -> GossipStats {
        self.stats
    }

    /// Starts spreading `datagram`, another protocol's message, as a rumor
    /// from this member (see the module docs); `key` tells this host's
    /// carried rumors apart and must never repeat, restarts included.
    pub fn originate_carried(&mut self, cx: &mut Cx<'_>, key: u64, datagram: Payload) {
        let configured = u32::try_from(self.config.rumors.len()).unwrap_or(u32::MAX);
        let id = RumorId {
            origin: self.config.me,
            seq: configured.wrapping_add(key as u32),
        };
        let size = u32::try_from(datagram.as_slice().len()).unwrap_or(u32::MAX);
        cx.out.record(Observation::Gossip(GossipEvent::Originated {
            rumor: id,
            size,
        }));
        self.learn(cx, id, 0, size, Some(datagram));
    }

    /// Starts spreading a consensus broadcast of this host's validator (a
    /// proposal or block body when `block`, else a vote or view message),
    /// under the next [`consensus_key`].
    pub fn originate_consensus(&mut self, cx: &mut Cx<'_>, block: bool, datagram: Payload) {
        let floor = u32::try_from((cx.now.as_nanos() / 1_000_000) << 3).unwrap_or(u32::MAX);
        let counter = self.next_consensus.max(floor & CONSENSUS_COUNTER);
        self.next_consensus = counter.wrapping_add(1) & CONSENSUS_COUNTER;
        self.originate_carried(cx, consensus_key(block, counter), datagram);
    }

    /// The carried datagrams learned since the last call, each with the
    /// rumor's origin, for the host to deliver to its protocols.
    pub fn take_carried(&mut self) -> Vec<(HostId, Payload)> {
        std::mem::take(&mut self.to_deliver)
    }

    /// Whether rounds draw from the host's up peers (see the module docs).
    pub fn over_peers(&self) -> bool {
        self.config.over_peers
    }

    /// Which of its host's consensus broadcasts this member carries.
    pub fn carries_consensus(&self) -> CarryConsensus {
        self.config.carry_consensus
    }

    /// Whether this member carries its host's registry announcements.
    pub fn carries_registry(&self) -> bool {
        self.config.carry_registry
    }

    /// A gossip timer fired; early (moved) or spurious ones are no-ops.
    /// `view`: the host's up peers, when gossip runs over the overlay.
    pub(crate) fn timer(&mut self, cx: &mut Cx<'_>, timer: GossipTimer, view: Option<&[HostId]>) {
        match timer {
            GossipTimer::Round if self.round_at.is_some_and(|at| cx.now >= at) => {
                self.round_at = None;
                self.push_round(cx, view);
            }
            GossipTimer::Originate => self.originate_due(cx),
            GossipTimer::Round => {}
        }
    }

    fn originate_due(&mut self, cx: &mut Cx<'_>) {
        while let Some(rumor) = self.config.rumors.get(self.next_rumor).copied() {
            if rumor.at > cx.now {
                return cx
                    .out
                    .set_timer(TimerId::Gossip(GossipTimer::Originate), rumor.at);
            }
            let seq = u32::try_from(self.next_rumor).unwrap_or(u32::MAX);
            self.next_rumor += 1;
            let id = RumorId {
                origin: self.config.me,
                seq,
            };
            cx.out.record(Observation::Gossip(GossipEvent::Originated {
                rumor: id,
                size: rumor.size,
            }));
            self.learn(cx, id, 0, rumor.size, None);
        }
    }

    /// Starts spreading a rumor just learned.
    fn learn(
        &mut self,
        cx: &mut Cx<'_>,
        id: RumorId,
        hops: u32,
        size: u32,
        carried: Option<Payload>,
    ) {
        let rounds_left = self.config.rounds;
        self.known.insert(
            id,
            Known {
                hops,
                size,
                rounds_left,
                carried,
            },
        );
        if self.round_at.is_none() && rounds_left > 0 {
            let first = cx.rng.random_range(0..=self.config.interval.as_nanos());
            let at = cx.now + SimDuration::from_nanos(first);
            self.round_at = Some(at);
            cx.out.set_timer(TimerId::Gossip(GossipTimer::Round), at);
        }
    }

    /// One round: every rumor with rounds left goes to `fanout` others
    /// (members, or the up peers in `view` that are members).
    fn push_round(&mut self, cx: &mut Cx<'_>, view: Option<&[HostId]>) {
        let me = self.config.me;
        let candidates = match (self.config.over_peers, view) {
            (true, Some(view)) => view,
            (true, None) => &[][..],
            (false, _) => self.config.members.as_slice(),
        };
        let mut others: Vec<HostId> = candidates
            .iter()
            .copied()
            .filter(|&m| m != me && self.config.members.contains(m))
            .collect();
        let fanout = (self.config.fanout as usize).min(others.len());
        let mut busy = false;
        for (id, known) in self.known.iter_mut().filter(|(_, k)| k.rounds_left > 0) {
            known.rounds_left -= 1;
            busy |= known.rounds_left > 0;
            let carried = match known.rounds_left {
                // Its last push: the datagram is not needed any more.
                0 => known.carried.take(),
                _ => known.carried.clone(),
            };
            // A partial Fisher-Yates shuffle: the first `fanout` are a
            // uniform sample without repetition.
            for i in 0..fanout {
                let j = cx.rng.random_range(i..others.len());
                others.swap(i, j);
            }
            let hops = known.hops.saturating_add(1);
            let datagram = match &carried {
                Some(carried) => encode_carried(*id, hops, carried.as_slice()),
                None => encode_rumor(*id, hops, known.size),
            };
            cx.out.broadcast(others[..fanout].iter().copied(), datagram);
            self.stats.pushed += fanout as u64;
        }
        if busy {
            let at = cx.now + self.config.interval;
            self.round_at = Some(at);
            cx.out.set_timer(TimerId::Gossip(GossipTimer::Round), at);
        }
    }

    fn reject(out: &mut Outbox, from: HostId, reason: RejectReason) {
        out.record(Observation::MessageRejected { from, reason });
    }
}

impl HostProtocol for Gossip {
    fn start(&mut self, cx: &mut Cx<'_>, _restarted: bool) {
        // Rumors whose time has passed were another incarnation's to start.
        self.next_rumor = self.config.rumors.partition_point(|r| r.at < cx.now);
        self.originate_due(cx);
    }

    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, body: Reader<'_>) {
        if !self.config.members.contains(from) || from == self.config.me {
            return Self::reject(cx.out, from, RejectReason::NotAMember);
        }
        let decoded = match body.peek_u8() {
            Some(KIND_CARRIED) => decode_carried(body)
                .map(|(id, hops, datagram)| (id, hops, datagram.len(), Some(datagram))),
            _ => decode_rumor(body).map(|(id, hops, size)| (id, hops, size as usize, None)),
        };
        let Ok((id, hops, size, carried)) = decoded else {
            return Self::reject(cx.out, from, RejectReason::Malformed);
        };
        if self.known.contains_key(&id) {
            self.stats.duplicates += 1;
            return;
        }
        cx.out.record(Observation::Gossip(GossipEvent::Learned {
            rumor: id,
            from,
            hops,
        }));
        let carried = carried.map(|d| Payload::from(d.to_vec()));
        if let Some(datagram) = &carried {
            self.to_deliver.push((id.origin, datagram.clone()));
        }
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        self.learn(cx, id, hops, size, carried);
    }
}

/// The carried-rumor key of a registry announcement made at `now`: the
/// high bit set, so it never meets a load client's nonces (counted from 0)
/// on a host that is both, and the time in milliseconds below it (a
/// restarted registrar announces later, under another id). Times past 24
/// days of simulated time wrap, which only matters if two announcements of
/// one host fall exactly 24.8 days apart.
pub fn registry_key(now: SimTime) -> u64 {
    (1 << 31) | ((now.as_nanos() / 1_000_000) & 0x7fff_ffff)
}

/// The bits of a [`consensus_key`]'s counter.
const CONSENSUS_COUNTER: u32 = (1 << 29) - 1;

/// The carried-rumor key of a validator's consensus broadcast: bit 30 set
/// and bit 31 clear (never a registry key, nor a load nonce below 2^30),
/// bit 29 set for a proposal or block body, and a 29-bit counter below. The
/// counter never goes below eight times the time in milliseconds, so a
/// restarted validator (whose counter starts again) does not reuse its
/// previous incarnation's keys unless that one sent more than eight per
/// millisecond on average; it wraps after about 18.6 hours of simulated
/// time.
pub fn consensus_key(block: bool, counter: u32) -> u64 {
    (1 << 30) | (u64::from(block) << 29) | u64::from(counter & CONSENSUS_COUNTER)
}

/// Whether a carried rumor's `key` (its seq minus its origin's configured
/// rumors) is a [`consensus_key`] of a proposal or block body.
pub fn is_block_key(key: u32) -> bool {
    key >> 29 == 0b011
}

/// The datagram pushing rumor `id` at `hops` (at most 255 on the wire),
/// with a `size`-byte body (at most [`MAX_RUMOR_BYTES`]).
pub fn encode_rumor(id: RumorId, hops: u32, size: u32) -> Vec<u8> {
    let size = (size as usize).min(MAX_RUMOR_BYTES);
    encode(KIND_RUMOR, id, hops, &vec![0; size])
}

/// The datagram pushing carried rumor `id` at `hops` (at most 255 on the
/// wire), its body the carried `datagram` (at most [`MAX_RUMOR_BYTES`];
/// longer ones are cut, which the carried protocol then refuses).
pub fn encode_carried(id: RumorId, hops: u32, datagram: &[u8]) -> Vec<u8> {
    encode(
        KIND_CARRIED,
        id,
        hops,
        &datagram[..datagram.len().min(MAX_RUMOR_BYTES)],
    )
}

/// A rumor datagram of `kind`: the header, then `body` (already bounded).
fn encode(kind: u8, id: RumorId, hops: u32, body: &[u8]) -> Vec<u8> {
    let mut w = frame(ProtocolTag::Gossip, HEADER + body.len());
    w.u8(kind)
        .u32(id.origin.0)
        .u32(id.seq)
        .u8(u8::try_from(hops).unwrap_or(u8::MAX))
        .bytes(body);
    w.finish()
}

/// A carried rumor's id, hops and datagram, after its header; strict as
/// [`decode_rumor`].
pub fn decode_carried<'a>(r: Reader<'a>) -> Result<(RumorId, u32, &'a [u8]), DecodeError> {
    decode(r, KIND_CARRIED)
}

/// A rumor datagram's id, hops and body size, after its header
/// ([`crate::wire::open`]); strict: a body larger than
/// [`MAX_RUMOR_BYTES`] or trailing bytes are refused.
pub fn decode_rumor(r: Reader<'_>) -> Result<(RumorId, u32, u32), DecodeError> {
    let (id, hops, body) = decode(r, KIND_RUMOR)?;
    let size = u32::try_from(body.len()).map_err(|_| DecodeError::InvalidField)?;
    Ok((id, hops, size))
}

/// A rumor datagram of `kind`: its id, hops and body, strictly (another
/// kind, a body over [`MAX_RUMOR_BYTES`] or trailing bytes are refused).
fn decode<'a>(mut r: Reader<'a>, kind: u8) -> Result<(RumorId, u32, &'a [u8]), DecodeError> {
    let found = r.u8()?;
    if found != kind {
        return Err(DecodeError::UnknownKind(found));
    }
    let id = RumorId {
        origin: HostId(r.u32()?),
        seq: r.u32()?,
    };
    let hops = u32::from(r.u8()?);
    let body = r.bytes()?;
    r.finish()?;
    if body.len() > MAX_RUMOR_BYTES {
        return Err(DecodeError::InvalidField);
    }
    Ok((id, hops, body))
}

impl Traced for GossipEvent {
    fn trace(&self, out: &mut impl TraceWriter) {
        match self {
            GossipEvent::Originated { rumor, size } => {
                out.word(1);
                out.word(u64::from(rumor.origin.0) << 32 | u64::from(rumor.seq));
                out.word(u64::from(*size));
            }
            GossipEvent::Learned { rumor, from, hops } => {
                out.word(2);
                out.word(u64::from(rumor.origin.0) << 32 | u64::from(rumor.seq));
                out.word(u64::from(from.0));
                out.word(u64::from(*hops));
            }
        }
    }
}

impl Described for GossipEvent {
    fn describe(&self) -> Description {
        match self {
            GossipEvent::Originated { rumor, size } => Description::new("gossip-originated")
                .detail(format!(
                    "rumor {}.{} {size} bytes",
                    rumor.origin.0, rumor.seq
                )),
            GossipEvent::Learned { rumor, from, hops } => Description::new("gossip-learned")
                .host(*from)
                .detail(format!(
                    "rumor {}.{} hops {hops}",
                    rumor.origin.0, rumor.seq
                )),
        }
    }
}

/// One of each event, for the tests of every layer that encodes observations.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// The variant's name; an exhaustive match, so a new variant does not
    /// compile until [`all`] covers it.
    pub(crate) fn name(e: &GossipEvent) -> &'static str {
        match e {
            GossipEvent::Originated { .. } => "originated",
            GossipEvent::Learned { .. } => "learned",
        }
    }

    pub(crate) fn all() -> Vec<GossipEvent> {
        let rumor = RumorId {
            origin: HostId(7),
            seq: 2,
        };
        vec![
            GossipEvent::Originated { rumor, size: 300 },
            GossipEvent::Learned {
                rumor,
                from: HostId(1),
                hops: 3,
            },
        ]
    }

    #[test]
    fn the_samples_cover_every_variant() {
        let names: std::collections::BTreeSet<&str> = all().iter().map(name).collect();
        assert_eq!(names.len(), 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::protocols::HostConfig;
    use crate::testkit::{self, TestNet};

    fn config(me: u32, n: u32, rumors: Vec<RumorSpec>) -> GossipConfig {
        GossipConfig {
            me: HostId(me),
            members: (0..n).map(HostId).collect::<Vec<_>>().into(),
            fanout: 3,
            rounds: 4,
            interval: SimDuration::from_millis(200),
            rumors,
            over_peers: false,
            carry_registry: false,
            carry_consensus: CarryConsensus::Off,
        }
    }

    /// `n` members; member 0 starts one rumor at 1 s.
    fn net(n: u32, seed: u64) -> TestNet {
        let rumor = RumorSpec {
            at: SimTime::from_duration(SimDuration::from_secs(1)),
            size: 100,
        };
        let configs = (0..n)
            .map(|i| {
                let rumors = if i == 0 { vec![rumor] } else { Vec::new() };
                HostConfig::new(HostId(i), Identity::from_secret([i as u8 + 1; 32]))
                    .with_gossip(config(i, n, rumors))
            })
            .collect();
        TestNet::of(configs, seed)
    }

    fn learned(net: &TestNet, host: u32) -> Vec<(SimTime, u32)> {
        net.observations(HostId(host))
            .filter_map(|(at, o)| match o {
                Observation::Gossip(GossipEvent::Learned { hops, .. }) => Some((at, *hops)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_rumor_reaches_every_member_once_in_a_few_rounds() {
        for seed in 0..5 {
            let mut net = net(30, seed);
            net.start_all(SimTime::ZERO);
            net.run_until(SimTime::from_duration(SimDuration::from_secs(10)));
            for host in 1..30 {
                let got = learned(&net, host);
                assert_eq!(got.len(), 1, "seed {seed}: host {host} learned {got:?}");
                assert!((1..=12).contains(&got[0].1), "hops {}", got[0].1);
            }
            let origin = net.node(HostId(0)).gossip().unwrap();
            assert_eq!(origin.known().collect::<Vec<_>>().len(), 1);
            let total: u64 = (0..30)
                .map(|h| net.node(HostId(h)).gossip().unwrap().stats().duplicates)
                .sum();
            assert!(total > 0, "push gossip is redundant");
        }
    }

    #[test]
    fn carried_rumors_round_trip_and_every_prefix_is_refused() {
        let id = RumorId {
            origin: HostId(3),
            seq: 9,
        };
        let bytes = encode_carried(id, 2, b"a datagram");
        let (tag, body) = crate::wire::open(&bytes).unwrap();
        assert_eq!(tag, ProtocolTag::Gossip);
        assert_eq!(decode_carried(body), Ok((id, 2, &b"a datagram"[..])));
        // A plain rumor is not a carried one, and the other way round.
        let (_, body) = crate::wire::open(&bytes).unwrap();
        assert_eq!(
            decode_rumor(body),
            Err(DecodeError::UnknownKind(KIND_CARRIED))
        );
        for cut in 0..bytes.len() {
            let decoded = crate::wire::open(&bytes[..cut]).and_then(|(_, r)| decode_carried(r));
            assert!(decoded.is_err(), "prefix of {cut} bytes");
        }
    }

    #[test]
    fn pushing_stops_after_its_rounds() {
        let mut net = net(10, 1);
        net.start_all(SimTime::ZERO);
        net.run_until(SimTime::from_duration(SimDuration::from_secs(10)));
        let sent: Vec<u64> = (0..10)
            .map(|h| net.node(HostId(h)).gossip().unwrap().stats().pushed)
            .collect();
        // Each member pushes its one rumor 4 rounds x 3 members.
        assert!(sent.iter().all(|n| *n == 12), "{sent:?}");
    }

    #[test]
    fn strangers_and_malformed_datagrams_are_rejected() {
        let mut node = crate::protocols::HostNode::new(
            HostConfig::new(HostId(1), Identity::from_secret([2; 32])).with_gossip(config(
                1,
                3,
                Vec::new(),
            )),
        );
        let mut rng = testkit::rng(1);
        let rumor = RumorId {
            origin: HostId(0),
            seq: 0,
        };
        fn deliver(
            node: &mut crate::protocols::HostNode,
            rng: &mut rand_chacha::ChaCha8Rng,
            from: u32,
            payload: Vec<u8>,
        ) -> Vec<crate::io::Output> {
            let input = crate::io::Input::Message {
                from: HostId(from),
                payload: payload.into(),
            };
            testkit::drive(node, SimTime::ZERO, input, rng)
        }
        #[track_caller]
        fn assert_rejected(out: &[crate::io::Output], why: RejectReason) {
            assert!(
                matches!(
                    out,
                    [crate::io::Output::Record(observation)]
                        if matches!(**observation, Observation::MessageRejected { reason, .. } if reason == why)
                ),
                "{out:?}"
            );
        }
        let out = deliver(&mut node, &mut rng, 9, encode_rumor(rumor, 1, 10));
        assert_rejected(&out, RejectReason::NotAMember);
        let mut bad = encode_rumor(rumor, 1, 10);
        bad.push(0);
        let out = deliver(&mut node, &mut rng, 0, bad);
        assert_rejected(&out, RejectReason::Malformed);
        let good = encode_rumor(rumor, 1, 10);
        for cut in 0..good.len() {
            let _ = deliver(&mut node, &mut rng, 0, good[..cut].to_vec());
        }
        let out = deliver(&mut node, &mut rng, 0, good);
        assert!(
            out.iter().any(|o| matches!(
                o,
                crate::io::Output::Record(observation) if matches!(
                    **observation,
                    Observation::Gossip(GossipEvent::Learned { hops: 1, .. })
                )
            )),
            "{out:?}"
        );
    }

    #[test]
    fn datagrams_round_trip_and_bodies_are_bounded() {
        let id = RumorId {
            origin: HostId(3),
            seq: 9,
        };
        let bytes = encode_rumor(id, 300, 5000);
        let (_, body) = crate::wire::open(&bytes).unwrap();
        assert_eq!(decode_rumor(body), Ok((id, 255, 5000)));
        assert!(encode_rumor(id, 1, u32::MAX).len() <= MAX_DATAGRAM);
    }
}
