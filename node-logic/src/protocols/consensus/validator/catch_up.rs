//! Catch-up: sync requests and responses with commit certificates.

use super::*;

impl Validator {
    // Catch-up

    pub(super) fn sync_retry(&self) -> SimDuration {
        SimDuration::from_nanos(self.view_timeout.as_nanos() / 2).max(SimDuration::from_millis(1))
    }

    pub(super) fn request_sync(&mut self, now: SimTime, to: HostId, out: &mut Outbox) {
        if now < self.sync_allowed_at || to == self.me {
            return;
        }
        self.sync_allowed_at = now + self.sync_retry();
        self.stats.sync_requests += 1;
        let request = self.seal(SyncRequest {
            sender: self.me,
            from_height: self.next_height(),
        });
        out.send(to, ConsensusMessage::SyncRequest(request).encode());
    }

    pub(super) fn on_sync_request(
        &mut self,
        from: HostId,
        request: &SyncRequest,
        out: &mut Outbox,
    ) {
        self.send_blocks(from, request.from_height, out);
    }

    /// Sends finalized blocks from `from_height` on, if this validator
    /// still has them.
    pub(super) fn send_blocks(&mut self, to: HostId, from_height: u64, out: &mut Outbox) {
        let Some(first) = self.history.front().map(|(b, _)| b.height) else {
            return;
        };
        if from_height < first || from_height > self.finalized_height {
            return;
        }
        let start = (from_height - first) as usize;
        let mut size = 0;
        let mut blocks = Vec::new();
        for (block, cert) in self.history.iter().skip(start).take(MAX_SYNC_BLOCKS) {
            let cert_size: usize = cert
                .votes
                .iter()
                .map(|v| v.envelope().body.len() + 104)
                .sum();
            size += BLOCK_LEN + 4 + cert_size;
            if size > SYNC_BYTES && !blocks.is_empty() {
                break;
            }
            blocks.push((block.clone(), cert.clone()));
        }
        self.stats.sync_responses += 1;
        let response = self.seal(SyncResponse {
            sender: self.me,
            blocks,
        });
        out.send(to, ConsensusMessage::SyncResponse(response).encode());
    }

    pub(super) fn on_sync_response(
        &mut self,
        now: SimTime,
        from: HostId,
        response: Signed<SyncResponse>,
        out: &mut Outbox,
    ) {
        let before = self.finalized_height;
        for (block, cert) in &response.value().blocks {
            if block.height <= self.finalized_height {
                continue;
            }
            if block.height != self.next_height() || block.parent != self.tip {
                self.stats.ignored += 1;
                break;
            }
            if let Err(e) = cert.validate(&self.set, &self.counting()) {
                self.reject(from, e.reject_reason(), out);
                break;
            }
            if cert.target().map(|(_, h, hash)| (h, hash)) != Some((block.height, block.hash())) {
                self.reject(from, RejectReason::Malformed, out);
                break;
            }
            self.finalize(now, block.clone(), cert.clone(), true, out);
        }
        if self.finalized_height > before {
            out.record(Observation::Consensus(ConsensusEvent::CaughtUp {
                to_height: self.finalized_height,
            }));
            // Progress: ask for more at once.
            self.sync_allowed_at = now;
            self.request_sync(now, from, out);
        }
    }
}
