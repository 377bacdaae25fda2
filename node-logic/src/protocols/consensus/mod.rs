//! PBFT-style BFT consensus among validators (Sans-IO).
//!
//! `n` validators tolerate `f = (n - 1) / 3` Byzantine ones and agree on a
//! chain of blocks through signed pre-prepare / prepare / commit rounds
//! with quorum certificates, change view when a leader fails, let
//! validators that fell behind catch up with certified blocks, and report
//! equivocation evidence. [`validator`] documents the protocol in full.
//!
//! - [`block`]: blocks and their hashes.
//! - [`message`]: the signed messages and their wire format.
//! - [`certificate`]: prepared and commit certificates and their checks.
//! - [`verify`]: the injected signature verifier.
//! - [`config`]: the configuration and quorum arithmetic.
//! - [`transaction`]: client transactions, block bodies, nonce windows.
//! - [`mempool`]: a validator's bounded transaction pool.
//! - [`validator`]: the state machine.
//! - [`observe`]: what it reports.

pub mod block;
pub mod certificate;
pub mod config;
mod held_index;
pub mod mempool;
pub mod message;
pub mod observe;
mod pool_order;
pub mod transaction;
pub mod validator;
pub mod verify;

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::{Identity, PublicKey};
use crate::meter::{Meter, MeteredVerifier};
use crate::protocols::{Cx, HostProtocol, Local};
use mempool::{Mempool, MempoolConfig};

pub use block::{Block, Hash32};
pub use certificate::{CertError, CommitCertificate, PreparedCertificate};
pub use config::{
    ConsensusConfig, MAX_VALIDATORS, ValidatorSet, fault_tolerance, quorum, view_timeout_after,
};
pub use message::{ConsensusMessage, Signed, Vote, VoteKind};
pub use observe::{ConsensusEvent, EquivocationKind};
pub use validator::{ConsensusStats, Validator};
pub use verify::{DirectVerifier, SignatureVerifier};

/// The consensus timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsensusTimer {
    /// The leader's next proposal is due.
    Propose,
    /// The view has made no progress for too long; change view.
    View,
    /// Send again what the current view still needs from this validator.
    Resend,
}

/// How a host takes part in consensus.
#[derive(Clone, Debug)]
pub struct ConsensusSetup {
    /// Who validates.
    pub role: ConsensusRole,
    /// How signatures are checked; `None` verifies every one directly
    /// ([`DirectVerifier`]). A driver injects a shared caching verifier
    /// here (signature checks are pure functions).
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
    /// With client load: the validator's transaction pool and block
    /// limits (blocks then carry transactions); `None`: blocks carry a
    /// random digest.
    pub mempool: Option<MempoolConfig>,
    /// Counts the bytes the pool hashes, when CPU time is modelled.
    pub meter: Option<Rc<Meter>>,
}

impl ConsensusSetup {
    /// A validator's part with the fixed set of `config`, verifying
    /// directly, without transactions.
    pub fn new(role: ConsensusRole, verifier: Option<Rc<dyn SignatureVerifier>>) -> Self {
        ConsensusSetup {
            role,
            verifier,
            mempool: None,
            meter: None,
        }
    }
    /// The validator that runs builds its blocks from a pool of `config`.
    pub fn with_mempool(mut self, config: MempoolConfig) -> Self {
        self.mempool = Some(config);
        self
    }
    /// Counts every signature check in `meter`, with a signature cache of
    /// `capacity` entries (a host whose CPU time the driver models).
    pub fn meter(&mut self, meter: Rc<Meter>, capacity: usize) {
        let inner = self
            .verifier
            .take()
            .unwrap_or_else(|| Rc::new(DirectVerifier));
        self.verifier = Some(Rc::new(MeteredVerifier::new(
            inner,
            meter.clone(),
            capacity,
        )));
        self.meter = Some(meter);
    }
    /// A new pool for the validator, if it takes transactions.
    fn new_mempool(&self) -> Option<Mempool> {
        self.mempool.map(|c| Mempool::new(c, self.meter.clone()))
    }
}

impl From<ConsensusConfig> for ConsensusSetup {
    fn from(config: ConsensusConfig) -> Self {
        ConsensusSetup::new(ConsensusRole::Validator(config), None)
    }
}

/// Where a host's validator set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsensusRole {
    /// A validator with a fixed set.
    Validator(ConsensusConfig),
    /// A miner that becomes a validator once a registrar announces the
    /// wallet registry (`validators = "registered"`).
    FromRegistry(RegistryConsensus),
}

/// Consensus whose validator set is the registry a registrar announces.
/// The host's validator starts when its miner receives the first
/// announcement; the validators are the announced agents among
/// `candidates`, with the keys pinned here (never taken from the network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConsensus {
    /// Everything but `validators`, which come from the announcement.
    pub template: ConsensusConfig,
    /// Agents that may become validators: agent id, host and pinned key.
    pub candidates: Vec<(String, HostId, PublicKey)>,
}

impl RegistryConsensus {
    /// The validator configuration once `agents` are announced.
    fn config(&self, agents: &[String]) -> ConsensusConfig {
        let announced: BTreeSet<&str> = agents.iter().map(String::as_str).collect();
        let mut validators: Vec<(HostId, PublicKey)> = self
            .candidates
            .iter()
            .filter(|(agent, _, _)| announced.contains(agent.as_str()))
            .map(|(_, host, key)| (*host, *key))
            .collect();
        validators.sort_by_key(|(host, _)| *host);
        ConsensusConfig {
            validators,
            ..self.template.clone()
        }
    }
}

