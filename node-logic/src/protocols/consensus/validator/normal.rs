//! The normal case: proposals, pre-prepares, prepare and commit votes,
//! finalization, and the Byzantine leader's and voter's behaviour.

use super::*;

impl Validator {
    // Normal case

    pub(super) fn next_height(&self) -> u64 {
        self.finalized_height + 1
    }

    pub(super) fn is_leader(&self) -> bool {
        self.set.leader(self.view) == Some(self.me)
    }

    /// Arms the proposal timer if this validator leads the active view and
    /// has not proposed the next height in it.
    pub(super) fn schedule_proposal(&mut self, now: SimTime, out: &mut Outbox) {
        if !(self.is_leader() && self.view_active)
            || self.round.proposals.contains_key(&self.view)
            || self.propose_at.is_some()
        {
            return;
        }
        let at = (self.last_finalized_at + self.block_interval).max(now);
        self.propose_at = Some(at);
        out.set_timer(TimerId::Consensus(ConsensusTimer::Propose), at);
    }

    pub(super) fn propose(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if !(self.is_leader() && self.view_active)
            || self.round.proposals.contains_key(&self.view)
            || self.new_view_height >= self.next_height()
        {
            return;
        }
        let block = self.new_block(now, rng);
        let block = self.fill_block(block, out);
        let pp = self.seal_pre_prepare(block);
        if self.misbehaving {
            // Equivocate: another block for the same (view, height) to the
            // second half of the others.
            let other = self.seal_pre_prepare(self.new_block(now, rng));
            let others: Vec<HostId> = self.others().collect();
            let (first, second) = others.split_at(others.len() / 2);
            let first_bytes = ConsensusMessage::PrePrepare(other.clone()).encode();
            out.broadcast(first.iter().copied(), first_bytes);
            let second_bytes = ConsensusMessage::PrePrepare(pp.clone()).encode();
            out.broadcast(second.iter().copied(), second_bytes);
            self.record_proposed(&other, out);
            self.record_proposed(&pp, out);
            let (v, h) = (self.view, self.next_height());
            self.byzantine_vote(v, h, pp.value().block.hash(), out);
            self.byzantine_vote(v, h, other.value().block.hash(), out);
        } else {
            self.broadcast(&ConsensusMessage::PrePrepare(pp.clone()), out);
            self.record_proposed(&pp, out);
        }
        self.accept_pre_prepare(now, pp, false, out);
    }

    pub(super) fn new_block(&self, now: SimTime, rng: &mut dyn Rng) -> Block {
        let height = self.next_height();
        Block {
            height,
            parent: self.tip,
            proposer: self.me,
            payload: Block::payload_digest(height, self.view, self.me, rng.next_u64()),
            proposed_at: now,
        }
    }

    pub(super) fn seal_pre_prepare(&self, block: Block) -> Signed<PrePrepare> {
        self.seal(PrePrepare {
            leader: self.me,
            view: self.view,
            block,
        })
    }

    pub(super) fn record_proposed(&self, pp: &Signed<PrePrepare>, out: &mut Outbox) {
        let p = pp.value();
        out.record(Observation::Consensus(ConsensusEvent::Proposed {
            height: p.block.height,
            view: p.view,
            hash: p.block.hash(),
        }));
    }

    /// An authentic pre-prepare (from `from`, possibly this validator).
    pub(super) fn on_pre_prepare(
        &mut self,
        now: SimTime,
        from: HostId,
        pp: Signed<PrePrepare>,
        via_new_view: bool,
        out: &mut Outbox,
    ) {
        let (view, height) = (pp.value().view, pp.value().block.height);
        if self.set.leader(view) != Some(pp.value().leader) {
            self.stats.ignored += 1;
            return;
        }
        if height < self.next_height() {
            self.stats.ignored += 1;
            return self.help_behind(now, from, height, out);
        }
        let known = self.round.proposals.get(&view);
        if view == self.view
            && known.is_some_and(|k| k.value().block.hash() == pp.value().block.hash())
        {
            // Sent again: the leader lacks something of ours.
            self.answer_resend(now, from, out);
        }
        let waits_for_view =
            view > self.view || (view == self.view && !self.view_active && !via_new_view);
        if height > self.next_height() || waits_for_view {
            if height > self.next_height() {
                self.request_sync(now, from, out);
            }
            return self.buffer(
                height,
                view,
                from,
                Buffered::PrePrepare { pp, via_new_view },
            );
        }
        self.accept_pre_prepare(now, pp, via_new_view, out);
    }

