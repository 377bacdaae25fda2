//! The queue of [`Output`]s a host's protocols fill and the driver drains.

use std::collections::VecDeque;

use crate::HostId;
use crate::io::{FileOp, Observation, Output, TimerId};
use crate::time::SimTime;

/// Outputs waiting for the driver, in the order the protocols produced them.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Output>,
}

impl Outbox {
    /// Queues a datagram to `to`.
    #[inline]
    pub fn send(&mut self, to: HostId, payload: Vec<u8>) {
        self.queue.push_back(Output::Send { to, payload });
    }
    /// Queues setting `timer` to `at`.
    #[inline]
    pub fn set_timer(&mut self, timer: TimerId, at: SimTime) {
        self.queue.push_back(Output::SetTimer { timer, at });
    }
    /// Queues cancelling `timer`.
    #[inline]
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.queue.push_back(Output::CancelTimer(timer));
    }
    /// Queues a file operation.
    #[inline]
    pub fn file(&mut self, op: FileOp) {
        self.queue.push_back(Output::File(Box::new(op)));
    }
    /// Queues an observation for the reports.
    #[inline]
    pub fn record(&mut self, observation: Observation) {
        self.queue.push_back(Output::Record(observation));
    }
    /// The oldest queued output.
    #[inline]
    pub fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }
    /// Whether nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
    /// Drops everything queued (a crashed host's pending effects).
    #[inline]
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}