/// The consensus state machine a host runs: a validator, or one waiting
/// for the registry to know its validator set.
#[derive(Debug)]
pub enum ConsensusNode {
    /// Running (boxed: a validator is large, a waiting one small).
    Running(Box<Validator>),
    /// Waiting for a [`Local::RegistryAnnounced`].
    Waiting(Box<PendingValidator>),
}

/// A registry-driven validator waiting for the registry.
#[derive(Debug)]
pub struct PendingValidator {
    /// What to start.
    spec: RegistryConsensus,
    /// Its signing identity.
    identity: Identity,
    /// Its signature checker.
    verifier: Rc<dyn SignatureVerifier>,
    /// Whether a Byzantine fault is in force (applied at the start).
    misbehave: bool,
    /// Its transaction pool, with client load.
    mempool: Option<Mempool>,
    /// Which broadcasts gossip carries, applied at the start.
    carry: crate::protocols::gossip::CarryConsensus,
}

impl ConsensusNode {
    /// The state machine `setup` says, signing with `identity`.
    pub fn new(setup: ConsensusSetup, identity: &Identity) -> Self {
        let mempool = setup.new_mempool();
        let verifier = setup.verifier.unwrap_or_else(|| Rc::new(DirectVerifier));
        match setup.role {
            ConsensusRole::Validator(config) => {
                let mut validator = Validator::new(config, identity.clone(), verifier);
                if let Some(mempool) = mempool {
                    validator.set_mempool(mempool);
                }
                ConsensusNode::Running(Box::new(validator))
            }
            ConsensusRole::FromRegistry(spec) => {
                ConsensusNode::Waiting(Box::new(PendingValidator {
                    spec,
                    identity: identity.clone(),
                    verifier,
                    misbehave: false,
                    mempool,
                    carry: crate::protocols::gossip::CarryConsensus::Off,
                }))
            }
        }
    }
    /// The validator, once running.
    pub fn validator(&self) -> Option<&Validator> {
        match self {
            ConsensusNode::Running(v) => Some(v),
            ConsensusNode::Waiting(_) => None,
        }
    }
    /// Routes the validator's broadcasts of the kinds `carry` names through
    /// the host's gossip member (see [`Validator::carry_by_gossip`]).
    pub fn carry_by_gossip(&mut self, carry: crate::protocols::gossip::CarryConsensus) {
        match self {
            ConsensusNode::Running(v) => v.carry_by_gossip(carry),
            ConsensusNode::Waiting(pending) => pending.carry = carry,
        }
    }
    /// The validator's broadcasts parked for gossip (see
    /// [`Validator::take_for_gossip`]).
    pub(crate) fn take_for_gossip(&mut self) -> Vec<(bool, Vec<u8>)> {
        match self {
            ConsensusNode::Running(v) => v.take_for_gossip(),
            ConsensusNode::Waiting(_) => Vec::new(),
        }
    }
    /// A consensus timer fired.
    pub(crate) fn timer(&mut self, cx: &mut Cx<'_>, timer: ConsensusTimer) {
        if let ConsensusNode::Running(v) = self {
            v.handle_timer(cx.now, timer, cx.rng, cx.out);
        }
    }
}

impl HostProtocol for ConsensusNode {
    fn start(&mut self, cx: &mut Cx<'_>, _restarted: bool) {
        if let ConsensusNode::Running(v) = self {
            v.handle_start(cx.now, cx.rng, cx.out);
        }
    }
    /// A validator still waiting for its set drops consensus traffic
    /// unread, as a host without consensus would not have it at all.
    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, body: Reader<'_>) {
        match self {
            ConsensusNode::Running(v) if v.takes_payload(body.peek_u8()) => {
                v.handle_payload(cx.now, from, body, cx.rng, cx.out)
            }
            ConsensusNode::Running(v) => v.handle_message(cx.now, from, body, cx.rng, cx.out),
            ConsensusNode::Waiting(_) => {
                cx.out
                    .record(crate::protocols::Observation::MessageRejected {
                        from,
                        reason: crate::io::RejectReason::NotAMember,
                    })
            }
        }
    }
    fn misbehave(&mut self, _cx: &mut Cx<'_>, on: bool) {
        match self {
            ConsensusNode::Running(v) => v.set_misbehaving(on),
            ConsensusNode::Waiting(pending) => pending.misbehave = on,
        }
    }
    /// The registry is known: start the validator with it.
    fn local(&mut self, cx: &mut Cx<'_>, event: &Local) {
        let Local::RegistryAnnounced { agents } = event;
        let ConsensusNode::Waiting(pending) = self else {
            return;
        };
        let config = pending.spec.config(agents);
        let mut validator =
            Validator::new(config, pending.identity.clone(), pending.verifier.clone());
        validator.set_misbehaving(pending.misbehave);
        validator.carry_by_gossip(pending.carry);
        if let Some(mempool) = pending.mempool.take() {
            validator.set_mempool(mempool);
        }
        validator.handle_start(cx.now, cx.rng, cx.out);
        *self = ConsensusNode::Running(Box::new(validator));
    }
}
