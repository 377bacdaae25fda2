//! Per-peer rate limits on what a host accepts: a token bucket per peer for
//! datagrams and one for bytes.
//!
//! Each bucket holds at most one second's worth of its rate and refills
//! continuously with the simulated time elapsed (integer arithmetic in
//! nano-tokens, so runs are exact on every platform). A datagram takes one
//! message token and one byte token per byte of its body; when either
//! bucket is short it takes nothing and the datagram is dropped (the
//! registry counts it, records it and lowers the sender's score, see
//! [`crate::protocols::peers::score`]). A peer's buckets start full.

use crate::time::SimTime;

/// Nano-tokens per token.
const NANO: u128 = 1_000_000_000;

/// The rates one peer may send at; `None` leaves that dimension unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Datagrams per second.
    pub messages_per_s: Option<u32>,
    /// Body bytes per second.
    pub bytes_per_s: Option<u64>,
}

/// One peer's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buckets {
    last: SimTime,
    messages: u128,
    bytes: u128,
}

impl Buckets {
    /// Full buckets at `now`.
    pub fn full(limit: RateLimit, now: SimTime) -> Self {
        Buckets {
            last: now,
            messages: capacity(limit.messages_per_s.map(u64::from)),
            bytes: capacity(limit.bytes_per_s),
        }
    }

    /// Refills to `now`, then takes one datagram of `bytes` if both buckets
    /// hold enough; returns whether it was taken.
    pub fn take(&mut self, limit: RateLimit, now: SimTime, bytes: usize) -> bool {
        let elapsed = u128::from(now.as_nanos().saturating_sub(self.last.as_nanos()));
        self.last = self.last.max(now);
        let messages_rate = limit.messages_per_s.map(u64::from);
        self.messages = refill(self.messages, messages_rate, elapsed);
        self.bytes = refill(self.bytes, limit.bytes_per_s, elapsed);
        let need_messages = messages_rate.map_or(0, |_| NANO);
        let need_bytes = limit.bytes_per_s.map_or(0, |_| bytes as u128 * NANO);
        if self.messages < need_messages || self.bytes < need_bytes {
            return false;
        }
        self.messages -= need_messages;
        self.bytes -= need_bytes;
        true
    }
}

/// One second's worth of `rate` (0 when unlimited: never consulted).
fn capacity(rate: Option<u64>) -> u128 {
    rate.map_or(0, |r| u128::from(r) * NANO)
}

/// `tokens` after `elapsed_ns` at `rate` per second, capped at capacity.
fn refill(tokens: u128, rate: Option<u64>, elapsed_ns: u128) -> u128 {
    match rate {
        None => 0,
        Some(r) => (tokens + elapsed_ns * u128::from(r)).min(capacity(Some(r))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn at_ms(ms: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(ms)
    }

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let limit = RateLimit {
            messages_per_s: Some(10),
            bytes_per_s: None,
        };
        let mut b = Buckets::full(limit, at_ms(0));
        let burst = (0..20).filter(|_| b.take(limit, at_ms(0), 100)).count();
        assert_eq!(burst, 10, "one second's worth at once");
        // 100 ms later one more token has come back, not two.
        assert!(b.take(limit, at_ms(100), 100));
        assert!(!b.take(limit, at_ms(100), 100));
        // A long silence refills to the cap, not beyond.
        let later = (0..20).filter(|_| b.take(limit, at_ms(60_000), 1)).count();
        assert_eq!(later, 10);
    }

    #[test]
    fn bytes_are_limited_apart_from_messages() {
        let limit = RateLimit {
            messages_per_s: None,
            bytes_per_s: Some(1000),
        };
        let mut b = Buckets::full(limit, at_ms(0));
        assert!(b.take(limit, at_ms(0), 600));
        assert!(!b.take(limit, at_ms(0), 600), "only 400 bytes left");
        assert!(b.take(limit, at_ms(0), 400));
        // 500 ms bring 500 bytes back.
        assert!(!b.take(limit, at_ms(500), 501));
        assert!(b.take(limit, at_ms(500), 500));
    }
}