    /// A pre-prepare for the next height in the current or an older view.
    pub(super) fn accept_pre_prepare(
        &mut self,
        now: SimTime,
        pp: Signed<PrePrepare>,
        via_new_view: bool,
        out: &mut Outbox,
    ) {
        let p = pp.value();
        let (view, height, hash) = (p.view, p.block.height, p.block.hash());
        if view.saturating_add(VIEW_WINDOW) < self.view {
            self.stats.ignored += 1;
            return;
        }
        match self.round.proposals.get(&view) {
            Some(first) if first.value().block.hash() != hash => {
                let leader = p.leader;
                return self.equivocation(leader, view, height, EquivocationKind::PrePrepare, out);
            }
            Some(_) if !via_new_view => {
                self.stats.ignored += 1;
                return;
            }
            Some(_) => {}
            None => {
                self.round.proposals.insert(view, pp.clone());
            }
        }
        self.byzantine_vote(view, height, hash, out);
        let acceptable = view == self.view
            && self.view_active
            && (via_new_view || height > self.new_view_height)
            && p.block.parent == self.tip
            && (via_new_view || p.block.proposer == p.leader)
            && !self.round.prepared_in.contains(&view)
            && self.payload_ready(&p.block);
        if acceptable {
            self.round.prepared_in.insert(view);
            self.cast(now, VoteKind::Prepare, view, height, hash, out);
        } else {
            self.stats.ignored += 1;
        }
        // Votes may have arrived before the block.
        self.check_prepared(now, view, hash, out);
        self.check_committed(now, view, hash, out);
    }

    /// An authentic vote from `from`.
    pub(super) fn on_vote(
        &mut self,
        now: SimTime,
        from: HostId,
        signed: Signed<Vote>,
        out: &mut Outbox,
    ) {
        let v = signed.value();
        let (kind, view, height, hash) = (v.kind, v.view, v.height, v.block_hash);
        if height < self.next_height() {
            self.stats.ignored += 1;
            return self.help_behind(now, from, height, out);
        }
        if height > self.next_height() || view > self.view {
            if height > self.next_height() {
                self.request_sync(now, from, out);
            }
            return self.buffer(height, view, from, Buffered::Vote(signed));
        }
        if kind == VoteKind::Prepare {
            self.byzantine_vote(view, height, hash, out);
        }
        self.tally(now, signed, out);
    }

    /// Counts a vote for the next height at a view up to the current one.
    pub(super) fn tally(&mut self, now: SimTime, signed: Signed<Vote>, out: &mut Outbox) {
        let v = signed.value();
        let (kind, voter, view, height, hash) = (v.kind, v.voter, v.view, v.height, v.block_hash);
        // Prepares only matter in the current view; commits of recent views
        // still form certificates.
        if view.saturating_add(VIEW_WINDOW) < self.view
            || (kind == VoteKind::Prepare && view < self.view)
        {
            self.stats.ignored += 1;
            return;
        }
        let Some(place) = self.set.place(voter) else {
            // Authentic votes are members' (their keys are the set's).
            self.stats.ignored += 1;
            return;
        };
        let first = self.round.first_vote.get(&(kind, view));
        match first.and_then(|voters| voters.get(place)) {
            Some(&first) if first != hash => {
                let kind = match kind {
                    VoteKind::Prepare => EquivocationKind::Prepare,
                    VoteKind::Commit => EquivocationKind::Commit,
                };
                return self.equivocation(voter, view, height, kind, out);
            }
            Some(_) => {
                // Sent again: the voter lacks something of ours.
                self.stats.ignored += 1;
                return self.answer_resend(now, voter, out);
            }
            None => {}
        }
        let places = self.set.len();
        let round = &mut self.round;
        round
            .first_vote
            .entry((kind, view))
            .or_insert_with(|| VoterSlots::reuse(&mut round.spare_first, places))
            .insert(place, hash);
        round
            .votes
            .entry((kind, view, hash))
            .or_insert_with(|| VoteList::reuse(&mut round.spare_votes))
            .push(place, signed);
        match kind {
            VoteKind::Prepare => self.check_prepared(now, view, hash, out),
            VoteKind::Commit => self.check_committed(now, view, hash, out),
        }
    }

    /// With a quorum of prepares for the proposal this validator accepted
    /// in its current view: keep the prepared certificate and commit.
    pub(super) fn check_prepared(
        &mut self,
        now: SimTime,
        view: u64,
        hash: Hash32,
        out: &mut Outbox,
    ) {
        if view != self.view
            || !self.view_active
            || !self.round.prepared_in.contains(&view)
            || self.round.committed_in.contains(&view)
        {
            return;
        }
        let Some(pp) = self.round.proposals.get(&view) else {
            return;
        };
        if pp.value().block.hash() != hash {
            return;
        }
        let quorum = self.set.quorum();
        let Some(votes) = self.round.votes.get(&(VoteKind::Prepare, view, hash)) else {
            return;
        };
        if votes.len() < quorum {
            return;
        }
        self.prepared = Some(PreparedCertificate {
            pre_prepare: pp.clone(),
            prepares: votes.first(quorum),
        });
        self.round.committed_in.insert(view);
        let height = self.next_height();
        self.cast(now, VoteKind::Commit, view, height, hash, out);
    }

