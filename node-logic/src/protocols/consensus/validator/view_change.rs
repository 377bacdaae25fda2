//! View change: the view timer, view-change messages, new-view messages
//! and their checks, and helping validators still in an old view.

use super::*;

impl Validator {
    // View change

    pub(super) fn view_timeout_for(&self, failed_views: u32) -> SimDuration {
        view_timeout_after(self.view_timeout, self.max_view_timeout, failed_views)
    }

    pub(super) fn arm_view_timer(&mut self, at: SimTime, out: &mut Outbox) {
        self.view_deadline = Some(at);
        out.set_timer(TimerId::Consensus(ConsensusTimer::View), at);
    }

    pub(super) fn enter_view(&mut self, new_view: u64, out: &mut Outbox) {
        if new_view != self.view {
            out.record(Observation::Consensus(ConsensusEvent::ViewChange {
                from_view: self.view,
                to_view: new_view,
            }));
        }
        self.view = new_view;
        self.propose_at = None;
        self.round.prune_below(new_view.saturating_sub(VIEW_WINDOW));
        self.disarm_resend(out);
    }

    /// The view timer expired without a finalization. An active view is
    /// left for the next one. A view change that got no new-view message
    /// moves on only if a quorum (this validator included) is changing
    /// view with it — then the new leader has failed; otherwise the
    /// validator is cut off from a quorum and only repeats its view change,
    /// so a lone validator does not run ahead into views nobody else
    /// reaches (it rejoins the others' view when connectivity returns).
    pub(super) fn view_timer_expired(&mut self, now: SimTime, out: &mut Outbox) {
        if self.view_active {
            return self.start_view_change(now, self.view.saturating_add(1), out);
        }
        let view = self.view;
        let with_us = self
            .view_changes
            .iter()
            .filter(|&(&who, (vc, _))| who != self.me && vc.value().new_view >= view)
            .count()
            + 1;
        if with_us >= self.set.quorum() {
            self.start_view_change(now, view.saturating_add(1), out);
        } else {
            self.send_own_view_change(out);
            self.arm_view_timer(now + self.view_timeout_for(self.failed_views), out);
        }
    }

    /// Leaves the current view for `new_view` (> current): broadcast a view
    /// change and wait for the new leader's new-view message.
    pub(super) fn start_view_change(&mut self, now: SimTime, new_view: u64, out: &mut Outbox) {
        self.enter_view(new_view, out);
        self.view_active = false;
        self.new_view = None;
        self.failed_views = self.failed_views.saturating_add(1);
        self.send_own_view_change(out);
        self.arm_view_timer(now + self.view_timeout_for(self.failed_views), out);
    }

    /// Signs and broadcasts this validator's view change to the current
    /// view, with its prepared certificate.
    pub(super) fn send_own_view_change(&mut self, out: &mut Outbox) {
        let summary = self.prepared.as_ref().map(|c| PreparedSummary {
            view: c.view(),
            height: c.height(),
            block_hash: c.block_hash(),
        });
        let vc = self.seal(ViewChange {
            sender: self.me,
            new_view: self.view,
            finalized_height: self.finalized_height,
            prepared: summary,
        });
        let certificate = self.prepared.clone();
        self.broadcast(
            &ConsensusMessage::ViewChange {
                view_change: vc.clone(),
                certificate: certificate.clone(),
            },
            out,
        );
        self.view_changes.insert(self.me, (vc, certificate));
    }

