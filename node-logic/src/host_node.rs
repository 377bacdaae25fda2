//! The protocol-independent half of a host: how one [`Input`] reaches the
//! protocols of a [`HostNode`] and how their in-host [`Local`] events are
//! passed around. Which protocols exist, and how each is routed, is in
//! [`crate::protocols`].

use rand_core::Rng;

use crate::HostId;
use crate::io::{Input, Node, Output, Payload, RejectReason, Work};
use crate::protocols::{Cx, HostNode, Local, Observation};
use crate::time::SimTime;
use crate::wire;

/// In-host events handled per input before the host gives up on the chain
/// (a protocol answering a local event with another, without end, is a
/// programming error; the bound keeps the host from looping).
const MAX_LOCAL_EVENTS: usize = 64;

impl HostNode {
    /// This host's id.
    pub fn id(&self) -> HostId {
        self.id
    }

    fn dispatch(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng) {
        // The outbox is moved out for the call so protocols (fields of
        // `self`) and the outbox can be borrowed at once.
        let mut out = std::mem::take(&mut self.out);
        let mut cx = Cx {
            now,
            rng,
            out: &mut out,
        };
        match input {
            Input::Start { restarted } => {
                for p in self.protocols().into_iter().flatten() {
                    p.start(&mut cx, restarted);
                }
            }
            Input::Message { from, payload } => self.message(&mut cx, from, &payload),
            Input::Timer(timer) => self.route_timer(&mut cx, timer),
            Input::File(result) => {
                for p in self.protocols().into_iter().flatten() {
                    p.file(&mut cx, &result);
                }
            }
            Input::FileChanged { path } => {
                for p in self.protocols().into_iter().flatten() {
                    p.file_changed(&mut cx, &path);
                }
            }
            Input::Misbehave { on } => {
                for p in self.protocols().into_iter().flatten() {
                    p.misbehave(&mut cx, on);
                }
            }
        }
        self.spread_announcement(&mut cx);
        self.pass_local_events(&mut cx);
        self.spread_consensus(&mut cx);
        self.out = out;
    }

    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, payload: &Payload) {
        let reason = match wire::open_payload(payload) {
            Ok((tag, body)) => match self.protocol(tag) {
                Some(p) => {
                    p.message(cx, from, body);
                    return self.deliver_carried(cx);
                }
                None => RejectReason::NotAMember,
            },
            Err(_) => RejectReason::Malformed,
        };
        cx.out.record(Observation::MessageRejected { from, reason });
    }

    /// Hands every [`Local`] event the protocols raised to every protocol
    /// (those raised in turn included, up to [`MAX_LOCAL_EVENTS`]).
    fn pass_local_events(&mut self, cx: &mut Cx<'_>) {
        for _ in 0..MAX_LOCAL_EVENTS {
            let Some(event): Option<Local> = cx.out.take_local() else {
                return;
            };
            for p in self.protocols().into_iter().flatten() {
                p.local(cx, &event);
            }
        }
        debug_assert!(cx.out.take_local().is_none(), "unbounded in-host events");
    }
}

impl Node for HostNode {
    fn handle_input(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng) {
        self.dispatch(now, input, rng);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    fn take_work(&mut self) -> Work {
        self.meter.as_ref().map(|m| m.take()).unwrap_or_default()
    }

    fn expect_message(&mut self, from: HostId, payload: &Payload) {
        if let Ok((tag, _)) = wire::open_payload(payload)
            && let Some(p) = self.protocol(tag)
        {
            p.expect_message(from);
        }
    }
}
