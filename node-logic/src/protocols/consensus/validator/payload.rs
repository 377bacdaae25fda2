//! Blocks that carry transactions (with client load only): the validator's
//! mempool, the transactions and block bodies it receives, filling its
//! proposals, holding its prepare until a proposal's body is known and
//! checked, and cleaning the pool at finalization.
//!
//! A leader's block names its body by the payload digest; the body (up to
//! one datagram of transactions) is broadcast just before the signed
//! pre-prepare, on the same links, so it crosses the bandwidth model and
//! arrives first. Votes stay small. A follower prepares a proposal only
//! once it holds the checked body ([`Mempool::receive_body`]); a body that
//! arrives after its proposal releases the prepare then. Without a
//! mempool nothing here runs and blocks carry a random digest as before.

use super::*;
use crate::protocols::consensus::mempool::Mempool;
use crate::protocols::consensus::transaction::{
    BlockBody, KIND_BLOCK_BODY, KIND_TRANSACTION, Transaction, body_datagram,
};

impl Validator {
    /// Gives the validator a transaction pool: from now on its blocks
    /// carry transactions (see the module docs of `payload`).
    pub fn set_mempool(&mut self, mempool: Mempool) {
        self.mempool = Some(Box::new(mempool));
    }

    /// The transaction pool, with client load.
    pub fn mempool(&self) -> Option<&Mempool> {
        self.mempool.as_deref()
    }

    /// Whether a consensus datagram of this kind is a transaction or a
    /// block body this validator takes ([`Validator::handle_payload`]).
    pub fn takes_payload(&self, kind: Option<u8>) -> bool {
        self.mempool.is_some() && matches!(kind, Some(KIND_TRANSACTION | KIND_BLOCK_BODY))
    }

