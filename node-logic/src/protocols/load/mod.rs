//! Client load: a host that submits signed transactions to validators.
//!
//! # Behaviour
//!
//! - Arrivals follow the configured rate schedule (piecewise constant:
//!   each step from its time on, 0 pausing) as a **constant-rate** or a
//!   **Poisson** process, from `start` to `stop`. Draws come from the
//!   client's own ChaCha8 stream (the driver's `load` stream for this
//!   host, never the host's protocol stream): stream 0 for arrival gaps,
//!   stream `nonce + 1` for each transaction's fee and validators.
//! - The k-th arrival (from 0) is the transaction with nonce k: a real
//!   ed25519-signed [`Transaction`] of the configured size from this
//!   host's key, sent to `fanout` validators drawn without repetition from
//!   the targets (all of them when `fanout` is their number). Each
//!   submission is recorded ([`LoadEvent::Submitted`]).
//! - **Over gossip** (`over_gossip`): the transaction is not sent to any
//!   validator; the client hands it to its host's gossip member, which
//!   spreads it as a carried rumor over gossip's path (the peer overlay
//!   with `[gossip] over = "peers"`), and each validator it reaches
//!   checks it on receipt as it would a direct submission
//!   ([`crate::protocols::gossip`]). `validators` is then 0 in the
//!   submission record.
//! - A restarted client replays its schedule from the start without
//!   sending (same seed, same arrivals) and resumes at the first arrival
//!   after its restart, with that arrival's nonce: it never reuses a nonce,
//!   and the arrivals during its downtime are not submitted.
//!
//! The client has no datagrams of its own: it speaks the consensus
//! protocol's transaction message ([`transaction_datagram`]) and receives
//! nothing, so it has no protocol tag.

use std::rc::Rc;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::{Identity, PublicKey, SignaturesAhead};
use crate::io::{Payload, RejectReason};
use crate::observe::{Described, Description, TraceWriter, Traced};
use crate::protocols::consensus::SignatureVerifier;
use crate::protocols::consensus::transaction::{Transaction, transaction_datagram};
use crate::protocols::{Cx, HostProtocol, Observation, TimerId};
use crate::time::{SimDuration, SimTime};

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoadTimer {
    /// The next transaction is due.
    Submit,
}

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Exactly `1 / rate` apart.
    Constant,
    /// Exponential gaps of mean `1 / rate` (a Poisson process).
    Poisson,
}

/// What a client submits (built by the driver from `[load]`).
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// This host.
    pub me: HostId,
    /// The validators it may send to, sorted.
    pub targets: Vec<HostId>,
    /// Validators each transaction goes to (1..=targets).
    pub fanout: usize,
    /// Bytes per transaction.
    pub tx_bytes: usize,
    /// Fees are drawn uniformly from this range (inclusive).
    pub fee: (u64, u64),
    /// Constant or Poisson.
    pub arrival: Arrival,
    /// `(from, transactions per second)`, in time order; the first step
    /// is the start of the load.
    pub schedule: Vec<(SimTime, f64)>,
    /// No arrival at or after this.
    pub stop: SimTime,
    /// Seed of the client's own stream (the driver's `load` stream).
    pub seed: [u8; 32],
    /// Spread each transaction by the host's gossip member instead of
    /// sending it to validators (see the module docs).
    pub over_gossip: bool,
    /// The validators' shared signature verifier, told of every
    /// transaction this client signs ([`SignatureVerifier::signed`]), so a
    /// caching one knows them valid without verifying; `None`: tell
    /// nobody (real processes, which verify every copy).
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
    /// Signatures of this client's transactions a driver made ahead on
    /// another core, by nonce ([`Submissions`]); `None`: sign each at
    /// submission (real processes).
    pub signatures: Option<Rc<dyn SignaturesAhead>>,
}

/// A client's arrivals and the transactions they carry, apart from their
/// signatures: a pure function of its [`LoadConfig`] (settings and stream),
/// and `Send`, so a driver can make the signatures ahead on another core
/// in the order the client will ask for them
/// ([`LoadConfig::signatures`]). The client itself draws from one.
#[derive(Clone, Debug)]
pub struct Submissions {
    me: HostId,
    tx_bytes: usize,
    fee: (u64, u64),
    arrival: Arrival,
    schedule: Vec<(SimTime, f64)>,
    stop: SimTime,
    seed: [u8; 32],
    /// Stream 0 of the seed: the arrival gaps.
    arrivals: ChaCha8Rng,
}

