//! Peer scores and bans.
//!
//! Every known peer has a score, starting at [`ScoreConfig::initial`] (100).
//! Each peer-protocol datagram from it that is rejected costs points:
//!
//! | rejection                                   | penalty |
//! |---------------------------------------------|--------:|
//! | malformed (truncated, unknown kind, ...)    |      10 |
//! | misdirected (a hello naming another host)   |      25 |
//! | bad signature                               |      40 |
//! | wrong key (a valid hello with another key)  |      50 |
//! | over its rate limit (see [`crate::protocols::peers::rate`]) | 2 |
//!
//! At or below [`ScoreConfig::ban_threshold`] (0) the peer is banned for
//! [`ScoreConfig::ban_for`] (5 min): everything it sends is dropped unread
//! and unrecorded, it is neither pinged nor greeted nor offered to others in
//! peer exchange, and if it was up it goes down. So three bad signatures, four
//! misdirected hellos, ten malformed datagrams or fifty datagrams over the
//! rate limit ban a peer with a full score.
//! When the ban ends the score restarts at [`ScoreConfig::after_unban`] (50):
//! a repeat offender is banned again twice as fast.
//!
//! Good behaviour restores the score slowly: at every heartbeat, a peer that
//! is up and was heard from within the last heartbeat interval gains
//! [`ScoreConfig::recovery_per_heartbeat`] (1) point, up to
//! [`ScoreConfig::max`] (100) — from 50 back to 100 in 50 heartbeats. The
//! recovery is per heartbeat, not per message, so flooding good messages
//! does not buy room for bad ones.
//!
//! Only datagrams the host routed to the peer protocol count; a datagram whose
//! header cannot be read is not attributed to any protocol and costs nothing.
//! Hosts that are not members are refused outright and never scored.

use crate::io::RejectReason;
use crate::time::SimDuration;

/// How peers are scored and banned; see the module docs for the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreConfig {
    /// A newly known peer's score.
    pub initial: i32,
    /// The highest score recovery reaches.
    pub max: i32,
    /// A peer whose score falls to this value or below is banned.
    pub ban_threshold: i32,
    /// How long a ban lasts.
    pub ban_for: SimDuration,
    /// The score a peer restarts with when its ban ends.
    pub after_unban: i32,
    /// Penalty for a malformed datagram.
    pub malformed: i32,
    /// Penalty for a hello that names another host than its sender.
    pub misdirected: i32,
    /// Penalty for a hello whose signature does not verify.
    pub bad_signature: i32,
    /// Penalty for a hello signed by another key than the peer's known one.
    pub wrong_key: i32,
    /// Points regained per heartbeat by a live peer heard from within it.
    pub recovery_per_heartbeat: i32,
    /// Penalty for a datagram dropped over the sender's rate limit.
    pub rate_limited: i32,
}

impl ScoreConfig {
    /// The defaults documented in the module docs.
    pub const DEFAULT: ScoreConfig = ScoreConfig {
        initial: 100,
        max: 100,
        ban_threshold: 0,
        ban_for: SimDuration::from_secs(300),
        after_unban: 50,
        malformed: 10,
        misdirected: 25,
        bad_signature: 40,
        wrong_key: 50,
        recovery_per_heartbeat: 1,
        rate_limited: 2,
    };

    /// The points a rejection for `reason` costs (0 for reasons that are not
    /// a member's misbehaviour).
    pub fn penalty(&self, reason: RejectReason) -> i32 {
        match reason {
            RejectReason::Malformed => self.malformed,
            RejectReason::Misdirected => self.misdirected,
            RejectReason::BadSignature => self.bad_signature,
            RejectReason::WrongKey => self.wrong_key,
            RejectReason::NotAMember => 0,
        }
    }
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults() {
        let c = ScoreConfig::default();
        let bans_after = |penalty: i32| (c.initial - c.ban_threshold + penalty - 1) / penalty;
        assert_eq!(bans_after(c.penalty(RejectReason::BadSignature)), 3);
        assert_eq!(bans_after(c.penalty(RejectReason::Misdirected)), 4);
        assert_eq!(bans_after(c.penalty(RejectReason::Malformed)), 10);
        assert_eq!(bans_after(c.penalty(RejectReason::WrongKey)), 2);
        assert_eq!(c.penalty(RejectReason::NotAMember), 0);
        assert_eq!(c.ban_for, SimDuration::from_secs(300));
    }
}