    /// With a quorum of commits: finalize if the block is known, else ask a
    /// committer for it.
    pub(super) fn check_committed(
        &mut self,
        now: SimTime,
        view: u64,
        hash: Hash32,
        out: &mut Outbox,
    ) {
        let quorum = self.set.quorum();
        let Some(votes) = self.round.votes.get(&(VoteKind::Commit, view, hash)) else {
            return;
        };
        if votes.len() < quorum {
            return;
        }
        let cert = CommitCertificate {
            votes: votes.first(quorum),
        };
        let block = self
            .round
            .proposals
            .values()
            .map(|pp| &pp.value().block)
            .find(|b| b.hash() == hash)
            .cloned();
        match block {
            Some(block) => self.finalize(now, block, cert, false, out),
            None => {
                // The committer first by id, as the sync request always asked.
                let helper = votes
                    .iter()
                    .filter(|(_, v)| v.value().voter != self.me)
                    .min_by_key(|(place, _)| *place)
                    .map(|(_, v)| v.value().voter);
                if let Some(helper) = helper {
                    self.request_sync(now, helper, out);
                }
            }
        }
    }

    /// Appends `block` (the next height, on the tip) to the chain.
    pub(super) fn finalize(
        &mut self,
        now: SimTime,
        block: Block,
        cert: CommitCertificate,
        via_sync: bool,
        out: &mut Outbox,
    ) {
        if block.height != self.next_height() || block.parent != self.tip {
            return;
        }
        let hash = block.hash();
        let view = cert.target().map_or(self.view, |(v, _, _)| v);
        out.record(Observation::Consensus(ConsensusEvent::Finalized {
            height: block.height,
            hash,
            view,
            proposer: block.proposer,
            proposed_at: block.proposed_at,
            via_sync,
        }));
        self.payload_finalized(&block, out);
        self.finalized_height = block.height;
        self.tip = hash;
        self.chain.push(hash);
        if self.chain.len() >= 2 * CHAIN_RETAIN {
            self.chain.drain(..CHAIN_RETAIN);
            self.chain_offset += CHAIN_RETAIN as u64;
        }
        self.history.push_back((block, cert));
        if self.history.len() > SYNC_HISTORY {
            self.history.pop_front();
        }
        self.last_finalized_at = now;
        self.round.next_height();
        self.prepared = None;
        self.failed_views = 0;
        self.propose_at = None;
        self.progressed = true;
        self.disarm_resend(out);
        self.arm_view_timer(now + self.block_interval + self.view_timeout, out);
    }

    /// Signs a vote, sends it to every other validator and counts it.
    pub(super) fn cast(
        &mut self,
        now: SimTime,
        kind: VoteKind,
        view: u64,
        height: u64,
        hash: Hash32,
        out: &mut Outbox,
    ) {
        let vote = self.seal_vote(kind, view, height, hash);
        let message = match kind {
            VoteKind::Prepare => ConsensusMessage::Prepare(vote.clone()),
            VoteKind::Commit => ConsensusMessage::Commit(vote.clone()),
        };
        self.broadcast(&message, out);
        self.tally(now, vote, out);
    }

    pub(super) fn seal_vote(
        &self,
        kind: VoteKind,
        view: u64,
        height: u64,
        hash: Hash32,
    ) -> Signed<Vote> {
        self.seal(Vote {
            kind,
            voter: self.me,
            view,
            height,
            block_hash: hash,
        })
    }

    /// A misbehaving validator prepares and commits every block it sees,
    /// once per `(view, hash)`; the votes are sent, not counted.
    pub(super) fn byzantine_vote(
        &mut self,
        view: u64,
        height: u64,
        hash: Hash32,
        out: &mut Outbox,
    ) {
        if !self.misbehaving || !self.round.byzantine_votes.insert((view, hash)) {
            return;
        }
        for kind in [VoteKind::Prepare, VoteKind::Commit] {
            let vote = self.seal_vote(kind, view, height, hash);
            let message = match kind {
                VoteKind::Prepare => ConsensusMessage::Prepare(vote),
                VoteKind::Commit => ConsensusMessage::Commit(vote),
            };
            self.broadcast(&message, out);
        }
    }

    pub(super) fn equivocation(
        &mut self,
        offender: HostId,
        view: u64,
        height: u64,
        kind: EquivocationKind,
        out: &mut Outbox,
    ) {
        if offender != self.me && self.round.reported.insert((offender, view, kind)) {
            self.stats.equivocations += 1;
            out.record(Observation::Consensus(ConsensusEvent::Equivocation {
                offender,
                view,
                height,
                kind,
            }));
        }
    }
}
