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
//! - [`validator`]: the state machine.
//! - [`observe`]: what it reports.

pub mod block;
pub mod certificate;
pub mod config;
pub mod message;
pub mod observe;
pub mod validator;
pub mod verify;

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::{Identity, PublicKey};
use crate::protocols::{Cx, HostProtocol, Local};

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
}

impl From<ConsensusConfig> for ConsensusSetup {
    fn from(config: ConsensusConfig) -> Self {
        ConsensusSetup {
            role: ConsensusRole::Validator(config),
            verifier: None,
        }
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
}

impl ConsensusNode {
    /// The state machine `setup` says, signing with `identity`.
    pub fn new(setup: ConsensusSetup, identity: &Identity) -> Self {
        let verifier = setup.verifier.unwrap_or_else(|| Rc::new(DirectVerifier));
        match setup.role {
            ConsensusRole::Validator(config) => {
                ConsensusNode::Running(Box::new(Validator::new(config, identity.clone(), verifier)))
            }
            ConsensusRole::FromRegistry(spec) => {
                ConsensusNode::Waiting(Box::new(PendingValidator {
                    spec,
                    identity: identity.clone(),
                    verifier,
                    misbehave: false,
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
        validator.handle_start(cx.now, cx.rng, cx.out);
        *self = ConsensusNode::Running(Box::new(validator));
    }
}