impl Submissions {
    /// The submissions of the client `config` describes, from its start.
    pub fn of(config: &LoadConfig) -> Self {
        Submissions {
            me: config.me,
            tx_bytes: config.tx_bytes,
            fee: config.fee,
            arrival: config.arrival,
            schedule: config.schedule.clone(),
            stop: config.stop,
            seed: config.seed,
            arrivals: ChaCha8Rng::from_seed(config.seed),
        }
    }

    /// The first arrival (the transaction with nonce 0), or `None` if
    /// there is none before `stop`.
    pub fn first(&mut self) -> Option<SimTime> {
        self.arrival_after(SimTime::ZERO, true)
    }

    /// The arrival after the one at `t`, or `None` past `stop`.
    pub fn after(&mut self, t: SimTime) -> Option<SimTime> {
        self.arrival_after(t, false)
    }

    /// The arrival after `t` (the first at or after the schedule's start
    /// when `first`), or `None` past `stop`.
    fn arrival_after(&mut self, mut t: SimTime, first: bool) -> Option<SimTime> {
        let schedule = &self.schedule;
        let start = schedule.first()?.0;
        if first {
            t = t.max(start);
        }
        loop {
            if t >= self.stop {
                return None;
            }
            let step = schedule.iter().rposition(|&(from, _)| from <= t)?;
            let boundary = schedule.get(step + 1).map(|&(from, _)| from);
            let rate = schedule[step].1;
            if rate <= 0.0 {
                t = boundary?;
                continue;
            }
            let gap = match self.arrival {
                Arrival::Constant => 1.0 / rate,
                Arrival::Poisson => {
                    let u: f64 = self.arrivals.random_range(f64::EPSILON..1.0);
                    -u.ln() / rate
                }
            };
            let gap = if first && self.arrival == Arrival::Constant {
                SimDuration::ZERO
            } else {
                SimDuration::from_nanos((gap * 1e9).round().max(1.0) as u64)
            };
            let at = t + gap;
            match boundary {
                // A new rate from the boundary on (memoryless for Poisson).
                Some(b) if at >= b => t = b,
                _ => return Some(at),
            }
        }
    }

    /// The stream of transaction `nonce`'s draws: its fee first, then its
    /// validators.
    fn draws(&self, nonce: u64) -> ChaCha8Rng {
        let mut draws = ChaCha8Rng::from_seed(self.seed);
        draws.set_stream(nonce.wrapping_add(1));
        draws
    }

    /// Transaction `nonce` of account `key`, unsigned, and its stream with
    /// the fee drawn (the validators are drawn from it next).
    pub fn transaction(&self, key: PublicKey, nonce: u64) -> (Transaction, ChaCha8Rng) {
        let mut draws = self.draws(nonce);
        let (lo, hi) = self.fee;
        let fee = draws.random_range(lo..=hi);
        let tx = Transaction::unsigned(self.me, key, nonce, fee, self.tx_bytes);
        (tx, draws)
    }
}

/// What a client did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadEvent {
    /// The transaction with this nonce was sent to `validators` validators.
    Submitted {
        /// Its nonce.
        nonce: u64,
        /// Its size in bytes.
        bytes: u32,
        /// How many validators it was sent to.
        validators: u32,
    },
}

impl Traced for LoadEvent {
    fn trace(&self, out: &mut impl TraceWriter) {
        let LoadEvent::Submitted {
            nonce,
            bytes,
            validators,
        } = self;
        out.word(1);
        out.word(*nonce);
        out.word(u64::from(*bytes));
        out.word(u64::from(*validators));
    }
}

impl Described for LoadEvent {
    fn describe(&self) -> Description {
        let LoadEvent::Submitted {
            nonce, validators, ..
        } = self;
        Description::new("load-submitted").detail(format!("nonce {nonce} to {validators}"))
    }
}

