//! The queue of [`Output`]s a host's protocols fill and the driver drains.

use std::collections::VecDeque;

use crate::HostId;
use crate::io::{FileOp, Output, Payload};
use crate::protocols::{Local, Observation, TimerId};
use crate::time::SimTime;

/// Outputs waiting for the driver, in the order the protocols produced them.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Output>,
    /// In-host events for the host's other protocols (never the driver's).
    local: VecDeque<Local>,
}

impl Outbox {
    /// Queues a datagram to `to`.
    #[inline]
    pub fn send(&mut self, to: HostId, payload: Vec<u8>) {
        self.queue.push_back(Output::Send {
            to,
            payload: payload.into(),
        });
    }
    /// Queues a datagram whose bytes are already shared (a message sent
    /// unchanged to many peers over time, e.g. a host's signed hello).
    #[inline]
    pub fn send_shared(&mut self, to: HostId, payload: Payload) {
        self.queue.push_back(Output::Send { to, payload });
    }
    /// Queues one datagram to each of `to`, sharing one buffer.
    pub fn broadcast(&mut self, to: impl IntoIterator<Item = HostId>, payload: Vec<u8>) {
        let payload = Payload::from(payload);
        for to in to {
            self.queue.push_back(Output::Send {
                to,
                payload: payload.clone(),
            });
        }
    }
    /// Queues an event for this host's other protocols.
    pub fn local(&mut self, event: Local) {
        self.local.push_back(event);
    }
    /// The oldest queued in-host event (the host passes them around).
    pub(crate) fn take_local(&mut self) -> Option<Local> {
        self.local.pop_front()
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
        self.queue.push_back(Output::Record(Box::new(observation)));
    }
    /// The oldest queued output. Once drained, the queue starts over at
    /// the front of its buffer: the next input's outputs are written to
    /// the lines this host used last, not to ones further round the ring
    /// that no recent input touched (a mesh of two hundred hosts keeps
    /// two hundred such buffers).
    #[inline]
    pub fn pop(&mut self) -> Option<Output> {
        let next = self.queue.pop_front();
        if next.is_none() {
            self.queue.clear();
        }
        next
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
        self.local.clear();
    }
}
