//! Retransmission: what the current view still needs from this validator
//! is sent again, to the validators that have not shown they have it,
//! until the height is finalized or the view is left.

use super::*;

impl Validator {
    // Retransmission

    /// How long unanswered messages wait before they are sent again: a
    /// quarter of the current view timeout (at least 1 ms), so a view gets
    /// three retries before it times out.
    pub(super) fn resend_interval(&self) -> SimDuration {
        let timeout = self.view_timeout_for(self.failed_views.max(1));
        SimDuration::from_nanos(timeout.as_nanos() / 4).max(SimDuration::from_millis(1))
    }

    /// Whether this validator has sent something the others may still
    /// lack: a view change, a proposal or a vote of the current height.
    fn waiting(&self) -> bool {
        !self.view_active
            || self.own_vote(VoteKind::Prepare).is_some()
            || (self.is_leader() && self.round.proposals.contains_key(&self.view))
    }

    /// Arms the resend timer while this validator waits on the others
    /// (called after every input).
    pub(super) fn arm_resend(&mut self, now: SimTime, out: &mut Outbox) {
        if self.resend_at.is_none() && self.waiting() {
            let at = now + self.resend_interval();
            self.resend_at = Some(at);
            out.set_timer(TimerId::Consensus(ConsensusTimer::Resend), at);
        }
    }

    /// Stops retransmitting: the height is finalized or the view is left
    /// (what the next one needs is armed anew).
    pub(super) fn disarm_resend(&mut self, out: &mut Outbox) {
        if self.resend_at.take().is_some() {
            out.cancel_timer(TimerId::Consensus(ConsensusTimer::Resend));
        }
        self.resent_to.clear();
    }

    /// The resend timer fired: send this validator's part of the view
    /// again to every validator that has not shown it holds it.
    pub(super) fn resend(&mut self, now: SimTime, out: &mut Outbox) {
        self.resend_at = None;
        let targets: Vec<HostId> = self.others().filter(|&p| self.lacks_ours(p)).collect();
        self.send_round(now, &targets, out);
    }

    /// Whether `peer` may still lack this validator's part of the view. In
    /// an active view: until its commit arrives (a validator that commits
    /// holds the proposal and a prepared certificate; the commits it still
    /// lacks it asks for by sending its own again). While changing view:
    /// until its view change to this view (or a later one) arrives, and
    /// always for the view's leader, who answers with its new-view message
    /// once it has one.
    fn lacks_ours(&self, peer: HostId) -> bool {
        if self.view_active {
            !self.set.place(peer).is_some_and(|place| {
                self.round
                    .first_vote
                    .get(&(VoteKind::Commit, self.view))
                    .is_some_and(|voters| voters.get(place).is_some())
            })
        } else {
            self.set.leader(self.view) == Some(peer)
                || self
                    .view_changes
                    .get(&peer)
                    .is_none_or(|(vc, _)| vc.value().new_view < self.view)
        }
    }

    /// `peer` sent again something this validator already holds: it is
    /// missing something of ours. Answer with our part of the view, at
    /// most once per resend interval per validator (so two validators
    /// never bounce duplicates back and forth).
    pub(super) fn answer_resend(&mut self, now: SimTime, peer: HostId, out: &mut Outbox) {
        let interval = self.resend_interval();
        if peer == self.me
            || self
                .resent_to
                .get(&peer)
                .is_some_and(|&at| now < at + interval)
        {
            return;
        }
        self.send_round(now, &[peer], out);
    }

    /// A message of `from` for `height`, which this validator has
    /// finalized. Late votes of a height just finalized are normal (a
    /// quorum was enough); but one for an older height, or sent again a
    /// resend interval after the finalization, says the sender is stuck
    /// there: send it the blocks it lacks (rate-limited by `help`).
    pub(super) fn help_behind(
        &mut self,
        now: SimTime,
        from: HostId,
        height: u64,
        out: &mut Outbox,
    ) {
        let resent = now >= self.last_finalized_at + self.resend_interval();
        if height < self.finalized_height || resent {
            self.help(now, from, height.saturating_sub(1), false, out);
        }
    }

    fn send_round(&mut self, now: SimTime, to: &[HostId], out: &mut Outbox) {
        if to.is_empty() {
            return;
        }
        self.resend_current_body(to, out);
        for message in self.round_messages() {
            out.broadcast(to.iter().copied(), message.encode());
        }
        for &peer in to {
            self.resent_to.insert(peer, now);
        }
    }

    /// This validator's part of the current view: its view change while
    /// changing view; else the proposal (the leader's new-view message if
    /// that proposed this height, else its pre-prepare) and its own
    /// prepare and commit. At most three messages, each already signed.
    fn round_messages(&self) -> Vec<ConsensusMessage> {
        if !self.view_active {
            return self
                .view_changes
                .get(&self.me)
                .filter(|(vc, _)| vc.value().new_view == self.view)
                .map(|(vc, cert)| ConsensusMessage::ViewChange {
                    view_change: vc.clone(),
                    certificate: cert.clone(),
                })
                .into_iter()
                .collect();
        }
        let mut messages = Vec::with_capacity(3);
        if self.is_leader() {
            match &self.new_view {
                Some(nv)
                    if nv.value().view == self.view
                        && self.new_view_height == self.next_height() =>
                {
                    messages.push(ConsensusMessage::NewView(nv.clone()));
                }
                Some(_) | None => {
                    if let Some(pp) = self.round.proposals.get(&self.view) {
                        messages.push(ConsensusMessage::PrePrepare(pp.clone()));
                    }
                }
            }
        }
        if let Some(vote) = self.own_vote(VoteKind::Prepare) {
            messages.push(ConsensusMessage::Prepare(vote.clone()));
        }
        if let Some(vote) = self.own_vote(VoteKind::Commit) {
            messages.push(ConsensusMessage::Commit(vote.clone()));
        }
        messages
    }

    /// This validator's own vote of `kind` in the current view and height.
    fn own_vote(&self, kind: VoteKind) -> Option<&Signed<Vote>> {
        let place = self.set.place(self.me)?;
        let hash = self.round.first_vote.get(&(kind, self.view))?.get(place)?;
        self.round.votes.get(&(kind, self.view, *hash))?.get(place)
    }
}