/// A submitting host (see the module docs).
#[derive(Debug)]
pub struct LoadClient {
    config: LoadConfig,
    identity: Identity,
    submissions: Submissions,
    /// The next arrival and its nonce, while any is left.
    next: Option<(SimTime, u64)>,
    /// Over gossip: transactions (nonce, datagram) not yet handed over.
    for_gossip: Vec<(u64, Payload)>,
}

impl LoadClient {
    /// A client of `config`, signing with `identity`.
    pub fn new(config: LoadConfig, identity: Identity) -> Self {
        let submissions = Submissions::of(&config);
        LoadClient {
            config,
            identity,
            submissions,
            next: None,
            for_gossip: Vec::new(),
        }
    }

    /// Over gossip: the transactions submitted since the last call, with
    /// their nonces, for the host to hand to its gossip member.
    pub fn take_for_gossip(&mut self) -> Vec<(u64, Payload)> {
        std::mem::take(&mut self.for_gossip)
    }

    /// Transactions submitted so far (the next nonce).
    pub fn submitted(&self) -> u64 {
        self.next.map_or(0, |(_, n)| n)
    }

    fn submit(&mut self, cx: &mut Cx<'_>, nonce: u64) {
        let key = self.identity.public_key();
        let (mut tx, mut draws) = self.submissions.transaction(key, nonce);
        tx.sign_in_sequence(&self.identity, self.config.signatures.as_deref());
        if let Some(verifier) = &self.config.verifier {
            tx.vouch(&**verifier);
        }
        let datagram = transaction_datagram(&tx);
        let targets = &self.config.targets;
        let fanout = match self.config.over_gossip {
            true => 0,
            false => self.config.fanout.min(targets.len()),
        };
        if self.config.over_gossip {
            self.for_gossip.push((nonce, datagram.into()));
        } else if fanout == targets.len() {
            cx.out.broadcast(targets.iter().copied(), datagram);
        } else {
            // A partial Fisher-Yates shuffle: the first `fanout` are a
            // uniform sample without repetition.
            let mut picked = targets.clone();
            for i in 0..fanout {
                let j = draws.random_range(i..picked.len());
                picked.swap(i, j);
            }
            picked.truncate(fanout);
            cx.out.broadcast(picked, datagram);
        }
        cx.out.record(Observation::Load(LoadEvent::Submitted {
            nonce,
            bytes: u32::try_from(tx.len()).unwrap_or(u32::MAX),
            validators: fanout as u32,
        }));
    }

    /// The submit timer fired.
    pub(crate) fn timer(&mut self, cx: &mut Cx<'_>, _timer: LoadTimer) {
        let Some((at, nonce)) = self.next else {
            return;
        };
        if cx.now < at {
            cx.out.set_timer(TimerId::Load(LoadTimer::Submit), at);
            return;
        }
        self.submit(cx, nonce);
        self.next = self.submissions.after(at).map(|t| (t, nonce + 1));
        if let Some((t, _)) = self.next {
            cx.out.set_timer(TimerId::Load(LoadTimer::Submit), t);
        }
    }
}

impl HostProtocol for LoadClient {
    fn start(&mut self, cx: &mut Cx<'_>, restarted: bool) {
        let mut next = self.submissions.first().map(|t| (t, 0));
        if restarted {
            // Replay the schedule up to now: same arrivals, nonces kept.
            while let Some((t, n)) = next
                && t < cx.now
            {
                next = self.submissions.after(t).map(|t| (t, n + 1));
            }
        }
        self.next = next;
        if let Some((t, _)) = next {
            cx.out.set_timer(TimerId::Load(LoadTimer::Submit), t);
        }
    }
    /// A client takes no datagrams (it has no protocol tag; nothing is
    /// ever routed here).
    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, _body: Reader<'_>) {
        cx.out.record(Observation::MessageRejected {
            from,
            reason: RejectReason::NotAMember,
        });
    }
}

/// One event of each variant, for the registry's tests.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    pub(crate) fn all() -> Vec<LoadEvent> {
        vec![LoadEvent::Submitted {
            nonce: 41,
            bytes: 250,
            validators: 4,
        }]
    }
}

#[cfg(test)]
mod tests;
