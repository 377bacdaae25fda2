//! A host: the protocols its role runs, behind one [`Node`].
//!
//! The host routes each input to the protocol it belongs to (datagrams by
//! their protocol tag, timers by their id) and collects every protocol's
//! outputs in one [`Outbox`], so the driver sees one state machine.

use std::collections::BTreeSet;
use std::rc::Rc;

use rand_core::Rng;

use crate::HostId;
use crate::consensus::{ConsensusConfig, DirectVerifier, SignatureVerifier, Validator};
use crate::identity::{Identity, PublicKey};
use crate::io::{Input, Node, Observation, Output, RejectReason, TimerId};
use crate::outbox::Outbox;
use crate::peers::{PeerConfig, PeerRegistry};
use crate::registration::{Miner, Registrar, RegistrationRole};
use crate::time::SimTime;
use crate::wire::{self, ProtocolTag};

/// What a host runs; built by the driver from the scenario.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// This host.
    pub id: HostId,
    /// Its signing identity (the same across restarts).
    pub identity: Identity,
    /// Peer-registry membership, if the host is a member.
    pub peers: Option<PeerConfig>,
    /// Its part in wallet registration, if any.
    pub registration: Option<RegistrationRole>,
    /// Its consensus configuration, if it is a validator.
    pub consensus: Option<ConsensusConfig>,
    /// How the validator checks signatures; `None` verifies every one
    /// directly ([`DirectVerifier`]). A driver injects a shared caching
    /// verifier here (signature checks are pure functions). Kept beside
    /// `consensus` rather than in it so the configuration stays plain data
    /// (`Clone + PartialEq`).
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
    /// Consensus whose validators come from the wallet registry (a miner
    /// that becomes a validator once a registrar announces the registry).
    pub consensus_from_registry: Option<RegistryConsensus>,
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

/// A registry-driven validator waiting for the registry.
#[derive(Debug)]
struct PendingConsensus {
    spec: RegistryConsensus,
    identity: Identity,
    verifier: Rc<dyn SignatureVerifier>,
    misbehave: bool,
}

/// One host's protocols. Built anew on every (re)start: a crash loses it all.
#[derive(Debug)]
pub struct HostNode {
    id: HostId,
    peers: Option<PeerRegistry>,
    registration: Option<RegistrationNode>,
    consensus: Option<Validator>,
    pending_consensus: Option<PendingConsensus>,
    out: Outbox,
}

/// The registration state machine a host runs.
#[derive(Debug)]
enum RegistrationNode {
    Miner(Miner),
    Registrar(Registrar),
}

impl HostNode {
    /// A host running what `config` says.
    pub fn new(config: HostConfig) -> Self {
        let peers = config
            .peers
            .map(|c| PeerRegistry::new(c, config.identity.clone()));
        let registration = config.registration.map(|role| match role {
            RegistrationRole::Miner(c) => {
                RegistrationNode::Miner(Miner::new(c, config.identity.clone()))
            }
            RegistrationRole::Registrar(c) => RegistrationNode::Registrar(Registrar::new(c)),
        });
        let verifier = config.verifier.unwrap_or_else(|| Rc::new(DirectVerifier));
        let pending_consensus = config.consensus_from_registry.map(|spec| PendingConsensus {
            spec,
            identity: config.identity.clone(),
            verifier: verifier.clone(),
            misbehave: false,
        });
        let consensus = config
            .consensus
            .map(|c| Validator::new(c, config.identity.clone(), verifier));
        HostNode {
            id: config.id,
            peers,
            registration,
            consensus,
            pending_consensus,
            out: Outbox::default(),
        }
    }
    /// This host's id.
    pub fn id(&self) -> HostId {
        self.id
    }
    /// The peer registry, if this host is a member.
    pub fn peers(&self) -> Option<&PeerRegistry> {
        self.peers.as_ref()
    }
    /// The peer registry, mutably, if this host is a member: how in-host
    /// modules register as observers and drain their events.
    pub fn peers_mut(&mut self) -> Option<&mut PeerRegistry> {
        self.peers.as_mut()
    }
    /// The registrar, if this host is one.
    pub fn registrar(&self) -> Option<&Registrar> {
        match &self.registration {
            Some(RegistrationNode::Registrar(r)) => Some(r),
            _ => None,
        }
    }
    /// The consensus validator, if this host is one.
    pub fn validator(&self) -> Option<&Validator> {
        self.consensus.as_ref()
    }
    /// The miner, if this host is one.
    pub fn miner(&self) -> Option<&Miner> {
        match &self.registration {
            Some(RegistrationNode::Miner(m)) => Some(m),
            _ => None,
        }
    }

