//! A host: the protocols its role runs, behind one [`Node`].
//!
//! The host routes each input to the protocol it belongs to (datagrams by
//! their protocol tag, timers by their id) and collects every protocol's
//! outputs in one [`Outbox`], so the driver sees one state machine.

use rand_core::Rng;

use crate::HostId;
use crate::identity::Identity;
use crate::io::{Input, Node, Observation, Output, RejectReason, TimerId};
use crate::outbox::Outbox;
use crate::peers::{PeerConfig, PeerRegistry};
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
}

/// One host's protocols. Built anew on every (re)start: a crash loses it all.
#[derive(Debug)]
pub struct HostNode {
    id: HostId,
    peers: Option<PeerRegistry>,
    out: Outbox,
}

impl HostNode {
    /// A host running what `config` says.
    pub fn new(config: HostConfig) -> Self {
        let peers = config
            .peers
            .map(|c| PeerRegistry::new(c, config.identity.clone()));
        HostNode {
            id: config.id,
            peers,
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
            // No registration role is wired into hosts yet.
            ProtocolTag::Registration => self.reject(from, RejectReason::NotAMember),
        }
    }

    fn reject(&mut self, from: HostId, reason: RejectReason) {
        self.out
            .record(Observation::MessageRejected { from, reason });
    }
}

impl Node for HostNode {
    fn handle_input(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng) {
        match input {
            Input::Start { .. } => {
                if let Some(peers) = self.peers.as_mut() {
                    peers.handle_start(now, rng, &mut self.out);
                }
            }
            Input::Message { from, payload } => self.handle_message(now, from, &payload, rng),
            Input::Timer(TimerId::PeerHeartbeat) => {
                if let Some(peers) = self.peers.as_mut() {
                    peers.handle_heartbeat(now, rng, &mut self.out);
                }
            }
            // Timers and file results no protocol of this host asked for:
            // spurious inputs are no-ops by contract.
            Input::Timer(_) | Input::File(_) | Input::FileChanged { .. } => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
}
