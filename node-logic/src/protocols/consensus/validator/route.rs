//! How a validator's broadcasts leave it: one datagram to each other
//! validator (the default), or, for the kinds `[gossip] carry_consensus`
//! names, parked for the host's gossip member to spread as carried rumors
//! (see [`crate::protocols::gossip`]). Only broadcasts to every other
//! validator are routed; point-to-point messages never come here.

use super::*;
use crate::protocols::gossip::{CarryConsensus, MAX_RUMOR_BYTES};

/// A validator's broadcast route and the datagrams parked for gossip.
#[derive(Debug, Default)]
pub(super) struct Route {
    carry: CarryConsensus,
    /// `(is a proposal or block body, datagram)`, in sending order.
    parked: Vec<(bool, Vec<u8>)>,
}

impl Validator {
    /// Sends `message` to every other validator, or parks it for gossip
    /// when the route carries its kind.
    pub(super) fn broadcast(&mut self, message: &ConsensusMessage, out: &mut Outbox) {
        let (block, carried) = match message {
            ConsensusMessage::PrePrepare(_) => (true, self.route.carry.blocks()),
            ConsensusMessage::Prepare(_)
            | ConsensusMessage::Commit(_)
            | ConsensusMessage::ViewChange { .. }
            | ConsensusMessage::NewView(_) => (false, self.route.carry.votes()),
            ConsensusMessage::SyncRequest(_) | ConsensusMessage::SyncResponse(_) => (false, false),
        };
        self.send_to_all(carried, block, message.encode(), out);
    }

    /// Sends a block body datagram to every other validator, or parks it
    /// for gossip when the route carries blocks.
    pub(super) fn broadcast_body(&mut self, datagram: Vec<u8>, out: &mut Outbox) {
        let carried = self.route.carry.blocks();
        self.send_to_all(carried, true, datagram, out);
    }

    fn send_to_all(&mut self, carried: bool, block: bool, datagram: Vec<u8>, out: &mut Outbox) {
        // A datagram too large for a rumor goes directly (as fragments).
        if carried && datagram.len() <= MAX_RUMOR_BYTES {
            self.route.parked.push((block, datagram));
        } else {
            out.broadcast(self.others(), datagram);
        }
    }

    /// Routes this validator's broadcasts of the kinds `carry` names
    /// through gossip from now on.
    pub fn carry_by_gossip(&mut self, carry: CarryConsensus) {
        self.route.carry = carry;
    }

    /// The broadcasts parked for gossip since the last call, each with
    /// whether it is a proposal or block body.
    pub fn take_for_gossip(&mut self) -> Vec<(bool, Vec<u8>)> {
        std::mem::take(&mut self.route.parked)
    }
}