    fn handle_message(&mut self, now: SimTime, from: HostId, payload: &[u8], rng: &mut dyn Rng) {
        let (tag, body) = match wire::open(payload) {
            Ok(opened) => opened,
            Err(_) => return self.reject(from, RejectReason::Malformed),
        };
        match tag {
            ProtocolTag::Peers => match self.peers.as_mut() {
                Some(peers) => peers.handle_message(now, from, body, rng, &mut self.out),
                None => self.reject(from, RejectReason::NotAMember),
            },
            // Only miners take registration datagrams (re-registration
            // requests); registrars and hosts without a role refuse them.
            ProtocolTag::Registration => match self.registration.as_mut() {
                Some(RegistrationNode::Miner(miner)) => {
                    miner.handle_message(now, from, body, &mut self.out);
                    self.start_consensus_from_registry(now, rng);
                }
                _ => self.reject(from, RejectReason::NotAMember),
            },
            ProtocolTag::Consensus => match self.consensus.as_mut() {
                Some(v) => v.handle_message(now, from, body, rng, &mut self.out),
                None => self.reject(from, RejectReason::NotAMember),
            },
        }
    }

    /// Starts the registry-driven validator once the registry is known.
    fn start_consensus_from_registry(&mut self, now: SimTime, rng: &mut dyn Rng) {
        let Some(RegistrationNode::Miner(miner)) = self.registration.as_mut() else {
            return;
        };
        let Some(agents) = miner.take_registry() else {
            return;
        };
        let Some(pending) = self.pending_consensus.take() else {
            return;
        };
        let announced: BTreeSet<&str> = agents.iter().map(String::as_str).collect();
        let mut validators: Vec<(HostId, PublicKey)> = pending
            .spec
            .candidates
            .iter()
            .filter(|(agent, _, _)| announced.contains(agent.as_str()))
            .map(|(_, host, key)| (*host, *key))
            .collect();
        validators.sort_by_key(|(host, _)| *host);
        let config = ConsensusConfig {
            validators,
            ..pending.spec.template
        };
        let mut validator = Validator::new(config, pending.identity, pending.verifier);
        validator.set_misbehaving(pending.misbehave);
        validator.handle_start(now, rng, &mut self.out);
        self.consensus = Some(validator);
    }

    fn reject(&mut self, from: HostId, reason: RejectReason) {
        self.out
            .record(Observation::MessageRejected { from, reason });
    }
}

impl Node for HostNode {
    fn handle_input(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng) {
        match input {
            Input::Start { restarted } => {
                if let Some(peers) = self.peers.as_mut() {
                    peers.handle_start(now, rng, &mut self.out);
                }
                match self.registration.as_mut() {
                    Some(RegistrationNode::Miner(m)) => {
                        m.handle_start(now, restarted, &mut self.out)
                    }
                    Some(RegistrationNode::Registrar(r)) => r.handle_start(now, rng, &mut self.out),
                    None => {}
                }
                if let Some(v) = self.consensus.as_mut() {
                    v.handle_start(now, rng, &mut self.out);
                }
            }
            Input::Message { from, payload } => self.handle_message(now, from, &payload, rng),
            Input::Timer(TimerId::PeerHeartbeat) => {
                if let Some(peers) = self.peers.as_mut() {
                    peers.handle_heartbeat(now, rng, &mut self.out);
                }
            }
            Input::Timer(
                timer @ (TimerId::RegistrationCheck
                | TimerId::RegistrationTimeout
                | TimerId::RegistrationProgress),
            ) => {
                if let Some(RegistrationNode::Registrar(r)) = self.registration.as_mut() {
                    r.handle_timer(now, timer, &mut self.out);
                }
            }
            Input::Timer(TimerId::MinerRewrite) => {
                if let Some(RegistrationNode::Miner(m)) = self.registration.as_mut() {
                    m.handle_rewrite_timer(now, &mut self.out);
                }
            }
            Input::Timer(timer @ (TimerId::ConsensusPropose | TimerId::ConsensusViewTimer)) => {
                if let Some(v) = self.consensus.as_mut() {
                    v.handle_timer(now, timer, rng, &mut self.out);
                }
            }
            Input::Misbehave { on } => {
                if let Some(v) = self.consensus.as_mut() {
                    v.set_misbehaving(on);
                }
                if let Some(pending) = self.pending_consensus.as_mut() {
                    pending.misbehave = on;
                }
            }
            // Only the registration protocol uses files.
            Input::File(result) => match self.registration.as_mut() {
                Some(RegistrationNode::Miner(m)) => m.handle_file(now, &result, &mut self.out),
                Some(RegistrationNode::Registrar(r)) => {
                    r.handle_file(now, &result, rng, &mut self.out)
                }
                None => {}
            },
            Input::FileChanged { path } => {
                if let Some(RegistrationNode::Registrar(r)) = self.registration.as_mut() {
                    r.handle_file_changed(now, &path, rng, &mut self.out);
                }
            }
            // Timers no protocol of this host asked for: spurious inputs are
            // no-ops by contract.
            Input::Timer(TimerId::Workload(_)) => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
}