    pub(super) fn on_view_change(
        &mut self,
        now: SimTime,
        from: HostId,
        vc: Signed<ViewChange>,
        certificate: Option<PreparedCertificate>,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if let Some(cert) = &certificate {
            if let Err(e) = cert.validate(&self.set, &self.counting()) {
                return self.reject(from, e.reject_reason(), out);
            }
            let claimed = vc.value().prepared;
            let actual = PreparedSummary {
                view: cert.view(),
                height: cert.height(),
                block_hash: cert.block_hash(),
            };
            if claimed != Some(actual) {
                return self.reject(from, RejectReason::Malformed, out);
            }
        }
        let (new_view, their_height) = (vc.value().new_view, vc.value().finalized_height);
        if their_height > self.finalized_height {
            self.request_sync(now, from, out);
        }
        let stale = new_view < self.view || (new_view == self.view && self.view_active);
        if stale || their_height < self.finalized_height {
            self.help(now, from, their_height, stale, out);
        }
        if stale {
            return;
        }
        let held = self
            .view_changes
            .get(&from)
            .map(|(old, _)| old.value().new_view);
        match held {
            Some(held) if held >= new_view => {
                if held == new_view && new_view == self.view {
                    // Sent again: the sender lacks ours.
                    self.answer_resend(now, from, out);
                }
            }
            Some(_) | None => {
                self.view_changes.insert(from, (vc, certificate));
            }
        }
        // f + 1 validators are past our view: join the highest view that
        // f + 1 of them have reached.
        let mut ahead: Vec<u64> = self
            .view_changes
            .iter()
            .filter(|&(&who, _)| who != self.me)
            .map(|(_, (vc, _))| vc.value().new_view)
            .filter(|&v| v > self.view)
            .collect();
        let f1 = self.set.f() + 1;
        if ahead.len() >= f1 {
            ahead.sort_unstable_by(|a, b| b.cmp(a));
            let target = ahead[f1 - 1];
            self.start_view_change(now, target, out);
        }
        self.try_new_view(now, rng, out);
    }

    /// The leader of a view being changed to, with a quorum of view
    /// changes, opens it.
    pub(super) fn try_new_view(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if self.view_active || !self.is_leader() {
            return;
        }
        let view = self.view;
        let mut chosen: Vec<&(Signed<ViewChange>, Option<PreparedCertificate>)> = self
            .view_changes
            .values()
            .filter(|(vc, _)| vc.value().new_view == view)
            .collect();
        if chosen.len() < self.set.quorum() {
            return;
        }
        // Our own first, then the lowest finalized heights: a quorum is
        // enough, and an inflated height claim is left out when possible.
        chosen.sort_by_key(|(vc, _)| (vc.value().sender != self.me, vc.value().finalized_height));
        chosen.truncate(self.set.quorum());
        let top = chosen
            .iter()
            .map(|(vc, _)| vc.value().finalized_height)
            .max()
            .unwrap_or(0);
        if top > self.finalized_height {
            let helper = chosen
                .iter()
                .find(|(vc, _)| vc.value().finalized_height == top)
                .map(|(vc, _)| vc.value().sender);
            if let Some(helper) = helper {
                self.request_sync(now, helper, out);
            }
            return;
        }
        if top != self.finalized_height {
            return;
        }
        let height = top + 1;
        let highest = chosen
            .iter()
            .filter_map(|(_, cert)| cert.as_ref())
            .filter(|c| c.height() == height)
            .max_by_key(|c| c.view())
            .cloned();
        let view_changes: Vec<Signed<ViewChange>> =
            chosen.iter().map(|(vc, _)| vc.clone()).collect();
        let block = match &highest {
            Some(cert) => {
                let block = cert.pre_prepare.value().block.clone();
                self.resend_body(&block, out);
                block
            }
            None => {
                let block = self.new_block(now, rng);
                self.fill_block(block, out)
            }
        };
        let proposal = self.seal_pre_prepare(block);
        let nv = self.seal(NewView {
            leader: self.me,
            view,
            view_changes,
            prepared: highest,
            proposal: proposal.clone(),
        });
        self.broadcast(&ConsensusMessage::NewView(nv.clone()), out);
        self.record_proposed(&proposal, out);
        self.open_view(now, nv, height, out);
        self.accept_pre_prepare(now, proposal, true, out);
    }