    /// A transaction (from anyone) or a block body (from a validator)
    /// arrived; `body` starts at the message kind.
    pub fn handle_payload(
        &mut self,
        now: SimTime,
        from: HostId,
        mut body: Reader<'_>,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if !self.enabled {
            return self.reject(from, RejectReason::NotAMember, out);
        }
        match body.u8() {
            Ok(KIND_TRANSACTION) => self.on_transaction(from, body, out),
            Ok(KIND_BLOCK_BODY) => {
                self.on_body(now, from, body, out);
                self.settle(now, rng, out);
            }
            Ok(_) | Err(_) => self.reject(from, RejectReason::Malformed, out),
        }
    }

    fn on_transaction(&mut self, from: HostId, mut body: Reader<'_>, out: &mut Outbox) {
        let Some(mempool) = self.mempool.as_deref_mut() else {
            return;
        };
        let shared = body.rest_shared();
        let tx = Transaction::decode(&mut body).and_then(|tx| body.finish().map(|()| tx));
        let Ok(tx) = tx else {
            mempool.count_rejection();
            return self.reject(from, RejectReason::Malformed, out);
        };
        let verifier = Counting {
            inner: &*self.verifier,
            count: &self.verifications,
        };
        // Refusals are counted by the pool and sampled in its reports.
        let _ = match shared {
            // The pool keeps the datagram's bytes, not a copy.
            Some(bytes) => mempool.insert_received(tx, bytes, &verifier),
            None => mempool.insert(tx, &verifier),
        };
    }

    fn on_body(&mut self, now: SimTime, from: HostId, mut r: Reader<'_>, out: &mut Outbox) {
        if !self.set.contains(from) || from == self.me {
            return self.reject(from, RejectReason::NotAMember, out);
        }
        let next = self.next_height();
        let Some(mempool) = self.mempool.as_deref_mut() else {
            return;
        };
        // The transactions' wire forms, as received: the datagram after
        // the body's header.
        let wire = r.rest_shared().and_then(|b| {
            b.slice(
                BlockBody::HEADER_LEN,
                b.len().checked_sub(BlockBody::HEADER_LEN)?,
            )
        });
        let decoded = BlockBody::decode(&mut r).and_then(|b| r.finish().map(|()| b));
        let Ok((body, digest)) = decoded else {
            mempool.count_rejection();
            return self.reject(from, RejectReason::Malformed, out);
        };
        if mempool.body(&digest).is_some() {
            self.stats.ignored += 1;
            return;
        }
        let height = body.height;
        let verifier = Counting {
            inner: &*self.verifier,
            count: &self.verifications,
        };
        if mempool
            .receive_body(body, digest, next, wire.as_ref(), &verifier)
            .is_ok()
        {
            out.record(Observation::Consensus(ConsensusEvent::BodyReceived {
                height,
                payload: digest,
            }));
            self.retry_prepare(now, out);
        }
    }

    /// A leader's new block: with a pool, its payload becomes the digest of
    /// the transactions it takes from the pool, whose body goes out now
    /// (before the proposal) and is kept.
    pub(super) fn fill_block(&mut self, mut block: Block, out: &mut Outbox) -> Block {
        let Some(mempool) = self.mempool.as_deref_mut() else {
            return block;
        };
        let txs = mempool.fill();
        let digest = mempool.digest(&txs);
        block.payload = digest;
        let ids = txs.iter().map(|t| (t.client, t.nonce)).collect();
        let body = BlockBody {
            height: block.height,
            txs,
        };
        let datagram = body_datagram(&body, &digest);
        mempool.keep_body(digest, body);
        self.broadcast_body(datagram, out);
        out.record(Observation::Consensus(ConsensusEvent::BlockTxs {
            hash: block.hash(),
            payload: digest,
            txs: ids,
        }));
        block
    }

    /// A new view re-proposes `block`: its leader sends the body again
    /// (validators that missed it could not prepare otherwise).
    pub(super) fn resend_body(&mut self, block: &Block, out: &mut Outbox) {
        let body = self.mempool.as_deref().and_then(|m| m.body(&block.payload));
        if let Some(datagram) = body.map(|body| body_datagram(body, &block.payload)) {
            self.broadcast_body(datagram, out);
        }
    }

    /// A leader resending its part of an active view sends the current
    /// proposal's body first (a validator that lost it cannot prepare).
    pub(super) fn resend_current_body(&self, to: &[HostId], out: &mut Outbox) {
        if !self.view_active || !self.is_leader() {
            return;
        }
        let Some(pp) = self.round.proposals.get(&self.view) else {
            return;
        };
        let payload = pp.value().block.payload;
        if let Some(body) = self.mempool.as_deref().and_then(|m| m.body(&payload)) {
            out.broadcast(to.iter().copied(), body_datagram(body, &payload));
        }
    }

    /// Whether this validator may vote for `block`: always without a pool,
    /// else once it holds the block's checked body.
    pub(super) fn payload_ready(&self, block: &Block) -> bool {
        self.mempool
            .as_deref()
            .is_none_or(|m| m.body(&block.payload).is_some())
    }

    /// `block` was finalized: its transactions leave the pool; a sample of
    /// the pool is recorded.
    pub(super) fn payload_finalized(&mut self, block: &Block, out: &mut Outbox) {
        let Some(mempool) = self.mempool.as_deref_mut() else {
            return;
        };
        mempool.finalized(block.height, &block.payload);
        let stats = mempool.stats();
        let peak = mempool.take_peak();
        out.record(Observation::Consensus(ConsensusEvent::Mempool {
            txs: mempool.len() as u64,
            bytes: mempool.bytes() as u64,
            peak,
            evicted: stats.evicted,
            rejected: stats.rejected,
        }));
    }

    /// A body arrived after its proposal: prepare the current view's
    /// proposal now if that was all it waited for.
    fn retry_prepare(&mut self, now: SimTime, out: &mut Outbox) {
        let view = self.view;
        let Some(pp) = self.round.proposals.get(&view) else {
            return;
        };
        let p = pp.value();
        let (height, hash) = (p.block.height, p.block.hash());
        let via_new_view = height == self.new_view_height;
        let acceptable = self.view_active
            && height == self.next_height()
            && p.block.parent == self.tip
            && (via_new_view || p.block.proposer == p.leader)
            && !self.round.prepared_in.contains(&view)
            && self.payload_ready(&p.block);
        if acceptable {
            self.round.prepared_in.insert(view);
            self.cast(now, VoteKind::Prepare, view, height, hash, out);
            self.check_prepared(now, view, hash, out);
            self.check_committed(now, view, hash, out);
        }
    }
}