    /// Enters the view of an accepted new-view message.
    pub(super) fn open_view(
        &mut self,
        now: SimTime,
        nv: Signed<NewView>,
        height: u64,
        out: &mut Outbox,
    ) {
        let view = nv.value().view;
        self.enter_view(view, out);
        self.view_active = true;
        self.new_view_height = height;
        self.new_view = Some(nv);
        self.view_changes
            .retain(|_, (vc, _)| vc.value().new_view > view);
        let timeout = self.view_timeout_for(self.failed_views.max(1));
        self.arm_view_timer(now + self.block_interval + timeout, out);
    }

    pub(super) fn on_new_view(
        &mut self,
        now: SimTime,
        from: HostId,
        nv: Signed<NewView>,
        out: &mut Outbox,
    ) {
        let (view, leader) = (nv.value().view, nv.value().leader);
        if self.set.leader(view) != Some(leader) || view < self.view {
            self.stats.ignored += 1;
            return;
        }
        if view == self.view && self.view_active {
            // Sent again: the sender lacks something of ours.
            self.stats.ignored += 1;
            return self.answer_resend(now, from, out);
        }
        let height = match self.validate_new_view(nv.value()) {
            Ok(height) => height,
            Err(reason) => return self.reject(from, reason, out),
        };
        let proposal = nv.value().proposal.clone();
        self.open_view(now, nv, height, out);
        self.on_pre_prepare(now, from, proposal, true, out);
    }

    /// Checks a new-view message; returns the height it proposes.
    pub(super) fn validate_new_view(&self, nv: &NewView) -> Result<u64, RejectReason> {
        let verifier = self.counting();
        let p = nv.proposal.value();
        if p.leader != nv.leader || p.view != nv.view {
            return Err(RejectReason::Malformed);
        }
        let mut senders = BTreeSet::new();
        for vc in &nv.view_changes {
            if vc.value().new_view != nv.view || !senders.insert(vc.value().sender) {
                return Err(RejectReason::Malformed);
            }
        }
        if senders.len() < self.set.quorum() {
            return Err(RejectReason::Malformed);
        }
        nv.proposal.check(&self.set, &verifier)?;
        for vc in &nv.view_changes {
            vc.check(&self.set, &verifier)?;
        }
        let top = nv
            .view_changes
            .iter()
            .map(|vc| vc.value().finalized_height)
            .max()
            .unwrap_or(0);
        let height = top.checked_add(1).ok_or(RejectReason::Malformed)?;
        if p.block.height != height {
            return Err(RejectReason::Malformed);
        }
        let highest = nv
            .view_changes
            .iter()
            .filter_map(|vc| vc.value().prepared)
            .filter(|s| s.height == height)
            .max_by_key(|s| s.view);
        match (highest, &nv.prepared) {
            (Some(summary), Some(cert)) => {
                cert.validate(&self.set, &verifier)
                    .map_err(|e| e.reject_reason())?;
                let matches = cert.view() == summary.view
                    && cert.height() == summary.height
                    && cert.block_hash() == summary.block_hash
                    && p.block.hash() == summary.block_hash;
                if !matches {
                    return Err(RejectReason::Malformed);
                }
            }
            (None, None) if p.block.proposer == nv.leader => {}
            _ => return Err(RejectReason::Malformed),
        }
        Ok(height)
    }

    /// Helps a validator that is behind: the current view's new-view
    /// message if it is in an older view, blocks it lacks. Once per
    /// `sync_retry` per validator.
    pub(super) fn help(
        &mut self,
        now: SimTime,
        to: HostId,
        their_height: u64,
        stale_view: bool,
        out: &mut Outbox,
    ) {
        if self
            .helped_at
            .get(&to)
            .is_some_and(|&at| now < at + self.sync_retry())
        {
            return;
        }
        self.helped_at.insert(to, now);
        if stale_view && let Some(nv) = &self.new_view {
            out.send(to, ConsensusMessage::NewView(nv.clone()).encode());
        }
        if their_height < self.finalized_height {
            self.send_blocks(to, their_height + 1, out);
        }
    }
}
